/*
 * nats_output: JSON documents into a NATS JetStream stream, exactly once,
 * nothing lost on the way (docs/outputs.md, issue 17).
 *
 * Path of a message:
 *   saker_nats_publish (any thread, never blocks: a bounded memory queue)
 *   -> the nats worker thread appends it to the spool (lib/spool.h) with its
 *      subject and its Nats-Msg-Id, fdatasync in batches
 *   -> publishes from the spool, in order, JetStream async with acks
 *      (at most SAKER_NATS_WINDOW in flight), each with its stored id
 *   -> an acknowledged message leaves the spool. A failed or timed-out one
 *      makes the worker wait for what is in flight, then resend from the
 *      oldest unacknowledged record: the server drops the duplicates by id.
 *
 * Subjects are <subject_prefix>.<hostname>.<suffix>; the suffixes in use are
 * "alerts" (the outputs layer, the same JSON as the other channels),
 * "ledger" and "coverage" (the fleet records, app code publishes them with
 * saker_outputs_publish in outputs.h, which forwards here).
 *
 * Nats-Msg-Id = <hostname>-<run id>-<sequence>: the run id is 64 random
 * bits drawn at each start, the sequence counts this run's messages. The id
 * is written into the spool with the message, so a message resent after a
 * restart carries the id of its first attempt (never a new one), and a new
 * run never makes an id an older run used.
 *
 * Every message ends in exactly one bucket (struct saker_nats_stats):
 *   offered + recovered = acked + pending + lost_queue + lost_spool_full
 *                         + lost_write + lost_corrupt
 * pending holds the memory queue and the spool; at shutdown the queue is
 * written to the spool, so what was not acknowledged is on disk for the
 * next start. The library never logs: reports go through the callback.
 */
#ifndef SAKER_OUTPUT_NATS_H
#define SAKER_OUTPUT_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/report.h"

#define SAKER_NATS_WINDOW	  256	/* async publishes in flight */
#define SAKER_NATS_ACK_TIMEOUT_MS 2000	/* one publish waits this long for its ack */
#define SAKER_NATS_QUEUE	  16384 /* memory queue in front of the spool */
#define SAKER_NATS_MAX_SUFFIX	  32

struct saker_nats_cfg {
	char **servers; /* nats://[user:pass@|token@]host:port, tls://...; failed over */
	size_t n_servers;
	char *subject_prefix;
	char *hostname; /* the subject's host part and the id's; NULL: gethostname */
	char *stream;
	unsigned replicas; /* when the stream is created */
	char *spool_dir;
	uint64_t spool_max_bytes;
	char *creds_file; /* NULL: none */
	char *ca_file, *cert_file, *key_file;
	int ack_timeout_ms; /* 0: SAKER_NATS_ACK_TIMEOUT_MS */
	size_t queue_cap;   /* 0: SAKER_NATS_QUEUE */
};

struct saker_nats_stats {
	uint64_t offered;	  /* handed to saker_nats_publish this run */
	uint64_t recovered;	  /* found in the spool at start (earlier runs), damaged included */
	uint64_t acked;		  /* acknowledged by the stream */
	uint64_t dedup;		  /* of which the server said "duplicate" (a resend) */
	uint64_t resent;	  /* publishes of a message sent before */
	uint64_t pending;	  /* memory queue + spool, not acknowledged yet */
	uint64_t lost_queue;	  /* the memory queue was full */
	uint64_t lost_spool_full; /* the spool was at spool_max_bytes (newest dropped) */
	uint64_t lost_write;	  /* the spool could not be written (disk error) */
	uint64_t lost_corrupt;	  /* damaged in the spool (torn tail, bad checksum) */
	uint64_t spool_bytes;
	uint64_t publish_errors; /* failed publishes (nack, timeout, not connected) */
	bool connected;		 /* to a server, with the stream in place */
	/*
	 * This run's messages on the "alerts" suffix only: the alert path's
	 * buckets (offered = acked + lost + pending). lost is the memory queue,
	 * the spool full or a failed spool write; a record damaged on disk while
	 * saker runs is counted in lost_corrupt above only.
	 */
	struct {
		uint64_t offered, acked, lost, pending;
	} alerts;
};

struct saker_nats;

/* Opens the spool and starts the worker (connecting in the background). */
int saker_nats_new(struct saker_nats **out, const struct saker_nats_cfg *cfg, saker_report_fn log,
		   void *log_ctx, char *err, size_t errlen);
/*
 * Queues a JSON document for <prefix>.<host>.<suffix>. Never blocks. 0;
 * -ENOBUFS when the queue is full (counted lost_queue); -EINVAL for a
 * suffix that is not [a-z0-9_-]{1,32}; -ESHUTDOWN after shutdown began.
 */
int saker_nats_publish(struct saker_nats *n, const char *suffix, const char *json, size_t len);
void saker_nats_get_stats(struct saker_nats *n, struct saker_nats_stats *st);
/* Asks the worker to stop by timeout_ms from now, without waiting (see shutdown). */
void saker_nats_stop(struct saker_nats *n, int timeout_ms);
/*
 * Stops within timeout_ms (from the stop request, if one was made): writes the queue to the spool
 * and syncs it, waits for the acks of what is in flight while the budget lasts, then closes the
 * connection. What was not acknowledged stays in the spool. Called once.
 */
int saker_nats_shutdown(struct saker_nats *n, int timeout_ms);
/* Shutdown (if not done), then frees. Accepts NULL. */
void saker_nats_free(struct saker_nats *n);

void saker_nats_cfg_free(struct saker_nats_cfg *c);
int saker_nats_cfg_copy(struct saker_nats_cfg *dst, const struct saker_nats_cfg *src);

#endif
