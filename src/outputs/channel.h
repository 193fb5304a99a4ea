/*
 * An output channel: one file implementing struct saker_channel_ops, one
 * row in outputs/channels.def. Adding a channel (say `mqtt`):
 *
 *   1. src/outputs/output_mqtt.c defines
 *        const struct saker_channel_ops saker_output_mqtt = {.name = "mqtt", ...};
 *   2. one row in src/outputs/channels.def:  SAKER_CHANNEL(MQTT, mqtt)
 *   3. its keys: a `mqtt_output` block in struct saker_config (config/config.h)
 *      and its rows in cfg_opts[] (config/config_keys.c), `mqtt_output.enabled` flagged
 *      OPT_F_OUTPUT_ON (so "no output enabled" knows it) and any key it cannot
 *      run without flagged OPT_F_OUTPUT_NEEDS. The configuration is a layer to
 *      the left of outputs, so the keys cannot live in the channel's file.
 *
 * A channel is of one of two kinds.
 *
 * Shared (open, deliver, ...): everything but the delivery is shared
 * (outputs.c): formatting (every channel gets the same line, text or JSON),
 * one bounded queue and one worker thread per channel (a stall reaches
 * neither the event loop nor another channel), the counters and /metrics
 * families labelled {channel="<name>"} (offered, delivered, failed, lost
 * when the queue is full, dropped by reload, undelivered at exit, pending),
 * the summary line, throttled failure and loss reports, reload (a channel
 * whose settings changed is closed and reopened with the new ones), SIGUSR1
 * and the shutdown budget.
 *
 * Own (.own, struct saker_channel_own): a channel that keeps its own queue,
 * worker and counts (nats: a spool on disk, acknowledgements from the
 * stream). outputs.c starts it with the others, offers it each alert as
 * JSON (whatever json_output says), asks it for its counts and its own
 * /metrics series with every stats snapshot and stops it within the
 * shutdown budget; the families labelled {channel="<name>"} and the summary
 * line come from those counts. SIGHUP and SIGUSR1 leave it as it is.
 *
 * Threads (shared kind): enabled, settings_new, settings_eq and
 * settings_free run on the emitting thread (start-up, SIGHUP); open,
 * deliver, flush, reopen and close run on the channel's own worker only,
 * never two at once, so a channel's state needs no lock. They may block (a
 * slow collector), but every wait must end when *env->abort becomes true:
 * reload and shutdown raise it to cut a delivery short, and shutdown also
 * interrupts a blocking system call with SAKER_OUTPUTS_WAKE_SIGNAL (EINTR).
 * Settings are immutable once built and outlive every state opened with
 * them.
 *
 * Accounting (shared kind): every line handed to deliver is reported
 * exactly once in a tally, by that call or (a channel that buffers) by a
 * later deliver, flush, reopen or close. The worker adds the tallies up;
 * seen = delivered + lost holds per channel (outputs.h).
 */
#ifndef SAKER_OUTPUTS_CHANNEL_H
#define SAKER_OUTPUTS_CHANNEL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "lib/prio.h"
#include "lib/report.h"
#include "outputs/outputs.h"

/* What became of the lines a call was responsible for. */
struct saker_chan_tally {
	unsigned delivered;
	unsigned failed;      /* could not be delivered (after the channel's own retries) */
	unsigned undelivered; /* given up because shutdown cut it short */
	/*
	 * deliver only: the line was not delivered because *env->abort was
	 * raised. The worker keeps it: a reload redoes it with the new settings,
	 * shutdown counts it undelivered.
	 */
	bool cut;
};

/* What the worker lends a channel's state (valid until close). */
struct saker_chan_env {
	const char *name;	    /* the channel's name */
	const atomic_bool *abort;   /* cut the current delivery short */
	const atomic_bool *closing; /* shutdown began: with abort, give up for good */
	struct saker_outputs *o;    /* for saker_chan_report and saker_chan_log */
	const char *hostname;	    /* the host's name in alerts (SAKER_HOSTNAME or gethostname) */
};

/* What an own channel reports with every stats snapshot (struct saker_channel_own). */
struct saker_chan_own_stats {
	/* Its buckets of the alerts offered to it: offered = delivered + lost + pending. */
	uint64_t offered, delivered, lost, pending;
	/* Its own /metrics series, in the order they are exposed. */
	size_t n_series;
	struct saker_chan_series series[SAKER_CHAN_SERIES_MAX];
};

