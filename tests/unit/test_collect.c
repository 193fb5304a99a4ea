#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "observe/collect.h"

static uint64_t u64_of(const struct saker_metrics *m, const char *name,
		       const struct saker_metric_label *l, size_t n)
{
	const struct saker_metric *s = saker_metrics_find(m, name, l, n);

	assert_non_null(s);
	return s->u64;
}

static const struct saker_metric *find(const struct saker_metrics *m, const char *name,
				       const struct saker_metric_label *l, size_t n)
{
	const struct saker_metric *s = saker_metrics_find(m, name, l, n);

	assert_non_null(s);
	return s;
}

static void fake_capture(struct saker_capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN] = 70;
	st->k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_EXECVE] = 3;
	st->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE] = 2;
	st->k[SAKER_CNT_PAGE_FAULTS] = 9;
	st->user_drops = 5;
	st->delivered = 1000;
	st->k[SAKER_CNT_EVTS] = 1000 + 70 + 3 + 2 + 5;
}

static void test_capture_counters(void **state)
{
	struct saker_capture_stats st;
	struct saker_metrics m;
	const struct saker_metric_label open_l[] = {
	    {"cause", "ring_full"}, {"lane", "normal"}, {"category", "open"}};
	const struct saker_metric_label exec_l[] = {
	    {"category", "execve"}, {"cause", "ring_full"}, {"lane", "normal"}};
	const struct saker_metric_label big_l[] = {{"cause", "max_event_size"}, {"lane", "normal"}};
	const struct saker_metric_label user_l[] = {{"cause", "user_space"}, {"lane", "normal"}};
	const struct saker_collect_in in = {.capture = &st};

	(void)state;
	fake_capture(&st);
	saker_metrics_init(&m);
	assert_int_equal(saker_collect(&m, &in), 0);
	assert_int_equal(u64_of(&m, "events_total", NULL, 0), 1080);
	assert_int_equal(u64_of(&m, "events_delivered_total", NULL, 0), 1000);
	assert_int_equal(u64_of(&m, "drops_total", open_l, 3), 70);
	assert_int_equal(u64_of(&m, "drops_total", exec_l, 3), 3);
	assert_int_equal(u64_of(&m, "drops_total", big_l, 2), 2);
	assert_int_equal(u64_of(&m, "drops_total", user_l, 2), 5);
	assert_int_equal(u64_of(&m, "page_faults_total", NULL, 0), 9);
	/* Falco's invariant holds in the metrics: seen == delivered + every drop. */
	assert_true(saker_metrics_sum(&m, "drops_total") == (double)saker_stats_drops(&st));
	assert_true(saker_metrics_sum(&m, "events_delivered_total") +
			saker_metrics_sum(&m, "drops_total") ==
		    saker_metrics_sum(&m, "events_total"));
	/* Every category is present, zero or not, so a dashboard's series never vanish. */
	for (int c = 0; c < SAKER_CAT_MAX; c++) {
		const struct saker_metric_label l[] = {{"cause", "ring_full"},
						       {"lane", "normal"},
						       {"category", saker_category_name(c)}};

		assert_non_null(saker_metrics_find(&m, "drops_total", l, 3));
	}
	assert_true(find(&m, "events_total", NULL, 0)->flags & SAKER_METRIC_F_SUMMARY);
	assert_int_equal(find(&m, "events_total", NULL, 0)->type, SAKER_METRIC_COUNTER);
	/* Nothing else was given, so nothing else is there. */
	assert_null(saker_metrics_find(&m, "drop_checks_total", NULL, 0));
	assert_null(saker_metrics_find(&m, "build_info", NULL, 0));
	saker_metrics_free(&m);
}

