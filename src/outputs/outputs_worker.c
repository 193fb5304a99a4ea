/*
 * The shared kind's workers (outputs/channel.h): one thread per channel
 * delivering from its queue, the tallies it counts, the throttled failure
 * and loss reports, and stopping them all within the shutdown budget. The
 * emitting thread's side is outputs.c; what they share, outputs_int.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "outputs/outputs_int.h"

struct timespec out_ts_at(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S),
				 .tv_nsec = (long)(ns % NS_PER_S)};
}

void out_report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, prio, msg);
}

void saker_chan_report(const struct saker_chan_env *env, enum saker_prio prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out_report(env->o, prio, "outputs: %s", msg);
}

void saker_chan_log(void *env, enum saker_prio prio, const char *msg)
{
	struct saker_outputs *o = ((const struct saker_chan_env *)env)->o;

	if (o->log)
		o->log(o->log_ctx, prio, msg);
}

/* ---- items ---- */

void out_item_put(struct saker_outputs *o, struct out_item *it)
{
	if (!it || atomic_fetch_sub(&it->refs, 1) != 1)
		return;
	if (atomic_load(&it->missed_exit))
		atomic_fetch_add(&o->undelivered_alerts, 1);
	atomic_fetch_sub(&o->live, 1);
	free(it);
}

struct chan_set *out_set_get(struct chan_set *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

void out_set_put(const struct saker_channel_ops *ops, struct chan_set *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->priv && ops->settings_free)
		ops->settings_free(s->priv);
	free(s);
}

/* ---- worker: the channel's calls ---- */

static bool cut(struct chan *c)
{
	return atomic_load(&c->abort);
}

static void note_failure(struct chan *c, const char *why, bool force);

/* Delivers one item; *retry when a reload cut it short (the item is kept). */
static struct saker_chan_tally deliver(struct chan *c, const struct out_item *it, char *err,
				       size_t errlen, bool *retry)
{
	struct saker_chan_tally t;
	int rc;

	err[0] = '\0';
	*retry = false;
	if (!c->state && c->ops->open) {
		rc = c->ops->open(&c->state, c->cur->priv, &c->env, err, errlen);
		if (rc < 0) {
			c->state = NULL;
			t = saker_chan_result(rc);
			goto out;
		}
	}
	t = c->ops->deliver(c->state, it->line, it->len, it->prio, err, errlen);
out:
	if (t.cut) {
		t.cut = false;
		if (cut(c))
			*retry =
			    true; /* the caller decides: reload (again) or shutdown (undelivered) */
		else
			t.failed++;
	}
	return t;
}

/* A flush or reopen request; failures are reported. */
static struct saker_chan_tally chan_call(struct chan *c,
					 struct saker_chan_tally (*fn)(void *, char *, size_t))
{
	struct saker_chan_tally t = {0};
	char err[512];

	if (!c->state || !fn)
		return t;
	err[0] = '\0';
	t = fn(c->state, err, sizeof(err));
	if (t.failed)
		note_failure(c, err[0] ? err : "failed", false);
	return t;
}

/* Closes what the channel holds; buffered lines are written first unless cut. */
static struct saker_chan_tally close_channel(struct chan *c, bool cut_short)
{
	struct saker_chan_tally t = {0};
	char err[512];

	if (!c->state)
		return t;
	err[0] = '\0';
	if (c->ops->close)
		t = c->ops->close(c->state, cut_short, err, sizeof(err));
	c->state = NULL;
	if (t.failed)
		note_failure(c, err[0] ? err : "failed", false);
	return t;
}

/*
 * Counts failures towards the next report (why != NULL) and reports when
 * the interval has passed or force is set. Worker state: no lock.
 */
static void note_failure(struct chan *c, const char *why, bool force)
{
	struct throttle *t = &c->fail;
	uint64_t now = saker_clock_ns(CLOCK_MONOTONIC);

	if (why) {
		t->unreported++;
		/* Kept for a report made later (the next one, or shutdown's) without a reason. */
		snprintf(t->why, sizeof(t->why), "%s", why);
	}
	if (t->unreported == 0)
		return;
	if (!force && t->once && now - t->last_ns < FAIL_LOG_INTERVAL_NS)
		return;
	if (!why && t->why[0])
		why = t->why;
	out_report(c->o, SAKER_PRIO_ERROR,
		   "outputs: %s output could not deliver %llu alert(s) since the last report%s%s",
		   saker_channel_name(c->id), (unsigned long long)t->unreported, why ? ": " : "",
		   why ? why : "");
	t->unreported = 0;
	t->why[0] = '\0';
	t->last_ns = now;
	t->once = true;
}

