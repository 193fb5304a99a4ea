#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/metrics.h"

static const struct saker_metric_label cause_buf[] = {{"cause", "ring_full"}};
static const struct saker_metric_label cause_big[] = {{"cause", "max_event_size"}};

static void test_add_find_sum(void **state)
{
	struct saker_metrics m;
	const struct saker_metric *s;
	const struct saker_metric_label two[] = {{"lane", "normal"}, {"cause", "ring_full"}};
	const struct saker_metric_label two_rev[] = {{"cause", "ring_full"}, {"lane", "normal"}};

	(void)state;
	saker_metrics_init(&m);
	assert_int_equal(saker_metrics_add_u64(&m, "events_seen_total", "Events seen.",
					       SAKER_METRIC_COUNTER, SAKER_METRIC_F_SUMMARY,
					       (1ull << 60) + 1, NULL, 0),
			 0);
	assert_int_equal(saker_metrics_add_u64(&m, "drops_total", "Drops.", SAKER_METRIC_COUNTER, 0,
					       7, cause_buf, 1),
			 0);
	assert_int_equal(saker_metrics_add_u64(&m, "drops_total", "Drops.", SAKER_METRIC_COUNTER, 0,
					       5, cause_big, 1),
			 0);
	assert_int_equal(
	    saker_metrics_add_u64(&m, "lane_drops_total", "x", SAKER_METRIC_COUNTER, 0, 3, two, 2),
	    0);
	s = saker_metrics_find(&m, "events_seen_total", NULL, 0);
	assert_non_null(s);
	assert_int_equal(s->u64, (1ull << 60) + 1); /* exact past 2^53 */
	s = saker_metrics_find(&m, "drops_total", cause_big, 1);
	assert_non_null(s);
	assert_int_equal(s->u64, 5);
	assert_null(saker_metrics_find(&m, "drops_total", NULL, 0));
	assert_non_null(saker_metrics_find(&m, "lane_drops_total", two_rev, 2));
	assert_true(saker_metrics_sum(&m, "drops_total") == 12.0);
	assert_true(saker_metrics_sum(&m, "absent") == 0.0);
	saker_metrics_free(&m);
	saker_metrics_free(NULL);
}

static void test_rejects_bad_input(void **state)
{
	struct saker_metrics m;
	const struct saker_metric_label bad[] = {{"1x", "v"}};
	const struct saker_metric_label reserved[] = {{"__name", "v"}};
	struct saker_metric_label many[SAKER_METRIC_MAX_LABELS + 1];

	(void)state;
	for (size_t i = 0; i < SAKER_METRIC_MAX_LABELS + 1; i++)
		many[i] = (struct saker_metric_label){"l", "v"};
	saker_metrics_init(&m);
	assert_int_equal(
	    saker_metrics_add_u64(&m, "bad-name", "", SAKER_METRIC_GAUGE, 0, 1, NULL, 0), -EINVAL);
	assert_int_equal(saker_metrics_add_u64(&m, "", "", SAKER_METRIC_GAUGE, 0, 1, NULL, 0),
			 -EINVAL);
	assert_int_equal(saker_metrics_add_u64(&m, "ok", "", SAKER_METRIC_GAUGE, 0, 1, bad, 1),
			 -EINVAL);
	assert_int_equal(saker_metrics_add_u64(&m, "ok", "", SAKER_METRIC_GAUGE, 0, 1, reserved, 1),
			 -EINVAL);
	assert_int_equal(saker_metrics_add_u64(&m, "ok", "", SAKER_METRIC_GAUGE, 0, 1, many,
					       SAKER_METRIC_MAX_LABELS + 1),
			 -EINVAL);
	assert_int_equal(saker_metrics_add_u64(&m, "ok", "", SAKER_METRIC_GAUGE, 0, 1, NULL, 0), 0);
	/* One family, one type. */
	assert_int_equal(saker_metrics_add_u64(&m, "ok", "", SAKER_METRIC_COUNTER, 0, 1, NULL, 0),
			 -EINVAL);
	assert_int_equal(m.n, 1);
	saker_metrics_free(&m);
}