static void test_cpus_and_rings(void **state)
{
	struct saker_kcounters cpus[3];
	const unsigned cpu_ring[3] = {0, 0, 1};
	const struct saker_collect_ring rings[4] = {
	    {.size_bytes = 1 << 20, .events = 40, .bytes = 4000},
	    {.size_bytes = 1 << 20,
	     .events = 7,
	     .bytes = 700,
	     .has_high_water = true,
	     .high_water_bytes = 65536,
	     .saturated = true},
	    /* the protected lane's rings, the same CPU grouping */
	    {.lane = SAKER_LANE_CRITICAL, .size_bytes = 1 << 18, .events = 3},
	    {.lane = SAKER_LANE_CRITICAL, .size_bytes = 1 << 18, .events = 2},
	};
	const struct saker_collect_in in = {
	    .percpu = cpus,
	    .cpu_ring = cpu_ring,
	    .n_cpus = 3,
	    .rings = rings,
	    .n_rings = 4,
	};
	const struct saker_metric_label cpu1[] = {{"cpu", "1"}};
	const struct saker_metric_label cpu2[] = {{"cpu", "2"}};
	const struct saker_metric_label ring0[] = {{"ring", "0"}, {"lane", "normal"}};
	const struct saker_metric_label ring1[] = {{"lane", "normal"}, {"ring", "1"}};
	const struct saker_metric_label ring2[] = {{"ring", "2"}, {"lane", "critical"}};
	const struct saker_metric_label ring3[] = {{"ring", "3"}, {"lane", "critical"}};
	struct saker_metrics m;

	(void)state;
	memset(cpus, 0, sizeof(cpus));
	cpus[0].c[SAKER_CNT_EVTS] = 10;
	cpus[0].c[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN] = 4;
	cpus[1].c[SAKER_CNT_EVTS] = 20;
	cpus[1].c[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CLOSE] = 6;
	cpus[1].c[SAKER_CNT_DROPS_MAX_EVENT_SIZE] = 1;
	cpus[1].c[SAKER_CNT_PAGE_FAULTS] = 50; /* not a drop */
	cpus[2].c[SAKER_CNT_EVTS] = 30;
	cpus[2].c[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER] = 8;
	cpus[2].c[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_PROC)] =
	    5;
	saker_metrics_init(&m);
	assert_int_equal(saker_collect(&m, &in), 0);
	assert_int_equal(u64_of(&m, "cpu_events_total", cpu1, 1), 20);
	assert_int_equal(u64_of(&m, "cpu_drops_total", cpu1, 1), 7);
	assert_int_equal(u64_of(&m, "cpu_drops_total", cpu2, 1), 8);
	assert_true(saker_metrics_sum(&m, "cpu_events_total") == 60);
	/* Ring 0 is written by CPUs 0 and 1: its full-ring drops are theirs, oversized ones not. */
	assert_int_equal(u64_of(&m, "ring_drops_total", ring0, 2), 10);
	assert_int_equal(u64_of(&m, "ring_drops_total", ring1, 2), 8);
	/* A lane-1 ring's drops are lane 1's of its CPUs, not the bulk lane's. */
	assert_int_equal(u64_of(&m, "ring_drops_total", ring2, 2), 0);
	assert_int_equal(u64_of(&m, "ring_drops_total", ring3, 2), 5);
	assert_int_equal(u64_of(&m, "ring_events_total", ring3, 2), 2);
	assert_int_equal(u64_of(&m, "ring_events_total", ring1, 2), 7);
	assert_int_equal(u64_of(&m, "ring_consumed_bytes_total", ring0, 2), 4000);
	assert_int_equal(u64_of(&m, "ring_size_bytes", ring0, 2), 1 << 20);
	/* The high-water gauge only where it was measured. */
	assert_null(saker_metrics_find(&m, "ring_high_water_bytes", ring0, 2));
	assert_int_equal(u64_of(&m, "ring_high_water_bytes", ring1, 2), 65536);
	assert_int_equal(u64_of(&m, "ring_consumer_saturated", ring1, 2), 1);
	assert_null(saker_metrics_find(&m, "ring_consumer_saturated", ring0, 2));
	assert_int_equal(find(&m, "ring_high_water_bytes", ring1, 2)->type, SAKER_METRIC_GAUGE);
	assert_true(find(&m, "cpu_events_total", cpu1, 1)->flags & SAKER_METRIC_F_DETAIL);
	saker_metrics_free(&m);
}

