/*
 * The capture canary's child and its run (verdicts: drops/canary.h;
 * docs/drops.md). At start, before the capability drop and before any
 * thread exists, saker forks a child that drops every privilege (uid and
 * gid 65534, no groups, no capabilities, no_new_privs), dies with saker
 * (PR_SET_PDEATHSIG) and, for each sequence number saker writes to its
 * pipe, opens SAKER_CANARY_PREFIX<nonce>-<seq> (ENOTDIR: it cannot exist)
 * and answers with the sequence number and CLOCK_MONOTONIC after the
 * syscall returned.
 *
 * The pipeline hands the child's events to saker_canary_on_event() instead
 * of to the rules (they are counted, dumped and attributed like any event).
 * A timer calls saker_canary_run_tick(): it reads the answers, asks for the
 * verdict and, every interval, requests the next marker; what the caller
 * must say (an alert, a log line) comes back through its news callback.
 */
#ifndef SAKER_DROPS_CANARY_CHILD_H
#define SAKER_DROPS_CANARY_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/capture.h"
#include "drops/canary.h"

struct saker_event;
struct saker_capture_stats;

enum saker_canary_status {
	SAKER_CANARY_OFF = 0,  /* capture_canary.enabled false, or a replay */
	SAKER_CANARY_OK,       /* markers arrive (or none decided yet) */
	SAKER_CANARY_PAUSED,   /* openat is not in the syscall selection: nothing to prove */
	SAKER_CANARY_IS_BLIND, /* a marker vanished uncounted, and none arrived since */
	SAKER_CANARY_FAILED,   /* the child exited or stopped answering */
};

struct saker_canary_run {
	struct saker_canary v; /* the verdicts */
	enum saker_canary_status status;
	pid_t pid;
	int req_fd, ack_fd; /* to the child, from the child (non-blocking) */
	uint64_t nonce;
	uint64_t interval_ns;
	uint64_t next_send_ns;
	bool selected; /* openat is in the live selection */
	/* the counters' previous values, to tell a complete per-process loss read */
	uint64_t prev_unattributed, prev_user_drops, prev_misses;
	bool prev_known;
	uint64_t own_lost_total; /* the child's events lost, as the probe attributed them */
	uint64_t read_own;	 /* ... in the per-process loss read under way */
	uint64_t n_events;	 /* the child's events the pipeline saw */
	char failed_why[96];
};

/* What a tick found that the caller must tell (the run's fields say the rest). */
enum saker_canary_news {
	SAKER_CANARY_NEWS_BLIND,  /* just went blind: the alert */
	SAKER_CANARY_NEWS_SEEN,	  /* markers captured again after blind (v.blind_since_ns) */
	SAKER_CANARY_NEWS_PAUSED, /* openat left the selection */
	SAKER_CANARY_NEWS_FAILED, /* the child is gone or stuck (failed_why) */
};
typedef void (*saker_canary_news_fn)(void *ctx, const struct saker_canary_run *r,
				     enum saker_canary_news news, uint64_t now_ns);

/* status "ok" ... for metrics and logs. */
const char *saker_canary_status_name(enum saker_canary_status s);

/*
 * Forks the child (call before the capability drop, with one thread).
 * interval_ms 0 = off. 0, or a negative errno and a reason in err.
 */
int saker_canary_start(struct saker_canary_run *r, uint64_t interval_ms, char *err, size_t errlen);
/* Kills and reaps the child, closes the pipes. Safe on a run never started. */
void saker_canary_stop(struct saker_canary_run *r);

/* Whether the syscall selection (the table saker set) lets a marker be seen. */
void saker_canary_set_table(struct saker_canary_run *r, const uint8_t *sc_table);

/* The pipeline's slot for the child's events (ctx: the run). */
int saker_canary_on_event(void *ctx, const struct saker_event *ev);

/*
 * The drop check's per-process loss read: lost events of the child
 * (tgid == r->pid), then the read's end with the counters read just after.
 */
void saker_canary_proc_loss(struct saker_canary_run *r, uint32_t tgid, uint64_t lost);
void saker_canary_loss_read(struct saker_canary_run *r, uint64_t now_ns, bool read_ok,
			    const struct saker_capture_stats *st);

/* One timer tick: answers, verdict, the next marker; news as it happens. */
void saker_canary_run_tick(struct saker_canary_run *r, struct saker_capture *cap, uint64_t now_ns,
			   saker_canary_news_fn news, void *ctx);

#endif
