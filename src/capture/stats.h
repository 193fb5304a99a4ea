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

#include <stdbool.h>
#include <stdint.h>

#include "saker_abi.h"

struct saker_capture_stats {
	uint64_t k[SAKER_CNT_MAX]; /* enum saker_counter, summed over CPUs */
	uint64_t delivered;	   /* records consumed from the rings */
	uint64_t user_drops;	   /* consumed but lost in user space (malformed, queue full) */
	/*
	 * Runs of saker's programs the kernel skipped because the program was
	 * already running on that CPU (its per-program recursion check, e.g. a
	 * preempted sys_exit; bpf_prog_info.recursion_misses). Those events were
	 * never seen, so they are outside n_evts and every identity above.
	 */
	uint64_t prog_misses;
};

/*
 * Counter names as in Falco's drop alert fields (n_evts,
 * n_drops_buffer_execve_exit, n_drops_scratch_map, ...); "n_unknown" for an
 * index out of range.
 */
const char *saker_counter_name(enum saker_counter c);
/* Falco's drop category names ("clone_fork", ...), as in n_drops_buffer_<cat>_exit. */
const char *saker_category_name(enum saker_category c);
/*
 * Whether a kernel counter is a loss (part of saker_stats_drops). A renderer
 * (summary, metrics) that lists every counter for which this is true lists
 * every kernel-side cause once; page faults are not losses.
 */
bool saker_counter_is_drop(enum saker_counter c);

/* Ring full, both lanes, every category: Falco's n_drops_buffer_total. */
uint64_t saker_stats_drops_buffer(const struct saker_capture_stats *st);
/* Ring full in one lane (enum saker_lane), every category: what that lane's ring size decides. */
uint64_t saker_stats_drops_buffer_lane(const struct saker_capture_stats *st, unsigned lane);
/* No ring installed for the lane and CPU (both lanes, every category). */
uint64_t saker_stats_drops_no_ring(const struct saker_capture_stats *st);
/* Ring full for one category, both lanes: what n_drops_buffer_<cat>_exit means to a user. */
uint64_t saker_stats_drops_buffer_cat(const struct saker_capture_stats *st,
				      enum saker_category cat);
/*
 * Every lane-1 (protected) event lost: ring full or no ring in lane 1, any
 * category, and no scratch slot for a lane-1 event. Users see it as
 * n_drops_critical; any of it is worth an alert.
 */
uint64_t saker_stats_drops_critical(const struct saker_capture_stats *st);
/* Every event lost, whatever the cause, user space included (page faults are not losses). */
uint64_t saker_stats_drops(const struct saker_capture_stats *st);

/*
 * The counters as the drop checks cut them (bpf/lib/maps.h, loss_gen): two
 * generations, each read after its retirement. saker_gen_cut_take() records
 * generation gen as just read (summed over CPUs; it only grows);
 * saker_gen_cut_sum() gives both generations' last reads summed into st->k:
 * cumulative, so the difference between two cuts is exactly the generation
 * the later cut read, and every count is in exactly one window.
 */
struct saker_gen_cut {
	struct saker_kcounters read[2];
};
void saker_gen_cut_take(struct saker_gen_cut *gc, unsigned gen, const struct saker_kcounters *now);
void saker_gen_cut_sum(const struct saker_gen_cut *gc, struct saker_capture_stats *st);

#endif