static void test_drops_view_outputs(void **state)
{
	struct saker_drops d;
	struct saker_view_stats v;
	struct saker_outputs_stats o;
	const struct saker_collect_in in = {.drops = &d, .view = &v, .outputs = &o};
	const struct saker_metric_label alert_l[] = {{"action", "alert"}};
	const struct saker_metric_label exit_l[] = {{"action", "exit"}};
	const struct saker_metric_label file_l[] = {{"channel", saker_channel_name(SAKER_CH_FILE)}};
	const struct saker_metric_label http_l[] = {{"channel", saker_channel_name(SAKER_CH_HTTP)}};
	struct saker_metrics m;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.n_checks = 60;
	d.n_fired = 12;
	d.n_actions_taken = 4;
	d.n_suppressed = 8;
	d.n_action_runs[SAKER_DROP_ACT_ALERT] = 4;
	d.last_evts = 400;
	d.last_drops = 100;
	memset(&v, 0, sizeof(v));
	v.procs.entries = 321;
	v.procs.evictions = 5;
	v.procs.failed_lookups = 17;
	v.fds.entries = 999;
	v.fds.failed_lookups = 3;
	memset(&o, 0, sizeof(o));
	o.emitted = 15;
	o.queue_drops = 2;
	o.queued = 1;
	o.enabled[SAKER_CH_FILE] = true;
	o.delivered[SAKER_CH_FILE] = 11;
	o.failed[SAKER_CH_FILE] = 1;
	o.delivered[SAKER_CH_HTTP] = 99; /* disabled: not shown */

	saker_metrics_init(&m);
	assert_int_equal(saker_collect(&m, &in), 0);
	assert_int_equal(u64_of(&m, "drop_checks_total", NULL, 0), 60);
	assert_int_equal(u64_of(&m, "drop_checks_fired_total", NULL, 0), 12);
	assert_int_equal(u64_of(&m, "drop_actions_taken_total", NULL, 0), 4);
	assert_int_equal(u64_of(&m, "drop_checks_suppressed_total", NULL, 0), 8);
	assert_int_equal(u64_of(&m, "drop_action_runs_total", alert_l, 1), 4);
	assert_int_equal(u64_of(&m, "drop_action_runs_total", exit_l, 1), 0);
	assert_true(saker_metric_value(find(&m, "drop_ratio", NULL, 0)) == 0.25);
	assert_int_equal(find(&m, "drop_ratio", NULL, 0)->type, SAKER_METRIC_GAUGE);
	assert_int_equal(u64_of(&m, "proc_table_entries", NULL, 0), 321);
	assert_int_equal(find(&m, "proc_table_entries", NULL, 0)->type, SAKER_METRIC_GAUGE);
	assert_true(find(&m, "proc_table_entries", NULL, 0)->flags & SAKER_METRIC_F_DETAIL);
	assert_int_equal(u64_of(&m, "proc_table_evictions_total", NULL, 0), 5);
	assert_int_equal(u64_of(&m, "proc_table_failed_lookups_total", NULL, 0), 17);
	assert_int_equal(u64_of(&m, "fd_table_entries", NULL, 0), 999);
	assert_int_equal(u64_of(&m, "fd_table_failed_lookups_total", NULL, 0), 3);
	assert_int_equal(u64_of(&m, "alerts_emitted_total", NULL, 0), 15);
	assert_int_equal(u64_of(&m, "alerts_queue_drops_total", NULL, 0), 2);
	assert_int_equal(u64_of(&m, "alerts_queued", NULL, 0), 1);
	assert_int_equal(u64_of(&m, "alerts_delivered_total", file_l, 1), 11);
	assert_int_equal(u64_of(&m, "alerts_failed_total", file_l, 1), 1);
	assert_null(saker_metrics_find(&m, "alerts_delivered_total", http_l, 1));
	assert_true(find(&m, "alerts_delivered_total", file_l, 1)->flags & SAKER_METRIC_F_SUMMARY);
	saker_metrics_free(&m);
}

static void test_drop_ratio(void **state)
{
	(void)state;
	assert_true(saker_collect_drop_ratio(0, 0) == 0);
	assert_true(saker_collect_drop_ratio(0, 10) == 0);
	assert_true(saker_collect_drop_ratio(5, 0) == 1);
	assert_true(saker_collect_drop_ratio(1, 4) == 0.25);
	assert_true(saker_collect_drop_ratio(9, 4) == 1); /* simulated drops past the events */
}

