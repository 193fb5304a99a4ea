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

/* The causes of include/saker_abi.h's SAKER_LOSS_CAUSES, in its order. */
#define SAKER_LOSS_ENUM_(id, ...) SAKER_LOSS_##id,
enum saker_loss_cause { SAKER_LOSS_CAUSES(SAKER_LOSS_ENUM_) SAKER_LOSS_CAUSE_MAX };
#undef SAKER_LOSS_ENUM_
/* How many causes have a drop alert field. */
#define SAKER_LOSS_HAS_FIELD_(id, ring, label, field, ...) +(sizeof(field) > 1)
#define SAKER_LOSS_N_FIELDS				   (0 SAKER_LOSS_CAUSES(SAKER_LOSS_HAS_FIELD_))

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
/* The table's other columns (SAKER_LOSS_CAUSES); NULL where the cause has none. */
const char *saker_loss_cause_field(enum saker_loss_cause c);
const char *saker_loss_cause_summary(enum saker_loss_cause c);
const char *saker_loss_lane_name(enum saker_lane l);
const char *saker_loss_category_name(enum saker_category c);

#endif
