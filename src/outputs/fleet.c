#include "outputs/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <nats/nats.h>

#include "drops/attrib.h"

#define TOP_N	 3
#define COMM_LEN 16
#define EXE_LEN	 256
#define HOST_LEN 256

struct fl_proc {
	uint32_t pid;
	char comm[COMM_LEN];
	char exe[EXE_LEN];
	uint64_t lost;
};

/* One window of one host, as much as the view needs of it. */
struct fl_win {
	int64_t end_ns;
	uint64_t seen, delivered, lost, critical, demoted;
	size_t n_top;
	struct fl_proc *top; /* lossy windows only */
};

struct fl_host {
	char key[HOST_LEN];  /* the subject's host part */
	char name[HOST_LEN]; /* the record's host */
	char run_id[64];
	char problem[256];
	bool healthy;
	bool stopped;	 /* its last record was a run's final one */
	bool has_totals; /* the last record carried the run's totals */
	uint64_t tot_seen, tot_delivered, tot_lost;
	uint64_t last_stream_seq;
	uint64_t last_seq; /* the record's, in its run */
	uint64_t missing;  /* records of a run that never came (gaps in seq) */
	int64_t last_end_ns;
	uint64_t last_window_s;
	struct fl_win *win;
	size_t win_head, win_n, win_cap;
	int64_t *alerts;
	size_t al_head, al_n, al_cap;
};

struct saker_fleet {
	struct saker_fleet_opts o;
	struct fl_host **hosts;
	size_t n_hosts, cap_hosts;
};

int saker_fleet_new(struct saker_fleet **out, const struct saker_fleet_opts *opts)
{
	struct saker_fleet *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->o = *opts;
	if (f->o.since_ns <= 0)
		f->o.since_ns = SAKER_FLEET_DEFAULT_SINCE_NS;
	if (f->o.stale_ns <= 0)
		f->o.stale_ns = SAKER_FLEET_DEFAULT_STALE_NS;
	*out = f;
	return 0;
}

static void host_free(struct fl_host *h)
{
	for (size_t i = h->win_head; i < h->win_n; i++)
		free(h->win[i].top);
	free(h->win);
	free(h->alerts);
	free(h);
}

void saker_fleet_free(struct saker_fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_hosts; i++)
		host_free(f->hosts[i]);
	free(f->hosts);
	free(f);
}

/* The host part of <prefix>.<host>.<kind>; false when subject is not one. */
static bool host_key(const char *prefix, const char *subject, const char *kind, char *key,
		     size_t len)
{
	size_t np = strlen(prefix), ns = strlen(subject), nk = strlen(kind);

	if (ns < np + nk + 3 || strncmp(subject, prefix, np) || subject[np] != '.' ||
	    subject[ns - nk - 1] != '.' || strcmp(subject + ns - nk, kind))
		return false;
	ns -= np + nk + 2;
	if (ns >= len)
		return false;
	memcpy(key, subject + np + 1, ns);
	key[ns] = '\0';
	return true;
}

static struct fl_host *find_host(const struct saker_fleet *f, const char *key)
{
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!strcmp(f->hosts[i]->key, key))
			return f->hosts[i];
	return NULL;
}

static struct fl_host *get_host(struct saker_fleet *f, const char *key)
{
	struct fl_host *h = find_host(f, key);

	if (h)
		return h;
	if (f->n_hosts == f->cap_hosts) {
		size_t cap = f->cap_hosts ? 2 * f->cap_hosts : 16;
		struct fl_host **p = realloc(f->hosts, cap * sizeof(*p));

		if (!p)
			return NULL;
		f->hosts = p;
		f->cap_hosts = cap;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->key, sizeof(h->key), "%s", key);
	snprintf(h->name, sizeof(h->name), "%s", key);
	h->healthy = true;
	f->hosts[f->n_hosts++] = h;
	return h;
}

bool saker_fleet_has_host(const struct saker_fleet *f, const char *prefix, const char *subject)
{
	char key[HOST_LEN];

	return (host_key(prefix, subject, "coverage", key, sizeof(key)) ||
		host_key(prefix, subject, "alerts", key, sizeof(key))) &&
	       find_host(f, key);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_int) ? json_object_get_uint64(v) : 0;
}

