/*
 * One run of saker as the modes share it: the modules it wires (struct
 * saker_app) and what more than one mode does with them (app/run.c). The
 * modes: app.c (validate, report, live), replay.c; reload.c changes a live
 * run. Nothing here calls into a mode.
 */
#ifndef SAKER_RUN_H
#define SAKER_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "app/canary.h"
#include "app/fleetpub.h"
#include "lib/loop.h"
#include "observe/observe.h"
#include "app/pipeline.h"
#include "app/ruleset.h"
#include "capture/stats.h"
#include "capture/syscalls.h"
#include "config/config.h"
#include "drops/drops.h"
#include "lib/log.h"
#include "outputs/dump.h"

struct saker_outputs;
struct saker_capture;
struct saker_taskiter;
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
	struct saker_taskiter *taskiter; /* NULL: the /proc helper reads others' links */
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
	struct saker_observe *observe;	    /* web server, metrics snapshots, ring occupancy */
	struct saker_attrib *attrib;	    /* who produced and lost events, per window */
	struct saker_ledger *ledger;	    /* NULL = syscall_event_drops.ledger off */
	struct saker_resync *resync;	    /* repair of the view after lifecycle loss */
	uint64_t resync_full_scans;	    /* completed rescans already logged */
	struct saker_record *record;	    /* -w FILE, NULL without */
	struct saker_canary_run canary;	    /* capture_canary: the child and its verdicts */
	struct saker_selection_guard guard; /* the probe's settings as saker set them */
	struct saker_fleetpub fleetpub; /* the fleet's records to nats_output (app/fleetpub.h) */
	/* engine.kind replay: the counters in place of the capture's (app/replay.h) */
	const struct saker_capture_stats *replay_stats;
	int sfd;
	int exit_status;
};

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

/*
 * The record's way through: the dump sink on stdout (--dump), the pipeline
 * over the view, the rules. The reason of a failure in err.
 */
int saker_app_wire_pipeline(struct saker_app *app, char *err, size_t errlen);

/* What a metrics collection reads (observe/observe.h): the same at every tick and at exit. */
struct saker_observe_src saker_app_observe_src(const struct saker_app *app, uint64_t now_ns,
					       bool exact);

/* The one clean-up of every mode; each part may be unset. Frees app. */
void saker_app_free(struct saker_app *app);

#endif
