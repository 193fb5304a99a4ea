#include "observe/ringwin.h"

#include <errno.h>
#include <stdlib.h>

/* Bytes per event when a window consumed nothing to measure it by (header + padding). */
#define FALLBACK_EVENT_BYTES 48

struct ring_prev {
	uint64_t events, bytes, drops;
};

struct saker_ringwin {
	struct ring_prev *prev;
	size_t n_prev;
	struct saker_kcounters *percpu;
	unsigned *cpu_ring;
	int n_cpus;
};

int saker_ringwin_new(struct saker_ringwin **out)
{
	struct saker_ringwin *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->percpu = calloc(SAKER_MAX_CPUS, sizeof(*w->percpu));
	w->cpu_ring = calloc(SAKER_MAX_CPUS, sizeof(*w->cpu_ring));
	if (!w->percpu || !w->cpu_ring) {
		saker_ringwin_free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void saker_ringwin_free(struct saker_ringwin *w)
{
	if (!w)
		return;
	free(w->prev);
	free(w->percpu);
	free(w->cpu_ring);
	free(w);
}

/* The lanes' rings are in order: the bulk rings, then as many lane-1 ones. */
static unsigned bulk_rings(const struct saker_capture *cap, unsigned n_rings)
{
	unsigned n = 0;

	for (unsigned r = 0; r < n_rings; r++) {
		struct saker_capture_ring_stats rs;

		if (!saker_capture_ring_stats(cap, r, &rs) && rs.lane == SAKER_LANE_NORMAL)
			n++;
	}
	return n;
}

/* The ring-full losses, now, of the CPUs writing to ring in_lane of lane. */
static uint64_t ring_drops(const struct saker_ringwin *w, unsigned lane, unsigned in_lane)
{
	uint64_t n = 0;

	for (int cpu = 0; cpu < w->n_cpus; cpu++) {
		if (w->cpu_ring[cpu] != in_lane)
			continue;
		for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
			n +=
			    w->percpu[cpu].c[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, lane, cat)];
	}
	return n;
}

/*
 * Folds one ring's window into its lane. Each lane is advised on its own
 * size: buf_size_preset (or buf_size) for the bulk rings,
 * protected_lane.buf_size for lane 1; each counts its own ring-full losses.
 */
static void fold_ring(struct saker_drops_lane_rings *lr, struct ring_prev *p,
		      const struct saker_capture_ring_stats *rs, uint64_t drops_now)
{
	uint64_t d_drops = drops_now - p->drops, d_events = rs->events - p->events;
	uint64_t d_bytes = rs->bytes - p->bytes, per_event, demand;

	p->drops = drops_now;
	p->events = rs->events;
	p->bytes = rs->bytes;
	if (!rs->has_high_water)
		return;
	lr->known = true;
	lr->size_bytes = rs->size_bytes;
	if (rs->high_water_bytes > lr->high_water_bytes)
		lr->high_water_bytes = rs->high_water_bytes;
	/*
	 * What the window would have needed: a ring that dropped was full at
	 * that moment whatever the sampled mark says, plus the bytes its lost
	 * events would have taken at this window's bytes per event.
	 */
	per_event = d_events	 ? (d_bytes + d_events - 1) / d_events
		    : rs->events ? (rs->bytes + rs->events - 1) / rs->events
				 : FALLBACK_EVENT_BYTES;
	demand = rs->high_water_bytes;
	if (d_drops) {
		if (demand < rs->size_bytes)
			demand = rs->size_bytes;
		demand += d_drops * per_event;
		if (rs->saturated)
			lr->saturated = true;
	}
	if (demand > lr->peak_demand_bytes)
		lr->peak_demand_bytes = demand;
}

void saker_ringwin_close(struct saker_ringwin *w, struct saker_capture *cap,
			 struct saker_drops *drops)
{
	struct saker_drops_rings rings = {.known = false};
	struct saker_drops_lane_rings bulk = {.known = false};
	unsigned n_rings = saker_capture_nr_rings(cap), nr_lane;

	if (!w)
		return;
	saker_capture_ring_window(cap);
	if (w->n_prev != n_rings) {
		free(w->prev);
		w->prev = calloc(n_rings, sizeof(*w->prev));
		w->n_prev = w->prev ? n_rings : 0;
		if (!w->prev)
			return;
	}
	w->n_cpus = saker_capture_cpu_stats(cap, w->percpu, w->cpu_ring, SAKER_MAX_CPUS);
	if (w->n_cpus < 0)
		return;
	nr_lane = bulk_rings(cap, n_rings);
	for (unsigned r = 0; r < n_rings; r++) {
		struct saker_capture_ring_stats rs;
		bool is_bulk;

		if (saker_capture_ring_stats(cap, r, &rs) || rs.lane >= SAKER_LANE_MAX)
			continue;
		is_bulk = rs.lane == SAKER_LANE_NORMAL;
		fold_ring(is_bulk ? &bulk : &rings.critical, &w->prev[r], &rs,
			  ring_drops(w, rs.lane, is_bulk ? r : r - nr_lane));
	}
	rings.known = bulk.known;
	rings.size_bytes = bulk.size_bytes;
	rings.high_water_bytes = bulk.high_water_bytes;
	rings.peak_demand_bytes = bulk.peak_demand_bytes;
	rings.saturated = bulk.saturated;
	saker_drops_set_rings(drops, &rings);
}