static void get_str(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v = get(o, key);

	snprintf(buf, len, "%s",
		 v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "");
}

/* Room for one more element of a vector that is consumed from its head. */
static void *grow(void *p, size_t elem, size_t *head, size_t *n, size_t *cap)
{
	if (*head && *head >= *n / 2) {
		memmove(p, (char *)p + *head * elem, (*n - *head) * elem);
		*n -= *head;
		*head = 0;
	}
	if (*n < *cap)
		return p;
	size_t ncap = *cap ? 2 * *cap : 64;
	void *q = realloc(p, ncap * elem);

	if (q)
		*cap = ncap;
	return q;
}

static int add_tops(struct fl_win *w, json_object *top)
{
	size_t n =
	    top && json_object_is_type(top, json_type_array) ? json_object_array_length(top) : 0;

	if (!w->lost || !n)
		return 0;
	if (n > TOP_N)
		n = TOP_N;
	w->top = calloc(n, sizeof(*w->top));
	if (!w->top)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(top, i);
		struct fl_proc *d = &w->top[w->n_top];

		/* Without the kernel's counts there is no "lost": nobody to name. */
		if (!get(p, "lost") || !get_u64(p, "lost"))
			continue;
		d->pid = (uint32_t)get_u64(p, "pid");
		d->lost = get_u64(p, "lost");
		get_str(p, "comm", d->comm, sizeof(d->comm));
		get_str(p, "exe", d->exe, sizeof(d->exe));
		w->n_top++;
	}
	return 0;
}

int saker_fleet_add_coverage(struct saker_fleet *f, const char *prefix, const char *subject,
			     uint64_t seq, const char *data, size_t len)
{
	char key[HOST_LEN], type[32], run[64];
	struct json_tokener *tok;
	json_object *o, *v;
	struct fl_host *h;
	struct fl_win *w;
	uint64_t rseq;
	int ret = 0;

	if (!host_key(prefix, subject, "coverage", key, sizeof(key)) || len > (size_t)INT32_MAX)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, data, (int)len);
	json_tokener_free(tok);
	if (!o)
		return -EINVAL;
	get_str(o, "type", type, sizeof(type));
	if (strcmp(type, "coverage") || !json_object_is_type(o, json_type_object)) {
		ret = -EINVAL;
		goto out;
	}
	h = get_host(f, key);
	if (!h) {
		ret = -ENOMEM;
		goto out;
	}
	if (seq && seq <= h->last_stream_seq)
		goto out;
	h->last_stream_seq = seq ? seq : h->last_stream_seq;
	get_str(o, "host", h->name, sizeof(h->name));
	if (!h->name[0])
		snprintf(h->name, sizeof(h->name), "%s", key);
	get_str(o, "run_id", run, sizeof(run));
	rseq = get_u64(o, "seq");
	if (!strcmp(run, h->run_id) && rseq > h->last_seq + 1)
		h->missing += rseq - h->last_seq - 1;
	snprintf(h->run_id, sizeof(h->run_id), "%s", run);
	h->last_seq = rseq;
	h->last_end_ns = (int64_t)get_u64(o, "end_real_ns");
	h->last_window_s = get_u64(o, "window_s");
	v = get(o, "final");
	h->stopped = v && json_object_get_boolean(v);
	v = get(o, "totals");
	h->has_totals = v && json_object_is_type(v, json_type_object);
	h->tot_seen = h->has_totals ? get_u64(v, "seen") : 0;
	h->tot_delivered = h->has_totals ? get_u64(v, "delivered") : 0;
	h->tot_lost = h->has_totals ? get_u64(v, "lost") : 0;
	v = get(o, "health");
	h->healthy = !v || !get(v, "healthy") || json_object_get_boolean(get(v, "healthy"));
	if (v)
		get_str(v, "problem", h->problem, sizeof(h->problem));
	else
		h->problem[0] = '\0';

	h->win = grow(h->win, sizeof(*h->win), &h->win_head, &h->win_n, &h->win_cap);
	if (!h->win) {
		ret = -ENOMEM;
		goto out;
	}
	w = &h->win[h->win_n];
	memset(w, 0, sizeof(*w));
	w->end_ns = h->last_end_ns;
	w->seen = get_u64(o, "seen");
	w->delivered = get_u64(o, "delivered");
	w->lost = get_u64(o, "lost");
	w->demoted = get_u64(o, "demoted");
	v = get(o, "lost_by_lane");
	w->critical = v ? get_u64(v, "critical") : 0;
	ret = add_tops(w, get(o, "top"));
	if (!ret)
		h->win_n++;
