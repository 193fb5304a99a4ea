#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#define MIB (1024ULL * 1024ULL)

/* Collects warnings so tests can count them and look at their text. */
struct warns {
	int n;
	char last[1024];
	char all[8192];
};

static void collect(void *ctx, enum saker_prio prio, const char *msg)
{
	struct warns *w = ctx;
	size_t used = strlen(w->all);

	assert_int_equal(prio, SAKER_PRIO_WARNING);
	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
	snprintf(w->all + used, sizeof(w->all) - used, "%s\n", msg);
}

/* Loads yaml over cfg as file "t.yaml"; err always receives the message. */
static int load(struct saker_config *cfg, const char *yaml, char *err, struct warns *w)
{
	return saker_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml), err, 512,
					w ? collect : NULL, w);
}

/* Loads into a fresh default config, expects an error, returns its message. */
static void expect_error(const char *yaml, const char *want)
{
	struct saker_config cfg, ref;
	char err[512] = "";

	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(load(&cfg, yaml, err, NULL), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
	/* a failed load leaves the configuration as it was */
	assert_true(saker_config_equal(&cfg, &ref));
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void expect_override_error(const char *ov, const char *want)
{
	struct saker_config cfg, ref;
	char err[512] = "";

	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(saker_config_override(&cfg, ov, err, sizeof(err), NULL, NULL), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	assert_true(saker_config_equal(&cfg, &ref));
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_defaults(void **state)
{
	struct saker_config cfg;

	(void)state;
	saker_config_init(&cfg);
	assert_true(cfg.drops.threshold == 0);
	assert_int_equal(cfg.drops.n_actions, 3);
	assert_int_equal(cfg.drops.actions[0], SAKER_DROP_ACT_LOG);
	assert_int_equal(cfg.drops.actions[1], SAKER_DROP_ACT_ALERT);
	assert_int_equal(cfg.drops.actions[2], SAKER_DROP_ACT_RESYNC);
	assert_true(cfg.drops.degraded_window == 10);
	assert_null(cfg.drops_ledger);
	assert_true(cfg.drops.rate == .03333);
	assert_true(cfg.drops.max_burst == 10);
	assert_false(cfg.drops.simulate_drops);
	assert_int_equal(cfg.drops.priority, SAKER_PRIO_CRITICAL);
	assert_int_equal(cfg.log_level, SAKER_PRIO_INFO);
	assert_true(cfg.log_stderr);
	assert_false(cfg.log_syslog);
	assert_int_equal(cfg.priority, SAKER_PRIO_DEBUG);
	assert_false(cfg.json_output);
	assert_true(cfg.json_include_output_property);
	assert_true(cfg.json_include_tags_property);
	assert_false(cfg.time_format_iso_8601);
	assert_false(cfg.buffered_outputs);
	assert_int_equal(cfg.outputs_queue_capacity, 0);
	assert_true(cfg.stdout_output.enabled);
	assert_false(cfg.syslog_output.enabled);
	assert_false(cfg.file_output.enabled);
	assert_false(cfg.file_output.keep_alive);
	assert_null(cfg.file_output.filename);
	assert_false(cfg.program_output.enabled);
	assert_null(cfg.program_output.program);
	assert_false(cfg.http_output.enabled);
	assert_null(cfg.http_output.url);
	assert_string_equal(cfg.http_output.user_agent, "saker");
	assert_string_equal(cfg.http_output.ca_path, "/etc/ssl/certs");
	assert_null(cfg.http_output.ca_cert);
	assert_int_equal(cfg.http_output.max_consecutive_timeouts, 5);
	assert_string_equal(cfg.engine.kind, "modern_ebpf");
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 4);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size, 0);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 2);
	assert_false(cfg.engine.modern_ebpf.disable_iterators);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 0);
	assert_false(cfg.base_syscalls.all);
	assert_int_equal(saker_config_validate(&cfg, NULL, 0), 0);
	saker_config_free(&cfg);
	saker_config_free(&cfg); /* idempotent */
	saker_config_free(NULL);
}

static void test_embedded_default(void **state)
{
	struct saker_config cfg, ref;
	struct warns w = {0};
	char err[512] = "";

	(void)state;
	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(saker_config_load_buffer(&cfg, "embedded", saker_default_config_yaml,
						  strlen(saker_default_config_yaml), err,
						  sizeof(err), collect, &w),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(w.n, 0);
	/* The file sets the two commands users enable by hand; everything else is the default. */
	assert_string_equal(cfg.file_output.filename, "./saker_events.txt");
	assert_string_equal(cfg.program_output.program, "jq '{text: .output}' | logger");
	assert_false(saker_config_equal(&cfg, &ref));
	free(cfg.file_output.filename);
	free(cfg.program_output.program);
	cfg.file_output.filename = NULL;
	cfg.program_output.program = NULL;
	assert_true(saker_config_equal(&cfg, &ref));
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_equal_and_copy(void **state)
{
	struct saker_config a, b;

	(void)state;
	saker_config_init(&a);
	assert_int_equal(saker_config_override(&a, "base_syscalls.custom_set=[open, close]", NULL,
					       0, NULL, NULL),
			 0);
	assert_int_equal(saker_config_copy(&b, &a), 0);
	assert_true(saker_config_equal(&a, &b));
	assert_ptr_not_equal(a.engine.kind, b.engine.kind);
	assert_ptr_not_equal(a.base_syscalls.custom_set.v[0], b.base_syscalls.custom_set.v[0]);
	b.drops.rate = 1;
	assert_false(saker_config_equal(&a, &b));
	b.drops.rate = a.drops.rate;
	b.drops.actions[1] = SAKER_DROP_ACT_EXIT;
	assert_false(saker_config_equal(&a, &b));
	b.drops.actions[1] = a.drops.actions[1];
	b.base_syscalls.custom_set.v[1][0] = 'X';
	assert_false(saker_config_equal(&a, &b));
	b.base_syscalls.custom_set.v[1][0] = 'c';
	free(b.http_output.user_agent);
	b.http_output.user_agent = NULL;
	assert_false(saker_config_equal(&a, &b));
	saker_config_free(&a);
	saker_config_free(&b);
}

static void test_ring_bytes_and_names(void **state)
{
	struct saker_config cfg;

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(saker_config_ring_bytes(&cfg), 8 * MIB);
	cfg.engine.modern_ebpf.buf_size_preset = 1;
	assert_int_equal(saker_config_ring_bytes(&cfg), 1 * MIB);
	cfg.engine.modern_ebpf.buf_size_preset = 10;
	assert_int_equal(saker_config_ring_bytes(&cfg), 512 * MIB);
	cfg.engine.modern_ebpf.buf_size = 65536;
	assert_int_equal(saker_config_ring_bytes(&cfg), 65536);
	assert_string_equal(saker_drop_action_name(SAKER_DROP_ACT_IGNORE), "ignore");
	assert_string_equal(saker_drop_action_name(SAKER_DROP_ACT_LOG), "log");
	assert_string_equal(saker_drop_action_name(SAKER_DROP_ACT_ALERT), "alert");
	assert_string_equal(saker_drop_action_name(SAKER_DROP_ACT_EXIT), "exit");
	assert_string_equal(saker_drop_action_name((enum saker_drop_action)42), "unknown");
	saker_config_free(&cfg);
}

static void test_bools(void **state)
{
	static const struct {
		const char *text;
		bool want;
	} cases[] = {
	    {"true", true}, {"TRUE", true},   {"yes", true}, {"Yes", true},  {"on", true},
	    {"ON", true},   {"false", false}, {"No", false}, {"off", false}, {"\"no\"", false},
	};
	struct saker_config cfg;
	char yaml[128], err[512];

	(void)state;
	saker_config_init(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg.json_output = !cases[i].want;
		snprintf(yaml, sizeof(yaml), "json_output: %s\n", cases[i].text);
		assert_int_equal(load(&cfg, yaml, err, NULL), 0);
		assert_int_equal(cfg.json_output, cases[i].want);
	}
	saker_config_free(&cfg);
	expect_error("log_stderr: true\njson_output: maybe\n",
		     "t.yaml:2:14: json_output: expected a boolean (true/false/yes/no/on/off), got "
		     "\"maybe\"");
	expect_error("json_output: 1\n", "t.yaml:1:14: json_output: expected a boolean");
	expect_error("json_output:\n", "json_output: expected a boolean");
}

static void test_u64(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "outputs_queue:\n  capacity: 100\nhttp_output:\n"
			      "  max_consecutive_timeouts: 0\nengine:\n  modern_ebpf:\n"
			      "    buf_size_preset: 10\n    cpus_for_each_buffer: 256\n"
			      "    disable_iterators: true\n",
			      err, NULL),
			 0);
	assert_int_equal(cfg.outputs_queue_capacity, 100);
	assert_int_equal(cfg.http_output.max_consecutive_timeouts, 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 10);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 256);
	assert_true(cfg.engine.modern_ebpf.disable_iterators);
	saker_config_free(&cfg);

	expect_error("engine:\n  modern_ebpf:\n    buf_size_preset: 11\n",
		     "t.yaml:3:22: engine.modern_ebpf.buf_size_preset: expected an integer in [1, "
		     "10], got \"11\"");
	expect_error("engine: {modern_ebpf: {buf_size_preset: 0}}", "got \"0\"");
	expect_error("engine: {modern_ebpf: {cpus_for_each_buffer: 257}}", "[0, 256]");
	expect_error("outputs_queue: {capacity: -1}", "got \"-1\"");
	expect_error("outputs_queue: {capacity: 10abc}", "got \"10abc\"");
	expect_error("outputs_queue: {capacity: 1.5}", "got \"1.5\"");
	expect_error("outputs_queue: {capacity: \" 5\"}", "got \" 5\"");
	expect_error("outputs_queue: {capacity: +5}", "got \"+5\"");
	expect_error("outputs_queue: {capacity: 99999999999999999999999}", "expected an integer");
	expect_error("http_output: {max_consecutive_timeouts: 4294967296}", "expected an integer");
}

