/*
 * The fleet view (`saker fleet`, docs/fleet.md): every host's coverage over
 * a window of time, from the coverage records and alerts the hosts publish
 * to NATS JetStream. The aggregation (saker_fleet_*) takes records as text
 * and is tested without a server; the source (saker_fleet_source_*) reads
 * the stream with JetStream ordered consumers through libnats. Needs no
 * privileges and no probe.
 */
#ifndef SAKER_FLEET_H
#define SAKER_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sbuf.h"

struct saker_fleet;

struct saker_fleet_opts {
	int64_t since_ns; /* the window the counts cover, ending now */
	int64_t stale_ns; /* silent after this long without a record (at least 2 windows) */
};

#define SAKER_FLEET_DEFAULT_SINCE_NS (3600ll * 1000000000ll)
#define SAKER_FLEET_DEFAULT_STALE_NS (5ll * 1000000000ll)

int saker_fleet_new(struct saker_fleet **out, const struct saker_fleet_opts *opts);
void saker_fleet_free(struct saker_fleet *f); /* NULL ok */

/*
 * A coverage record published on subject (<prefix>.<host>.coverage; the
 * host's row is keyed by the subject's host part). seq: the stream
 * sequence, a record at or below the host's last one is ignored (0: no
 * check). -EINVAL: not a coverage record; -ENOMEM.
 */
int saker_fleet_add_coverage(struct saker_fleet *f, const char *prefix, const char *subject,
			     uint64_t seq, const char *data, size_t len);
/* An alert published on subject (<prefix>.<host>.alerts) at time_ns (the stream's time). */
int saker_fleet_add_alert(struct saker_fleet *f, const char *prefix, const char *subject,
			  int64_t time_ns);
/* Whether the host of subject has a row. */
bool saker_fleet_has_host(const struct saker_fleet *f, const char *prefix, const char *subject);

/* The table (columns: docs/fleet.md), rows by host name, as of now_ns (wall time). */
void saker_fleet_render_text(struct saker_fleet *f, int64_t now_ns, struct saker_sbuf *b);
/* The same as one JSON object, without a newline. */
void saker_fleet_render_json(struct saker_fleet *f, int64_t now_ns, struct saker_sbuf *b);

/* "1h", "90s", "15m", "2d", "500ms", or seconds: nanoseconds; -EINVAL. */
int saker_fleet_parse_duration(const char *s, int64_t *ns);

/* The stream's reader. */
struct saker_fleet_source;

struct saker_fleet_source_opts {
	const char **servers; /* nats://host:port, ... */
	size_t n_servers;
	const char *stream; /* SAKER */
	const char *prefix; /* saker */
	int64_t start_ns;   /* records from this wall time on */
	int64_t timeout_ms; /* connect and request timeout */
};

/* Connects and starts the consumers. 0, or a negative errno and a reason in err. */
int saker_fleet_source_open(struct saker_fleet_source **out,
			    const struct saker_fleet_source_opts *opts, char *err, size_t errlen);
/*
 * Feeds f with what the stream holds up to now: the records and alerts
 * since start_ns, and each host's last record when it has none since (a
 * host silent for longer than the window is still a row).
 */
int saker_fleet_source_catch_up(struct saker_fleet_source *s, struct saker_fleet *f, char *err,
				size_t errlen);
/* Feeds f with what arrives until deadline_ms (CLOCK_MONOTONIC, milliseconds). */
int saker_fleet_source_poll(struct saker_fleet_source *s, struct saker_fleet *f,
			    int64_t deadline_ms, char *err, size_t errlen);
void saker_fleet_source_close(struct saker_fleet_source *s); /* NULL ok */

#endif
