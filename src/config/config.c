/*
 * Configuration loader. One table row per key drives everything: defaults,
 * parsing, bounds, dumping, copying and freeing, so adding a key is one line.
 * YAML is read with libyaml's document API because every node then carries
 * its line and column, which end up in the error messages. Loads are atomic:
 * a document is applied to a copy that replaces the caller's configuration
 * only when the whole document was accepted, so a bad SIGHUP reload leaves the
 * running configuration untouched.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "lib/readfile.h"
#include "lib/sysnames.h"
#include "lib/yamlguard.h"

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)
/* Bigger files are certainly not a configuration; refuse before parsing. */
#define MAX_FILE_BYTES (16 * MIB)
/* Longest value quoted back in an error message. */
#define MAX_QUOTED 64
/* Documents nest 4 levels at most; Falco plugin sections a few more. */
#define MAX_NESTING 64
/*
 * The smallest ring that holds the largest record: SAKER_MAX_EVENT_SIZE and
 * the ring's 8-byte record header, rounded up to a power of two. A smaller
 * ring could never carry a long-path event: each would be "buffer full".
 */
#define MIN_RING_BYTES (2 * SAKER_MAX_EVENT_SIZE)
_Static_assert(MIN_RING_BYTES >= SAKER_MAX_EVENT_SIZE + 8, "ring fits the largest record");

enum opt_type {
	OPT_BOOL,
	OPT_U64,
	OPT_DOUBLE,
	OPT_STRING,
	OPT_PRIO,
	OPT_ACTIONS,
	OPT_STRLIST,
	OPT_RULESEL, /* rules: a list of {enable|disable: {rule, tag}} */
	OPT_APPEND,  /* append_output: a list of {match, extra_output, extra_fields} */
	/* A Falco key saker does not implement: the subtree is warned about and skipped. */
	OPT_UNSUPPORTED,
};

/* Double bounds: the lower one may be exclusive, the upper one absent. */
#define OPT_F_MIN_EXCL 0x1u
#define OPT_F_NO_MAX   0x2u
/* A list key that reads a scalar as a one-item list (Falco does so for rules_files). */
#define OPT_F_SCALAR_LIST 0x4u
/*
 * An output channel's `<channel>.enabled` (one must be true), and a string
 * key the enabled channel cannot run without: saker_config_validate checks
 * both from the table, so a new channel adds only its rows.
 */
#define OPT_F_OUTPUT_ON	   0x8u
#define OPT_F_OUTPUT_NEEDS 0x10u

struct opt {
	const char *key;
	enum opt_type type;
	size_t off;
	unsigned flags;
	uint64_t umin, umax;
	double dmin, dmax;
	bool def_b;
	uint64_t def_u;
	double def_d;
	const char *def_s; /* string default; for OPT_ACTIONS a comma-separated list */
	/* Extra check after the type parsed: 0, or -EINVAL with the reason in why. */
	int (*check)(const void *val, const char *raw, char *why, size_t whylen);
	/* When a changed value takes effect: live on SIGHUP (the default) or at the next start. */
	enum saker_config_apply apply;
};

static int check_engine_kind(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;

	(void)raw;
	if (*s && (strcmp(*s, "modern_ebpf") == 0 || strcmp(*s, "replay") == 0))
		return 0;
	/* kmod and ebpf never get here: they are read as modern_ebpf, with a warning */
	snprintf(why, whylen,
		 "only modern_ebpf and replay are supported (kmod and ebpf are read as "
		 "modern_ebpf; gvisor and nodriver have no equivalent in saker)");
	return -EINVAL;
}

static int check_buf_size(const void *val, const char *raw, char *why, size_t whylen)
{
	uint64_t v = *(const uint64_t *)val;

	(void)raw;
	if (v == 0 || (v >= MIN_RING_BYTES && v <= GIB && (v & (v - 1)) == 0))
		return 0;
	if (v < MIN_RING_BYTES)
		snprintf(
		    why, whylen,
		    "a ring smaller than %u bytes cannot hold the largest record (%u bytes and "
		    "its header); expected 0 or a power of two in [%u, %llu]",
		    (unsigned)MIN_RING_BYTES, (unsigned)SAKER_MAX_EVENT_SIZE,
		    (unsigned)MIN_RING_BYTES, GIB);
	else
		snprintf(why, whylen, "expected 0 or a power of two in [%u, %llu]",
			 (unsigned)MIN_RING_BYTES, GIB);
	return -EINVAL;
}

static int check_lane_buf_size(const void *val, const char *raw, char *why, size_t whylen)
{
	/* 0 is not a lane-1 size: the lane always exists. */
	if (*(const uint64_t *)val == 0) {
		snprintf(why, whylen, "expected a power of two in [%u, %llu]",
			 (unsigned)MIN_RING_BYTES, GIB);
		return -EINVAL;
	}
	return check_buf_size(val, raw, why, whylen);
}

static void msg_key(char *buf, size_t len, const char *key);

static int check_rule_matching(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;

	(void)raw;
	if (*s && (strcmp(*s, "first") == 0 || strcmp(*s, "all") == 0))
		return 0;
	snprintf(why, whylen, "expected first or all");
	return -EINVAL;
}

/* A base_syscalls.custom_set item: a syscall name, or !name to remove one. */
static int check_syscall_name(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *name = raw[0] == '!' ? raw + 1 : raw;
	char q[MAX_QUOTED * 5];

	(void)val;
	if (saker_syscall_id(name) >= 0)
		return 0;
	/* quoted and escaped: a name may hold line breaks (a folded plain scalar) */
	msg_key(q, sizeof(q), name);
	snprintf(why, whylen, "unknown syscall %s", q);
	return -EINVAL;
}

