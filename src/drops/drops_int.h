/*
 * The drop check's insides (internal to drops/), shared by its files:
 *   drops.c        the check: deltas, view marks, simulation, threshold and
 *                  bucket, the ledger line, demotion and ledger notices
 *   drops_alert.c  what a granted check says: Falco's sentence, who (top.*),
 *                  the sizing advice, and the actions run in list order
 * Functions one file lends another are named dr_*.
 */
#ifndef SAKER_DROPS_INT_H
#define SAKER_DROPS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "drops/drops.h"

static inline void dr_log(const struct saker_drops_actions *act, enum saker_prio prio,
			  const char *msg)
{
	if (act && act->log)
		act->log(act->log_ctx, prio, msg);
}

static inline bool dr_has_action(const struct saker_drops *d, enum saker_drop_action a)
{
	size_t n =
	    d->cfg.n_actions < SAKER_MAX_DROP_ACTIONS ? d->cfg.n_actions : SAKER_MAX_DROP_ACTIONS;

	/* cppcheck-suppress knownConditionTrueFalse ; n comes from the configuration */
	for (size_t i = 0; i < n; i++)
		if (d->cfg.actions[i] == a)
			return true;
	return false;
}

/* Runs the granted actions; true when `exit` is among them. */
bool dr_run_actions(struct saker_drops *d, const struct saker_capture_stats *delta,
		    const struct saker_attrib_window *w, uint64_t n_drops, uint64_t window_s,
		    const struct saker_drops_rings *rings, uint64_t now_real_ns,
		    const struct saker_drops_actions *act);

#endif
