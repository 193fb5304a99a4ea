/*
 * Configuration: Falco-compatible YAML keys, read with libyaml, table-driven
 * (one row per key with its type, bounds and default), then `-o key=value`
 * overrides applied in order. Errors are reported as "file:line:col: what".
 */
#ifndef SAKER_CONFIG_H
#define SAKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/prio.h"
#include "lib/report.h"

enum saker_drop_action {
	SAKER_DROP_ACT_IGNORE = 0,
	SAKER_DROP_ACT_LOG,
	SAKER_DROP_ACT_ALERT,
	SAKER_DROP_ACT_EXIT,
	/* Repair, not a report: runs on lifecycle loss whatever the threshold and the bucket say.
	 */
	SAKER_DROP_ACT_RESYNC,
};
#define SAKER_MAX_DROP_ACTIONS 8

struct saker_drops_config {
	double threshold; /* [0,1]; default 0 */
	enum saker_drop_action actions[SAKER_MAX_DROP_ACTIONS];
	size_t n_actions; /* 0 = ignore */
	double rate;	  /* tokens per second, default .03333 */
	double max_burst; /* default 10 */
	bool simulate_drops;
	enum saker_prio priority; /* default Critical */
	double degraded_window;	  /* seconds the view stays degraded after a loss, default 10 */
};

struct saker_strlist {
	char **v;
	size_t n;
};

/* One extra_fields item of append_output: a field name, or key: value (a format). */
struct saker_append_field {
	char *key;
	char *value; /* NULL: key is a field name */
};

/* Falco's append_output entry (docs/config.md); NULL/empty match keys match any rule. */
struct saker_append {
	char *source, *rule;
	struct saker_strlist tags; /* the rule must have all of them */
	char *extra_output;	   /* NULL: none */
	/* Falco's suggested output fields (its container plugin's): container.id, container.name */
	bool suggested_output;
	struct saker_append_field *fields;
	size_t n_fields;
};

/* Falco's `rules:` selection item: enable or disable by name (glob) and/or by tag. */
struct saker_rule_sel {
	bool enable;
	char *rule; /* NULL: none; * and ? are wildcards */
	char *tag;  /* NULL: none */
};

struct saker_config {
	struct saker_drops_config drops; /* syscall_event_drops.* */
	char *drops_ledger;		 /* syscall_event_drops.ledger; NULL = off */

	enum saker_prio log_level; /* default info */
	bool log_stderr;	   /* default true */
	bool log_syslog;	   /* default false */

	enum saker_prio priority; /* minimum alert priority emitted, default debug */
	/* Rules files or directories, in order; none = the embedded default ruleset. */
	struct saker_strlist rules_files;
	struct saker_strlist rules_file; /* the older key; used when rules_files is empty */
	char *rule_matching;		 /* "first" (default) or "all" */
	struct {
		struct saker_rule_sel *v;
		size_t n;
	} rules; /* applied in order after loading */
	struct {
		struct saker_append *v;
		size_t n;
	} append_output;
	bool json_output;
	bool json_include_output_property; /* default true */
	bool json_include_tags_property;   /* default true */
	bool time_format_iso_8601;
	bool buffered_outputs;		 /* default false */
	uint64_t outputs_queue_capacity; /* 0 = default bound (see outputs.h) */

	struct {
		bool enabled; /* default true */
	} stdout_output;
	struct {
		bool enabled;
	} syslog_output;
	struct {
		bool enabled;
		bool keep_alive;
		char *filename;
	} file_output;
	struct {
		bool enabled;
		bool keep_alive;
		char *program;
		char *user; /* the program runs as this user; default "nobody" */
	} program_output;
	/* After attaching, saker's own process switches to this user ("" or NULL: stays root). */
	char *run_as_user;
	/* Also the http channel's settings (outputs/output_http.h). */
	struct saker_config_http {
		bool enabled;
		char *url;
		char *user_agent;
		bool insecure;
		char *ca_cert;
		char *ca_bundle;
		char *ca_path;
		bool mtls;
		char *client_cert;
		char *client_key;
		bool echo;
		bool compress_uploads;
		bool keep_alive;
		uint64_t max_consecutive_timeouts;
	} http_output;
	/* NATS JetStream (docs/outputs.md); read at start, a SIGHUP that changes it warns. */
	struct {
		bool enabled;
		struct saker_strlist servers; /* empty: nats://127.0.0.1:4222 */
		char *subject_prefix;	      /* default "saker" */
		char *stream;		      /* default "SAKER" */
		uint64_t stream_replicas;     /* 1..5, default 1 */
		char *spool_dir;	      /* default /var/lib/saker/spool */
		uint64_t spool_max_bytes;     /* default 256 MiB */
		char *creds_file;
		char *ca_file;
		char *cert_file;
		char *key_file;
	} nats_output;

