/*
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

static void report(struct saker_nats *n, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct saker_nats *n, enum saker_prio prio, const char *fmt, ...)
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

/* ---- the ack callback (libnats' thread) ---- */

static void ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct saker_nats *n = closure;
	const char *id = NULL;

	(void)js;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK)
		id = NULL;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; id && i < n->fl_len; i++) {
		struct flight *f = &n->fl[(n->fl_head + i) % SAKER_NATS_WINDOW];

		if (f->state != FL_SENT || strcmp(f->id, id) != 0)
			continue;
		if (pa) {
			f->state = FL_ACKED;
			f->dup = pa->Duplicate;
		} else {
			f->state = FL_FAILED;
			n->st.publish_errors++;
			snprintf(n->last_err, sizeof(n->last_err), "%s",
				 pae && pae->ErrText ? pae->ErrText
				 : pae		     ? natsStatus_GetText(pae->Err)
						     : "no answer");
		}
		break;
	}
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	natsMsg_Destroy(msg);
}

/* ---- connection ---- */

static void disconnect(struct saker_nats *n)
{
	jsCtx_Destroy(n->js);
	n->js = NULL;
	if (n->nc) {
		natsConnection_Close(n->nc);
		natsConnection_Destroy(n->nc);
	}
	n->nc = NULL;
	n->stream_ok = false;
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct saker_nats *n = closure;

	(void)nc;
	pthread_mutex_lock(&n->lock);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

static int connect_nats(struct saker_nats *n, char *err, size_t errlen)
{
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s;

	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)n->cfg.servers, (int)n->cfg.n_servers);
	if (s == NATS_OK)
		s = natsOptions_SetNoRandomize(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "saker");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 250);
	/* A dead server is noticed within a few seconds, not minutes. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, 3);
	/* With a callback the first connection is made in the background; without, Connect blocks.
	 */
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, n);
	if (s == NATS_OK && n->cfg.creds_file)
		s = natsOptions_SetUserCredentialsFromFiles(o, n->cfg.creds_file, NULL);
	if (s == NATS_OK && (n->cfg.ca_file || n->cfg.cert_file))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && n->cfg.ca_file)
		s = natsOptions_LoadCATrustedCertificates(o, n->cfg.ca_file);
	if (s == NATS_OK && n->cfg.cert_file)
		s = natsOptions_LoadCertificatesChain(o, n->cfg.cert_file, n->cfg.key_file);
	if (s != NATS_OK) {
		snprintf(err, errlen, "nats options: %s", nats_GetLastError(NULL));
		natsOptions_Destroy(o);
		return -EINVAL;
	}
	s = natsConnection_Connect(&n->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		snprintf(err, errlen, "%s", nats_GetLastError(NULL));
		n->nc = NULL;
		return -ECONNREFUSED;
	}
	jsOptions_Init(&jo);
	jo.Wait = 2000;
	jo.PublishAsync.MaxPending = SAKER_NATS_WINDOW * 2;
	jo.PublishAsync.AckHandler = ack_cb;
	jo.PublishAsync.AckHandlerClosure = n;
	s = natsConnection_JetStream(&n->js, n->nc, &jo);
	if (s != NATS_OK) {
		snprintf(err, errlen, "jetstream: %s", natsStatus_GetText(s));
		disconnect(n);
		return -ENOMEM;
	}
	return 0;
}