/* Prometheus durations (metrics.interval): "1h", "15m", "1m30s", "500ms". */
int saker_config_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1},	     {"s", 1000},     {"m", 60000},
		     {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
	uint64_t total = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		uint64_t v = 0;
		size_t i, len = 0;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++) {
			if (v > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*s - '0');
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			len = strlen(units[i].unit);
			/* "m" must not take the "m" of "ms" */
			if (strncmp(s, units[i].unit, len) == 0 && (len == 2 || s[len] != 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (v > (UINT64_MAX - total) / units[i].ms)
			return -ERANGE;
		total += v * units[i].ms;
		s += len;
	}
	*ms = total;
	return 0;
}

static int check_interval(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;
	uint64_t ms;

	(void)raw;
	if (*s && saker_config_duration_ms(*s, &ms) == 0 && ms >= 100)
		return 0;
	snprintf(why, whylen, "expected a duration of at least 100ms (e.g. 30s, 15m, 1h)");
	return -EINVAL;
}

static int check_http_path(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;

	(void)raw;
	if (*s && (*s)[0] == '/' && !strpbrk(*s, " ?#"))
		return 0;
	snprintf(why, whylen, "expected a path starting with '/'");
	return -EINVAL;
}

/* nats_output.servers items: a URL the NATS client takes. */
static int check_nats_server(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;
	const char *host;

	(void)raw;
	if (*s && (strncmp(*s, "nats://", 7) == 0 || strncmp(*s, "tls://", 6) == 0)) {
		host = strstr(*s, "://") + 3;
		if (*host && !strpbrk(host, " \t/"))
			return 0;
	}
	snprintf(why, whylen, "expected nats://[user:password@|token@]host:port or tls://...");
	return -EINVAL;
}

/* Subject tokens separated by dots; no wildcards, no empty token. */
static int check_nats_prefix(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;
	bool ok = *s && **s && **s != '.';

	(void)raw;
	for (const char *p = *s; ok && *p; p++) {
		if (*p <= ' ' || *p >= 127 || *p == '*' || *p == '>' ||
		    (*p == '.' && (p[1] == '.' || p[1] == '\0')))
			ok = false;
	}
	if (ok && strlen(*s) <= 64)
		return 0;
	snprintf(why, whylen,
		 "expected NATS subject tokens separated by dots, without * or > (at most 64 "
		 "characters)");
	return -EINVAL;
}

/* JetStream stream names: no spaces, dots, wildcards or path separators. */
static int check_nats_stream(const void *val, const char *raw, char *why, size_t whylen)
{
	const char *const *s = val;
	bool ok = *s && **s && strlen(*s) <= 64;

	(void)raw;
	for (const char *p = ok ? *s : ""; ok && *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			ok = false;
	}
	if (ok)
		return 0;
	snprintf(why, whylen, "expected a stream name of letters, digits, _ and - (at most 64)");
	return -EINVAL;
}

#define OFF(f) offsetof(struct saker_config, f)
#define BOOL(k, f, d, ...)                                                                         \
	{                                                                                          \
		.key = k, .type = OPT_BOOL, .off = OFF(f), .def_b = d, __VA_ARGS__                 \
	}
#define U64(k, f, lo, hi, d, chk, ...)                                                             \
	{                                                                                          \
		.key = k, .type = OPT_U64, .off = OFF(f), .umin = lo, .umax = hi, .def_u = d,      \
		.check = chk, __VA_ARGS__                                                          \
	}
#define DBL(k, f, lo, hi, fl, d, ...)                                                              \
	{                                                                                          \
		.key = k, .type = OPT_DOUBLE, .off = OFF(f), .dmin = lo, .dmax = hi, .flags = fl,  \
		.def_d = d, __VA_ARGS__                                                            \
	}
#define STR(k, f, d, chk, ...)                                                                     \
	{                                                                                          \
		.key = k, .type = OPT_STRING, .off = OFF(f), .def_s = d, .check = chk, __VA_ARGS__ \
	}
#define PRIO(k, f, d, ...)                                                                         \
	{                                                                                          \
		.key = k, .type = OPT_PRIO, .off = OFF(f), .def_u = d, __VA_ARGS__                 \
	}
/* chk, when set, checks each item (val: the item as char **, raw: its text). */
#define STRLIST(k, f, chk, ...)                                                                    \
	{                                                                                          \
		.key = k, .type = OPT_STRLIST, .off = OFF(f), .check = chk, __VA_ARGS__            \
	}
#define UNSUPPORTED(k)                                                                             \
	{                                                                                          \
		.key = k, .type = OPT_UNSUPPORTED                                                  \
	}

/*
 * Keys sharing a dotted prefix must stay contiguous: saker_config_dump opens
 * and closes YAML mappings by comparing each key with the previous one.
 */
static const struct opt opts[] = {
    DBL("syscall_event_drops.threshold", drops.threshold, 0, 1, 0, 0),
    {.key = "syscall_event_drops.actions",
     .type = OPT_ACTIONS,
     .off = OFF(drops),
     .def_s = "log,alert,resync"},
    DBL("syscall_event_drops.rate", drops.rate, 0, 0, OPT_F_MIN_EXCL | OPT_F_NO_MAX, .03333),
    DBL("syscall_event_drops.max_burst", drops.max_burst, 1, 0, OPT_F_NO_MAX, 10),
    BOOL("syscall_event_drops.simulate_drops", drops.simulate_drops, false),
    PRIO("syscall_event_drops.priority", drops.priority, SAKER_PRIO_CRITICAL),
    DBL("syscall_event_drops.degraded_window", drops.degraded_window, 0, 86400, 0, 10),
    STR("syscall_event_drops.ledger", drops_ledger, NULL, NULL),

    PRIO("log_level", log_level, SAKER_PRIO_INFO),
    BOOL("log_stderr", log_stderr, true),
    BOOL("log_syslog", log_syslog, false),

    PRIO("priority", priority, SAKER_PRIO_DEBUG),
    /* SIGHUP recompiles the rules and swaps them in between records (app/reload.c). */
    STRLIST("rules_files", rules_files, NULL, .flags = OPT_F_SCALAR_LIST),
    STRLIST("rules_file", rules_file, NULL, .flags = OPT_F_SCALAR_LIST),
    STR("rule_matching", rule_matching, "first", check_rule_matching),
    {.key = "rules", .type = OPT_RULESEL, .off = OFF(rules)},
    {.key = "append_output", .type = OPT_APPEND, .off = OFF(append_output)},
    BOOL("json_output", json_output, false),
    BOOL("json_include_output_property", json_include_output_property, true),
    BOOL("json_include_tags_property", json_include_tags_property, true),
    BOOL("time_format_iso_8601", time_format_iso_8601, false),
    BOOL("buffered_outputs", buffered_outputs, false),
    U64("outputs_queue.capacity", outputs_queue_capacity, 0, 16 * MIB, 0, NULL),

    BOOL("stdout_output.enabled", stdout_output.enabled, true, .flags = OPT_F_OUTPUT_ON),
    BOOL("syslog_output.enabled", syslog_output.enabled, false, .flags = OPT_F_OUTPUT_ON),

    BOOL("file_output.enabled", file_output.enabled, false, .flags = OPT_F_OUTPUT_ON),
    BOOL("file_output.keep_alive", file_output.keep_alive, false),
    STR("file_output.filename", file_output.filename, NULL, NULL, .flags = OPT_F_OUTPUT_NEEDS),

    BOOL("program_output.enabled", program_output.enabled, false, .flags = OPT_F_OUTPUT_ON),
    BOOL("program_output.keep_alive", program_output.keep_alive, false),
    STR("program_output.program", program_output.program, NULL, NULL, .flags = OPT_F_OUTPUT_NEEDS),
    STR("program_output.user", program_output.user, "nobody", NULL),

    BOOL("http_output.enabled", http_output.enabled, false, .flags = OPT_F_OUTPUT_ON),
    STR("http_output.url", http_output.url, NULL, NULL, .flags = OPT_F_OUTPUT_NEEDS),
    STR("http_output.user_agent", http_output.user_agent, "saker", NULL),
    BOOL("http_output.insecure", http_output.insecure, false),
    STR("http_output.ca_cert", http_output.ca_cert, NULL, NULL),
    STR("http_output.ca_bundle", http_output.ca_bundle, NULL, NULL),
    STR("http_output.ca_path", http_output.ca_path, "/etc/ssl/certs", NULL),
    BOOL("http_output.mtls", http_output.mtls, false),
    STR("http_output.client_cert", http_output.client_cert, NULL, NULL),
    STR("http_output.client_key", http_output.client_key, NULL, NULL),
    BOOL("http_output.echo", http_output.echo, false),
    BOOL("http_output.compress_uploads", http_output.compress_uploads, false),
    BOOL("http_output.keep_alive", http_output.keep_alive, false),
    U64("http_output.max_consecutive_timeouts", http_output.max_consecutive_timeouts, 0, UINT32_MAX,
	5, NULL),

    BOOL("nats_output.enabled", nats_output.enabled, false, .flags = OPT_F_OUTPUT_ON,
	 .apply = SAKER_CONFIG_RESTART),
    STRLIST("nats_output.servers", nats_output.servers, check_nats_server,
	    .apply = SAKER_CONFIG_RESTART),
    STR("nats_output.subject_prefix", nats_output.subject_prefix, "saker", check_nats_prefix,
	.apply = SAKER_CONFIG_RESTART),
    STR("nats_output.stream", nats_output.stream, "SAKER", check_nats_stream,
	.apply = SAKER_CONFIG_RESTART),
    U64("nats_output.stream_replicas", nats_output.stream_replicas, 1, 5, 1, NULL,
	.apply = SAKER_CONFIG_RESTART),
    STR("nats_output.spool_dir", nats_output.spool_dir, "/var/lib/saker/spool", NULL,
	.flags = OPT_F_OUTPUT_NEEDS, .apply = SAKER_CONFIG_RESTART),
    U64("nats_output.spool_max_bytes", nats_output.spool_max_bytes, 64 * 1024, 1024 * GIB,
	256 * MIB, NULL, .apply = SAKER_CONFIG_RESTART),
    STR("nats_output.creds_file", nats_output.creds_file, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),
    STR("nats_output.ca_file", nats_output.ca_file, NULL, NULL, .apply = SAKER_CONFIG_RESTART),
    STR("nats_output.cert_file", nats_output.cert_file, NULL, NULL, .apply = SAKER_CONFIG_RESTART),
    STR("nats_output.key_file", nats_output.key_file, NULL, NULL, .apply = SAKER_CONFIG_RESTART),

    STR("engine.kind", engine.kind, "modern_ebpf", check_engine_kind,
	.apply = SAKER_CONFIG_RESTART),
    U64("engine.modern_ebpf.buf_size_preset", engine.modern_ebpf.buf_size_preset, 1, 10, 4, NULL,
	.apply = SAKER_CONFIG_RESTART),
    U64("engine.modern_ebpf.buf_size", engine.modern_ebpf.buf_size, 0, GIB, 0, check_buf_size,
	.apply = SAKER_CONFIG_RESTART),
    U64("engine.modern_ebpf.cpus_for_each_buffer", engine.modern_ebpf.cpus_for_each_buffer, 0, 256,
	2, NULL, .apply = SAKER_CONFIG_RESTART),
    STR("engine.replay.capture_file", engine.replay.capture_file, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),

    STRLIST("base_syscalls.custom_set", base_syscalls.custom_set, check_syscall_name),
    BOOL("base_syscalls.all", base_syscalls.all, false),
    BOOL("base_syscalls.repair", base_syscalls.repair, false),

    U64("protected_lane.buf_size", protected_lane.buf_size, 0, GIB, 256 * 1024, check_lane_buf_size,
	.apply = SAKER_CONFIG_RESTART),
    STRLIST("protected_lane.syscalls", protected_lane.syscalls, check_syscall_name),
    BOOL("protected_lane.replace", protected_lane.replace, false),
    U64("protected_lane.rate", protected_lane.rate, 0, 1000000000, 2000, NULL),
    U64("protected_lane.burst", protected_lane.burst, 1, 1000000000, 4000, NULL),
    U64("protected_lane.uid_rate", protected_lane.uid_rate, 0, 1000000000, 8000, NULL),
    U64("protected_lane.uid_burst", protected_lane.uid_burst, 1, 1000000000, 16000, NULL),
    U64("protected_lane.cgroup_rate", protected_lane.cgroup_rate, 0, 1000000000, 16000, NULL),
    U64("protected_lane.cgroup_burst", protected_lane.cgroup_burst, 1, 1000000000, 32000, NULL),

    U64("priority_boost", priority_boost, 0, 20, 10, NULL, .apply = SAKER_CONFIG_RESTART),

    /* The child is forked at start, before the privilege drop: not rebuilt on SIGHUP. */
    BOOL("capture_canary.enabled", capture_canary.enabled, true, .apply = SAKER_CONFIG_RESTART),
    U64("capture_canary.interval_ms", capture_canary.interval_ms, 100, 60000, 1000, NULL,
	.apply = SAKER_CONFIG_RESTART),

    U64("container_engines.max_containers", container_engines.max_containers, 0, 1 * MIB, 0, NULL,
	.apply = SAKER_CONFIG_RESTART),
    BOOL("container_engines.docker.enabled", container_engines.docker.enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    STR("container_engines.docker.root", container_engines.docker.root, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),
    BOOL("container_engines.podman.enabled", container_engines.podman.enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    STR("container_engines.podman.root", container_engines.podman.root, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),
    BOOL("container_engines.containerd.enabled", container_engines.containerd.enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    STR("container_engines.containerd.root", container_engines.containerd.root, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),
    BOOL("container_engines.cri.enabled", container_engines.cri.enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    STR("container_engines.cri.root", container_engines.cri.root, NULL, NULL,
	.apply = SAKER_CONFIG_RESTART),

    U64("state.max_procs", state.max_procs, 0, 16 * MIB, 0, NULL, .apply = SAKER_CONFIG_RESTART),
    U64("state.max_fds", state.max_fds, 0, 64 * MIB, 0, NULL, .apply = SAKER_CONFIG_RESTART),
    U64("state.max_fds_per_proc", state.max_fds_per_proc, 0, 1 * MIB, 0, NULL,
	.apply = SAKER_CONFIG_RESTART),

    /*
     * Web server and metrics (docs/metrics.md); listen_address is loopback, unlike Falco.
     * Read at start: the web server and the snapshot timer are not rebuilt on SIGHUP.
     */
    BOOL("webserver.enabled", webserver.enabled, false, .apply = SAKER_CONFIG_RESTART),
    U64("webserver.threadiness", webserver.threadiness, 0, 16, 0, NULL,
	.apply = SAKER_CONFIG_RESTART),
    STR("webserver.listen_address", webserver.listen_address, "127.0.0.1", NULL,
	.apply = SAKER_CONFIG_RESTART),
    U64("webserver.listen_port", webserver.listen_port, 0, 65535, 8765, NULL,
	.apply = SAKER_CONFIG_RESTART),
    STR("webserver.k8s_healthz_endpoint", webserver.k8s_healthz_endpoint, "/healthz",
	check_http_path, .apply = SAKER_CONFIG_RESTART),
    BOOL("webserver.prometheus_metrics_enabled", webserver.prometheus_metrics_enabled, false,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("webserver.ssl_enabled", webserver.ssl_enabled, false, .apply = SAKER_CONFIG_RESTART),
    STR("webserver.ssl_certificate", webserver.ssl_certificate, "/etc/saker/saker.pem", NULL,
	.apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.enabled", metrics.enabled, false, .apply = SAKER_CONFIG_RESTART),
    STR("metrics.interval", metrics.interval, "1h", check_interval, .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.output_rule", metrics.output_rule, true, .apply = SAKER_CONFIG_RESTART),
    STR("metrics.output_file", metrics.output_file, NULL, NULL, .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.rules_counters_enabled", metrics.rules_counters_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.resource_utilization_enabled", metrics.resource_utilization_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.state_counters_enabled", metrics.state_counters_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.kernel_event_counters_enabled", metrics.kernel_event_counters_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.kernel_event_counters_per_cpu_enabled",
	 metrics.kernel_event_counters_per_cpu_enabled, false, .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.libbpf_stats_enabled", metrics.libbpf_stats_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.plugins_metrics_enabled", metrics.plugins_metrics_enabled, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.jemalloc_stats_enabled", metrics.jemalloc_stats_enabled, false,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.convert_memory_to_mb", metrics.convert_memory_to_mb, true,
	 .apply = SAKER_CONFIG_RESTART),
    BOOL("metrics.include_empty_values", metrics.include_empty_values, false,
	 .apply = SAKER_CONFIG_RESTART),

    /* Falco keys users bring along; accepted with a warning until saker implements them. */
    UNSUPPORTED("config_files"),
    UNSUPPORTED("watch_config_files"),
    UNSUPPORTED("load_plugins"),
    UNSUPPORTED("plugins"),
    UNSUPPORTED("plugins_hostinfo"),
    UNSUPPORTED("grpc"),
    UNSUPPORTED("grpc_output"),
    UNSUPPORTED("libs_logger"),
    UNSUPPORTED("falco_libs"),
    /* container_engines: saker reads files, not sockets (docs/containers.md) */
    UNSUPPORTED("container_engines.docker.sockets"),
    UNSUPPORTED("container_engines.podman.sockets"),
    UNSUPPORTED("container_engines.containerd.sockets"),
    UNSUPPORTED("container_engines.cri.sockets"),
    UNSUPPORTED("container_engines.cri.disable_async"),
    UNSUPPORTED("container_engines.lxc"),
    UNSUPPORTED("container_engines.libvirt_lxc"),
    UNSUPPORTED("container_engines.bpm"),
    UNSUPPORTED("container_engines.static"),
    UNSUPPORTED("capture"),
    UNSUPPORTED("static_fields"),
    UNSUPPORTED("output_timeout"),
    UNSUPPORTED("outputs"),
    UNSUPPORTED("syscall_event_timeouts"),
    UNSUPPORTED("syscall_drop_failed_exit"),
    UNSUPPORTED("modern_bpf"),
    UNSUPPORTED("json_include_message_property"),
    UNSUPPORTED("json_include_output_fields_property"),
    UNSUPPORTED("outputs_queue.recovery"),
    UNSUPPORTED("engine.kmod"),
    UNSUPPORTED("engine.ebpf"),
    UNSUPPORTED("engine.gvisor"),
    UNSUPPORTED("engine.nodriver"),
    UNSUPPORTED("engine.modern_ebpf.drop_failed_exit"),
    /* Falco 0.40 to master's falco.yaml and config schema, beyond the above */
    UNSUPPORTED("buffer_format_base64"),
    UNSUPPORTED("engine.modern_ebpf.disable_iterators"),
    UNSUPPORTED("metrics.kernel_iter_event_counters_enabled"),
    UNSUPPORTED("metadata_download"),
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const action_names[] = {
    [SAKER_DROP_ACT_IGNORE] = "ignore", [SAKER_DROP_ACT_LOG] = "log",
    [SAKER_DROP_ACT_ALERT] = "alert",	[SAKER_DROP_ACT_EXIT] = "exit",
    [SAKER_DROP_ACT_RESYNC] = "resync",
};

const char *saker_drop_action_name(enum saker_drop_action a)
{
	if ((unsigned)a >= sizeof(action_names) / sizeof(action_names[0]))
		return "unknown";
	return action_names[a];
}

static int action_parse(const char *s, enum saker_drop_action *out)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum saker_drop_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void *slot(struct saker_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static const void *cslot(const struct saker_config *cfg, const struct opt *o)
{
	return (const char *)cfg + o->off;
}

static void strlist_clear(struct saker_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strlist_push(struct saker_strlist *l, const char *s)
{
	char *dup = strdup(s);
	char **v;

	if (!dup)
		return -ENOMEM;
	/* The capacity is implicit: the array doubles whenever n reaches a power of two. */
	if ((l->n & (l->n - 1)) == 0) {
		v = realloc(l->v, (l->n ? 2 * l->n : 1) * sizeof(*v));
		if (!v) {
			free(dup);
			return -ENOMEM;
		}
		l->v = v;
	}
	l->v[l->n++] = dup;
	return 0;
}

/* Adds an action unless already present: a repeated action would only run twice in a row. */
static void actions_add(struct saker_drops_config *d, enum saker_drop_action a)
{
	if (a == SAKER_DROP_ACT_IGNORE)
		return; /* an empty list already means ignore */
	for (size_t i = 0; i < d->n_actions; i++) {
		if (d->actions[i] == a)
			return;
	}
	if (d->n_actions < SAKER_MAX_DROP_ACTIONS)
		d->actions[d->n_actions++] = a;
}

typedef struct {
	struct saker_rule_sel *v;
	size_t n;
} rulesel_list;
typedef struct {
	struct saker_append *v;
	size_t n;
} append_list;

static void rulesel_clear(void *p)
{
	rulesel_list *l = p;

	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].rule);
		free(l->v[i].tag);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void append_entry_free(struct saker_append *a)
{
	free(a->source);
	free(a->rule);
	free(a->extra_output);
	strlist_clear(&a->tags);
	for (size_t j = 0; j < a->n_fields; j++) {
		free(a->fields[j].key);
		free(a->fields[j].value);
	}
	free(a->fields);
	memset(a, 0, sizeof(*a));
}

static void append_clear(void *p)
{
	append_list *l = p;

	for (size_t i = 0; i < l->n; i++)
		append_entry_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* strdup that keeps NULL; false on ENOMEM. */
static bool dup_or_null(char **dst, const char *s)
{
	*dst = s ? strdup(s) : NULL;
	return !s || *dst;
}

static int rulesel_copy(void *dp, const void *sp)
{
	rulesel_list *d = dp;
	const rulesel_list *src = sp;

	d->v = NULL;
	d->n = 0;
	if (!src->n)
		return 0;
	d->v = calloc(src->n, sizeof(*d->v));
	if (!d->v)
		return -ENOMEM;
	for (; d->n < src->n; d->n++) {
		struct saker_rule_sel *o = &d->v[d->n];
		const struct saker_rule_sel *i = &src->v[d->n];

		o->enable = i->enable;
		if (!dup_or_null(&o->rule, i->rule) || !dup_or_null(&o->tag, i->tag)) {
			d->n++;
			return -ENOMEM;
		}
	}
	return 0;
}

static int append_entry_copy(struct saker_append *o, const struct saker_append *i)
{
	memset(o, 0, sizeof(*o));
	o->suggested_output = i->suggested_output;
	if (!dup_or_null(&o->source, i->source) || !dup_or_null(&o->rule, i->rule) ||
	    !dup_or_null(&o->extra_output, i->extra_output))
		return -ENOMEM;
	for (size_t j = 0; j < i->tags.n; j++)
		if (strlist_push(&o->tags, i->tags.v[j]))
			return -ENOMEM;
	if (i->n_fields && !(o->fields = calloc(i->n_fields, sizeof(*o->fields))))
		return -ENOMEM;
	for (; o->n_fields < i->n_fields; o->n_fields++) {
		struct saker_append_field *f = &o->fields[o->n_fields];

		if (!dup_or_null(&f->key, i->fields[o->n_fields].key) ||
		    !dup_or_null(&f->value, i->fields[o->n_fields].value)) {
			o->n_fields++;
			return -ENOMEM;
		}
	}
	return 0;
}

static int append_copy(void *dp, const void *sp)
{
	append_list *d = dp;
	const append_list *src = sp;

	d->v = NULL;
	d->n = 0;
	if (!src->n)
		return 0;
	d->v = calloc(src->n, sizeof(*d->v));
	if (!d->v)
		return -ENOMEM;
	for (; d->n < src->n; d->n++)
		if (append_entry_copy(&d->v[d->n], &src->v[d->n])) {
			d->n++;
			return -ENOMEM;
		}
	return 0;
}

static bool str_eq(const char *a, const char *b);

static bool strlist_eq(const struct saker_strlist *a, const struct saker_strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t j = 0; j < a->n; j++)
		if (!str_eq(a->v[j], b->v[j]))
			return false;
	return true;
}

static bool rulesel_eq(const void *pa, const void *pb)
{
	const rulesel_list *a = pa, *b = pb;

	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].enable != b->v[i].enable || !str_eq(a->v[i].rule, b->v[i].rule) ||
		    !str_eq(a->v[i].tag, b->v[i].tag))
			return false;
	return true;
}

static bool append_eq(const void *pa, const void *pb)
{
	const append_list *a = pa, *b = pb;

	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct saker_append *x = &a->v[i], *y = &b->v[i];

		if (!str_eq(x->source, y->source) || !str_eq(x->rule, y->rule) ||
		    !str_eq(x->extra_output, y->extra_output) || !strlist_eq(&x->tags, &y->tags) ||
		    x->n_fields != y->n_fields || x->suggested_output != y->suggested_output)
			return false;
		for (size_t j = 0; j < x->n_fields; j++)
			if (!str_eq(x->fields[j].key, y->fields[j].key) ||
			    !str_eq(x->fields[j].value, y->fields[j].value))
				return false;
	}
	return true;
}

int saker_config_set_strlist(struct saker_strlist *l, char *const *v, size_t n)
{
	struct saker_strlist nl = {0};

	for (size_t i = 0; i < n; i++)
		if (strlist_push(&nl, v[i])) {
			strlist_clear(&nl);
			return -ENOMEM;
		}
	strlist_clear(l);
	*l = nl;
	return 0;
}

void saker_config_free(struct saker_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STRING) {
			char **s = slot(cfg, o);

			free(*s);
			*s = NULL;
		} else if (o->type == OPT_STRLIST) {
			strlist_clear(slot(cfg, o));
		} else if (o->type == OPT_RULESEL) {
			rulesel_clear(slot(cfg, o));
		} else if (o->type == OPT_APPEND) {
			append_clear(slot(cfg, o));
		}
	}
}

void saker_config_init(struct saker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		void *p = slot(cfg, o);

		switch (o->type) {
		case OPT_BOOL:
			*(bool *)p = o->def_b;
			break;
		case OPT_U64:
			*(uint64_t *)p = o->def_u;
			break;
		case OPT_DOUBLE:
			*(double *)p = o->def_d;
			break;
		case OPT_PRIO:
			*(enum saker_prio *)p = (enum saker_prio)o->def_u;
			break;
		case OPT_STRING:
			/* An allocation failure leaves NULL, which validate reports for
			 * engine.kind. */
			*(char **)p = o->def_s ? strdup(o->def_s) : NULL;
			break;
		case OPT_ACTIONS: {
			struct saker_drops_config *d = p;
			char buf[64];
			char *save = NULL;

			snprintf(buf, sizeof(buf), "%s", o->def_s);
			for (char *t = strtok_r(buf, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				enum saker_drop_action a;

				if (action_parse(t, &a) == 0)
					actions_add(d, a);
			}
			break;
		}
		case OPT_STRLIST:
		case OPT_RULESEL:
		case OPT_APPEND:
		case OPT_UNSUPPORTED:
			break;
		}
	}
}

int saker_config_copy(struct saker_config *dst, const struct saker_config *src)
{
	int ret = 0;

	memcpy(dst, src, sizeof(*dst));
	/* First detach every pointer from src so that a failure can free dst safely. */
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STRING) {
			*(char **)slot(dst, o) = NULL;
		} else if (o->type == OPT_STRLIST) {
			struct saker_strlist *l = slot(dst, o);

			l->v = NULL;
			l->n = 0;
		} else if (o->type == OPT_RULESEL) {
			memset(slot(dst, o), 0, sizeof(rulesel_list));
		} else if (o->type == OPT_APPEND) {
			memset(slot(dst, o), 0, sizeof(append_list));
		}
	}
	for (size_t i = 0; i < N_OPTS && !ret; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STRING) {
			const char *s = *(char *const *)cslot(src, o);

			if (s) {
				*(char **)slot(dst, o) = strdup(s);
				if (!*(char **)slot(dst, o))
					ret = -ENOMEM;
			}
		} else if (o->type == OPT_STRLIST) {
			const struct saker_strlist *from = cslot(src, o);

			for (size_t j = 0; j < from->n && !ret; j++)
				ret = strlist_push(slot(dst, o), from->v[j]);
		} else if (o->type == OPT_RULESEL) {
			ret = rulesel_copy(slot(dst, o), cslot(src, o));
		} else if (o->type == OPT_APPEND) {
			ret = append_copy(slot(dst, o), cslot(src, o));
		}
	}
	if (ret)
		saker_config_free(dst);
	return ret;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	return strcmp(a, b) == 0;
}

static bool opt_equal(const struct opt *o, const struct saker_config *a,
		      const struct saker_config *b)
{
	const void *pa = cslot(a, o), *pb = cslot(b, o);

	switch (o->type) {
	case OPT_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case OPT_U64:
		return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case OPT_DOUBLE:
		return *(const double *)pa == *(const double *)pb;
	case OPT_PRIO:
		return *(const enum saker_prio *)pa == *(const enum saker_prio *)pb;
	case OPT_STRING:
		return str_eq(*(char *const *)pa, *(char *const *)pb);
	case OPT_ACTIONS: {
		const struct saker_drops_config *da = pa, *db = pb;

		if (da->n_actions != db->n_actions)
			return false;
		for (size_t j = 0; j < da->n_actions; j++) {
			if (da->actions[j] != db->actions[j])
				return false;
		}
		return true;
	}
	case OPT_STRLIST: {
		const struct saker_strlist *la = pa, *lb = pb;

		if (la->n != lb->n)
			return false;
		for (size_t j = 0; j < la->n; j++) {
			if (!str_eq(la->v[j], lb->v[j]))
				return false;
		}
		return true;
	}
	case OPT_RULESEL:
		return rulesel_eq(pa, pb);
	case OPT_APPEND:
		return append_eq(pa, pb);
	case OPT_UNSUPPORTED:
		return true;
	}
	return true;
}

bool saker_config_equal(const struct saker_config *a, const struct saker_config *b)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (!opt_equal(&opts[i], a, b))
			return false;
	return true;
}

size_t saker_config_diff(const struct saker_config *a, const struct saker_config *b,
			 saker_config_diff_fn fn, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < N_OPTS; i++) {
		if (opt_equal(&opts[i], a, b))
			continue;
		n++;
		if (fn)
			fn(ctx, opts[i].key, opts[i].apply);
	}
	return n;
}

