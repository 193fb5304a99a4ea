/*
 * The capture engine's insides (internal to capture/), shared by its files:
 *   capture.c           the probe's life: open (rings created, the object
 *                       sized, loaded, the rings installed, attached), close
 *   capture_drain.c     draining: records delivered in time order across the
 *                       two lanes, the bulk watermark, the shutdown drain
 *   capture_settings.c  the probe's writable settings: the syscall selection,
 *                       the lane-1 budget, and the check that they still hold
 *   capture_counters.c  counters read back: kernel counters, per-process
 *                       losses, ring occupancy, program statistics
 * Functions one file lends another are named cap_*.
 */
#ifndef SAKER_CAPTURE_INT_H
#define SAKER_CAPTURE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"

struct ring_buffer;
struct saker_bpf;

struct ring {
	struct saker_capture *cap;
	struct ring_buffer *rb;
	int map_fd;
	unsigned lane; /* enum saker_lane */
	unsigned long budget_left;
	int budget_on;
	/*
	 * Events taken from this ring, counted as each record is taken: a lane-1
	 * record is held and handed on later, from within another ring's drain,
	 * so what a drain delivered is not what its ring gave.
	 */
	uint64_t events;
	uint64_t bytes; /* ring bytes consumed, record headers and padding included */
	/*
	 * Occupancy, read in user space from the ring's consumer and producer
	 * pages (mapped read-only here, as libbpf maps them; libbpf 1.1 has no
	 * accessor): the most bytes in use seen before a drain, per window.
	 */
	void *pos_pages;
	size_t pos_len;
	uint64_t hw_cur, hw_last;
	uint64_t win_drains, win_spent; /* drains in this window, of which ended by the budget */
	bool saturated_last;		/* every drain of the last window ended by the budget */
	bool has_window;
	/* bulk: the newest record delivered, or the last time it was found empty (boot ns) */
	uint64_t wm_ts;
};

struct saker_capture {
	struct saker_bpf *skel;
	/* nr_lane rings of lane 0, then as many of lane 1 (the same CPU grouping) */
	struct ring *rings;
	unsigned nr_rings;
	unsigned nr_lane;
	int ncpus;
	unsigned per;		  /* CPUs for each ring */
	uint64_t ring_bytes;	  /* each lane-0 ring */
	uint64_t crit_ring_bytes; /* each lane-1 ring */
	saker_event_fn on_event;
	void *ctx;
	uint64_t delivered;
	uint64_t user_drops;
	uint64_t last_drain_ns; /* CLOCK_MONOTONIC of the last drain that succeeded */
	uint64_t caught_up_ns; /* CLOCK_MONOTONIC start of the last drain that emptied every ring */
	/* lane-1 records taken from their rings, waiting for their place in time (below) */
	struct saker_evt_hdr **held;
	size_t n_held, cap_held, held_bytes;
	uint64_t crit_look_ns; /* boot time of the last look into the lane-1 rings */
	int crit_draining;
	uint64_t bulk_max_ts; /* the newest bulk record delivered from the ring being drained */
	uint64_t watermark;   /* saker_capture_bulk_watermark(), monotonic */
	/* What saker last wrote into the probe's writable .bss (saker_capture_check_settings) */
	uint8_t sc_set[SAKER_SYSCALL_MAX];
	struct saker_lane_budget budget_set;
	uint32_t loss_gen_set;
	struct saker_gen_cut cut; /* each generation's counters as its last cut read them */
	int drain_err;		  /* the last drain's negative errno, 0 when it worked */
	bool drain_done;	  /* the wait of the cut begun last is over (atomic) */
	bool drain_thread;	  /* drain_th waits it, to be joined */
	pthread_t drain_th;
};

/* The ring buffer callback of every ring (its ctx is the struct ring). */
int cap_on_record(void *ctx, void *data, size_t len);

#endif