out:
	json_object_put(o);
	return ret;
}

int saker_fleet_add_alert(struct saker_fleet *f, const char *prefix, const char *subject,
			  int64_t time_ns)
{
	char key[HOST_LEN];
	struct fl_host *h;

	if (!host_key(prefix, subject, "alerts", key, sizeof(key)))
		return -EINVAL;
	h = get_host(f, key);
	if (!h)
		return -ENOMEM;
	h->alerts = grow(h->alerts, sizeof(*h->alerts), &h->al_head, &h->al_n, &h->al_cap);
	if (!h->alerts)
		return -ENOMEM;
	h->alerts[h->al_n++] = time_ns;
	return 0;
}

/* One row: the host's windows and alerts within [now - since, now]. */
struct row {
	const struct fl_host *h;
	uint64_t windows, seen, delivered, lost, critical, demoted, alerts;
	bool silent, reported;
	int64_t age_ns;
	struct fl_proc top;
};

static void drop_old(struct saker_fleet *f, struct fl_host *h, int64_t from)
{
	while (h->win_head < h->win_n && h->win[h->win_head].end_ns < from) {
		free(h->win[h->win_head].top);
		h->win_head++;
	}
	while (h->al_head < h->al_n && h->alerts[h->al_head] < from)
		h->al_head++;
	(void)f;
}

static void make_row(struct saker_fleet *f, struct fl_host *h, int64_t now, struct row *r)
{
	int64_t from = now - f->o.since_ns;
	int64_t stale = f->o.stale_ns;
	uint64_t best = 0;

	memset(r, 0, sizeof(*r));
	r->h = h;
	drop_old(f, h, from);
	for (size_t i = h->win_head; i < h->win_n; i++) {
		const struct fl_win *w = &h->win[i];

		r->windows++;
		r->seen += w->seen;
		r->delivered += w->delivered;
		r->lost += w->lost;
		r->critical += w->critical;
		r->demoted += w->demoted;
	}
	/* The top flooder: the most lost over the window, by program (comm and exe). */
	for (size_t i = h->win_head; i < h->win_n; i++) {
		for (size_t t = 0; t < h->win[i].n_top; t++) {
			const struct fl_proc *p = &h->win[i].top[t];
			uint64_t sum = 0;
			uint32_t pid = p->pid;

			for (size_t j = h->win_head; j < h->win_n; j++)
				for (size_t u = 0; u < h->win[j].n_top; u++) {
					const struct fl_proc *q = &h->win[j].top[u];

					if (!strcmp(q->comm, p->comm) && !strcmp(q->exe, p->exe)) {
						sum += q->lost;
						pid = q->pid;
					}
				}
			if (sum > best) {
				best = sum;
				r->top = *p;
				r->top.pid = pid;
				r->top.lost = sum;
			}
		}
	}
	r->alerts = h->al_n - h->al_head;
	r->reported = h->last_end_ns != 0;
	r->age_ns = r->reported ? now - h->last_end_ns : 0;
	if (r->reported && (int64_t)(2 * h->last_window_s) * 1000000000ll > stale)
		stale = (int64_t)(2 * h->last_window_s) * 1000000000ll;
	r->silent = !r->reported || r->age_ns > stale;
}

static int by_name(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->h->name, y->h->name);

	return c ? c : strcmp(x->h->key, y->h->key);
}

