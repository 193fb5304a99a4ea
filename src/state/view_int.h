/*
 * The view's insides (internal to state/), shared by its files:
 *   view.c        the view's life, its lookups (processes, fds, containers,
 *                 the record's context), paths, stats, loss and degraded marks
 *   view_apply.c  records applied to the tables, in the order they may come
 *                 in: fork/exec/exit with the hints that keep a late fork
 *                 from undoing them, fd and socket changes, cwd and ids
 */
#ifndef SAKER_VIEW_INT_H
#define SAKER_VIEW_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/ctrmatch.h"
#include "lib/idmap.h"
#include "state/degraded.h"
#include "state/view.h"

/*
 * Records arrive per ring, and a child's first records can be drained before
 * the parent's fork record (another CPU, another ring). An exec or exit of a
 * tid the table did not hold is remembered here with its time, so that a
 * fork record older than it does not overwrite the exec'd image or revive an
 * exited child. Hints only: the map is bounded by clearing it.
 */
#define PENDING_MAX 4096

struct saker_view {
	struct saker_proctable *procs;
	struct saker_fdtable *fds;  /* owned by procs */
	struct saker_idmap pending; /* tid -> (ts_ns | 1) as a pointer value */
	uint64_t events, malformed, applied, late_forks;
	uint64_t cur_ts; /* the record being applied: lookups see its process as of then */
	/* saker_view_context()'s last record without process context (degraded) */
	bool miss;
	uint32_t miss_pid;
	uint64_t miss_ts;
	/* a loss seen, not yet attributed by a drop check: every process from pending_since */
	bool loss_pending;
	uint64_t loss_pending_since, loss_pending_seen;
	uint64_t loss_pending_marks;
	struct saker_degraded degraded;
	struct saker_containers *ctrs; /* NULL without container metadata */
	struct saker_ctr_match match;  /* scratch (large) */
	char path[PATH_MAX];
	char path2[PATH_MAX];
	char cwd[PATH_MAX];
	char cgroup[SAKER_CGROUP_NAMES * SAKER_CGROUP_NAME_MAX + 2];
};

#endif
