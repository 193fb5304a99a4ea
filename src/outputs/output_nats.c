/*
 * nats_output: the channel (own kind, outputs/channel.h: it counts its
 * alerts and its /metrics series itself), the memory queue, the spool and
 * the worker loop; the JetStream side is output_nats_js.c.
 *
 * Threads: callers of saker_nats_publish (the loop, other channels' code);
 * the worker, which owns the spool, the connection and the publishing; and
 * libnats' own threads, which run ack_cb. The lock guards the memory queue,
 * the in-flight ring and the counters; no I/O is done under it.
 */
#include "outputs/output_nats.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/spool.h"
#include "outputs/channel.h"
#include "outputs/output_nats_int.h"

void nats_report(struct saker_nats *n, enum saker_prio prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!n->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n->log(n->log_ctx, prio, msg);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

void saker_nats_cfg_free(struct saker_nats_cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_servers; i++)
		free(c->servers[i]);
	free(c->servers);
	free(c->subject_prefix);
	free(c->hostname);
	free(c->stream);
	free(c->spool_dir);
	free(c->creds_file);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	memset(c, 0, sizeof(*c));
}

int saker_nats_cfg_copy(struct saker_nats_cfg *dst, const struct saker_nats_cfg *src)
{
	bool bad = false;

	*dst = *src;
	dst->servers = NULL;
	dst->n_servers = 0;
	if (src->n_servers) {
		dst->servers = calloc(src->n_servers, sizeof(char *));
		bad = !dst->servers;
		for (size_t i = 0; !bad && i < src->n_servers; i++) {
			dst->servers[i] = strdup(src->servers[i]);
			bad = !dst->servers[i];
			dst->n_servers = i + 1;
		}
	}
#define DUP(f)                                                                                     \
	do {                                                                                       \
		dst->f = dup_or_null(src->f);                                                      \
		if (src->f && *src->f && !dst->f)                                                  \
			bad = true;                                                                \
	} while (0)
	DUP(subject_prefix);
	DUP(hostname);
	DUP(stream);
	DUP(spool_dir);
	DUP(creds_file);
	DUP(ca_file);
	DUP(cert_file);
	DUP(key_file);
#undef DUP
	if (bad) {
		saker_nats_cfg_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* A subject token: what NATS allows, without wildcards or separators. */
static void subject_token(const char *in, char *out, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; in[i] && j + 1 < len; i++) {
		char c = in[i];

		out[j++] = (c > ' ' && c < 127 && c != '.' && c != '*' && c != '>') ? c : '_';
	}
	out[j] = '\0';
	if (!j)
		snprintf(out, len, "unknown");
}

static bool suffix_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && n <= SAKER_NATS_MAX_SUFFIX;
}

/* ---- worker ---- */

uint64_t nats_now_ns(void)
{
	return saker_clock_ns(CLOCK_MONOTONIC);
}

void nats_do_sync(struct saker_nats *n, bool force)
{
	int rc;

	if (!force && n->unsynced < SYNC_EVERY &&
	    !(n->unsynced && nats_now_ns() - n->first_unsynced_ns >= SYNC_AFTER_MS * NS_PER_MS))
		return;
	rc = saker_spool_sync(n->spool);
	n->unsynced = 0;
	if (rc < 0)
		nats_report(n, SAKER_PRIO_ERROR, "nats_output: spool %s: sync: %s",
			    n->cfg.spool_dir, strerror(-rc));
}

/* Memory queue -> spool. */
static void drain_queue(struct saker_nats *n)
{
	for (;;) {
		struct qitem *it;
		char subj[512], id[SAKER_SPOOL_MAX_ID + 1];
		bool alert;
		int rc;

		pthread_mutex_lock(&n->lock);
		if (!n->q_len) {
			pthread_mutex_unlock(&n->lock);
			return;
		}
		it = n->q[n->q_head];
		n->q_head = (n->q_head + 1) % n->q_cap;
		n->q_len--;
		pthread_mutex_unlock(&n->lock);

		snprintf(subj, sizeof(subj), "%s.%s.%s", n->cfg.subject_prefix, n->host,
			 it->suffix);
		snprintf(id, sizeof(id), "%s%s%" PRIu64, n->host, n->run, ++n->seq);
		rc = saker_spool_append(n->spool, id, subj, it->data, it->len);
		alert = it->alert;
		free(it);
		pthread_mutex_lock(&n->lock);
		if (rc == -ENOSPC)
			n->st.lost_spool_full++;
		else if (rc < 0)
			n->st.lost_write++;
		if (rc < 0) {
			n->st.pending--;
			if (alert) {
				n->st.alerts.pending--;
				n->st.alerts.lost++;
			}
		}
		pthread_mutex_unlock(&n->lock);
		if (rc == 0 && n->unsynced++ == 0)
			n->first_unsynced_ns = nats_now_ns();
		if (rc == -ENOSPC)
			nats_report(n, SAKER_PRIO_WARNING,
				    "nats_output: spool %s full (%" PRIu64
				    " bytes): newest message dropped",
				    n->cfg.spool_dir, n->cfg.spool_max_bytes);
		else if (rc < 0)
			nats_report(n, SAKER_PRIO_ERROR, "nats_output: spool %s: write: %s",
				    n->cfg.spool_dir, strerror(-rc));
		nats_do_sync(n, false);
	}
}

