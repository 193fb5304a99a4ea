#include "capture/capture_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/clock.h"
#include "saker_syscalls.h" /* types of the skeleton's saker_specs */
#include "saker.skel.h"

/* Returned by the ring callback to stop a drain once its budget is spent. */
#define DRAIN_BUDGET_SPENT (-ECANCELED)
/*
 * Bulk rings are drained in slices of this many events, lane 1 fully before
 * each: a critical record waits for at most one slice of bulk work.
 */
#define DRAIN_SLICE 4096
/* Bulk draining stops after this long per drain call, so the loop's timers run on time. */
#define DRAIN_TIME_NS 50000000ull
/* Lane 1 is drained until empty; this only bounds a drain against a runaway producer. */
#define DRAIN_CRITICAL_MAX (1ul << 20)

static long drain_critical(struct saker_capture *cap);

static void deliver(struct saker_capture *cap, const struct saker_evt_hdr *e)
{
	if (cap->on_event && cap->on_event(cap->ctx, e, e->len) < 0)
		cap->user_drops++;
	else
		cap->delivered++;
}

/*
 * Order across lanes. Lane 1 is drained first and fully, but its records are
 * handed on in time order with the bulk lane's: a process's exit must not be
 * applied before the opens it made just before (they would find no
 * process), nor its exec before its last pre-exec records. So lane-1
 * records are taken out of their rings at once (they are never lost to a
 * full ring) and held, sorted by time, until a bulk record at least as new
 * is delivered, until every bulk ring has been drained empty, or until they
 * are HOLD_MAX_NS old (when the bulk lane lags under a flood, critical
 * records do not wait for it). Bounded: past HOLD_MAX_BYTES the oldest go
 * at once.
 */
#define HOLD_MAX_NS    50000000ull
#define HOLD_MAX_BYTES (4u << 20)

static void release_held(struct saker_capture *cap, size_t n)
{
	if (n > cap->n_held)
		n = cap->n_held;
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		cap->held_bytes -= cap->held[i]->len;
		deliver(cap, cap->held[i]);
		free(cap->held[i]);
	}
	memmove(cap->held, cap->held + n, (cap->n_held - n) * sizeof(*cap->held));
	cap->n_held -= n;
}

/* Held records not newer than ts go first. */
static inline void release_until(struct saker_capture *cap, uint64_t ts)
{
	size_t n = 0;

	while (n < cap->n_held && cap->held[n]->ts_ns <= ts)
		n++;
	if (n)
		release_held(cap, n);
}

static void release_older(struct saker_capture *cap, uint64_t age_ns)
{
	struct timespec now;
	uint64_t t;

	if (!cap->n_held || clock_gettime(CLOCK_BOOTTIME, &now))
		return;
	t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	release_until(cap, t > age_ns ? t - age_ns : 0);
}

static void hold(struct saker_capture *cap, const struct saker_evt_hdr *e)
{
	struct saker_evt_hdr *copy;
	size_t i;

	if (cap->n_held == cap->cap_held) {
		size_t n = cap->cap_held ? 2 * cap->cap_held : 256;
		void *p = realloc(cap->held, n * sizeof(*cap->held));

		if (!p) {
			deliver(cap, e); /* no room to wait: in order or not, never lost */
			return;
		}
		cap->held = p;
		cap->cap_held = n;
	}
	copy = malloc(e->len);
	if (!copy) {
		deliver(cap, e);
		return;
	}
	memcpy(copy, e, e->len);
	/* Sorted by time; records mostly arrive in order, so this scans little. */
	for (i = cap->n_held; i > 0 && cap->held[i - 1]->ts_ns > e->ts_ns; i--)
		;
	memmove(cap->held + i + 1, cap->held + i, (cap->n_held - i) * sizeof(*cap->held));
	cap->held[i] = copy;
	cap->n_held++;
	cap->held_bytes += e->len;
	while (cap->held_bytes > HOLD_MAX_BYTES && cap->n_held > 1)
		release_held(cap, 1);
}

/*
 * A bulk record: the held records before it go first. A bulk record newer
 * than our last look into lane 1 may have lane-1 records before it that were
 * written while we drained the bulk ring: look again first. Catching up on
 * a backlog (old records) costs nothing; when we keep up, a look is an
 * empty ring check.
 */
static inline void deliver_bulk(struct saker_capture *cap, const struct saker_evt_hdr *e)
{
	if (e->ts_ns > cap->crit_look_ns && !cap->crit_draining)
		(void)drain_critical(cap);
	if (cap->n_held && cap->held[0]->ts_ns <= e->ts_ns)
		release_until(cap, e->ts_ns);
	if (e->ts_ns > cap->bulk_max_ts)
		cap->bulk_max_ts = e->ts_ns;
	deliver(cap, e);
}

/*
 * Unpacks a batch of generic records (8-byte strides). Records that cannot be
 * parsed are lost in user space: counted, so the accounting stays exact.
 */
