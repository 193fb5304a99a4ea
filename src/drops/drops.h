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
#include "capture/stats.h"
#include "lib/tbucket.h"
#include "drops/attrib.h"
#include "drops/ledger.h"

struct saker_view;

/* Exit status of the `exit` action (configuration errors exit 1). */
#define SAKER_EXIT_DROPS 3

#define SAKER_DROP_RULE "Saker internal: syscall event drop"

/* Fields of the drop alert (see docs/drops.md): the counters, then who. */
#define SAKER_DROPS_N_COUNTER_FIELDS 18
#define SAKER_DROPS_N_PROC_FIELDS    7 /* top.<i>.pid, comm, exe, uid, produced, lost, demoted */
#define SAKER_DROPS_N_FIELDS                                                                       \
	(SAKER_DROPS_N_COUNTER_FIELDS + 2 + SAKER_ATTRIB_TOP * SAKER_DROPS_N_PROC_FIELDS)
/* Lifecycle events lost in one window from which `resync` also rescans all of /proc. */
#define SAKER_DROPS_RESYNC_FULL_MIN 32

/* The clocks at a check; boot time is the events' clock (CLOCK_BOOTTIME). */
struct saker_drops_now {
	uint64_t mono_ns, real_ns, boot_ns;
};

/* Side effects are callbacks so the manager is tested with fakes. */
struct saker_drops_actions {
	void *ctx;
	void (*log)(void *ctx, enum saker_prio prio, const char *msg);
	void (*alert)(void *ctx, const struct saker_alert *alert);
	/*
	 * The `resync` action: lifecycle events lost in [since, until] (boot
	 * time; until includes the degraded window); full: rescan all of /proc.
	 */
	void (*resync)(void *ctx, uint64_t since_boot_ns, uint64_t until_boot_ns, bool full);
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
	uint64_t n_fired;	  /* checks above threshold */
	uint64_t n_actions_taken; /* fired checks the bucket allowed */
	uint64_t n_suppressed;	  /* fired checks the bucket refused */
	uint64_t n_simulated;	  /* drops added by simulate_drops */
	uint64_t n_resyncs;	  /* resync requests made */
	uint64_t n_ledger_errors; /* ledger lines that could not be written */
	bool simulate_announced;  /* the simulate_drops warning was logged */
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

#endif
