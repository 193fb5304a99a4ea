#include "drops/loss.h"

#include <stdbool.h>
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

bool saker_loss_cause_is_ring(enum saker_loss_cause c)
{
	return (unsigned)c < SAKER_CAUSE_MAX;
}

/*
 * The one place that names the counter measuring each cause: adding a cause
 * to SAKER_LOSS_CAUSES is its row plus its case here (ring causes need none,
 * the ring-write counters have a cause dimension).
 */
bool saker_loss_count(const struct saker_capture_stats *st, enum saker_loss_cause c,
		      enum saker_lane lane, enum saker_category cat, uint64_t *n)
{
	if ((unsigned)lane >= SAKER_LANE_MAX || (unsigned)cat >= SAKER_CAT_MAX)
		return false;
	if (saker_loss_cause_is_ring(c)) {
		*n = st->k[SAKER_CNT_DROP_RING(c, lane, cat)];
		return true;
	}
	switch (c) {
	case SAKER_LOSS_MAX_EVENT_SIZE:
		*n = st->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE];
		return lane == SAKER_LANE_NORMAL;
	case SAKER_LOSS_SCRATCH_MAP:
		*n = st->k[lane == SAKER_LANE_CRITICAL ? SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL
						       : SAKER_CNT_DROPS_SCRATCH_MAP];
		return true;
	case SAKER_LOSS_USER_SPACE:
		*n = st->user_drops;
		return lane == SAKER_LANE_NORMAL;
	default:
		return false;
	}
}

void saker_loss_split(const struct saker_capture_stats *d, struct saker_loss *out)
{
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++)
		for (int lane = 0; lane < SAKER_LANE_MAX; lane++)
			for (int cat = 0; cat < (saker_loss_cause_is_ring(c) ? SAKER_CAT_MAX : 1);
			     cat++) {
				uint64_t n;

				if (!saker_loss_count(d, c, lane, cat, &n))
					continue;
				if (saker_loss_cause_is_ring(c)) {
					ring(out, c, lane, cat, n);
					continue;
				}
				/* Other causes have no category; a lane-1 loss is critical still.
				 */
				out->cause[c] += n;
				if (lane == SAKER_LANE_CRITICAL) {
					out->critical += n;
					out->lifecycle += n;
				}
			}
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
