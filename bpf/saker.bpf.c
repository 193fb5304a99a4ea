// SPDX-License-Identifier: GPL-2.0
/*
 * saker kernel side. One tp_btf/sys_exit program emits one record per
 * selected syscall into the caller CPU's ring buffer; tp_btf sched hooks emit
 * process lifecycle records. Per-CPU counters are kept on every path, so
 * user space can tell delivered from lost, by cause and category.
 *
 * Syscall parameters are read at exit from the saved user registers (one hook
 * per syscall is enough) and described by a table (one row per syscall,
 * below), so adding a syscall is a table row, not code.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <asm/unistd_64.h>

#include "saker_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define NAME_MAX 255
/* Path components walked before a path is reported truncated. */
#define PATH_DEPTH 32

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

struct scratch {
	__u8 b[SAKER_SCRATCH_SIZE];
};

/*
 * Where variable-size events are assembled before one copy into the ring.
 * One slot per CPU, indexed by CPU id: a PERCPU_ARRAY value cannot exceed
 * 32 KiB. User space sizes it to the number of possible CPUs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Per-CPU staging of generic records (see struct saker_stage); indexed by CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_stage);
} stage_map SEC(".maps");

/* Inner map template; user space installs its own rings (see capture.c). */
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

/* ---- parameter table ------------------------------------------------- */

enum how {
	H_NONE = 0,
	H_U64,	      /* register value */
	H_S32,	      /* register as a signed int (fds, pids) */
	H_USTR,	      /* user string at register */
	H_USTR_FAIL,  /* user string, only if the syscall failed (execve: gone on success) */
	H_SOCKADDR,   /* user sockaddr at register arg, length in register extra */
	H_SOCKADDR_P, /* user sockaddr at register arg, length at user int* register extra */
	H_U64_AT,     /* u64 at user pointer register arg + 8 * extra */
};

struct pspec {
	__u8 name;
	__u8 how;
	__u8 arg;
	__u8 extra;
};

#define SPEC_MAX_PARAMS 5
#define SPEC_KNOWN	1

struct sc_spec {
	__u8 flags;
	__u8 pad[3];
	struct pspec p[SPEC_MAX_PARAMS];
};

/* clang-format off */
#define P(n, h, a) {SAKER_PN_##n, h, a, 0}
#define PX(n, h, a, x) {SAKER_PN_##n, h, a, x}
#define S(...) {.flags = SPEC_KNOWN, .p = {__VA_ARGS__}}