static struct row *rows(struct saker_fleet *f, int64_t now)
{
	struct row *r = calloc(f->n_hosts ? f->n_hosts : 1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < f->n_hosts; i++)
		make_row(f, f->hosts[i], now, &r[i]);
	qsort(r, f->n_hosts, sizeof(*r), by_name);
	return r;
}

static const char *state(const struct row *r)
{
	return r->silent ? "silent" : !r->h->healthy ? "unhealthy" : "ok";
}

/* Percent of the events seen that were not lost; < 0: nothing seen, nothing lost. */
static double coverage(const struct row *r)
{
	if (!r->seen)
		return r->lost ? 0.0 : -1.0;
	if (r->lost >= r->seen)
		return 0.0;
	return 100.0 * (double)(r->seen - r->lost) / (double)r->seen;
}

static void age_text(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000ll;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%" PRId64 "s ago", s);
	else if (s < 7200)
		snprintf(buf, len, "%" PRId64 "m ago", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%" PRId64 "h ago", s / 3600);
	else
		snprintf(buf, len, "%" PRId64 "d ago", s / 86400);
}

void saker_fleet_render_text(struct saker_fleet *f, int64_t now_ns, struct saker_sbuf *b)
{
	struct row *r = rows(f, now_ns);
	size_t n_silent = 0;

	if (!r) {
		b->oom = true;
		return;
	}
	saker_sbuf_printf(b, "%-24s %-9s %-9s %9s %9s %9s %8s %-28s %7s\n", "HOST", "STATE",
			  "LAST SEEN", "SEEN", "LOST", "COVERAGE", "CRITICAL", "TOP FLOODER",
			  "ALERTS");
	for (size_t i = 0; i < f->n_hosts; i++) {
		char seen[16], lost[16], crit[16], cov[16], last[16], top[64];
		double c = coverage(&r[i]);

		saker_attrib_human(r[i].seen, seen, sizeof(seen));
		saker_attrib_human(r[i].lost, lost, sizeof(lost));
		saker_attrib_human(r[i].critical, crit, sizeof(crit));
		if (c < 0)
			snprintf(cov, sizeof(cov), "-");
		else
			snprintf(cov, sizeof(cov), "%.2f%%", c);
		if (r[i].reported)
			age_text(r[i].age_ns, last, sizeof(last));
		else
			snprintf(last, sizeof(last), "never");
		if (r[i].top.lost) {
			char h[16];

			saker_attrib_human(r[i].top.lost, h, sizeof(h));
			snprintf(top, sizeof(top), "%.15s(%" PRIu32 ") %s",
				 r[i].top.comm[0] ? r[i].top.comm : "?", r[i].top.pid, h);
		} else {
			snprintf(top, sizeof(top), "-");
		}
		n_silent += r[i].silent;
		saker_sbuf_printf(b, "%-24s %-9s %-9s %9s %9s %9s %8s %-28s %7" PRIu64 "\n",
				  r[i].h->name, state(&r[i]), last, seen, lost, cov, crit, top,
				  r[i].alerts);
	}
	saker_sbuf_printf(b, "%zu host(s), %zu silent; window %" PRId64 " s\n", f->n_hosts,
			  n_silent, (int64_t)(f->o.since_ns / 1000000000ll));
	free(r);
}

static void put_json_str(struct saker_sbuf *b, const char *s)
{
	saker_sbuf_putc(b, '"');
	saker_sbuf_escape(b, s, strlen(s), SAKER_ESC_JSON);
	saker_sbuf_putc(b, '"');
}

void saker_fleet_render_json(struct saker_fleet *f, int64_t now_ns, struct saker_sbuf *b)
{
	struct row *r = rows(f, now_ns);

	if (!r) {
		b->oom = true;
		return;
	}
	saker_sbuf_printf(
	    b, "{\"now_real_ns\":%" PRId64 ",\"since_s\":%" PRId64 ",\"stale_s\":%.3f,\"hosts\":[",
	    now_ns, (int64_t)(f->o.since_ns / 1000000000ll), (double)f->o.stale_ns / 1e9);
	for (size_t i = 0; i < f->n_hosts; i++) {
		const struct row *w = &r[i];
		double c = coverage(w);

		saker_sbuf_puts(b, i ? ",{\"host\":" : "{\"host\":");
		put_json_str(b, w->h->name);
		saker_sbuf_puts(b, ",\"subject_host\":");
		put_json_str(b, w->h->key);
		saker_sbuf_printf(b, ",\"state\":\"%s\",\"silent\":%s,\"healthy\":%s", state(w),
				  w->silent ? "true" : "false", w->h->healthy ? "true" : "false");
		saker_sbuf_puts(b, ",\"problem\":");
		put_json_str(b, w->h->problem);
		saker_sbuf_puts(b, ",\"run_id\":");
		put_json_str(b, w->h->run_id);
		if (w->reported)
			saker_sbuf_printf(
			    b, ",\"last_seen_real_ns\":%" PRId64 ",\"last_seen_age_s\":%.3f",
			    w->h->last_end_ns, (double)w->age_ns / 1e9);
		else
			saker_sbuf_puts(b, ",\"last_seen_real_ns\":null,\"last_seen_age_s\":null");
		saker_sbuf_printf(b,
				  ",\"last_seq\":%" PRIu64 ",\"missing\":%" PRIu64
				  ",\"windows\":%" PRIu64 ",\"seen\":%" PRIu64
				  ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64
				  ",\"lost_critical\":%" PRIu64 ",\"demoted\":%" PRIu64,
				  w->h->last_seq, w->h->missing, w->windows, w->seen, w->delivered,
				  w->lost, w->critical, w->demoted);
		if (c < 0)
			saker_sbuf_puts(b, ",\"coverage_pct\":null");
		else
			saker_sbuf_printf(b, ",\"coverage_pct\":%.4f", c);
		if (w->top.lost) {
			saker_sbuf_printf(
			    b, ",\"top_flooder\":{\"pid\":%" PRIu32 ",\"comm\":", w->top.pid);
			put_json_str(b, w->top.comm);
			saker_sbuf_puts(b, ",\"exe\":");
			put_json_str(b, w->top.exe);
			saker_sbuf_printf(b, ",\"lost\":%" PRIu64 "}", w->top.lost);
		} else {
			saker_sbuf_puts(b, ",\"top_flooder\":null");
		}
		saker_sbuf_printf(b, ",\"alerts\":%" PRIu64 ",\"stopped\":%s", w->alerts,
				  w->h->stopped ? "true" : "false");
		if (w->h->has_totals)
			saker_sbuf_printf(b,
					  ",\"run_totals\":{\"seen\":%" PRIu64
					  ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64 "}}",
					  w->h->tot_seen, w->h->tot_delivered, w->h->tot_lost);
		else
			saker_sbuf_puts(b, ",\"run_totals\":null}");
	}
	saker_sbuf_puts(b, "]}");
	free(r);
}

int saker_fleet_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
	    {"ms", 1000000ll},	  {"s", 1000000000ll},	  {"", 1000000000ll},
	    {"m", 60000000000ll}, {"h", 3600000000000ll}, {"d", 86400000000000ll},
	};
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			if (v * (double)units[i].ns > 9.2e18)
				return -EINVAL;
			*ns = (int64_t)(v * (double)units[i].ns);
			return 0;
		}
	return -EINVAL;
}

