#include "drops/loss.h"

#include <stdbool.h>
#include <string.h>

struct cause {
	const char *label, *field, *summary;
	int src[SAKER_LANE_MAX]; /* SAKER_SRC_* or a kernel counter, per lane */
};
#define CAUSE_ROW(id, ring, label, field, summary, help, normal, critical)                         \
	[SAKER_LOSS_##id] = {label, field, summary, {SAKER_##normal, SAKER_##critical}},
static const struct cause causes[SAKER_LOSS_CAUSE_MAX] = {SAKER_LOSS_CAUSES(CAUSE_ROW)};
#undef CAUSE_ROW

/*
 * Ring rows come first, so a ring-write cause (SAKER_CAUSE_x) is its loss
 * cause; they, and only they, are counted by the ring-write counters.
 */
#define CHECK_ROW(id, ring, label, field, summary, help, normal, critical)                         \
	_Static_assert(!(ring) || (int)SAKER_LOSS_##id < (int)SAKER_CAUSE_MAX, #id);               \
	_Static_assert(((ring) != 0) == (SAKER_##normal == SAKER_SRC_RING) &&                      \
			   ((ring) != 0) == (SAKER_##critical == SAKER_SRC_RING),                  \
		       #id ": SRC_RING is the ring rows' source");                                 \
	_Static_assert(SAKER_##normal < (int)SAKER_CNT_MAX &&                                      \
			   SAKER_##critical < (int)SAKER_CNT_MAX,                                  \
		       #id ": a kernel counter");
SAKER_LOSS_CAUSES(CHECK_ROW)
#undef CHECK_ROW
_Static_assert(SAKER_LANE_MAX == 2, "SAKER_LOSS_CAUSES has a source column per lane");

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

/* A cause's count is where its row says (SAKER_LOSS_CAUSES' normal and critical columns). */
bool saker_loss_count(const struct saker_capture_stats *st, enum saker_loss_cause c,
		      enum saker_lane lane, enum saker_category cat, uint64_t *n)
{
	int src;

	if ((unsigned)c >= SAKER_LOSS_CAUSE_MAX || (unsigned)lane >= SAKER_LANE_MAX ||
	    (unsigned)cat >= SAKER_CAT_MAX)
		return false;
	src = causes[c].src[lane];
	switch (src) {
	case SAKER_SRC_RING:
		*n = st->k[SAKER_CNT_DROP_RING(c, lane, cat)];
		return true;
	case SAKER_SRC_USER:
		*n = st->user_drops;
		return true;
	case SAKER_SRC_NONE:
		return false;
	default:
		*n = st->k[src];
		return true;
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