static void test_doubles(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "syscall_event_drops:\n  threshold: .1\n  rate: 1e-1\n"
			      "  max_burst: 1\n",
			      err, NULL),
			 0);
	assert_true(cfg.drops.threshold == 0.1);
	assert_true(cfg.drops.rate == 0.1);
	assert_true(cfg.drops.max_burst == 1);
	assert_int_equal(load(&cfg, "syscall_event_drops: {threshold: 1, rate: 1000}", err, NULL),
			 0);
	assert_true(cfg.drops.threshold == 1);
	assert_true(cfg.drops.rate == 1000);
	saker_config_free(&cfg);

	expect_error("syscall_event_drops:\n  threshold: abc\n",
		     "t.yaml:2:14: syscall_event_drops.threshold: expected a number in [0, 1], got "
		     "\"abc\"");
	expect_error("syscall_event_drops: {threshold: 1.01}", "in [0, 1], got \"1.01\"");
	expect_error("syscall_event_drops: {threshold: -0.1}", "got \"-0.1\"");
	expect_error("syscall_event_drops: {threshold: 0.5x}", "got \"0.5x\"");
	expect_error("syscall_event_drops: {threshold: nan}", "got \"nan\"");
	expect_error("syscall_event_drops: {rate: 0}",
		     "syscall_event_drops.rate: expected a number > 0, got \"0\"");
	expect_error("syscall_event_drops: {rate: inf}", "got \"inf\"");
	expect_error("syscall_event_drops: {rate: 1e999}", "got \"1e999\"");
	expect_error("syscall_event_drops: {max_burst: 0.5}",
		     "syscall_event_drops.max_burst: expected a number >= 1, got \"0.5\"");
	expect_error("syscall_event_drops: {max_burst: \"\"}", "got \"\"");
}

static void test_priorities(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "log_level: WARNING\npriority: info\n"
			      "syscall_event_drops: {priority: Emergency}\n",
			      err, NULL),
			 0);
	assert_int_equal(cfg.log_level, SAKER_PRIO_WARNING);
	assert_int_equal(cfg.priority, SAKER_PRIO_INFO);
	assert_int_equal(cfg.drops.priority, SAKER_PRIO_EMERGENCY);
	assert_int_equal(load(&cfg, "priority: informational", err, NULL), 0);
	assert_int_equal(cfg.priority, SAKER_PRIO_INFO);
	saker_config_free(&cfg);
	expect_error("log_level: verbose", "t.yaml:1:12: log_level: expected a priority");
	expect_error("syscall_event_drops: {priority: [debug]}",
		     "syscall_event_drops.priority: expected a scalar value, got a list");
}

static void test_strings(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "file_output:\n  filename: /var/log/a b.txt\nhttp_output:\n"
			      "  url: 'http://h:1/x?a=\"q\"'\n  user_agent: \"\"\n"
			      "  ca_path: ~\n  client_key: \"k\\u00e9y\"\n",
			      err, NULL),
			 0);
	assert_string_equal(cfg.file_output.filename, "/var/log/a b.txt");
	assert_string_equal(cfg.http_output.url, "http://h:1/x?a=\"q\"");
	assert_null(cfg.http_output.user_agent); /* "" = unset */
	assert_null(cfg.http_output.ca_path);	 /* null = unset */
	assert_string_equal(cfg.http_output.client_key, "k\xc3\xa9y");
	/* loading again replaces the strings (ASan checks the old ones are freed) */
	assert_int_equal(
	    load(&cfg, "file_output: {filename: /b}\nengine: {kind: modern_ebpf}", err, NULL), 0);
	assert_string_equal(cfg.file_output.filename, "/b");
	assert_string_equal(cfg.engine.kind, "modern_ebpf");
	saker_config_free(&cfg);
	expect_error("file_output:\n  filename: {a: 1}\n",
		     "t.yaml:2:13: file_output.filename: expected a scalar value, got a mapping");
	expect_error("file_output: {filename: \"a\\0b\"}", "NUL");
}

static void test_engine_kind(void **state)
{
	const char *msg = "engine.kind: only modern_ebpf and replay are supported";

	(void)state;
	expect_error("engine:\n  kind: gvisor\n",
		     "t.yaml:2:9: engine.kind: only modern_ebpf and replay");
	expect_error("engine: {kind: \"\"}", msg);
	/* null as well: it was accepted, and --dry-run then printed a file that did not load */
	expect_error("engine:\n  kind:\n", "t.yaml:2:8: engine.kind: only modern_ebpf and replay");
	expect_error("engine: {kind: ~}", msg);
	expect_override_error("engine.kind=", msg);
	expect_error("engine: {kind: nodriver}", "gvisor and nodriver have no equivalent");
}

/* Falco's replay engine: a capture file saker -w wrote (docs/replay.md). */
static void test_engine_replay(void **state)
{
	struct saker_config cfg;
	char err[512] = "";

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(
	    load(&cfg, "engine: {kind: replay, replay: {capture_file: /tmp/x.cap}}\n", err, NULL),
	    0);
	assert_string_equal(cfg.engine.kind, "replay");
	assert_string_equal(cfg.engine.replay.capture_file, "/tmp/x.cap");
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);
	saker_config_free(&cfg);

	/* replay without a file is a configuration error, not a run that reads nothing */
	saker_config_init(&cfg);
	assert_int_equal(
	    saker_config_override(&cfg, "engine.kind=replay", err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "engine.replay.capture_file is empty"));
	saker_config_free(&cfg);
}

/* Falco 0.37's kmod and ebpf kinds run as modern_ebpf, with a warning saying so. */
static void test_engine_kind_falco_legacy(void **state)
{
	struct saker_config cfg;
	struct warns w = {0};
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg, "engine:\n  kind: kmod\n", err, &w), 0);
	assert_string_equal(cfg.engine.kind, "modern_ebpf");
	assert_int_equal(w.n, 1);
	assert_string_equal(w.last, "t.yaml:2:9: engine.kind 'kmod': saker has no kernel module "
				    "driver, using modern_ebpf");
	memset(&w, 0, sizeof(w));
	assert_int_equal(
	    saker_config_override(&cfg, "engine.kind=ebpf", err, sizeof(err), collect, &w), 0);
	assert_string_equal(cfg.engine.kind, "modern_ebpf");
	assert_non_null(strstr(w.last, "-o engine.kind=ebpf: engine.kind 'ebpf': saker has no "
				       "legacy eBPF driver, using modern_ebpf"));

	/*
	 * Falco 0.37's stock layout: the selected kind's preset is the one used, the
	 * modern_ebpf one (a default in that file) yields, the other kinds are ignored.
	 */
	memset(&w, 0, sizeof(w));
	assert_int_equal(
	    load(&cfg,
		 "engine:\n  kind: kmod\n  kmod:\n    buf_size_preset: 6\n"
		 "    drop_failed_exit: false\n  ebpf:\n    buf_size_preset: 2\n"
		 "  modern_ebpf:\n    buf_size_preset: 4\n    cpus_for_each_buffer: 1\n",
		 err, &w),
	    0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 6);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 1);
	assert_non_null(strstr(w.all, "t.yaml:4:5: key 'engine.kmod.buf_size_preset' read as "
				      "'engine.modern_ebpf.buf_size_preset' (engine.kind kmod runs "
				      "as modern_ebpf)\n"));
	assert_non_null(strstr(w.all, "t.yaml:5:5: key 'engine.kmod.drop_failed_exit' is not "
				      "supported by saker, ignored\n"));
	assert_non_null(strstr(w.all, "t.yaml:6:3: key 'engine.ebpf' is not supported"));
	assert_non_null(strstr(w.all, "t.yaml:9:5: key 'engine.modern_ebpf.buf_size_preset' "
				      "ignored: engine.kind is kmod, engine.kmod.buf_size_preset "
				      "applies\n"));
	/* with kind modern_ebpf the kmod section is only ignored */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg,
			      "engine:\n  kind: modern_ebpf\n  kmod: {buf_size_preset: 9}\n"
			      "  modern_ebpf: {buf_size_preset: 3}\n",
			      err, &w),
			 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 3);
	assert_int_equal(w.n, 1);
	saker_config_free(&cfg);
}