	struct {
		char *kind; /* "modern_ebpf" (the probe) or "replay" (a capture file) */
		struct {
			char *capture_file; /* engine.kind replay: what saker -w wrote */
		} replay;
		struct {
			uint64_t buf_size_preset; /* 1..10, default 4 (8 MiB) */
			uint64_t buf_size;	  /* bytes, power of two >= page; 0 = use preset */
			uint64_t cpus_for_each_buffer; /* 0 = one buffer for all CPUs; default 2 */
			bool disable_iterators; /* /proc (and its helper) instead of task iterators
						 */
		} modern_ebpf;
	} engine;

	struct {
		struct saker_strlist custom_set; /* names, "!name" removes */
		bool all;
		bool repair; /* with custom_set: add back the state set the view needs */
	} base_syscalls;

	/*
	 * The protected lane (docs/architecture.md, kernel side): lane-1 ring
	 * size, which syscalls it carries besides the table's CRITICAL rows
	 * (replace: instead of them; "!name" removes one), and the admission
	 * budget per process, per uid within a container (cgroup, uid) and per
	 * container (cgroup) (events per second and burst; rate 0 = no budget,
	 * uid_rate 0 = no per-uid bucket, cgroup_rate 0 = no per-cgroup one).
	 */
	struct {
		uint64_t buf_size; /* bytes, power of two; default 256 KiB */
		struct saker_strlist syscalls;
		bool replace;
		uint64_t rate, burst;		    /* default 2000/s, 4000 */
		uint64_t uid_rate, uid_burst;	    /* per (cgroup, uid); default 8000/s, 16000 */
		uint64_t cgroup_rate, cgroup_burst; /* per cgroup; default 16000/s, 32000 */
	} protected_lane;

	/* By how much saker lowers its nice value at start (auditd's key); 0 = not. Default 10. */
	uint64_t priority_boost;

	/*
	 * The capture canary (docs/drops.md): a child saker owns makes a marked
	 * syscall every interval_ms; a marker that vanishes uncounted = blind.
	 */
	struct {
		bool enabled;	      /* default true */
		uint64_t interval_ms; /* default 1000 */
	} capture_canary;

	/* Bounds of the process and fd tables (docs/state.md); 0 = built-in default. */
	struct {
		uint64_t max_procs;
		uint64_t max_fds;
		uint64_t max_fds_per_proc;
	} state;

	/*
	 * Container metadata from the runtimes' files (docs/containers.md): Falco's
	 * container plugin's engine names; root replaces its sockets. Read at start.
	 */
	struct {
		uint64_t max_containers; /* cache bound; 0 = 4096 */
		struct {
			bool enabled;
			char *root; /* NULL = the runtime's default */
		} docker, podman, containerd, cri;
	} container_engines;

	/* Falco's webserver keys (docs/metrics.md); read at start only. */
	struct {
		bool enabled;		    /* default false */
		uint64_t threadiness;	    /* server threads; 0 = 1 */
		char *listen_address;	    /* default 127.0.0.1 (Falco: 0.0.0.0) */
		uint64_t listen_port;	    /* default 8765; 0 = any free port */
		char *k8s_healthz_endpoint; /* default /healthz */
		bool prometheus_metrics_enabled;
		bool ssl_enabled;
		char *ssl_certificate; /* PEM holding the key and the certificate */
	} webserver;
	/* Falco's metrics keys: a snapshot every interval as an alert and/or a JSON line. */
	struct {
		bool enabled;
		char *interval; /* Prometheus duration, default 1h; saker_config_duration_ms */
		bool output_rule;
		char *output_file;
		/* which families the snapshot holds (Falco's names; see docs/metrics.md) */
		bool rules_counters_enabled;
		bool resource_utilization_enabled;
		bool state_counters_enabled;
		bool kernel_event_counters_enabled;
		bool kernel_event_counters_per_cpu_enabled;
		bool libbpf_stats_enabled;
		bool plugins_metrics_enabled;
		bool jemalloc_stats_enabled;
		bool convert_memory_to_mb;
		bool include_empty_values;
	} metrics;
};

