/*
 * http_output: one POST per alert with libcurl. Used from the output thread
 * only. Each request has a timeout; a failed post (connection error,
 * timeout, 408, 429 or 5xx) is retried a bounded number of times with a
 * short backoff; other answers (4xx, 3xx) fail at once. *abort cuts a
 * transfer or a backoff short at shutdown.
 */
#ifndef SAKER_OUTPUT_HTTP_H
#define SAKER_OUTPUT_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define SAKER_HTTP_RETRIES    3
#define SAKER_HTTP_TIMEOUT_MS 5000

struct saker_http_cfg {
	char *url;
	char *user_agent;
	bool insecure;
	char *ca_cert;
	char *ca_bundle;
	char *ca_path;
	bool mtls;
	char *client_cert;
	char *client_key;
	bool echo; /* print the response body on stdout */
	bool compress_uploads;
	bool keep_alive; /* reuse one curl handle (and its connection) */
	bool json;	 /* Content-Type application/json, else text/plain */
	long timeout_ms; /* per request; 0 = SAKER_HTTP_TIMEOUT_MS */
	int retries;	 /* after the first attempt; < 0 = SAKER_HTTP_RETRIES */
	int backoff_ms;	 /* before the first retry, doubled after each; 0 = 100 */
};

struct saker_http;

/* Copies cfg. The caller has run curl_global_init. */
int saker_http_new(struct saker_http **out, const struct saker_http_cfg *cfg,
		   const atomic_bool *abort);
/* 0 once the server answered 2xx, else a negative errno with a reason in err. */
int saker_http_post(struct saker_http *h, const char *body, size_t len, char *err, size_t errlen);
void saker_http_free(struct saker_http *h);

void saker_http_cfg_free(struct saker_http_cfg *c);
int saker_http_cfg_copy(struct saker_http_cfg *dst, const struct saker_http_cfg *src);

#endif
