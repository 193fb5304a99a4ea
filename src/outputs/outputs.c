/*
 * Per-channel queues and workers, shared by every channel (a channel is one
 * file implementing outputs/channel.h, one row of outputs/channels.def).
 *
 * Ownership: the emitting thread (the event loop) calls emit / reopen /
 * reconfigure / flush / shutdown and owns the formatting settings. Each
 * channel has a lock, a ring of pointers to shared, reference-counted
 * formatted lines, its requests (reopen, new settings, flush, stop) and its
 * counters; its worker thread owns the channel's state (fd, program, curl
 * handle, write buffer) and is the only one to call the channel's open,
 * deliver, flush, reopen and close. No I/O is done under a lock, so emit
 * waits only for a few pointer moves per channel.
 */
#include "outputs/outputs.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "outputs/channel.h"
#include "outputs/output_format.h"

#define NS_PER_S 1000000000ULL
/* At most one delivery failure report per channel this often. */
#define FAIL_LOG_INTERVAL_NS (10ULL * NS_PER_S)
/* At most one queue loss report per channel this often. */
#define LOSS_LOG_INTERVAL_NS NS_PER_S
/* Shutdown: the last part of the budget is for cutting short and stopping. */
#define SHUTDOWN_CUT_MS 1000
/* How often a stuck worker is signalled while shutdown waits for it. */
#define KICK_MS 20

/* The rows of channels.def come first in enum saker_channel; nats_output follows them. */
#define N_CHAN SAKER_CH_NATS

static const struct saker_channel_ops *const channels[N_CHAN] = {
#define SAKER_CHANNEL(ID, name) [SAKER_CH_##ID] = &saker_output_##name,
#include "outputs/channels.def"
#undef SAKER_CHANNEL
};

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
	struct saker_nats *nats; /* nats_output: its own queue, spool and worker (output_nats.h) */
};

const char *saker_channel_name(enum saker_channel ch)
{
	if (ch == SAKER_CH_NATS)
		return "nats";
	if ((unsigned)ch >= N_CHAN)
		return "unknown";
	return channels[ch]->name;
}

static struct timespec ts_at(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S),
				 .tv_nsec = (long)(ns % NS_PER_S)};
}

static bool nonempty(const char *s)
{
	return s && *s;
}

static void report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
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
	report(env->o, prio, "outputs: %s", msg);
}

/* ---- items ---- */

static void item_put(struct saker_outputs *o, struct out_item *it)
{
	if (!it || atomic_fetch_sub(&it->refs, 1) != 1)
		return;
	if (atomic_load(&it->missed_exit))
		atomic_fetch_add(&o->undelivered_alerts, 1);
	atomic_fetch_sub(&o->live, 1);
	free(it);
}

/* ---- settings ---- */

static struct chan_set *set_get(struct chan_set *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

static void set_put(const struct saker_channel_ops *ops, struct chan_set *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->priv && ops->settings_free)
		ops->settings_free(s->priv);
	free(s);
}

static bool set_eq(const struct saker_channel_ops *ops, const struct chan_set *a,
		   const struct chan_set *b)
{
	if (a->enabled != b->enabled)
		return false;
	return !a->enabled || !ops->settings_eq || ops->settings_eq(a->priv, b->priv);
}

static void sets_free(struct chan_set *s[N_CHAN])
{
	for (int i = 0; i < N_CHAN; i++) {
		set_put(channels[i], s[i]);
		s[i] = NULL;
	}
}

/*
 * Every channel's settings from cfg, checked by the channel now (the file
 * opened, the program's user looked up), so a bad setting is refused at
 * startup or reload rather than at the first alert.
 */
