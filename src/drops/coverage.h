/*
 * The coverage record (docs/fleet.md): one JSON document per host per
 * drop-check window, quiet windows included, so that a fleet tells a host
 * that lost nothing from a host that said nothing. It is the drop check's
 * window (saker_drops_actions.window) as the ledger sees it, with who the
 * host is and saker's own health; nothing in it is computed again here.
 * Independent of the transport: the caller publishes the text.
 */
#ifndef SAKER_COVERAGE_H
#define SAKER_COVERAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "drops/drops.h"
#include "lib/sbuf.h"

#define SAKER_COVERAGE_VERSION 1

/* Who emits it. */
struct saker_coverage_id {
	const char *host;   /* the host's name as its subjects carry it */
	const char *run_id; /* this run of saker (a restart is a new run) */
	uint64_t seq;	    /* the window's number in the run, from 1 */
};

/* saker's own health at the check; the counts are since the start of the run. */
struct saker_coverage_health {
	const char *problem;	/* what /healthz would fail with; NULL or "": healthy */
	uint64_t drain_age_ms;	/* since the loop last drained the rings (its lag) */
	uint64_t alerts_lost;	/* alerts lost on the way out: queues full, channel failures */
	uint64_t dump_lost;	/* --dump records lost */
	uint64_t ledger_errors; /* ledger lines that could not be written */
};

/* The record, without a newline, appended to b. */
void saker_coverage_format(struct saker_sbuf *b, const struct saker_coverage_id *id,
			   const struct saker_drops_window *w,
			   const struct saker_coverage_health *h);

#endif
