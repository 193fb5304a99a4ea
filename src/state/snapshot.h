/*
 * The view as a capture file's snapshot (capture/capfile.h), and back: what
 * `saker -w` writes after the header (the process and fd tables as the
 * initial /proc scan left them) and what a replay restores in place of its
 * own scan. Here, right of capture/, so the capture writer (capture/record.h)
 * needs no state/ and the replay no field-by-field copy of its own.
 */
#ifndef SAKER_SNAPSHOT_H
#define SAKER_SNAPSHOT_H

#include "capture/capfile.h"
#include "lib/sbuf.h"

struct saker_view;

/*
 * Appends a PROC block for every process and thread, then an FD block for
 * every descriptor, of view (a struct saker_view *; NULL: nothing) to b.
 * A saker_record_snapshot_fn. 0 or a negative errno (-ENOMEM: b ran out).
 */
int saker_snapshot_put(void *view, struct saker_sbuf *b);
/*
 * Restores one snapshot item (SAKER_CAPFILE_ITEM_PROC or _FD) into view;
 * other kinds are ignored. 0 or a negative errno from the tables.
 */
int saker_snapshot_restore(struct saker_view *view, const struct saker_capfile_item *it);

#endif