static int sets_build(struct chan_set *s[N_CHAN], const struct saker_config *cfg, char *err,
		      size_t errlen)
{
	bool any = false;
	int rc = 0;

	for (int i = 0; i < N_CHAN; i++) {
		s[i] = calloc(1, sizeof(*s[i]));
		if (!s[i]) {
			sets_free(s);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		atomic_init(&s[i]->refs, 1);
		s[i]->enabled = channels[i]->enabled(cfg);
		any |= s[i]->enabled;
	}
	any |= cfg->nats_output.enabled;
	if (!any) {
		snprintf(err, errlen, "no output channel is enabled");
		rc = -EINVAL;
	}
	for (int i = 0; i < N_CHAN && rc == 0; i++)
		if (s[i]->enabled && channels[i]->settings_new)
			rc = channels[i]->settings_new(&s[i]->priv, cfg, err, errlen);
	if (rc < 0)
		sets_free(s);
	return rc;
}

static void apply_format_settings(struct saker_outputs *o, const struct saker_config *cfg)
{
	o->min_prio = cfg->priority;
	o->json = cfg->json_output;
	o->include_output = cfg->json_include_output_property;
	o->include_tags = cfg->json_include_tags_property;
	o->iso8601 = cfg->time_format_iso_8601;
}

static size_t capacity_of(const struct saker_config *cfg)
{
	uint64_t c = cfg->outputs_queue_capacity;

	if (c == 0)
		return SAKER_OUTPUTS_DEFAULT_QUEUE;
	/* An absurd bound would only turn into an allocation failure. */
	if (c > (1ULL << 24))
		c = 1ULL << 24;
	return (size_t)c;
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
	report(c->o, SAKER_PRIO_ERROR,
	       "outputs: %s output could not deliver %llu alert(s) since the last report%s%s",
	       saker_channel_name(c->id), (unsigned long long)t->unreported, why ? ": " : "",
	       why ? why : "");
	t->unreported = 0;
	t->why[0] = '\0';
	t->last_ns = now;
	t->once = true;
}

/* With the lock held: the loss report due now, if any (printed by the caller, unlocked). */
static uint64_t loss_due(struct chan *c, uint64_t now, bool force)
{
	uint64_t n = c->loss.unreported;

	if (n == 0 || (!force && c->loss.once && now - c->loss.last_ns < LOSS_LOG_INTERVAL_NS))
		return 0;
	c->loss.unreported = 0;
	c->loss.last_ns = now;
	c->loss.once = true;
	return n;
}

static void report_loss(struct chan *c, uint64_t n)
{
	if (n)
		report(c->o, SAKER_PRIO_ERROR,
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

/* With the lock held: everything queued goes into *bucket. */
static void drain_ring(struct chan *c, uint64_t *bucket, bool missed)
{
	while (c->count > 0) {
		struct out_item *it = c->ring[c->head];

		c->ring[c->head] = NULL;
		c->head = (c->head + 1) % c->slots;
		c->count--;
		(*bucket)++;
		if (missed)
			atomic_store(&it->missed_exit, true);
		item_put(c->o, it);
	}
}

static void *worker(void *arg)
{
	struct chan *c = arg;
	struct out_item *retry = NULL;
	char why[512];

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->next) {
			struct chan_set *next = c->next;
			struct saker_chan_tally t;
			uint64_t dropped = 0;

			c->next = NULL;
			c->busy = true;
			if (!c->stop)
				atomic_store(&c->abort, false);
			pthread_mutex_unlock(&c->lock);
			/* The next delivery opens the channel with the new settings. */
			t = close_channel(c, false);
			set_put(c->ops, c->cur);
			c->cur = next;
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			if (!c->cur->enabled && retry) {
				if (!c->final) {
					c->dropped_reload++;
					c->inflight--;
					dropped++;
				}
				item_put(c->o, retry);
				retry = NULL;
			}
			if (dropped) {
				pthread_mutex_unlock(&c->lock);
				report(c->o, SAKER_PRIO_WARNING,
				       "outputs: %s output disabled by reload: the alert being "
				       "delivered was dropped",
				       saker_channel_name(c->id));
				pthread_mutex_lock(&c->lock);
			}
			continue;
		}
		if (c->reopen_req) {
			struct saker_chan_tally t;

			c->reopen_req = false;
			c->busy = true;
			pthread_mutex_unlock(&c->lock);
			/* Between two alerts. */
			t = chan_call(c, c->ops->reopen);
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			continue;
		}
		if (c->stop && cut(c))
			break;
		if ((retry || c->count > 0) && !c->paused) {
			struct out_item *it = retry;
			bool again;
			struct saker_chan_tally t;

			retry = NULL;
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
				retry = it; /* new settings first, then this alert again */
				continue;
			}
			if (again)
				t.undelivered = 1;
			count(c, t, it);
			item_put(c->o, it);
			pthread_cond_broadcast(&c->idle);
			continue;
		}
		if (c->stop)
			break;
		if (c->flush_done != c->flush_req) {
			uint64_t req = c->flush_req;
			struct saker_chan_tally t;

			c->busy = true;
			pthread_mutex_unlock(&c->lock);
			t = chan_call(c, c->ops->flush);
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			c->flush_done = req;
			continue;
		}
		{
			uint64_t now = saker_clock_ns(CLOCK_MONOTONIC), n = loss_due(c, now, false);

			if (n) {
				pthread_mutex_unlock(&c->lock);
				report_loss(c, n);
				pthread_mutex_lock(&c->lock);
				continue;
			}
			pthread_cond_broadcast(&c->idle);
			if (c->loss.unreported) {
				struct timespec dl = ts_at(c->loss.last_ns + LOSS_LOG_INTERVAL_NS);

				pthread_cond_timedwait(&c->wake, &c->lock, &dl);
			} else {
				pthread_cond_wait(&c->wake, &c->lock);
			}
		}
	}
	/* Stopping: cut short or drained. */
	if (retry) {
		count(c, (struct saker_chan_tally){.undelivered = 1}, retry);
		item_put(c->o, retry);
	}
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	{
		/* Buffered lines are still written unless shutdown already cut us short. */
		struct saker_chan_tally t = close_channel(c, cut(c));

		pthread_mutex_lock(&c->lock);
		count(c, t, NULL);
	}
	c->busy = false;
	c->done = true;
	pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- emitting thread ---- */

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

static int ring_resize(struct chan *c, size_t cap)
{
	size_t slots = cap > c->count ? cap : c->count;
	struct out_item **ring;

	if (slots == c->slots) {
		c->cap = cap;
		return 0;
	}
	ring = calloc(slots, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (size_t i = 0; i < c->count; i++)
		ring[i] = c->ring[(c->head + i) % c->slots];
	free(c->ring);
	c->ring = ring;
	c->slots = slots;
	c->cap = cap;
	c->head = 0;
	return 0;
}

static int chan_start(struct chan *c)
{
	sigset_t all, old;
	int rc;

	if (c->started)
		return 0;
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

static void hostname_init(struct saker_outputs *o)
{
	const char *env = getenv("SAKER_HOSTNAME");

	if (nonempty(env)) {
		snprintf(o->hostname, sizeof(o->hostname), "%s", env);
		return;
	}
	if (gethostname(o->hostname, sizeof(o->hostname) - 1) < 0)
		snprintf(o->hostname, sizeof(o->hostname), "localhost");
	o->hostname[sizeof(o->hostname) - 1] = '\0';
}

static void chan_destroy(struct chan *c)
{
	for (size_t i = 0; i < c->count; i++)
		item_put(c->o, c->ring[(c->head + i) % c->slots]);
	free(c->ring);
	set_put(c->ops, c->cur);
	set_put(c->ops, c->latest);
	set_put(c->ops, c->next);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
}

static void nats_report(void *ctx, enum saker_prio prio, const char *msg)
{
	struct saker_outputs *o = ctx;

	if (o->log)
		o->log(o->log_ctx, prio, msg);
}

static int nats_start(struct saker_outputs *o, const struct saker_config *cfg, char *err,
		      size_t errlen)
{
	static char *const def_server[] = {"nats://127.0.0.1:4222"};
	struct saker_nats_cfg nc = {
	    .servers =
		cfg->nats_output.servers.n ? cfg->nats_output.servers.v : (char **)def_server,
	    .n_servers = cfg->nats_output.servers.n ? cfg->nats_output.servers.n : 1,
	    .subject_prefix = cfg->nats_output.subject_prefix,
	    .hostname = o->hostname,
	    .stream = cfg->nats_output.stream,
	    .replicas = (unsigned)cfg->nats_output.stream_replicas,
	    .spool_dir = cfg->nats_output.spool_dir,
	    .spool_max_bytes = cfg->nats_output.spool_max_bytes,
	    .creds_file = cfg->nats_output.creds_file,
	    .ca_file = cfg->nats_output.ca_file,
	    .cert_file = cfg->nats_output.cert_file,
	    .key_file = cfg->nats_output.key_file,
	};

	return saker_nats_new(&o->nats, &nc, nats_report, o, err, errlen);
}

int saker_outputs_publish(struct saker_outputs *o, const char *suffix, const char *json, size_t len)
{
	if (!o || !suffix || !json)
		return -EINVAL;
	if (!o->nats)
		return -ENOTCONN;
	return saker_nats_publish(o->nats, suffix, json, len);
}

int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_outputs_opts *opts, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct chan_set *cs[N_CHAN];
	struct saker_outputs *o;
	pthread_condattr_t ca;
	size_t cap;
	int rc;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	rc = sets_build(cs, cfg, err, errlen);
	if (rc < 0)
		return rc;
	o = calloc(1, sizeof(*o));
	if (!o) {
		sets_free(cs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (opts) {
		o->log = opts->log;
		o->log_ctx = opts->log_ctx;
	}
	hostname_init(o);
	apply_format_settings(o, cfg);
	cap = capacity_of(cfg);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		c->o = o;
		c->id = (enum saker_channel)i;
		c->ops = channels[i];
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->wake, &ca);
		pthread_cond_init(&c->idle, &ca);
		atomic_init(&c->abort, false);
		c->env = (struct saker_chan_env){
		    .name = c->ops->name, .abort = &c->abort, .closing = &o->closing, .o = o};
		c->cur = cs[i];
		c->latest = set_get(cs[i]);
		c->enabled = cs[i]->enabled;
		if (rc == 0)
			rc = ring_resize(c, cap);
	}
	pthread_condattr_destroy(&ca);
	/*
	 * Once per process is what curl wants; it counts calls, so pairing
	 * init and cleanup per outputs object is safe (before any thread here).
	 */
	if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rc = -ENOMEM;
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_once(&once, install_wake_handler);
	if (cfg->nats_output.enabled) {
		rc = nats_start(o, cfg, err, errlen);
		if (rc < 0) {
			saker_outputs_free(o);
			return rc;
		}
	}
	for (int i = 0; i < N_CHAN && rc == 0; i++)
		if (o->ch[i].enabled)
			rc = chan_start(&o->ch[i]);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start an output thread: %s", strerror(-rc));
		saker_outputs_free(o);
		return rc;
	}
	*out = o;
	return 0;
fail:
	for (int i = 0; i < N_CHAN; i++)
		chan_destroy(&o->ch[i]);
	free(o);
	return rc;
}

static struct out_item *make_item(struct saker_outputs *o, const struct saker_alert *a)
{
	char *line =
	    o->json ? saker_alert_format_json(a, o->hostname, o->include_output, o->include_tags)
		    : saker_alert_format_text(a, o->iso8601);
	struct out_item *it;
	size_t len;

	if (!line)
		return NULL;
	len = strlen(line);
	it = malloc(sizeof(*it) + len + 2);
	if (it) {
		atomic_init(&it->refs, 1);
		atomic_init(&it->missed_exit, false);
		it->prio = a->priority;
		memcpy(it->line, line, len);
		it->line[len] = '\n';
		it->line[len + 1] = '\0';
		it->len = len + 1;
		atomic_fetch_add(&o->live, 1);
	}
	free(line);
	return it;
}

int saker_outputs_emit(struct saker_outputs *o, const struct saker_alert *alert)
{
	struct out_item *it;
	bool taken = false;
	uint64_t now;

	if (!o || !alert)
		return -EINVAL;
	if (atomic_load(&o->closing)) {
		atomic_fetch_add(&o->queue_drops, 1);
		return -ESHUTDOWN;
	}
	if (alert->priority > o->min_prio) {
		atomic_fetch_add(&o->filtered, 1);
		return 0;
	}
	/* Formatting happens here, once and outside any lock: workers only write bytes. */
	it = make_item(o, alert);
	now = saker_clock_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];
		uint64_t n = 0;

		pthread_mutex_lock(&c->lock);
		if (c->enabled) {
			c->offered++;
			if (it && c->count < c->cap && !c->stop) {
				atomic_fetch_add(&it->refs, 1);
				c->ring[(c->head + c->count) % c->slots] = it;
				c->count++;
				taken = true;
				pthread_cond_signal(&c->wake);
			} else {
				c->lost++;
				c->loss.unreported++;
				n = loss_due(c, now, false);
				/* The worker reports the rest when it is free again. */
				pthread_cond_signal(&c->wake);
			}
		}
		pthread_mutex_unlock(&c->lock);
		report_loss(c, n);
	}
	if (it)
		item_put(o, it);
	if (o->nats) {
		/* The stream holds JSON whatever json_output says: the fleet parses it. */
		char *js =
		    saker_alert_format_json(alert, o->hostname, o->include_output, o->include_tags);

		if (js && saker_nats_publish(o->nats, "alerts", js, strlen(js)) == 0)
			taken = true;
		free(js);
	}
	atomic_fetch_add(taken ? &o->emitted : &o->queue_drops, 1);
	return taken ? 0 : -ENOBUFS;
}

