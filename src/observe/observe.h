/*
 * Observe: what the loop does once per tick for the outside world. It
 * closes the rings' occupancy window (high-water marks, sizing advice for
 * the drop check), collects the metrics, publishes them to the web server
 * (webserver.*), and at every metrics.interval emits the "Saker internal:
 * metrics snapshot" alert and/or appends one JSON line to
 * metrics.output_file. Everything here is bounded and never blocks on a
 * client: the web server only reads the published snapshot.
 *
 * The observe layer sits between web (which it starts and publishes to)
 * and app: it knows the app's parts (the pipeline, the rules, the canary)
 * only as the plain figures in struct saker_observe_src,
 * which app/ fills (app/run.c saker_app_observe_src).
 *
 * Called from the loop's one-second timer, in this order:
 *   saker_observe_window(o, cap, &drops);   before saker_drops_check
 *   saker_drops_check(...);
 *   saker_observe_tick(o, &src);            after it
 */
#ifndef SAKER_OBSERVE_H
#define SAKER_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"
#include "config/config.h"
#include "drops/canary.h"
#include "drops/drops.h"
#include "drops/ledger.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "observe/collect.h"
#include "outputs/dump.h"
#include "outputs/outputs.h"
#include "state/view.h"

struct saker_observe;

/* Starts the web server when webserver.enabled. 0, or a negative errno and a reason in err. */
int saker_observe_start(struct saker_observe **out, const struct saker_config *cfg,
			const char *version, const struct saker_log *log, char *err, size_t errlen);
/* The web server's port (0 when it does not run). */
uint16_t saker_observe_web_port(const struct saker_observe *o);

/* Ends the rings' occupancy window and hands it to the drop check. */
void saker_observe_window(struct saker_observe *o, struct saker_capture *cap,
			  struct saker_drops *drops);

/* The capture canary's figures (drops/canary_child.h), as its metrics show them. */
struct saker_observe_canary {
	const struct saker_canary *v; /* the verdicts; NULL: no canary metrics */
	bool up;		      /* the canary's process runs and answers */
	bool blind;		      /* capture is blind: a marker vanished uncounted */
	bool sel_changed;	      /* the selection was changed from outside lately */
	uint64_t n_sel_changes;	      /* drop checks that found it changed */
	uint64_t n_events;	      /* the canary's events the pipeline saw */
	uint64_t own_lost_total;      /* ... the probe counted lost */
};

struct saker_attrib;
struct saker_record;
struct saker_resync;

/* The pipeline's figures (app/pipeline.h); without on, their families are left out. */
struct saker_observe_pipe {
	bool on;
	const struct saker_dump_sink *sink; /* --dump's, NULL without */
	const struct saker_attrib *attrib;
	const struct saker_resync *resync;
	uint64_t state_errors;	     /* events the view could not apply */
	struct saker_record *record; /* -w FILE (capture/record.h), NULL without */
};

/* What a collection reads; a NULL part leaves its families out. */
struct saker_observe_src {
	struct saker_capture *cap;
	const struct saker_drops *drops;
	const struct saker_view *view;
	struct saker_outputs *outputs;
	const struct saker_ledger *ledger; /* with pipe.on */
	struct saker_observe_pipe pipe;
	/* the rules in the pipeline (app/ruleset.h); without has_rules their families are left out
	 */
	bool has_rules;
	struct saker_collect_rules rules;
	struct saker_observe_canary canary;
	/* what the loop knows is wrong, as /healthz says it ("" = nothing; app/canary.c) */
	char problem[256];
	/* a replay's counters, used instead of reading cap (NULL: read cap) */
	const struct saker_capture_stats *stats;
	bool exact; /* the rings were drained after detach (accounting_exact) */
	uint64_t now_mono_ns;
	uint64_t now_real_ns;
};
/*
 * Collects once and publishes that collection to the web server (/metrics)
 * and, when its interval has come, to the metrics snapshot.
 */
void saker_observe_tick(struct saker_observe *o, const struct saker_observe_src *src);
/*
 * Fills m (reset first) with every metric of src: the one collection that
 * /metrics, the snapshot, the summary and --metrics-json render (each
 * selecting as docs/metrics.md says). o may be NULL (no build_info then).
 * 0 or a negative errno (what could be collected is kept).
 */
int saker_observe_collect(struct saker_observe *o, const struct saker_observe_src *src,
			  struct saker_metrics *m);

/*
 * At shutdown, after the last drain: collects into m (for the summary) and
 * writes that collection as the last line of metrics.output_file (if set).
 * o may be NULL. 0 or a negative errno, as saker_observe_collect.
 */
int saker_observe_final(struct saker_observe *o, const struct saker_observe_src *src,
			struct saker_metrics *m);

/* Stops the web server, closes the metrics file, frees. NULL ok. */
void saker_observe_stop(struct saker_observe *o);

#endif
