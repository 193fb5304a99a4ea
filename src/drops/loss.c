#include "drops/loss.h"

#include <string.h>

struct cause {
	const char *label, *field, *summary;
};
#define CAUSE_ROW(id, ring, label, field, summary, help)                                           \
	[SAKER_LOSS_##id] = {label, field, summary},
static const struct cause causes[SAKER_LOSS_CAUSE_MAX] = {SAKER_LOSS_CAUSES(CAUSE_ROW)};
#undef CAUSE_ROW

/* Ring rows come first, so a ring-write cause (SAKER_CAUSE_x) is its loss cause. */
#define RING_FIRST(id, ring, ...)                                                                  \
	_Static_assert(!(ring) || (int)SAKER_LOSS_##id < (int)SAKER_CAUSE_MAX, #id);
SAKER_LOSS_CAUSES(RING_FIRST)
#undef RING_FIRST

static void ring(struct saker_loss *out, int cause, int lane, int cat, uint64_t n)
{
	out->cause[cause] += n;
	out->lane[lane] += n;
	out->category[cat] += n;
	if (lane == SAKER_LANE_CRITICAL || cat == SAKER_CAT_CLONE_FORK || cat == SAKER_CAT_EXECVE ||
	    cat == SAKER_CAT_PROC)
		out->lifecycle += n;
	if (lane == SAKER_LANE_CRITICAL)
		out->critical += n;
}

void saker_loss_split(const struct saker_capture_stats *d, struct saker_loss *out)
{
	memset(out, 0, sizeof(*out));
#ifdef SAKER_CNT_DROP_RING
	/* The ABI with lanes and causes (ring writes counted by cause x lane x category). */
	for (int cause = 0; cause < SAKER_CAUSE_MAX; cause++)
		for (int lane = 0; lane < SAKER_LANE_MAX; lane++)
			for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
				ring(out, cause, lane, cat,
				     d->k[SAKER_CNT_DROP_RING(cause, lane, cat)]);
	out->cause[SAKER_LOSS_SCRATCH_MAP] =
	    d->k[SAKER_CNT_DROPS_SCRATCH_MAP] + d->k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL];
	/* A lane-1 scratch collision is a critical loss too. */
	out->critical += d->k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL];
	out->lifecycle += d->k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL];
#else
	/* One lane, one ring cause. */
	for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
		ring(out, SAKER_LOSS_RING_FULL, SAKER_LANE_NORMAL, cat,
		     d->k[SAKER_CNT_DROPS_BUFFER_FIRST + cat]);
#endif
	out->cause[SAKER_LOSS_MAX_EVENT_SIZE] = d->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE];
	out->cause[SAKER_LOSS_USER_SPACE] = d->user_drops;
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++)
		out->total += out->cause[c];
}

const char *saker_loss_cause_name(enum saker_loss_cause c)
{
	return (unsigned)c < SAKER_LOSS_CAUSE_MAX ? causes[c].label : "unknown";
}

const char *saker_loss_cause_field(enum saker_loss_cause c)
{
	return (unsigned)c < SAKER_LOSS_CAUSE_MAX && causes[c].field[0] ? causes[c].field : NULL;
}

const char *saker_loss_cause_summary(enum saker_loss_cause c)
{
	return (unsigned)c < SAKER_LOSS_CAUSE_MAX && causes[c].summary[0] ? causes[c].summary
									  : NULL;
}

const char *saker_loss_lane_name(enum saker_lane l)
{
	return l == SAKER_LANE_NORMAL	  ? "normal"
	       : l == SAKER_LANE_CRITICAL ? "critical"
					  : "unknown";
}

const char *saker_loss_category_name(enum saker_category c)
{
	/* capture/stats.c holds Falco's category names; one table, not two. */
	return saker_category_name(c);
}
