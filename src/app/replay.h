/*
 * `engine.kind: replay` (Falco's), `engine.replay.capture_file: FILE`: plays
 * a capture file that `saker -w` wrote through the same pipeline as a live
 * run (state, rules, dump, outputs), as fast as the consumers take it, then
 * runs the final drop check and prints the summary. No BPF, no privileges,
 * no /proc: the view starts from the file's snapshot of the recording
 * host's process and fd tables, and the events keep their recorded clock
 * (the file's boot-time offset), so alerts carry the live run's times.
 *
 * Counters: events seen = records in the file, delivered = those the
 * decoder took, dropped (user space) = those it refused, so seen ==
 * delivered + dropped holds as it does live. The dump and the alert queues
 * are waited for rather than lost: a replay has no kernel to fall behind.
 */
#ifndef SAKER_REPLAY_H
#define SAKER_REPLAY_H

#include <stdbool.h>

#include "config/config.h"

struct saker_app;

/* engine.kind is replay. */
bool saker_replay_configured(const struct saker_config *cfg);
/*
 * The whole run, on app as saker_app_run set it up (configuration, rules);
 * what it creates (view, outputs, dump) is app's and freed with it. Returns
 * the exit status: 0, 1 for a file that cannot be read (its
 * "FILE:offset: what" logged), or the drop check's exit action.
 */
int saker_replay_run(struct saker_app *app);

#endif