/* The stream's reader: one ordered consumer for the records, one (headers only) for alerts. */
struct saker_fleet_source {
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *cov, *al;
	char *stream, *prefix;
	uint64_t cov_pending, al_pending; /* at creation: what catch_up waits for */
	int64_t timeout_ms;
};

static int nats_err(natsStatus s, jsErrCode jerr, const char *what, char *err, size_t errlen)
{
	const char *last = nats_GetLastError(NULL);

	/* libnats prefixes where in its source it failed: "(conn.c:2088): " */
	if (last && last[0] == '(' && strstr(last, "): "))
		last = strstr(last, "): ") + 3;
	if (jerr)
		snprintf(err, errlen, "%s: %s (JetStream error %d)", what,
			 last && *last ? last : natsStatus_GetText(s), (int)jerr);
	else
		snprintf(err, errlen, "%s: %s", what, last && *last ? last : natsStatus_GetText(s));
	return s == NATS_NO_MEMORY ? -ENOMEM : s == NATS_TIMEOUT ? -ETIMEDOUT : -EIO;
}

static int subscribe(struct saker_fleet_source *s, const char *kind, int64_t start_ns,
		     bool headers_only, natsSubscription **sub, uint64_t *pending, char *err,
		     size_t errlen)
{
	char subject[512], what[600];
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus st;

	snprintf(subject, sizeof(subject), "%s.*.%s", s->prefix, kind);
	snprintf(what, sizeof(what), "cannot read %s from stream %s", subject, s->stream);
	jsSubOptions_Init(&so);
	so.Stream = s->stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = start_ns > 0 ? js_DeliverByStartTime : js_DeliverAll;
	so.Config.OptStartTime = start_ns > 0 ? start_ns : 0;
	so.Config.HeadersOnly = headers_only;
	st = js_SubscribeSync(sub, s->js, subject, NULL, &so, &jerr);
	if (st != NATS_OK)
		return nats_err(st, jerr, what, err, errlen);
	st = natsSubscription_GetConsumerInfo(&ci, *sub, NULL, &jerr);
	if (st != NATS_OK)
		return nats_err(st, jerr, what, err, errlen);
	/* What the server still holds, and what it pushed before this question. */
	*pending = ci->NumPending + ci->Delivered.Consumer;
	jsConsumerInfo_Destroy(ci);
	return 0;
}