/* x86_64 argument order; unlisted syscalls get ARG0..ARG2. */
static const struct sc_spec specs[SAKER_SYSCALL_MAX] = {
	[__NR_open] = S(P(PATH, H_USTR, 0), P(FLAGS, H_U64, 1), P(MODE, H_U64, 2)),
	[__NR_openat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(FLAGS, H_U64, 2),
			  P(MODE, H_U64, 3)),
	[__NR_openat2] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), PX(FLAGS, H_U64_AT, 2, 0),
			   PX(MODE, H_U64_AT, 2, 1)),
	[__NR_creat] = S(P(PATH, H_USTR, 0), P(MODE, H_U64, 1)),
	[__NR_open_by_handle_at] = S(P(FD, H_S32, 0), P(FLAGS, H_U64, 2)),
	[__NR_connect] = S(P(FD, H_S32, 0), PX(ADDR, H_SOCKADDR, 1, 2)),
	[__NR_bind] = S(P(FD, H_S32, 0), PX(ADDR, H_SOCKADDR, 1, 2)),
	[__NR_accept] = S(P(FD, H_S32, 0), PX(ADDR, H_SOCKADDR_P, 1, 2)),
	[__NR_accept4] = S(P(FD, H_S32, 0), PX(ADDR, H_SOCKADDR_P, 1, 2), P(FLAGS, H_U64, 3)),
	[__NR_listen] = S(P(FD, H_S32, 0), P(BACKLOG, H_S32, 1)),
	[__NR_socket] = S(P(DOMAIN, H_U64, 0), P(TYPE, H_U64, 1), P(PROTO, H_U64, 2)),
	[__NR_clone] = S(P(FLAGS, H_U64, 0)),
	[__NR_clone3] = S(PX(FLAGS, H_U64_AT, 0, 0)),
	[__NR_fork] = S(),
	[__NR_vfork] = S(),
	[__NR_close] = S(P(FD, H_S32, 0)),
	[__NR_dup] = S(P(FD, H_S32, 0)),
	[__NR_dup2] = S(P(FD, H_S32, 0), P(NEWFD, H_S32, 1)),
	[__NR_dup3] = S(P(FD, H_S32, 0), P(NEWFD, H_S32, 1), P(FLAGS, H_U64, 2)),
	[__NR_unlink] = S(P(PATH, H_USTR, 0)),
	[__NR_unlinkat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(FLAGS, H_U64, 2)),
	[__NR_rmdir] = S(P(PATH, H_USTR, 0)),
	[__NR_mkdir] = S(P(PATH, H_USTR, 0), P(MODE, H_U64, 1)),
	[__NR_mkdirat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(MODE, H_U64, 2)),
	[__NR_rename] = S(P(PATH, H_USTR, 0), P(NEWPATH, H_USTR, 1)),
	[__NR_renameat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(NEWDIRFD, H_S32, 2),
			    P(NEWPATH, H_USTR, 3)),
	[__NR_renameat2] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(NEWDIRFD, H_S32, 2),
			     P(NEWPATH, H_USTR, 3), P(FLAGS, H_U64, 4)),
	[__NR_link] = S(P(PATH, H_USTR, 0), P(NEWPATH, H_USTR, 1)),
	[__NR_linkat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(NEWDIRFD, H_S32, 2),
			  P(NEWPATH, H_USTR, 3), P(FLAGS, H_U64, 4)),
	[__NR_symlink] = S(P(PATH, H_USTR, 0), P(NEWPATH, H_USTR, 1)),
	[__NR_symlinkat] = S(P(PATH, H_USTR, 0), P(NEWDIRFD, H_S32, 1), P(NEWPATH, H_USTR, 2)),
	[__NR_chmod] = S(P(PATH, H_USTR, 0), P(MODE, H_U64, 1)),
	[__NR_fchmod] = S(P(FD, H_S32, 0), P(MODE, H_U64, 1)),
	[__NR_fchmodat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(MODE, H_U64, 2)),
	[__NR_chown] = S(P(PATH, H_USTR, 0), P(UID, H_S32, 1), P(GID, H_S32, 2)),
	[__NR_lchown] = S(P(PATH, H_USTR, 0), P(UID, H_S32, 1), P(GID, H_S32, 2)),
	[__NR_fchown] = S(P(FD, H_S32, 0), P(UID, H_S32, 1), P(GID, H_S32, 2)),
	[__NR_fchownat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR, 1), P(UID, H_S32, 2),
			    P(GID, H_S32, 3), P(FLAGS, H_U64, 4)),
	[__NR_chdir] = S(P(PATH, H_USTR, 0)),
	[__NR_fchdir] = S(P(FD, H_S32, 0)),
	[__NR_setuid] = S(P(UID, H_S32, 0)),
	[__NR_setgid] = S(P(GID, H_S32, 0)),
	[__NR_setreuid] = S(P(UID, H_S32, 0), P(EUID, H_S32, 1)),
	[__NR_setregid] = S(P(GID, H_S32, 0), P(EGID, H_S32, 1)),
	[__NR_setresuid] = S(P(UID, H_S32, 0), P(EUID, H_S32, 1), P(SUID, H_S32, 2)),
	[__NR_setresgid] = S(P(GID, H_S32, 0), P(EGID, H_S32, 1), P(SGID, H_S32, 2)),
	[__NR_setfsuid] = S(P(UID, H_S32, 0)),
	[__NR_setfsgid] = S(P(GID, H_S32, 0)),
	[__NR_capset] = S(P(ARG0, H_U64, 0), P(ARG1, H_U64, 1)),
	[__NR_ptrace] = S(P(REQUEST, H_U64, 0), P(PID, H_S32, 1)),
	[__NR_bpf] = S(P(REQUEST, H_U64, 0)),
	[__NR_mount] = S(P(SOURCE, H_USTR, 0), P(PATH, H_USTR, 1), P(FSTYPE, H_USTR, 2),
			 P(FLAGS, H_U64, 3)),
	[__NR_umount2] = S(P(PATH, H_USTR, 0), P(FLAGS, H_U64, 1)),
	[__NR_setns] = S(P(FD, H_S32, 0), P(TYPE, H_U64, 1)),
	[__NR_unshare] = S(P(FLAGS, H_U64, 0)),
	[__NR_init_module] = S(P(ARG1, H_U64, 1)),
	[__NR_finit_module] = S(P(FD, H_S32, 0), P(FLAGS, H_U64, 2)),
	[__NR_delete_module] = S(P(NAME, H_USTR, 0), P(FLAGS, H_U64, 1)),
	[__NR_memfd_create] = S(P(NAME, H_USTR, 0), P(FLAGS, H_U64, 1)),
	[__NR_kill] = S(P(PID, H_S32, 0), P(SIG, H_S32, 1)),
	[__NR_tgkill] = S(P(PID, H_S32, 1), P(SIG, H_S32, 2)),
	[__NR_prctl] = S(P(REQUEST, H_U64, 0), P(ARG1, H_U64, 1)),
	[__NR_execve] = S(P(PATH, H_USTR_FAIL, 0)),
	[__NR_execveat] = S(P(DIRFD, H_S32, 0), P(PATH, H_USTR_FAIL, 1), P(FLAGS, H_U64, 4)),
};
/* clang-format on */