static void *worker(void *arg)
{
	struct saker_nats *n = arg;

	for (;;) {
		bool stop, empty;
		uint64_t deadline;
		struct saker_spool_stats sst;

		drain_queue(n);
		nats_keep_connected(n);
		nats_collect_acks(n);
		if (n->stream_ok && !n->rewinding && nats_now_ns() >= n->resume_ns)
			nats_publish_some(n);
		nats_do_sync(n, false);
		saker_spool_get_stats(n->spool, &sst);

		pthread_mutex_lock(&n->lock);
		n->st.spool_bytes = sst.bytes;
		stop = n->stop;
		deadline = n->deadline_ns;
		empty = n->st.pending == 0 && n->q_len == 0;
		if (stop && (empty || !n->st.connected ||
			     nats_now_ns() + CLOSE_MS * NS_PER_MS >= deadline)) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		if (!n->q_len) {
			struct timespec ts;
			uint64_t wake = saker_clock_ns(CLOCK_REALTIME) + IDLE_MS * NS_PER_MS;

			ts.tv_sec = (time_t)(wake / 1000000000ULL);
			ts.tv_nsec = (long)(wake % 1000000000ULL);
			pthread_cond_timedwait(&n->wake, &n->lock, &ts);
		}
		pthread_mutex_unlock(&n->lock);
	}
	drain_queue(n);
	nats_collect_acks(n);
	nats_do_sync(n, true);
	return NULL;
}

