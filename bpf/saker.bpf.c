// SPDX-License-Identifier: GPL-2.0
/*
 * saker kernel side: the programs. One tp_btf/sys_exit program emits one
 * record per selected syscall into the caller CPU's ring buffer; tp_btf sched
 * hooks emit process lifecycle records. Per-CPU counters are kept on every
 * path, so user space can tell delivered from lost, by cause and category.
 *
 * Syscall parameters are read at exit from the saved user registers (one hook
 * per syscall is enough) as the one syscall table says
 * (include/saker_syscalls.def), so adding a syscall is a table row, not code.
 *
 * Critical events (the table's CRITICAL rows, protected_lane.syscalls, and
 * the lifecycle records) go to lane 1's own rings, within each process's
 * and uid's admission budget; over it they are demoted to lane 0, counted.
 *
 * The helpers live in bpf/lib/: maps.h (maps and globals), counters.h,
 * guard.h (in-use marks against preemption), attrib.h (per-process loss),
 * ring.h (the one ring write), lane.h (lane-1 admission),
 * stage.h (staged generic records), event.h (assembly in a scratch slot),
 * path.h (the dentry walk), params.h (the parameter table and readers).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <asm/unistd_64.h>

#include "saker_abi.h"
#include "saker_syscalls.h"

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/guard.h"
#include "lib/attrib.h"
#include "lib/ring.h"
#include "lib/stage.h"
#include "lib/event.h"
#include "lib/cgroup.h"
#include "lib/lane.h"
#include "lib/path.h"
#include "lib/params.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- syscall exit ------------------------------------------------------ */

SEC("tp_btf/sys_exit")
int BPF_PROG(saker_sys_exit, struct pt_regs *regs, long ret)
{
	const struct saker_sc_spec *spec;
	struct saker_kcounters *c;
	struct sc_args args;
	__u64 pid_tgid, seq;
	__u32 path_off = 0, gen;
	bool crit, generic;
	struct ev x;
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
	crit = sc & SAKER_SC_CRITICAL;

	c = counters_get(&gen);
	if (!c)
		return 0;
	/* Count before reserving: every attempt is seen, then delivered or dropped. */
	seq = count(c, SAKER_CNT_EVTS);
	read_args(regs, &args);

	spec = &saker_specs[id];
	generic = (spec->flags & (SAKER_SCF_KNOWN | SAKER_SCF_GENERIC)) != SAKER_SCF_KNOWN;
	/* Batches are lane 0's: a critical syscall without a row is sent on its own. */
	if (generic && !crit) {
		stage_append(c, gen, pid_tgid, id, ret, args.a, cat);
		return 0;
	}
	/* Already counted as seen: no free scratch slot is a loss of its own. */
	if (!ev_begin(&x, c, gen, pid_tgid, SAKER_EVT_SYSCALL, (__u16)id, ret)) {
		count(c, crit ? SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL : SAKER_CNT_DROPS_SCRATCH_MAP);
		attrib_add(c, gen, (__u32)(pid_tgid >> 32), 1, 0);
		return 0;
	}
	x.seq = seq;
	if (generic) {
		push_u64(&x, SAKER_PN_ARG0, SAKER_PK_U64, args.a[0]);
		push_u64(&x, SAKER_PN_ARG1, SAKER_PK_U64, args.a[1]);
		push_u64(&x, SAKER_PN_ARG2, SAKER_PK_U64, args.a[2]);
	} else {
		for (int i = 0; i < SAKER_SC_MAX_PARAMS; i++) {
			if (spec->p[i].how == SAKER_H_NONE)
				break;
			if (spec->p[i].name == SAKER_PN_PATH)
				path_off = ev_off(&x);
			push_spec(&x, &spec->p[i], &args, ret);
		}
		/*
		 * A successful open of a relative (or unreadable) name also carries
		 * the path the kernel opened; an absolute name is its own answer.
		 */
		if (ret >= 0 && path_off &&
		    (spec->op == SAKER_VOP_OPEN || spec->op == SAKER_VOP_CREAT)) {
			struct saker_param_hdr *ph = (void *)(x.buf + (path_off & EV_MASK));

			if (!ph->len || (ph->kind & SAKER_PF_UNREADABLE) ||
			    x.buf[(path_off + 4) & EV_MASK] != '/')
				push_fd_path(&x, SAKER_PN_PATH_ABS, ret);
		}
	}
	ev_submit(&x, crit ? lane_admit(c, gen, x.tgid, x.ts) : SAKER_LANE_NORMAL, cat);
	return 0;
}

