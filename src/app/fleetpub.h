/*
 * The fleet's records to NATS (docs/fleet.md): each drop-check window's
 * coverage record on <prefix>.<host>.coverage and its loss ledger line on
 * .ledger, through nats_output (saker_outputs_publish: its queue, spool and
 * exactly-once acks). Nothing when nats_output is off.
 */
#ifndef SAKER_APP_FLEETPUB_H
#define SAKER_APP_FLEETPUB_H

#include <stdint.h>

#include "drops/drops.h"

struct saker_fleetpub {
	char host[256];	 /* as the alerts' hostname: SAKER_HOSTNAME, else gethostname */
	char run_id[17]; /* 64 random bits, hex: this run */
	uint64_t seq;	 /* coverage records made */
	uint64_t ledger_lines;
	uint64_t refused; /* records nats_output did not take (its queue full: counted there too) */
};

/* saker_drops_actions.window; ctx is the app. */
void saker_app_fleet_window(void *ctx, const struct saker_drops_window *w);

#endif