int saker_config_key_apply(const char *key, enum saker_config_apply *when)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		if (strcmp(opts[i].key, key) == 0) {
			*when = opts[i].apply;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- loading ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct load_ctx {
	struct saker_config *cfg;
	const char *name; /* file name, or "-o key=value" */
	bool positions;	  /* overrides are one line: no line:col */
	char *err;
	size_t errlen;
	saker_report_fn warn;
	void *warn_ctx;
	/*
	 * Nodes the walk may still visit. An alias is a reference, not a copy:
	 * thousands of aliases to one long list cost a few bytes each and a
	 * whole list walk each, so a small file could keep the loader busy for
	 * hours. Without aliases the walk visits each node once.
	 */
	size_t budget;
	/* From the document being loaded: its engine.kind, and whether it has an engine mapping. */
	char doc_kind[16];
	bool doc_engine;
};

/* Quotes text for a one-line message: escapes quotes and control bytes, truncates. */
static void quote(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = 0;

	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 8 >= outlen || i >= MAX_QUOTED) {
			o += (size_t)snprintf(out + o, outlen - o, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	snprintf(out + o, outlen - o, "\"");
}

static void where(const struct load_ctx *c, const yaml_mark_t *m, char *buf, size_t len)
{
	if (c->positions && m)
		snprintf(buf, len, "%s:%zu:%zu", c->name, m->line + 1, m->column + 1);
	else
		snprintf(buf, len, "%s", c->name);
}

static void msg_key(char *buf, size_t len, const char *key)
{
	quote(buf, len, key, strlen(key));
	/* keys are shown in single quotes, as in Falco's messages; drop the double quotes */
	size_t n = strlen(buf);

	if (n >= 2) {
		buf[0] = '\'';
		buf[n - 1] = '\'';
	}
}

__attribute__((format(printf, 4, 0))) static int vfail(struct load_ctx *c, const yaml_mark_t *m,
						       const char *key, const char *fmt, va_list ap)
{
	char pos[512], msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	where(c, m, pos, sizeof(pos));
	if (c->err && c->errlen) {
		if (key)
			snprintf(c->err, c->errlen, "%s: %s: %s", pos, key, msg);
		else
			snprintf(c->err, c->errlen, "%s: %s", pos, msg);
	}
	return -EINVAL;
}

/* Writes "name:line:col: key: message" for node n and returns -EINVAL. */
__attribute__((format(printf, 4, 5))) static int fail(struct load_ctx *c, const yaml_node_t *n,
						      const char *key, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, n ? &n->start_mark : NULL, key, fmt, ap);
	va_end(ap);
	return ret;
}

__attribute__((format(printf, 3, 4))) static int fail_at(struct load_ctx *c, const yaml_mark_t *m,
							 const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(c, m, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

/* Charges one visited node; -EINVAL once aliases made the walk far longer than the document. */
static int spend(struct load_ctx *c, const yaml_node_t *n)
{
	if (c->budget == 0)
		return fail_at(c, n ? &n->start_mark : NULL,
			       "aliases expand the document too much");
	c->budget--;
	return 0;
}

/* Twice the document's nodes, and some slack for a few small anchors. */
static size_t walk_budget(const yaml_document_t *doc)
{
	return 2 * (size_t)(doc->nodes.top - doc->nodes.start) + 4096;
}

__attribute__((format(printf, 3, 4))) static void warn(struct load_ctx *c, const yaml_node_t *n,
						       const char *fmt, ...)
{
	char pos[512], msg[512], line[1100];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where(c, n ? &n->start_mark : NULL, pos, sizeof(pos));
	snprintf(line, sizeof(line), "%s: %s", pos, msg);
	c->warn(c->warn_ctx, SAKER_PRIO_WARNING, line);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* YAML's null: an empty or ~/null plain scalar (libyaml tags every scalar !!str by default). */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/*
 * ${VAR} expands from the environment (unset = empty); $${VAR} is a literal
 * ${VAR}. An unterminated ${ is kept as written. Returns NULL on ENOMEM.
 */
static char *expand_env(const char *s, size_t len)
{
	size_t cap = len + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		const char *add = s + i;
		size_t addlen = 1, skip = 1;

		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			add = s + i + 1;
			addlen = 2;
			skip = 3;
		} else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
			const char *end = memchr(s + i + 2, '}', len - i - 2);

			if (end) {
				char *name = strndup(s + i + 2, (size_t)(end - (s + i + 2)));

				if (!name) {
					free(out);
					return NULL;
				}
				add = getenv(name);
				free(name);
				if (!add)
					add = "";
				addlen = strlen(add);
				skip = (size_t)(end - (s + i)) + 1;
			}
		}
		if (o + addlen + 1 > cap) {
			char *bigger;

			cap = (o + addlen + 1) * 2;
			bigger = realloc(out, cap);
			if (!bigger) {
				free(out);
				return NULL;
			}
			out = bigger;
		}
		memcpy(out + o, add, addlen);
		o += addlen;
		i += skip;
	}
	out[o] = '\0';
	return out;
}

/* The expanded text of a scalar, malloc'd, or NULL with the error set. */
static char *scalar_value(struct load_ctx *c, const yaml_node_t *n, const char *key, int *ret)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *out;

	if (memchr(v, '\0', len)) {
		*ret = fail(c, n, key, "value contains a NUL character");
		return NULL;
	}
	out = expand_env(v, len);
	if (!out) {
		fail(c, n, key, "out of memory");
		*ret = -ENOMEM;
	}
	return out;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would accept blanks, a sign, and wrap "-1" around */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	double v;
	char *end;

	if (!s[0] || isspace((unsigned char)s[0]))
		return -EINVAL;
	/* ERANGE also flags subnormals, which are fine; overflow shows as infinity */
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static void double_bounds(const struct opt *o, char *buf, size_t len)
{
	if (!(o->flags & OPT_F_NO_MAX))
		snprintf(buf, len, "in [%g, %g]", o->dmin, o->dmax);
	else
		snprintf(buf, len, "%s %g", (o->flags & OPT_F_MIN_EXCL) ? ">" : ">=", o->dmin);
}

static int apply_scalar(struct load_ctx *c, const struct opt *o, const yaml_node_t *n)
{
	char got[MAX_QUOTED * 5], why[160];
	void *p = slot(c->cfg, o);
	int ret = 0;
	char *v;

	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, o->key, "expected a scalar value, got %s", node_kind(n));
	if (o->type == OPT_STRING && is_null(n)) {
		char *unset = NULL;

		/* unset must pass the key's check too, as "" does (found by fuzz_config) */
		if (o->check && o->check(&unset, "", why, sizeof(why)))
			return fail(c, n, o->key, "%s", why);
		free(*(char **)p);
		*(char **)p = NULL;
		return 0;
	}
	v = scalar_value(c, n, o->key, &ret);
	if (!v)
		return ret;
	quote(got, sizeof(got), v, strlen(v));

	switch (o->type) {
	case OPT_BOOL:
		if (parse_bool(v, p))
			ret = fail(c, n, o->key,
				   "expected a boolean (true/false/yes/no/on/off), got %s", got);
		break;
	case OPT_U64: {
		uint64_t u;

		if (parse_u64(v, &u) || u < o->umin || u > o->umax) {
			ret = fail(c, n, o->key,
				   "expected an integer in [%" PRIu64 ", %" PRIu64 "], got %s",
				   o->umin, o->umax, got);
			break;
		}
		if (o->check && o->check(&u, v, why, sizeof(why))) {
			ret = fail(c, n, o->key, "%s, got %s", why, got);
			break;
		}
		*(uint64_t *)p = u;
		break;
	}
	case OPT_DOUBLE: {
		double d;
		bool ok = parse_double(v, &d) == 0;

		if (ok)
			ok = (o->flags & OPT_F_MIN_EXCL) ? d > o->dmin : d >= o->dmin;
		if (ok && !(o->flags & OPT_F_NO_MAX))
			ok = d <= o->dmax;
		if (!ok) {
			double_bounds(o, why, sizeof(why));
			ret = fail(c, n, o->key, "expected a number %s, got %s", why, got);
			break;
		}
		*(double *)p = d;
		break;
	}
	case OPT_PRIO:
		if (saker_prio_parse(v, p))
			ret =
			    fail(c, n, o->key,
				 "expected a priority (emergency, alert, critical, error, warning, "
				 "notice, info, debug), got %s",
				 got);
		break;
	case OPT_STRING: {
		char *s = v[0] ? v : NULL; /* an empty string means unset */

		if (o->check && o->check(&s, v, why, sizeof(why))) {
			ret = fail(c, n, o->key, "%s", why);
			break;
		}
		free(*(char **)p);
		*(char **)p = s;
		if (s)
			v = NULL; /* ownership moved */
		break;
	}
	default:
		ret = fail(c, n, o->key, "internal error: not a scalar key");
		break;
	}
	free(v);
	return ret;
}

/* A local tag ("!close") on an empty plain scalar, not a standard one ("!!str"). */
static bool is_bang_tag(const yaml_node_t *n)
{
	const char *t = (const char *)n->tag;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       t && t[0] == '!' && t[1] && t[1] != '!';
}

static int apply_list(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		      const yaml_node_t *n, bool append)
{
	struct saker_strlist *l = slot(c->cfg, o);
	struct saker_drops_config *d = slot(c->cfg, o);
	bool seen[sizeof(action_names) / sizeof(action_names[0])] = {false};
	int ret = 0;

	if (is_null(n)) {
		if (append)
			return 0;
		if (o->type == OPT_STRLIST)
			strlist_clear(l);
		else
			d->n_actions = 0;
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE && (o->flags & OPT_F_SCALAR_LIST)) {
		char *v = scalar_value(c, n, o->key, &ret);

		if (!v)
			return ret;
		if (!append)
			strlist_clear(l);
		if (v[0] && strlist_push(l, v))
			ret = -ENOMEM;
		free(v);
		return ret;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, o->key, "expected a list, got %s", node_kind(n));
	if (!append) {
		if (o->type == OPT_STRLIST)
			strlist_clear(l);
		else
			d->n_actions = 0;
	}
	if (o->type == OPT_ACTIONS) {
		for (size_t i = 0; i < d->n_actions; i++)
			seen[d->actions[i]] = true;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		char got[MAX_QUOTED * 5], why[MAX_QUOTED * 5 + 64];
		enum saker_drop_action a;
		char *v;

		if (!item)
			return fail(c, n, o->key, "bad list item");
		ret = spend(c, item);
		if (ret)
			return ret;
		if (item->type != YAML_SCALAR_NODE)
			return fail(c, item, o->key,
				    "expected a list of strings, got %s in the list",
				    node_kind(item));
		v = scalar_value(c, item, o->key, &ret);
		if (!v)
			return ret;
		if (!v[0] && is_bang_tag(item)) {
			/* `- !close` unquoted: YAML reads "!close" as a tag on an empty value */
			free(v);
			v = strdup((const char *)item->tag);
			if (!v) {
				(void)fail(c, item, o->key, "out of memory");
				return -ENOMEM;
			}
		}
		quote(got, sizeof(got), v, strlen(v));
		if (o->type == OPT_STRLIST) {
			if (!v[0])
				ret = fail(c, item, o->key,
					   "expected a non-empty string in the list");
			else if (o->check && o->check(&v, v, why, sizeof(why)))
				ret = fail(c, item, o->key, "%s", why);
			else if (strlist_push(l, v) && fail(c, item, o->key, "out of memory"))
				ret = -ENOMEM;
		} else if (action_parse(v, &a)) {
			ret = fail(
			    c, item, o->key,
			    "unknown action %s (expected ignore, log, alert, exit or resync)", got);
		} else {
			const char *other = NULL;

			/* Falco's rule: doing nothing and logging/alerting contradict each other.
			 */
			if (a == SAKER_DROP_ACT_IGNORE && seen[SAKER_DROP_ACT_LOG])
				other = "log";
			else if (a == SAKER_DROP_ACT_IGNORE && seen[SAKER_DROP_ACT_ALERT])
				other = "alert";
			else if ((a == SAKER_DROP_ACT_LOG || a == SAKER_DROP_ACT_ALERT) &&
				 seen[SAKER_DROP_ACT_IGNORE])
				other = "ignore";
			if (other)
				ret = fail(c, item, o->key,
					   "action %s cannot be combined with \"%s\"", got, other);
			seen[a] = true;
			actions_add(d, a);
		}
		free(v);
	}
	return ret;
}

/* Iterates a mapping's pairs: key text and value node; false at the end. */
static const yaml_node_t *pair_at(yaml_document_t *doc, const yaml_node_t *m, size_t i,
				  const yaml_node_t **keynode)
{
	const yaml_node_pair_t *pr = m->data.mapping.pairs.start + i;
	const yaml_node_t *k;

	if (pr >= m->data.mapping.pairs.top)
		return NULL;
	k = yaml_document_get_node(doc, pr->key);
	*keynode = k;
	return yaml_document_get_node(doc, pr->value);
}

static bool key_is(const yaml_node_t *k, const char *name)
{
	return k && k->type == YAML_SCALAR_NODE &&
	       strcmp((const char *)k->data.scalar.value, name) == 0;
}

/* A scalar setting (NULL for null or ""), replacing *dst. */
static int set_scalar_str(struct load_ctx *c, const yaml_node_t *v, const char *key, char **dst)
{
	char *s;
	int ret = 0;

	if (is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, v, key, "expected a scalar value, got %s", node_kind(v));
	s = scalar_value(c, v, key, &ret);
	if (!s)
		return ret;
	free(*dst);
	*dst = s[0] ? s : NULL;
	if (!s[0])
		free(s);
	return 0;
}

/*
 * One `rules:` item, Falco's shape: {enable: {rule: NAME, tag: TAG}} or
 * {disable: ...}; rule and tag each optional, at least one.
 */
static int apply_rulesel_item(struct load_ctx *c, yaml_document_t *doc, const char *key,
			      const yaml_node_t *n, struct saker_rule_sel *out)
{
	const yaml_node_t *k, *v, *sub = NULL;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, key,
			    "expected {enable: {rule: NAME}} or {disable: {tag: TAG}}, "
			    "got %s",
			    node_kind(n));
	for (size_t i = 0; (v = pair_at(doc, n, i, &k)) != NULL; i++) {
		bool en = key_is(k, "enable");

		if (!en && !key_is(k, "disable"))
			return fail(c, k ? k : n, key, "expected enable or disable");
		if (sub)
			return fail(c, k, key, "one of enable or disable per item");
		sub = v;
		out->enable = en;
	}
	if (!sub || sub->type != YAML_MAPPING_NODE)
		return fail(c, sub ? sub : n, key,
			    "expected enable or disable with a mapping of rule and/or tag");
	free(out->rule);
	free(out->tag);
	out->rule = out->tag = NULL;
	for (size_t i = 0; !ret && (v = pair_at(doc, sub, i, &k)) != NULL; i++) {
		if (key_is(k, "rule"))
			ret = set_scalar_str(c, v, key, &out->rule);
		else if (key_is(k, "tag"))
			ret = set_scalar_str(c, v, key, &out->tag);
		else
			ret = fail(c, k ? k : sub, key, "expected rule or tag");
	}
	if (!ret && !out->rule && !out->tag)
		ret = fail(c, sub, key, "expected rule or tag");
	return ret;
}

