/*
 * Repair of the process and fd tables after lost lifecycle events (the
 * `resync` drop action). A request arms it for the loss window: every
 * process seen in an event from then on is reloaded from /proc once
 * (targeted), because its fork, exec or exit may have been lost; a heavy
 * loss also asks for a full rescan: every /proc process reloaded, then every
 * thread the table holds that /proc no longer has removed (its exit was
 * lost).
 *
 * Nothing of it runs on the event path but a lookup while armed:
 * saker_resync_run(), called from the loop, does the reading, at most
 * slice_ns of it per period_ns, resuming where it stopped, so a rescan never
 * stalls the rings. Single-threaded, on the view's tables.
 */
#ifndef SAKER_RESYNC_H
#define SAKER_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "lib/metrics.h"

struct saker_view;
struct saker_resync;

#define SAKER_RESYNC_DEFAULT_SLICE_NS	 1000000ull  /* 1 ms of /proc reading ... */
#define SAKER_RESYNC_DEFAULT_PERIOD_NS	 20000000ull /* ... per 20 ms at most (5 % of a core) */
#define SAKER_RESYNC_DEFAULT_MAX_PENDING 1024	     /* queued targeted loads; past it, full */

struct saker_resync_opts {
	uint64_t slice_ns;     /* 0 = default */
	uint64_t period_ns;    /* 0 = default */
	size_t max_pending;    /* 0 = default */
	const char *proc_root; /* NULL = "/proc" (the view's tables read the view's own) */
};

/* Counters (monotonic, metrics-ready) and what is going on now. */
struct saker_resync_stats {
	uint64_t requests;	     /* saker_resync_request() calls */
	uint64_t full_requests;	     /* of which asked for a full rescan */
	uint64_t queued;	     /* processes queued for a targeted reload after being seen */
	uint64_t overflows;	     /* queue full: turned into a full rescan */
	uint64_t loaded;	     /* processes reloaded from /proc (targeted and full) */
	uint64_t gone;		     /* processes to reload that had exited meanwhile */
	uint64_t pruned;	     /* threads removed because /proc no longer has them */
	uint64_t full_scans;	     /* full rescans completed */
	uint64_t containers_learned; /* a reloaded process's container, unknown until then */
	uint64_t
	    containers_refreshed; /* a known container's metadata read again (once a request) */
	uint64_t runs;		  /* saker_resync_run() calls that did work */
	uint64_t ns;		  /* CLOCK_MONOTONIC time spent reading /proc */
	uint64_t last_full_ns;	  /* time the last completed full rescan took, slices summed */
	uint64_t last_full_pids;  /* processes it read */
	bool armed;		  /* seen processes are being queued */
	bool busy;		  /* work left */
};

int saker_resync_new(struct saker_resync **out, struct saker_view *view,
		     const struct saker_resync_opts *o);
void saker_resync_free(struct saker_resync *r); /* NULL ok */

/*
 * Lifecycle events were lost in [since_ns, until_ns] (boot time; until
 * includes how long to keep watching). full: also rescan all of /proc.
 */
void saker_resync_request(struct saker_resync *r, uint64_t since_ns, uint64_t until_ns, bool full);
/* The event path (after the view applied the record): cheap, a lookup only while armed. */
void saker_resync_note(struct saker_resync *r, const struct saker_evt_hdr *e);
/*
 * Does up to slice_ns of reading if period_ns passed since the last run
 * (mono_ns: CLOCK_MONOTONIC now); boot_ns (CLOCK_BOOTTIME now) ends the
 * armed window. True while work is left.
 */
bool saker_resync_run(struct saker_resync *r, uint64_t mono_ns, uint64_t boot_ns);

void saker_resync_get_stats(const struct saker_resync *r, struct saker_resync_stats *st);
/* The counters as metrics (resync_*_total, resync_seconds_total, resync_last_full_seconds). */
void saker_resync_add_metrics(const struct saker_resync *r, struct saker_metrics *m);

#endif