/* ---- counters and rings ------------------------------------------------ */

/*
 * Counters are per CPU, yet updated atomically: it costs a few ns and keeps
 * seen == delivered + dropped exact even if a future hook (e.g. one that can
 * run in interrupt context) nests with these on one CPU.
 */
static __always_inline __u64 count(struct saker_kcounters *c, int idx)
{
	if (idx >= 0 && idx < SAKER_CNT_MAX)
		return __sync_fetch_and_add(&c->c[idx], 1);
	return 0;
}

static __always_inline struct saker_kcounters *counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void *ring_for_cpu(__u32 lane, __u32 cpu)
{
	__u32 idx = lane * SAKER_MAX_RINGS_PER_LANE + cpu_ring[cpu & (SAKER_MAX_CPUS - 1)];

	return bpf_map_lookup_elem(&rings, &idx);
}

/*
 * Wake-ups are expensive (an irq_work per record when the consumer keeps up),
 * so records are submitted silently and the consumer drains on a short timer.
 * Every WAKEUP_SAMPLE-th event on a CPU looks at the fill level and wakes the
 * consumer past wakeup_bytes: a helper call per event is too dear here
 * (return-thunk mitigations make each call cost tens of ns).
 */
#define WAKEUP_SAMPLE 64

static __always_inline __u64 submit_flags(void *rb, __u64 seq)
{
	if (seq % WAKEUP_SAMPLE)
		return BPF_RB_NO_WAKEUP;
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									: BPF_RB_NO_WAKEUP;
}

/* ---- event assembly in the per-CPU scratch ----------------------------- */

#define EV_MASK	  (SAKER_MAX_EVENT_SIZE - 1)
#define PATH_MASK (SAKER_MAX_PATH - 1)

struct ev {
	__u8 *buf;
	__u32 off;
	__u32 overflow;
	struct saker_kcounters *c;
	__u64 seq; /* this CPU's n_evts before this event */
};

/*
 * Every write starts at an offset masked below SAKER_MAX_EVENT_SIZE and is at
 * most SAKER_MAX_PATH + 4 long; the scratch is twice the event size, so the
 * verifier can prove each access in bounds. An event that grows past the
 * limit is flagged and later counted as an oversized drop.
 */
static __always_inline bool ev_room(struct ev *x)
{
	if (x->off >= SAKER_MAX_EVENT_SIZE) {
		x->overflow = 1;
		return false;
	}
	return true;
}

