/*
 * One window's loss split by cause, lane and category, from the capture
 * counters' deltas: what the ledger records and what decides a `resync`.
 * The one place that knows which kernel counter is which dimension.
 */
#ifndef SAKER_LOSS_H
#define SAKER_LOSS_H

#include <stdbool.h>
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
/* Whether the cause is a ring-write cause (counted by lane and category). */
bool saker_loss_cause_is_ring(enum saker_loss_cause c);
/*
 * *n = what cause c lost in lane (and category cat, for a ring cause; 0
 * otherwise) by the counters in st; false where the probe has no such count
 * (that series does not exist). saker_loss_split and /metrics both read it.
 */
bool saker_loss_count(const struct saker_capture_stats *st, enum saker_loss_cause c,
		      enum saker_lane lane, enum saker_category cat, uint64_t *n);
/* "ring_full", ...; "normal", "critical"; "clone_fork", ... (Falco's category names). */
const char *saker_loss_cause_name(enum saker_loss_cause c);
/* The table's other columns (SAKER_LOSS_CAUSES); NULL where the cause has none. */
const char *saker_loss_cause_field(enum saker_loss_cause c);
const char *saker_loss_cause_summary(enum saker_loss_cause c);
const char *saker_loss_lane_name(enum saker_lane l);
const char *saker_loss_category_name(enum saker_category c);

#endif
