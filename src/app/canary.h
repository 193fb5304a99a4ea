/*
 * The capture canary's and the selection guard's wiring (docs/drops.md):
 * the child and its run are in drops/canary_child.h, the verdicts in
 * drops/canary.h, the guard's compare and write-back in capture/capture.h.
 * Here: the timer, and what they find said. A blind verdict raises the
 * Critical alert "Saker internal: capture blind", logs it, fails /healthz
 * and shows in saker_capture_canary_blind; a selection changed from outside
 * raises SAKER_SELECTION_RULE the same way.
 */
#ifndef SAKER_APP_CANARY_H
#define SAKER_APP_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"
#include "drops/canary_child.h"

#define SAKER_CANARY_RULE    "Saker internal: capture blind"
#define SAKER_CANARY_TICK_NS (100ull * 1000 * 1000)
#define SAKER_SELECTION_RULE "Saker internal: selection changed"

struct saker_app;

/*
 * What the loop knows is wrong, as /healthz says it (the canary's "capture
 * blind: ...", a selection changed from outside), or "" (r and g may be
 * NULL): the health endpoint's and the coverage record's one wording.
 */
void saker_canary_problem(const struct saker_canary_run *r, const struct saker_selection_guard *g,
			  uint64_t now_mono_ns, char *buf, size_t len);

/*
 * Once per drop check: the selection guard (saker_capture_guard_check). The
 * first change of an episode raises the Critical alert SAKER_SELECTION_RULE
 * and logs it; /healthz fails and saker_capture_selection_changed is 1
 * until the episode ends, which is logged.
 */
void saker_canary_check_selection(struct saker_app *app, uint64_t now_ns);

/* The loop's timer callback (ctx: the app). */
void saker_canary_tick(void *ctx, uint64_t periods, uint64_t now_ns);

#endif
