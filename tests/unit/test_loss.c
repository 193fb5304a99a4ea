/*
 * Drop causes: each cause's count is read where its row of
 * SAKER_LOSS_CAUSES says (include/saker_abi.h), and the split by cause,
 * lane and category adds up to every loss the counters hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "saker_abi.h"
#include "capture/stats.h"
#include "drops/loss.h"

/* Every counter a different value, so reading the wrong one shows. */
static void distinct(struct saker_capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < SAKER_CNT_MAX; i++)
		st->k[i] = 1000u * (uint64_t)i + 7;
	st->user_drops = 99;
}

static uint64_t count(const struct saker_capture_stats *st, enum saker_loss_cause c,
		      enum saker_lane lane, enum saker_category cat)
{
	uint64_t n = 12345;

	assert_true(saker_loss_count(st, c, lane, cat, &n));
	return n;
}

static void test_count_from_the_row(void **state)
{
	struct saker_capture_stats st;
	uint64_t n = 0;

	(void)state;
	distinct(&st);
	/* ring causes: the ring-write counter of that cause, lane and category */
	assert_int_equal(count(&st, SAKER_LOSS_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_EXECVE),
			 st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL,
						  SAKER_CAT_EXECVE)]);
	assert_int_equal(count(&st, SAKER_LOSS_NO_RING, SAKER_LANE_NORMAL, SAKER_CAT_CLONE_FORK),
			 st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_NO_RING, SAKER_LANE_NORMAL,
						  SAKER_CAT_CLONE_FORK)]);
	/* the others: the kernel counter or user space's count of each lane, or no series */
	assert_int_equal(count(&st, SAKER_LOSS_MAX_EVENT_SIZE, SAKER_LANE_NORMAL, 0),
			 st.k[SAKER_CNT_DROPS_MAX_EVENT_SIZE]);
	assert_false(saker_loss_count(&st, SAKER_LOSS_MAX_EVENT_SIZE, SAKER_LANE_CRITICAL, 0, &n));
	assert_int_equal(count(&st, SAKER_LOSS_SCRATCH_MAP, SAKER_LANE_NORMAL, 0),
			 st.k[SAKER_CNT_DROPS_SCRATCH_MAP]);
	assert_int_equal(count(&st, SAKER_LOSS_SCRATCH_MAP, SAKER_LANE_CRITICAL, 0),
			 st.k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL]);
	assert_int_equal(count(&st, SAKER_LOSS_USER_SPACE, SAKER_LANE_NORMAL, 0), 99);
	assert_false(saker_loss_count(&st, SAKER_LOSS_USER_SPACE, SAKER_LANE_CRITICAL, 0, &n));
	/* out of range: no series */
	assert_false(saker_loss_count(&st, SAKER_LOSS_CAUSE_MAX, SAKER_LANE_NORMAL, 0, &n));
	assert_false(saker_loss_count(&st, SAKER_LOSS_RING_FULL, SAKER_LANE_MAX, 0, &n));
	assert_false(
	    saker_loss_count(&st, SAKER_LOSS_RING_FULL, SAKER_LANE_NORMAL, SAKER_CAT_MAX, &n));
	assert_int_equal(n, 0);
}

/* seen == delivered + lost: the split's causes cover every loss, once. */
static void test_split_covers_every_loss(void **state)
{
	struct saker_capture_stats st;
	struct saker_loss l;
	uint64_t causes = 0, lanes = 0;

	(void)state;
	distinct(&st);
	saker_loss_split(&st, &l);
	assert_int_equal(l.total, saker_stats_drops(&st));
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++)
		causes += l.cause[c];
	assert_int_equal(causes, l.total);
	for (int lane = 0; lane < SAKER_LANE_MAX; lane++)
		lanes += l.lane[lane];
	/* only ring causes have a lane */
	assert_int_equal(lanes, l.cause[SAKER_LOSS_RING_FULL] + l.cause[SAKER_LOSS_NO_RING]);
	assert_int_equal(l.cause[SAKER_LOSS_SCRATCH_MAP],
			 st.k[SAKER_CNT_DROPS_SCRATCH_MAP] +
			     st.k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL]);
	assert_int_equal(l.cause[SAKER_LOSS_USER_SPACE], 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_from_the_row),
	    cmocka_unit_test(test_split_covers_every_loss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