static int push_tags(struct load_ctx *c, yaml_document_t *doc, const char *key,
		     const yaml_node_t *v, struct saker_strlist *tags)
{
	int ret = 0;

	strlist_clear(tags);
	if (is_null(v))
		return 0;
	if (v->type == YAML_SCALAR_NODE) {
		char *t = scalar_value(c, v, key, &ret);

		if (t && t[0] && strlist_push(tags, t))
			ret = -ENOMEM;
		free(t);
		return ret;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, key, "match.tags: expected a list of tags");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		char *t;

		if (!item || item->type != YAML_SCALAR_NODE)
			return fail(c, item ? item : v, key, "match.tags: expected a list of tags");
		t = scalar_value(c, item, key, &ret);
		if (t && t[0] && strlist_push(tags, t))
			ret = -ENOMEM;
		free(t);
	}
	return ret;
}

static int push_field(struct saker_append *a, char *k, char *v)
{
	struct saker_append_field *f = realloc(a->fields, (a->n_fields + 1) * sizeof(*f));

	if (!f) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	a->fields = f;
	a->fields[a->n_fields++] = (struct saker_append_field){k, v};
	return 0;
}

static int apply_extra_fields(struct load_ctx *c, yaml_document_t *doc, const char *key,
			      const yaml_node_t *v, struct saker_append *a)
{
	int ret = 0;

	for (size_t j = 0; j < a->n_fields; j++) {
		free(a->fields[j].key);
		free(a->fields[j].value);
	}
	free(a->fields);
	a->fields = NULL;
	a->n_fields = 0;
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, key,
			    "extra_fields: expected a list of field names or key: value");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		const yaml_node_t *ik, *iv;
		char *fk, *fv = NULL;

		if (item && item->type == YAML_SCALAR_NODE && !is_null(item)) {
			fk = scalar_value(c, item, key, &ret);
			if (fk)
				ret = push_field(a, fk, NULL);
			continue;
		}
		if (!item || item->type != YAML_MAPPING_NODE ||
		    item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1 ||
		    !(iv = pair_at(doc, item, 0, &ik)) || !ik || ik->type != YAML_SCALAR_NODE ||
		    iv->type != YAML_SCALAR_NODE)
			return fail(c, item ? item : v, key,
				    "extra_fields: expected a field name or one key: value");
		fk = scalar_value(c, ik, key, &ret);
		if (fk)
			fv = scalar_value(c, iv, key, &ret);
		if (!fk || !fv) {
			free(fk);
			return ret;
		}
		ret = push_field(a, fk, fv);
	}
	return ret;
}

