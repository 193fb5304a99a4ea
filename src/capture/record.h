/*
 * `saker -w FILE`: the ring records, as capture hands them to the pipeline
 * (before decode), into a capture file (capture/capfile.h) behind a header
 * that carries the boot-time offset, the syscall-table identity and the
 * snapshot the caller gives (the view's process and fd tables as the
 * initial /proc scan left them: state/snapshot.h). Here, left of state/,
 * the writer knows capture files and not the view: app/ hands it the
 * snapshot as a function that appends blocks.
 *
 * The loop only copies a record into a 1 MiB chunk; a writer thread writes
 * full chunks (and, once a second, the chunk being filled) to the file, so
 * a slow disk never holds up the epoll loop. When every chunk is waiting
 * for the disk, a record is not written and counted; a write error is
 * reported once (an error, from the writer thread) and every record from
 * then on is counted as not written. written + not_written == records
 * handed in, once finished.
 */
#ifndef SAKER_RECORD_H
#define SAKER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "lib/metrics.h"
#include "lib/report.h"
#include "lib/sbuf.h"

struct saker_record;

struct saker_record_stats {
	uint64_t records; /* handed in */
	uint64_t written; /* in the file */
	uint64_t
	    not_written; /* no free chunk, a write error, or still queued when finish gave up */
	uint64_t bytes;	 /* written to the file, header included */
	int err;	 /* the first write error (negative errno), 0 if none */
};

/*
 * Creates (or truncates) path with lib/safefile's checks: 0600, never
 * through a symlink, a regular file. Nothing is written yet. report (NULL:
 * nothing said) gets the write errors, from the writer thread.
 */
int saker_record_open(struct saker_record **out, const char *path, saker_report_fn report,
		      void *report_ctx, char *err, size_t errlen);
/*
 * Appends the snapshot's blocks (capture/capfile.h: processes, then
 * descriptors; not its end) to b. 0 or a negative errno.
 */
typedef int (*saker_record_snapshot_fn)(void *ctx, struct saker_sbuf *b);
/*
 * Writes the header and the snapshot (snapshot NULL: an empty one;
 * synchronously: before the loop runs), then starts the writer thread.
 * boot_offset_ns is what the run stamps events with (realtime - boottime).
 */
int saker_record_start(struct saker_record *r, saker_record_snapshot_fn snapshot,
		       void *snapshot_ctx, int64_t boot_offset_ns, const char *version, char *err,
		       size_t errlen);
/* The pipeline's tap (ctx is the recorder): never blocks, never fails the record. */
int saker_record_put(void *ctx, const struct saker_evt_hdr *e, size_t len);
/* Hands the chunk being filled to the writer (the loop calls it once a second). */
void saker_record_flush(struct saker_record *r);
/*
 * Writes what is queued, waiting at most timeout_ms for the disk; what is
 * still queued then is counted not written. Stops the thread.
 */
void saker_record_finish(struct saker_record *r, int timeout_ms);
/* Finishes (if not yet), closes, frees; NULL ok. */
void saker_record_close(struct saker_record *r);

void saker_record_get_stats(struct saker_record *r, struct saker_record_stats *st);
/* capture_file_records_written_total, _not_written_total, _bytes_total; nothing for NULL. */
void saker_record_add_metrics(struct saker_record *r, struct saker_metrics *m);

#endif