/* When a changed key takes effect (the reload column of the key table). */
enum saker_config_apply {
	SAKER_CONFIG_LIVE = 0, /* applied by SIGHUP */
	SAKER_CONFIG_RESTART,  /* read once at start: a SIGHUP that changes it warns */
};

/* The configuration embedded in the binary (etc/saker.yaml at build time). */
extern const char saker_default_config_yaml[];

/*
 * Fills every key with its built-in default (docs/config.md). String keys are
 * NULL when unset or set to "" (file_output.filename, program_output.program,
 * http_output.url, ... start NULL; etc/saker.yaml sets filename and program).
 */
void saker_config_init(struct saker_config *cfg);
/* Frees strings and lists and leaves them NULL/empty; accepts NULL. */
void saker_config_free(struct saker_config *cfg);
/* Deep copy into an uninitialised dst; 0 or -ENOMEM (dst then holds nothing to free). */
int saker_config_copy(struct saker_config *dst, const struct saker_config *src);
/* Every key equal (strings by content). */
bool saker_config_equal(const struct saker_config *a, const struct saker_config *b);
/*
 * Key by key, in table order: fn (may be NULL) is called for every key whose
 * value differs between a and b, with when it takes effect. Returns how many differ.
 */
typedef void (*saker_config_diff_fn)(void *ctx, const char *key, enum saker_config_apply when);
size_t saker_config_diff(const struct saker_config *a, const struct saker_config *b,
			 saker_config_diff_fn fn, void *ctx);
/* The reload rule of one dotted key: 0, or -ENOENT for a key the table does not have. */
int saker_config_key_apply(const char *key, enum saker_config_apply *when);

/*
 * Applies a YAML document on top of cfg. `name` is used in messages
 * ("name:line:col: ..."). On error returns a negative errno and writes one
 * line (no trailing newline) into err. Unknown keys are warned about through
 * warn (may be NULL), never fatal. Atomic: on error cfg is left unchanged.
 */
int saker_config_load_buffer(struct saker_config *cfg, const char *name, const char *yaml,
			     size_t len, char *err, size_t errlen, saker_report_fn warn,
			     void *warn_ctx);
int saker_config_load_file(struct saker_config *cfg, const char *path, char *err, size_t errlen,
			   saker_report_fn warn, void *warn_ctx);

/*
 * Applies one "-o key=value": dotted key, value parsed as YAML ("[a, b]" is a
 * list, "{...}" a mapping), "key[]=v" appends to a list. A value that is not
 * valid YAML and does not start with [ { " ' is taken literally as a string.
 * Atomic like saker_config_load_buffer.
 */
int saker_config_override(struct saker_config *cfg, const char *key_eq_value, char *err,
			  size_t errlen, saker_report_fn warn, void *warn_ctx);

/* Cross-key checks (an output enabled, file_output has a filename, ...). */
int saker_config_validate(const struct saker_config *cfg, char *err, size_t errlen);

/* Replaces a list's items with copies of v[0..n-1]: 0 or -ENOMEM (l unchanged). */
int saker_config_set_strlist(struct saker_strlist *l, char *const *v, size_t n);

/* Effective configuration as YAML (for --dry-run); loads back to an equal config. */
int saker_config_dump(const struct saker_config *cfg, FILE *out);

/* A Prometheus duration ("1h", "1m30s", "500ms") in ms: 0, -EINVAL or -ERANGE. */
int saker_config_duration_ms(const char *s, uint64_t *ms);

/* Bytes of buf_size_preset 1..10 (1 MiB * 2^(preset-1); clamped). */
uint64_t saker_config_preset_bytes(uint64_t preset);
/* Ring size in bytes from buf_size or buf_size_preset. */
uint64_t saker_config_ring_bytes(const struct saker_config *cfg);

const char *saker_drop_action_name(enum saker_drop_action a);

#endif