/* Falco 0.36 buffer keys, from before the engine section, are mapped with a warning. */
static void test_falco_036_keys(void **state)
{
	struct saker_config cfg;
	struct warns w = {0};
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "syscall_buf_size_preset: 6\nmodern_bpf:\n"
			      "  cpus_for_each_syscall_buffer: 1\nsyscall_drop_failed_exit: true\n",
			      err, &w),
			 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 6);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 1);
	assert_int_equal(saker_config_ring_bytes(&cfg), 32 * MIB);
	assert_int_equal(w.n, 3);
	assert_non_null(strstr(w.all, "t.yaml:1:1: Falco 0.36 key 'syscall_buf_size_preset' read "
				      "as 'engine.modern_ebpf.buf_size_preset'\n"));
	assert_non_null(strstr(w.all, "t.yaml:3:3: Falco 0.36 key "
				      "'modern_bpf.cpus_for_each_syscall_buffer' read as "
				      "'engine.modern_ebpf.cpus_for_each_buffer'\n"));
	assert_non_null(strstr(w.all, "key 'syscall_drop_failed_exit' is not supported"));
	/* their values are checked under saker's key */
	expect_error("syscall_buf_size_preset: 11\n",
		     "t.yaml:1:26: engine.modern_ebpf.buf_size_preset: expected an integer in [1, "
		     "10], got \"11\"");
	/* with an engine section in the same file (Falco 0.37), the old key yields to it */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg,
			      "syscall_buf_size_preset: 2\nengine:\n  kind: modern_ebpf\n"
			      "  modern_ebpf: {buf_size_preset: 5}\n",
			      err, &w),
			 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 5);
	assert_string_equal(w.all,
			    "t.yaml:1:1: Falco 0.36 key 'syscall_buf_size_preset' ignored: "
			    "the engine section sets 'engine.modern_ebpf.buf_size_preset'\n");
	/* and by -o */
	memset(&w, 0, sizeof(w));
	assert_int_equal(
	    saker_config_override(&cfg, "syscall_buf_size_preset=3", err, sizeof(err), collect, &w),
	    0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 3);
	assert_int_equal(w.n, 1);
	assert_int_equal(saker_config_override(&cfg, "modern_bpf.cpus_for_each_syscall_buffer=4",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 4);
	saker_config_free(&cfg);
}

static void test_buf_size(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg, "engine: {modern_ebpf: {buf_size: 32768}}", err, NULL), 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size, 32768);
	assert_int_equal(saker_config_ring_bytes(&cfg), 32768);
	/* the smallest preset is far above the largest record */
	assert_int_equal(
	    load(&cfg, "engine: {modern_ebpf: {buf_size: 0, buf_size_preset: 1}}", err, NULL), 0);
	assert_int_equal(saker_config_ring_bytes(&cfg), MIB);
	assert_int_equal(
	    load(&cfg, "engine: {modern_ebpf: {buf_size: 32768, buf_size_preset: 4}}", err, NULL),
	    0);
	assert_int_equal(load(&cfg, "engine: {modern_ebpf: {buf_size: 1073741824}}", err, NULL), 0);
	assert_int_equal(saker_config_ring_bytes(&cfg), 1024 * MIB);
	assert_int_equal(load(&cfg, "engine: {modern_ebpf: {buf_size: 0}}", err, NULL), 0);
	assert_int_equal(saker_config_ring_bytes(&cfg), 8 * MIB);
	saker_config_free(&cfg);
	expect_error("engine:\n  modern_ebpf:\n    buf_size: 50000\n",
		     "t.yaml:3:15: engine.modern_ebpf.buf_size: expected 0 or a power of two in "
		     "[32768, 1073741824], got \"50000\"");
	expect_error("engine: {modern_ebpf: {buf_size: 2048}}", "power of two");
	/* a ring smaller than the largest record (16 KiB and its header) could carry no long path
	 */
	expect_error("engine:\n  modern_ebpf:\n    buf_size: 4096\n",
		     "t.yaml:3:15: engine.modern_ebpf.buf_size: a ring smaller than 32768 bytes "
		     "cannot hold the largest record (16384 bytes and its header); expected 0 or a "
		     "power of two in [32768, 1073741824], got \"4096\"");
	expect_error("engine: {modern_ebpf: {buf_size: 16384}}", "cannot hold the largest record");
	expect_override_error("engine.modern_ebpf.buf_size=8192",
			      "-o engine.modern_ebpf.buf_size=8192: engine.modern_ebpf.buf_size: a "
			      "ring smaller than 32768 bytes");
	expect_error("engine: {modern_ebpf: {buf_size: 2147483648}}", "got \"2147483648\"");
}

static void test_protected_lane(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(cfg.protected_lane.buf_size, 256 * 1024);
	assert_int_equal(cfg.protected_lane.rate, 2000);
	assert_int_equal(cfg.protected_lane.burst, 4000);
	assert_int_equal(cfg.protected_lane.uid_rate, 8000);
	assert_int_equal(cfg.protected_lane.uid_burst, 16000);
	assert_int_equal(cfg.protected_lane.cgroup_rate, 16000);
	assert_int_equal(cfg.protected_lane.cgroup_burst, 32000);
	assert_false(cfg.protected_lane.replace);
	assert_int_equal(cfg.protected_lane.syscalls.n, 0);
	assert_int_equal(cfg.priority_boost, 10);
	assert_int_equal(load(&cfg,
			      "protected_lane: {buf_size: 1048576, syscalls: [kill, '!bind'], "
			      "replace: true, rate: 0, cgroup_rate: 0, cgroup_burst: 7}\n"
			      "priority_boost: 0\n",
			      err, NULL),
			 0);
	assert_int_equal(cfg.protected_lane.buf_size, MIB);
	assert_int_equal(cfg.protected_lane.syscalls.n, 2);
	assert_string_equal(cfg.protected_lane.syscalls.v[1], "!bind");
	assert_true(cfg.protected_lane.replace);
	assert_int_equal(cfg.protected_lane.rate, 0);
	assert_int_equal(cfg.protected_lane.cgroup_rate, 0);
	assert_int_equal(cfg.protected_lane.cgroup_burst, 7);
	assert_int_equal(cfg.priority_boost, 0);
	saker_config_free(&cfg);
	expect_error("protected_lane:\n  buf_size: 16384\n",
		     "t.yaml:2:13: protected_lane.buf_size: a ring smaller than 32768 bytes");
	expect_error("protected_lane: {buf_size: 0}", "expected a power of two in [32768");
	expect_error("protected_lane:\n  syscalls: [execve, nosuchcall]\n",
		     "t.yaml:2:22: protected_lane.syscalls: unknown syscall");
	expect_error("priority_boost: 21", "priority_boost");
	expect_error("protected_lane: {burst: 0}", "protected_lane.burst");
	expect_error("protected_lane: {cgroup_burst: 0}", "protected_lane.cgroup_burst");
}

static void test_actions(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg, "syscall_event_drops:\n  actions: [exit, alert]\n", err, NULL),
			 0);
	assert_int_equal(cfg.drops.n_actions, 2);
	assert_int_equal(cfg.drops.actions[0], SAKER_DROP_ACT_EXIT);
	assert_int_equal(cfg.drops.actions[1], SAKER_DROP_ACT_ALERT);
	/* duplicates collapse to the first occurrence */
	assert_int_equal(
	    load(&cfg, "syscall_event_drops: {actions: [log, log, exit, log]}", err, NULL), 0);
	assert_int_equal(cfg.drops.n_actions, 2);
	assert_int_equal(cfg.drops.actions[0], SAKER_DROP_ACT_LOG);
	assert_int_equal(cfg.drops.actions[1], SAKER_DROP_ACT_EXIT);
	/* ignore is the empty list */
	assert_int_equal(load(&cfg, "syscall_event_drops: {actions: [ignore]}", err, NULL), 0);
	assert_int_equal(cfg.drops.n_actions, 0);
	assert_int_equal(load(&cfg, "syscall_event_drops: {actions: [ignore, exit]}", err, NULL),
			 0);
	assert_int_equal(cfg.drops.n_actions, 1);
	assert_int_equal(cfg.drops.actions[0], SAKER_DROP_ACT_EXIT);
	assert_int_equal(load(&cfg, "syscall_event_drops: {actions: [log]}", err, NULL), 0);
	assert_int_equal(load(&cfg, "syscall_event_drops: {actions: []}", err, NULL), 0);
	assert_int_equal(cfg.drops.n_actions, 0);
	assert_int_equal(load(&cfg, "syscall_event_drops: {actions: [alert]}", err, NULL), 0);
	assert_int_equal(load(&cfg, "syscall_event_drops:\n  actions:\n", err, NULL), 0);
	assert_int_equal(cfg.drops.n_actions, 0);
	saker_config_free(&cfg);

	expect_error("syscall_event_drops:\n  actions:\n    - log\n    - page\n",
		     "t.yaml:4:7: syscall_event_drops.actions: unknown action \"page\" (expected "
		     "ignore, log, alert, exit or resync)");
	expect_error("syscall_event_drops:\n  actions: [ignore, log]\n",
		     "t.yaml:2:21: syscall_event_drops.actions: action \"log\" cannot be combined "
		     "with \"ignore\"");
	expect_error("syscall_event_drops:\n  actions: [alert, ignore]\n",
		     "t.yaml:2:20: syscall_event_drops.actions: action \"ignore\" cannot be "
		     "combined with \"alert\"");
	expect_error("syscall_event_drops: {actions: log}",
		     "syscall_event_drops.actions: expected a list, got a scalar");
	expect_error("syscall_event_drops: {actions: [[log]]}", "got a list in the list");
	expect_error("syscall_event_drops: {actions: [LOG]}", "unknown action \"LOG\"");
}