int saker_fleet_source_open(struct saker_fleet_source **out,
			    const struct saker_fleet_source_opts *opts, char *err, size_t errlen)
{
	struct saker_fleet_source *s;
	natsOptions *no = NULL;
	natsStatus st;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->stream = strdup(opts->stream)) || !(s->prefix = strdup(opts->prefix))) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
	st = natsOptions_Create(&no);
	if (st == NATS_OK)
		st = natsOptions_SetServers(no, opts->servers, (int)opts->n_servers);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(no, s->timeout_ms);
	if (st == NATS_OK)
		st = natsOptions_SetName(no, "saker fleet");
	if (st != NATS_OK) {
		ret = nats_err(st, 0, "bad NATS servers", err, errlen);
		goto fail;
	}
	st = natsConnection_Connect(&s->nc, no);
	if (st != NATS_OK) {
		ret = nats_err(st, 0, "cannot connect to NATS", err, errlen);
		goto fail;
	}
	{
		jsOptions jo;

		jsOptions_Init(&jo);
		jo.Wait = s->timeout_ms;
		st = natsConnection_JetStream(&s->js, s->nc, &jo);
	}
	if (st != NATS_OK) {
		ret = nats_err(st, 0, "cannot use JetStream", err, errlen);
		goto fail;
	}
	ret =
	    subscribe(s, "coverage", opts->start_ns, false, &s->cov, &s->cov_pending, err, errlen);
	if (!ret)
		ret = subscribe(s, "alerts", opts->start_ns, true, &s->al, &s->al_pending, err,
				errlen);
	if (ret)
		goto fail;
	natsOptions_Destroy(no);
	*out = s;
	return 0;
fail:
	natsOptions_Destroy(no);
	saker_fleet_source_close(s);
	return ret;
}

/* One message of either consumer into f. */
static int take(struct saker_fleet_source *s, struct saker_fleet *f, natsMsg *m, bool is_cov,
		uint64_t *pending)
{
	jsMsgMetaData *md = NULL;
	uint64_t seq = 0;
	int64_t ts = 0;
	int ret;

	if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
		seq = md->Sequence.Stream;
		ts = md->Timestamp;
		if (pending)
			*pending = md->NumPending;
		jsMsgMetaData_Destroy(md);
	}
	if (is_cov)
		ret =
		    saker_fleet_add_coverage(f, s->prefix, natsMsg_GetSubject(m), seq,
					     natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	else
		ret = saker_fleet_add_alert(f, s->prefix, natsMsg_GetSubject(m), ts);
	natsMsg_Destroy(m);
	/* Something else published under the prefix is not the fleet's business. */
	return ret == -EINVAL ? 0 : ret;
}

