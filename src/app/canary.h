/*
 * The capture canary's child and its wiring (verdicts: drops/canary.h;
 * docs/drops.md). At start, before the capability drop and before any
 * thread exists, saker forks a child that drops every privilege (uid and
 * gid 65534, no groups, no capabilities, no_new_privs), dies with saker
 * (PR_SET_PDEATHSIG) and, for each sequence number saker writes to its
 * pipe, opens SAKER_CANARY_PREFIX<nonce>-<seq> (ENOTDIR: it cannot exist)
 * and answers with the sequence number and CLOCK_MONOTONIC after the
 * syscall returned.
 *
 * The pipeline hands the child's events here instead of to the rules (they
 * are counted, dumped and attributed like any event). A timer (every
 * SAKER_CANARY_TICK_NS) reads the answers, asks for the verdict and, every
 * interval, requests the next marker. A blind verdict raises the Critical
 * alert "Saker internal: capture blind", logs it, fails /healthz and shows
 * in saker_capture_canary_blind.
 */
#ifndef SAKER_APP_CANARY_H
#define SAKER_APP_CANARY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/capture.h"
#include "drops/canary.h"
#include "lib/log.h"

#define SAKER_CANARY_RULE    "Saker internal: capture blind"
#define SAKER_CANARY_TICK_NS (100ull * 1000 * 1000)

struct saker_app;
struct saker_event;

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
	/*
	 * The selection guard (saker_canary_check_selection): the probe's
	 * writable settings found changed from outside saker. The canary proves
	 * one syscall's path; this proves the rest of the table is still saker's.
	 */
	bool sel_changed;	 /* an episode: until SAKER_SELECTION_HOLD_NS without a change */
	uint64_t sel_since_ns;	 /* monotonic, the episode's first change found */
	uint64_t sel_last_ns;	 /* monotonic, the last change found */
	uint64_t n_sel_changes;	 /* drop checks that found a change (each restored) */
	uint64_t n_sel_episodes; /* alerts raised */
	struct saker_capture_tamper sel_last; /* what the last change was */
};

/* A selection change episode ends after this long without another change found. */
#define SAKER_SELECTION_HOLD_NS (10ull * 1000 * 1000 * 1000)
#define SAKER_SELECTION_RULE	"Saker internal: selection changed"

/* status "ok" ... for metrics and logs. */
const char *saker_canary_status_name(enum saker_canary_status s);

/*
 * What the loop knows is wrong, as /healthz says it (the canary's "capture
 * blind: ...", a selection changed from outside), or "" (r may be NULL):
 * the health endpoint's and the coverage record's one wording.
 */
void saker_canary_problem(const struct saker_canary_run *r, uint64_t now_mono_ns, char *buf,
			  size_t len);

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
struct saker_capture_stats;
void saker_canary_loss_read(struct saker_canary_run *r, uint64_t now_ns, bool read_ok,
			    const struct saker_capture_stats *st);

/*
 * Once per drop check: compares the probe's selection table, lane-1 budget
 * and loss map generation with what saker last set, and writes them back
 * when they differ. The first change of an episode raises the Critical
 * alert SAKER_SELECTION_RULE and logs it; /healthz fails and
 * saker_capture_selection_changed is 1 until SAKER_SELECTION_HOLD_NS pass
 * without another. A reload sets the table through the capture, which
 * keeps the copy: no false alarm.
 */
void saker_canary_check_selection(struct saker_app *app, uint64_t now_ns);

/* The loop's timer callback (ctx: the app). */
void saker_canary_tick(void *ctx, uint64_t periods, uint64_t now_ns);

#endif
