/*
 * nats_output's JetStream side (output_nats_int.h): the connection and its
 * failover, the stream, async publishes from the spool in order, and their
 * acknowledgements. Runs on the nats worker, except ack_cb and on_connected
 * (libnats' threads), which only touch what the lock guards.
 */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "outputs/output_nats_int.h"

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

void nats_disconnect(struct saker_nats *n)
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
		nats_disconnect(n);
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

/* Publishes from the spool while the window has room. */
void nats_publish_some(struct saker_nats *n)
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
		f->sent_ns = nats_now_ns();
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
void nats_collect_acks(struct saker_nats *n)
{
	uint64_t timeout_ns = (uint64_t)(n->cfg.ack_timeout_ms > 0 ? n->cfg.ack_timeout_ms
								   : SAKER_NATS_ACK_TIMEOUT_MS) *
			      NS_PER_MS;
	uint64_t acked = 0, t = nats_now_ns();
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
			n->first_unsynced_ns = nats_now_ns();
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
		n->resume_ns = nats_now_ns() + n->backoff_ms * NS_PER_MS;
	}
}

void nats_keep_connected(struct saker_nats *n)
{
	char err[512] = "";
	uint64_t t = nats_now_ns();
	bool ok = false;

	if (n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CLOSED) {
		const char *last = NULL;

		natsConnection_GetLastError(n->nc, &last);
		snprintf(err, sizeof(err), "connection closed: %s", last ? last : "");
		nats_disconnect(n);
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
				nats_report(
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
		nats_report(n, SAKER_PRIO_ERROR,
			    "nats_output: %s (servers %s%s): messages are spooled", err,
			    n->cfg.servers[0], n->cfg.n_servers > 1 ? ", ..." : "");
	}
}