static __always_inline void put_hdr(struct ev *x, __u32 off, __u16 len, __u8 kind, __u8 name)
{
	struct saker_param_hdr *p = (void *)(x->buf + (off & EV_MASK));

	p->len = len;
	p->kind = kind;
	p->name = name;
}

static __always_inline void push_u64(struct ev *x, __u8 name, __u8 kind, __u64 v)
{
	__u32 off;

	if (!ev_room(x))
		return;
	off = x->off & EV_MASK;
	put_hdr(x, off, 8, kind, name);
	*(__u64 *)(x->buf + ((off + 4) & (2 * SAKER_MAX_EVENT_SIZE - 1))) = v;
	x->off = off + 12;
}

static __always_inline void push_str(struct ev *x, __u8 name, const void *ptr, bool user)
{
	__u8 kind = SAKER_PK_STR;
	__u32 off, len = 0;
	long n;

	if (!ev_room(x))
		return;
	off = x->off & EV_MASK;
	if (user)
		n = bpf_probe_read_user_str(x->buf + off + 4, SAKER_MAX_PATH, ptr);
	else
		n = bpf_probe_read_kernel_str(x->buf + off + 4, SAKER_MAX_PATH, ptr);
	if (n <= 0) {
		kind |= SAKER_PF_UNREADABLE;
		/* A NULL pointer is the caller's choice, not a lost read. */
		if (user && ptr)
			count(x->c, SAKER_CNT_PAGE_FAULTS);
	} else {
		len = (__u32)(n - 1) & PATH_MASK;
		if (n >= SAKER_MAX_PATH)
			kind |= SAKER_PF_TRUNCATED;
	}
	put_hdr(x, off, (__u16)len, kind, name);
	x->off = off + 4 + len;
}

static __always_inline void push_user_bytes(struct ev *x, __u8 name, __u8 kind, const void *ptr,
					    __u32 len, __u32 max)
{
	__u32 off;

	if (!ev_room(x))
		return;
	off = x->off & EV_MASK;
	if (len > max) {
		len = max;
		kind |= SAKER_PF_TRUNCATED;
	}
	/* The mask below would wrap a full SAKER_MAX_ARGS read to nothing. */
	if (len > PATH_MASK) {
		len = PATH_MASK;
		kind |= SAKER_PF_TRUNCATED;
	}
	/* Re-mask in asm: clang otherwise reuses an unbounded copy of len. */
	asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "i"(PATH_MASK));
	if (!ptr || !len || bpf_probe_read_user(x->buf + off + 4, len, ptr)) {
		if (ptr && len)
			count(x->c, SAKER_CNT_PAGE_FAULTS);
		kind |= SAKER_PF_UNREADABLE;
		len = 0;
	}
	put_hdr(x, off, (__u16)len, kind, name);
	x->off = off + 4 + len;
}

/*
 * d_path is not available to tp_btf programs: walk the dentries up to the
 * root, crossing mounts, writing components backwards into the scratch tail,
 * then copy the result into the event. The walk runs under bpf_loop so the
 * verifier checks one step once; an unrolled loop with a branch per step
 * explodes into 2^depth paths.
 */
struct walk {
	__u8 *tmp;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 pos;
	__u32 truncated;
};

static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	/* Local copies: CO-RE relocations apply to kernel types, not to struct walk. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct qstr q;
	__u32 l, pos = w->pos;

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || mp == mnt)
			return 1; /* the global root */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = &mp->mnt;
		return 0;
	}
	q = BPF_CORE_READ(dentry, d_name);
	l = q.len;
	if (l > NAME_MAX)
		l = NAME_MAX;
	if (pos > SAKER_MAX_PATH || pos < l + 2) {
		w->truncated = 1;
		return 1;
	}
	pos -= l;
	bpf_probe_read_kernel(w->tmp + (pos & PATH_MASK), l & NAME_MAX, q.name);
	pos -= 1;
	w->tmp[pos & PATH_MASK] = '/';
	w->pos = pos;
	w->dentry = parent;
	if (i == PATH_DEPTH - 1)
		w->truncated = 1;
	return 0;
}

