/*
 * Names the processes behind a drop-check window's losses, from the probe's
 * per-process loss counts (saker_capture_read_proc_losses): one log line for
 * the process that lost most, one for the process demoted most from the
 * protected lane. Interim: the drop alert and the loss ledger name the top
 * processes once the kernel counts feed drops/attrib (saker_attrib_add_lost
 * and _add_demoted take exactly what this reads).
 */
#ifndef SAKER_LOSSLOG_H
#define SAKER_LOSSLOG_H

#include <stdint.h>

#include "capture/capture.h"
#include "lib/log.h"

struct saker_losslog_top {
	uint32_t pid;
	uint64_t start_ns;
	struct saker_proc_loss loss;
};

struct saker_losslog_window {
	struct saker_losslog_top lost, demoted; /* pid 0: none */
	uint64_t procs, lost_total, demoted_total;
};

/* Reads (and resets) the probe's counts into w; 0 or a negative errno. */
int saker_losslog_read(struct saker_capture *cap, struct saker_losslog_window *w);
/* Once per drop check: reads, and logs the top processes if any lost or was demoted. */
void saker_losslog_check(struct saker_capture *cap, const struct saker_log *log);

#endif
