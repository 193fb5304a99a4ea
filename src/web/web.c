#include "web/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "lib/clock.h"
#include "lib/sbuf.h"

#define DEFAULT_STALE_NS  (2000000000ull)
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CONTENT_TYPE "application/json"

struct saker_web {
	struct MHD_Daemon *d;
	uint16_t port;
	char *healthz_path;
	bool metrics_enabled;
	char *versions;
	uint64_t stale_ns;

	/* The snapshot, swapped by the loop, read by the server threads. */
	pthread_mutex_t lock;
	char *text; /* Prometheus exposition of the last publish */
	size_t text_len;
	bool published;
	struct saker_web_health last;
	uint64_t stall_ns, stall_end_ns;

	/* counted by the server threads (atomics) */
	uint64_t n_requests, n_ok, n_not_found, n_not_allowed, n_unhealthy;
	uint64_t n_publishes; /* loop only */
};

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

int saker_web_judge(bool published, const struct saker_web_health *last, uint64_t stall_ns,
		    uint64_t stall_end_ns, uint64_t now_ns, uint64_t stale_ns, char *reason,
		    size_t len)
{
	/* After a stall the loop stays unhealthy this long, so the stall is seen by a probe. */
	uint64_t hold = stale_ns / 2;

	if (!published) {
		snprintf(reason, len, "starting: no snapshot from the event loop yet");
		return 503;
	}
	if (now_ns > last->now_mono_ns && now_ns - last->now_mono_ns > stale_ns) {
		snprintf(reason, len, "event loop stalled: no tick for %.1f s",
			 secs(now_ns - last->now_mono_ns));
		return 503;
	}
	if (now_ns > last->drain_mono_ns && now_ns - last->drain_mono_ns > stale_ns) {
		snprintf(reason, len, "ring buffers not drained for %.1f s",
			 secs(now_ns - last->drain_mono_ns));
		return 503;
	}
	if (last->problem[0]) {
		snprintf(reason, len, "%s", last->problem);
		return 503;
	}
	if (stall_ns > stale_ns && now_ns >= stall_end_ns && now_ns - stall_end_ns < hold) {
		snprintf(reason, len, "event loop was stalled for %.1f s (recovered %.1f s ago)",
			 secs(stall_ns), secs(now_ns - stall_end_ns));
		return 503;
	}
	reason[0] = '\0';
	return 200;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* MHD closes the connection */
	}
	if (type)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned status, const char *type,
				    const char *body)
{
	return reply(c, status, type, (char *)body, strlen(body), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_metrics(struct saker_web *w, struct MHD_Connection *c)
{
	char *copy;
	size_t len;

	/* A copy per request: the loop may swap the snapshot while this one is sent. */
	pthread_mutex_lock(&w->lock);
	len = w->text_len;
	copy = malloc(len ? len : 1);
	if (copy && len)
		memcpy(copy, w->text, len);
	pthread_mutex_unlock(&w->lock);
	if (!copy)
		return MHD_NO;
	count(&w->n_ok);
	return reply(c, MHD_HTTP_OK, PROM_CONTENT_TYPE, copy, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_health(struct saker_web *w, struct MHD_Connection *c)
{
	struct saker_sbuf b;
	char reason[256];
	int status;

	pthread_mutex_lock(&w->lock);
	status =
	    saker_web_judge(w->published, &w->last, w->stall_ns, w->stall_end_ns,
			    saker_clock_ns(CLOCK_MONOTONIC), w->stale_ns, reason, sizeof(reason));
	pthread_mutex_unlock(&w->lock);
	if (status == 200) {
		count(&w->n_ok);
		return reply_static(c, MHD_HTTP_OK, JSON_CONTENT_TYPE, "{\"status\": \"ok\"}\n");
	}
	count(&w->n_unhealthy);
	saker_sbuf_init(&b);
	saker_sbuf_puts(&b, "{\"status\": \"unhealthy\", \"reason\": \"");
	saker_sbuf_escape(&b, reason, strlen(reason), SAKER_ESC_JSON);
	saker_sbuf_puts(&b, "\"}\n");
	if (b.oom) {
		saker_sbuf_free(&b);
		return MHD_NO;
	}
	/* The buffer is handed to MHD, which frees it. */
	return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSON_CONTENT_TYPE, b.p, b.len,
		     MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct saker_web *w = cls;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)con_cls;
	/* Answered on the first call, before any body is read: nothing here reads one. */
	count(&w->n_requests);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		count(&w->n_not_allowed);
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				    "only GET is served\n");
	}
	if (w->metrics_enabled && strcmp(url, "/metrics") == 0)
		return serve_metrics(w, c);
	if (strcmp(url, w->healthz_path) == 0)
		return serve_health(w, c);
	if (strcmp(url, "/versions") == 0) {
		count(&w->n_ok);
		return reply_static(c, MHD_HTTP_OK, JSON_CONTENT_TYPE, w->versions);
	}
	count(&w->n_not_found);
	return reply_static(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

static void free_web(struct saker_web *w)
{
	free(w->text);
	free(w->healthz_path);
	free(w->versions);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* The listen address and port into ss; MHD_USE_IPv6 into *flags for an IPv6 one. */
static int parse_listen(const struct saker_web_opts *o, const char *addr,
			struct sockaddr_storage *ss, unsigned *flags, char *err, size_t errlen)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(o->port);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(o->port);
		*flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "listen address '%s' is not an IPv4 or IPv6 address", addr);
		return -EINVAL;
	}
	return 0;
}

/* Starts MHD with the options o gives; w->d is NULL (errno set) when it cannot. */
static void start_daemon(struct saker_web *w, const struct saker_web_opts *o,
			 struct sockaddr_storage *ss, unsigned flags)
{
	unsigned threads = o->threads ? o->threads : 1;
	struct MHD_OptionItem opts[12];
	size_t n = 0;

#define OPT(k, v, p) opts[n++] = (struct MHD_OptionItem){(k), (intptr_t)(v), (p)}
	OPT(MHD_OPTION_SOCK_ADDR, 0, ss);
	OPT(MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections : 64, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip ? o->max_per_ip : 16, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s ? o->timeout_s : 5, NULL);
	/* Bounds what one request may take; MHD answers an oversized one itself. */
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_request_bytes ? o->max_request_bytes : 8192,
	    NULL);
	/* No LISTENING_ADDRESS_REUSE: it means SO_REUSEPORT, so a second saker would share. */
	if (threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
	if (o->tls_pem) {
		/* One PEM holds both, as Falco's ssl_certificate does. */
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_pem);
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_pem);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	errno = 0;
	w->d = MHD_start_daemon(flags, o->port, NULL, NULL, on_request, w, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
}

int saker_web_start(struct saker_web **out, const struct saker_web_opts *o, char *err,
		    size_t errlen)
{
	struct saker_web *w;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	const union MHD_DaemonInfo *info;
	const char *addr = o->listen_address ? o->listen_address : "127.0.0.1";
	int rc;

	*out = NULL;
	rc = parse_listen(o, addr, &ss, &flags, err, errlen);
	if (rc < 0)
		return rc;
	if (o->tls_pem) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "libmicrohttpd was built without TLS");
			return -ENOTSUP;
		}
		flags |= MHD_USE_TLS;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->metrics_enabled = o->metrics_enabled;
	w->stale_ns = o->stale_ns ? o->stale_ns : DEFAULT_STALE_NS;
	w->healthz_path = strdup(o->healthz_path ? o->healthz_path : "/healthz");
	w->versions = strdup(o->versions_json ? o->versions_json : "{}");
	if (!w->healthz_path || !w->versions) {
		free_web(w);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	start_daemon(w, o, &ss, flags);
	if (!w->d) {
		int e = errno ? errno : EIO;

		snprintf(err, errlen, "cannot listen on %s port %u%s: %s", addr, (unsigned)o->port,
			 o->tls_pem ? " (TLS)" : "", strerror(e));
		free_web(w);
		return -e;
	}
	info = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
	w->port = info ? info->port : o->port;
	*out = w;
	return 0;
}