uint64_t out_loss_due(struct chan *c, uint64_t now, bool force)
{
	uint64_t n = c->loss.unreported;

	if (n == 0 || (!force && c->loss.once && now - c->loss.last_ns < LOSS_LOG_INTERVAL_NS))
		return 0;
	c->loss.unreported = 0;
	c->loss.last_ns = now;
	c->loss.once = true;
	return n;
}

void out_report_loss(struct chan *c, uint64_t n)
{
	if (n)
		out_report(c->o, SAKER_PRIO_ERROR,
			   "outputs: %s queue full: %llu alert(s) lost since the last report",
			   saker_channel_name(c->id), (unsigned long long)n);
}

/* With the lock held. */
static void count(struct chan *c, struct saker_chan_tally t, struct out_item *it)
{
	if (c->final)
		return;
	c->delivered += t.delivered;
	c->failed += t.failed;
	c->undelivered += t.undelivered;
	c->inflight -= t.delivered + t.failed + t.undelivered;
	if (t.undelivered && it)
		atomic_store(&it->missed_exit, true);
}

void out_drain_ring(struct chan *c, uint64_t *bucket, bool missed)
{
	while (c->count > 0) {
		struct out_item *it = c->ring[c->head];

		c->ring[c->head] = NULL;
		c->head = (c->head + 1) % c->slots;
		c->count--;
		(*bucket)++;
		if (missed)
			atomic_store(&it->missed_exit, true);
		out_item_put(c->o, it);
	}
}

/* With the lock held: new settings; the next delivery opens the channel with them. */
static void take_settings(struct chan *c, struct out_item **retry)
{
	struct chan_set *next = c->next;
	struct saker_chan_tally t;
	uint64_t dropped = 0;

	c->next = NULL;
	c->busy = true;
	if (!c->stop)
		atomic_store(&c->abort, false);
	pthread_mutex_unlock(&c->lock);
	t = close_channel(c, false);
	out_set_put(c->ops, c->cur);
	c->cur = next;
	pthread_mutex_lock(&c->lock);
	count(c, t, NULL);
	c->busy = false;
	if (!c->cur->enabled && *retry) {
		if (!c->final) {
			c->dropped_reload++;
			c->inflight--;
			dropped++;
		}
		out_item_put(c->o, *retry);
		*retry = NULL;
	}
	if (dropped) {
		pthread_mutex_unlock(&c->lock);
		out_report(c->o, SAKER_PRIO_WARNING,
			   "outputs: %s output disabled by reload: the alert being "
			   "delivered was dropped",
			   saker_channel_name(c->id));
		pthread_mutex_lock(&c->lock);
	}
}

/* With the lock held: a reopen or flush call, made unlocked. */
static void call_unlocked(struct chan *c, struct saker_chan_tally (*fn)(void *, char *, size_t))
{
	struct saker_chan_tally t;

	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	t = chan_call(c, fn);
	pthread_mutex_lock(&c->lock);
	count(c, t, NULL);
	c->busy = false;
}

/* With the lock held: the alert to redo (*retry) or the next queued one, delivered unlocked. */
static void deliver_next(struct chan *c, struct out_item **retry)
{
	struct out_item *it = *retry;
	struct saker_chan_tally t;
	char why[512];
	bool again;

	*retry = NULL;
	if (!it) {
		it = c->ring[c->head];
		c->ring[c->head] = NULL;
		c->head = (c->head + 1) % c->slots;
		c->count--;
		c->inflight++;
	}
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	t = deliver(c, it, why, sizeof(why), &again);
	if (t.failed)
		note_failure(c, why[0] ? why : "failed", false);
	pthread_mutex_lock(&c->lock);
	c->busy = false;
	if (again && !c->stop) {
		*retry = it; /* new settings first, then this alert again */
		return;
	}
	if (again)
		t.undelivered = 1;
	count(c, t, it);
	out_item_put(c->o, it);
	pthread_cond_broadcast(&c->idle);
}

/* With the lock held, nothing to do: the loss report due, else wait for work (or for it). */
static void idle_wait(struct chan *c)
{
	uint64_t now = saker_clock_ns(CLOCK_MONOTONIC), n = out_loss_due(c, now, false);

	if (n) {
		pthread_mutex_unlock(&c->lock);
		out_report_loss(c, n);
		pthread_mutex_lock(&c->lock);
		return;
	}
	pthread_cond_broadcast(&c->idle);
	if (c->loss.unreported) {
		struct timespec dl = out_ts_at(c->loss.last_ns + LOSS_LOG_INTERVAL_NS);

		pthread_cond_timedwait(&c->wake, &c->lock, &dl);
	} else {
		pthread_cond_wait(&c->wake, &c->lock);
	}
}