static __always_inline void push_path(struct ev *x, __u8 name, const struct path *path)
{
	struct walk w = {
	    .tmp = x->buf + 2 * SAKER_MAX_EVENT_SIZE,
	    .dentry = BPF_CORE_READ(path, dentry),
	    .vfsmnt = BPF_CORE_READ(path, mnt),
	    .pos = SAKER_MAX_PATH,
	};
	__u8 kind = SAKER_PK_STR;
	__u32 pos, off, len;

	if (!ev_room(x))
		return;
	w.mnt = container_of(w.vfsmnt, struct mount, mnt);
	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	pos = w.pos;
	if (w.truncated)
		kind |= SAKER_PF_TRUNCATED;
	if (pos >= SAKER_MAX_PATH) {
		pos = SAKER_MAX_PATH - 1;
		w.tmp[pos & PATH_MASK] = '/';
	}
	len = (SAKER_MAX_PATH - pos) & PATH_MASK;
	off = x->off & EV_MASK;
	if (bpf_probe_read_kernel(x->buf + off + 4, len, w.tmp + (pos & PATH_MASK)))
		len = 0;
	put_hdr(x, off, (__u16)len, kind, name);
	x->off = off + 4 + len;
}

/* pid_tgid comes from the caller, which needed it for the self filter already. */
static __always_inline struct saker_evt_hdr *ev_begin(struct ev *x, struct saker_kcounters *c,
						      __u64 pid_tgid, __u16 type, __u16 syscall_id,
						      __s64 ret)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct saker_evt_hdr *h;

	x->buf = bpf_map_lookup_elem(&scratch_map, &cpu);
	if (!x->buf)
		return NULL;
	x->off = sizeof(*h);
	x->overflow = 0;
	x->c = c;
	h = (void *)x->buf;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->tid = (__u32)pid_tgid;
	h->tgid = (__u32)(pid_tgid >> 32);
	h->ret = ret;
	h->type = type;
	h->syscall_id = syscall_id;
	h->cpu = (__u16)cpu;
	return h;
}

/*
 * Sends this CPU's staged generic records as one batch. If the ring is full
 * every staged record is lost and counted in its own category.
 */
static __always_inline void stage_flush(struct saker_stage *st, struct saker_kcounters *c,
					__u32 cpu)
{
	struct saker_evt_hdr *h = (void *)st->buf;
	__u32 len = st->len;
	void *rb;

	if (!len)
		return;
	h->ts_ns = st->first_ts;
	h->tid = 0;
	h->tgid = 0;
	h->ret = st->count;
	h->type = SAKER_EVT_BATCH;
	h->syscall_id = SAKER_SYSCALL_NONE;
	h->len = (__u16)len;
	h->cpu = (__u16)cpu;
	rb = ring_for_cpu(SAKER_LANE_NORMAL, cpu);
	if (!rb || bpf_ringbuf_output(rb, st->buf, len & (2 * SAKER_STAGE_BYTES - 1),
				      submit_flags(rb, 0))) {
		for (int i = 0; i < SAKER_CAT_MAX; i++)
			if (st->cat_count[i])
				__sync_fetch_and_add(&c->c[SAKER_CNT_DROPS_BUFFER_FIRST + i],
						     st->cat_count[i]);
	}
	st->len = 0;
	st->count = 0;
	for (int i = 0; i < SAKER_CAT_MAX; i++)
		st->cat_count[i] = 0;
}

/*
 * Keeps a CPU's records in order: staged ones go out before any other, and
 * the cached clock moves up to this record's time, so a later generic record
 * never carries an earlier timestamp.
 */
static __always_inline void stage_flush_cpu(struct saker_kcounters *c, __u32 cpu, __u64 ts)
{
	struct saker_stage *st = bpf_map_lookup_elem(&stage_map, &cpu);

	if (!st)
		return;
	if (st->len)
		stage_flush(st, c, cpu);
	if (ts > st->clock_ts)
		st->clock_ts = ts;
}