/* One append_output item onto *a: the keys it has replace a's (an -o item[N].key merges). */
static int apply_append_item(struct load_ctx *c, yaml_document_t *doc, const char *key,
			     const yaml_node_t *n, struct saker_append *a)
{
	const yaml_node_t *k, *v;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, key,
			    "expected a mapping of match, extra_output and extra_fields, got %s",
			    node_kind(n));
	for (size_t i = 0; !ret && (v = pair_at(doc, n, i, &k)) != NULL; i++) {
		if (key_is(k, "match")) {
			const yaml_node_t *mk, *mv;

			if (is_null(v)) {
				free(a->source);
				free(a->rule);
				a->source = a->rule = NULL;
				strlist_clear(&a->tags);
				continue;
			}
			if (v->type != YAML_MAPPING_NODE)
				return fail(c, v, key, "match: expected a mapping, got %s",
					    node_kind(v));
			for (size_t j = 0; !ret && (mv = pair_at(doc, v, j, &mk)) != NULL; j++) {
				if (key_is(mk, "source"))
					ret = set_scalar_str(c, mv, key, &a->source);
				else if (key_is(mk, "rule"))
					ret = set_scalar_str(c, mv, key, &a->rule);
				else if (key_is(mk, "tags"))
					ret = push_tags(c, doc, key, mv, &a->tags);
				else
					ret = fail(c, mk ? mk : v, key,
						   "match: expected source, rule or tags");
			}
		} else if (key_is(k, "extra_output")) {
			ret = set_scalar_str(c, v, key, &a->extra_output);
		} else if (key_is(k, "extra_fields")) {
			ret = apply_extra_fields(c, doc, key, v, a);
		} else if (key_is(k, "suggested_output")) {
			char *sv;

			if (v->type != YAML_SCALAR_NODE)
				return fail(c, v, key, "suggested_output: expected true or false");
			sv = scalar_value(c, v, key, &ret);
			if (!sv)
				return ret;
			if (parse_bool(sv, &a->suggested_output))
				ret = fail(c, v, key, "suggested_output: expected true or false");
			free(sv);
		} else {
			ret =
			    fail(c, k ? k : n, key,
				 "expected match, extra_output, extra_fields or suggested_output");
		}
	}
	return ret;
}

/*
 * Item idx of rules: / append_output: from node n: an existing item is
 * updated (append_output merges the keys n has; a rules item is replaced),
 * idx == length (or SIZE_MAX) appends one. Atomic per item.
 */
static int apply_record_at(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			   const yaml_node_t *n, size_t idx)
{
	int ret;

	if (o->type == OPT_RULESEL) {
		rulesel_list *l = slot(c->cfg, o);
		struct saker_rule_sel sel = {0}, *nv;

		if (idx == SIZE_MAX)
			idx = l->n;
		if (idx > l->n)
			return fail(c, n, o->key,
				    "index %zu is past the end of the list (%zu items)", idx, l->n);
		ret = apply_rulesel_item(c, doc, o->key, n, &sel);
		if (ret) {
			free(sel.rule);
			free(sel.tag);
			return ret;
		}
		if (idx < l->n) {
			free(l->v[idx].rule);
			free(l->v[idx].tag);
			l->v[idx] = sel;
			return 0;
		}
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv) {
			free(sel.rule);
			free(sel.tag);
			return -ENOMEM;
		}
		l->v = nv;
		l->v[l->n++] = sel;
		return 0;
	} else {
		append_list *l = slot(c->cfg, o);
		struct saker_append a, *nv;

		if (idx == SIZE_MAX)
			idx = l->n;
		if (idx > l->n)
			return fail(c, n, o->key,
				    "index %zu is past the end of the list (%zu items)", idx, l->n);
		if (idx < l->n)
			ret = append_entry_copy(&a, &l->v[idx]);
		else
			ret = (memset(&a, 0, sizeof(a)), 0);
		if (!ret)
			ret = apply_append_item(c, doc, o->key, n, &a);
		if (ret) {
			append_entry_free(&a);
			return ret;
		}
		if (idx < l->n) {
			append_entry_free(&l->v[idx]);
			l->v[idx] = a;
			return 0;
		}
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv) {
			append_entry_free(&a);
			return -ENOMEM;
		}
		l->v = nv;
		l->v[l->n++] = a;
		return 0;
	}
}

/* rules: and append_output: as a whole list (null clears it); append adds to it. */
static int apply_records(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			 const yaml_node_t *n, bool append)
{
	void *p = slot(c->cfg, o);
	int ret = 0;

	if (!append) {
		if (o->type == OPT_RULESEL)
			rulesel_clear(p);
		else
			append_clear(p);
	}
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, o->key, "expected a list, got %s", node_kind(n));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);

		if (!item)
			return fail(c, n, o->key, "bad list item");
		ret = spend(c, item);
		if (!ret)
			ret = apply_record_at(c, o, doc, item, SIZE_MAX);
	}
	return ret;
}

static const struct opt *find_opt(const char *key)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].type != OPT_UNSUPPORTED && strcmp(opts[i].key, key) == 0)
			return &opts[i];
	}
	return NULL;
}

/* True when key equals an unsupported Falco key or lies below one. */
static bool is_unsupported(const char *key)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		size_t n = strlen(opts[i].key);

		if (opts[i].type == OPT_UNSUPPORTED && strncmp(opts[i].key, key, n) == 0 &&
		    (key[n] == '\0' || key[n] == '.'))
			return true;
	}
	return false;
}

/* True when key names a mapping of known keys ("engine", "engine.modern_ebpf", ...). */
static bool is_section(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].type != OPT_UNSUPPORTED && strncmp(opts[i].key, key, n) == 0 &&
		    opts[i].key[n] == '.')
			return true;
	}
	return false;
}

/*
 * Falco's older spellings, read as saker's key with a warning. Falco 0.36
 * keys (before the engine section) yield to an engine mapping in the same
 * document, as in Falco 0.37. engine.<kind>.buf_size_preset applies when the
 * document's engine.kind is that kind (which saker runs as modern_ebpf).
 */
struct legacy_key {
	const char *key, *to;
	const char *kind; /* NULL: a Falco 0.36 key */
};

static const struct legacy_key legacy_keys[] = {
    {"syscall_buf_size_preset", "engine.modern_ebpf.buf_size_preset", NULL},
    {"modern_bpf.cpus_for_each_syscall_buffer", "engine.modern_ebpf.cpus_for_each_buffer", NULL},
    {"engine.kmod.buf_size_preset", "engine.modern_ebpf.buf_size_preset", "kmod"},
    {"engine.ebpf.buf_size_preset", "engine.modern_ebpf.buf_size_preset", "ebpf"},
};

#define N_LEGACY (sizeof(legacy_keys) / sizeof(legacy_keys[0]))

/* The engine kinds saker reads as modern_ebpf. */
static bool kind_is_legacy(const char *k)
{
	return strcmp(k, "kmod") == 0 || strcmp(k, "ebpf") == 0;
}

/*
 * True when key names a mapping holding a legacy key that applies to this
 * document ("modern_bpf"; "engine.kmod" only when engine.kind is kmod).
 */
static bool is_legacy_section(const struct load_ctx *c, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < N_LEGACY; i++) {
		const struct legacy_key *lk = &legacy_keys[i];

		if (strncmp(lk->key, key, n) == 0 && lk->key[n] == '.' &&
		    (!lk->kind || strcmp(lk->kind, c->doc_kind) == 0))
			return true;
	}
	return false;
}

static int apply_node(struct load_ctx *c, yaml_document_t *doc, const char *key,
		      const yaml_node_t *keynode, const yaml_node_t *n, bool append);

/*
 * key is a Falco spelling saker reads otherwise: sets *to to saker's key,
 * or *ignored when the document's own engine section wins. false: not one.
 */