int saker_nats_new(struct saker_nats **out, const struct saker_nats_cfg *cfg, saker_report_fn log,
		   void *log_ctx, char *err, size_t errlen)
{
	struct saker_spool_opts so = {0};
	struct saker_spool_stats sst;
	struct saker_nats *n;
	uint64_t run = 0;
	char host[256];
	int rc;

	*out = NULL;
	if (!cfg->n_servers || !cfg->subject_prefix || !cfg->stream || !cfg->spool_dir) {
		snprintf(err, errlen,
			 "nats_output: servers, subject_prefix, stream and spool_dir "
			 "must be set");
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	n->log = log;
	n->log_ctx = log_ctx;
	rc = saker_nats_cfg_copy(&n->cfg, cfg);
	if (rc)
		goto fail;
	n->q_cap = cfg->queue_cap ? cfg->queue_cap : SAKER_NATS_QUEUE;
	n->q = calloc(n->q_cap, sizeof(*n->q));
	n->fl = calloc(SAKER_NATS_WINDOW, sizeof(*n->fl));
	if (!n->q || !n->fl) {
		rc = -ENOMEM;
		goto fail;
	}
	if (cfg->hostname && *cfg->hostname)
		snprintf(host, sizeof(host), "%s", cfg->hostname);
	else if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	subject_token(host, n->host, sizeof(n->host));
	if (getrandom(&run, sizeof(run), 0) != (ssize_t)sizeof(run))
		run = saker_clock_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	snprintf(n->run, sizeof(n->run), "-%016" PRIx64 "-", run);
	n->run_len = strlen(n->run);
	so.dir = cfg->spool_dir;
	so.max_bytes = cfg->spool_max_bytes;
	rc = saker_spool_open(&n->spool, &so, err, errlen);
	if (rc)
		goto fail;
	saker_spool_get_stats(n->spool, &sst);
	n->st.recovered = sst.recovered + sst.corrupt;
	n->st.lost_corrupt = sst.corrupt;
	n->st.pending = sst.recovered;
	n->corrupt_at_open = sst.corrupt;
	if (sst.corrupt)
		nats_report(n, SAKER_PRIO_WARNING,
			    "nats_output: spool %s: %" PRIu64 " damaged record(s), %" PRIu64
			    " bytes, skipped (%" PRIu64 " torn tail); never resent",
			    cfg->spool_dir, sst.corrupt, sst.corrupt_bytes, sst.torn_tails);
	if (sst.recovered)
		nats_report(n, SAKER_PRIO_INFO,
			    "nats_output: spool %s: %" PRIu64
			    " message(s) from an earlier run to send",
			    cfg->spool_dir, sst.recovered);
	rc = pthread_create(&n->thread, NULL, worker, n);
	if (rc) {
		rc = -rc;
		snprintf(err, errlen, "nats_output: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	n->started = true;
	*out = n;
	return 0;
fail:
	saker_nats_free(n);
	return rc;
}

int saker_nats_publish(struct saker_nats *n, const char *suffix, const char *json, size_t len)
{
	struct qitem *it;
	bool alert;

	if (!suffix_ok(suffix))
		return -EINVAL;
	it = malloc(sizeof(*it) + len);
	pthread_mutex_lock(&n->lock);
	if (n->stop) {
		pthread_mutex_unlock(&n->lock);
		free(it);
		return -ESHUTDOWN;
	}
	n->st.offered++;
	alert = strcmp(suffix, "alerts") == 0;
	n->st.alerts.offered += alert;
	if (!it || n->q_len >= n->q_cap) {
		n->st.lost_queue++;
		n->st.alerts.lost += alert;
		pthread_mutex_unlock(&n->lock);
		free(it);
		return -ENOBUFS;
	}
	it->len = len;
	snprintf(it->suffix, sizeof(it->suffix), "%s", suffix);
	memcpy(it->data, json, len);
	n->q[(n->q_head + n->q_len) % n->q_cap] = it;
	n->q_len++;
	n->st.pending++;
	n->st.alerts.pending += alert;
	it->alert = alert;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	return 0;
}

void saker_nats_get_stats(struct saker_nats *n, struct saker_nats_stats *st)
{
	pthread_mutex_lock(&n->lock);
	*st = n->st;
	pthread_mutex_unlock(&n->lock);
	/* The spool's size is the worker's; a racy read of one integer is good enough. */
}

void saker_nats_stop(struct saker_nats *n, int timeout_ms)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	if (!n->stop) {
		n->stop = true;
		n->deadline_ns =
		    nats_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 5000) * NS_PER_MS;
	}
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

int saker_nats_shutdown(struct saker_nats *n, int timeout_ms)
{
	if (!n || n->shut)
		return 0;
	saker_nats_stop(n, timeout_ms);
	if (n->started)
		pthread_join(n->thread, NULL);
	n->started = false;
	/* The ack callbacks run on libnats' threads: the connection goes before the ring. */
	nats_disconnect(n);
	if (n->spool) {
		struct saker_spool_stats sst;

		saker_spool_sync(n->spool);
		saker_spool_get_stats(n->spool, &sst);
		pthread_mutex_lock(&n->lock);
		n->st.spool_bytes = sst.bytes;
		pthread_mutex_unlock(&n->lock);
	}
	n->shut = true;
	return 0;
}

void saker_nats_free(struct saker_nats *n)
{
	if (!n)
		return;
	saker_nats_shutdown(n, 0);
	for (size_t i = 0; n->q && i < n->q_len; i++)
		free(n->q[(n->q_head + i) % n->q_cap]);
	saker_spool_close(n->spool);
	saker_nats_cfg_free(&n->cfg);
	free(n->q);
	free(n->fl);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* ---- the channel: own kind (outputs/channel.h), row NATS of channels.def ---- */

static bool nats_enabled(const struct saker_config *cfg)
{
	return cfg->nats_output.enabled;
}

static int nats_start(void **state, const struct saker_config *cfg,
		      const struct saker_chan_env *env, char *err, size_t errlen)
{
	static char *const def_server[] = {"nats://127.0.0.1:4222"};
	const struct saker_strlist *servers = &cfg->nats_output.servers;
	struct saker_nats_cfg nc = {
	    .servers = servers->n ? servers->v : (char **)def_server,
	    .n_servers = servers->n ? servers->n : 1,
	    .subject_prefix = cfg->nats_output.subject_prefix,
	    .hostname = (char *)env->hostname,
	    .stream = cfg->nats_output.stream,
	    .replicas = (unsigned)cfg->nats_output.stream_replicas,
	    .spool_dir = cfg->nats_output.spool_dir,
	    .spool_max_bytes = cfg->nats_output.spool_max_bytes,
	    .creds_file = cfg->nats_output.creds_file,
	    .ca_file = cfg->nats_output.ca_file,
	    .cert_file = cfg->nats_output.cert_file,
	    .key_file = cfg->nats_output.key_file,
	};
	struct saker_nats *n = NULL;
	int rc = saker_nats_new(&n, &nc, saker_chan_log, (void *)env, err, errlen);

	*state = n;
	return rc;
}

static int nats_offer(void *state, const char *json, size_t len)
{
	return saker_nats_publish(state, "alerts", json, len);
}

static int nats_publish(void *state, const char *suffix, const char *json, size_t len)
{
	return saker_nats_publish(state, suffix, json, len);
}

static void add_series(struct saker_chan_own_stats *os, const char *name, const char *help,
		       enum saker_metric_type type, const char *cause, uint64_t v)
{
	if (os->n_series < SAKER_CHAN_SERIES_MAX)
		os->series[os->n_series++] = (struct saker_chan_series){
		    .name = name,
		    .help = help,
		    .type = type,
		    .label = cause ? "cause" : NULL,
		    .value = cause,
		    .v = v,
		};
}

/* The alerts' buckets of this run; every subject's: offered + recovered = acked + pending + lost.
 */
static void nats_stats(void *state, struct saker_chan_own_stats *os)
{
	static const char lost_help[] = "Messages lost by nats_output, by cause.";
	const enum saker_metric_type C = SAKER_METRIC_COUNTER, G = SAKER_METRIC_GAUGE;
	struct saker_nats_stats n;

	saker_nats_get_stats(state, &n);
	os->offered = n.alerts.offered;
	os->delivered = n.alerts.acked;
	os->lost = n.alerts.lost;
	os->pending = n.alerts.pending;

	add_series(os, "nats_offered_total",
		   "Messages handed to nats_output by this run (every subject).", C, NULL,
		   n.offered);
	add_series(os, "nats_recovered_total",
		   "Messages an earlier run left in the spool, found at start (damaged ones "
		   "included).",
		   C, NULL, n.recovered);
	add_series(os, "nats_acked_total", "Messages the JetStream stream acknowledged.", C, NULL,
		   n.acked);
	add_series(os, "nats_dedup_total",
		   "Acknowledgements the server marked duplicate (a resend it already had).", C,
		   NULL, n.dedup);
	add_series(os, "nats_resent_total",
		   "Publishes of a message that had been published before.", C, NULL, n.resent);
	add_series(os, "nats_publish_errors_total",
		   "Publishes that failed (negative ack, no ack in time, not connected).", C, NULL,
		   n.publish_errors);
	add_series(os, "nats_pending", "Messages not acknowledged yet (memory queue and spool).", G,
		   NULL, n.pending);
	add_series(os, "nats_lost_total", lost_help, C, "queue_full", n.lost_queue);
	add_series(os, "nats_lost_total", lost_help, C, "spool_full", n.lost_spool_full);
	add_series(os, "nats_lost_total", lost_help, C, "write_error", n.lost_write);
	add_series(os, "nats_lost_total", lost_help, C, "corrupt", n.lost_corrupt);
	add_series(os, "nats_spool_bytes", "Size of the spool's segment files.", G, NULL,
		   n.spool_bytes);
	add_series(os, "nats_connected", "1 while connected to a server with the stream in place.",
		   G, NULL, n.connected);
}

static void nats_chan_stop(void *state, int timeout_ms)
{
	saker_nats_stop(state, timeout_ms);
}

static void nats_chan_shutdown(void *state, const struct saker_chan_env *env)
{
	struct saker_nats_stats n;

	saker_nats_shutdown(state, 0);
	saker_nats_get_stats(state, &n);
	if (n.pending)
		saker_chan_report(
		    env, SAKER_PRIO_WARNING,
		    "nats output: %llu message(s) not acknowledged, kept in the spool "
		    "for the next start",
		    (unsigned long long)n.pending);
}

static void nats_chan_free(void *state)
{
	saker_nats_free(state);
}

static const struct saker_channel_own nats_own = {
    .start = nats_start,
    .offer = nats_offer,
    .publish = nats_publish,
    .stats = nats_stats,
    .stop = nats_chan_stop,
    .shutdown = nats_chan_shutdown,
    .free = nats_chan_free,
};

const struct saker_channel_ops saker_output_nats = {
    .name = "nats",
    .enabled = nats_enabled,
    .own = &nats_own,
};