int saker_outputs_reopen(struct saker_outputs *o)
{
	if (!o)
		return -EINVAL;
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		c->reopen_req = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

int saker_outputs_reconfigure(struct saker_outputs *o, const struct saker_config *cfg, char *err,
			      size_t errlen)
{
	struct chan_set *cs[N_CHAN];
	size_t cap;
	int rc;

	if (!o || !cfg)
		return -EINVAL;
	if (atomic_load(&o->closing)) {
		snprintf(err, errlen, "outputs are shutting down");
		return -ESHUTDOWN;
	}
	rc = sets_build(cs, cfg, err, errlen);
	if (rc < 0)
		return rc;
	cap = capacity_of(cfg);
	/* Everything that can fail first, so a failure changes nothing. */
	for (int i = 0; i < N_CHAN && rc == 0; i++) {
		if (cs[i]->enabled) {
			rc = chan_start(&o->ch[i]);
			if (rc < 0)
				snprintf(err, errlen, "cannot start an output thread: %s",
					 strerror(-rc));
		}
	}
	for (int i = 0; i < N_CHAN && rc == 0; i++) {
		struct chan *c = &o->ch[i];

		pthread_mutex_lock(&c->lock);
		if (c->slots < cap)
			rc = ring_resize(c, cap);
		pthread_mutex_unlock(&c->lock);
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
	}
	if (rc < 0) {
		sets_free(cs);
		return rc;
	}
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];
		bool changed = !set_eq(c->ops, cs[i], c->latest);
		bool disabling = changed && !cs[i]->enabled;
		uint64_t before, dropped = 0;

		pthread_mutex_lock(&c->lock);
		(void)ring_resize(c, cap); /* a shrink keeps what is queued: cannot fail */
		if (changed) {
			before = c->dropped_reload;
			if (disabling)
				drain_ring(c, &c->dropped_reload, false);
			dropped = c->dropped_reload - before;
			c->enabled = cs[i]->enabled;
			set_put(c->ops, c->next);
			c->next = set_get(cs[i]);
			/* What is being delivered now is cut short and redone with the new
			 * settings. */
			atomic_store(&c->abort, true);
			pthread_cond_signal(&c->wake);
			set_put(c->ops, c->latest);
			c->latest = set_get(cs[i]);
		}
		pthread_mutex_unlock(&c->lock);
		if (dropped)
			report(
			    o, SAKER_PRIO_WARNING,
			    "outputs: %s output disabled by reload: %llu queued alert(s) dropped",
			    saker_channel_name(c->id), (unsigned long long)dropped);
	}
	sets_free(cs);
	apply_format_settings(o, cfg);
	return 0;
}

