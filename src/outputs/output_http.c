#include "outputs/output_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/sbuf.h"
#include "outputs/channel.h"

/* The part of a reply that echo prints; the rest is read and dropped. */
#define ECHO_MAX 65536

struct saker_http {
	const struct saker_config_http *cfg;
	const atomic_bool *abort;
	CURL *curl; /* kept between posts only with keep_alive */
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	struct saker_sbuf reply; /* with echo: the body of the current answer */
};

static bool aborted(const struct saker_http *h)
{
	return h->abort && atomic_load(h->abort);
}

static int xferinfo(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return aborted(ctx) ? 1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct saker_http *h = ctx;
	size_t n = size * nmemb;

	if (h->cfg->echo && h->reply.len < ECHO_MAX)
		saker_sbuf_putn(&h->reply, data,
				n < ECHO_MAX - h->reply.len ? n : ECHO_MAX - h->reply.len);
	return n;
}

/* Options that do not change from one post to the next. */
static int setup_handle(struct saker_http *h, CURL *c)
{
	const struct saker_config_http *cfg = h->cfg;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, cfg->url);
	SET(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM from a thread */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_TIMEOUT_MS, (long)SAKER_HTTP_TIMEOUT_MS);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)SAKER_HTTP_TIMEOUT_MS);
	SET(CURLOPT_HTTPHEADER, h->headers);
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, xferinfo);
	SET(CURLOPT_XFERINFODATA, h);
	if (cfg->user_agent)
		SET(CURLOPT_USERAGENT, cfg->user_agent);
	if (cfg->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cfg->ca_cert)
		SET(CURLOPT_CAINFO, cfg->ca_cert);
	else if (cfg->ca_bundle)
		SET(CURLOPT_CAINFO, cfg->ca_bundle);
	if (cfg->ca_path)
		SET(CURLOPT_CAPATH, cfg->ca_path);
	if (cfg->mtls) {
		if (cfg->client_cert)
			SET(CURLOPT_SSLCERT, cfg->client_cert);
		if (cfg->client_key)
			SET(CURLOPT_SSLKEY, cfg->client_key);
	}
	if (!cfg->keep_alive)
		SET(CURLOPT_FORBID_REUSE, 1L);
#undef SET
	return rc == CURLE_OK ? 0 : -EINVAL;
}

int saker_http_new(struct saker_http **out, const struct saker_config_http *cfg, bool json,
		   const atomic_bool *abort)
{
	struct saker_http *h;
	struct curl_slist *l;
	int rc = -ENOMEM;

	*out = NULL;
	if (!cfg->url || !*cfg->url)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->abort = abort;
	saker_sbuf_init(&h->reply);
	h->cfg = cfg;
	l = curl_slist_append(NULL, json ? "Content-Type: application/json"
					 : "Content-Type: text/plain; charset=utf-8");
	/* Without this curl waits for "100 Continue" on larger bodies. */
	if (l)
		h->headers = curl_slist_append(l, "Expect:");
	if (h->headers && cfg->compress_uploads) {
		l = curl_slist_append(h->headers, "Content-Encoding: gzip");
		h->headers = l ? l : h->headers;
		if (!l)
			goto fail;
	}
	if (!h->headers) {
		curl_slist_free_all(l);
		goto fail;
	}
	*out = h;
	return 0;
fail:
	saker_http_free(h);
	return rc;
}

/*
 * The collector's answer on stdout, escaped like alert text: whatever it
 * sends stays one line of printable text (no escape sequences, no line that
 * looks like an alert). One write, so it is not split by another thread's.
 */
