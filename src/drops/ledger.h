/*
 * The loss ledger (`syscall_event_drops.ledger: <path>`): one JSON line for
 * every drop-check window with any loss, and one when loss ends, written
 * whatever the token bucket says, so that the alerts it suppressed are on
 * record too. Appended with one write(2) per line to a file opened safely
 * (lib/safefile.h); reopened on SIGUSR1 (log rotation). Line shapes:
 * docs/drops.md. A consumer joins it with alerts by time.
 */
#ifndef SAKER_LEDGER_H
#define SAKER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/stats.h"
#include "drops/attrib.h"
#include "drops/loss.h"
#include "lib/metrics.h"
#include "lib/sbuf.h"

struct saker_ledger;

enum saker_ledger_kind {
	SAKER_LEDGER_LOSS = 0, /* a window with loss */
	SAKER_LEDGER_END,      /* the first window without loss after lossy ones */
};

/* A window: [start, end] in boot and wall time. */
struct saker_ledger_window {
	uint64_t start_boot_ns, end_boot_ns;
	uint64_t start_real_ns, end_real_ns;
};

struct saker_ledger_record {
	enum saker_ledger_kind kind;
	struct saker_ledger_window win;
	uint64_t seen, delivered;
	const struct saker_loss *loss; /* simulated drops included */
	uint64_t simulated;
	const struct saker_attrib_window *attrib; /* NULL: no attribution */
	bool fired;				  /* above the threshold */
	bool suppressed; /* fired, but the token bucket refused the actions */
	bool resync;	 /* a resync was requested */
	/* SAKER_LEDGER_END: the episode of lossy windows that ended */
	struct saker_ledger_window episode;
	uint64_t episode_windows, episode_seen, episode_lost;
};

struct saker_ledger_stats {
	uint64_t lines;
	uint64_t write_errors; /* lines not (fully) written */
	uint64_t reopens;
};

/* Opens path (appending); -errno with a reason in err. */
int saker_ledger_open(struct saker_ledger **out, const char *path, char *err, size_t errlen);
/* Reopens the same path; on failure the old file stays in use. */
int saker_ledger_reopen(struct saker_ledger *l, char *err, size_t errlen);
void saker_ledger_close(struct saker_ledger *l); /* NULL ok */

/* The line, without its newline, appended to b. */
void saker_ledger_format(struct saker_sbuf *b, const struct saker_ledger_record *r);
/*
 * Pieces of the line, shared with the coverage record (drops/coverage.h) so
 * both say a window, a loss and its attribution in one vocabulary:
 * ,"<prefix>start_boot_ns":..,"<prefix>end_boot_ns":..,"<prefix>start":"ISO",
 * "<prefix>end":"ISO","<prefix>seconds":S; ,"lost":N,"lost_by_cause":{..},
 * "lost_by_lane":{..},"lost_by_category":{..}; ,"demoted":N,"attribution":..,
 * "processes":N,"top":[..] (a NULL: attribution "none").
 */
void saker_ledger_put_window(struct saker_sbuf *b, const char *prefix,
			     const struct saker_ledger_window *w);
void saker_ledger_put_loss(struct saker_sbuf *b, const struct saker_loss *loss);
void saker_ledger_put_attrib(struct saker_sbuf *b, const struct saker_attrib_window *a);
/* Formats and appends one line. 0, -ENOMEM, or the write's -errno (counted). */
int saker_ledger_write(struct saker_ledger *l, const struct saker_ledger_record *r);

void saker_ledger_get_stats(const struct saker_ledger *l, struct saker_ledger_stats *st);
/* ledger_lines_total, ledger_write_errors_total, ledger_reopens_total. */
void saker_ledger_add_metrics(const struct saker_ledger *l, struct saker_metrics *m);

#endif
