/*
 * Web server (libmicrohttpd): /metrics (Prometheus text 0.0.4), the health
 * endpoint and /versions. It runs in its own thread(s) and serves only a
 * snapshot the event loop publishes once per tick; a request never reaches
 * into capture, so a slow or hostile client cannot stall the loop. The
 * Prometheus text is rendered once per publish, not per request.
 *
 * Bounded: connections (total and per IP), an idle timeout, the memory a
 * request may take (headers and body), GET only (405 otherwise).
 *
 * Health: 200 {"status": "ok"} only while the loop publishes on time and
 * its last publish says the rings were drained recently. The web thread
 * judges staleness itself from the time of the last publish
 * (CLOCK_MONOTONIC), so a loop that is stuck or stopped turns it 503 with
 * the reason; a loop that just came back from such a stall stays 503 for a
 * short while, so a probe answered right after a SIGCONT still says so.
 */
#ifndef SAKER_WEB_H
#define SAKER_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/metrics.h"

struct saker_web;

struct saker_web_opts {
	const char *listen_address; /* an IPv4 or IPv6 literal */
	uint16_t port;		    /* 0 = any free port (saker_web_port says which) */
	const char *healthz_path;   /* e.g. "/healthz" */
	bool metrics_enabled;	    /* serve /metrics */
	const char *tls_pem;	    /* NULL = plain HTTP; else PEM text with key and certificate */
	unsigned threads;	    /* 0 = 1 */
	unsigned max_connections;   /* 0 = 64 */
	unsigned max_per_ip;	    /* 0 = 16 */
	unsigned timeout_s;	    /* idle connection timeout; 0 = 5 */
	size_t max_request_bytes;   /* headers and body of one request; 0 = 8 KiB */
	uint64_t stale_ns;	    /* no publish or drain for this long = unhealthy; 0 = 2 s */
	const char *versions_json;  /* body of /versions (copied); NULL = {} */
};

/* What the loop says about itself at each publish. */
struct saker_web_health {
	uint64_t now_mono_ns;	/* when this publish was made (the loop's tick) */
	uint64_t drain_mono_ns; /* when the rings were last drained */
	/* What the loop knows is wrong (e.g. the capture canary's "capture blind: ..."); "" = none.
	 */
	char problem[256];
};

struct saker_web_stats {
	uint64_t requests;    /* answered, any status */
	uint64_t ok;	      /* 200 */
	uint64_t not_found;   /* 404 */
	uint64_t not_allowed; /* 405 */
	uint64_t unhealthy;   /* 503 from the health endpoint */
	uint64_t publishes;
};

/* Binds and starts the server thread(s). 0, or a negative errno and a reason in err. */
int saker_web_start(struct saker_web **out, const struct saker_web_opts *o, char *err,
		    size_t errlen);
/*
 * Replaces the snapshot: renders m (NULL keeps the last metrics) and takes
 * the health figures. Called from the loop; takes the lock only to swap.
 * 0 or -ENOMEM (the previous snapshot is kept).
 */
int saker_web_publish(struct saker_web *w, const struct saker_metrics *m,
		      const struct saker_web_health *h);
/* The bound port. */
uint16_t saker_web_port(const struct saker_web *w);
void saker_web_get_stats(struct saker_web *w, struct saker_web_stats *st);
/* Stops the threads, closes the socket, frees. NULL ok. */
void saker_web_stop(struct saker_web *w);

/*
 * The health judgment the endpoint makes (exposed for tests): 200 or 503,
 * with the reason for a 503 in reason. published: a snapshot exists;
 * last: the latest publish; stall_ns/stall_end_ns: the longest gap between
 * two publishes that ended within the hold time (0 = none).
 */
int saker_web_judge(bool published, const struct saker_web_health *last, uint64_t stall_ns,
		    uint64_t stall_end_ns, uint64_t now_ns, uint64_t stale_ns, char *reason,
		    size_t len);

#endif
