// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark floors: the least any syscall monitor on tp_btf/sys_exit can cost.
 * The driver (floor.c) loads and attaches exactly one of these programs.
 *
 *  floor_empty  does nothing: the price of enabling the syscall tracepoint and
 *               calling a BPF program on every syscall exit.
 *  floor_ring   writes one 32-byte record per syscall exit (timestamp from
 *               bpf_ktime_get_boot_ns, as saker's header) into one BPF ring
 *               buffer shared by all CPUs, as saker's default layout on 2 CPUs.
 *
 * Neither filters anything, not even the driver's own syscalls: the floor is
 * what a hook costs before it decides anything.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* BPF_RB_NO_WAKEUP (default, consumer polls on a timer) or 0 (adaptive wakeup). */
const volatile __u64 submit_flags = BPF_RB_NO_WAKEUP;

/* Reservations that failed because the ring was full (the driver reports them). */
__u64 ring_full = 0;

struct floor_rec {
	__u64 ts_ns;
	__u32 tid;
	__u32 tgid;
	__s64 ret;
	__u32 syscall_id;
	__u32 cpu;
};
_Static_assert(sizeof(struct floor_rec) == 32, "floor record is 32 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} floor_rb SEC(".maps");

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_empty, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_ring, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct floor_rec *r;

	r = bpf_ringbuf_reserve(&floor_rb, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&ring_full, 1);
		return 0;
	}
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->tid = (__u32)pid_tgid;
	r->tgid = (__u32)(pid_tgid >> 32);
	r->ret = ret;
	r->syscall_id = (__u32)regs->orig_ax;
	r->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(r, submit_flags);
	return 0;
}