/* Copies the assembled event into the ring; counts the loss if it cannot. */
static __always_inline void ev_submit(struct ev *x, int cat)
{
	struct saker_evt_hdr *h = (void *)x->buf;
	__u32 len = x->off;
	void *rb;

	if (x->overflow || len > SAKER_MAX_EVENT_SIZE) {
		count(x->c, SAKER_CNT_DROPS_MAX_EVENT_SIZE);
		return;
	}
	h->len = (__u16)len;
	stage_flush_cpu(x->c, h->cpu, h->ts_ns);
	rb = ring_for_cpu(SAKER_LANE_NORMAL, h->cpu);
	if (!rb || bpf_ringbuf_output(rb, x->buf, len & (2 * SAKER_MAX_EVENT_SIZE - 1),
				      submit_flags(rb, x->seq)))
		count(x->c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
}

/* ---- syscall exit ------------------------------------------------------ */

/* Eight slots so that an index can be masked (& 7) for the verifier. */
struct sc_args {
	__u64 a[8];
};

static __always_inline void read_args(struct pt_regs *regs, struct sc_args *args)
{
	args->a[0] = regs->di;
	args->a[1] = regs->si;
	args->a[2] = regs->dx;
	args->a[3] = regs->r10;
	args->a[4] = regs->r8;
	args->a[5] = regs->r9;
	args->a[6] = 0;
	args->a[7] = 0;
}

static __always_inline void push_spec(struct ev *x, const struct pspec *ps,
				      const struct sc_args *args, long ret)
{
	__u64 v = args->a[ps->arg & 7];
	__u64 extra = args->a[ps->extra & 7];
	int n;

	switch (ps->how) {
	case H_U64:
		push_u64(x, ps->name, SAKER_PK_U64, v);
		break;
	case H_S32:
		push_u64(x, ps->name, SAKER_PK_S64, (__u64)(__s64)(int)v);
		break;
	case H_USTR_FAIL:
		if (ret >= 0)
			break;
		/* fall through */
	case H_USTR:
		push_str(x, ps->name, (const void *)v, true);
		break;
	case H_SOCKADDR:
		push_user_bytes(x, ps->name, SAKER_PK_SOCKADDR, (const void *)v, (__u32)extra,
				SAKER_MAX_SOCKADDR);
		break;
	case H_SOCKADDR_P:
		if (ret < 0 || !v)
			break;
		if (bpf_probe_read_user(&n, sizeof(n), (const void *)extra))
			n = 0;
		push_user_bytes(x, ps->name, SAKER_PK_SOCKADDR, (const void *)v, (__u32)n,
				SAKER_MAX_SOCKADDR);
		break;
	case H_U64_AT:
		if (!v ||
		    bpf_probe_read_user(&extra, sizeof(extra), (const void *)(v + 8 * ps->extra))) {
			push_user_bytes(x, ps->name, SAKER_PK_U64, NULL, 0, 0);
			if (v)
				count(x->c, SAKER_CNT_PAGE_FAULTS);
			break;
		}
		push_u64(x, ps->name, SAKER_PK_U64, extra);
		break;
	default:
		break;
	}
}

static __always_inline long syscall_id(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#else
#error "saker: only x86_64 syscall numbering is supported"
#endif
}

/* Generic records have a fixed size; staged at 8-byte strides (GENERIC_STRIDE). */
struct generic_evt {
	struct saker_evt_hdr h;
	struct {
		struct saker_param_hdr p;
		__u64 v;
	} __attribute__((packed)) arg[3];
} __attribute__((packed));
#define GENERIC_STRIDE ((sizeof(struct generic_evt) + 7) & ~7u)
#define CLOCK_EVERY    8

SEC("tp_btf/sys_exit")
int BPF_PROG(saker_sys_exit, struct pt_regs *regs, long ret)
{
	const struct sc_spec *spec;
	struct saker_kcounters *c;
	struct saker_stage *st;
	struct generic_evt *g;
	struct sc_args args;
	__u64 pid_tgid, seq, ts, j;
	struct ev x;
	__u32 cpu, off;
	long id;
	__u8 sc;
	int cat;

	/* The selection first: an unselected syscall must cost no helper call. */
	id = syscall_id(regs);
	if (id < 0 || id >= SAKER_SYSCALL_MAX)
		return 0;
	sc = sc_table[id];
	if (!(sc & SAKER_SC_SELECTED))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return 0;
	cat = sc & SAKER_SC_CAT_MASK;
	if (cat >= SAKER_CAT_MAX)
		cat = SAKER_CAT_OTHER;

	c = counters_get();
	if (!c)
		return 0;
	/* Count before reserving: every attempt is seen, then delivered or dropped. */
	seq = count(c, SAKER_CNT_EVTS);
	read_args(regs, &args);

	spec = &specs[id];
	if (spec->flags & SPEC_KNOWN) {
		/* Already counted as seen: a missing scratch slot is a loss like a full ring. */
		if (!ev_begin(&x, c, pid_tgid, SAKER_EVT_SYSCALL, (__u16)id, ret)) {
			count(c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
			return 0;
		}
		x.seq = seq;
		for (int i = 0; i < SPEC_MAX_PARAMS; i++) {
			if (spec->p[i].how == H_NONE)
				break;
			push_spec(&x, &spec->p[i], &args, ret);
		}
		ev_submit(&x, cat);
		return 0;
	}

	cpu = bpf_get_smp_processor_id();
	st = bpf_map_lookup_elem(&stage_map, &cpu);
	if (!st) {
		count(c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
		return 0;
	}
	/*
	 * The precise clock costs ~70 ns here; generic records reuse this CPU's
	 * last reading while the jiffy has not changed, re-reading it every
	 * CLOCK_EVERY records: a timestamp is then at most one tick and
	 * CLOCK_EVERY records old. Records with parameters always read it.
	 */
	j = bpf_jiffies64();
	if (j != st->clock_jiffies || !(st->count % CLOCK_EVERY)) {
		st->clock_ts = bpf_ktime_get_boot_ns();
		st->clock_jiffies = j;
	}
	ts = st->clock_ts;
	if (st->len && (st->len + GENERIC_STRIDE > SAKER_STAGE_BYTES ||
			ts - st->first_ts > SAKER_STAGE_MAX_AGE_NS))
		stage_flush(st, c, cpu);
	if (!st->len) {
		st->len = sizeof(struct saker_evt_hdr);
		st->first_ts = ts;
	}
	off = st->len & (SAKER_STAGE_BYTES - 1);
	g = (void *)(st->buf + off);
	g->h.ts_ns = ts;
	g->h.tid = (__u32)pid_tgid;
	g->h.tgid = (__u32)(pid_tgid >> 32);
	g->h.ret = ret;
	g->h.type = SAKER_EVT_SYSCALL;
	g->h.syscall_id = (__u16)id;
	g->h.len = sizeof(*g);
	g->h.cpu = (__u16)cpu;
	for (int i = 0; i < 3; i++) {
		g->arg[i].p.len = 8;
		g->arg[i].p.kind = SAKER_PK_U64;
		g->arg[i].p.name = SAKER_PN_ARG0 + i;
		g->arg[i].v = args.a[i];
	}
	st->len = off + GENERIC_STRIDE;
	st->count++;
	st->cat_count[cat]++;
	return 0;
}

/* A context switch sends what the CPU staged, so records do not wait for the next syscall. */
SEC("tp_btf/sched_switch")
int BPF_PROG(saker_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct saker_stage *st = bpf_map_lookup_elem(&stage_map, &cpu);
	struct saker_kcounters *c;

	if (!st || !st->len)
		return 0;
	c = counters_get();
	if (c)
		stage_flush(st, c, cpu);
	return 0;
}

/* ---- process lifecycle --------------------------------------------------- */

static __always_inline bool lifecycle_begin(struct ev *x, struct saker_kcounters **c, __u16 type,
					    __s64 ret, int cat)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 seq;

	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return false;
	*c = counters_get();
	if (!*c)
		return false;
	seq = count(*c, SAKER_CNT_EVTS);
	if (!ev_begin(x, *c, pid_tgid, type, SAKER_SYSCALL_NONE, ret)) {
		count(*c, SAKER_CNT_DROPS_BUFFER_FIRST + cat);
		return false;
	}
	x->seq = seq;
	return true;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(saker_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct saker_evt_hdr *h;
	struct saker_kcounters *c;
	struct ev x;

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_FORK, 0, SAKER_CAT_CLONE_FORK))
		return 0;
	/* The record describes the child; the parent goes in the params. */
	h = (void *)x.buf;
	h->tid = BPF_CORE_READ(child, pid);
	h->tgid = BPF_CORE_READ(child, tgid);
	push_u64(&x, SAKER_PN_PID, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(parent, pid));
	push_u64(&x, SAKER_PN_PPID, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(parent, tgid));
	push_str(&x, SAKER_PN_COMM, &child->comm, false);
	ev_submit(&x, SAKER_CAT_CLONE_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(saker_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct saker_kcounters *c;
	struct mm_struct *mm;
	struct tty_struct *tty;
	const struct cred *cred;
	unsigned long arg_start, arg_end;
	__u64 dev = 0;
	struct ev x;

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_EXEC, 0, SAKER_CAT_EXECVE))
		return 0;
	push_path(&x, SAKER_PN_EXE, &bprm->file->f_path);
	mm = BPF_CORE_READ(p, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	push_user_bytes(&x, SAKER_PN_ARGS, SAKER_PK_STRLIST, (const void *)arg_start,
			(__u32)(arg_end - arg_start), SAKER_MAX_ARGS);
	push_path(&x, SAKER_PN_CWD, &p->fs->pwd);
	cred = BPF_CORE_READ(p, cred);
	push_u64(&x, SAKER_PN_UID, SAKER_PK_U64, BPF_CORE_READ(cred, uid.val));
	push_u64(&x, SAKER_PN_GID, SAKER_PK_U64, BPF_CORE_READ(cred, gid.val));
	push_u64(&x, SAKER_PN_EUID, SAKER_PK_U64, BPF_CORE_READ(cred, euid.val));
	if (bpf_core_field_exists(p->loginuid))
		push_u64(&x, SAKER_PN_LOGINUID, SAKER_PK_U64, BPF_CORE_READ(p, loginuid.val));
	push_u64(&x, SAKER_PN_PPID, SAKER_PK_S64,
		 (__u64)(__s64)BPF_CORE_READ(p, real_parent, tgid));
	push_str(&x, SAKER_PN_COMM, &p->comm, false);
	tty = BPF_CORE_READ(p, signal, tty);
	if (tty) {
		__u32 major = BPF_CORE_READ(tty, driver, major);
		__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);

		dev = ((__u64)major << 20) | minor;
	}
	push_u64(&x, SAKER_PN_TTY, SAKER_PK_U64, dev);
	push_u64(&x, SAKER_PN_CGROUP_ID, SAKER_PK_U64, bpf_get_current_cgroup_id());
	push_u64(&x, SAKER_PN_START_TS, SAKER_PK_U64, BPF_CORE_READ(p, start_boottime));
	ev_submit(&x, SAKER_CAT_EXECVE);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(saker_sched_exit, struct task_struct *p)
{
	struct saker_kcounters *c;
	struct ev x;

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_EXIT, 0, SAKER_CAT_PROC))
		return 0;
	push_u64(&x, SAKER_PN_EXIT_CODE, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(p, exit_code));
	/* do_exit() decrements signal->live before this tracepoint: 0 = last thread. */
	push_u64(&x, SAKER_PN_FLAGS, SAKER_PK_U64,
		 BPF_CORE_READ(p, signal, live.counter) == 0 ? SAKER_EXIT_GROUP_DEAD
							     : SAKER_EXIT_GROUP_ALIVE);
	ev_submit(&x, SAKER_CAT_PROC);
	return 0;
}