/* A context switch sends what the CPU staged, so records do not wait for the next syscall. */
SEC("tp_btf/sched_switch")
int BPF_PROG(saker_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	stage_flush_switch(bpf_get_smp_processor_id());
	return 0;
}

/* ---- process lifecycle --------------------------------------------------- */

/* Lifecycle records are lane 1's, budgeted by the current process (a fork's parent). */
static __always_inline void lifecycle_submit(struct ev *x, struct saker_kcounters *c, int cat)
{
	ev_submit(x, lane_admit(c, x->gen, x->tgid, x->ts), cat);
}

static __always_inline bool lifecycle_begin(struct ev *x, struct saker_kcounters **c, __u16 type,
					    __s64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 seq;
	__u32 gen;

	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return false;
	*c = counters_get(&gen);
	if (!*c)
		return false;
	seq = count(*c, SAKER_CNT_EVTS);
	if (!ev_begin(x, *c, gen, pid_tgid, type, SAKER_SYSCALL_NONE, ret)) {
		count(*c, SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL);
		attrib_add(*c, gen, (__u32)(pid_tgid >> 32), 1, 0);
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

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_FORK, 0))
		return 0;
	/* The record describes the child; the parent goes in the params. */
	h = (void *)x.buf;
	h->tid = BPF_CORE_READ(child, pid);
	h->tgid = BPF_CORE_READ(child, tgid);
	push_u64(&x, SAKER_PN_PID, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(parent, pid));
	push_u64(&x, SAKER_PN_PPID, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(parent, tgid));
	push_str(&x, SAKER_PN_COMM, &child->comm, false);
	/*
	 * A child born in another cgroup (clone3 CLONE_INTO_CGROUP: systemd,
	 * crun) says which; otherwise it has its parent's, known already. One
	 * pointer compare: the css_set is shared until a cgroup differs.
	 */
	if (BPF_CORE_READ(child, cgroups) != BPF_CORE_READ(parent, cgroups)) {
		push_u64(&x, SAKER_PN_CGROUP_ID, SAKER_PK_U64,
			 BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id));
		push_cgroup(&x, child);
	}
	lifecycle_submit(&x, c, SAKER_CAT_CLONE_FORK);
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

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_EXEC, 0))
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
	{
		/* kernel_cap_t: one u64 since 6.3, two u32 (low first) before: 8 bytes either way.
		 */
		__u64 caps = 0;

		if (!bpf_probe_read_kernel(&caps, sizeof(caps), &cred->cap_effective))
			push_u64(&x, SAKER_PN_CAP_EFF, SAKER_PK_U64, caps);
	}
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
	push_cgroup(&x, p);
	push_u64(&x, SAKER_PN_START_TS, SAKER_PK_U64, BPF_CORE_READ(p, start_boottime));
	lifecycle_submit(&x, c, SAKER_CAT_EXECVE);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(saker_sched_exit, struct task_struct *p)
{
	struct saker_kcounters *c;
	struct ev x;

	if (!lifecycle_begin(&x, &c, SAKER_EVT_PROC_EXIT, 0))
		return 0;
	push_u64(&x, SAKER_PN_EXIT_CODE, SAKER_PK_S64, (__u64)(__s64)BPF_CORE_READ(p, exit_code));
	/* do_exit() decrements signal->live before this tracepoint: 0 = last thread. */
	push_u64(&x, SAKER_PN_FLAGS, SAKER_PK_U64,
		 BPF_CORE_READ(p, signal, live.counter) == 0 ? SAKER_EXIT_GROUP_DEAD
							     : SAKER_EXIT_GROUP_ALIVE);
	lifecycle_submit(&x, c, SAKER_CAT_PROC);
	return 0;
}
