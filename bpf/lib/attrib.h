/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-process loss attribution, counted on the loss paths only (the hot path
 * pays nothing): every lost event is added to its process's entry in the
 * current generation's map (loss_gen), every demoted one too.
 *
 * Exactness: entries are per CPU (PERCPU_HASH), updated with atomic adds, so
 * two programs interleaving on a CPU (preemption) never lose an increment.
 * The generation is the one the program run read once (counters_get), the
 * same as its counters', and the run counts a loss in the counters before it
 * attributes it here. User space flips loss_gen, waits until no run that
 * read the old generation is left (maps.h, drain), then reads and deletes
 * the old map's entries and reads its counters: nothing writes that
 * generation until the next flip, so its per-process sum is at most its
 * drop counters' by construction. A full map (more processes losing events in a
 * window than SAKER_PROC_LOSS_ENTRIES) counts the loss in
 * n_drops_unattributed: user space then knows some attribution is unknown.
 */
#ifndef SAKER_BPF_ATTRIB_H
#define SAKER_BPF_ATTRIB_H

#include "maps.h"
#include "counters.h"

#ifndef EEXIST
#define EEXIST 17
#endif

/* The current task's process key; start time of its group leader (boot-time ns). */
static __always_inline void proc_key_current(struct saker_proc_key *k, __u32 tgid)
{
	struct task_struct *t = bpf_get_current_task_btf();

	k->tgid = tgid;
	k->pad = 0;
	k->start_ns = t->group_leader->start_boottime;
}

static __always_inline void attrib_into(void *map, struct saker_kcounters *c,
					const struct saker_proc_key *k, __u64 lost, __u64 demoted)
{
	struct saker_proc_loss *v, init = {};
	long err;

	v = bpf_map_lookup_elem(map, k);
	if (!v) {
		init.lost = lost;
		init.demoted = demoted;
		init.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		err = bpf_map_update_elem(map, k, &init, BPF_NOEXIST);
		if (!err)
			return;
		/* Inserted meanwhile by a program that interleaved: add to its entry. */
		v = err == -EEXIST ? bpf_map_lookup_elem(map, k) : NULL;
		if (!v) {
			count_n(c, SAKER_CNT_DROPS_UNATTRIBUTED, lost);
			return;
		}
	}
	if (lost)
		__sync_fetch_and_add(&v->lost, lost);
	if (demoted)
		__sync_fetch_and_add(&v->demoted, demoted);
}

/*
 * Adds lost/demoted events to process tgid. The key's start time is the
 * current task's when tgid is current's (almost always: records describe
 * their own process, but a fork record names the child), else 0 ("whichever
 * process has this pid").
 */
static __always_inline void attrib_add(struct saker_kcounters *c, __u32 gen, __u32 tgid, __u64 lost,
				       __u64 demoted)
{
	struct saker_proc_key k;

	/* Before anything else: the consumer learns of the loss with its next poll. */
	if (lost)
		__sync_fetch_and_add(
		    &loss_seq[bpf_get_smp_processor_id() & (SAKER_MAX_CPUS - 1)].lost, lost);
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == tgid) {
		proc_key_current(&k, tgid);
	} else {
		k.tgid = tgid;
		k.pad = 0;
		k.start_ns = 0;
	}
	/* Two call sites, one map each: the verifier wants a known map per helper call. */
	if (gen & 1)
		attrib_into(&proc_loss1, c, &k, lost, demoted);
	else
		attrib_into(&proc_loss0, c, &k, lost, demoted);
}

#endif
