/*
 * Where the view may be wrong because events were lost. A loss in a window
 * [since, until] (boot-time ns; until already extended by the configured
 * degraded window) marks one process, or every process when nobody can say
 * whose events were lost. An event at ts of a marked process is "degraded"
 * when since <= ts <= until: events older than the loss cannot have been
 * misled by it, and after the window the view is trusted again (repaired by
 * `resync` or by the events that followed).
 *
 * Bounded: past max_procs marked processes (expired ones are reclaimed
 * first), a mark falls back to marking every process, which over-reports
 * but never under-reports. Single-threaded.
 */
#ifndef SAKER_DEGRADED_H
#define SAKER_DEGRADED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/idmap.h"

#define SAKER_DEGRADED_DEFAULT_MAX 4096

struct saker_degraded {
	uint64_t all_since, all_until; /* every process; all_until == 0: none */
	struct saker_idmap procs;      /* pid -> struct of since/until */
	size_t max_procs;
	uint64_t marks;	    /* calls that marked something */
	uint64_t overflows; /* per-process marks turned into a mark of all */
};

void saker_degraded_init(struct saker_degraded *d, size_t max_procs);
void saker_degraded_fini(struct saker_degraded *d); /* NULL ok */

/* pid 0 = every process. since > until is ignored. */
void saker_degraded_mark(struct saker_degraded *d, uint32_t pid, uint64_t since_ns,
			 uint64_t until_ns);
bool saker_degraded_check(const struct saker_degraded *d, uint32_t pid, uint64_t ts_ns);

#endif