static void test_self_progs_build(void **state)
{
	struct saker_collect_self self;
	const struct saker_collect_prog progs[] = {{"sys_exit", 1234, 2500000000ull},
						   {"sched_switch", 5, 0}};
	struct saker_collect_in in = {
	    .self = &self, .progs = progs, .n_progs = 2, .version = "9.9"};
	const struct saker_metric_label se[] = {{"program", "sys_exit"}};
	const struct saker_metric_label ver[] = {{"version", "9.9"}};
	struct saker_metrics m;
	struct saker_sbuf out;
	double now = (double)time(NULL);

	(void)state;
	assert_int_equal(saker_collect_self_read(&self), 0);
	assert_true(self.rss_bytes > 0);
	/* This test started within the last hour, not at the epoch nor in the future. */
	assert_true(self.start_time_seconds > now - 3600 && self.start_time_seconds < now + 5);
	assert_true(self.cpu_user_seconds + self.cpu_system_seconds >= 0);

	in.bpf_stats_enabled = true;
	saker_metrics_init(&m);
	assert_int_equal(saker_collect(&m, &in), 0);
	assert_int_equal(u64_of(&m, "bpf_program_runs_total", se, 1), 1234);
	assert_true(saker_metric_value(find(&m, "bpf_program_run_seconds_total", se, 1)) == 2.5);
	assert_int_equal(u64_of(&m, "bpf_stats_enabled", NULL, 0), 1);
	assert_int_equal(u64_of(&m, "build_info", ver, 1), 1);
	assert_int_equal(u64_of(&m, "process_resident_memory_bytes", NULL, 0), self.rss_bytes);
	assert_non_null(strstr(find(&m, "bpf_program_runs_total", se, 1)->help, "enabled"));
	saker_metrics_free(&m);

	/* Disabled: the HELP says the zeros mean "not counted". */
	in.bpf_stats_enabled = false;
	saker_metrics_init(&m);
	assert_int_equal(saker_collect(&m, &in), 0);
	assert_int_equal(u64_of(&m, "bpf_stats_enabled", NULL, 0), 0);
	assert_non_null(strstr(find(&m, "bpf_program_runs_total", se, 1)->help, "always 0"));
	saker_sbuf_init(&out);
	assert_int_equal(saker_metrics_render_prometheus(&m, &out), 0);
	assert_non_null(
	    strstr(out.p, "# TYPE saker_build_info gauge\nsaker_build_info{version=\"9.9\"} 1\n"));
	assert_non_null(strstr(out.p, "saker_bpf_program_runs_total{program=\"sys_exit\"} 1234\n"));
	saker_sbuf_free(&out);
	saker_metrics_free(&m);
}

/* Every family collect makes: capture, CPUs, rings, drops, view, outputs, rules, self, BPF. */
static void collect_everything(struct saker_metrics *m)
{
	static struct saker_capture_stats st;
	static struct saker_drops d;
	static struct saker_view_stats v;
	static struct saker_outputs_stats o;
	static struct saker_kcounters cpus[2];
	static const unsigned cpu_ring[2] = {0, 0};
	static const struct saker_collect_ring ring = {.size_bytes = 4096};
	static const struct saker_collect_rules rules = {.loaded = 3, .matches = 4};
	static const struct saker_collect_self self = {.rss_bytes = 1};
	static const struct saker_collect_prog prog = {"sys_exit", 1, 1};
	const struct saker_collect_in in = {
	    .capture = &st,
	    .percpu = cpus,
	    .cpu_ring = cpu_ring,
	    .n_cpus = 2,
	    .rings = &ring,
	    .n_rings = 1,
	    .drops = &d,
	    .view = &v,
	    .outputs = &o,
	    .rules = &rules,
	    .self = &self,
	    .progs = &prog,
	    .n_progs = 1,
	    .version = "1",
	};

	fake_capture(&st);
	o.enabled[SAKER_CH_STDOUT] = true;
	saker_metrics_init(m);
	assert_int_equal(saker_collect(m, &in), 0);
}

/* Everything at once renders; every counter ends in _total and no family repeats its header. */
static void test_all_render(void **state)
{
	struct saker_metrics m;
	struct saker_sbuf out;

	(void)state;
	collect_everything(&m);
	assert_false(m.oom);
	for (size_t i = 0; i < m.n; i++) {
		size_t len = strlen(m.v[i].name);
		bool total = len > 6 && strcmp(m.v[i].name + len - 6, "_total") == 0;

		assert_true(m.v[i].type == SAKER_METRIC_COUNTER ? total : !total);
		assert_true(strncmp(m.v[i].name, "saker_", 6) != 0); /* the renderer adds it */
		assert_true(m.v[i].help[0] != '\0');
	}
	saker_sbuf_init(&out);
	assert_int_equal(saker_metrics_render_prometheus(&m, &out), 0);
	{
		const char *p = strstr(out.p, "# TYPE saker_drops_total counter\n");

		assert_non_null(p);
		assert_null(strstr(p + 1, "# TYPE saker_drops_total "));
	}
	saker_sbuf_free(&out);
	saker_metrics_free(&m);
}

static size_t count_prefix(const struct saker_metrics *m, const char *prefix)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += strncmp(m->v[i].name, prefix, strlen(prefix)) == 0;
	return n;
}