static int drain(struct saker_fleet_source *s, struct saker_fleet *f, natsSubscription *sub,
		 bool is_cov, uint64_t pending, char *err, size_t errlen)
{
	while (pending) {
		natsMsg *m = NULL;
		natsStatus st = natsSubscription_NextMsg(&m, sub, s->timeout_ms);
		int ret;

		if (st != NATS_OK)
			return nats_err(st, 0, "reading the stream", err, errlen);
		ret = take(s, f, m, is_cov, &pending);
		if (ret) {
			snprintf(err, errlen, "reading the stream: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Hosts with records, none of them in the window: their last one. */
static int last_records(struct saker_fleet_source *s, struct saker_fleet *f, char *err,
			size_t errlen)
{
	char filter[512];
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	natsStatus st;
	int ret = 0;

	snprintf(filter, sizeof(filter), "%s.*.coverage", s->prefix);
	jsOptions_Init(&jo);
	jo.Stream.Info.SubjectsFilter = filter;
	st = js_GetStreamInfo(&si, s->js, s->stream, &jo, &jerr);
	if (st != NATS_OK)
		return nats_err(st, jerr, "cannot read the stream's subjects", err, errlen);
	for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count && !ret; i++) {
		const char *subj = si->State.Subjects->List[i].Subject;
		natsMsg *m = NULL;

		if (saker_fleet_has_host(f, s->prefix, subj))
			continue;
		st = js_GetLastMsg(&m, s->js, s->stream, subj, NULL, &jerr);
		if (st != NATS_OK) {
			ret = nats_err(st, jerr, "cannot read a host's last record", err, errlen);
			break;
		}
		ret =
		    saker_fleet_add_coverage(f, s->prefix, natsMsg_GetSubject(m), 0,
					     natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
		natsMsg_Destroy(m);
		if (ret == -EINVAL)
			ret = 0;
		else if (ret)
			snprintf(err, errlen, "reading the stream: %s", strerror(-ret));
	}
	jsStreamInfo_Destroy(si);
	return ret;
}

int saker_fleet_source_catch_up(struct saker_fleet_source *s, struct saker_fleet *f, char *err,
				size_t errlen)
{
	int ret = drain(s, f, s->cov, true, s->cov_pending, err, errlen);

	if (!ret)
		ret = drain(s, f, s->al, false, s->al_pending, err, errlen);
	if (!ret)
		ret = last_records(s, f, err, errlen);
	return ret;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int saker_fleet_source_poll(struct saker_fleet_source *s, struct saker_fleet *f,
			    int64_t deadline_ms, char *err, size_t errlen)
{
	for (;;) {
		int64_t left = deadline_ms - mono_ms();
		bool got = false;

		if (left <= 0)
			return 0;
		for (int k = 0; k < 2; k++) {
			natsSubscription *sub = k ? s->al : s->cov;
			natsMsg *m = NULL;
			natsStatus st;
			int ret;

			/* Without waiting first; then a short wait on each in turn. */
			st = natsSubscription_NextMsg(&m, sub, got ? 1 : (left < 50 ? left : 50));
			if (st == NATS_TIMEOUT)
				continue;
			if (st != NATS_OK)
				return nats_err(st, 0, "reading the stream", err, errlen);
			ret = take(s, f, m, !k, NULL);
			if (ret) {
				snprintf(err, errlen, "reading the stream: %s", strerror(-ret));
				return ret;
			}
			got = true;
		}
	}
}

void saker_fleet_source_close(struct saker_fleet_source *s)
{
	if (!s)
		return;
	natsSubscription_Destroy(s->cov);
	natsSubscription_Destroy(s->al);
	jsCtx_Destroy(s->js);
	natsConnection_Destroy(s->nc);
	free(s->stream);
	free(s->prefix);
	free(s);
}
