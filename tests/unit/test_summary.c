#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/summary.h"

static const struct saker_metric_label ring_open[] = {
    {"cause", "ring_full"}, {"lane", "normal"}, {"category", "open"}};
static const struct saker_metric_label user_space[] = {{"cause", "user_space"}, {"lane", "normal"}};

static void add(struct saker_metrics *m, const char *name, uint64_t v,
		const struct saker_metric_label *l, size_t nl)
{
	assert_int_equal(saker_metrics_add_u64(m, name, "h", SAKER_METRIC_COUNTER,
					       SAKER_METRIC_F_SUMMARY, v, l, nl),
			 0);
}

/* The summary of a run that saw 100 events and lost 7 to a full ring. */
static char *render(bool detail)
{
	struct saker_metrics m;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	saker_metrics_init(&m);
	add(&m, "events_total", 100, NULL, 0);
	add(&m, "events_delivered_total", 93, NULL, 0);
	add(&m, "drops_total", 7, ring_open, 3);
	add(&m, "drops_total", 0, user_space, 2);
	add(&m, "page_faults_total", 0, NULL, 0);
	add(&m, "drop_checks_total", 3, NULL, 0);
	add(&m, "drop_checks_fired_total", 1, NULL, 0);
	add(&m, "drop_checks_suppressed_total", 0, NULL, 0);
	add(&m, "resync_requests_total", 0, NULL, 0);
	add(&m, "alerts_emitted_total", 0, NULL, 0);
	saker_summary_print(&m, true, detail, f);
	assert_int_equal(fclose(f), 0);
	saker_metrics_free(&m);
	return buf;
}

static void test_short_has_accounting_and_non_zero_counters_only(void **state)
{
	char *s = render(false);

	(void)state;
	assert_non_null(strstr(s, "   events seen: 100\n"));
	assert_non_null(strstr(s, "   events delivered: 93\n"));
	assert_non_null(strstr(s, "   events dropped: 7\n"));
	assert_non_null(strstr(s, "accounting: exact (seen == delivered + dropped)"));
	assert_non_null(strstr(s, "   dropped, buffer full: 7\n"));
	assert_non_null(strstr(s, "      n_drops_buffer_open_exit: 7\n"));
	assert_non_null(strstr(s, "   - event drop detected: 1 occurrences\n"));
	assert_null(strstr(s, ": 0\n"));
	assert_null(strstr(s, "user space"));
	assert_null(strstr(s, "resync"));
	assert_null(strstr(s, "Metrics: "));
	free(s);
}

static void test_detail_has_zero_counters_and_every_metric(void **state)
{
	char *s = render(true);

	(void)state;
	assert_non_null(strstr(s, "   dropped, user space: 0\n"));
	assert_non_null(strstr(s, "   user memory read failures (events kept): 0\n"));
	assert_non_null(strstr(s, "   - resync requests: 0\n"));
	assert_non_null(strstr(s, "   - suppressed by rate limit: 0\n"));
	assert_non_null(strstr(s, "Metrics: "));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_has_accounting_and_non_zero_counters_only),
	    cmocka_unit_test(test_detail_has_zero_counters_and_every_metric),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