/* With the lock held, stopping (cut short or drained): counts the rest, closes, unlocks. */
static void worker_exit(struct chan *c, struct out_item *retry)
{
	struct saker_chan_tally t;

	if (retry) {
		count(c, (struct saker_chan_tally){.undelivered = 1}, retry);
		out_item_put(c->o, retry);
	}
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	/* Buffered lines are still written unless shutdown already cut us short. */
	t = close_channel(c, cut(c));
	pthread_mutex_lock(&c->lock);
	count(c, t, NULL);
	c->busy = false;
	c->done = true;
	pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

static void *worker(void *arg)
{
	struct chan *c = arg;
	struct out_item *retry = NULL;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->next) {
			take_settings(c, &retry);
		} else if (c->reopen_req) {
			c->reopen_req = false;
			/* Between two alerts. */
			call_unlocked(c, c->ops->reopen);
		} else if (c->stop && cut(c)) {
			break;
		} else if ((retry || c->count > 0) && !c->paused) {
			deliver_next(c, &retry);
		} else if (c->stop) {
			break;
		} else if (c->flush_done != c->flush_req) {
			uint64_t req = c->flush_req;

			call_unlocked(c, c->ops->flush);
			c->flush_done = req;
		} else {
			idle_wait(c);
		}
	}
	worker_exit(c, retry);
	return NULL;
}

static void on_wake_signal(int sig)
{
	(void)sig; /* only there to make a blocking write(2) return EINTR */
}

static void install_wake_handler(void)
{
	struct sigaction sa = {.sa_handler = on_wake_signal};

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SAKER_OUTPUTS_WAKE_SIGNAL, &sa, NULL);
}

int out_chan_start(struct chan *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sigset_t all, old;
	int rc;

	if (c->started)
		return 0;
	pthread_once(&once, install_wake_handler);
	/* Signals stay with the event loop: the worker gets only its wake-up one. */
	sigfillset(&all);
	sigdelset(&all, SAKER_OUTPUTS_WAKE_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&c->thread, NULL, worker, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		c->started = true;
	return rc;
}

/* Waits for the worker to exit until dl_ns; kicks it with the wake signal when kick. */
static bool wait_done(struct chan *c, uint64_t dl_ns, bool kick)
{
	bool done;

	pthread_mutex_lock(&c->lock);
	while (!c->done) {
		uint64_t now = saker_clock_ns(CLOCK_MONOTONIC), until = dl_ns;
		struct timespec ts;

		if (now >= dl_ns)
			break;
		if (kick) {
			pthread_kill(c->thread, SAKER_OUTPUTS_WAKE_SIGNAL);
			if (now + KICK_MS * 1000000ULL < until)
				until = now + KICK_MS * 1000000ULL;
		}
		ts = out_ts_at(until);
		pthread_cond_timedwait(&c->idle, &c->lock, &ts);
	}
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

/* Shutdown's first part: every worker finishes its queue (cut short when it must not wait). */
static void ask_stop(struct saker_outputs *o)
{
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		/* A flush already gave up (or the test hook holds the queue): do not wait again. */
		if (o->flush_timed_out || c->paused)
			atomic_store(&c->abort, true);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
}

/* After the workers: what is left is undelivered, reported with what was held back. */
static void final_count(struct chan *c)
{
	uint64_t before, n;

	pthread_mutex_lock(&c->lock);
	before = c->undelivered;
	out_drain_ring(c, &c->undelivered, true);
	if (c->leaked) {
		c->undelivered += c->inflight;
		c->inflight = 0;
	}
	c->final = true;
	n = out_loss_due(c, saker_clock_ns(CLOCK_MONOTONIC), true);
	pthread_mutex_unlock(&c->lock);
	out_report_loss(c, n);
	if (!c->leaked)
		note_failure(c, NULL, true);
	if (c->undelivered > before || c->leaked)
		out_report(c->o, SAKER_PRIO_ERROR,
			   "outputs: %s output: %llu alert(s) undelivered at exit%s",
			   saker_channel_name(c->id), (unsigned long long)c->undelivered,
			   c->leaked ? " (its thread is stuck in a system call)" : "");
}

bool out_stop_workers(struct saker_outputs *o, uint64_t soft, uint64_t hard)
{
	bool cut_any = false;

	ask_stop(o);
	/* Deliver what is queued while the budget lasts ... */
	for (int i = 0; i < N_CHAN; i++)
		if (o->ch[i].started)
			(void)wait_done(&o->ch[i], soft, false);
	/* ... then cut every channel still busy short, and interrupt its system call. */
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started || wait_done(c, 0, false))
			continue;
		cut_any = true;
		pthread_mutex_lock(&c->lock);
		atomic_store(&c->abort, true);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		if (wait_done(c, hard, true)) {
			pthread_join(c->thread, NULL);
			continue;
		}
		/* Stuck in the kernel beyond the budget: left behind, counted here. */
		c->leaked = true;
		pthread_detach(c->thread);
	}
	for (int i = 0; i < N_CHAN; i++)
		if (!o->ch[i].ops->own)
			final_count(&o->ch[i]);
	return cut_any;
}
