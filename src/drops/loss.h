/*
 * One window's loss split by cause, lane and category, from the capture
 * counters' deltas: what the ledger records and what decides a `resync`.
 * The one place that knows which kernel counter is which dimension.
 */
#ifndef SAKER_LOSS_H
#define SAKER_LOSS_H

#include <stdint.h>

#include "saker_abi.h"
#include "capture/stats.h"

enum saker_loss_cause {
	SAKER_LOSS_RING_FULL = 0, /* no room in the ring */
	SAKER_LOSS_NO_RING,	  /* no ring for the lane and CPU */
	SAKER_LOSS_MAX_EVENT_SIZE,
	SAKER_LOSS_SCRATCH_MAP, /* no per-CPU assembly area free */
	SAKER_LOSS_USER_SPACE,	/* consumed but lost in user space */
	SAKER_LOSS_CAUSE_MAX,
};

struct saker_loss {
	uint64_t total; /* == saker_stats_drops(delta) */
	uint64_t cause[SAKER_LOSS_CAUSE_MAX];
	/* Ring losses only: the other causes have no lane or category. */
	uint64_t lane[SAKER_LANE_MAX];
	uint64_t category[SAKER_CAT_MAX];
	/* clone_fork + execve + proc in either lane, and everything lost in lane 1 */
	uint64_t lifecycle;
	uint64_t critical; /* lane 1 */
};

void saker_loss_split(const struct saker_capture_stats *delta, struct saker_loss *out);
/* "ring_full", ...; "normal", "critical"; "clone_fork", ... (Falco's category names). */
const char *saker_loss_cause_name(enum saker_loss_cause c);
const char *saker_loss_lane_name(enum saker_lane l);
const char *saker_loss_category_name(enum saker_category c);

#endif