/* The server's own counters, appended to the snapshot's text. */
static void render_own(struct saker_web *w, struct saker_sbuf *b)
{
	struct saker_metrics m;
	static const char *const codes[] = {"200", "404", "405", "503"};
	uint64_t v[] = {load(&w->n_ok), load(&w->n_not_found), load(&w->n_not_allowed),
			load(&w->n_unhealthy)};

	saker_metrics_init(&m);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const struct saker_metric_label l[] = {{"code", codes[i]}};

		(void)saker_metrics_add_u64(&m, "web_requests_total",
					    "Requests the web server answered, by HTTP status "
					    "(requests MHD refused itself are not counted).",
					    SAKER_METRIC_COUNTER, 0, v[i], l, 1);
	}
	(void)saker_metrics_add_u64(&m, "web_publishes_total",
				    "Snapshots the event loop published to the web server.",
				    SAKER_METRIC_COUNTER, 0, w->n_publishes, NULL, 0);
	(void)saker_metrics_render_prometheus(&m, b);
	if (m.oom)
		b->oom = true;
	saker_metrics_free(&m);
}

int saker_web_publish(struct saker_web *w, const struct saker_metrics *m,
		      const struct saker_web_health *h)
{
	struct saker_sbuf b;
	char *old = NULL;

	if (!w)
		return 0;
	w->n_publishes++;
	saker_sbuf_init(&b);
	if (m) {
		(void)saker_metrics_render_prometheus(m, &b);
		render_own(w, &b);
		if (b.oom) {
			saker_sbuf_free(&b);
			b.p = NULL;
		}
	}
	pthread_mutex_lock(&w->lock);
	if (w->published && h->now_mono_ns > w->last.now_mono_ns &&
	    h->now_mono_ns - w->last.now_mono_ns > w->stale_ns) {
		w->stall_ns = h->now_mono_ns - w->last.now_mono_ns;
		w->stall_end_ns = h->now_mono_ns;
	}
	w->last = *h;
	w->published = true;
	if (m && b.p) {
		old = w->text;
		w->text = b.p;
		w->text_len = b.len;
	}
	pthread_mutex_unlock(&w->lock);
	free(old);
	return m && !b.p ? -ENOMEM : 0;
}

uint16_t saker_web_port(const struct saker_web *w)
{
	return w->port;
}

void saker_web_get_stats(struct saker_web *w, struct saker_web_stats *st)
{
	st->requests = load(&w->n_requests);
	st->ok = load(&w->n_ok);
	st->not_found = load(&w->n_not_found);
	st->not_allowed = load(&w->n_not_allowed);
	st->unhealthy = load(&w->n_unhealthy);
	st->publishes = w->n_publishes;
}

void saker_web_stop(struct saker_web *w)
{
	if (!w)
		return;
	MHD_stop_daemon(w->d);
	free_web(w);
}
