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

#include "config/config.h"

/* Attempts after the first, the wait before the first retry (doubled after each). */
#define SAKER_HTTP_RETRIES    3
#define SAKER_HTTP_BACKOFF_MS 100
#define SAKER_HTTP_TIMEOUT_MS 5000

struct saker_http;

/*
 * cfg (http_output's keys) must outlive the handle. json: the body's
 * Content-Type is application/json, else text/plain. The caller has run
 * curl_global_init.
 */
int saker_http_new(struct saker_http **out, const struct saker_config_http *cfg, bool json,
		   const atomic_bool *abort);
/* 0 once the server answered 2xx, else a negative errno with a reason in err. */
int saker_http_post(struct saker_http *h, const char *body, size_t len, char *err, size_t errlen);
void saker_http_free(struct saker_http *h);

#endif