static void deliver_batch(struct saker_capture *cap, const uint8_t *p, size_t len, uint64_t count)
{
	size_t off = 0;
	uint64_t n = 0;

	while (n < count && off + sizeof(struct saker_evt_hdr) <= len) {
		const struct saker_evt_hdr *e = (const void *)(p + off);

		if (e->len < sizeof(*e) || e->len > len - off || e->type == SAKER_EVT_BATCH)
			break;
		deliver_bulk(cap, e);
		n++;
		off += ((size_t)e->len + 7) & ~(size_t)7;
	}
	cap->user_drops += count - n;
}

int cap_on_record(void *ctx, void *data, size_t len)
{
	struct ring *r = ctx;
	struct saker_capture *cap = r->cap;
	const struct saker_evt_hdr *e = data;
	uint64_t n = 1; /* the events the record carries (a batch: its count) */

	/* The kernel's record header (8 bytes) and the 8-byte rounding take ring space too. */
	r->bytes += (len + 8 + 7) & ~(size_t)7;
	if (len >= sizeof(*e) && e->len <= len && e->len >= sizeof(*e) &&
	    e->type == SAKER_EVT_BATCH)
		n = e->ret > 0 ? (uint64_t)e->ret : 0;
	r->events += n;

	/* A record the probe could not have written is lost in user space, not ignored. */
	if (len < sizeof(*e) || e->len > len || e->len < sizeof(*e)) {
		cap->user_drops++;
	} else if (e->type == SAKER_EVT_BATCH) {
		deliver_batch(cap, (const uint8_t *)data + sizeof(*e), e->len - sizeof(*e),
			      e->ret > 0 ? (uint64_t)e->ret : 0);
	} else if (r->lane == SAKER_LANE_CRITICAL) {
		hold(cap, e);
	} else {
		deliver_bulk(cap, e);
	}
	/* The budget bounds the work per drain, so a batch costs the events it carries. */
	if (r->budget_on) {
		if (!n)
			n = 1;
		if (n >= r->budget_left) {
			r->budget_left = 0;
			return DRAIN_BUDGET_SPENT;
		}
		r->budget_left -= n;
	}
	return 0;
}

/*
 * Consumes up to budget events of ring r (0 = until empty); the events taken
 * from r (not what was delivered meanwhile: held lane-1 records go out
 * during bulk drains) or a negative errno.
 */
static long drain_ring(struct ring *r, unsigned long budget)
{
	struct saker_capture *cap = r->cap;
	uint64_t before = r->events, look = 0;
	struct timespec now;
	int n;

	/* Read before looking: a bulk ring found empty holds nothing written before it. */
	if (r->lane == SAKER_LANE_NORMAL) {
		if (!clock_gettime(CLOCK_BOOTTIME, &now))
			look = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
		cap->bulk_max_ts = r->wm_ts;
	}

	if (r->pos_pages) {
		const uint64_t *cons = r->pos_pages;
		const uint64_t *prod =
		    (const uint64_t *)((const char *)r->pos_pages + r->pos_len / 2);
		/* Consumer first: the producer only moves ahead, so used is never negative. */
		uint64_t c = __atomic_load_n(cons, __ATOMIC_ACQUIRE);
		uint64_t p = __atomic_load_n(prod, __ATOMIC_ACQUIRE);

		if (p > c && p - c > r->hw_cur)
			r->hw_cur = p - c;
	}
	r->budget_on = budget != 0;
	r->budget_left = budget;
	n = ring_buffer__consume(r->rb);
	if (n < 0 && n != DRAIN_BUDGET_SPENT)
		return n;
	if (r->lane == SAKER_LANE_NORMAL) {
		r->wm_ts = cap->bulk_max_ts;
		if (n != DRAIN_BUDGET_SPENT && look > r->wm_ts)
			r->wm_ts = look;
	}
	r->win_drains++;
	if (n == DRAIN_BUDGET_SPENT)
		r->win_spent++;
	return (long)(r->events - before);
}

/* Every lane-1 ring, until empty. */
static long drain_critical(struct saker_capture *cap)
{
	struct timespec now;
	long total = 0;

	/* Read before looking: whatever was written before this time is seen now. */
	if (!clock_gettime(CLOCK_BOOTTIME, &now))
		cap->crit_look_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	cap->crit_draining = 1;
	for (unsigned i = cap->nr_lane; i < cap->nr_rings; i++) {
		long n = drain_ring(&cap->rings[i], DRAIN_CRITICAL_MAX);

		if (n < 0) {
			cap->crit_draining = 0;
			return n;
		}
		total += n;
	}
	cap->crit_draining = 0;
	return total;
}

