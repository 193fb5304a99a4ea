/*
 * An append-only spool on disk for messages that must survive an outage of
 * where they go and a restart of saker (nats_output, docs/outputs.md).
 *
 * Layout: a directory of segment files <16 hex digits>.spool, numbered in
 * the order written, and a file `acked` holding the position of the first
 * record not yet acknowledged. A record is
 *   u32 magic 'SKS1' | u32 body length | u32 CRC32 of the body | body
 *   body = u16 id length | u16 subject length | id | subject | payload
 * in host byte order (a spool belongs to one host). The id (Nats-Msg-Id) is
 * stored with the message, so a resend after a restart carries the same id
 * as the first attempt and the server can de-duplicate it.
 *
 * Writes are write(2) at once and fdatasync(2) in batches
 * (saker_spool_sync); the `acked` position is rewritten (temporary file,
 * rename) at each sync. A crash may lose what was written since the last
 * sync, and may resend what was acknowledged since then (same ids: the
 * server drops the duplicates within its duplicate window).
 *
 * At open, every segment from the acknowledged position on is read and each
 * record's checksum checked. A damaged record ends what is read of its
 * segment: in the last segment it is a torn tail (a write cut short by a
 * crash), and the file is truncated there; in an earlier one the rest of
 * that segment is skipped. Either way the damage is counted (corrupt,
 * corrupt_bytes) and reported, and never resent.
 *
 * Size limit (max_bytes, the files present): when a record does not fit,
 * the NEWEST is dropped, i.e. the record being appended is refused and
 * counted (dropped_full). What is already spooled keeps its place and its
 * id, so the stream receives an unbroken prefix of the host's messages and
 * the loss is one counted gap at the end, never a hole in what was resent.
 *
 * Accounting, at any time:
 *   recovered + appended = acked + pending
 * and dropped_full, write_errors and corrupt count messages that never
 * entered (or left damaged) the spool. Not thread-safe: one owner thread.
 * The library never logs; errors come back as negative errnos with a reason.
 */
#ifndef SAKER_SPOOL_H
#define SAKER_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SAKER_SPOOL_MAX_ID	255
#define SAKER_SPOOL_MAX_SUBJECT 255
#define SAKER_SPOOL_MAX_RECORD	(16u << 20)
#define SAKER_SPOOL_MIN_BYTES	(64u << 10)

struct saker_spool_opts {
	const char *dir;    /* created (0700, parents too) if missing */
	uint64_t max_bytes; /* >= SAKER_SPOOL_MIN_BYTES */
};

struct saker_spool_stats {
	uint64_t recovered;	/* pending records found at open */
	uint64_t appended;	/* records written since open */
	uint64_t acked;		/* records acknowledged since open */
	uint64_t pending;	/* records written and not yet acknowledged */
	uint64_t bytes;		/* size of the segment files present */
	uint64_t dropped_full;	/* appends refused: spool at max_bytes (newest dropped) */
	uint64_t write_errors;	/* appends that failed to write (disk full, I/O error) */
	uint64_t corrupt;	/* damaged records skipped (torn tail, bad checksum) */
	uint64_t corrupt_bytes; /* bytes those took */
	uint64_t torn_tails;	/* of which: a torn tail truncated at open */
	uint64_t syncs;		/* fdatasync batches */
};

/* One record, valid until the next call on the spool. */
struct saker_spool_rec {
	const char *id;
	size_t id_len;
	const char *subject;
	size_t subject_len;
	const char *data;
	size_t data_len;
};

struct saker_spool;

/* 0, or a negative errno with the reason in err. Damage found is in the stats. */
int saker_spool_open(struct saker_spool **out, const struct saker_spool_opts *o, char *err,
		     size_t errlen);
/*
 * Appends one record (written, not yet synced). -ENOSPC when it does not fit
 * under max_bytes (counted dropped_full), -EMSGSIZE when it is larger than a
 * record may be, another negative errno when the write failed (counted
 * write_errors; the segment is cut back to its last whole record).
 */
int saker_spool_append(struct saker_spool *sp, const char *id, const char *subject,
		       const void *data, size_t len);
/* fdatasync what was appended and persist the acknowledged position. */
int saker_spool_sync(struct saker_spool *sp);
/*
 * The next record to send, in order, after the read position (which it
 * advances). -ENODATA when every pending record was handed out. A record
 * found damaged on reading is skipped and counted corrupt (no longer pending).
 */
int saker_spool_next(struct saker_spool *sp, struct saker_spool_rec *rec);
/* Back to the oldest pending record: everything not acknowledged is handed out again. */
void saker_spool_rewind(struct saker_spool *sp);
/* How many records were handed out by next and not acknowledged yet. */
uint64_t saker_spool_outstanding(const struct saker_spool *sp);
/*
 * The n oldest pending records are acknowledged (n <= outstanding): they are
 * never handed out again, and segments holding nothing pending are removed.
 */
int saker_spool_ack(struct saker_spool *sp, uint64_t n);
void saker_spool_get_stats(const struct saker_spool *sp, struct saker_spool_stats *st);
/* Syncs, then frees. Accepts NULL. */
void saker_spool_close(struct saker_spool *sp);

#endif