static void test_prometheus_groups_families(void **state)
{
	struct saker_metrics m;
	struct saker_sbuf b;
	const struct saker_metric_label esc[] = {{"path", "a\"b\\c\nd"}};

	(void)state;
	saker_metrics_init(&m);
	saker_sbuf_init(&b);
	saker_metrics_add_u64(&m, "drops_total", "Events lost,\nby cause.", SAKER_METRIC_COUNTER, 0,
			      7, cause_buf, 1);
	saker_metrics_add_f64(&m, "drop_ratio", "Ratio.", SAKER_METRIC_GAUGE, 0, 0.25, NULL, 0);
	saker_metrics_add_u64(&m, "drops_total", "ignored", SAKER_METRIC_COUNTER, 0, 5, cause_big,
			      1);
	saker_metrics_add_u64(&m, "file_info", "F.", SAKER_METRIC_GAUGE, 0, 1, esc, 1);
	assert_int_equal(saker_metrics_render_prometheus(&m, &b), 0);
	assert_string_equal(b.p, "# HELP saker_drops_total Events lost,\\nby cause.\n"
				 "# TYPE saker_drops_total counter\n"
				 "saker_drops_total{cause=\"ring_full\"} 7\n"
				 "saker_drops_total{cause=\"max_event_size\"} 5\n"
				 "# HELP saker_drop_ratio Ratio.\n"
				 "# TYPE saker_drop_ratio gauge\n"
				 "saker_drop_ratio 0.25\n"
				 "# HELP saker_file_info F.\n"
				 "# TYPE saker_file_info gauge\n"
				 "saker_file_info{path=\"a\\\"b\\\\c\\nd\"} 1\n");
	saker_sbuf_free(&b);
	saker_metrics_free(&m);
}

static void test_json(void **state)
{
	struct saker_metrics m, moved;
	struct saker_sbuf b;

	(void)state;
	saker_metrics_init(&m);
	saker_metrics_init(&moved);
	saker_sbuf_init(&b);
	saker_metrics_add_u64(&m, "drops_total", "", SAKER_METRIC_COUNTER, 0, 7, cause_buf, 1);
	saker_metrics_add_f64(&m, "drop_ratio", "", SAKER_METRIC_GAUGE, 0, 0.5, NULL, 0);
	saker_metrics_add_f64(&m, "nan", "", SAKER_METRIC_GAUGE, 0, 0.0 / 0.0, NULL, 0);
	saker_metrics_move(&moved, &m);
	assert_int_equal(m.n, 0);
	assert_int_equal(saker_metrics_render_json(&moved, &b), 0);
	assert_string_equal(
	    b.p, "{\"drops_total{cause=\\\"ring_full\\\"}\":7,\"drop_ratio\":0.5,\"nan\":null}");
	saker_sbuf_free(&b);
	saker_metrics_free(&moved);
	saker_metrics_free(&m);
}

static void test_many_samples_and_long_strings(void **state)
{
	struct saker_metrics m;
	char name[32], help[6000];

	(void)state;
	memset(help, 'h', sizeof(help) - 1);
	help[sizeof(help) - 1] = 0;
	saker_metrics_init(&m);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "m%d", i % 37);
		assert_int_equal(saker_metrics_add_u64(&m, name, help, SAKER_METRIC_GAUGE, 0,
						       (uint64_t)i, NULL, 0),
				 0);
	}
	assert_int_equal(m.n, 1000);
	assert_false(m.oom);
	saker_metrics_reset(&m);
	assert_int_equal(m.n, 0);
	saker_metrics_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_find_sum),
	    cmocka_unit_test(test_rejects_bad_input),
	    cmocka_unit_test(test_prometheus_groups_families),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_many_samples_and_long_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
