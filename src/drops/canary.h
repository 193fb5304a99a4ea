/*
 * The capture canary's verdicts (docs/drops.md, "Capture canary"). A child
 * saker owns makes one marked syscall on request (an openat of a path that
 * cannot exist, carrying a per-run nonce and a sequence number); this module
 * decides, from what the pipeline saw and what the counters say, whether the
 * marker arrived, was lost and counted (loss, which the drop check already
 * reports), or vanished uncounted: capture is blind.
 *
 * Pure: no clock, no I/O. The app feeds it the times, the acknowledgements
 * of the child, the markers the pipeline saw and the counted losses.
 *
 * One marker is outstanding at a time. Its verdict waits until
 *   - the child acknowledged it (the syscall returned, so the probe ran), and
 *   - a drain that started after the acknowledgement left every ring empty
 *     (so a record written before it has been handed on, not merely queued);
 * then: arrived = seen; the canary's own process lost events since the
 * request = lost (counted); no loss of any kind was counted since the request
 * = blind; some loss was counted but none on the canary's process = blind
 * once a per-process loss read after the acknowledgement confirms it, lost
 * when that read could not attribute every loss (a map full, unreadable).
 */
#ifndef SAKER_CANARY_H
#define SAKER_CANARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The marker path: a file below /dev/null, which can never exist (ENOTDIR, no disk lookup). */
#define SAKER_CANARY_PREFIX  "/dev/null/saker-canary-"
#define SAKER_CANARY_MAX_LEN 64

/* A record begun this long before the ack could still be uncommitted in its ring (margin). */
#define SAKER_CANARY_SLACK_NS (5ull * 1000 * 1000)

enum saker_canary_verdict {
	SAKER_CANARY_NONE = 0, /* nothing outstanding, or not decidable yet */
	SAKER_CANARY_SEEN,     /* the marker arrived */
	SAKER_CANARY_LOST,     /* it did not, and a counted loss explains it */
	SAKER_CANARY_BLIND,    /* it did not, and nothing was counted: events vanish */
	SAKER_CANARY_STUCK,    /* the child did not acknowledge within the timeout */
};

struct saker_canary {
	/* the outstanding marker */
	bool outstanding, acked, arrived;
	uint64_t seq;		  /* last sequence number requested (1, 2, ...) */
	uint64_t sent_ns;	  /* monotonic, at the request */
	uint64_t ack_ns;	  /* monotonic, when the child's syscall had returned */
	uint64_t counted_at_send; /* counted losses (every cause) at the request */
	uint64_t own_lost;	  /* the canary process's attributed losses since the request */
	bool attrib_unknown;   /* since the request, a loss read could not attribute everything */
	uint64_t loss_read_ns; /* monotonic, the last per-process loss read */
	/* lifetime, for metrics */
	uint64_t n_sent, n_seen, n_lost, n_blind, n_stuck, n_stray;
	bool blind;		 /* the last verdict was blind, until a marker arrives again */
	uint64_t blind_since_ns; /* monotonic, of the first blind verdict of this episode */
	uint64_t last_seen_ns;	 /* monotonic, when a marker last arrived (0: never) */
};

void saker_canary_init(struct saker_canary *c);

/*
 * A new marker is requested at now_ns; counted: every loss counted so far
 * (saker_stats_drops + program runs the kernel skipped). Returns its
 * sequence number. A marker still outstanding is forgotten (no verdict).
 */
uint64_t saker_canary_send(struct saker_canary *c, uint64_t now_ns, uint64_t counted);
/* The child says marker seq's syscall returned at ack_ns (monotonic). Others are ignored. */
void saker_canary_ack(struct saker_canary *c, uint64_t seq, uint64_t ack_ns);
/* The pipeline saw marker seq. A marker that is not the outstanding one is counted stray. */
void saker_canary_arrived(struct saker_canary *c, uint64_t seq);
/*
 * A per-process loss read at now_ns: own_lost events of the canary's process
 * lost since the previous read; complete: every loss of the read had its
 * process (nothing unattributed, the map readable).
 */
void saker_canary_losses(struct saker_canary *c, uint64_t now_ns, uint64_t own_lost, bool complete);

struct saker_canary_now {
	uint64_t now_ns;       /* monotonic */
	uint64_t counted;      /* as for saker_canary_send, read now */
	uint64_t caught_up_ns; /* monotonic start of the last drain that emptied every ring */
	uint64_t ack_timeout_ns;
};
/*
 * The outstanding marker's verdict, or NONE while it cannot be decided
 * yet. A verdict other than NONE ends the marker.
 */
enum saker_canary_verdict saker_canary_decide(struct saker_canary *c,
					      const struct saker_canary_now *now);

/* The marker path for nonce and seq into buf (SAKER_CANARY_MAX_LEN); snprintf semantics. */
int saker_canary_marker(char *buf, size_t len, uint64_t nonce, uint64_t seq);
/* Whether path is a marker of nonce; its sequence number in *seq. */
bool saker_canary_parse(const char *path, size_t len, uint64_t nonce, uint64_t *seq);

const char *saker_canary_verdict_name(enum saker_canary_verdict v);

#endif
