#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "observe/observe.h"
#include "outputs/dump.h"

#define SEC 1000000000ull

struct fixture {
	struct saker_dump_sink sink;
	struct saker_canary verdicts;
	struct saker_drops drops;
	struct saker_observe_src src;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->sink.lines_written = 7;
	f->sink.lines_lost = 2;
	f->src.pipe.on = true;
	f->src.pipe.sink = &f->sink;
	f->src.pipe.state_errors = 1;
	f->src.has_rules = true;
	f->src.rules.matches = 5;
	f->src.rules.alerts = 4;
	f->src.drops = &f->drops;
	f->src.exact = true;
	f->src.now_mono_ns = 100 * SEC;
	f->src.now_real_ns = 1700000000 * SEC;
}

static uint64_t u64_of(const struct saker_metrics *m, const char *name)
{
	const struct saker_metric *s = saker_metrics_find(m, name, NULL, 0);

	assert_non_null(s);
	return s->u64;
}

/* The one collection holds the app's own parts: --dump's sink, the pipeline, the rules. */
static void test_collect_app_parts(void **state)
{
	struct fixture f;
	struct saker_metrics m;

	(void)state;
	fixture_init(&f);
	saker_metrics_init(&m);
	assert_int_equal(saker_observe_collect(NULL, &f.src, &m), 0);
	assert_int_equal(u64_of(&m, "dump_lines_written_total"), 7);
	assert_int_equal(u64_of(&m, "dump_lines_lost_total"), 2);
	assert_int_equal(u64_of(&m, "state_apply_failures_total"), 1);
	assert_int_equal(u64_of(&m, "rules_matches_total"), 5);
	assert_int_equal(u64_of(&m, "rules_alerts_total"), 4);
	assert_int_equal(u64_of(&m, "accounting_exact"), 1);
	assert_non_null(saker_metrics_find(&m, "drop_checks_total", NULL, 0));
	assert_non_null(saker_metrics_find(&m, "resync_requests_total", NULL, 0));
	/* no canary figures, no canary families */
	assert_null(saker_metrics_find(&m, "capture_canary_up", NULL, 0));
	saker_metrics_free(&m);

	/* the canary's figures */
	{
		const struct saker_metric_label sent[] = {{"result", "sent"}};

		f.verdicts.n_sent = 3;
		f.src.canary = (struct saker_observe_canary){
		    .v = &f.verdicts, .up = true, .blind = true, .n_sel_changes = 2};
		saker_metrics_init(&m);
		assert_int_equal(saker_observe_collect(NULL, &f.src, &m), 0);
		assert_int_equal(u64_of(&m, "capture_canary_up"), 1);
		assert_int_equal(u64_of(&m, "capture_canary_blind"), 1);
		assert_int_equal(u64_of(&m, "capture_selection_changes_total"), 2);
		assert_int_equal(
		    saker_metrics_find(&m, "capture_canary_markers_total", sent, 1)->u64, 3);
		/* without the pipeline, none of its families */
		f.src.pipe.on = false;
		assert_int_equal(saker_observe_collect(NULL, &f.src, &m), 0);
		assert_null(saker_metrics_find(&m, "state_apply_failures_total", NULL, 0));
		assert_null(saker_metrics_find(&m, "dump_lines_written_total", NULL, 0));
		f.src.pipe.on = true;
		f.src.canary.v = NULL;
	}
	/* without --dump there is no sink, and no dump samples */
	f.src.pipe.sink = NULL;
	f.src.exact = false;
	assert_int_equal(saker_observe_collect(NULL, &f.src, &m), 0);
	assert_null(saker_metrics_find(&m, "dump_lines_written_total", NULL, 0));
	assert_int_equal(u64_of(&m, "accounting_exact"), 0);
	saker_metrics_free(&m);
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(fp);
	assert_non_null(buf);
	(void)fread(buf, 1, (1 << 16) - 1, fp);
	fclose(fp);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void set(struct saker_config *cfg, const char *kv)
{
	char err[256];

	assert_int_equal(saker_config_override(cfg, kv, err, sizeof(err), NULL, NULL), 0);
}

/*
 * The snapshot line of a tick and the last line at exit come from the one
 * collection; the metrics.* switches select its families (rules_counters
 * off here), the summary's collection keeps them all.
 */
static void test_snapshot_lines(void **state)
{
	char path[] = "/tmp/saker-test-observe-XXXXXX";
	char kv[128], err[256];
	struct saker_observe *o;
	struct saker_config cfg;
	struct saker_log log;
	struct saker_metrics m;
	struct fixture f;
	char *text, *last;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	saker_log_init(&log);
	saker_config_init(&cfg);
	set(&cfg, "metrics.enabled=true");
	set(&cfg, "metrics.interval=1s");
	set(&cfg, "metrics.output_rule=false");
	set(&cfg, "metrics.rules_counters_enabled=false");
	snprintf(kv, sizeof(kv), "metrics.output_file=%s", path);
	set(&cfg, kv);
	assert_int_equal(saker_observe_start(&o, &cfg, "9.9", &log, err, sizeof(err)), 0);
	fixture_init(&f);
	/* the first tick starts the interval, the next one an interval later writes */
	saker_observe_tick(o, &f.src);
	f.src.now_mono_ns += 2 * SEC;
	f.sink.lines_written = 8;
	saker_observe_tick(o, &f.src);
	f.sink.lines_written = 9;
	saker_metrics_init(&m);
	assert_int_equal(saker_observe_final(o, &f.src, &m), 0);
	saker_observe_stop(o);

	text = read_all(path);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "\"dump_lines_written_total\":8"));
	assert_non_null(strstr(text, "\"build_info{version=\\\"9.9\\\"}\":1"));
	assert_null(strstr(text, "rules_"));
	/* zero values are left out (include_empty_values is off) */
	assert_null(strstr(text, "\"rules_errors_total\""));
	assert_null(strstr(text, ":0,"));
	assert_null(strstr(text, ":0}"));
	last = strchr(text, '\n') + 1;
	assert_non_null(strstr(last, "\"dump_lines_written_total\":9"));
	assert_non_null(strstr(last, "\"accounting_exact\":1"));
	/* the summary's collection: every family, the same figures */
	assert_int_equal(u64_of(&m, "dump_lines_written_total"), 9);
	assert_int_equal(u64_of(&m, "rules_matches_total"), 5);
	free(text);
	saker_metrics_free(&m);
	saker_config_free(&cfg);
	unlink(path);
}

/* Without a started observe (NULL), the final collection still serves the summary. */
static void test_final_without_observe(void **state)
{
	struct fixture f;
	struct saker_metrics m;

	(void)state;
	fixture_init(&f);
	saker_metrics_init(&m);
	assert_int_equal(saker_observe_final(NULL, &f.src, &m), 0);
	assert_int_equal(u64_of(&m, "dump_lines_written_total"), 7);
	assert_null(saker_metrics_find(&m, "build_info", NULL, 0));
	saker_metrics_free(&m);
	saker_observe_tick(NULL, &f.src);
	saker_observe_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_collect_app_parts),
	    cmocka_unit_test(test_snapshot_lines),
	    cmocka_unit_test(test_final_without_observe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
