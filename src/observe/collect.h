/*
 * Collect: fills a metrics collection (lib/metrics.h) from the modules'
 * public stats. It takes its inputs as plain structs, not the app, so any
 * loop (the shutdown summary, the web snapshot, the metrics interval, tests)
 * can call it with what it has; a NULL input leaves its metrics out.
 *
 * Counter semantics are Falco's (capture/stats.c): events_total is n_evts,
 * every event the probe tried to emit, so once the rings are drained
 * events_total == events_delivered_total + sum(drops_total).
 * docs/metrics.md lists every name.
 */
#ifndef SAKER_COLLECT_H
#define SAKER_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"
#include "capture/stats.h"
#include "config/config.h"
#include "drops/drops.h"
#include "lib/metrics.h"
#include "outputs/outputs.h"
#include "state/view.h"

/* saker's own process. */
struct saker_collect_self {
	double cpu_user_seconds;
	double cpu_system_seconds;
	uint64_t rss_bytes;
	double start_time_seconds; /* since the Unix epoch */
};

/* One ring buffer, as the consumer sees it. */
struct saker_collect_ring {
	unsigned lane; /* enum saker_lane */
	uint64_t size_bytes;
	uint64_t events; /* taken from the ring (delivered or lost in user space) */
	uint64_t bytes;	 /* ring bytes consumed */
	/* bytes in use at the fullest moment of the last window; only when has_high_water */
	bool has_high_water;
	uint64_t high_water_bytes;
	bool saturated; /* every drain of the last window stopped at its budget (with
			   has_high_water) */
};

/* One BPF program's kernel statistics (bpf_prog_info run_cnt, run_time_ns). */
struct saker_collect_prog {
	const char *name;
	uint64_t run_cnt;
	uint64_t run_time_ns;
};

/* The rules in the pipeline (app/ruleset.h). */
struct saker_collect_rules {
	uint64_t loaded, not_loaded; /* rules compiled and matched; skipped or disabled */
	uint64_t events;	     /* events tested against the rules */
	uint64_t evals;		     /* rule evaluations */
	uint64_t engine_matches;     /* matches the engine counted */
	uint64_t matches;	     /* matches the pipeline saw */
	uint64_t alerts;	     /* ... whose alert an output took (or filtered by priority) */
	uint64_t alerts_refused;     /* ... no output channel took */
	uint64_t errors;	     /* evaluations that failed */
	uint64_t alerts_degraded;    /* matches raised on a possibly stale view */
	uint64_t reloads;	     /* SIGHUP rule reloads that took effect */
	uint64_t reload_failures;    /* ... that failed (the previous rules kept) */
};

struct saker_collect_in {
	const struct saker_capture_stats *capture; /* summed over CPUs */
	/* Per-CPU kernel counters and the ring each CPU writes to (both n_cpus long). */
	const struct saker_kcounters *percpu;
	const unsigned *cpu_ring;
	size_t n_cpus;
	const struct saker_collect_ring *rings;
	size_t n_rings;
	const struct saker_drops *drops;
	const struct saker_view_stats *view;
	const struct saker_outputs_stats *outputs;
	const struct saker_collect_rules *rules;
	const struct saker_collect_self *self;
	/* BPF programs: stats_enabled says whether the kernel counts (kernel.bpf_stats_enabled). */
	const struct saker_collect_prog *progs;
	size_t n_progs;
	bool bpf_stats_enabled;
	const char *version; /* build_info{version=...}; NULL leaves it out */
};

/*
 * Appends every metric of in to m (call saker_metrics_reset first for a
 * fresh snapshot). 0, -ENOMEM or -EINVAL (a programming error: a bad name).
 */
int saker_collect(struct saker_metrics *m, const struct saker_collect_in *in);

/*
 * What collect needs from a live capture, read in one go into buffers held
 * here (about 60 KiB: allocate it, do not put it on the stack).
 */
#define SAKER_COLLECT_MAX_PROGS 16
struct saker_collect_capture {
	struct saker_capture_stats stats;
	struct saker_kcounters percpu[SAKER_MAX_CPUS];
	unsigned cpu_ring[SAKER_MAX_CPUS];
	size_t n_cpus;
	struct saker_collect_ring rings[SAKER_MAX_RINGS];
	size_t n_rings;
	struct saker_capture_prog_stats prog_stats[SAKER_COLLECT_MAX_PROGS];
	struct saker_collect_prog progs[SAKER_COLLECT_MAX_PROGS];
	size_t n_progs;
	bool bpf_stats_enabled;
};
/* 0 or the first negative errno (what could be read is kept). */
int saker_collect_read_capture(struct saker_collect_capture *cc, struct saker_capture *cap);
/* Points in's capture inputs at cc (cc must outlive in). */
void saker_collect_in_capture(struct saker_collect_in *in, const struct saker_collect_capture *cc);

/* Reads saker's own CPU time (getrusage), RSS and start time (/proc/self). */
int saker_collect_self_read(struct saker_collect_self *s);

/*
 * Falco's metrics.* family switches (docs/metrics.md): which families
 * /metrics and the metrics snapshot show. The shutdown summary and
 * --metrics-json show every family. Families outside these groups (the drop
 * check, outputs, --dump, attribution, ledger, resync, build_info,
 * accounting_exact) are always shown, as Falco's base fields are.
 */
struct saker_collect_select {
	bool kernel;  /* kernel_event_counters_enabled: events_*, drops_total, page_faults_*, ring_*
		       */
	bool per_cpu; /* kernel_event_counters_per_cpu_enabled: cpu_* */
	bool bpf;     /* libbpf_stats_enabled: bpf_* */
	bool state;   /* state_counters_enabled: proc_table_*, fd_table_*, state_* */
	bool resource; /* resource_utilization_enabled: process_* */
	bool rules;    /* rules_counters_enabled: rules_* */
};
/* The switches as cfg sets them (read whether or not metrics.enabled is). */
void saker_collect_select_init(struct saker_collect_select *sel, const struct saker_config *cfg);
/* Whether sel shows s's family. */
bool saker_collect_selected(const struct saker_collect_select *sel, const struct saker_metric *s);
/* Appends to dst the samples of src that sel shows. 0 or -ENOMEM. */
int saker_collect_select_copy(struct saker_metrics *dst, const struct saker_metrics *src,
			      const struct saker_collect_select *sel);

/* The drop ratio of the last drop-check window: drops / events, 1 if drops without events. */
double saker_collect_drop_ratio(uint64_t drops, uint64_t evts);

#endif