/* With c->lock held. */
static bool chan_idle(const struct chan *c, uint64_t req)
{
	return c->done ||
	       (c->count == 0 && !c->busy && !c->next && !c->reopen_req && c->flush_done >= req);
}

int saker_outputs_flush(struct saker_outputs *o, int timeout_ms)
{
	struct timespec dl = ts_at(saker_clock_ns(CLOCK_MONOTONIC) +
				   (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000);
	int rc = 0;

	if (!o)
		return -EINVAL;
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];
		uint64_t req;

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		req = ++c->flush_req;
		pthread_cond_signal(&c->wake);
		while (rc == 0 && !chan_idle(c, req))
			if (pthread_cond_timedwait(&c->idle, &c->lock, &dl) == ETIMEDOUT)
				rc = -ETIMEDOUT;
		pthread_mutex_unlock(&c->lock);
	}
	o->flush_timed_out = rc < 0;
	return rc;
}

static void chan_stats(struct chan *c, struct saker_outputs_stats *st)
{
	int i = c->id;

	pthread_mutex_lock(&c->lock);
	st->enabled[i] = c->enabled;
	st->offered[i] = c->offered;
	st->delivered[i] = c->delivered;
	st->failed[i] = c->failed;
	st->lost[i] = c->lost;
	st->dropped_reload[i] = c->dropped_reload;
	st->undelivered[i] = c->undelivered;
	st->pending[i] = c->final ? 0 : c->count + c->inflight;
	pthread_mutex_unlock(&c->lock);
}

