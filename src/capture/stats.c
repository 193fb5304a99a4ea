#include "capture/stats.h"

/*
 * Names as Falco's drop alert fields where Falco has one (n_evts,
 * n_drops_buffer_<cat>_exit, n_drops_max_event_size, n_drops_scratch_map,
 * n_drops_page_faults); the lane and cause dimensions Falco lacks get names
 * of the same shape.
 */
/* clang-format off */
#define RING_NAMES(cat, s)                                                                         \
	[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_NORMAL, SAKER_CAT_##cat)] =          \
		"n_drops_buffer_" s "_exit",                                                       \
	[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_##cat)] =        \
		"n_drops_buffer_critical_" s "_exit",                                              \
	[SAKER_CNT_DROP_RING(SAKER_CAUSE_NO_RING, SAKER_LANE_NORMAL, SAKER_CAT_##cat)] =            \
		"n_drops_no_ring_" s "_exit",                                                      \
	[SAKER_CNT_DROP_RING(SAKER_CAUSE_NO_RING, SAKER_LANE_CRITICAL, SAKER_CAT_##cat)] =          \
		"n_drops_no_ring_critical_" s "_exit",

static const char *const counter_names[SAKER_CNT_MAX] = {
	[SAKER_CNT_EVTS] = "n_evts",
	SAKER_CATEGORIES(RING_NAMES)
	[SAKER_CNT_DROPS_MAX_EVENT_SIZE] = "n_drops_max_event_size",
	[SAKER_CNT_PAGE_FAULTS] = "n_drops_page_faults",
	[SAKER_CNT_DROPS_SCRATCH_MAP] = "n_drops_scratch_map",
	[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL] = "n_drops_scratch_map_critical",
	[SAKER_CNT_DEMOTED] = "n_demoted",
	[SAKER_CNT_DROPS_UNATTRIBUTED] = "n_drops_unattributed",
	[SAKER_CNT_LANE_UID_BUCKETS] = "n_lane_uid_buckets",
	[SAKER_CNT_LANE_CGROUP_BUCKETS] = "n_lane_cgroup_buckets",
};
/* clang-format on */

_Static_assert(SAKER_LANE_MAX == 2 && SAKER_CAUSE_MAX == 2, "update RING_NAMES");

#define CAT_NAME(cat, s) [SAKER_CAT_##cat] = s,
static const char *const category_names[SAKER_CAT_MAX] = {SAKER_CATEGORIES(CAT_NAME)};

const char *saker_category_name(enum saker_category c)
{
	if ((unsigned)c >= SAKER_CAT_MAX)
		return "unknown";
	return category_names[c];
}

const char *saker_counter_name(enum saker_counter c)
{
	if ((unsigned)c >= SAKER_CNT_MAX || !counter_names[c])
		return "n_unknown";
	return counter_names[c];
}

/* The ring-write counters, and every counter a row of SAKER_LOSS_CAUSES counts a cause by. */
#define ROW_COUNTS_(id, ring, label, field, summary, help, normal, critical)                       \
	|| (int)c == SAKER_##normal || (int)c == SAKER_##critical
bool saker_counter_is_drop(enum saker_counter c)
{
	return (c >= SAKER_CNT_DROPS_RING_FIRST && c <= SAKER_CNT_DROPS_RING_LAST)
	    SAKER_LOSS_CAUSES(ROW_COUNTS_);
}
#undef ROW_COUNTS_

static uint64_t sum_ring(const struct saker_capture_stats *st, enum saker_drop_cause cause)
{
	uint64_t n = 0;

	for (int lane = 0; lane < SAKER_LANE_MAX; lane++)
		for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
			n += st->k[SAKER_CNT_DROP_RING(cause, lane, cat)];
	return n;
}

uint64_t saker_stats_drops_buffer(const struct saker_capture_stats *st)
{
	return sum_ring(st, SAKER_CAUSE_RING_FULL);
}

uint64_t saker_stats_drops_buffer_lane(const struct saker_capture_stats *st, unsigned lane)
{
	uint64_t n = 0;

	if (lane >= SAKER_LANE_MAX)
		return 0;
	for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
		n += st->k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, lane, cat)];
	return n;
}

uint64_t saker_stats_drops_no_ring(const struct saker_capture_stats *st)
{
	return sum_ring(st, SAKER_CAUSE_NO_RING);
}

uint64_t saker_stats_drops_buffer_cat(const struct saker_capture_stats *st, enum saker_category cat)
{
	uint64_t n = 0;

	if ((unsigned)cat >= SAKER_CAT_MAX)
		return 0;
	for (int lane = 0; lane < SAKER_LANE_MAX; lane++)
		n += st->k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, lane, cat)];
	return n;
}

uint64_t saker_stats_drops_critical(const struct saker_capture_stats *st)
{
	uint64_t n = st->k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL];

	for (int cause = 0; cause < SAKER_CAUSE_MAX; cause++)
		for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
			n += st->k[SAKER_CNT_DROP_RING(cause, SAKER_LANE_CRITICAL, cat)];
	return n;
}

uint64_t saker_stats_drops(const struct saker_capture_stats *st)
{
	uint64_t n = st->user_drops;

	for (int c = 0; c < SAKER_CNT_MAX; c++)
		if (saker_counter_is_drop((enum saker_counter)c))
			n += st->k[c];
	return n;
}

void saker_gen_cut_take(struct saker_gen_cut *gc, unsigned gen, const struct saker_kcounters *now)
{
	gc->read[gen & 1] = *now;
}

void saker_gen_cut_sum(const struct saker_gen_cut *gc, struct saker_capture_stats *st)
{
	for (int i = 0; i < SAKER_CNT_MAX; i++)
		st->k[i] = gc->read[0].c[i] + gc->read[1].c[i];
}
