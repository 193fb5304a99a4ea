/* SPDX-License-Identifier: GPL-2.0 */
/* Rings: which one a CPU writes, when to wake the consumer, the one ring write. */
#ifndef SAKER_BPF_RING_H
#define SAKER_BPF_RING_H

#include "maps.h"
#include "counters.h"
#include "attrib.h"

static __always_inline void *ring_for_cpu(__u32 lane, __u32 cpu)
{
	__u32 idx = lane * SAKER_MAX_RINGS_PER_LANE + cpu_ring[cpu & (SAKER_MAX_CPUS - 1)];

	return bpf_map_lookup_elem(&rings, &idx);
}

/*
 * Wake-ups are expensive (an irq_work per record when the consumer keeps up),
 * so records are submitted silently and the consumer drains on a short timer.
 * Every WAKEUP_SAMPLE-th event on a CPU looks at the fill level and wakes the
 * consumer past wakeup_bytes: a helper call per event is too dear here
 * (return-thunk mitigations make each call cost tens of ns).
 */
#define WAKEUP_SAMPLE 64

static __always_inline __u64 submit_flags(void *rb, __u32 lane, __u64 seq)
{
	/* Lane 1 looks every time: its events are few (budgeted) and waiting costs more. */
	if (lane == SAKER_LANE_NORMAL && seq % WAKEUP_SAMPLE)
		return BPF_RB_NO_WAKEUP;
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes[lane & 1]
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/*
 * The one ring write: every record leaves the probe here. A record that does
 * not reach its ring is counted by cause (ring full, no ring), lane and
 * category: one event of category cat, or, for a batch, cat_count[i] events
 * of each category i. size must be bounded by the caller (the verifier checks
 * it against data). A lost single record is attributed to its process here
 * (attrib.h); a lost batch by the caller, which knows its records. 0 when
 * written.
 */
static __always_inline int ring_write(struct saker_kcounters *c, __u32 gen, __u32 lane, __u32 cpu,
				      void *data, __u64 size, __u64 seq, int cat,
				      const __u32 *cat_count)
{
	enum saker_drop_cause cause = SAKER_CAUSE_NO_RING;
	void *rb;

	if (lane >= SAKER_LANE_MAX)
		lane = SAKER_LANE_NORMAL;
	rb = ring_for_cpu(lane, cpu);
	if (rb) {
		if (!bpf_ringbuf_output(rb, data, size, submit_flags(rb, lane, seq)))
			return 0;
		cause = SAKER_CAUSE_RING_FULL;
	}
	if (!cat_count) {
		if (cat < 0 || cat >= SAKER_CAT_MAX)
			cat = SAKER_CAT_OTHER;
		count(c, SAKER_CNT_DROP_RING(cause, lane, cat));
		attrib_add(c, gen, ((const struct saker_evt_hdr *)data)->tgid, 1, 0);
		return -1;
	}
	for (int i = 0; i < SAKER_CAT_MAX; i++)
		if (cat_count[i])
			count_n(c, SAKER_CNT_DROP_RING(cause, lane, i), cat_count[i]);
	return -1;
}

#endif