static bool connected(struct saker_nats *n)
{
	return n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

static int ensure_stream(struct saker_nats *n, char *err, size_t errlen)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	jsStreamConfig sc;
	char subj[256];
	const char *subjs[1] = {subj};

	s = js_GetStreamInfo(&si, n->js, n->cfg.stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		snprintf(err, errlen, "stream %s: %s", n->cfg.stream,
			 nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
		return -EAGAIN;
	}
	snprintf(subj, sizeof(subj), "%s.>", n->cfg.subject_prefix);
	jsStreamConfig_Init(&sc);
	sc.Name = n->cfg.stream;
	sc.Subjects = subjs;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = (int64_t)(n->cfg.replicas ? n->cfg.replicas : 1);
	s = js_AddStream(&si, n->js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		snprintf(err, errlen, "creating stream %s (subjects %s, replicas %u): %s",
			 n->cfg.stream, subj, n->cfg.replicas,
			 nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
		return -EAGAIN;
	}
	jsStreamInfo_Destroy(si);
	return 1;
}

/* ---- worker ---- */

static uint64_t now_ns(void)
{
	return saker_clock_ns(CLOCK_MONOTONIC);
}

static void do_sync(struct saker_nats *n, bool force)
{
	int rc;

	if (!force && n->unsynced < SYNC_EVERY &&
	    !(n->unsynced && now_ns() - n->first_unsynced_ns >= SYNC_AFTER_MS * NS_PER_MS))
		return;
	rc = saker_spool_sync(n->spool);
	n->unsynced = 0;
	if (rc < 0)
		report(n, SAKER_PRIO_ERROR, "nats_output: spool %s: sync: %s", n->cfg.spool_dir,
		       strerror(-rc));
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
			n->first_unsynced_ns = now_ns();
		if (rc == -ENOSPC)
			report(n, SAKER_PRIO_WARNING,
			       "nats_output: spool %s full (%" PRIu64
			       " bytes): newest message dropped",
			       n->cfg.spool_dir, n->cfg.spool_max_bytes);
		else if (rc < 0)
			report(n, SAKER_PRIO_ERROR, "nats_output: spool %s: write: %s",
			       n->cfg.spool_dir, strerror(-rc));
		do_sync(n, false);
	}
}

/* Publishes from the spool while the window has room. */
static void publish_some(struct saker_nats *n)
{
	uint64_t timeout = (uint64_t)(n->cfg.ack_timeout_ms > 0 ? n->cfg.ack_timeout_ms
								: SAKER_NATS_ACK_TIMEOUT_MS);

	for (;;) {
		struct saker_spool_rec r;
		struct flight *f;
		jsPubOptions po;
		natsMsg *m = NULL;
		char subj[SAKER_SPOOL_MAX_SUBJECT + 1];
		natsStatus s;
		size_t slot;
		uint64_t before, after;
		struct saker_spool_stats sst;

		pthread_mutex_lock(&n->lock);
		if (n->fl_len >= SAKER_NATS_WINDOW) {
			pthread_mutex_unlock(&n->lock);
			return;
		}
		pthread_mutex_unlock(&n->lock);
		saker_spool_get_stats(n->spool, &sst);
		before = sst.corrupt;
		if (saker_spool_next(n->spool, &r) < 0) {
			saker_spool_get_stats(n->spool, &sst);
			after = sst.corrupt;
			if (after != before) {
				pthread_mutex_lock(&n->lock);
				n->st.pending -= after - before;
				n->st.lost_corrupt += after - before;
				pthread_mutex_unlock(&n->lock);
			}
			return;
		}
		saker_spool_get_stats(n->spool, &sst);
		after = sst.corrupt;
		memcpy(subj, r.subject, r.subject_len);
		subj[r.subject_len] = '\0';
		pthread_mutex_lock(&n->lock);
		if (after != before) {
			n->st.pending -= after - before;
			n->st.lost_corrupt += after - before;
		}
		slot = (n->fl_head + n->fl_len) % SAKER_NATS_WINDOW;
		f = &n->fl[slot];
		f->state = FL_SENT;
		f->dup = false;
		f->sent_ns = now_ns();
		f->alert = r.subject_len >= 7 &&
			   memcmp(r.subject + r.subject_len - 7, ".alerts", 7) == 0 &&
			   r.id_len > n->run_len && memmem(r.id, r.id_len, n->run, n->run_len);
		memcpy(f->id, r.id, r.id_len);
		f->id[r.id_len] = '\0';
		n->fl_len++;
		pthread_mutex_unlock(&n->lock);

		jsPubOptions_Init(&po);
		po.MsgId = f->id;
		po.MaxWait = (int64_t)timeout;
		s = natsMsg_Create(&m, subj, NULL, r.data, (int)r.data_len);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(n->js, &m, &po);
		if (s != NATS_OK) {
			natsMsg_Destroy(m);
			pthread_mutex_lock(&n->lock);
			if (n->fl[slot].state == FL_SENT)
				n->fl[slot].state = FL_FAILED;
			n->st.publish_errors++;
			snprintf(n->last_err, sizeof(n->last_err), "publish: %s",
				 natsStatus_GetText(s));
			pthread_mutex_unlock(&n->lock);
			return;
		}
	}
}

/*
 * Acknowledged prefix -> out of the spool. A failure starts a rewind: no new
 * publish until everything in flight has its answer, then all that is not
 * acknowledged is handed out again from the oldest.
 */
static void collect_acks(struct saker_nats *n)
{
	uint64_t timeout_ns = (uint64_t)(n->cfg.ack_timeout_ms > 0 ? n->cfg.ack_timeout_ms
								   : SAKER_NATS_ACK_TIMEOUT_MS) *
			      NS_PER_MS;
	uint64_t acked = 0, t = now_ns();
	bool failed = false, all_done = true;

	pthread_mutex_lock(&n->lock);
	while (n->fl_len && n->fl[n->fl_head].state == FL_ACKED) {
		if (n->fl[n->fl_head].dup)
			n->st.dedup++;
		if (n->fl[n->fl_head].alert) {
			n->st.alerts.acked++;
			n->st.alerts.pending--;
		}
		n->fl_head = (n->fl_head + 1) % SAKER_NATS_WINDOW;
		n->fl_len--;
		acked++;
	}
	for (size_t i = 0; i < n->fl_len; i++) {
		struct flight *f = &n->fl[(n->fl_head + i) % SAKER_NATS_WINDOW];

		/* libnats answers every publish within MaxWait; this only guards against a lost
		 * one. */
		if (f->state == FL_SENT && t - f->sent_ns > 3 * timeout_ns)
			f->state = FL_FAILED;
		if (f->state == FL_FAILED)
			failed = true;
		if (f->state == FL_SENT)
			all_done = false;
	}
	n->st.acked += acked;
	n->st.pending -= acked;
	pthread_mutex_unlock(&n->lock);
	if (acked) {
		n->backoff_ms = 0;
		saker_spool_ack(n->spool, acked);
		if (n->unsynced++ == 0)
			n->first_unsynced_ns = now_ns();
	}
	if (failed)
		n->rewinding = true;
	if (n->rewinding && all_done) {
		pthread_mutex_lock(&n->lock);
		n->st.resent += n->fl_len;
		n->fl_len = 0;
		pthread_mutex_unlock(&n->lock);
		saker_spool_rewind(n->spool);
		n->rewinding = false;
		/*
		 * A cluster electing a leader or without quorum refuses at once: resending at
		 * once would spin. Wait a little longer after each failed round.
		 */
		n->backoff_ms = n->backoff_ms ? n->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (n->backoff_ms > BACKOFF_MAX_MS)
			n->backoff_ms = BACKOFF_MAX_MS;
		n->resume_ns = now_ns() + n->backoff_ms * NS_PER_MS;
	}
}

static void keep_connected(struct saker_nats *n)
{
	char err[512] = "";
	uint64_t t = now_ns();
	bool ok = false;

	if (n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CLOSED) {
		const char *last = NULL;

		natsConnection_GetLastError(n->nc, &last);
		snprintf(err, sizeof(err), "connection closed: %s", last ? last : "");
		disconnect(n);
		n->next_conn_ns = t + STREAM_RETRY_MS * NS_PER_MS;
	}
	if (!n->nc && t >= n->next_conn_ns) {
		if (connect_nats(n, err, sizeof(err)) < 0)
			n->next_conn_ns = t + STREAM_RETRY_MS * NS_PER_MS;
	}
	if (connected(n) && !n->stream_ok && t >= n->next_stream_ns) {
		int rc = ensure_stream(n, err, sizeof(err));

		if (rc >= 0) {
			n->stream_ok = true;
			if (rc == 1)
				report(
				    n, SAKER_PRIO_INFO,
				    "nats_output: created stream %s (subjects %s.>, replicas %u)",
				    n->cfg.stream, n->cfg.subject_prefix, n->cfg.replicas);
		} else {
			n->next_stream_ns = t + STREAM_RETRY_MS * NS_PER_MS;
		}
	}
	if (!connected(n))
		n->stream_ok = false;
	ok = connected(n) && n->stream_ok;
	if (!err[0] && n->nc && !connected(n)) {
		const char *last = NULL;

		natsConnection_GetLastError(n->nc, &last);
		snprintf(err, sizeof(err), "not connected%s%s", last && *last ? ": " : "",
			 last ? last : "");
	}
	if (!err[0] && ok) {
		pthread_mutex_lock(&n->lock);
		if (n->last_err[0] && n->fl_len == 0)
			n->last_err[0] = '\0';
		pthread_mutex_unlock(&n->lock);
	}
	pthread_mutex_lock(&n->lock);
	n->st.connected = ok;
	if (!err[0] && n->last_err[0])
		snprintf(err, sizeof(err), "%s", n->last_err);
	pthread_mutex_unlock(&n->lock);
	if (err[0] && t >= n->next_report_ns) {
		n->next_report_ns = t + REPORT_MS * NS_PER_MS;
		report(n, SAKER_PRIO_ERROR, "nats_output: %s (servers %s%s): messages are spooled",
		       err, n->cfg.servers[0], n->cfg.n_servers > 1 ? ", ..." : "");
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
		keep_connected(n);
		collect_acks(n);
		if (n->stream_ok && !n->rewinding && now_ns() >= n->resume_ns)
			publish_some(n);
		do_sync(n, false);
		saker_spool_get_stats(n->spool, &sst);

		pthread_mutex_lock(&n->lock);
		n->st.spool_bytes = sst.bytes;
		stop = n->stop;
		deadline = n->deadline_ns;
		empty = n->st.pending == 0 && n->q_len == 0;
		if (stop &&
		    (empty || !n->st.connected || now_ns() + CLOSE_MS * NS_PER_MS >= deadline)) {
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
	collect_acks(n);
	do_sync(n, true);
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
		report(n, SAKER_PRIO_WARNING,
		       "nats_output: spool %s: %" PRIu64 " damaged record(s), %" PRIu64
		       " bytes, skipped (%" PRIu64 " torn tail); never resent",
		       cfg->spool_dir, sst.corrupt, sst.corrupt_bytes, sst.torn_tails);
	if (sst.recovered)
		report(n, SAKER_PRIO_INFO,
		       "nats_output: spool %s: %" PRIu64 " message(s) from an earlier run to send",
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
		    now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 5000) * NS_PER_MS;
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
	disconnect(n);
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
