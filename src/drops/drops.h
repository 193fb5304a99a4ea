/*
 * Drop manager (the seed's feature). Called once a second from a monotonic
 * timer, whether or not events arrive. It takes counter deltas; when drops
 * exceed the threshold it claims a token and, if granted, performs every
 * configured action in list order with `exit` last. Occurrences refused by
 * the bucket are counted and reported by the next permitted alert.
 */
#ifndef SAKER_DROPS_H
#define SAKER_DROPS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/alert.h"
#include "lib/report.h"
#include "capture/stats.h"
#include "lib/tbucket.h"
#include "drops/attrib.h"
#include "drops/ledger.h"
#include "drops/loss.h"

struct saker_view;

/* Exit status of the `exit` action (configuration errors exit 1). */
#define SAKER_EXIT_DROPS 3

#define SAKER_DROP_RULE "Saker internal: syscall event drop"

/* Fields of the drop alert (see docs/drops.md): the counters, then who. */
#define SAKER_DROPS_N_COUNTER_FIELDS (8 + SAKER_LOSS_N_FIELDS + SAKER_CAT_MAX)
/* top.<i>.pid, comm, exe, uid, produced, lost, demoted, container.id, container.name,
 * k8s.pod.name, k8s.ns.name */
#define SAKER_DROPS_N_PROC_FIELDS 11
/* top_containers.<i>.id, name, k8s.pod.name, k8s.ns.name, processes, lost, demoted */
#define SAKER_DROPS_N_CTR_FIELDS 7
/* Two more when the rings' occupancy is known (ring_high_water_bytes, ring_size_bytes). */
#define SAKER_DROPS_N_RING_FIELDS 2
/* top.attribution, top.processes, top.lost_sum */
#define SAKER_DROPS_N_TOP_FIELDS 3
#define SAKER_DROPS_N_FIELDS                                                                       \
	(SAKER_DROPS_N_COUNTER_FIELDS + SAKER_DROPS_N_TOP_FIELDS +                                 \
	 SAKER_ATTRIB_TOP * (SAKER_DROPS_N_PROC_FIELDS + SAKER_DROPS_N_CTR_FIELDS))
#define SAKER_DROPS_MAX_FIELDS (SAKER_DROPS_N_FIELDS + SAKER_DROPS_N_RING_FIELDS)
/* Lifecycle events lost in one window from which `resync` also rescans all of /proc. */
#define SAKER_DROPS_RESYNC_FULL_MIN 32
/* Seconds between two demotion warnings (the first is logged at once). */
#define SAKER_DROPS_DEMOTE_NOTICE_S 10

/*
 * The rings' occupancy over the window the next check covers (from the
 * capture's high-water marks; docs/metrics.md), the bulk lane's and the
 * protected lane's apart: each has its own size (buf_size_preset or
 * buf_size; protected_lane.buf_size). Given, the drop alert carries the bulk
 * rings' ring_high_water_bytes and ring_size_bytes, and the log line of a
 * window with ring-full drops in a lane says which size of that lane would
 * have held the window's peak demand, or that none would.
 */
struct saker_drops_lane_rings {
	bool known;
	uint64_t size_bytes;	    /* of each ring of the lane */
	uint64_t high_water_bytes;  /* the fullest ring's high-water mark */
	uint64_t peak_demand_bytes; /* max over rings: high water (at least the size when it
				       dropped) + what its dropped events would have taken */
	bool saturated;		    /* a ring that dropped was never emptied by the consumer */
};
struct saker_drops_rings {
	/* the bulk lane (lane 0), flat as it always was */
	bool known;
	uint64_t size_bytes;
	uint64_t high_water_bytes;
	uint64_t peak_demand_bytes;
	bool saturated;
	struct saker_drops_lane_rings critical; /* the protected lane (lane 1) */
};
/*
 * The clocks at a check; boot time is the events' clock (CLOCK_BOOTTIME).
 * window_s: the seconds the check covers when it ran late (the timer's
 * elapsed periods); 0 or 1 is Falco's one-second window.
 */
struct saker_drops_now {
	uint64_t mono_ns, real_ns, boot_ns;
	uint64_t window_s;
};

/* One closed window, as saker_drops_actions.window receives it. */
struct saker_drops_window {
	const struct saker_ledger_record *rec;
	const struct saker_drops_rings *rings; /* known false: no occupancy read */
	const struct saker_capture_stats *cur; /* the counters at its end (run totals) */
	uint64_t window_s;		       /* the timer's elapsed periods (0 or 1: one) */
	uint64_t simulated_total;	       /* drops simulate_drops added in the run */
	bool ledger_line;		       /* the ledger has a line for it */
	bool final;			       /* the last, partial one, at shutdown */
};

/* Side effects are callbacks so the manager is tested with fakes. */
struct saker_drops_actions {
	void *ctx; /* for alert and resync */
	saker_report_fn log;
	void *log_ctx;
	void (*alert)(void *ctx, const struct saker_alert *alert);
	/*
	 * The `resync` action: lifecycle events lost in [since, until] (boot
	 * time; until includes the degraded window); full: rescan all of /proc.
	 */
	void (*resync)(void *ctx, uint64_t since_boot_ns, uint64_t until_boot_ns, bool full);
	/*
	 * Every window, quiet or not, once the check is done: the window as
	 * the ledger sees it (a quiet one has kind SAKER_LEDGER_LOSS and no
	 * loss), the rings' occupancy the check used, and whether the window
	 * has a ledger line (lossy, or the end of an episode), written or not
	 * (the coverage record and the ledger lines to NATS; docs/fleet.md).
	 */
	void (*window)(void *ctx, const struct saker_drops_window *w);
};

