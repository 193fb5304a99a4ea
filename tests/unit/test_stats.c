/*
 * Capture counters: every kernel counter has a name (Falco's where Falco has
 * one), the drop total covers every loss cause (scratch collisions, no ring,
 * both lanes) and nothing that is not a loss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "saker_abi.h"
#include "capture/stats.h"

static void test_every_counter_named_once(void **state)
{
	(void)state;
	for (int i = 0; i < SAKER_CNT_MAX; i++) {
		const char *n = saker_counter_name((enum saker_counter)i);

		assert_string_not_equal(n, "n_unknown");
		assert_int_equal(strncmp(n, "n_", 2), 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, saker_counter_name((enum saker_counter)j));
	}
	assert_string_equal(saker_counter_name(SAKER_CNT_MAX), "n_unknown");
	assert_string_equal(saker_counter_name((enum saker_counter) - 1), "n_unknown");
}

static void test_falco_names(void **state)
{
	(void)state;
	assert_string_equal(saker_counter_name(SAKER_CNT_EVTS), "n_evts");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_SCRATCH_MAP), "n_drops_scratch_map");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_MAX_EVENT_SIZE),
			    "n_drops_max_event_size");
	assert_string_equal(saker_counter_name(SAKER_CNT_PAGE_FAULTS), "n_drops_page_faults");
	/* Lane 0, ring full: the names the end-to-end tests and Falco users grep. */
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_EXECVE),
			    "n_drops_buffer_execve_exit");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER),
			    "n_drops_buffer_other_exit");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_BUFFER_LAST),
			    "n_drops_buffer_proc_exit");
	assert_int_equal(
	    SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_NORMAL, SAKER_CAT_CLOSE),
	    SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CLOSE);
	assert_string_equal(saker_counter_name(SAKER_CNT_DROP_RING(
				SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_CONNECT)),
			    "n_drops_buffer_critical_connect_exit");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROP_RING(
				SAKER_CAUSE_NO_RING, SAKER_LANE_NORMAL, SAKER_CAT_OPEN)),
			    "n_drops_no_ring_open_exit");
	assert_int_equal(
	    SAKER_CNT_DROP_RING(SAKER_CAUSE_MAX - 1, SAKER_LANE_MAX - 1, SAKER_CAT_MAX - 1),
	    SAKER_CNT_DROPS_RING_LAST);
}

/* One event in one counter: a drop iff the counter is a loss cause. */
static void test_drop_total_covers_every_cause(void **state)
{
	size_t n_drop_counters = 0;

	(void)state;
	for (int i = 0; i < SAKER_CNT_MAX; i++) {
		struct saker_capture_stats st;
		bool is_drop = i != SAKER_CNT_EVTS && i != SAKER_CNT_PAGE_FAULTS &&
			       i != SAKER_CNT_DEMOTED && i != SAKER_CNT_DROPS_UNATTRIBUTED &&
			       i != SAKER_CNT_LANE_UID_BUCKETS &&
			       i != SAKER_CNT_LANE_CGROUP_BUCKETS;

		memset(&st, 0, sizeof(st));
		st.k[i] = 7;
		assert_int_equal(saker_counter_is_drop((enum saker_counter)i), is_drop);
		assert_int_equal(saker_stats_drops(&st), is_drop ? 7 : 0);
		n_drop_counters += is_drop;
	}
	/* cause x lane x category, oversized, scratch map (both lanes) */
	assert_int_equal(n_drop_counters, SAKER_CAUSE_MAX * SAKER_LANE_MAX * SAKER_CAT_MAX + 3);
}

static void test_drop_subtotals(void **state)
{
	struct saker_capture_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.k[SAKER_CNT_EVTS] = 1000;
	st.k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN] = 3;
	st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_OPEN)] = 4;
	st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_EXECVE)] = 5;
	st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_NO_RING, SAKER_LANE_NORMAL, SAKER_CAT_OPEN)] = 6;
	st.k[SAKER_CNT_DROPS_SCRATCH_MAP] = 10;
	st.k[SAKER_CNT_DROPS_MAX_EVENT_SIZE] = 20;
	st.k[SAKER_CNT_PAGE_FAULTS] = 100;
	st.user_drops = 40;
	assert_int_equal(saker_stats_drops_buffer(&st), 3 + 4 + 5);
	assert_int_equal(saker_stats_drops_buffer_cat(&st, SAKER_CAT_OPEN), 3 + 4);
	assert_int_equal(saker_stats_drops_buffer_cat(&st, SAKER_CAT_MAX), 0);
	assert_int_equal(saker_stats_drops_no_ring(&st), 6);
	assert_int_equal(saker_stats_drops(&st), 3 + 4 + 5 + 6 + 10 + 20 + 40);
	/* n_drops_critical: lane 1 only, every cause and category, its scratch losses too */
	assert_int_equal(saker_stats_drops_critical(&st), 4 + 5);
	st.k[SAKER_CNT_DROP_RING(SAKER_CAUSE_NO_RING, SAKER_LANE_CRITICAL, SAKER_CAT_PROC)] = 7;
	st.k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL] = 8;
	st.k[SAKER_CNT_DEMOTED] = 1000; /* demoted events are not lost */
	assert_int_equal(saker_stats_drops_critical(&st), 4 + 5 + 7 + 8);
	assert_int_equal(saker_stats_drops(&st), 3 + 4 + 5 + 6 + 10 + 20 + 40 + 7 + 8);
	assert_string_equal(saker_counter_name(SAKER_CNT_DEMOTED), "n_demoted");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL),
			    "n_drops_scratch_map_critical");
	assert_string_equal(saker_counter_name(SAKER_CNT_DROPS_UNATTRIBUTED),
			    "n_drops_unattributed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_counter_named_once),
	    cmocka_unit_test(test_falco_names),
	    cmocka_unit_test(test_drop_total_covers_every_cause),
	    cmocka_unit_test(test_drop_subtotals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
