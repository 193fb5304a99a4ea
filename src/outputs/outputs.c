/*
 * The outputs' API, on the emitting thread: settings, emit, reload, flush,
 * stats and shutdown over every channel (a channel is one file implementing
 * outputs/channel.h, one row of outputs/channels.def). The shared kind's
 * workers are outputs_worker.c.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "outputs/output_format.h"
#include "outputs/outputs_int.h"

static const struct saker_channel_ops *const channels[N_CHAN] = {
#define SAKER_CHANNEL(ID, name) [SAKER_CH_##ID] = &saker_output_##name,
#include "outputs/channels.def"
#undef SAKER_CHANNEL
};

const char *saker_channel_name(enum saker_channel ch)
{
	if ((unsigned)ch >= N_CHAN)
		return "unknown";
	return channels[ch]->name;
}

static bool nonempty(const char *s)
{
	return s && *s;
}

/* ---- settings ---- */

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
		out_set_put(channels[i], s[i]);
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

	for (int i = 0; i < N_CHAN; i++)
		s[i] = NULL;
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

/* ---- emitting thread ---- */

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
		out_item_put(c->o, c->ring[(c->head + i) % c->slots]);
	free(c->ring);
	out_set_put(c->ops, c->cur);
	out_set_put(c->ops, c->latest);
	out_set_put(c->ops, c->next);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
}

/* ---- the own kind (outputs/channel.h): its own queue, worker and counts ---- */

static bool is_own(const struct chan *c)
{
	return c->ops->own != NULL;
}

/* At start-up only: SIGHUP leaves an own channel as it is. */
static int own_start(struct saker_outputs *o, const struct saker_config *cfg, char *err,
		     size_t errlen)
{
	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];
		int rc;

		if (!is_own(c) || !c->enabled)
			continue;
		rc = c->ops->own->start(&c->own, cfg, &c->env, err, errlen);
		if (rc < 0) {
			c->own = NULL;
			return rc;
		}
	}
	return 0;
}

/* Every started own channel takes the alert as JSON; true when one did. */
static bool own_offer(struct saker_outputs *o, const struct saker_alert *alert)
{
	char *js = NULL;
	bool taken = false;

	for (int i = 0; i < N_CHAN; i++) {
		struct chan *c = &o->ch[i];

		if (!c->own)
			continue;
		/* JSON whatever json_output says: a stream's readers (the fleet) parse it. */
		if (!js)
			js = saker_alert_format_json(alert, o->hostname, o->include_output,
						     o->include_tags);
		if (js && c->ops->own->offer(c->own, js, strlen(js)) == 0)
			taken = true;
	}
	free(js);
	return taken;
}

static void own_stats(struct chan *c, struct saker_outputs_stats *st)
{
	struct saker_chan_own_stats os;
	int i = c->id;

	memset(&os, 0, sizeof(os));
	c->ops->own->stats(c->own, &os);
	st->enabled[i] = true;
	st->offered[i] = os.offered;
	st->delivered[i] = os.delivered;
	st->lost[i] = os.lost;
	st->pending[i] = os.pending;
	for (size_t k = 0; k < os.n_series && k < SAKER_CHAN_SERIES_MAX; k++)
		if (st->n_series < SAKER_OUTPUTS_SERIES_MAX)
			st->series[st->n_series++] = os.series[k];
}

int saker_outputs_publish(struct saker_outputs *o, const char *suffix, const char *json, size_t len)
{
	if (!o || !suffix || !json)
		return -EINVAL;
	for (int i = 0; i < N_CHAN; i++)
		if (o->ch[i].own && o->ch[i].ops->own->publish)
			return o->ch[i].ops->own->publish(o->ch[i].own, suffix, json, len);
	return -ENOTCONN;
}

/* ---- start-up ---- */

/* The shared kind's worker thread, unless it runs already. */
static int start_worker(struct chan *c, char *err, size_t errlen)
{
	int rc = is_own(c) ? 0 : out_chan_start(c);

	if (rc < 0)
		snprintf(err, errlen, "cannot start an output thread: %s", strerror(-rc));
	return rc;
}

/* Every channel's lock, settings and (the shared kind) queue of cap alerts. */
static int chans_init(struct saker_outputs *o, struct chan_set *cs[N_CHAN], size_t cap)
{
	pthread_condattr_t ca;
	int rc = 0;

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
		c->env = (struct saker_chan_env){.name = c->ops->name,
						 .abort = &c->abort,
						 .closing = &o->closing,
						 .o = o,
						 .hostname = o->hostname};
		c->cur = cs[i];
		c->latest = out_set_get(cs[i]);
		c->enabled = cs[i]->enabled;
		if (rc == 0 && !is_own(c))
			rc = ring_resize(c, cap);
	}
	pthread_condattr_destroy(&ca);
	return rc;
}

