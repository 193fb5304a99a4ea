/*
 * Alerts: one struct describes an alert; outputs format it once (text or
 * JSON, Falco's shapes) and hand it to every enabled channel through a
 * bounded queue drained by an output thread, so a slow channel never stalls
 * the event loop. Everything that cannot be queued or delivered is counted
 * per channel.
 */
#ifndef SAKER_OUTPUTS_H
#define SAKER_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/log.h"
#include "lib/alert.h"
#include "lib/prio.h"

/* Default bound of the alert queue when outputs_queue.capacity is 0. */
#define SAKER_OUTPUTS_DEFAULT_QUEUE 4096

enum saker_channel {
	SAKER_CH_STDOUT = 0,
	SAKER_CH_FILE,
	SAKER_CH_SYSLOG,
	SAKER_CH_PROGRAM,
	SAKER_CH_HTTP,
	SAKER_CH_MAX,
};

struct saker_outputs_stats {
	uint64_t emitted;     /* alerts accepted by saker_outputs_emit */
	uint64_t filtered;    /* below the `priority` minimum */
	uint64_t queue_drops; /* queue full: lost for every channel */
	bool enabled[SAKER_CH_MAX];
	uint64_t delivered[SAKER_CH_MAX];
	uint64_t failed[SAKER_CH_MAX]; /* could not be delivered after retries */
	uint64_t queued;	       /* still waiting in the queue when sampled */
};

const char *saker_channel_name(enum saker_channel ch);

struct saker_outputs;

int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_log *log);
/* Never blocks: formats, filters by priority, queues. 0, or -ENOBUFS when counted as lost. */
int saker_outputs_emit(struct saker_outputs *o, const struct saker_alert *alert);
/* SIGUSR1: reopen file outputs, restart the program output. */
int saker_outputs_reopen(struct saker_outputs *o);
/* SIGHUP with a valid new configuration. Queued alerts are not lost. */
int saker_outputs_reconfigure(struct saker_outputs *o, const struct saker_config *cfg);
/* Delivers what is queued, waiting at most timeout_ms. */
int saker_outputs_flush(struct saker_outputs *o, int timeout_ms);
void saker_outputs_get_stats(struct saker_outputs *o, struct saker_outputs_stats *st);
/*
 * Delivers what is queued (at most 5 s; at once if the last flush timed
 * out), stops the thread, closes every channel. Alerts left in the queue are
 * counted as failed for each enabled channel and logged. Accepts NULL.
 */
void saker_outputs_free(struct saker_outputs *o);
/* Test hook: while paused the output thread holds queued alerts. */
void saker_outputs_test_pause(struct saker_outputs *o, bool paused);

#endif