long saker_capture_drain(struct saker_capture *cap, unsigned long budget)
{
	uint64_t before = cap->delivered + cap->user_drops;
	const uint64_t start = saker_clock_ns(CLOCK_MONOTONIC);
	uint64_t deadline = budget ? start + DRAIN_TIME_NS : UINT64_MAX;
	bool all_empty = true;
	long n;

	/*
	 * Lane 1 first and fully, then each bulk ring under the budget (and
	 * DRAIN_TIME_NS for the whole call), in slices with lane 1 drained
	 * again before each. What the budget leaves
	 * in a bulk ring waits; if the ring fills meanwhile the probe sheds
	 * new bulk records (counted as ring full). Lane 1 is never left behind.
	 */
	for (unsigned i = 0; i < cap->nr_lane; i++) {
		unsigned long left = budget, slice;

		do {
			slice = budget && left < DRAIN_SLICE ? left : DRAIN_SLICE;

			n = drain_critical(cap);
			if (n < 0)
				return n;
			n = drain_ring(&cap->rings[i], slice);
			if (n < 0)
				return n;
			if (budget)
				left = (unsigned long)n >= left ? 0 : left - (unsigned long)n;
		} while ((unsigned long)n >= slice &&
			 (!budget || (left && saker_clock_ns(CLOCK_MONOTONIC) < deadline)));
		/* A slice not filled: the ring was empty when we looked. */
		if ((unsigned long)n >= slice)
			all_empty = false;
	}
	n = drain_critical(cap);
	if (n < 0)
		return n;
	/* Nothing older waits in a bulk ring (or it lags): the held records go. */
	if (all_empty) {
		release_held(cap, cap->n_held);
		cap->caught_up_ns = start;
	} else
		release_older(cap, HOLD_MAX_NS);
	cap->last_drain_ns = saker_clock_ns(CLOCK_MONOTONIC);
	return (long)(cap->delivered + cap->user_drops - before);
}

uint64_t saker_capture_loss_seq(const struct saker_capture *cap)
{
	uint64_t n = 0;

	/* Plain loads of the mmap-ed .bss: no syscall, cheap enough to poll every few records. */
	for (int i = 0; i < cap->ncpus && i < SAKER_MAX_CPUS; i++)
		n += __atomic_load_n(&cap->skel->bss->loss_seq[i].lost, __ATOMIC_RELAXED);
	return n;
}

/*
 * Records in a bulk ring are in the order their space was reserved, and each
 * carries the time its program began: records of CPUs sharing a ring
 * interleave by a few microseconds, a batch of generic records carries
 * times up to a tick older than its neighbours, and a program preempted
 * mid-event (faultable tracepoints) writes late. WATERMARK_SLACK_NS covers
 * those; a record later still finds its process's kept version gone and is
 * counted and flagged (state/proctable.h), never silently wrong.
 */
#define WATERMARK_SLACK_NS 50000000ull

uint64_t saker_capture_bulk_watermark(struct saker_capture *cap)
{
	uint64_t w = UINT64_MAX;

	for (unsigned i = 0; i < cap->nr_lane; i++)
		if (cap->rings[i].wm_ts < w)
			w = cap->rings[i].wm_ts;
	w = w > WATERMARK_SLACK_NS ? w - WATERMARK_SLACK_NS : 0;
	if (w > cap->watermark)
		cap->watermark = w;
	return cap->watermark;
}

/* After detach only: hands over what the probe staged but never sent. */
static int drain_stages(struct saker_capture *cap)
{
	int fd = bpf_map__fd(cap->skel->maps.stage_map);
	struct saker_stage *st;
	int ret = 0;

	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	for (uint32_t cpu = 0; cpu < (uint32_t)cap->ncpus; cpu++) {
		if (bpf_map_lookup_elem(fd, &cpu, st)) {
			ret = -errno;
			break;
		}
		if (st->len <= sizeof(struct saker_evt_hdr) || st->len > sizeof(st->buf)) {
			if (st->count)
				cap->user_drops += st->count;
			continue;
		}
		deliver_batch(cap, st->buf + sizeof(struct saker_evt_hdr),
			      st->len - sizeof(struct saker_evt_hdr), st->count);
	}
	free(st);
	return ret;
}

int saker_capture_detach_and_drain(struct saker_capture *cap)
{
	struct saker_capture_stats a, b;
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
	int ret, tries;
	long got;

	saker_bpf__detach(cap->skel);
	/*
	 * A program that started before the detach may still be finishing (and a
	 * reserved record may not be committed yet): drain until two reads of the
	 * counters agree, for at most ~2 s. Only then are the staging areas
	 * read, once, since nothing can add to them any more.
	 */
	for (tries = 0; tries < 200; tries++) {
		got = saker_capture_drain(cap, 0);
		ret = got < 0 ? (int)got : 0; /* a negative errno fits an int */
		if (!ret)
			ret = saker_capture_stats(cap, &a);
		if (ret < 0)
			return ret;
		nanosleep(&pause, NULL);
		got = saker_capture_drain(cap, 0);
		ret = got < 0 ? (int)got : 0;
		if (!ret)
			ret = saker_capture_stats(cap, &b);
		if (ret < 0)
			return ret;
		if (!memcmp(a.k, b.k, sizeof(a.k)))
			break;
	}
	ret = drain_stages(cap);
	if (ret)
		return ret;
	ret = saker_capture_stats(cap, &b);
	if (ret)
		return ret;
	return b.k[SAKER_CNT_EVTS] == b.delivered + saker_stats_drops(&b) ? 0 : -EIO;
}
