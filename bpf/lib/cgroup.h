/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cgroup that tells a task's container, read from the kernel so that a
 * process that lives a millisecond still gets one (user space matches the
 * names against the runtime table, lib/ctrmatch.h).
 *
 * Which hierarchy: the task's cgroup v2 (default hierarchy) cgroup when it
 * is not the v2 root; else (a v1 host, or a hybrid one where the runtime
 * only used the v1 controllers) the cgroup of its memory controller, which
 * every runtime's v1 manager joins. On a pure v2 host memory is bound to v2
 * and both are the same cgroup.
 *
 * The walk goes up the cgroups (css parent), not the kernfs nodes: a
 * kernfs_node's parent field changed its name (6.15), a css's did not.
 */
#ifndef SAKER_BPF_CGROUP_H
#define SAKER_BPF_CGROUP_H

#include "event.h"

static __always_inline struct cgroup *task_ctr_cgroup(struct task_struct *t, __u64 *v1)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	struct cgroup *cg = BPF_CORE_READ(cs, dfl_cgrp);
	struct cgroup_subsys_state *css = NULL;
	int id;

	*v1 = 0;
	if (!cg || BPF_CORE_READ(cg, level) > 0)
		return cg;
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return cg;
	id = (int)bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[id & 15]) || !css)
		return cg;
	cg = BPF_CORE_READ(css, cgroup);
	*v1 = cg && BPF_CORE_READ(cg, root) != BPF_CORE_READ(cs, dfl_cgrp, root) ? SAKER_CGROUP_V1
										 : 0;
	return cg;
}

/*
 * The key of the current task's container for the protected lane's
 * budgets: its cgroup's kernfs id, v1 ones with SAKER_CGROUP_KEY_V1 (v1 and v2
 * ids come from separate counters and may be equal).
 */
static __always_inline __u64 current_ctr_cgroup_key(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct cgroup *cg;
	__u64 v1;

	cg = task_ctr_cgroup(t, &v1);
	return BPF_CORE_READ(cg, kn, id) | (v1 ? SAKER_CGROUP_KEY_V1 : 0);
}

/* SAKER_PN_CGROUP and SAKER_PN_CGROUP_LEVEL of t's container cgroup (the level alone for a root).
 */
static __always_inline void push_cgroup(struct ev *x, struct task_struct *t)
{
	__u8 kind = SAKER_PK_STRLIST;
	__u32 off, len = 0;
	struct cgroup *cg;
	__u64 v1;
	int level;

	cg = task_ctr_cgroup(t, &v1);
	level = cg ? BPF_CORE_READ(cg, level) : 0;
	/* The level alone says "the root": user space needs no /proc read to know it. */
	if (level <= 0) {
		push_u64(x, SAKER_PN_CGROUP_LEVEL, SAKER_PK_U64, v1);
		return;
	}
	if (!ev_room(x))
		return;
	off = ev_off(x) & EV_MASK;
	for (int i = 0; i < SAKER_CGROUP_NAMES; i++) {
		const char *name;
		long n;

		if (!cg || BPF_CORE_READ(cg, level) <= 0)
			break;
		name = BPF_CORE_READ(cg, kn, name);
		/* off < SAKER_MAX_EVENT_SIZE and len < 1 KiB: the mask never wraps. */
		n = bpf_probe_read_kernel_str(
		    x->buf + ((off + 4 + len) & (2 * SAKER_MAX_EVENT_SIZE - 1)),
		    SAKER_CGROUP_NAME_MAX, name);
		if (n <= 0) {
			kind |= SAKER_PF_UNREADABLE;
			len = 0;
			break;
		}
		len += (__u32)n & (SAKER_CGROUP_NAME_MAX * 2 - 1);
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
	}
	/* Names need room in the scratch past the event's bound (SAKER_SCRATCH_SIZE). */
	_Static_assert(2 * SAKER_MAX_EVENT_SIZE + SAKER_CGROUP_NAME_MAX <= SAKER_SCRATCH_SIZE,
		       "cgroup names fit the scratch");
	put_hdr(x, off, (__u16)len, kind, SAKER_PN_CGROUP);
	ev_set_off(x, off + 4 + len);
	push_u64(x, SAKER_PN_CGROUP_LEVEL, SAKER_PK_U64, (__u64)level | v1);
}

#endif
