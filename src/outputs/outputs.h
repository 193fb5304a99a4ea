/*
 * Alerts: one struct describes an alert; outputs format it once (text or
 * JSON, Falco's shapes) and hand it to every enabled channel. Each channel
 * (outputs/channels.def; the interface one implements is outputs/channel.h)
 * has its own bounded queue and its own worker thread, so a slow or dead
 * channel delays only itself and never the event loop. Every alert handed to a channel ends in
 * exactly one of its buckets (see struct saker_outputs_stats).
 *
 * The library never logs: failures, queue losses and reload effects are
 * reported through the callback the caller gives (one message per event,
 * throttled, with a severity). It may be called from the emitting thread
 * and from any worker thread, so it must be thread-safe.
 *
 * A worker stuck in a blocking write(2) (stdout to a pipe nobody reads) is
 * interrupted at shutdown with SAKER_OUTPUTS_WAKE_SIGNAL, sent to that
 * thread only; saker_outputs_new installs an empty handler for it (without
 * SA_RESTART). The application must not use that signal for anything else.
 */
#ifndef SAKER_OUTPUTS_H
#define SAKER_OUTPUTS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/alert.h"
#include "lib/prio.h"
#include "lib/metrics.h"
#include "lib/report.h"

/* Default bound of each channel's queue when outputs_queue.capacity is 0. */
#define SAKER_OUTPUTS_DEFAULT_QUEUE 4096
/* Default bound of saker_outputs_shutdown, whatever the channels do. */
#define SAKER_OUTPUTS_SHUTDOWN_MS 5000
#define SAKER_OUTPUTS_WAKE_SIGNAL (SIGRTMIN + 3)

/* One per row of outputs/channels.def (a channel is one file, outputs/channel.h). */
enum saker_channel {
#define SAKER_CHANNEL(ID, name) SAKER_CH_##ID,
#include "outputs/channels.def"
#undef SAKER_CHANNEL
	SAKER_CH_MAX,
};

/* Series one channel may report itself (an own channel, outputs/channel.h), and all of them. */
#define SAKER_CHAN_SERIES_MAX	 16
#define SAKER_OUTPUTS_SERIES_MAX 32

/* One /metrics series a channel counts itself; the strings are static. */
struct saker_chan_series {
	const char *name; /* without SAKER_METRICS_PREFIX */
	const char *help;
	enum saker_metric_type type;
	const char *label, *value; /* one label, or NULL */
	uint64_t v;
};

/*
 * Alert-level counters count alerts; channel counters count what one
 * channel did with the alerts handed to it. For every channel, at any time:
 *   offered = delivered + failed + lost + dropped_reload + undelivered + pending
 * and after saker_outputs_shutdown pending is 0 (the in-flight alert
 * included: it is delivered, failed or undelivered). A channel that counts
 * itself (nats) reports offered = delivered + lost + pending: delivered is
 * acknowledged by the stream, lost its queue or spool could not take it,
 * pending not acknowledged yet (after shutdown: in the spool for the next
 * start).
 */
struct saker_outputs_stats {
	uint64_t emitted;     /* passed the priority filter, accepted by at least one channel */
	uint64_t filtered;    /* below the `priority` minimum */
	uint64_t queue_drops; /* accepted by no channel: every queue full, or out of memory */
	bool enabled[SAKER_CH_MAX];
	uint64_t delivered[SAKER_CH_MAX];
	uint64_t failed[SAKER_CH_MAX]; /* the channel could not take it (after retries) */
	uint64_t queued; /* alerts still held by a channel (queue, in flight, write buffer) */

	uint64_t offered[SAKER_CH_MAX];	       /* handed to the channel while it was enabled */
	uint64_t lost[SAKER_CH_MAX];	       /* its queue was full (or out of memory) */
	uint64_t dropped_reload[SAKER_CH_MAX]; /* queued when a reload disabled the channel */
	uint64_t undelivered[SAKER_CH_MAX];    /* still queued or in flight when shutdown ended */
	uint64_t pending[SAKER_CH_MAX];	       /* queued, in flight or buffered when sampled */
	uint64_t undelivered_alerts; /* alerts some channel had not delivered at shutdown */
	bool final;		     /* after saker_outputs_shutdown: no counter changes again */
	/* The series channels count themselves (nats: its spool and acks), in table order. */
	size_t n_series;
	struct saker_chan_series series[SAKER_OUTPUTS_SERIES_MAX];
};

const char *saker_channel_name(enum saker_channel ch);

struct saker_outputs_opts {
	saker_report_fn log; /* NULL: reports are dropped */
	void *log_ctx;
};

struct saker_outputs;

/* 0, or a negative errno with the reason (one line) in err. */
int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_outputs_opts *opts, char *err, size_t errlen);
/*
 * Never blocks: filters by priority, formats once, queues for each enabled
 * channel. 0 when at least one channel took it (or it was filtered),
 * -ENOBUFS when none did, -ESHUTDOWN after shutdown began.
 */
int saker_outputs_emit(struct saker_outputs *o, const struct saker_alert *alert);
/* SIGUSR1: reopen the file by name, restart the program (between two alerts). */
int saker_outputs_reopen(struct saker_outputs *o);
/*
 * SIGHUP with a valid new configuration. A channel whose settings changed
 * uses the new ones for what is still queued for it too (its delivery in
 * progress is cut short and redone with them); a channel the new
 * configuration disables drops its queue (counted as dropped_reload).
 * Channels whose settings did not change are not touched. 0, or a negative
 * errno with the reason in err, and then nothing changed.
 */
int saker_outputs_reconfigure(struct saker_outputs *o, const struct saker_config *cfg, char *err,
			      size_t errlen);
/* Delivers what is queued and flushes write buffers, waiting at most timeout_ms. */
int saker_outputs_flush(struct saker_outputs *o, int timeout_ms);
/*
 * Ends delivery, at most timeout_ms (<= 0: SAKER_OUTPUTS_SHUTDOWN_MS) in all:
 * delivers what is queued, cuts what is still running short, stops the
 * workers and programs, counts everything left as undelivered and reports
 * the final per-channel figures through the callback. Afterwards the stats
 * are final, so a summary can be printed. -ETIMEDOUT when something had to
 * be cut short. Called once; later calls return 0.
 */
int saker_outputs_shutdown(struct saker_outputs *o, int timeout_ms);
void saker_outputs_get_stats(struct saker_outputs *o, struct saker_outputs_stats *st);
/*
 * For app code (the fleet's ledger and coverage records): one JSON document
 * to the first enabled channel that takes documents (its own kind's
 * publish; nats_output: <subject_prefix>.<hostname>.<suffix> through its
 * queue, spool and acks, exactly once, nothing lost uncounted; see
 * output_nats.h). Never blocks. 0; -ENOTCONN when no such channel is
 * enabled; else what the channel returns (nats: -ENOBUFS, -EINVAL,
 * -ESHUTDOWN). Callable from any thread.
 */
int saker_outputs_publish(struct saker_outputs *o, const char *suffix, const char *json,
			  size_t len);
/* saker_outputs_shutdown (if not done), then frees. Accepts NULL. */
void saker_outputs_free(struct saker_outputs *o);
/* Test hook: while paused the workers hold queued alerts. */
void saker_outputs_test_pause(struct saker_outputs *o, bool paused);

#endif
