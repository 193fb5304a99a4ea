/*
 * The key table: one row per configuration key gives its type, default,
 * bounds, extra check and when a change applies. Everything else (loading,
 * -o, --dry-run, copying, comparing, freeing) walks this table, so adding a
 * key is one row here (and its field in struct saker_config).
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "config/config_int.h"
#include "lib/sysnames.h"

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
	cfg_msg_key(q, sizeof(q), name);
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
const struct opt cfg_opts[] = {
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
    STR("run_as_user", run_as_user, NULL, NULL, .apply = SAKER_CONFIG_RESTART),

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
    BOOL("engine.modern_ebpf.disable_iterators", engine.modern_ebpf.disable_iterators, false,
	 .apply = SAKER_CONFIG_RESTART),
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
    UNSUPPORTED("metrics.kernel_iter_event_counters_enabled"),
    UNSUPPORTED("metadata_download"),
};

const size_t cfg_n_opts = sizeof(cfg_opts) / sizeof(cfg_opts[0]);
