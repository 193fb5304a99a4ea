/* SPDX-License-Identifier: GPL-2.0 */
/* Per-CPU counters (enum saker_counter). */
#ifndef SAKER_BPF_COUNTERS_H
#define SAKER_BPF_COUNTERS_H

#include "maps.h"

/*
 * Puts enum saker_counter (names and indexes) into the object's BTF, so a
 * tool reading the live counters map (bpftool, the end-to-end tests) can
 * name each slot without a copy of saker_abi.h.
 */
const volatile enum saker_counter saker_counter_max = SAKER_CNT_MAX;

/*
 * Counters are per CPU, yet updated atomically: it costs a few ns and keeps
 * seen == delivered + dropped exact when two programs interleave on one CPU
 * (a preemptible probe, or a future hook that can run in interrupt context).
 */
static __always_inline __u64 count_n(struct saker_kcounters *c, int idx, __u64 n)
{
	if (idx >= 0 && idx < SAKER_CNT_MAX)
		return __sync_fetch_and_add(&c->c[idx], n);
	return 0;
}

static __always_inline __u64 count(struct saker_kcounters *c, int idx)
{
	return count_n(c, idx, 1);
}

/*
 * The counters of the current generation, read once per program run: the
 * run counts its events and their losses, and attributes the losses
 * (attrib.h), in that one generation (*gen), whatever user space switches
 * meanwhile. So a drop check that reads a retired generation's counters and
 * per-process map together sees each loss in both or in neither.
 */
static __always_inline struct saker_kcounters *counters_get(__u32 *gen)
{
	__u32 g = loss_gen & 1;

	*gen = g;
	return bpf_map_lookup_elem(&counters, &g);
}

#endif
