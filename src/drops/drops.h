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

/* Exit status of the `exit` action (configuration errors exit 1). */
#define SAKER_EXIT_DROPS 3

#define SAKER_DROP_RULE "Saker internal: syscall event drop"

/* Fields of the drop alert (see docs/drops.md). */
#define SAKER_DROPS_N_FIELDS 20

/* Side effects are callbacks so the manager is tested with fakes. */
struct saker_drops_actions {
	void *ctx;
	void (*log)(void *ctx, enum saker_prio prio, const char *msg);
	void (*alert)(void *ctx, const struct saker_alert *alert);
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
	bool simulate_announced;  /* the simulate_drops warning was logged */
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
enum saker_drops_result saker_drops_check(struct saker_drops *d,
					  const struct saker_capture_stats *cur,
					  uint64_t now_mono_ns, uint64_t now_real_ns,
					  const struct saker_drops_actions *act);

#endif