static bool legacy_lookup(struct load_ctx *c, const char *key, const yaml_node_t *at,
			  const char **to, bool *ignored)
{
	char qkey[MAX_QUOTED * 5], qto[MAX_QUOTED * 5];

	*ignored = false;
	for (size_t i = 0; i < N_LEGACY; i++) {
		const struct legacy_key *lk = &legacy_keys[i];

		if (strcmp(lk->key, key) != 0)
			continue;
		if (lk->kind && strcmp(lk->kind, c->doc_kind) != 0)
			return false; /* another engine's setting: unsupported, ignored */
		msg_key(qkey, sizeof(qkey), key);
		msg_key(qto, sizeof(qto), lk->to);
		if (!lk->kind && c->doc_engine) {
			warn(c, at, "Falco 0.36 key %s ignored: the engine section sets %s", qkey,
			     qto);
			*ignored = true;
			return true;
		}
		if (lk->kind)
			warn(c, at, "key %s read as %s (engine.kind %s runs as modern_ebpf)", qkey,
			     qto, lk->kind);
		else
			warn(c, at, "Falco 0.36 key %s read as %s", qkey, qto);
		*to = lk->to;
		return true;
	}
	/* With kind kmod or ebpf, that engine's preset (mapped above) is the one Falco uses. */
	if (kind_is_legacy(c->doc_kind) && strcmp(key, "engine.modern_ebpf.buf_size_preset") == 0) {
		msg_key(qkey, sizeof(qkey), key);
		warn(c, at, "key %s ignored: engine.kind is %s, engine.%s.buf_size_preset applies",
		     qkey, c->doc_kind, c->doc_kind);
		*ignored = true;
		return true;
	}
	return false;
}

/* engine.kind kmod or ebpf: saker has the modern probe only; warn and use it. */
static int apply_legacy_kind(struct load_ctx *c, const struct opt *o, const yaml_node_t *n,
			     bool *done)
{
	const char *v = (const char *)n->data.scalar.value;
	char **p = slot(c->cfg, o);
	char *mod;

	*done = false;
	if (n->type != YAML_SCALAR_NODE || !kind_is_legacy(v))
		return 0;
	mod = strdup("modern_ebpf");
	if (!mod) {
		(void)fail(c, n, o->key, "out of memory");
		return -ENOMEM;
	}
	warn(c, n, "engine.kind '%s': saker has no %s driver, using modern_ebpf", v,
	     strcmp(v, "kmod") == 0 ? "kernel module" : "legacy eBPF");
	free(*p);
	*p = mod;
	*done = true;
	return 0;
}

static int apply_mapping(struct load_ctx *c, yaml_document_t *doc, const char *prefix,
			 const yaml_node_t *n)
{
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);
		char *full;
		int ret;

		if (!k || !v)
			return fail(c, n, prefix[0] ? prefix : NULL, "bad mapping entry");
		if (k->type != YAML_SCALAR_NODE)
			return fail(c, k, prefix[0] ? prefix : NULL, "expected a key name, got %s",
				    node_kind(k));
		if (memchr(k->data.scalar.value, '\0', k->data.scalar.length))
			return fail(c, k, prefix[0] ? prefix : NULL,
				    "key contains a NUL character");
		if (asprintf(&full, "%s%s%s", prefix, prefix[0] ? "." : "",
			     (const char *)k->data.scalar.value) < 0)
			return -ENOMEM;
		ret = apply_node(c, doc, full, k, v, false);
		free(full);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The one place a value meets the table, for files and -o alike. keynode
 * (may be NULL) is where unknown-key warnings point.
 */
static int apply_node(struct load_ctx *c, yaml_document_t *doc, const char *key,
		      const yaml_node_t *keynode, const yaml_node_t *n, bool append)
{
	const struct opt *o;
	char qkey[MAX_QUOTED * 5];
	const char *to = NULL;
	bool ignored, done;
	int ret = spend(c, n);

	if (ret)
		return ret;
	if (legacy_lookup(c, key, keynode ? keynode : n, &to, &ignored)) {
		if (ignored)
			return 0;
		key = to;
	}
	o = find_opt(key);
	if (o && strcmp(o->key, "engine.kind") == 0 && !append) {
		ret = apply_legacy_kind(c, o, n, &done);
		if (ret || done)
			return ret;
	}
	if (o) {
		if (o->type == OPT_ACTIONS || o->type == OPT_STRLIST)
			return apply_list(c, o, doc, n, append);
		if (o->type == OPT_RULESEL || o->type == OPT_APPEND)
			return apply_records(c, o, doc, n, append);
		if (append)
			return fail(c, n, key, "[] appends to lists only");
		return apply_scalar(c, o, n);
	}
	msg_key(qkey, sizeof(qkey), key);
	if (is_legacy_section(c, key) && n->type == YAML_MAPPING_NODE && !append)
		return apply_mapping(c, doc, key, n);
	if (is_unsupported(key)) {
		warn(c, keynode ? keynode : n, "key %s is not supported by saker, ignored", qkey);
		return 0;
	}
	if (is_section(key)) {
		if (append)
			return fail(c, n, key, "[] appends to lists only");
		if (is_null(n))
			return 0;
		if (n->type != YAML_MAPPING_NODE)
			return fail(c, n, key, "expected a mapping, got %s", node_kind(n));
		return apply_mapping(c, doc, key, n);
	}
	warn(c, keynode ? keynode : n, "unknown key %s ignored", qkey);
	return 0;
}

static int parser_fail(struct load_ctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const struct saker_yaml_src src = {
	    .name = c->name, .buf = buf, .len = len, .positions = c->positions};

	return saker_yaml_parser_error(&src, p, c->err, c->errlen);
}

/* Refuses deep documents before libyaml builds them (lib/yamlguard.h says why). */
static int check_nesting(struct load_ctx *c, const char *buf, size_t len)
{
	const struct saker_yaml_src src = {
	    .name = c->name, .buf = buf, .len = len, .positions = c->positions};

	return saker_yaml_check_depth(&src, MAX_NESTING, c->err, c->errlen);
}

/* Notes the document's engine mapping and engine.kind (legacy_lookup reads them). */
static void doc_engine_kind(struct load_ctx *c, yaml_document_t *doc, const yaml_node_t *root)
{
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);

		if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_MAPPING_NODE ||
		    strcmp((const char *)k->data.scalar.value, "engine") != 0)
			continue;
		c->doc_engine = true;
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			yaml_node_t *kk = yaml_document_get_node(doc, q->key);
			yaml_node_t *vv = yaml_document_get_node(doc, q->value);

			if (kk && vv && kk->type == YAML_SCALAR_NODE &&
			    vv->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)kk->data.scalar.value, "kind") == 0)
				snprintf(c->doc_kind, sizeof(c->doc_kind), "%s",
					 (const char *)vv->data.scalar.value);
		}
	}
}

/* Applies ctx to a copy of *cfg and swaps it in only on success. */
static int commit_or_drop(struct saker_config *cfg, struct saker_config *tmp, int ret)
{
	if (ret) {
		saker_config_free(tmp);
		return ret;
	}
	saker_config_free(cfg);
	*cfg = *tmp;
	return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int saker_config_load_buffer(struct saker_config *cfg, const char *name, const char *yaml,
			     size_t len, char *err, size_t errlen, saker_report_fn warnfn,
			     void *warn_ctx)
{
	struct saker_config tmp;
	struct load_ctx c = {
	    .cfg = &tmp,
	    .name = name ? name : "<config>",
	    .positions = true,
	    .err = err,
	    .errlen = errlen,
	    .warn = warnfn,
	    .warn_ctx = warn_ctx,
	};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!yaml && len) {
		set_err(err, errlen, "%s: no data", c.name);
		return -EINVAL;
	}
	if (!yaml)
		yaml = "";
	ret = check_nesting(&c, yaml, len);
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&parser)) {
		set_err(err, errlen, "%s: out of memory", c.name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = parser_fail(&c, &parser, yaml, len);
		yaml_parser_delete(&parser);
		return ret;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root)) {
		/* an empty file (or only comments, or a bare ---) changes nothing */
		ret = 0;
		goto out_doc;
	}
	if (root->type != YAML_MAPPING_NODE) {
		ret = fail(&c, root, NULL, "expected a mapping of keys at the top level, got %s",
			   node_kind(root));
		goto out_doc;
	}
	ret = saker_config_copy(&tmp, cfg);
	if (ret) {
		set_err(err, errlen, "%s: out of memory", c.name);
		goto out_doc;
	}
	c.budget = walk_budget(&doc);
	doc_engine_kind(&c, &doc, root);
	ret = apply_mapping(&c, &doc, "", root);
	if (ret == -ENOMEM && err && errlen && !err[0])
		set_err(err, errlen, "%s: out of memory", c.name);
	if (!ret) {
		yaml_document_t next;

		/* A second document would be silently ignored otherwise. */
		if (!yaml_parser_load(&parser, &next)) {
			ret = parser_fail(&c, &parser, yaml, len);
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&next);

			if (r2)
				warn(&c, r2,
				     "only the first YAML document is read, the rest is ignored");
			yaml_document_delete(&next);
		}
	}
	ret = commit_or_drop(cfg, &tmp, ret);
out_doc:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int saker_config_load_file(struct saker_config *cfg, const char *path, char *err, size_t errlen,
			   saker_report_fn warnfn, void *warn_ctx)
{
	char *buf;
	size_t len;
	int ret = saker_readfile(path, MAX_FILE_BYTES, &buf, &len);

	if (ret) {
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		return ret;
	}
	ret = saker_config_load_buffer(cfg, path, buf, len, err, errlen, warnfn, warn_ctx);
	free(buf);
	return ret;
}

/*
 * Key syntax for -o: name(.name)*, names of [A-Za-z0-9_-] (and, as in Falco
 * 0.44, \\. or \\\\ for a dot or a backslash inside a name), each optionally
 * followed by [N] (Falco's list index).
 */
static bool key_ok(const char *k, size_t len)
{
	bool need_name = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)k[i];

		if (ch == '[' && !need_name) {
			size_t j = i + 1;

			while (j < len && isdigit((unsigned char)k[j]))
				j++;
			if (j == i + 1 || j >= len || k[j] != ']')
				return false;
			i = j;
			if (i + 1 < len && k[i + 1] != '.' && k[i + 1] != '[')
				return false;
		} else if (ch == '.') {
			if (need_name)
				return false;
			need_name = true;
		} else if (isalnum(ch) || ch == '_' || ch == '-') {
			need_name = false;
		} else if (ch == '\\' && i + 1 < len && (k[i + 1] == '.' || k[i + 1] == '\\')) {
			/* Falco 0.44: a backslash escapes a dot or a backslash inside a name */
			need_name = false;
			i++;
		} else {
			return false;
		}
	}
	return len && !need_name;
}

/*
 * Copies a flow list value with its plain items that start with '!' quoted:
 * "[read, !close]" as "[read, '!close']". YAML would read !close as a tag,
 * and the README (and Falco's docs) write removals that way. NULL on ENOMEM.
 */
static char *quote_bang_items(const char *v)
{
	size_t len = strlen(v), o = 0;
	char *out = malloc(3 * len + 1);
	char q = 0;
	bool item_start = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = v[i];

		if (q) {
			out[o++] = ch;
			if (ch == '\\' && q == '"' && i + 1 < len)
				out[o++] = v[++i];
			else if (ch == q)
				q = 0;
			continue;
		}
		if (ch == '\'' || ch == '"') {
			q = ch;
			item_start = false;
			out[o++] = ch;
			continue;
		}
		if (item_start && ch == '!') {
			size_t end = i;

			while (end < len && v[end] != ',' && v[end] != ']' && v[end] != '[' &&
			       v[end] != '{' && v[end] != '}')
				end++;
			while (end > i && isspace((unsigned char)v[end - 1]))
				end--;
			out[o++] = '\'';
			for (size_t j = i; j < end; j++) {
				if (v[j] == '\'')
					out[o++] = '\'';
				out[o++] = v[j];
			}
			out[o++] = '\'';
			i = end - 1;
			item_start = false;
			continue;
		}
		if (ch == '[' || ch == ',')
			item_start = true;
		else if (!isspace((unsigned char)ch))
			item_start = false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return out;
}

static char *escape_env(const char *s);

/* An item's text as a YAML scalar reads it back: ${ escaped as $${. */
static int add_item(yaml_document_t *doc, int seq, const char *text)
{
	char *esc = escape_env(text);
	int id;

	if (!esc)
		return -ENOMEM;
	id = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)esc, (int)strlen(esc),
				      YAML_SINGLE_QUOTED_SCALAR_STYLE);
	free(esc);
	if (!id || !yaml_document_append_sequence_item(doc, seq, id))
		return -ENOMEM;
	return 0;
}

/*
 * key[N]=v: replaces item N of a list, or appends it when N is the length.
 * The list is rebuilt with v in place and applied as a whole, so an item set
 * this way is checked like any other.
 */