static void test_custom_set(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "base_syscalls:\n  custom_set: [open, \"!close\"]\n  all: true\n",
			      err, NULL),
			 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 2);
	assert_string_equal(cfg.base_syscalls.custom_set.v[0], "open");
	assert_string_equal(cfg.base_syscalls.custom_set.v[1], "!close");
	assert_true(cfg.base_syscalls.all);
	/* a list is replaced, not appended to, by a later file */
	assert_int_equal(load(&cfg, "base_syscalls:\n  custom_set:\n    - read\n", err, NULL), 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 1);
	assert_string_equal(cfg.base_syscalls.custom_set.v[0], "read");
	saker_config_free(&cfg);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 0);
	expect_error("base_syscalls:\n  custom_set: [open, {a: b}]\n",
		     "t.yaml:2:22: base_syscalls.custom_set: expected a list of strings, got a "
		     "mapping in the list");
	expect_error("base_syscalls: {custom_set: [open, \"\"]}", "non-empty string");
	expect_error("base_syscalls: {custom_set: {open: 1}}", "expected a list, got a mapping");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("log_level: info\nsyscall_event_drops:\n  rate: 1\n actions: [log]\n",
		     "t.yaml:4:2: did not find expected key");
	expect_error("a: [1, 2\n", "t.yaml:2:1: ");
	expect_error("a: 'unterminated\n", "t.yaml:");
	expect_error("json_output: true\n\tlog_stderr: true\n", "t.yaml:2:");
	expect_error("a: *nope\n", "t.yaml:1:4: found undefined alias");
}

/* A bad name is reported where it is written, like every other configuration error. */
static void test_custom_set_names(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	expect_error("base_syscalls:\n  custom_set: [open, nosuch]\n",
		     "t.yaml:2:22: base_syscalls.custom_set: unknown syscall 'nosuch'");
	expect_error("base_syscalls:\n  custom_set:\n    - read\n    - \"!nope\"\n",
		     "t.yaml:4:7: base_syscalls.custom_set: unknown syscall 'nope'");
	expect_error("base_syscalls: {custom_set: [\"!\"]}", "unknown syscall ''");
	/* found by fuzz_config: a plain scalar folded over lines holds line breaks; the
	 * message quotes it escaped and stays one line */
	expect_error("base_syscalls:\n  custom_set:\n  - read\r\r\n    - x\n",
		     "t.yaml:3:5: base_syscalls.custom_set: unknown syscall 'read\\x0a- x'");
	expect_error("base_syscalls: {custom_set: [\"re\\nad\"]}", "unknown syscall 're\\x0aad'");
	expect_override_error(
	    "base_syscalls.custom_set=[read, bogus]",
	    "-o base_syscalls.custom_set=[read, bogus]: base_syscalls.custom_set: "
	    "unknown syscall 'bogus'");
	expect_override_error("base_syscalls.custom_set[]=bogus", "unknown syscall 'bogus'");
	/* an unquoted `- !close` in block style is a YAML tag on an empty value: read as !close */
	saker_config_init(&cfg);
	assert_int_equal(
	    load(&cfg, "base_syscalls:\n  custom_set:\n    - read\n    - !close\n", err, NULL), 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 2);
	assert_string_equal(cfg.base_syscalls.custom_set.v[1], "!close");
	/* standard tags are not names */
	expect_error("base_syscalls: {custom_set: [!!str , read]}",
		     "expected a non-empty string in the list");
	/* in flow style YAML cannot parse it: the message says to quote */
	expect_error("base_syscalls: {custom_set: [read, !close]}",
		     "a value starting with '!' is a YAML tag: quote it, as in \"!close\"");
	saker_config_free(&cfg);
}

static void override_ok(struct saker_config *cfg, const char *ov)
{
	char err[512] = "";

	if (saker_config_override(cfg, ov, err, sizeof(err), NULL, NULL))
		fail_msg("-o %s: %s", ov, err);
}

/* Falco's -o forms: key[N]=v sets or appends one item, key={...} a mapping. */
static void test_override_falco_forms(void **state)
{
	struct saker_config cfg;
	struct warns w = {0};
	char err[512];
	const struct saker_strlist *l = NULL;

	(void)state;
	saker_config_init(&cfg);
	l = &cfg.base_syscalls.custom_set;
	override_ok(&cfg, "base_syscalls.custom_set[0]=read");
	override_ok(&cfg, "base_syscalls.custom_set[1]=!close");
	override_ok(&cfg, "base_syscalls.custom_set[2]=\"!open\"");
	assert_int_equal(l->n, 3);
	override_ok(&cfg, "base_syscalls.custom_set[0]=write");
	assert_int_equal(l->n, 3);
	assert_string_equal(l->v[0], "write");
	assert_string_equal(l->v[1], "!close");
	assert_string_equal(l->v[2], "!open");
	expect_override_error("base_syscalls.custom_set[1]=read",
			      "index 1 is past the end of the list (0 items; [0] or [] appends)");
	assert_int_equal(saker_config_override(&cfg, "base_syscalls.custom_set[1]=[a, b]", err,
					       sizeof(err), NULL, NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "[1] sets one list item: expected a scalar value, got a list"));
	assert_int_equal(saker_config_override(&cfg, "base_syscalls.custom_set[1]=nosuch", err,
					       sizeof(err), NULL, NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown syscall 'nosuch'"));
	assert_string_equal(l->v[1], "!close"); /* atomic: unchanged */

	/* actions: the item replaced goes through the same checks */
	override_ok(&cfg, "syscall_event_drops.actions=[log, alert]");
	override_ok(&cfg, "syscall_event_drops.actions[1]=exit");
	assert_int_equal(cfg.drops.n_actions, 2);
	assert_int_equal(cfg.drops.actions[1], SAKER_DROP_ACT_EXIT);
	override_ok(&cfg, "syscall_event_drops.actions[2]=alert");
	assert_int_equal(cfg.drops.n_actions, 3);
	expect_override_error("syscall_event_drops.actions[0]=ignore", "cannot be combined");
	expect_override_error("syscall_event_drops.actions[0]=x", "unknown action \"x\"");

	expect_override_error("log_level[0]=info", "-o log_level[0]=info: log_level: [index] "
						   "applies to lists only");
	expect_override_error("engine[0]=x", "[index] applies to lists only");
	expect_override_error("a[x]=1", "bad key");
	expect_override_error("a[0=1", "bad key");
	expect_override_error("a[]b=1", "bad key");
	expect_override_error("a[1]b=1", "bad key");
	expect_override_error("[0]=1", "bad key");
	expect_override_error("base_syscalls.custom_set[99999999]=read", "too large");
	expect_override_error("file_output[0].filename=x",
			      "'file_output': indexes into lists of mappings are not supported");

	/* key={...}: a mapping under a section, other keys keep their values */
	override_ok(&cfg, "engine={kind: modern_ebpf, modern_ebpf: {buf_size_preset: 3}}");
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 3);
	assert_int_equal(cfg.engine.modern_ebpf.cpus_for_each_buffer, 2);
	override_ok(&cfg, "file_output={enabled: true, filename: /tmp/f.log}");
	assert_true(cfg.file_output.enabled);
	assert_string_equal(cfg.file_output.filename, "/tmp/f.log");

	/* Falco keys saker does not implement, in the indexed forms: warned, not refused */
	assert_int_equal(
	    saker_config_override(&cfg, "load_plugins[0]=x.so", err, sizeof(err), collect, &w), 0);
	assert_int_equal(
	    saker_config_override(&cfg, "plugins[0].name=k8saudit", err, sizeof(err), collect, &w),
	    0);
	assert_int_equal(saker_config_override(&cfg,
					       "append_output[]={match: {source: syscall}, "
					       "extra_output: \"on CPU %evt.cpu\"}",
					       err, sizeof(err), collect, &w),
			 0);
	assert_int_equal(w.n, 2);
	assert_non_null(strstr(w.all, "-o load_plugins[0]=x.so: key 'load_plugins' is "
				      "not supported by saker, ignored\n"));
	assert_non_null(strstr(w.all, "key 'plugins' is not supported"));
	assert_int_equal(cfg.append_output.n, 1);
	assert_string_equal(cfg.append_output.v[0].source, "syscall");
	assert_string_equal(cfg.append_output.v[0].extra_output, "on CPU %evt.cpu");
	/* Falco 0.44's escaped dots: a plugin's key is not supported, an unknown one unknown */
	assert_int_equal(saker_config_override(&cfg, "plugins[0].init_config.a\\.b=1", err,
					       sizeof(err), collect, &w),
			 0);
	assert_non_null(strstr(w.all, "init_config.a\\.b=1: key 'plugins' is not supported"));
	assert_int_equal(saker_config_override(&cfg, "x.a\\.b=1", err, sizeof(err), collect, &w),
			 0);
	assert_non_null(strstr(w.all, "x.a\\.b=1: unknown key ignored"));
	expect_override_error("a\\b=1", "bad key");
	saker_config_free(&cfg);
}

/* rules_files as Falco reads it: a scalar is a one-item list; both spellings set is an error. */
static void test_rules_files_forms(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg, "rules_file: /x.yaml\n", err, NULL), 0);
	assert_int_equal(cfg.rules_file.n, 1);
	assert_string_equal(cfg.rules_file.v[0], "/x.yaml");
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);
	override_ok(&cfg, "rules_files=/y.yaml");
	assert_int_equal(cfg.rules_files.n, 1);
	assert_string_equal(cfg.rules_files.v[0], "/y.yaml");
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "both rules_files and rules_file are set"));
	override_ok(&cfg, "rules_file=");
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);
	/* other lists still want a list */
	assert_int_equal(load(&cfg, "base_syscalls: {custom_set: read}\n", err, NULL), -EINVAL);
	saker_config_free(&cfg);
}