/*
 * A channel that keeps its own queue, worker and counts. start, offer,
 * stop, shutdown and free run on the emitting thread, stats on whichever
 * thread takes a snapshot, publish on any; offer and publish never block.
 */
struct saker_channel_own {
	/* At start-up, when enabled: its state, or a negative errno with the reason in err. */
	int (*start)(void **state, const struct saker_config *cfg, const struct saker_chan_env *env,
		     char *err, size_t errlen);
	/* One alert as JSON (no newline): 0 when taken, else a negative errno (counted by it). */
	int (*offer)(void *state, const char *json, size_t len);
	/*
	 * A JSON document from app code (saker_outputs_publish): 0, or a negative
	 * errno. NULL: the channel takes alerts only.
	 */
	int (*publish)(void *state, const char *suffix, const char *json, size_t len);
	void (*stats)(void *state, struct saker_chan_own_stats *st);
	/* Shutdown began: finish within timeout_ms, without waiting here. */
	void (*stop)(void *state, int timeout_ms);
	/* Shutdown ends: waits for it, then reports what it leaves behind through env. */
	void (*shutdown)(void *state, const struct saker_chan_env *env);
	void (*free)(void *state);
};

struct saker_channel_ops {
	/* The metrics label, the summary's and the log lines' name. */
	const char *name;
	/* Whether cfg enables the channel. */
	bool (*enabled)(const struct saker_config *cfg);
	/*
	 * Checks and copies the channel's part of cfg (only when enabled) into
	 * *out. A bad setting is refused here, at start-up or SIGHUP, with the
	 * reason in err (open the file, look the user up), not at the first
	 * alert. NULL: the channel has no settings.
	 */
	int (*settings_new)(void **out, const struct saker_config *cfg, char *err, size_t errlen);
	/* Equal settings leave a running channel untouched at SIGHUP. NULL: always equal. */
	bool (*settings_eq)(const void *a, const void *b);
	void (*settings_free)(void *s);

	/*
	 * Worker: the state for these settings, before the first delivery with
	 * them. Opening a connection or starting a program may wait for the
	 * first deliver. A failure fails the line at hand (and is tried again
	 * with the next). NULL: the channel has no state (deliver gets NULL).
	 */
	int (*open)(void **state, const void *settings, const struct saker_chan_env *env, char *err,
		    size_t errlen);
	/*
	 * One formatted alert: line[0..len) ends with '\n'. On failure the
	 * reason goes to err (one line, without the channel's name).
	 */
	struct saker_chan_tally (*deliver)(void *state, const char *line, size_t len,
					   enum saker_prio prio, char *err, size_t errlen);
	/* Writes what is buffered (a flush request). NULL: nothing is buffered. The
	 * worker calls flush, reopen and close only for a state open returned. */
	struct saker_chan_tally (*flush)(void *state, char *err, size_t errlen);
	/*
	 * SIGUSR1, between two alerts: reopen by name what was rotated (the file),
	 * restart what runs (the program). NULL: nothing to reopen.
	 */
	struct saker_chan_tally (*reopen)(void *state, char *err, size_t errlen);
	/*
	 * Worker, for a state open returned (new settings, shutdown): writes
	 * what is buffered unless cut (then it is undelivered), releases
	 * everything and frees state.
	 */
	struct saker_chan_tally (*close)(void *state, bool cut, char *err, size_t errlen);

	/* Non-NULL: the own kind; open to close are then unused. */
	const struct saker_channel_own *own;
};

/* The outcome of one line from a 0 / negative errno delivery. */
static inline struct saker_chan_tally saker_chan_result(int rc)
{
	struct saker_chan_tally t = {0};

	if (rc == 0)
		t.delivered = 1;
	else if (rc == -ECANCELED)
		t.cut = true;
	else
		t.failed = 1;
	return t;
}

/* A report through the outputs' log callback, "outputs: " in front. Thread-safe. */
void saker_chan_report(const struct saker_chan_env *env, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* env's report callback as it is (a saker_report_fn, ctx = the env): for a library the channel
 * runs. */
void saker_chan_log(void *env, enum saker_prio prio, const char *msg);

/* The table (outputs/channels.def), indexed by enum saker_channel. */
#define SAKER_CHANNEL(ID, name) extern const struct saker_channel_ops saker_output_##name;
#include "outputs/channels.def"
#undef SAKER_CHANNEL

#endif
