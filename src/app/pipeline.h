/*
 * The one pipeline every ring record goes through, decoded once, consumers
 * in a fixed order:
 *   0. the tap (-w FILE), which records the record as it came;
 *   1. decode (saker_event_parse); a rejected record is a user-space loss:
 *      the capture callback returns the error and capture counts it in
 *      user_drops, so seen == delivered + dropped stays exact;
 *   2. state apply, for what the event creates (saker_view_defers() false);
 *   3. the rules slot (a function pointer, NULL until the rules engine fills it);
 *      the capture canary's own events go to its slot instead, never to the rules;
 *   4. the dump (and later the outputs), into a non-blocking sink;
 *   5. deferred state changes: removals and replacements of what the event
 *      itself names, so a close still names its file in its dump line.
 * An exec is the exception: dump, then the new image, then the rules (which
 * must see the image the exec installed, as Falco's execve exit does); so
 * are connect, bind and listen (saker_view_rules_see_result()).
 * A sink's failure (EPIPE, EIO) comes back as a return value and is kept in
 * saker_pipeline_error() for the loop; a line lost to a full sink is counted
 * there and does not stop anything.
 */
#ifndef SAKER_PIPELINE_H
#define SAKER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"

struct saker_event;
struct saker_view;
struct saker_dump;
struct saker_dump_sink;

/* The rules engine's slot: sees each decoded event after state apply. 0 or a negative errno. */
typedef int (*saker_pipeline_rules_fn)(void *ctx, const struct saker_event *ev);

/*
 * A tap sees each record as capture hands it over, before decode (the -w
 * recorder, capture/record.h). It cannot reject a record: its result is ignored.
 */
typedef int (*saker_pipeline_tap_fn)(void *ctx, const struct saker_evt_hdr *e, size_t len);

struct saker_attrib;
struct saker_resync;

struct saker_pipeline {
	struct saker_view *view;      /* required */
	struct saker_dump *dump;      /* NULL = no --dump */
	struct saker_dump_sink *sink; /* where dump lines go (with dump) */
	struct saker_attrib *attrib;  /* NULL = no per-process counting */
	struct saker_resync *resync;  /* NULL = no repair */
	saker_pipeline_rules_fn rules;
	void *rules_ctx;
	/* SAKER_SC_CRITICAL per syscall id, as the probe's table has it: which dump lines are
	 * critical */
	uint8_t critical[SAKER_SYSCALL_MAX];
	saker_pipeline_tap_fn tap; /* NULL = no -w */
	void *tap_ctx;
	/*
	 * The probe's loss count (capture's saker_capture_loss_seq()), polled
	 * every SAKER_PIPELINE_LOSS_POLL records and by saker_pipeline_poll_loss():
	 * a change marks the view degraded at once, pending attribution. NULL =
	 * none (replay).
	 */
	uint64_t (*loss_seq)(void *ctx);
	void *loss_ctx;
	uint64_t loss_last, loss_polled_ns;
	bool loss_init;
	/*
	 * The capture canary's process (app/canary.h): its events go to this
	 * slot instead of the rules (state, dump and attribution as any event).
	 */
	uint32_t canary_tgid; /* 0 = none */
	saker_pipeline_rules_fn canary;
	void *canary_ctx;
	uint64_t records;      /* handed in */
	uint64_t rejected;     /* of which the decoder refused (user-space losses) */
	uint64_t state_errors; /* state apply failed (out of memory); the event still went on */
	uint64_t rules_errors;
	uint64_t dump_errors; /* a line that could not be formatted (out of memory) */
	int sink_err;	      /* sticky: the dump sink failed (-EPIPE: the reader went away) */
};

void saker_pipeline_init(struct saker_pipeline *p, struct saker_view *view, struct saker_dump *dump,
			 struct saker_dump_sink *sink);
/*
 * Which syscalls are critical (the probe's table: lane 1 rows); lifecycle
 * records always are. Their dump lines are shed last (outputs/dump.h).
 */
void saker_pipeline_set_critical(struct saker_pipeline *p, const uint8_t table[SAKER_SYSCALL_MAX]);
/* Whether the event is a critical one (lifecycle, or a critical syscall). */
bool saker_pipeline_is_critical(const struct saker_pipeline *p, const struct saker_evt_hdr *e);
/*
 * One ring record (the capture callback: ctx is the pipeline). 0 when the
 * record went through (even if its dump line was lost), -EBADMSG when the
 * decoder rejected it.
 */
int saker_pipeline_record(void *ctx, const struct saker_evt_hdr *e, size_t len);
/* Records between two polls of the probe's loss count (a few microseconds of work). */
#define SAKER_PIPELINE_LOSS_POLL 64
/* Polls the probe's loss count now (before a drain, say). */
void saker_pipeline_poll_loss(struct saker_pipeline *p);
/* Writes what the sink takes now: 0 nothing pending, -EAGAIN some pending, or the sink's error. */
int saker_pipeline_flush(struct saker_pipeline *p);
/* The sink's sticky error, 0 while it works. */
int saker_pipeline_error(const struct saker_pipeline *p);

#endif