static int apply_index(struct load_ctx *c, const struct opt *o, yaml_document_t *doc, int value_id,
		       size_t idx)
{
	const struct saker_strlist *l = cslot(c->cfg, o);
	const struct saker_drops_config *d = cslot(c->cfg, o);
	size_t n = o->type == OPT_STRLIST ? l->n : d->n_actions;
	yaml_node_t *v = yaml_document_get_node(doc, value_id);
	int seq, ret = 0;

	if (!v || v->type != YAML_SCALAR_NODE)
		return fail(c, v, o->key,
			    "[%zu] sets one list item: expected a scalar value, got %s", idx,
			    v ? node_kind(v) : "nothing");
	if (idx > n)
		return fail(
		    c, v, o->key,
		    "index %zu is past the end of the list (%zu items; [%zu] or [] appends)", idx,
		    n, n);
	seq = yaml_document_add_sequence(doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
	if (!seq)
		return -ENOMEM;
	for (size_t i = 0; i < n + (idx == n) && !ret; i++) {
		if (i == idx)
			ret = yaml_document_append_sequence_item(doc, seq, value_id) ? 0 : -ENOMEM;
		else if (o->type == OPT_STRLIST)
			ret = add_item(doc, seq, l->v[i]);
		else
			ret = add_item(doc, seq, saker_drop_action_name(d->actions[i]));
	}
	if (ret)
		return ret;
	return apply_list(c, o, doc, yaml_document_get_node(doc, seq), false);
}

/*
 * -o rules[N].disable.rule=* and -o append_output[N].extra_output=...: the
 * value, wrapped in a mapping per name after [N], is applied to item N (or
 * appended when N is the length). at points to "[N]..." in the key.
 */
static int override_record(struct saker_config *cfg, const struct opt *o, const char *at,
			   const char *value, const char *name, char *err, size_t errlen,
			   saker_report_fn warnfn, void *warn_ctx)
{
	struct saker_config tmp;
	struct load_ctx c = {.cfg = &tmp,
			     .name = name,
			     .err = err,
			     .errlen = errlen,
			     .warn = warnfn,
			     .warn_ctx = warn_ctx};
	const char *rest = strchr(at, ']') + 1;
	size_t idx = (size_t)strtoull(at + 1, NULL, 10);
	bool literal =
	    rest[0] && value[0] != '[' && value[0] != '{' && value[0] != '"' && value[0] != '\'';
	yaml_parser_t parser;
	yaml_document_t doc;
	int ret, node = 0;

	if (idx > 1000000 || (rest[0] && (rest[0] != '.' || strchr(rest, '[')))) {
		set_err(err, errlen, "%s: %s[N] takes names after it, no further index", name,
			o->key);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser)) {
		set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (literal) {
		/* rule=* must not read as a YAML alias: names and tags are taken as written */
		if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
			yaml_parser_delete(&parser);
			set_err(err, errlen, "%s: out of memory", name);
			return -ENOMEM;
		}
		node =
		    yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)value,
					     (int)strlen(value), YAML_SINGLE_QUOTED_SCALAR_STYLE);
	} else {
		ret = check_nesting(&c, value, strlen(value));
		if (ret) {
			yaml_parser_delete(&parser);
			return ret;
		}
		yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
		if (!yaml_parser_load(&parser, &doc)) {
			ret = parser_fail(&c, &parser, value, strlen(value));
			yaml_parser_delete(&parser);
			return ret;
		}
		node = yaml_document_get_root_node(&doc) ? 1 : 0;
		if (!node)
			node = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0,
							YAML_PLAIN_SCALAR_STYLE);
	}
	ret = node ? 0 : -ENOMEM;
	/* wrap from the last name to the first: .disable.rule=v is {disable: {rule: v}} */
	for (const char *end = rest + strlen(rest); !ret && end > rest;) {
		const char *dot = end - 1;
		int m, k;

		while (dot > rest && *dot != '.')
			dot--;
		m = yaml_document_add_mapping(&doc, NULL, YAML_FLOW_MAPPING_STYLE);
		k = yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)dot + 1,
					     (int)(end - dot - 1), YAML_PLAIN_SCALAR_STYLE);
		if (!m || !k || !yaml_document_append_mapping_pair(&doc, m, k, node))
			ret = -ENOMEM;
		node = m;
		end = dot;
	}
	if (!ret)
		ret = saker_config_copy(&tmp, cfg);
	if (!ret) {
		c.budget = walk_budget(&doc);
		ret = apply_record_at(&c, o, &doc, yaml_document_get_node(&doc, node), idx);
		ret = commit_or_drop(cfg, &tmp, ret);
	}
	if (ret == -ENOMEM && err && errlen && !err[0])
		set_err(err, errlen, "%s: out of memory", name);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int saker_config_override(struct saker_config *cfg, const char *key_eq_value, char *err,
			  size_t errlen, saker_report_fn warnfn, void *warn_ctx)
{
	struct saker_config tmp;
	char name[512], qkey[MAX_QUOTED * 5];
	struct load_ctx c = {
	    .cfg = &tmp,
	    .name = name,
	    .positions = false,
	    .err = err,
	    .errlen = errlen,
	    .warn = warnfn,
	    .warn_ctx = warn_ctx,
	};
	const char *eq, *value;
	char *quoted = NULL;
	size_t keylen, idx = 0;
	bool append = false, indexed = false;
	yaml_parser_t parser;
	yaml_document_t doc;
	const struct opt *o;
	char *key = NULL;
	int root_id = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!key_eq_value) {
		set_err(err, errlen, "-o: expected key=value");
		return -EINVAL;
	}
	/* The override is quoted back whole: keep the message on one line. */
	/* long values are cut so the message itself still fits */
	snprintf(name, sizeof(name), "-o %.200s%s", key_eq_value,
		 strlen(key_eq_value) > 200 ? "..." : "");
	for (char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	eq = strchr(key_eq_value, '=');
	if (!eq) {
		set_err(err, errlen, "%s: expected key=value", name);
		return -EINVAL;
	}
	keylen = (size_t)(eq - key_eq_value);
	value = eq + 1;
	if (keylen >= 2 && key_eq_value[keylen - 2] == '[' && key_eq_value[keylen - 1] == ']') {
		append = true;
		keylen -= 2;
	}
	if (!key_ok(key_eq_value, keylen)) {
		quote(qkey, sizeof(qkey), key_eq_value, keylen);
		set_err(err, errlen,
			"%s: bad key %s (expected names separated by dots, each with an optional "
			"[index])",
			name, qkey);
		return -EINVAL;
	}
	key = strndup(key_eq_value, keylen);
	if (!key) {
		set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (strchr(key, '\\')) {
		/*
		 * No key saker has holds a dot or a backslash in a name: an escaped one
		 * names a Falco key saker does not implement (a plugin's init_config
		 * most often) or no key at all. Either is a warning, as in a file.
		 */
		char *bs = strchr(key, '\\');

		while (bs > key && bs[-1] != '.' && bs[-1] != ']')
			bs--;
		*bs = '\0';
		if (bs > key && (bs[-1] == '.'))
			bs[-1] = '\0';
		if (strchr(key, '['))
			*strchr(key, '[') = '\0';
		msg_key(qkey, sizeof(qkey), key_eq_value[0] == '\\' ? "" : key);
		if (warnfn) {
			char line[1100];

			if (key[0] && is_unsupported(key))
				snprintf(line, sizeof(line),
					 "%s: key %s is not supported by saker, ignored", name,
					 qkey);
			else
				snprintf(line, sizeof(line), "%s: unknown key ignored", name);
			warnfn(warn_ctx, SAKER_PRIO_WARNING, line);
		}
		free(key);
		return 0;
	}
	if (strchr(key, '[')) {
		char base[128];

		snprintf(base, sizeof(base), "%.*s", (int)(strchr(key, '[') - key), key);
		o = find_opt(base);
		if (o && (o->type == OPT_RULESEL || o->type == OPT_APPEND)) {
			ret = override_record(cfg, o, strchr(key, '['), value, name, err, errlen,
					      warnfn, warn_ctx);
			free(key);
			return ret;
		}
	}
	if (strchr(key, '[')) {
		char *lb = strchr(key, '[');
		char *last = strrchr(key, '[');

		/* Only a trailing [N] on a list is saker's: key[0].name is in a list of mappings.
		 */
		if (lb != last || key[strlen(key) - 1] != ']') {
			*lb = '\0';
			msg_key(qkey, sizeof(qkey), key);
			ret = 0;
			if (is_unsupported(key) && warnfn) {
				char line[1100];

				snprintf(line, sizeof(line),
					 "%s: key %s is not supported by saker, ignored", name,
					 qkey);
				warnfn(warn_ctx, SAKER_PRIO_WARNING, line);
			} else if (!is_unsupported(key)) {
				set_err(err, errlen,
					"%s: %s: indexes into lists of mappings are not supported",
					name, qkey);
				ret = -EINVAL;
			}
			free(key);
			return ret;
		}
		idx = (size_t)strtoull(lb + 1, NULL, 10);
		if (idx > 1000000) {
			set_err(err, errlen, "%s: index %.20s is too large", name, lb + 1);
			free(key);
			return -EINVAL;
		}
		*lb = '\0';
		indexed = true;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(key);
		set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	o = find_opt(key);
	if (indexed &&
	    (is_section(key) || (o && o->type != OPT_STRLIST && o->type != OPT_ACTIONS))) {
		ret = -EINVAL;
		set_err(err, errlen, "%s: %s: [index] applies to lists only", name, key);
		goto out_parser;
	}
	if (o && o->type == OPT_STRLIST && strchr(value, '!')) {
		quoted = quote_bang_items(value);
		if (!quoted) {
			ret = -ENOMEM;
			set_err(err, errlen, "%s: out of memory", name);
			goto out_parser;
		}
		value = quoted;
	}
	if (o && o->type == OPT_STRING && !append && !indexed && value[0] != '"' &&
	    value[0] != '\'') {
		/*
		 * A string key takes the text as written: `program=jq '{text: .output}' | logger`
		 * would otherwise read as a mapping because of its ": ". Quote it to get YAML.
		 */
		if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
			ret = -ENOMEM;
			set_err(err, errlen, "%s: out of memory", name);
			goto out_parser;
		}
		root_id =
		    yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)value,
					     (int)strlen(value), YAML_SINGLE_QUOTED_SCALAR_STYLE);
		if (!root_id) {
			ret = -EINVAL;
			set_err(err, errlen, "%s: %s: value is not valid UTF-8", name, key);
			goto out_doc;
		}
	} else {
		ret = check_nesting(&c, value, strlen(value));
		if (ret)
			goto out_parser;
		yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
		if (!yaml_parser_load(&parser, &doc)) {
			ret = parser_fail(&c, &parser, value, strlen(value));
			goto out_parser;
		}
		/* libyaml numbers nodes from 1, the root first */
		root_id = yaml_document_get_root_node(&doc) ? 1 : 0;
	}
	if (!root_id) {
		/* "key=" is an empty (null) value */
		root_id = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0,
						   YAML_PLAIN_SCALAR_STYLE);
		if (!root_id) {
			ret = -ENOMEM;
			set_err(err, errlen, "%s: out of memory", name);
			goto out_doc;
		}
	}
	if (append) {
		yaml_node_t *v = yaml_document_get_node(&doc, root_id);

		/* key[]=v appends v; key[]=[a, b] appends a and b */
		if (v && v->type != YAML_SEQUENCE_NODE) {
			int seq = yaml_document_add_sequence(&doc, NULL, YAML_FLOW_SEQUENCE_STYLE);

			if (!seq || !yaml_document_append_sequence_item(&doc, seq, root_id)) {
				ret = -ENOMEM;
				set_err(err, errlen, "%s: out of memory", name);
				goto out_doc;
			}
			root_id = seq;
		}
	}
	ret = saker_config_copy(&tmp, cfg);
	if (ret) {
		set_err(err, errlen, "%s: out of memory", name);
		goto out_doc;
	}
	c.budget = walk_budget(&doc);
	if (indexed && o)
		ret = apply_index(&c, o, &doc, root_id, idx);
	else
		ret =
		    apply_node(&c, &doc, key, NULL, yaml_document_get_node(&doc, root_id), append);
	if (ret == -ENOMEM && err && errlen && !err[0])
		set_err(err, errlen, "%s: out of memory", name);
	ret = commit_or_drop(cfg, &tmp, ret);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	free(quoted);
	free(key);
	return ret;
}

/* The value of the OPT_F_OUTPUT_ON row of key's channel (its first component). */
static bool output_on(const struct saker_config *cfg, const char *key)
{
	size_t n = strcspn(key, ".");

	for (size_t i = 0; i < N_OPTS; i++)
		if ((opts[i].flags & OPT_F_OUTPUT_ON) && strncmp(opts[i].key, key, n) == 0 &&
		    opts[i].key[n] == '.')
			return *(const bool *)((const char *)cfg + opts[i].off);
	return false;
}