void saker_outputs_get_stats(struct saker_outputs *o, struct saker_outputs_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!o)
		return;
	for (int i = 0; i < N_CHAN; i++)
		chan_stats(&o->ch[i], st);
	st->emitted = atomic_load(&o->emitted);
	st->filtered = atomic_load(&o->filtered);
	st->queue_drops = atomic_load(&o->queue_drops);
	st->queued = o->shut ? 0 : atomic_load(&o->live);
	st->undelivered_alerts = atomic_load(&o->undelivered_alerts);
	st->final = o->shut;
	if (o->nats) {
		saker_nats_get_stats(o->nats, &st->nats);
		st->nats_enabled = true;
		st->enabled[SAKER_CH_NATS] = true;
		st->offered[SAKER_CH_NATS] = st->nats.alerts.offered;
		st->delivered[SAKER_CH_NATS] = st->nats.alerts.acked;
		st->lost[SAKER_CH_NATS] = st->nats.alerts.lost;
		st->pending[SAKER_CH_NATS] = st->nats.alerts.pending;
	}
}

void saker_outputs_test_pause(struct saker_outputs *o, bool paused)
{
	if (!o)
		return;
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		pthread_mutex_lock(&c->lock);
		c->paused = paused;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
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
		ts = ts_at(until);
		pthread_cond_timedwait(&c->idle, &c->lock, &ts);
	}
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

