#include "drops/loss.h"

#include <string.h>

/* clang-format off */
static const char *const cause_names[SAKER_LOSS_CAUSE_MAX] = {
	[SAKER_LOSS_RING_FULL] = "ring_full",
	[SAKER_LOSS_NO_RING] = "no_ring",
	[SAKER_LOSS_MAX_EVENT_SIZE] = "max_event_size",
	[SAKER_LOSS_SCRATCH_MAP] = "scratch_map",
	[SAKER_LOSS_USER_SPACE] = "user_space",
};
/* clang-format on */

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
				ring(out,
				     cause == SAKER_CAUSE_NO_RING ? SAKER_LOSS_NO_RING
								  : SAKER_LOSS_RING_FULL,
				     lane, cat, d->k[SAKER_CNT_DROP_RING(cause, lane, cat)]);
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
	return (unsigned)c < SAKER_LOSS_CAUSE_MAX ? cause_names[c] : "unknown";
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