static void echo_reply(struct saker_http *h)
{
	struct saker_sbuf line;
	size_t off = 0;
	char *s;

	if (h->reply.len == 0 || h->reply.oom)
		return;
	saker_sbuf_init(&line);
	saker_sbuf_escape(&line, h->reply.p, h->reply.len, SAKER_ESC_TEXT);
	saker_sbuf_putc(&line, '\n');
	s = line.p;
	while (!line.oom && s && off < line.len) {
		ssize_t n = write(STDOUT_FILENO, s + off, line.len - off);

		if (n < 0 && errno == EINTR && !aborted(h))
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	saker_sbuf_free(&line);
}

/* gzip, because libcurl only compresses what it downloads. */
static int gzip_body(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream zs = {0};
	size_t cap;
	char *buf;
	int zrc;

	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	/* deflateBound leaves out the gzip header and trailer. */
	cap = deflateBound(&zs, len) + 32;
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)buf;
	zs.avail_out = (uInt)cap;
	zrc = deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	if (zrc != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

static bool retryable(CURLcode res, long code)
{
	if (res == CURLE_OK)
		return code == 408 || code == 429 || code >= 500;
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/* Sleeps ms, waking early on abort. */
static void backoff(const struct saker_http *h, int ms)
{
	while (ms > 0 && !aborted(h)) {
		int step = ms < 20 ? ms : 20;

		nanosleep(&(struct timespec){.tv_nsec = step * 1000000L}, NULL);
		ms -= step;
	}
}

int saker_http_post(struct saker_http *h, const char *body, size_t len, char *err, size_t errlen)
{
	int delay = SAKER_HTTP_BACKOFF_MS;
	char *gz = NULL;
	CURLcode res = CURLE_OK;
	long code = 0;
	CURL *c = NULL;
	int rc;

	if (h->cfg->compress_uploads) {
		size_t glen;

		rc = gzip_body(body, len, &gz, &glen);
		if (rc < 0) {
			snprintf(err, errlen, "gzip: %s", strerror(-rc));
			return rc;
		}
		body = gz;
		len = glen;
	}
	for (int attempt = 0; attempt <= SAKER_HTTP_RETRIES; attempt++) {
		if (attempt > 0) {
			backoff(h, delay);
			delay *= 2;
		}
		if (aborted(h)) {
			rc = -ECANCELED;
			snprintf(err, errlen, "cancelled at shutdown");
			goto out;
		}
		c = h->curl;
		if (!c) {
			c = curl_easy_init();
			if (!c || setup_handle(h, c) < 0) {
				curl_easy_cleanup(c);
				c = NULL;
				rc = -ENOMEM;
				snprintf(err, errlen, "cannot set up a curl handle");
				goto out;
			}
		}
		h->errbuf[0] = '\0';
		h->reply.len = 0;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		res = curl_easy_perform(c);
		code = 0;
		if (res == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (h->cfg->keep_alive) {
			h->curl = c;
		} else {
			curl_easy_cleanup(c);
		}
		c = NULL;
		if (res == CURLE_OK && code >= 200 && code < 300) {
			if (h->cfg->echo)
				echo_reply(h);
			rc = 0;
			goto out;
		}
		if (!retryable(res, code) || aborted(h))
			break;
	}
	if (res == CURLE_OK) {
		rc = -EPROTO;
		snprintf(err, errlen, "%s answered HTTP %ld", h->cfg->url, code);
	} else {
		rc = res == CURLE_OPERATION_TIMEDOUT	? -ETIMEDOUT
		     : res == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED
							: -EIO;
		snprintf(err, errlen, "POST %s: %s", h->cfg->url,
			 h->errbuf[0] ? h->errbuf : curl_easy_strerror(res));
		/* curl's error buffer ends with a newline at times. */
		err[strcspn(err, "\n")] = '\0';
	}
out:
	free(gz);
	return rc;
}

void saker_http_free(struct saker_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	saker_sbuf_free(&h->reply);
	free(h);
}

/* ---- the channel (outputs/channel.h) ---- */

struct http_settings {
	struct saker_config_http c; /* its strings are ours */
	bool json;
};

static bool http_enabled(const struct saker_config *cfg)
{
	return cfg->http_output.enabled;
}

static void http_settings_free(void *p)
{
	struct http_settings *s = p;

	if (!s)
		return;
	free(s->c.url);
	free(s->c.user_agent);
	free(s->c.ca_cert);
	free(s->c.ca_bundle);
	free(s->c.ca_path);
	free(s->c.client_cert);
	free(s->c.client_key);
	free(s);
}

static bool dup_str(char **dst, const char *src)
{
	*dst = src && *src ? strdup(src) : NULL;
	return *dst || !src || !*src;
}

static int http_settings_new(void **out, const struct saker_config *cfg, char *err, size_t errlen)
{
	const struct saker_config_http *src = &cfg->http_output;
	struct http_settings *s;
	bool ok;

	if (!src->url || !*src->url) {
		snprintf(err, errlen, "http_output needs a url");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->c = *src;
	s->json = cfg->json_output;
	/* Each one is duplicated, also after a failure, so that free sees only ours. */
	ok = dup_str(&s->c.url, src->url);
	ok &= dup_str(&s->c.user_agent, src->user_agent);
	ok &= dup_str(&s->c.ca_cert, src->ca_cert);
	ok &= dup_str(&s->c.ca_bundle, src->ca_bundle);
	ok &= dup_str(&s->c.ca_path, src->ca_path);
	ok &= dup_str(&s->c.client_cert, src->client_cert);
	ok &= dup_str(&s->c.client_key, src->client_key);
	if (!ok) {
		http_settings_free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool http_settings_eq(const void *pa, const void *pb)
{
	const struct http_settings *sa = pa, *sb = pb;
	const struct saker_config_http *a = &sa->c, *b = &sb->c;

	return sa->json == sb->json && str_eq(a->url, b->url) &&
	       str_eq(a->user_agent, b->user_agent) && a->insecure == b->insecure &&
	       str_eq(a->ca_cert, b->ca_cert) && str_eq(a->ca_bundle, b->ca_bundle) &&
	       str_eq(a->ca_path, b->ca_path) && a->mtls == b->mtls &&
	       str_eq(a->client_cert, b->client_cert) && str_eq(a->client_key, b->client_key) &&
	       a->echo == b->echo && a->compress_uploads == b->compress_uploads &&
	       a->keep_alive == b->keep_alive;
}

static int http_open(void **state, const void *settings, const struct saker_chan_env *env,
		     char *err, size_t errlen)
{
	const struct http_settings *s = settings;
	struct saker_http *h;
	int rc = saker_http_new(&h, &s->c, s->json, env->abort);

	if (rc < 0) {
		snprintf(err, errlen, "http: %s", strerror(-rc));
		return rc;
	}
	*state = h;
	return 0;
}

static struct saker_chan_tally http_deliver(void *state, const char *line, size_t len,
					    enum saker_prio prio, char *err, size_t errlen)
{
	(void)prio;
	/* The body is the alert without its newline. */
	return saker_chan_result(saker_http_post(state, line, len - 1, err, errlen));
}

static struct saker_chan_tally http_close(void *state, bool cut, char *err, size_t errlen)
{
	(void)cut;
	(void)err;
	(void)errlen;
	saker_http_free(state);
	return (struct saker_chan_tally){0};
}

const struct saker_channel_ops saker_output_http = {
    .name = "http",
    .enabled = http_enabled,
    .settings_new = http_settings_new,
    .settings_eq = http_settings_eq,
    .settings_free = http_settings_free,
    .open = http_open,
    .deliver = http_deliver,
    .close = http_close,
};
