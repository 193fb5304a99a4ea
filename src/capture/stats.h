/*
 * Capture statistics: kernel per-CPU counters summed over CPUs, plus what
 * user space itself counted. Kept apart from capture.h so that the drop
 * manager and its tests need no libbpf.
 *
 * Invariant once the rings are drained (after detach):
 *   n_evts == delivered + saker_stats_drops(st)
 */
#ifndef SAKER_STATS_H
#define SAKER_STATS_H

#include <stdint.h>

#include "saker_abi.h"

struct saker_capture_stats {
	uint64_t k[SAKER_CNT_MAX]; /* enum saker_counter, summed over CPUs */
	uint64_t delivered;	   /* records consumed from the rings */
	uint64_t user_drops;	   /* consumed but lost in user space (malformed, queue full) */
};

/* Counter names as in Falco's drop alert fields (n_evts, n_drops_buffer_execve_exit, ...). */
const char *saker_counter_name(enum saker_counter c);
const char *saker_category_name(enum saker_category c);

static inline uint64_t saker_stats_drops_buffer(const struct saker_capture_stats *st)
{
	uint64_t n = 0;
	for (int i = SAKER_CNT_DROPS_BUFFER_FIRST; i <= SAKER_CNT_DROPS_BUFFER_LAST; i++)
		n += st->k[i];
	return n;
}

/* Every event lost, whatever the cause (page faults are not losses). */
static inline uint64_t saker_stats_drops(const struct saker_capture_stats *st)
{
	return saker_stats_drops_buffer(st) + st->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE] +
	       st->user_drops;
}

#endif
