/*
 * Within nats_output (output_nats.h): the state its two halves share.
 * output_nats.c is the channel, the memory queue, the spool and the worker
 * loop; output_nats_js.c the JetStream side (connection, stream, async
 * publishes from the spool and their acks).
 */
#ifndef SAKER_OUTPUT_NATS_INT_H
#define SAKER_OUTPUT_NATS_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/prio.h"
#include "lib/spool.h"
#include "outputs/output_nats.h"

#define NS_PER_MS 1000000ULL
/* fdatasync the spool after this many appends, or this long after the first unsynced one. */
#define SYNC_EVERY    256
#define SYNC_AFTER_MS 50
/* Connection problems are reported at most this often. */
#define REPORT_MS 10000
/* Between two attempts at creating the stream. */
#define STREAM_RETRY_MS 1000
/* Between a failed round of publishes and the resend. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* A worker idles this long when there is nothing to do. */
#define IDLE_MS 20
/* The last part of the shutdown budget: sync and close. */
#define CLOSE_MS 500

struct qitem {
	size_t len;
	bool alert;
	char suffix[SAKER_NATS_MAX_SUFFIX + 1];
	char data[];
};

enum fl_state { FL_SENT = 0, FL_ACKED, FL_FAILED };

struct flight {
	enum fl_state state;
	bool dup;
	bool alert; /* this run's, on the alerts suffix */
	uint64_t sent_ns;
	char id[SAKER_SPOOL_MAX_ID + 1];
};

struct saker_nats {
	struct saker_nats_cfg cfg;
	saker_report_fn log;
	void *log_ctx;
	char host[128];
	char run[19]; /* -<16 hex>- */
	size_t run_len;
	uint64_t seq;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started;
	/* Under lock. */
	struct qitem **q;
	size_t q_cap, q_head, q_len;
	bool stop;
	uint64_t deadline_ns; /* with stop: when the worker must be gone */
	struct flight *fl;    /* ring of SAKER_NATS_WINDOW, in spool order */
	size_t fl_head, fl_len;
	struct saker_nats_stats st;
	char last_err[256];
	bool shut;

	/* Worker only. */
	struct saker_spool *spool;
	natsConnection *nc;
	jsCtx *js;
	bool stream_ok;
	bool rewinding;
	uint64_t resume_ns;  /* after a failed publish: no publishing before this */
	uint64_t backoff_ms; /* doubled by each failed round, reset by an ack */
	uint64_t next_stream_ns, next_report_ns, next_conn_ns;
	unsigned unsynced;
	uint64_t first_unsynced_ns;
	uint64_t corrupt_at_open;
};

void nats_report(struct saker_nats *n, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t nats_now_ns(void);
/* The spool's fdatasync when due (force: now). */
void nats_do_sync(struct saker_nats *n, bool force);

/* output_nats_js.c, on the worker. */
void nats_disconnect(struct saker_nats *n);
/* (Re)connects and creates the stream when due; reports problems, throttled. */
void nats_keep_connected(struct saker_nats *n);
/* Publishes from the spool while the window has room. */
void nats_publish_some(struct saker_nats *n);
void nats_collect_acks(struct saker_nats *n);

#endif