int saker_outputs_shutdown(struct saker_outputs *o, int timeout_ms)
{
	uint64_t t0 = saker_clock_ns(CLOCK_MONOTONIC), budget, hard, soft;
	bool cut_any = false;

	if (!o || o->shut)
		return 0;
	if (timeout_ms <= 0)
		timeout_ms = SAKER_OUTPUTS_SHUTDOWN_MS;
	budget = (uint64_t)timeout_ms * 1000000ULL;
	hard = t0 + budget;
	soft = budget > 2 * SHUTDOWN_CUT_MS * 1000000ULL ? hard - SHUTDOWN_CUT_MS * 1000000ULL
							 : t0 + budget / 2;
	atomic_store(&o->closing, true);
	/* It writes its queue to its spool and waits for acks in parallel with the others. */
	saker_nats_stop(o->nats, (int)((soft - t0) / 1000000ULL));
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
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];
		uint64_t before, n;

		pthread_mutex_lock(&c->lock);
		before = c->undelivered;
		drain_ring(c, &c->undelivered, true);
		if (c->leaked) {
			c->undelivered += c->inflight;
			c->inflight = 0;
		}
		c->final = true;
		n = loss_due(c, saker_clock_ns(CLOCK_MONOTONIC), true);
		pthread_mutex_unlock(&c->lock);
		report_loss(c, n);
		if (!c->leaked)
			note_failure(c, NULL, true);
		if (c->undelivered > before || c->leaked)
			report(o, SAKER_PRIO_ERROR,
			       "outputs: %s output: %llu alert(s) undelivered at exit%s",
			       saker_channel_name(c->id), (unsigned long long)c->undelivered,
			       c->leaked ? " (its thread is stuck in a system call)" : "");
	}
	if (o->nats) {
		struct saker_nats_stats ns;

		saker_nats_shutdown(o->nats, 0);
		saker_nats_get_stats(o->nats, &ns);
		if (ns.pending)
			report(
			    o, SAKER_PRIO_WARNING,
			    "outputs: nats output: %llu message(s) not acknowledged, kept in the "
			    "spool for the next start",
			    (unsigned long long)ns.pending);
	}
	o->shut = true;
	return cut_any ? -ETIMEDOUT : 0;
}

void saker_outputs_free(struct saker_outputs *o)
{
	bool leaked = false;

	if (!o)
		return;
	(void)saker_outputs_shutdown(o, SAKER_OUTPUTS_SHUTDOWN_MS);
	for (int i = 0; i < N_CHAN; i++)
		leaked |= o->ch[i].leaked;
	/* A thread still running uses the object: it goes when the process does. */
	if (leaked)
		return;
	for (int i = 0; i < N_CHAN; i++)
		chan_destroy(&o->ch[i]);
	saker_nats_free(o->nats);
	curl_global_cleanup();
	free(o);
}