/* Falco's rules: selection and append_output, from a file and by -o item[N].name. */
static void test_rules_selection_and_append(void **state)
{
	static const char yaml[] = "rules:\n"
				   "  - disable:\n"
				   "      rule: \"*\"\n"
				   "  - enable:\n"
				   "      tag: T1003\n"
				   "append_output:\n"
				   "  - match:\n"
				   "      source: syscall\n"
				   "      tags: [filesystem]\n"
				   "    extra_output: \"on CPU %evt.cpu\"\n"
				   "    extra_fields:\n"
				   "      - home: \"${HOME}\"\n"
				   "      - evt.hostname\n";
	struct saker_config cfg, back;
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(saker_config_load_buffer(&cfg, "t.yaml", yaml, strlen(yaml), err,
						  sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.rules.n, 2);
	assert_false(cfg.rules.v[0].enable);
	assert_string_equal(cfg.rules.v[0].rule, "*");
	assert_null(cfg.rules.v[0].tag);
	assert_true(cfg.rules.v[1].enable);
	assert_string_equal(cfg.rules.v[1].tag, "T1003");
	assert_int_equal(cfg.append_output.n, 1);
	assert_string_equal(cfg.append_output.v[0].tags.v[0], "filesystem");
	assert_int_equal(cfg.append_output.v[0].n_fields, 2);
	assert_string_equal(cfg.append_output.v[0].fields[0].key, "home");
	assert_non_null(cfg.append_output.v[0].fields[0].value);
	assert_string_equal(cfg.append_output.v[0].fields[1].key, "evt.hostname");
	assert_null(cfg.append_output.v[0].fields[1].value);

	/* -o rules[N].x.y=v replaces item N, or appends at N == length; * is a name, not an alias
	 */
	override_ok(&cfg, "rules[0].enable.rule=Read*");
	assert_true(cfg.rules.v[0].enable);
	assert_string_equal(cfg.rules.v[0].rule, "Read*");
	override_ok(&cfg, "rules[2].disable.rule=*");
	assert_int_equal(cfg.rules.n, 3);
	expect_override_error("rules[9].disable.rule=x", "past the end");
	expect_override_error("rules[0].disable.name=x", "expected rule or tag");
	expect_override_error("rules[0].both.rule=x", "expected enable or disable");
	/* append_output[N].key merges into item N */
	override_ok(&cfg, "append_output[0].extra_output=pid=%proc.pid");
	assert_string_equal(cfg.append_output.v[0].extra_output, "pid=%proc.pid");
	assert_string_equal(cfg.append_output.v[0].source, "syscall");
	/* an empty tag is no tag (found by fuzz_override: it did not read back) */
	override_ok(&cfg, "append_output[0].match.tags=");
	assert_int_equal(cfg.append_output.v[0].tags.n, 0);

	/* the dump reads back equal */
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(saker_config_dump(&cfg, f), 0);
	fclose(f);
	saker_config_init(&back);
	assert_int_equal(
	    saker_config_load_buffer(&back, "d.yaml", buf, len, err, sizeof(err), NULL, NULL), 0);
	assert_true(saker_config_equal(&cfg, &back));
	saker_config_free(&back);
	free(buf);
	/* null clears */
	override_ok(&cfg, "rules=");
	assert_int_equal(cfg.rules.n, 0);
	saker_config_free(&cfg);
}

/* The README's example, literally, and its quoted variants. */
static void test_readme_override(void **state)
{
	struct saker_config cfg;
	const struct saker_strlist *l;

	(void)state;
	saker_config_init(&cfg);
	l = &cfg.base_syscalls.custom_set;
	override_ok(&cfg, "base_syscalls.custom_set=[read, !close]");
	assert_int_equal(l->n, 2);
	assert_string_equal(l->v[0], "read");
	assert_string_equal(l->v[1], "!close");
	override_ok(&cfg, "base_syscalls.custom_set=[ !close ,read,!openat]");
	assert_int_equal(l->n, 3);
	assert_string_equal(l->v[0], "!close");
	assert_string_equal(l->v[1], "read");
	assert_string_equal(l->v[2], "!openat");
	/* quoted forms are left as YAML reads them */
	override_ok(&cfg, "base_syscalls.custom_set=['!close', \"!read\"]");
	assert_int_equal(l->n, 2);
	assert_string_equal(l->v[0], "!close");
	assert_string_equal(l->v[1], "!read");
	override_ok(&cfg, "base_syscalls.custom_set[]=!write");
	assert_int_equal(l->n, 3);
	assert_string_equal(l->v[2], "!write");
	/* a '!' inside quotes is not an item start */
	expect_override_error("base_syscalls.custom_set=[\"a, !b\"]", "unknown syscall 'a, !b'");
	saker_config_free(&cfg);
}

static void test_wrong_shapes(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	expect_error("- a\n- b\n",
		     "t.yaml:1:1: expected a mapping of keys at the top level, got a list");
	expect_error("just text\n",
		     "t.yaml:1:1: expected a mapping of keys at the top level, got a "
		     "scalar");
	expect_error("log_stderr:\n  a: 1\n",
		     "t.yaml:2:3: log_stderr: expected a scalar value, got a "
		     "mapping");
	expect_error("file_output: yes\n",
		     "t.yaml:1:14: file_output: expected a mapping, got a scalar");
	expect_error("engine: [modern_ebpf]\n", "engine: expected a mapping, got a list");
	expect_error("? [a, b]\n: c\n", "t.yaml:1:3: expected a key name, got a list");
	/* an empty section is Falco's "not set": nothing changes */
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg, "file_output:\nhttp_output: ~\n", err, NULL), 0);
	assert_false(cfg.file_output.enabled);
	saker_config_free(&cfg);
}

static void test_empty_and_comments(void **state)
{
	struct saker_config cfg, ref;
	char err[512] = "x";

	(void)state;
	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(saker_config_load_buffer(&cfg, "e", "", 0, err, sizeof(err), NULL, NULL),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(load(&cfg, "# only a comment\n\n", err, NULL), 0);
	assert_int_equal(load(&cfg, "---\n", err, NULL), 0);
	assert_true(saker_config_equal(&cfg, &ref));
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_garbage(void **state)
{
	struct saker_config cfg, ref;
	unsigned char buf[512];
	char err[512];
	unsigned int seed = 12345;

	(void)state;
	saker_config_init(&cfg);
	saker_config_init(&ref);
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;
		int ret;

		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)rand_r(&seed);
		err[0] = '\0';
		ret = saker_config_load_buffer(&cfg, "g", (const char *)buf, len, err, sizeof(err),
					       NULL, NULL);
		assert_true(ret == 0 || ret == -EINVAL);
		if (ret) {
			assert_true(strncmp(err, "g:", 2) == 0);
			assert_null(strchr(err, '\n'));
		}
	}
	/* random bytes never form a valid key, so nothing changed */
	assert_true(saker_config_equal(&cfg, &ref));
	/* an invalid UTF-8 byte on line 2 */
	assert_int_equal(load(&cfg, "json_output: true\nlog_level: \xff\n", err, NULL), -EINVAL);
	assert_string_equal(err, "t.yaml:2:12: invalid leading UTF-8 octet");
	assert_int_equal(
	    saker_config_load_buffer(&cfg, "n", "a: 1\0b", 6, err, sizeof(err), NULL, NULL),
	    -EINVAL);
	assert_true(strncmp(err, "n:1:", 4) == 0);
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_deep_and_huge(void **state)
{
	const size_t deep = 200000;
	struct saker_config cfg;
	struct warns w = {0};
	size_t n = 0, cap = 8 * MIB;
	char *big = malloc(cap);
	char err[512];
	int ret;

	(void)state;
	assert_non_null(big);
	saker_config_init(&cfg);

	/* deeply nested flow sequences, unclosed and closed, are refused quickly */
	memcpy(big, "x: ", 3);
	n = 3;
	for (size_t i = 0; i < deep; i++)
		big[n++] = '[';
	ret = saker_config_load_buffer(&cfg, "deep", big, n, err, sizeof(err), NULL, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, "deep:1:67: nesting deeper than 64 levels");
	for (size_t i = 0; i < deep; i++)
		big[n++] = ']';
	ret = saker_config_load_buffer(&cfg, "deep", big, n, err, sizeof(err), NULL, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, "deep:1:67: nesting deeper than 64 levels");
	big[n] = '\0';
	big[1] = '='; /* "x= [[[...]]]" */
	ret = saker_config_override(&cfg, big, err, sizeof(err), NULL, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err, ": nesting deeper than 64 levels"));

	/* block mappings: 63 levels are fine (unknown key), 100 are not */
	for (size_t levels = 63; levels <= 100; levels += 37) {
		n = 0;
		for (size_t i = 0; i < levels; i++)
			n += (size_t)snprintf(big + n, cap - n, "%*sk%zu:\n", (int)i, "", i);
		n += (size_t)snprintf(big + n, cap - n, "%*sleaf: 1\n", (int)levels, "");
		memset(&w, 0, sizeof(w));
		ret =
		    saker_config_load_buffer(&cfg, "deep2", big, n, err, sizeof(err), collect, &w);
		assert_int_equal(ret, levels == 63 ? 0 : -EINVAL);
		if (ret)
			assert_string_equal(err, "deep2:65:65: nesting deeper than 64 levels");
		else
			assert_string_equal(w.all, "deep2:1:1: unknown key 'k0' ignored\n");
	}

	/* a very long list and many keys */
	n = (size_t)snprintf(big, cap, "base_syscalls:\n  custom_set:\n");
	for (size_t i = 0; i < 100000; i++)
		n += (size_t)snprintf(big + n, cap - n, "    - %s\n", i % 2 ? "!read" : "openat");
	for (size_t i = 0; i < 50000; i++)
		n += (size_t)snprintf(big + n, cap - n, "unknown_%zu: %zu\n", i, i);
	ret = saker_config_load_buffer(&cfg, "huge", big, n, err, sizeof(err), NULL, NULL);
	assert_int_equal(ret, 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 100000);
	assert_string_equal(cfg.base_syscalls.custom_set.v[99999], "!read");

	/* aliases reuse nodes; a list aliasing a list is still a type error, not a loop */
	ret =
	    load(&cfg, "a: &x [1, 2]\nb: &y [*x, *x, *x]\nbase_syscalls: {custom_set: [*y, *y]}\n",
		 err, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err, "got a list in the list"));
	free(big);
	saker_config_free(&cfg);
}

