/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-CPU staging of generic records (struct saker_stage): records without a
 * parameter row are appended to their CPU's stage and sent as one batch.
 *
 * Preemption (guard.h): only a holder of the stage's mark touches len, count,
 * cat_count and buf. The appender holds it for the append (and the flush a
 * full or old stage needs), a flush before another record holds it for the
 * flush, and so does the sched_switch flush. So:
 *  - a task that preempts an appender and finds the mark set counts its own
 *    generic record in n_drops_scratch_map, and leaves the stage alone;
 *  - the sched_switch that switches a preempted appender out finds the mark
 *    set and does not flush: the half-appended stage stays as it is, the
 *    appender finishes it when it runs again, and the next syscall or
 *    switch on this CPU sends it;
 *  - a record with parameters whose flush finds the mark set goes out
 *    without it: across a preemption the per-CPU order of staged and other
 *    records is not kept, nothing is lost.
 * clock_ts is a hint, not state, written without the mark (an aligned 64-bit
 * store is never torn): without preemption it never goes backwards; across a
 * preemption it can step back by the time the preempted appender waited.
 */
#ifndef SAKER_BPF_STAGE_H
#define SAKER_BPF_STAGE_H

#include "maps.h"
#include "counters.h"
#include "guard.h"
#include "ring.h"

/* Generic records have a fixed size; staged at 8-byte strides (GENERIC_STRIDE). */
struct generic_evt {
	struct saker_evt_hdr h;
	struct {
		struct saker_param_hdr p;
		__u64 v;
	} __attribute__((packed)) arg[3];
} __attribute__((packed));
#define GENERIC_STRIDE ((sizeof(struct generic_evt) + 7) & ~7u)
#define CLOCK_EVERY    8

/* Attribution of a lost batch (attrib.h): one add per run of records of one process. */
struct batch_walk {
	struct saker_stage *st;
	struct saker_kcounters *c;
	__u32 gen;
	__u32 tgid;
	__u32 run;
};

static long batch_step(__u32 i, void *ctx)
{
	struct batch_walk *w = ctx;
	__u32 off = (sizeof(struct saker_evt_hdr) + i * GENERIC_STRIDE) & (SAKER_STAGE_BYTES - 1);
	__u32 tgid = ((struct saker_evt_hdr *)(w->st->buf + off))->tgid;

	if (w->run && tgid != w->tgid) {
		attrib_add(w->c, w->gen, w->tgid, w->run, 0);
		w->run = 0;
	}
	w->tgid = tgid;
	w->run++;
	return 0;
}

static __always_inline void stage_attrib_lost(struct saker_stage *st, struct saker_kcounters *c,
					      __u32 gen)
{
	struct batch_walk w = {.st = st, .c = c, .gen = gen};
	__u32 n = st->count;

	if (n > SAKER_STAGE_BYTES / GENERIC_STRIDE)
		n = SAKER_STAGE_BYTES / GENERIC_STRIDE;
	bpf_loop(n, batch_step, &w, 0);
	if (w.run)
		attrib_add(c, gen, w.tgid, w.run, 0);
}

/*
 * Sends this CPU's staged generic records as one batch; the caller holds the
 * stage's mark. If the ring is full every staged record is lost and counted
 * in its own category.
 */
static __always_inline void stage_flush(struct saker_stage *st, struct saker_kcounters *c,
					__u32 gen, __u32 cpu)
{
	struct saker_evt_hdr *h = (void *)st->buf;
	__u32 len = st->len;

	if (!len)
		return;
	h->ts_ns = st->first_ts;
	h->tid = 0;
	h->tgid = 0;
	h->ret = st->count;
	h->type = SAKER_EVT_BATCH;
	h->syscall_id = SAKER_SYSCALL_NONE;
	h->len = (__u16)len;
	h->cpu = (__u16)cpu;
	if (ring_write(c, gen, SAKER_LANE_NORMAL, cpu, st->buf, len & (2 * SAKER_STAGE_BYTES - 1),
		       0, 0, st->cat_count))
		stage_attrib_lost(st, c, gen);
	st->len = 0;
	st->count = 0;
	for (int i = 0; i < SAKER_CAT_MAX; i++)
		st->cat_count[i] = 0;
}