/* Falco's metrics.* switches: each removes its families and nothing else. */
static void test_select_families(void **state)
{
	static const struct {
		size_t off;
		const char *prefixes[4];
	} sw[] = {
	    {offsetof(struct saker_collect_select, kernel),
	     {"events_", "drops_total", "page_faults_", "ring_"}},
	    {offsetof(struct saker_collect_select, per_cpu), {"cpu_"}},
	    {offsetof(struct saker_collect_select, bpf), {"bpf_"}},
	    {offsetof(struct saker_collect_select, state), {"proc_table_", "fd_table_", "state_"}},
	    {offsetof(struct saker_collect_select, resource), {"process_"}},
	    {offsetof(struct saker_collect_select, rules), {"rules_"}},
	};
	const struct saker_collect_select all = {true, true, true, true, true, true};
	struct saker_metrics m, sel;

	(void)state;
	collect_everything(&m);
	/* all on: a copy of everything */
	saker_metrics_init(&sel);
	assert_int_equal(saker_collect_select_copy(&sel, &m, &all), 0);
	assert_int_equal(sel.n, m.n);
	saker_metrics_free(&sel);
	for (size_t i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
		struct saker_collect_select one = all;
		size_t gone = 0;

		*(bool *)((char *)&one + sw[i].off) = false;
		for (size_t p = 0; p < 4 && sw[i].prefixes[p]; p++) {
			size_t n = count_prefix(&m, sw[i].prefixes[p]);

			assert_true(n > 0);
			gone += n;
		}
		saker_metrics_init(&sel);
		assert_int_equal(saker_collect_select_copy(&sel, &m, &one), 0);
		assert_int_equal(sel.n, m.n - gone);
		for (size_t p = 0; p < 4 && sw[i].prefixes[p]; p++)
			assert_int_equal(count_prefix(&sel, sw[i].prefixes[p]), 0);
		saker_metrics_free(&sel);
	}
	/* all off: what no switch governs stays (drop check, outputs, build_info) */
	{
		const struct saker_collect_select none = {0};

		saker_metrics_init(&sel);
		assert_int_equal(saker_collect_select_copy(&sel, &m, &none), 0);
		assert_non_null(saker_metrics_find(&sel, "drop_checks_total", NULL, 0));
		assert_non_null(saker_metrics_find(&sel, "drops_simulated_total", NULL, 0));
		assert_non_null(saker_metrics_find(&sel, "alerts_emitted_total", NULL, 0));
		assert_int_equal(count_prefix(&sel, "build_info"), 1);
		assert_null(saker_metrics_find(&sel, "events_total", NULL, 0));
		assert_int_equal(count_prefix(&sel, "rules_"), 0);
		/* the copy keeps values, types, help and labels */
		for (size_t i = 0; i < sel.n; i++) {
			const struct saker_metric *a = &sel.v[i];
			const struct saker_metric *b =
			    saker_metrics_find(&m, a->name, a->labels, a->n_labels);

			assert_non_null(b);
			assert_true(saker_metric_value(a) == saker_metric_value(b));
			assert_int_equal(a->type, b->type);
			assert_int_equal(a->flags, b->flags);
			assert_string_equal(a->help, b->help);
		}
		saker_metrics_free(&sel);
	}
	saker_metrics_free(&m);
}

/* The switches as the configuration sets them, Falco's defaults first. */
static void test_select_from_config(void **state)
{
	struct saker_config cfg;
	struct saker_collect_select sel;
	char err[256];

	(void)state;
	saker_config_init(&cfg);
	saker_collect_select_init(&sel, &cfg);
	assert_true(sel.kernel && sel.bpf && sel.state && sel.resource && sel.rules);
	assert_false(sel.per_cpu);
	assert_int_equal(saker_config_override(&cfg,
					       "metrics.kernel_event_counters_per_cpu_enabled=true",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(saker_config_override(&cfg, "metrics.rules_counters_enabled=false", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(saker_config_override(&cfg, "metrics.libbpf_stats_enabled=false", err,
					       sizeof(err), NULL, NULL),
			 0);
	saker_collect_select_init(&sel, &cfg);
	assert_true(sel.per_cpu && sel.kernel);
	assert_false(sel.rules);
	assert_false(sel.bpf);
	saker_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capture_counters),   cmocka_unit_test(test_cpus_and_rings),
	    cmocka_unit_test(test_drops_view_outputs), cmocka_unit_test(test_drop_ratio),
	    cmocka_unit_test(test_self_progs_build),   cmocka_unit_test(test_all_render),
	    cmocka_unit_test(test_select_families),    cmocka_unit_test(test_select_from_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
