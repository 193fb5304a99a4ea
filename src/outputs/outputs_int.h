/*
 * Within outputs/: the shared queues and workers (outputs_worker.c) and the
 * API the emitting thread calls (outputs.c). Ownership and threads: see
 * outputs.c; what a channel implements: channel.h.
 */
#ifndef SAKER_OUTPUTS_INT_H
#define SAKER_OUTPUTS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "outputs/channel.h"
#include "outputs/outputs.h"

#define NS_PER_S 1000000000ULL
/* At most one delivery failure report per channel this often. */
#define FAIL_LOG_INTERVAL_NS (10ULL * NS_PER_S)
/* At most one queue loss report per channel this often. */
#define LOSS_LOG_INTERVAL_NS NS_PER_S
/* Shutdown: the last part of the budget is for cutting short and stopping. */
#define SHUTDOWN_CUT_MS 1000
/* How often a stuck worker is signalled while shutdown waits for it. */
#define KICK_MS 20

#define N_CHAN SAKER_CH_MAX

struct out_item {
	atomic_uint refs;
	atomic_bool missed_exit; /* some channel counted it undelivered */
	enum saker_prio prio;
	size_t len; /* with the trailing newline */
	char line[];
};

/*
 * One channel's settings, built by the emitting thread and shared with the
 * worker (immutable, so only the count needs to be atomic).
 */
struct chan_set {
	atomic_uint refs;
	bool enabled;
	void *priv; /* the channel's own (settings_new); NULL when disabled or none */
};

struct throttle {
	uint64_t last_ns;
	uint64_t unreported;
	bool once;
	char why[256]; /* the reason of the last failure held back (failures only) */
};

struct chan {
	struct saker_outputs *o;
	enum saker_channel id;
	const struct saker_channel_ops *ops;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* to the worker */
	pthread_cond_t idle; /* from it: progress, idle, exit */
	pthread_t thread;
	bool started;
	bool done;   /* the worker has exited */
	bool leaked; /* the worker could not be stopped: left behind at exit */

	/* Under lock. */
	struct out_item **ring;
	size_t slots, cap, head, count;
	bool enabled; /* accepting alerts */
	bool busy;    /* the worker is working outside the lock */
	bool stop;    /* finish what is queued, then exit */
	bool paused;
	bool reopen_req;
	struct chan_set *next; /* new settings for the worker */
	uint64_t flush_req, flush_done;
	bool final; /* shutdown did the final count: the worker counts nothing more */
	uint64_t offered, delivered, failed, lost, dropped_reload, undelivered;
	uint64_t inflight; /* taken from the ring, not yet counted (incl. the write buffer) */
	struct throttle loss;
	atomic_bool abort; /* cut the current delivery short (reload or shutdown) */

	/* Emitting thread only: the settings last handed over, to compare. */
	struct chan_set *latest;

	/* Worker only (or before it starts / after it ended). */
	struct chan_set *cur;
	struct saker_chan_env env;
	void *state; /* what the channel's open returned; NULL when not open */
	struct throttle fail;

	/* The own kind (ops->own): what its start returned; NULL when not started. */
	void *own;
};

struct saker_outputs {
	saker_report_fn log;
	void *log_ctx;
	char hostname[256];

	/* Formatting and filtering: emitting thread only. */
	enum saker_prio min_prio;
	bool json;
	bool include_output;
	bool include_tags;
	bool iso8601;

	atomic_bool closing;
	bool shut;
	bool flush_timed_out;
	atomic_uint_fast64_t emitted, filtered, queue_drops, live, undelivered_alerts;
	struct chan ch[N_CHAN];
};

struct timespec out_ts_at(uint64_t ns);
void out_report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void out_item_put(struct saker_outputs *o, struct out_item *it);
struct chan_set *out_set_get(struct chan_set *s);
void out_set_put(const struct saker_channel_ops *ops, struct chan_set *s);
/* With the lock held: the loss report due now, if any (printed by the caller, unlocked). */
uint64_t out_loss_due(struct chan *c, uint64_t now, bool force);
void out_report_loss(struct chan *c, uint64_t n);
/* With the lock held: everything queued goes into *bucket. */
void out_drain_ring(struct chan *c, uint64_t *bucket, bool missed);
/* The channel's worker thread, once (SAKER_OUTPUTS_WAKE_SIGNAL handled from the first). */
int out_chan_start(struct chan *c);
/* Stops every worker within the budget, counts what is left and reports it (shutdown). */
bool out_stop_workers(struct saker_outputs *o, uint64_t soft_ns, uint64_t hard_ns);

#endif
