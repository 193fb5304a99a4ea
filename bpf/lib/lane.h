/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Admission to the protected lane (lane 1). Each process (tgid + start time),
 * each uid within a container (cgroup, uid) and each container (cgroup) has
 * a token bucket in GCRA form: one u64, the "theoretical
 * arrival time" (tat) of the next event at the configured rate. An event at
 * now is admitted when tat - now <= burst_ns, and moves tat on by one
 * interval; an idle bucket (tat < now) restarts at now, full. The clock is
 * the event's own timestamp (ev_begin's one bpf_ktime_get_boot_ns): no
 * second clock read. An event over either budget is demoted to lane 0 (best
 * effort), counted in n_demoted and in its process's loss entry: demotion is
 * never silent.
 *
 * Concurrency (two CPUs, or a preempted program and another on its CPU):
 * the charge is one atomic add whose returned old value decides admission,
 * and a refused charge is taken back with another atomic add, so counts are
 * never corrupted. The reset of an idle bucket is a plain store that can
 * overwrite a concurrent charge: the budget is then approximate, by at most
 * one event per racing CPU, and only in the permissive direction.
 */
#ifndef SAKER_BPF_LANE_H
#define SAKER_BPF_LANE_H

#include "maps.h"
#include "counters.h"
#include "attrib.h"
#include "cgroup.h"

/*
 * The bucket of key in map, created full (NULL only if the map refuses it);
 * made (>= 0) counts the ones this call created.
 */
static __always_inline __u64 *bucket_get(void *map, const void *key, __u64 now,
					 struct saker_kcounters *c, int made)
{
	__u64 *tat = bpf_map_lookup_elem(map, key);

	if (tat)
		return tat;
	/* An LRU insert evicts rather than fails; EEXIST: another CPU made it first. */
	if (!bpf_map_update_elem(map, key, &now, BPF_NOEXIST) && made >= 0)
		count(c, made);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline bool bucket_take(__u64 *tat, __u64 now, __u64 interval, __u64 burst)
{
	__u64 old;

	if ((__s64)(*tat - now) < 0)
		*tat = now;
	old = __sync_fetch_and_add(tat, interval);
	if ((__s64)(old - now) > (__s64)burst) {
		__sync_fetch_and_add(tat, -interval);
		return false;
	}
	return true;
}

/*
 * SAKER_LANE_CRITICAL when the current process, its uid within its
 * container and its container are within budget, else demoted. A refusal at
 * a later bucket gives the earlier ones their charge back.
 */
static __always_inline __u32 lane_admit(struct saker_kcounters *c, __u32 gen, __u32 tgid, __u64 now)
{
	__u64 interval = lane_budget.proc_interval_ns, uid_interval = lane_budget.uid_interval_ns;
	__u64 cg_interval = lane_budget.cgroup_interval_ns;
	struct saker_uid_key uk = {};
	struct saker_proc_key k;
	__u64 *pt, *ut = NULL, *ct;

	if (!interval)
		return SAKER_LANE_CRITICAL;
	proc_key_current(&k, tgid);
	pt = bucket_get(&proc_buckets, &k, now, c, -1);
	/* No bucket (cannot happen with an LRU): admit rather than demote on our failure. */
	if (!pt)
		return SAKER_LANE_CRITICAL;
	if (!bucket_take(pt, now, interval, lane_budget.proc_burst_ns))
		goto demote;
	if (!uid_interval && !cg_interval)
		return SAKER_LANE_CRITICAL;
	/* A few loads through current->cgroups, for events within their process's budget. */
	uk.cgroup = current_ctr_cgroup_key();
	if (uid_interval) {
		uk.uid = (__u32)bpf_get_current_uid_gid();
		ut = bucket_get(&uid_buckets, &uk, now, c, SAKER_CNT_LANE_UID_BUCKETS);
		if (ut && !bucket_take(ut, now, uid_interval, lane_budget.uid_burst_ns))
			goto give_back_proc;
	}
	if (!cg_interval)
		return SAKER_LANE_CRITICAL;
	ct = bucket_get(&cgroup_buckets, &uk.cgroup, now, c, SAKER_CNT_LANE_CGROUP_BUCKETS);
	if (!ct || bucket_take(ct, now, cg_interval, lane_budget.cgroup_burst_ns))
		return SAKER_LANE_CRITICAL;
	if (ut)
		__sync_fetch_and_add(ut, -uid_interval);
give_back_proc:
	/* The process did not get its event through: its charge is given back. */
	__sync_fetch_and_add(pt, -interval);
demote:
	count(c, SAKER_CNT_DEMOTED);
	attrib_add(c, gen, tgid, 0, 1);
	return SAKER_LANE_NORMAL;
}

#endif