/* Many aliases to one long list: bounded work, refused, not hours of copying. */
static void test_alias_amplification(void **state)
{
	const size_t items = 20000, refs = 20000;
	size_t n = 0, cap = 4 * MIB;
	struct saker_config cfg, ref;
	char *big = malloc(cap);
	char err[512];
	int ret;

	(void)state;
	assert_non_null(big);
	saker_config_init(&cfg);
	saker_config_init(&ref);
	n += (size_t)snprintf(big + n, cap - n, "base_syscalls:\n  custom_set: &l [");
	for (size_t i = 0; i < items; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s%s", i ? "," : "",
				      i % 2 ? "read" : "open");
	n += (size_t)snprintf(big + n, cap - n, "]\n");
	for (size_t i = 0; i < refs; i++)
		n += (size_t)snprintf(big + n, cap - n, "  custom_set: *l\n");
	ret = saker_config_load_buffer(&cfg, "amp", big, n, err, sizeof(err), NULL, NULL);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err, "aliases expand the document too much"));
	assert_true(saker_config_equal(&cfg, &ref));

	/* a few references to a small anchor are ordinary YAML and still load */
	ret = load(&cfg, "x: &s [open, close]\nbase_syscalls: {custom_set: *s, custom_set: *s}\n",
		   err, NULL);
	assert_int_equal(ret, 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 2);
	free(big);
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_unknown_keys_warn(void **state)
{
	struct saker_config cfg, ref;
	struct warns w = {0};
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(load(&cfg,
			      "foo:\n  bar: 1\nfile_output:\n  enabled: false\n  nope: 2\n"
			      "syscall_event_drops: {rate: 1}\n",
			      err, &w),
			 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.all, "t.yaml:1:1: unknown key 'foo' ignored\n"
				   "t.yaml:5:3: unknown key 'file_output.nope' ignored\n");
	assert_true(cfg.drops.rate == 1); /* the rest still applied */

	/* Falco keys saker does not implement yet: warned, subtree skipped */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg,
			      "grpc: [/etc/falco/falco_rules.yaml]\ngrpc_output:\n  enabled: true\n"
			      "engine:\n  kind: modern_ebpf\n  kmod: {buf_size_preset: 99}\n"
			      "libs_logger: {enabled: true}\nplugins: []\nload_plugins: []\n"
			      "watch_config_files: true\n",
			      err, &w),
			 0);
	assert_int_equal(w.n, 7);
	assert_non_null(strstr(w.all, "t.yaml:1:1: key 'grpc' is not supported by saker, "
				      "ignored\n"));
	assert_non_null(strstr(w.all, "t.yaml:6:3: key 'engine.kmod' is not supported"));
	assert_non_null(strstr(w.all, "key 'watch_config_files' is not supported"));
	/* Falco 0.44 and master's keys: not supported, not unknown */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg,
			      "buffer_format_base64: false\nengine:\n  modern_ebpf:\n"
			      "    disable_iterators: false\nmetrics:\n"
			      "  kernel_iter_event_counters_enabled: true\n",
			      err, &w),
			 0);
	assert_int_equal(w.n, 2); /* disable_iterators is implemented */
	assert_null(strstr(w.all, "unknown"));
	assert_null(strstr(w.all, "disable_iterators"));
	assert_non_null(strstr(w.all, "'buffer_format_base64' is not supported"));

	/* key text is sanitised so a warning stays one line */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg, "\"a\\nb\": 1\n", err, &w), 0);
	assert_string_equal(w.last, "t.yaml:1:1: unknown key 'a\\x0ab' ignored");
	/* a dotted key in a file means the same as the nested form */
	assert_int_equal(load(&cfg, "syscall_event_drops.rate: 3\n", err, NULL), 0);
	assert_true(cfg.drops.rate == 3);
	/* NULL warn callback is allowed */
	assert_int_equal(load(&cfg, "zzz: 1\n", err, NULL), 0);

	/* a second document is not silently ignored */
	memset(&w, 0, sizeof(w));
	assert_int_equal(load(&cfg, "json_output: true\n---\njson_output: false\n", err, &w), 0);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.last, "only the first YAML document"));
	assert_true(cfg.json_output);
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

static void test_env(void **state)
{
	struct saker_config cfg;
	char err[512];

	(void)state;
	setenv("SAKER_T_DIR", "/tmp/saker dir", 1);
	setenv("SAKER_T_RATE", "0.5", 1);
	setenv("SAKER_T_ON", "yes", 1);
	setenv("SAKER_T_SC", "getpid", 1);
	unsetenv("SAKER_T_UNSET");
	saker_config_init(&cfg);
	assert_int_equal(load(&cfg,
			      "file_output:\n  enabled: ${SAKER_T_ON}\n"
			      "  filename: \"${SAKER_T_DIR}/events-${SAKER_T_UNSET}.txt\"\n"
			      "program_output: {program: \"echo $${SAKER_T_DIR} $$x ${ $\"}\n"
			      "http_output: {url: \"${SAKER_T_UNSET}\"}\n"
			      "syscall_event_drops: {rate: '${SAKER_T_RATE}'}\n"
			      "base_syscalls: {custom_set: [\"!${SAKER_T_SC}\"]}\n",
			      err, NULL),
			 0);
	assert_true(cfg.file_output.enabled);
	assert_string_equal(cfg.file_output.filename, "/tmp/saker dir/events-.txt");
	assert_string_equal(cfg.program_output.program, "echo ${SAKER_T_DIR} $$x ${ $");
	assert_null(cfg.http_output.url);
	assert_true(cfg.drops.rate == 0.5);
	assert_string_equal(cfg.base_syscalls.custom_set.v[0], "!getpid");
	/* expanded values are checked like written ones */
	setenv("SAKER_T_RATE", "fast", 1);
	assert_int_equal(load(&cfg, "syscall_event_drops: {rate: \"${SAKER_T_RATE}\"}", err, NULL),
			 -EINVAL);
	assert_string_equal(err, "t.yaml:1:29: syscall_event_drops.rate: expected a number > 0, "
				 "got \"fast\"");
	saker_config_free(&cfg);
	unsetenv("SAKER_T_DIR");
	unsetenv("SAKER_T_RATE");
	unsetenv("SAKER_T_ON");
	unsetenv("SAKER_T_SC");
}

