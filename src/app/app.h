/*
 * saker as a whole: the modules of one run and how they are wired (set-up,
 * the loop's callbacks, shutdown). main.c only reads the command line into
 * struct saker_app_opts and calls saker_app_run(). The other app modules
 * (loop, pipeline, reload, summary) see the run through this struct.
 */
#ifndef SAKER_APP_H
#define SAKER_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/canary.h"
#include "app/loop.h"
#include "app/pipeline.h"
#include "app/ruleset.h"
#include "capture/stats.h"
#include "capture/syscalls.h"
#include "config/config.h"
#include "drops/drops.h"
#include "lib/log.h"
#include "outputs/dump.h"

#ifndef SAKER_VERSION
#define SAKER_VERSION "0.1.0"
#endif

#define SAKER_EXIT_FATAL 1

/* What the command line asked for (the configuration is re-read from it on SIGHUP). */
struct saker_app_opts {
	const char *config_path; /* NULL = the embedded saker.yaml */
	char **overrides;	 /* -o KEY=VALUE, in order */
	size_t n_overrides;
	bool unbuffered;	  /* -U */
	bool dump;		  /* --dump */
	bool dry_run;		  /* --dry-run */
	const char *metrics_json; /* --metrics-json FILE: the final metrics as one JSON object */
	char **rules_paths;	  /* -r FILE|DIR, in order: replace rules_files */
	size_t n_rules_paths;
	char **validate_paths; /* -V FILE: validate these rules files and exit */
	size_t n_validate_paths;
	bool list_rules;	/* -L */
	const char *write_path; /* -w FILE: record the ring records (app/record.h) */
};

struct saker_outputs;
struct saker_capture;
struct saker_view;

struct saker_observe;
struct saker_attrib;
struct saker_ledger;
struct saker_resync;
struct saker_record;

/* Where start-up time goes: wall and CPU time at the end of each phase (debug log). */
enum saker_startup_phase {
	SAKER_START_BEGIN,
	SAKER_START_CONFIG,
	SAKER_START_RULES,
	SAKER_START_PROBE, /* BPF object load (the verifier), maps, attach */
	SAKER_START_PRIVS,
	SAKER_START_SCAN, /* seeding the process and fd tables from /proc */
	SAKER_START_REST, /* outputs, loop, web server: until "started" */
	SAKER_START_MAX,
};

struct saker_startup_marks {
	uint64_t wall[SAKER_START_MAX];
	uint64_t cpu[SAKER_START_MAX];
};

struct saker_app {
	struct saker_app_opts opts;
	struct saker_startup_marks startup;
	struct saker_config cfg;      /* as at start: what restart-only keys are running with */
	struct saker_config live_cfg; /* the latest accepted (start, then each SIGHUP) */
	struct saker_log log;
	struct saker_outputs *outputs;
	struct saker_capture *cap;
	struct saker_view *view;
	struct saker_drops drops;
	struct saker_dump dump;
	struct saker_dump_sink sink;
	bool sink_open;
	bool sink_watched;     /* stdout is in the loop's epoll set */
	bool sink_want_out;    /* ... watched for EPOLLOUT (lines pending) */
	bool drain_failed;     /* a ring read failed (logged once) */
	bool proc_loss_failed; /* reading the per-process losses failed (logged once) */
	struct saker_pipeline pipe;
	struct saker_ruleset rules;
	uint8_t rules_sel[SAKER_SYSCALL_MAX]; /* what the loaded rules need (base_syscalls) */
	bool rules_all;			      /* a loaded rule needs every syscall */
	struct saker_loop *loop;
	struct saker_observe *observe;	/* web server, metrics snapshots, ring occupancy */
	struct saker_attrib *attrib;	/* who produced and lost events, per window */
	struct saker_ledger *ledger;	/* NULL = syscall_event_drops.ledger off */
	struct saker_resync *resync;	/* repair of the view after lifecycle loss */
	uint64_t resync_full_scans;	/* completed rescans already logged */
	struct saker_record *record;	/* -w FILE, NULL without */
	struct saker_canary_run canary; /* capture_canary: the child and its verdicts */
	/* engine.kind replay: the counters in place of the capture's (app/replay.h) */
	const struct saker_capture_stats *replay_stats;
	int sfd;
	int exit_status;
};

/* Runs saker as opts says; returns the process exit status. */
int saker_app_run(const struct saker_app_opts *opts);

/* The ledger at path (NULL: none); the reason of a failure, prefixed with the key, in err. */
int saker_app_open_ledger(const char *path, struct saker_ledger **out, char *err, size_t errlen);

/*
 * The final figures: collected (capture's counters, or replay_stats), the
 * summary on stderr, --metrics-json. After the consumers have finished.
 */
void saker_app_summarize(struct saker_app *app, bool exact);

/*
 * ctx is the app: one line to its log; one alert to its outputs (a refused one
 * is counted there). The drop check's callbacks, live and in a replay.
 */
void saker_app_alert_cb(void *ctx, const struct saker_alert *alert);

/* The logger's settings from a configuration. */
void saker_app_log_from_config(struct saker_log *log, const struct saker_config *cfg);

#endif