int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_outputs_opts *opts, char *err, size_t errlen)
{
	struct chan_set *cs[N_CHAN];
	struct saker_outputs *o;
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
	rc = chans_init(o, cs, capacity_of(cfg));
	/*
	 * Once per process is what curl wants; it counts calls, so pairing
	 * init and cleanup per outputs object is safe (before any thread here).
	 */
	if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rc = -ENOMEM;
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		for (int i = 0; i < N_CHAN; i++)
			chan_destroy(&o->ch[i]);
		free(o);
		return rc;
	}
	rc = own_start(o, cfg, err, errlen);
	for (int i = 0; i < N_CHAN && rc == 0; i++)
		if (o->ch[i].enabled)
			rc = start_worker(&o->ch[i], err, errlen);
	if (rc < 0) {
		saker_outputs_free(o);
		return rc;
	}
	*out = o;
	return 0;
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

		if (is_own(c))
			continue;
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
				n = out_loss_due(c, now, false);
				/* The worker reports the rest when it is free again. */
				pthread_cond_signal(&c->wake);
			}
		}
		pthread_mutex_unlock(&c->lock);
		out_report_loss(c, n);
	}
	if (it)
		out_item_put(o, it);
	if (own_offer(o, alert))
		taken = true;
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

/* SIGHUP, one channel of the shared kind: the new queue bound and settings. */
static void apply_set(struct chan *c, struct chan_set *set, size_t cap)
{
	bool changed = !set_eq(c->ops, set, c->latest);
	bool disabling = changed && !set->enabled;
	uint64_t before, dropped = 0;

	pthread_mutex_lock(&c->lock);
	(void)ring_resize(c, cap); /* a shrink keeps what is queued: cannot fail */
	if (changed) {
		before = c->dropped_reload;
		if (disabling)
			out_drain_ring(c, &c->dropped_reload, false);
		dropped = c->dropped_reload - before;
		c->enabled = set->enabled;
		out_set_put(c->ops, c->next);
		c->next = out_set_get(set);
		/* What is being delivered now is cut short and redone with the new settings. */
		atomic_store(&c->abort, true);
		pthread_cond_signal(&c->wake);
		out_set_put(c->ops, c->latest);
		c->latest = out_set_get(set);
	}
	pthread_mutex_unlock(&c->lock);
	if (dropped)
		out_report(c->o, SAKER_PRIO_WARNING,
			   "outputs: %s output disabled by reload: %llu queued alert(s) dropped",
			   saker_channel_name(c->id), (unsigned long long)dropped);
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
	for (int i = 0; i < N_CHAN && rc == 0; i++)
		if (cs[i]->enabled)
			rc = start_worker(&o->ch[i], err, errlen);
	for (int i = 0; i < N_CHAN && rc == 0; i++) {
		struct chan *c = &o->ch[i];

		pthread_mutex_lock(&c->lock);
		if (!is_own(c) && c->slots < cap)
			rc = ring_resize(c, cap);
		pthread_mutex_unlock(&c->lock);
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
	}
	if (rc < 0) {
		sets_free(cs);
		return rc;
	}
	for (int i = 0; i < N_CHAN; i++)
		if (!is_own(&o->ch[i]))
			apply_set(&o->ch[i], cs[i], cap);
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
	struct timespec dl = out_ts_at(saker_clock_ns(CLOCK_MONOTONIC) +
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
		if (o->ch[i].own)
			own_stats(&o->ch[i], st);
		else if (!is_own(&o->ch[i]))
			chan_stats(&o->ch[i], st);
	st->emitted = atomic_load(&o->emitted);
	st->filtered = atomic_load(&o->filtered);
	st->queue_drops = atomic_load(&o->queue_drops);
	st->queued = o->shut ? 0 : atomic_load(&o->live);
	st->undelivered_alerts = atomic_load(&o->undelivered_alerts);
	st->final = o->shut;
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

int saker_outputs_shutdown(struct saker_outputs *o, int timeout_ms)
{
	uint64_t t0 = saker_clock_ns(CLOCK_MONOTONIC), budget, hard, soft;
	bool cut_any;

	if (!o || o->shut)
		return 0;
	if (timeout_ms <= 0)
		timeout_ms = SAKER_OUTPUTS_SHUTDOWN_MS;
	budget = (uint64_t)timeout_ms * 1000000ULL;
	hard = t0 + budget;
	soft = budget > 2 * SHUTDOWN_CUT_MS * 1000000ULL ? hard - SHUTDOWN_CUT_MS * 1000000ULL
							 : t0 + budget / 2;
	atomic_store(&o->closing, true);
	/* An own channel (nats: its queue to its spool, the acks) finishes in parallel. */
	for (int i = 0; i < N_CHAN; i++)
		if (o->ch[i].own)
			o->ch[i].ops->own->stop(o->ch[i].own, (int)((soft - t0) / 1000000ULL));
	cut_any = out_stop_workers(o, soft, hard);
	for (int i = 0; i < N_CHAN; i++)
		if (o->ch[i].own)
			o->ch[i].ops->own->shutdown(o->ch[i].own, &o->ch[i].env);
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
	for (int i = 0; i < N_CHAN; i++)
		if (o->ch[i].own)
			o->ch[i].ops->own->free(o->ch[i].own);
	curl_global_cleanup();
	free(o);
}