static void test_overrides(void **state)
{
	struct saker_config cfg;
	struct warns w = {0};
	char err[512];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(
	    saker_config_override(&cfg, "syscall_event_drops.rate=2", err, sizeof(err), NULL, NULL),
	    0);
	assert_true(cfg.drops.rate == 2);
	assert_int_equal(
	    saker_config_override(&cfg, "json_output=true", err, sizeof(err), NULL, NULL), 0);
	assert_true(cfg.json_output);
	assert_int_equal(saker_config_override(&cfg, "syscall_event_drops.actions=[exit]", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.drops.n_actions, 1);
	assert_int_equal(cfg.drops.actions[0], SAKER_DROP_ACT_EXIT);
	assert_int_equal(saker_config_override(&cfg, "syscall_event_drops.actions[]=log", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.drops.n_actions, 2);
	assert_int_equal(cfg.drops.actions[1], SAKER_DROP_ACT_LOG);
	assert_int_equal(saker_config_override(&cfg, "base_syscalls.custom_set[]=open", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(saker_config_override(&cfg,
					       "base_syscalls.custom_set[]=[\"!read\", close]", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 3);
	assert_string_equal(cfg.base_syscalls.custom_set.v[0], "open");
	assert_string_equal(cfg.base_syscalls.custom_set.v[1], "!read");
	assert_string_equal(cfg.base_syscalls.custom_set.v[2], "close");
	/* a mapping value applies under the key and keeps the other keys */
	assert_int_equal(saker_config_override(&cfg,
					       "file_output={enabled: true, filename: /tmp/o.txt}",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_true(cfg.file_output.enabled);
	assert_string_equal(cfg.file_output.filename, "/tmp/o.txt");
	assert_int_equal(saker_config_override(&cfg, "engine={modern_ebpf: {buf_size_preset: 2}}",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.engine.modern_ebpf.buf_size_preset, 2);
	assert_string_equal(cfg.engine.kind, "modern_ebpf");
	/* text that is not YAML is taken literally */
	assert_int_equal(
	    saker_config_override(&cfg, "program_output.program=jq '{text: .output}' | logger", err,
				  sizeof(err), NULL, NULL),
	    0);
	assert_string_equal(cfg.program_output.program, "jq '{text: .output}' | logger");
	assert_int_equal(saker_config_override(&cfg, "program_output.program=\"a: b\"", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_string_equal(cfg.program_output.program, "a: b");
	/* an empty value unsets a string */
	assert_int_equal(
	    saker_config_override(&cfg, "http_output.url=", err, sizeof(err), NULL, NULL), 0);
	assert_null(cfg.http_output.url);
	assert_int_equal(saker_config_override(&cfg, "http_output.url=http://x/${SAKER_T_NONE}",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_string_equal(cfg.http_output.url, "http://x/");
	/* an empty value empties a list */
	assert_int_equal(
	    saker_config_override(&cfg, "base_syscalls.custom_set=", err, sizeof(err), NULL, NULL),
	    0);
	assert_int_equal(cfg.base_syscalls.custom_set.n, 0);
	assert_int_equal(saker_config_override(&cfg, "syscall_event_drops.actions=[]", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(cfg.drops.n_actions, 0);
	/* unknown and unsupported keys warn, like in files */
	assert_int_equal(saker_config_override(&cfg, "foo.bar=1", err, sizeof(err), collect, &w),
			 0);
	assert_string_equal(w.last, "-o foo.bar=1: unknown key 'foo.bar' ignored");
	assert_int_equal(
	    saker_config_override(&cfg, "grpc.enabled=true", err, sizeof(err), collect, &w), 0);
	assert_string_equal(w.last, "-o grpc.enabled=true: key 'grpc.enabled' is not supported by "
				    "saker, ignored");
	assert_int_equal(w.n, 2);
	saker_config_free(&cfg);

	expect_override_error("syscall_event_drops.rate=abc",
			      "-o syscall_event_drops.rate=abc: syscall_event_drops.rate: expected "
			      "a number > 0, got \"abc\"");
	expect_override_error("json_output", "-o json_output: expected key=value");
	expect_override_error("a..b=1", "-o a..b=1: bad key \"a..b\"");
	expect_override_error("=1", "bad key");
	expect_override_error(".x=1", "bad key");
	expect_override_error("x y=1", "bad key");
	expect_override_error("[]=1", "bad key");
	expect_override_error("json_output[]=true", "json_output: [] appends to lists only");
	expect_override_error("file_output[]=x", "file_output: [] appends to lists only");
	expect_override_error("file_output=on", "file_output: expected a mapping, got a scalar");
	expect_override_error("syscall_event_drops.actions=[log",
			      "-o syscall_event_drops.actions=[log: ");
	expect_override_error("syscall_event_drops.actions[]=ignore",
			      "action \"ignore\" cannot be combined with \"log\"");
	expect_override_error("syscall_event_drops={rate: 1, threshold: 2}",
			      "syscall_event_drops.threshold: expected a number in [0, 1]");
	expect_override_error("engine.kind=gvisor",
			      "engine.kind: only modern_ebpf and replay are supported");
	expect_override_error("json_output=\xff", "invalid leading UTF-8 octet");
	expect_override_error("file_output.filename=\xff",
			      "file_output.filename: value is not valid UTF-8");
	expect_override_error("log_level=x\ny", "-o log_level=x?y: log_level: expected a priority");
}

static void test_validate(void **state)
{
	struct saker_config cfg;
	char err[256];

	(void)state;
	saker_config_init(&cfg);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);
	cfg.stdout_output.enabled = false;
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no output enabled"));
	cfg.syslog_output.enabled = true;
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);

	cfg.file_output.enabled = true;
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "file_output.filename is empty"));
	assert_int_equal(
	    saker_config_override(&cfg, "file_output.filename=/tmp/f", NULL, 0, NULL, NULL), 0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);

	assert_int_equal(
	    saker_config_override(&cfg, "program_output.enabled=true", NULL, 0, NULL, NULL), 0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "program_output.program is empty"));
	assert_int_equal(
	    saker_config_override(&cfg, "program_output.program=cat", NULL, 0, NULL, NULL), 0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);

	assert_int_equal(
	    saker_config_override(&cfg, "http_output.enabled=true", NULL, 0, NULL, NULL), 0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http_output.url is empty"));
	assert_int_equal(
	    saker_config_override(&cfg, "http_output.url=http://127.0.0.1:1/", NULL, 0, NULL, NULL),
	    0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), 0);
	/* any one channel is enough */
	cfg.syslog_output.enabled = false;
	cfg.file_output.enabled = false;
	cfg.program_output.enabled = false;
	assert_int_equal(saker_config_validate(&cfg, NULL, 0), 0);
	saker_config_free(&cfg);
}

static char *dump_to_string(const struct saker_config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	assert_non_null(f);
	assert_int_equal(saker_config_dump(cfg, f), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void round_trip(const struct saker_config *cfg)
{
	struct saker_config back;
	struct warns w = {0};
	char err[512] = "";
	size_t len;
	char *text = dump_to_string(cfg, &len);

	saker_config_init(&back);
	/* start far from cfg so that a key missing from the dump shows */
	back.drops.threshold = 0.75;
	back.file_output.keep_alive = !cfg->file_output.keep_alive;
	if (saker_config_load_buffer(&back, "dump", text, len, err, sizeof(err), collect, &w))
		fail_msg("dump does not load: %s\n%s", err, text);
	assert_int_equal(w.n, 0);
	if (!saker_config_equal(cfg, &back))
		fail_msg("dump does not round trip:\n%s", text);
	free(text);
	saker_config_free(&back);
}

static void test_webserver_metrics_keys(void **state)
{
	struct saker_config cfg;
	char err[512];
	uint64_t ms = 0;

	(void)state;
	saker_config_init(&cfg);
	/* saker listens on loopback by default, unlike Falco, and serves nothing unless enabled */
	assert_false(cfg.webserver.enabled);
	assert_string_equal(cfg.webserver.listen_address, "127.0.0.1");
	assert_int_equal(cfg.webserver.listen_port, 8765);
	assert_string_equal(cfg.webserver.k8s_healthz_endpoint, "/healthz");
	assert_false(cfg.webserver.prometheus_metrics_enabled);
	assert_false(cfg.metrics.enabled);
	assert_string_equal(cfg.metrics.interval, "1h");
	assert_true(cfg.metrics.output_rule);
	assert_null(cfg.metrics.output_file);
	assert_int_equal(
	    load(&cfg,
		 "webserver:\n  enabled: true\n  listen_port: 0\n"
		 "  k8s_healthz_endpoint: /live\n  prometheus_metrics_enabled: true\n"
		 "  threadiness: 2\n"
		 "metrics: {enabled: true, interval: 1m30s, output_rule: false, "
		 "output_file: /tmp/m.jsonl, kernel_event_counters_per_cpu_enabled: true}\n",
		 err, NULL),
	    0);
	assert_true(cfg.webserver.enabled);
	assert_int_equal(cfg.webserver.listen_port, 0);
	assert_string_equal(cfg.webserver.k8s_healthz_endpoint, "/live");
	assert_true(cfg.webserver.prometheus_metrics_enabled);
	assert_int_equal(cfg.webserver.threadiness, 2);
	assert_string_equal(cfg.metrics.interval, "1m30s");
	assert_false(cfg.metrics.output_rule);
	assert_string_equal(cfg.metrics.output_file, "/tmp/m.jsonl");
	assert_true(cfg.metrics.kernel_event_counters_per_cpu_enabled);
	round_trip(&cfg);
	/* TLS without a certificate is refused by the cross-key check */
	assert_int_equal(
	    saker_config_override(&cfg, "webserver.ssl_certificate=", err, sizeof(err), NULL, NULL),
	    0);
	assert_int_equal(
	    saker_config_override(&cfg, "webserver.ssl_enabled=true", err, sizeof(err), NULL, NULL),
	    0);
	assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "webserver.ssl_certificate"));
	saker_config_free(&cfg);

	expect_error("webserver: {listen_port: 65536}\n", "t.yaml:1:26: webserver.listen_port");
	expect_error("webserver: {k8s_healthz_endpoint: healthz}\n",
		     "webserver.k8s_healthz_endpoint: expected a path starting with '/'");
	expect_error("metrics: {interval: 15}\n", "metrics.interval: expected a duration");
	expect_error("metrics: {interval: 10ms}\n", "at least 100ms");
	expect_override_error("metrics.interval=1x", "metrics.interval: expected a duration");

	assert_int_equal(saker_config_duration_ms("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(saker_config_duration_ms("1m30s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(saker_config_duration_ms("2s500ms", &ms), 0);
	assert_int_equal(ms, 2500);
	assert_int_equal(saker_config_duration_ms("1d1w", &ms), 0);
	assert_int_equal(ms, 8 * 86400000ull);
	assert_int_equal(saker_config_duration_ms("", &ms), -EINVAL);
	assert_int_equal(saker_config_duration_ms("5", &ms), -EINVAL);
	assert_int_equal(saker_config_duration_ms("s", &ms), -EINVAL);
	assert_int_equal(saker_config_duration_ms("1.5h", &ms), -EINVAL);
	assert_int_equal(saker_config_duration_ms("99999999999999999999s", &ms), -ERANGE);
}

static void test_dump_round_trip(void **state)
{
	struct saker_config cfg;
	char err[512];
	size_t len;
	char *text;

	(void)state;
	saker_config_init(&cfg);
	round_trip(&cfg);
	text = dump_to_string(&cfg, &len);
	assert_non_null(strstr(text, "syscall_event_drops:\n  threshold: 0\n  actions: [log, "
				     "alert, resync]\n  rate: 0.03333\n"));
	assert_non_null(strstr(text, "  max_burst: 10\n"));
	assert_non_null(strstr(text, "\nlog_level: info\n"));
	assert_non_null(strstr(text, "\nengine:\n  kind: \"modern_ebpf\"\n  modern_ebpf:\n    "
				     "buf_size_preset: 4\n"));
	free(text);

	setenv("SAKER_T_X", "expanded", 1);
	assert_int_equal(
	    load(&cfg,
		 "syscall_event_drops: {threshold: 0.1, rate: 0.3, max_burst: 1e10, "
		 "actions: [exit, alert], priority: notice, simulate_drops: on}\n"
		 "log_level: debug\nfile_output:\n  enabled: true\n  keep_alive: true\n"
		 "  filename: \"/tmp/x \\\"q\\\" \\\\ \\t \\n: #not a comment\"\n"
		 "program_output: {program: \"$${SAKER_T_X} ${SAKER_T_X} $$${SAKER_T_X} "
		 "'&*! | >\"}\n"
		 "http_output: {url: \"h\\u00e9llo \\u2603\", max_consecutive_timeouts: "
		 "4294967295, ca_path: \"\"}\n"
		 "outputs_queue: {capacity: 16777216}\n"
		 "base_syscalls: {custom_set: [\"!open\", read, '!close'], all: yes}\n"
		 "engine: {modern_ebpf: {buf_size: 1048576, cpus_for_each_buffer: 0}}\n",
		 err, NULL),
	    0);
	assert_string_equal(cfg.program_output.program,
			    "${SAKER_T_X} expanded $${SAKER_T_X} '&*! | >");
	round_trip(&cfg);
	cfg.drops.threshold = 1.0 / 3.0;
	cfg.drops.rate = 5e-324; /* smallest double still > 0 */
	cfg.drops.n_actions = 0;
	round_trip(&cfg);
	unsetenv("SAKER_T_X");
	saker_config_free(&cfg);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/saker_test_config_XXXXXX";
	struct saker_config cfg, ref;
	char err[512];
	int fd;

	(void)state;
	saker_config_init(&cfg);
	saker_config_init(&ref);
	assert_int_equal(
	    saker_config_load_file(&cfg, "/nonexistent/saker.yaml", err, sizeof(err), NULL, NULL),
	    -ENOENT);
	assert_string_equal(err, "/nonexistent/saker.yaml: cannot read: No such file or directory");
	assert_int_equal(saker_config_load_file(&cfg, "/tmp", err, sizeof(err), NULL, NULL),
			 -EISDIR);
	assert_string_equal(err, "/tmp: cannot read: Is a directory");
	assert_true(saker_config_equal(&cfg, &ref));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "log_level: error\nfile_output:\n  enabled: nah\n", 45), 45);
	close(fd);
	assert_int_equal(saker_config_load_file(&cfg, path, err, sizeof(err), NULL, NULL), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path),
			    ":3:12: file_output.enabled: expected a boolean (true/false/yes/no/on/"
			    "off), got \"nah\"");
	assert_int_equal(cfg.log_level, SAKER_PRIO_INFO); /* atomic: nothing applied */

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "log_level: error\nfile_output: {filename: /x}\n", 45), 45);
	close(fd);
	/* twice over the same struct: the first filename must be freed (ASan) */
	assert_int_equal(saker_config_load_file(&cfg, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_config_load_file(&cfg, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(cfg.log_level, SAKER_PRIO_ERROR);
	assert_string_equal(cfg.file_output.filename, "/x");
	unlink(path);
	saker_config_free(&cfg);
	saker_config_free(&ref);
}

struct diff_rec {
	char keys[8][64];
	enum saker_config_apply when[8];
	size_t n;
};

static void diff_cb(void *ctx, const char *key, enum saker_config_apply when)
{
	struct diff_rec *r = ctx;

	assert_true(r->n < 8);
	snprintf(r->keys[r->n], sizeof(r->keys[r->n]), "%s", key);
	r->when[r->n++] = when;
}

/* The reload column: changed keys come out in table order with when they apply. */
static void test_diff_and_reload_flags(void **state)
{
	struct saker_config a, b;
	struct diff_rec r = {0};
	enum saker_config_apply w;
	char err[256];

	(void)state;
	saker_config_init(&a);
	saker_config_init(&b);
	assert_int_equal(saker_config_diff(&a, &b, diff_cb, &r), 0);
	assert_int_equal(
	    saker_config_override(&b, "state.max_procs=77", err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(
	    saker_config_override(&b, "syscall_event_drops.rate=2", err, sizeof(err), NULL, NULL),
	    0);
	assert_int_equal(saker_config_override(&b, "engine.modern_ebpf.buf_size=65536", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(saker_config_diff(&a, &b, diff_cb, &r), 3);
	assert_string_equal(r.keys[0], "syscall_event_drops.rate");
	assert_int_equal(r.when[0], SAKER_CONFIG_LIVE);
	assert_string_equal(r.keys[1], "engine.modern_ebpf.buf_size");
	assert_int_equal(r.when[1], SAKER_CONFIG_RESTART);
	assert_string_equal(r.keys[2], "state.max_procs");
	assert_int_equal(r.when[2], SAKER_CONFIG_RESTART);
	assert_int_equal(saker_config_diff(&a, &b, NULL, NULL), 3);

	assert_int_equal(saker_config_key_apply("engine.kind", &w), 0);
	assert_int_equal(w, SAKER_CONFIG_RESTART);
	assert_int_equal(saker_config_key_apply("base_syscalls.all", &w), 0);
	assert_int_equal(w, SAKER_CONFIG_LIVE);
	assert_int_equal(saker_config_key_apply("log_level", &w), 0);
	assert_int_equal(w, SAKER_CONFIG_LIVE);
	/* the rules are recompiled and swapped in by SIGHUP */
	assert_int_equal(saker_config_key_apply("rules_files", &w), 0);
	assert_int_equal(w, SAKER_CONFIG_LIVE);
	assert_int_equal(saker_config_key_apply("rule_matching", &w), 0);
	assert_int_equal(w, SAKER_CONFIG_LIVE);
	assert_int_equal(saker_config_key_apply("no.such.key", &w), -ENOENT);
	saker_config_free(&a);
	saker_config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_embedded_default),
	    cmocka_unit_test(test_equal_and_copy),
	    cmocka_unit_test(test_diff_and_reload_flags),
	    cmocka_unit_test(test_ring_bytes_and_names),
	    cmocka_unit_test(test_bools),
	    cmocka_unit_test(test_u64),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_priorities),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_engine_kind),
	    cmocka_unit_test(test_engine_replay),
	    cmocka_unit_test(test_buf_size),
	    cmocka_unit_test(test_protected_lane),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_custom_set),
	    cmocka_unit_test(test_custom_set_names),
	    cmocka_unit_test(test_override_falco_forms),
	    cmocka_unit_test(test_rules_selection_and_append),
	    cmocka_unit_test(test_rules_files_forms),
	    cmocka_unit_test(test_readme_override),
	    cmocka_unit_test(test_engine_kind_falco_legacy),
	    cmocka_unit_test(test_falco_036_keys),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_wrong_shapes),
	    cmocka_unit_test(test_empty_and_comments),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_deep_and_huge),
	    cmocka_unit_test(test_alias_amplification),
	    cmocka_unit_test(test_unknown_keys_warn),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_dump_round_trip),
	    cmocka_unit_test(test_webserver_metrics_keys),
	    cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
