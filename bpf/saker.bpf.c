// SPDX-License-Identifier: GPL-2.0
/*
 * saker kernel side: one tp_btf/sys_exit program emits one record per
 * selected syscall into the caller CPU's ring buffer and keeps per-CPU
 * counters on every path, so user space can tell delivered from lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "saker_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
/* Ring of each CPU within a lane (cpus_for_each_buffer grouping). */
const volatile __u32 cpu_ring[SAKER_MAX_CPUS] = {};
/* Wake the consumer only once a ring holds this many bytes (see submit_flags). */
const volatile __u64 wakeup_bytes = 0;

/*
 * One byte per syscall id (SAKER_SC_SELECTED | category). Lives in mmap-able
 * global data so user space can change the selection while attached.
 */
__u8 sc_table[SAKER_SYSCALL_MAX] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_kcounters);
} counters SEC(".maps");

/* Inner map template; user space sets the real size and creates the rings. */
struct ring_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SAKER_MAX_RINGS);
	__type(key, __u32);
	__array(values, struct ring_map);
} rings SEC(".maps");

/*
 * Syscall tracepoints are faultable on recent kernels and run with preemption
 * enabled, so two programs can interleave on one CPU: per-CPU counters are
 * still updated atomically, or an increment could be lost and
 * seen == delivered + dropped would no longer hold exactly.
 */
static __always_inline void count(struct saker_kcounters *c, int idx)
{
	if (idx >= 0 && idx < SAKER_CNT_MAX)
		__sync_fetch_and_add(&c->c[idx], 1);
}

static __always_inline void *ring_for_cpu(__u32 lane, __u32 cpu)
{
	__u32 idx = lane * SAKER_MAX_RINGS_PER_LANE + cpu_ring[cpu & (SAKER_MAX_CPUS - 1)];

	return bpf_map_lookup_elem(&rings, &idx);
}

/*
 * Wake-ups are expensive (an irq_work per record when the consumer keeps up),
 * so records are submitted silently and the consumer drains on a short timer;
 * it is woken only when a ring fills past wakeup_bytes.
 */
static __always_inline __u64 submit_flags(void *rb)
{
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									   : BPF_RB_NO_WAKEUP;
}

static __always_inline long syscall_id(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return regs->syscallno;
#else
#error "saker: unsupported architecture"
#endif
}

SEC("tp_btf/sys_exit")
int BPF_PROG(saker_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct saker_kcounters *c;
	struct saker_evt_hdr *e;
	__u32 zero = 0, cpu;
	long id;
	__u8 sc;
	int cat;
	void *rb;

	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return 0;
	id = syscall_id(regs);
	if (id < 0 || id >= SAKER_SYSCALL_MAX)
		return 0;
	sc = sc_table[id];
	if (!(sc & SAKER_SC_SELECTED))
		return 0;
	cat = sc & SAKER_SC_CAT_MASK;
	if (cat >= SAKER_CAT_MAX)
		cat = SAKER_CAT_OTHER;

	c = bpf_map_lookup_elem(&counters, &zero);
	if (!c)
		return 0;
	/* Count before reserving: every attempt is seen, delivered or dropped. */
	count(c, SAKER_CNT_EVTS);

	cpu = bpf_get_smp_processor_id();
	rb = ring_for_cpu(SAKER_LANE_NORMAL, cpu);
	if (!rb) {
		count(c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
		return 0;
	}
	e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		count(c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->tid = (__u32)pid_tgid;
	e->tgid = (__u32)(pid_tgid >> 32);
	e->ret = ret;
	e->type = SAKER_EVT_SYSCALL;
	e->syscall_id = (__u16)id;
	e->len = sizeof(*e);
	e->cpu = (__u16)cpu;
	bpf_ringbuf_submit(e, submit_flags(rb));
	return 0;
}