/* At least one output channel, and what each enabled one needs. */
static int validate_outputs(const struct saker_config *cfg, char *err, size_t errlen)
{
	char names[512] = "";
	size_t len = 0, k = 0, n_on = 0;
	bool any = false;

	for (size_t i = 0; i < N_OPTS; i++)
		n_on += (opts[i].flags & OPT_F_OUTPUT_ON) != 0;
	for (size_t i = 0; i < N_OPTS; i++) {
		if (!(opts[i].flags & OPT_F_OUTPUT_ON))
			continue;
		any |= *(const bool *)((const char *)cfg + opts[i].off);
		k++;
		if (len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%.*s",
						k == 1	    ? ""
						: k == n_on ? " or "
							    : ", ",
						(int)strcspn(opts[i].key, "."), opts[i].key);
	}
	if (!any) {
		set_err(err, errlen, "no output enabled (enable %s)", names);
		return -EINVAL;
	}
	for (size_t i = 0; i < N_OPTS; i++) {
		const char *v;

		if (!(opts[i].flags & OPT_F_OUTPUT_NEEDS))
			continue;
		v = *(char *const *)((const char *)cfg + opts[i].off);
		if ((v && v[0]) || !output_on(cfg, opts[i].key))
			continue;
		set_err(err, errlen, "%.*s is enabled but %s is empty",
			(int)strcspn(opts[i].key, "."), opts[i].key, opts[i].key);
		return -EINVAL;
	}
	return 0;
}

int saker_config_validate(const struct saker_config *cfg, char *err, size_t errlen)
{
	if (cfg->rules_files.n && cfg->rules_file.n) {
		/* Falco refuses this too: which list wins would be a guess */
		set_err(err, errlen,
			"both rules_files and rules_file are set; keep rules_files (rules_file is "
			"its older name)");
		return -EINVAL;
	}
	if (validate_outputs(cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->nats_output.enabled && !cfg->nats_output.cert_file != !cfg->nats_output.key_file) {
		set_err(
		    err, errlen,
		    "nats_output: cert_file and key_file go together (one is set, not the other)");
		return -EINVAL;
	}
	if (!cfg->engine.kind || (strcmp(cfg->engine.kind, "modern_ebpf") != 0 &&
				  strcmp(cfg->engine.kind, "replay") != 0)) {
		set_err(err, errlen, "engine.kind: only modern_ebpf and replay are supported");
		return -EINVAL;
	}
	if (strcmp(cfg->engine.kind, "replay") == 0 &&
	    !(cfg->engine.replay.capture_file && cfg->engine.replay.capture_file[0])) {
		set_err(err, errlen,
			"engine.kind is replay but engine.replay.capture_file is empty");
		return -EINVAL;
	}
	if (cfg->webserver.enabled && cfg->webserver.ssl_enabled &&
	    !(cfg->webserver.ssl_certificate && cfg->webserver.ssl_certificate[0])) {
		set_err(err, errlen,
			"webserver.ssl_enabled is on but webserver.ssl_certificate is empty");
		return -EINVAL;
	}
	return 0;
}

uint64_t saker_config_preset_bytes(uint64_t preset)
{
	if (preset < 1)
		preset = 1;
	if (preset > 10)
		preset = 10;
	return MIB << (preset - 1);
}

uint64_t saker_config_ring_bytes(const struct saker_config *cfg)
{
	if (cfg->engine.modern_ebpf.buf_size)
		return cfg->engine.modern_ebpf.buf_size;
	return saker_config_preset_bytes(cfg->engine.modern_ebpf.buf_size_preset);
}

/* ---- dump ---- */

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int init_ok)
{
	/* yaml_emitter_emit frees the event even when it fails */
	if (!init_ok || !yaml_emitter_emit(em, ev))
		return -EIO;
	return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1,
					      1, style);

	/* initialisation fails on invalid UTF-8, which YAML cannot carry */
	return ok ? emit(em, &ev, 1) : -EILSEQ;
}

/* Escapes ${ as $${ so that loading the dump does not expand variables again. */
static char *escape_env(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += (p[0] == '$' && p[1] == '{') ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		if (p[0] == '$' && p[1] == '{')
			*o++ = '$';
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

static int emit_string(yaml_emitter_t *em, const char *s)
{
	char *esc = escape_env(s ? s : "");
	int ret;

	if (!esc)
		return -ENOMEM;
	ret = emit_scalar(em, esc, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	free(esc);
	return ret;
}

/* Shortest text that reads back as the same double. */
static void format_double(double d, char *buf, size_t len)
{
	/* %g would write 10 as 1e+01 */
	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, len, "%.0f", d);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static int emit_mapping_start(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(
	    em, &ev,
	    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static int emit_mapping_end(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static int emit_flow_map(yaml_emitter_t *em)
{
	yaml_event_t ev;

	return emit(
	    em, &ev,
	    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE));
}

static int emit_seq(yaml_emitter_t *em, bool start)
{
	yaml_event_t ev;

	if (!start)
		return emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
	return emit(
	    em, &ev,
	    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE));
}

static int emit_kv(yaml_emitter_t *em, const char *k, const char *v)
{
	int ret = emit_scalar(em, k, YAML_PLAIN_SCALAR_STYLE);

	return ret ? ret : emit_string(em, v);
}

/* rules: and append_output: in Falco's shape, flow style (one line each). */
static int emit_records(yaml_emitter_t *em, const struct opt *o, const void *p)
{
	int ret = emit_seq(em, true);

	if (o->type == OPT_RULESEL) {
		const rulesel_list *l = p;

		for (size_t i = 0; i < l->n && !ret; i++) {
			ret = emit_flow_map(em);
			if (!ret)
				ret = emit_scalar(em, l->v[i].enable ? "enable" : "disable",
						  YAML_PLAIN_SCALAR_STYLE);
			if (!ret)
				ret = emit_flow_map(em);
			if (!ret && l->v[i].rule)
				ret = emit_kv(em, "rule", l->v[i].rule);
			if (!ret && l->v[i].tag)
				ret = emit_kv(em, "tag", l->v[i].tag);
			if (!ret)
				ret = emit_mapping_end(em);
			if (!ret)
				ret = emit_mapping_end(em);
		}
	} else {
		const append_list *l = p;

		for (size_t i = 0; i < l->n && !ret; i++) {
			const struct saker_append *a = &l->v[i];

			ret = emit_flow_map(em);
			if (!ret)
				ret = emit_scalar(em, "match", YAML_PLAIN_SCALAR_STYLE);
			if (!ret)
				ret = emit_flow_map(em);
			if (!ret && a->source)
				ret = emit_kv(em, "source", a->source);
			if (!ret && a->rule)
				ret = emit_kv(em, "rule", a->rule);
			if (!ret && a->tags.n) {
				ret = emit_scalar(em, "tags", YAML_PLAIN_SCALAR_STYLE);
				if (!ret)
					ret = emit_seq(em, true);
				for (size_t j = 0; j < a->tags.n && !ret; j++)
					ret = emit_string(em, a->tags.v[j]);
				if (!ret)
					ret = emit_seq(em, false);
			}
			if (!ret)
				ret = emit_mapping_end(em);
			if (!ret && a->extra_output)
				ret = emit_kv(em, "extra_output", a->extra_output);
			if (!ret && a->suggested_output)
				ret = emit_kv(em, "suggested_output", "true");
			if (!ret && a->n_fields) {
				ret = emit_scalar(em, "extra_fields", YAML_PLAIN_SCALAR_STYLE);
				if (!ret)
					ret = emit_seq(em, true);
				for (size_t j = 0; j < a->n_fields && !ret; j++) {
					const struct saker_append_field *f = &a->fields[j];

					if (!f->value) {
						ret = emit_string(em, f->key);
						continue;
					}
					ret = emit_flow_map(em);
					if (!ret)
						ret = emit_string(em, f->key);
					if (!ret)
						ret = emit_string(em, f->value);
					if (!ret)
						ret = emit_mapping_end(em);
				}
				if (!ret)
					ret = emit_seq(em, false);
			}
			if (!ret)
				ret = emit_mapping_end(em);
		}
	}
	if (!ret)
		ret = emit_seq(em, false);
	return ret;
}

static int emit_value(yaml_emitter_t *em, const struct saker_config *cfg, const struct opt *o)
{
	const void *p = cslot(cfg, o);
	char buf[64];
	yaml_event_t ev;
	int ret = 0;

	switch (o->type) {
	case OPT_BOOL:
		return emit_scalar(em, *(const bool *)p ? "true" : "false",
				   YAML_PLAIN_SCALAR_STYLE);
	case OPT_U64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_DOUBLE:
		format_double(*(const double *)p, buf, sizeof(buf));
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_PRIO:
		/* "info" as etc/saker.yaml writes it, rather than "informational" */
		snprintf(buf, sizeof(buf), "%s",
			 *(const enum saker_prio *)p == SAKER_PRIO_INFO
			     ? "info"
			     : saker_prio_name(*(const enum saker_prio *)p));
		for (char *q = buf; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
	case OPT_STRING:
		return emit_string(em, *(char *const *)p);
	case OPT_ACTIONS:
	case OPT_STRLIST:
		ret = emit(em, &ev,
			   yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
								YAML_FLOW_SEQUENCE_STYLE));
		if (o->type == OPT_ACTIONS) {
			const struct saker_drops_config *d = p;

			for (size_t i = 0; i < d->n_actions && !ret; i++)
				ret = emit_scalar(em, saker_drop_action_name(d->actions[i]),
						  YAML_PLAIN_SCALAR_STYLE);
		} else {
			const struct saker_strlist *l = p;

			for (size_t i = 0; i < l->n && !ret; i++)
				ret = emit_string(em, l->v[i]);
		}
		if (!ret)
			ret = emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
		return ret;
	case OPT_RULESEL:
	case OPT_APPEND:
		return emit_records(em, o, p);
	case OPT_UNSUPPORTED:
		break;
	}
	return 0;
}

static int emit_name(yaml_emitter_t *em, const char *s, size_t len)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
	return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
}

#define MAX_DEPTH 4

/* Splits "a.b.c" into components; returns how many. */
static size_t split_key(const char *key, const char *comp[MAX_DEPTH], size_t clen[MAX_DEPTH])
{
	size_t n = 0;

	while (n < MAX_DEPTH) {
		const char *dot = strchr(key, '.');

		comp[n] = key;
		clen[n] = dot ? (size_t)(dot - key) : strlen(key);
		n++;
		if (!dot)
			break;
		key = dot + 1;
	}
	return n;
}

static int dump_body(yaml_emitter_t *em, const struct saker_config *cfg)
{
	const char *open[MAX_DEPTH], *comp[MAX_DEPTH];
	size_t openlen[MAX_DEPTH], clen[MAX_DEPTH];
	size_t depth = 0;
	int ret = emit_mapping_start(em);

	for (size_t i = 0; i < N_OPTS && !ret; i++) {
		const struct opt *o = &opts[i];
		size_t n, common = 0;

		if (o->type == OPT_UNSUPPORTED)
			continue;
		n = split_key(o->key, comp, clen);
		while (common < depth && common < n - 1 && openlen[common] == clen[common] &&
		       memcmp(open[common], comp[common], clen[common]) == 0)
			common++;
		for (; depth > common && !ret; depth--)
			ret = emit_mapping_end(em);
		for (; depth < n - 1 && !ret; depth++) {
			open[depth] = comp[depth];
			openlen[depth] = clen[depth];
			ret = emit_name(em, comp[depth], clen[depth]);
			if (!ret)
				ret = emit_mapping_start(em);
		}
		if (!ret)
			ret = emit_name(em, comp[n - 1], clen[n - 1]);
		if (!ret)
			ret = emit_value(em, cfg, o);
	}
	for (; depth > 0 && !ret; depth--)
		ret = emit_mapping_end(em);
	if (!ret)
		ret = emit_mapping_end(em);
	return ret;
}

int saker_config_dump(const struct saker_config *cfg, FILE *out)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int ret;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output_file(&em, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1); /* never fold long strings */
	yaml_emitter_set_indent(&em, 2);
	ret = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	if (!ret)
		ret =
		    emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	if (!ret)
		ret = dump_body(&em, cfg);
	if (!ret)
		ret = emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1));
	if (!ret)
		ret = emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
	if (!ret && !yaml_emitter_flush(&em))
		ret = -EIO;
	yaml_emitter_delete(&em);
	if (!ret && fflush(out))
		ret = -errno;
	return ret;
}