/*
 * Keeps a CPU's records in order: staged ones go out before any other, and
 * the cached clock moves up to this record's time, so a later generic record
 * never carries an earlier timestamp.
 */
static __always_inline void stage_flush_cpu(struct saker_kcounters *c, __u32 gen, __u32 cpu,
					    __u64 ts)
{
	struct saker_stage *st = bpf_map_lookup_elem(&stage_map, &cpu);

	if (!st)
		return;
	if (ts > st->clock_ts)
		st->clock_ts = ts;
	/* Empty (the common case with parameters): no mark to take. */
	if (!st->len || !area_take(&st->busy))
		return;
	stage_flush(st, c, gen, cpu);
	area_release(&st->busy);
}

/* The sched_switch flush: leaves a stage some preempted task is writing alone. */
static __always_inline void stage_flush_switch(__u32 cpu)
{
	struct saker_stage *st = bpf_map_lookup_elem(&stage_map, &cpu);
	struct saker_kcounters *c;
	__u32 gen;

	if (!st || !st->len || !area_take(&st->busy))
		return;
	c = counters_get(&gen);
	if (c)
		stage_flush(st, c, gen, cpu);
	area_release(&st->busy);
}

/* Appends one generic record (already counted as seen) to this CPU's stage; 0 <= cat < MAX. */
static __always_inline void stage_append(struct saker_kcounters *c, __u32 gen, __u64 pid_tgid,
					 long id, long ret, const __u64 *a, int cat)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct saker_stage *st = bpf_map_lookup_elem(&stage_map, &cpu);
	struct generic_evt *g;
	__u64 ts, j;
	__u32 off;

	if (!st || !area_take(&st->busy)) {
		count(c, SAKER_CNT_DROPS_SCRATCH_MAP);
		attrib_add(c, gen, (__u32)(pid_tgid >> 32), 1, 0);
		return;
	}
	/*
	 * The precise clock costs ~70 ns here; generic records reuse this CPU's
	 * last reading while the jiffy has not changed, re-reading it every
	 * CLOCK_EVERY records: a timestamp is then at most one tick and
	 * CLOCK_EVERY records old. Records with parameters always read it.
	 */
	j = bpf_jiffies64();
	ts = st->clock_ts;
	if (j != st->clock_jiffies || !(st->count % CLOCK_EVERY)) {
		ts = bpf_ktime_get_boot_ns();
		st->clock_ts = ts;
		st->clock_jiffies = j;
	}
	if (st->len && (st->len + GENERIC_STRIDE > SAKER_STAGE_BYTES ||
			ts - st->first_ts > SAKER_STAGE_MAX_AGE_NS))
		stage_flush(st, c, gen, cpu);
	if (!st->len) {
		st->len = sizeof(struct saker_evt_hdr);
		st->first_ts = ts;
	}
	off = st->len & (SAKER_STAGE_BYTES - 1);
	g = (void *)(st->buf + off);
	g->h.ts_ns = ts;
	g->h.tid = (__u32)pid_tgid;
	g->h.tgid = (__u32)(pid_tgid >> 32);
	g->h.ret = ret;
	g->h.type = SAKER_EVT_SYSCALL;
	g->h.syscall_id = (__u16)id;
	g->h.len = sizeof(*g);
	g->h.cpu = (__u16)cpu;
	for (int i = 0; i < 3; i++) {
		g->arg[i].p.len = 8;
		g->arg[i].p.kind = SAKER_PK_U64;
		g->arg[i].p.name = (__u8)(SAKER_PN_ARG0 + i);
		g->arg[i].v = a[i];
	}
	st->len = off + GENERIC_STRIDE;
	st->count++;
	st->cat_count[cat]++;
	area_release(&st->busy);
}

#endif