struct saker_drops {
	struct saker_drops_config cfg;
	struct saker_tbucket bucket;
	struct saker_capture_stats prev;
	/* since the last permitted action */
	uint64_t suppressed_checks;
	uint64_t suppressed_drops;
	/* lifetime, for the shutdown summary */
	uint64_t n_checks;
	uint64_t n_fired;				 /* checks above threshold */
	uint64_t n_actions_taken;			 /* fired checks the bucket allowed */
	uint64_t n_suppressed;				 /* fired checks the bucket refused */
	uint64_t n_simulated;				 /* drops added by simulate_drops */
	uint64_t n_action_runs[SAKER_DROP_ACT_EXIT + 1]; /* by action, each counted once a check */
	/* the last check's window (simulated drops included), for the drop-ratio gauge */
	uint64_t last_evts;
	uint64_t last_drops;
	struct saker_drops_rings rings; /* for the next check only (saker_drops_set_rings) */
	uint64_t n_resyncs;		/* resync requests made */
	uint64_t n_ledger_errors;	/* ledger lines that could not be written */
	uint64_t ledger_unreported;	/* of them, not yet logged */
	int ledger_errno;		/* the last one's reason */
	uint64_t ledger_notice_mono_ns; /* the last report (0: none yet) */
	bool simulate_announced;	/* the simulate_drops warning was logged */
	/* optional parts (NULL = without): who, where it is recorded, whose view degrades */
	struct saker_attrib *attrib;
	struct saker_ledger *ledger;
	struct saker_view *view;
	/* the window starts at the previous check (boot and wall 0 until the first one) */
	uint64_t prev_mono_ns, prev_boot_ns, prev_real_ns;
	/* the lossy windows since the last loss-free one, for the ledger's end line */
	bool episode;
	struct saker_ledger_window episode_win;
	uint64_t episode_windows, episode_seen, episode_lost;
	/* demotions not yet reported (saker_drops' demotion notice), and the last notice */
	uint64_t demoted_pending, demote_notice_mono_ns, n_demote_notices;
	struct saker_attrib_proc demote_top;
	/* " container <id> (<name>)" of demote_top, from the view when it became the top */
	char demote_ctr[96];
};

enum saker_drops_result {
	SAKER_DROPS_OK = 0,
	SAKER_DROPS_EXIT, /* the exit action ran: main logs "Exiting." and exits SAKER_EXIT_DROPS */
};

void saker_drops_init(struct saker_drops *d, const struct saker_drops_config *cfg,
		      const struct saker_capture_stats *now_stats, uint64_t now_mono_ns);
/* SIGHUP: new settings, counters and previous sample kept. */
void saker_drops_reconfigure(struct saker_drops *d, const struct saker_drops_config *cfg,
			     uint64_t now_mono_ns);
/*
 * Optional parts, any NULL: attribution (the top processes each check names,
 * its window closed by each check), the ledger, and the view whose
 * processes a loss marks degraded. The drops manager owns none of them.
 */
void saker_drops_set_parts(struct saker_drops *d, struct saker_attrib *attrib,
			   struct saker_ledger *ledger, struct saker_view *view);
/* One check; the window runs from the previous check (or init) to now. */
enum saker_drops_result saker_drops_check_at(struct saker_drops *d,
					     const struct saker_capture_stats *cur,
					     const struct saker_drops_now *now,
					     const struct saker_drops_actions *act);
/* The same with boot time taken as monotonic time (no suspend). */
enum saker_drops_result saker_drops_check(struct saker_drops *d,
					  const struct saker_capture_stats *cur,
					  uint64_t now_mono_ns, uint64_t now_real_ns,
					  const struct saker_drops_actions *act);

/*
 * At shutdown, after the last records and the probe's last per-process
 * counts are in: the demotions not yet reported (held back by the notice's
 * period, or of the last partial window) and the ledger's write failures
 * held back, with their reason, are logged now, once.
 */
void saker_drops_finish(struct saker_drops *d, const struct saker_drops_now *now,
			const struct saker_drops_actions *act);

/*
 * At shutdown, after the rings were drained, before saker_drops_finish: the
 * last, partial window since the previous check, with the final counters,
 * to act->window only (final true): no action runs and the ledger gets no
 * line for it, but the windows' sums then equal the run's totals.
 */
void saker_drops_finish_window(struct saker_drops *d, const struct saker_capture_stats *cur,
			       const struct saker_drops_now *now,
			       const struct saker_drops_actions *act);

/* The occupancy of the window the next saker_drops_check covers; used by that check only. */
void saker_drops_set_rings(struct saker_drops *d, const struct saker_drops_rings *rings);
/*
 * The sizing advice for the bulk lane's ring-full drops ("buf_size_preset 6
 * (32 MiB) would have held ..."), never a size the rings already have, or
 * "" when there is none to give. snprintf semantics.
 */
int saker_drops_advice(const struct saker_drops_rings *r, char *buf, size_t len);
/* The same for the protected lane's ("protected_lane.buf_size 1048576 would have held ..."). */
int saker_drops_advice_critical(const struct saker_drops_rings *r, char *buf, size_t len);

/*
 * The same over a window of window_s seconds (the timer's elapsed periods
 * when the check ran late): the message says "in last N seconds" then.
 */
enum saker_drops_result saker_drops_check_window(struct saker_drops *d,
						 const struct saker_capture_stats *cur,
						 uint64_t window_s, uint64_t now_mono_ns,
						 uint64_t now_real_ns,
						 const struct saker_drops_actions *act);

#endif
