#include "capture/capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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
};

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

static int on_record(void *ctx, void *data, size_t len)
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

static uint64_t critical_bytes(const struct saker_capture_opts *opts)
{
	return opts->critical_ring_bytes ? opts->critical_ring_bytes : SAKER_CAPTURE_CRITICAL_BYTES;
}

/* libbpf's format strings are its own: checked where libbpf writes them. */
__attribute__((format(printf, 2, 0))) static int libbpf_quiet(enum libbpf_print_level level,
							      const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int saker_capture_open(struct saker_capture **out, const struct saker_capture_opts *opts, char *err,
		       size_t errlen)
{
	struct saker_capture *cap;
	unsigned per;
	int ret, outer_fd;

	*out = NULL;
	libbpf_set_print(libbpf_quiet);
	cap = calloc(1, sizeof(*cap));
	if (!cap) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cap->on_event = opts->on_event;
	cap->ctx = opts->ctx;

	cap->ncpus = libbpf_num_possible_cpus();
	if (cap->ncpus <= 0 || cap->ncpus > SAKER_MAX_CPUS) {
		ret = cap->ncpus <= 0 ? cap->ncpus : -E2BIG;
		snprintf(err, errlen, "unsupported number of possible CPUs (%d, max %d)",
			 cap->ncpus, SAKER_MAX_CPUS);
		goto fail;
	}
	per = opts->cpus_for_each_buffer ? opts->cpus_for_each_buffer : (unsigned)cap->ncpus;
	cap->per = per;
	cap->ring_bytes = opts->ring_bytes;
	cap->crit_ring_bytes = critical_bytes(opts);
	cap->nr_lane = ((unsigned)cap->ncpus + per - 1) / per;
	cap->nr_rings = 2 * cap->nr_lane;

	cap->skel = saker_bpf__open();
	if (!cap->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open BPF object: %s", strerror(errno));
		goto fail;
	}
	cap->skel->rodata->self_tgid = (uint32_t)opts->self_tgid;
	for (int cpu = 0; cpu < cap->ncpus; cpu++)
		cap->skel->rodata->cpu_ring[cpu] = (uint32_t)cpu / per;
	/* Wake the consumer when a ring is an eighth full; it also drains on a timer. */
	cap->skel->rodata->wakeup_bytes[SAKER_LANE_NORMAL] = opts->ring_bytes / 8;
	cap->skel->rodata->wakeup_bytes[SAKER_LANE_CRITICAL] = critical_bytes(opts) / 8;
	memcpy(cap->skel->bss->sc_table, opts->sc_table, SAKER_SYSCALL_MAX);
	memcpy(cap->sc_set, opts->sc_table, SAKER_SYSCALL_MAX);
	saker_lane_budget_from_rate(&cap->skel->bss->lane_budget, opts->lane_rate, opts->lane_burst,
				    opts->lane_uid_rate, opts->lane_uid_burst,
				    opts->lane_cgroup_rate, opts->lane_cgroup_burst);
	cap->budget_set = cap->skel->bss->lane_budget;

	cap->rings = calloc(cap->nr_rings, sizeof(*cap->rings));
	if (!cap->rings) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < cap->nr_rings; i++)
		cap->rings[i].map_fd = -1;
	for (unsigned i = 0; i < cap->nr_rings; i++) {
		struct ring *r = &cap->rings[i];
		char name[BPF_OBJ_NAME_LEN];

		uint64_t bytes;

		r->cap = cap;
		r->lane = i < cap->nr_lane ? SAKER_LANE_NORMAL : SAKER_LANE_CRITICAL;
		bytes = r->lane == SAKER_LANE_NORMAL ? opts->ring_bytes : critical_bytes(opts);
		if (r->lane == SAKER_LANE_NORMAL)
			snprintf(name, sizeof(name), "saker_rb%u", i & 0xffff);
		else
			snprintf(name, sizeof(name), "saker_crb%u", (i - cap->nr_lane) & 0xffff);
		r->map_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name, 0, 0, (uint32_t)bytes, NULL);
		if (r->map_fd < 0) {
			ret = r->map_fd;
			snprintf(err, errlen, "cannot create a %llu-byte ring buffer: %s%s",
				 (unsigned long long)bytes, strerror(-ret),
				 ret == -EPERM ? " (saker must run as root: CAP_BPF, CAP_PERFMON)"
					       : "");
			goto fail;
		}
	}
	/*
	 * The first ring serves as the inner-map template, so the ring map's
	 * declared size does not matter (libbpf 1.1 cannot resize the template
	 * it creates itself).
	 */
	ret = bpf_map__set_max_entries(cap->skel->maps.scratch_map,
				       (uint32_t)cap->ncpus * SAKER_SCRATCH_SLOTS);
	if (!ret)
		ret = bpf_map__set_max_entries(cap->skel->maps.stage_map, (uint32_t)cap->ncpus);
	if (ret) {
		snprintf(err, errlen, "cannot size the per-CPU maps: %s", strerror(-ret));
		goto fail;
	}
	ret = bpf_map__set_inner_map_fd(cap->skel->maps.rings, cap->rings[0].map_fd);
	if (ret) {
		snprintf(err, errlen, "cannot set the ring template: %s", strerror(-ret));
		goto fail;
	}

	ret = saker_bpf__load(cap->skel);
	if (ret) {
		snprintf(err, errlen, "cannot load BPF programs (root and BTF needed): %s",
			 strerror(-ret));
		goto fail;
	}

	outer_fd = bpf_map__fd(cap->skel->maps.rings);
	for (unsigned i = 0; i < cap->nr_rings; i++) {
		struct ring *r = &cap->rings[i];
		uint32_t key = r->lane * SAKER_MAX_RINGS_PER_LANE +
			       (r->lane == SAKER_LANE_NORMAL ? i : i - cap->nr_lane);

		ret = bpf_map_update_elem(outer_fd, &key, &r->map_fd, BPF_ANY);
		if (ret) {
			ret = -errno;
			snprintf(err, errlen, "cannot install ring %u: %s", i, strerror(errno));
			goto fail;
		}
		r->rb = ring_buffer__new(r->map_fd, on_record, r, NULL);
		if (!r->rb) {
			ret = -errno;
			snprintf(err, errlen, "cannot map ring %u: %s", i, strerror(errno));
			goto fail;
		}
		/* Without the positions there is no occupancy figure; capture goes on. */
		r->pos_len = 2 * (size_t)sysconf(_SC_PAGESIZE);
		r->pos_pages = mmap(NULL, r->pos_len, PROT_READ, MAP_SHARED, r->map_fd, 0);
		if (r->pos_pages == MAP_FAILED)
			r->pos_pages = NULL;
	}

	ret = saker_bpf__attach(cap->skel);
	if (ret) {
		snprintf(err, errlen, "cannot attach tp_btf/sys_exit: %s", strerror(-ret));
		goto fail;
	}
	/*
	 * Nothing was owed before the rings existed: the health rule counts "not
	 * drained for N s" from here, not from boot (it said hours at start).
	 */
	cap->last_drain_ns = saker_clock_ns(CLOCK_MONOTONIC);
	*out = cap;
	return 0;
fail:
	saker_capture_close(cap);
	return ret < 0 ? ret : -EINVAL;
}

void saker_capture_close(struct saker_capture *cap)
{
	if (!cap)
		return;
	/* Links first, so nothing runs while the rings go away. */
	if (cap->skel)
		saker_bpf__detach(cap->skel);
	for (unsigned i = 0; cap->rings && i < cap->nr_rings; i++) {
		if (cap->rings[i].pos_pages)
			munmap(cap->rings[i].pos_pages, cap->rings[i].pos_len);
		ring_buffer__free(cap->rings[i].rb);
		if (cap->rings[i].map_fd >= 0)
			close(cap->rings[i].map_fd);
	}
	free(cap->rings);
	/* Only after a failed shutdown drain: undelivered, and the summary says inexact. */
	for (size_t i = 0; i < cap->n_held; i++)
		free(cap->held[i]);
	free(cap->held);
	saker_bpf__destroy(cap->skel);
	free(cap);
}

unsigned saker_capture_nr_rings(const struct saker_capture *cap)
{
	return cap->nr_rings;
}

int saker_capture_ring_fd(const struct saker_capture *cap, unsigned ring)
{
	if (ring >= cap->nr_rings)
		return -EINVAL;
	return ring_buffer__epoll_fd(cap->rings[ring].rb);
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

int saker_capture_set_syscalls(struct saker_capture *cap, const uint8_t *sc_table)
{
	/* .bss is mmap-ed: byte stores are seen by the probe without reload. */
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++)
		__atomic_store_n(&cap->skel->bss->sc_table[i], sc_table[i], __ATOMIC_RELAXED);
	memcpy(cap->sc_set, sc_table, SAKER_SYSCALL_MAX);
	return 0;
}

static void store_budget(struct saker_lane_budget *dst, const struct saker_lane_budget *b)
{
	__atomic_store_n(&dst->proc_burst_ns, b->proc_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->uid_interval_ns, b->uid_interval_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->uid_burst_ns, b->uid_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->cgroup_interval_ns, b->cgroup_interval_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->cgroup_burst_ns, b->cgroup_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->proc_interval_ns, b->proc_interval_ns, __ATOMIC_RELAXED);
}

void saker_capture_check_settings(struct saker_capture *cap, bool restore,
				  struct saker_capture_tamper *t)
{
	struct saker_lane_budget *b = &cap->skel->bss->lane_budget;
	uint32_t gen;

	memset(t, 0, sizeof(*t));
	t->first_id = -1;
	/* 512 bytes and a few words of the mmap-ed .bss: no syscall. */
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++) {
		uint8_t now = __atomic_load_n(&cap->skel->bss->sc_table[i], __ATOMIC_RELAXED);
		uint8_t set = cap->sc_set[i];

		if (now == set)
			continue;
		t->changed++;
		if (t->first_id < 0)
			t->first_id = i;
		if ((set & SAKER_SC_SELECTED) && !(now & SAKER_SC_SELECTED))
			t->deselected++;
		else if (!(set & SAKER_SC_SELECTED) && (now & SAKER_SC_SELECTED))
			t->added++;
		if (restore)
			__atomic_store_n(&cap->skel->bss->sc_table[i], set, __ATOMIC_RELAXED);
	}
	t->budget =
	    __atomic_load_n(&b->proc_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.proc_interval_ns ||
	    __atomic_load_n(&b->proc_burst_ns, __ATOMIC_RELAXED) != cap->budget_set.proc_burst_ns ||
	    __atomic_load_n(&b->uid_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.uid_interval_ns ||
	    __atomic_load_n(&b->uid_burst_ns, __ATOMIC_RELAXED) != cap->budget_set.uid_burst_ns ||
	    __atomic_load_n(&b->cgroup_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.cgroup_interval_ns ||
	    __atomic_load_n(&b->cgroup_burst_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.cgroup_burst_ns;
	if (t->budget && restore)
		store_budget(b, &cap->budget_set);
	gen = __atomic_load_n(&cap->skel->bss->loss_gen, __ATOMIC_RELAXED);
	t->loss_gen = gen != cap->loss_gen_set;
	if (t->loss_gen && restore)
		__atomic_store_n(&cap->skel->bss->loss_gen, cap->loss_gen_set, __ATOMIC_SEQ_CST);
	t->restored = restore && (t->changed || t->budget || t->loss_gen);
}

void saker_capture_set_lane_budget(struct saker_capture *cap, uint64_t rate, uint64_t burst,
				   uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				   uint64_t cgroup_burst)
{
	struct saker_lane_budget bb, *b = &bb;

	saker_lane_budget_from_rate(b, rate, burst, uid_rate, uid_burst, cgroup_rate, cgroup_burst);
	/*
	 * .bss is mmap-ed; the probe reads each field once per event, so a
	 * change seen half-way only mixes old and new limits for a moment.
	 */
	store_budget(&cap->skel->bss->lane_budget, b);
	cap->budget_set = *b;
}

void saker_lane_budget_from_rate(struct saker_lane_budget *b, uint64_t rate, uint64_t burst,
				 uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				 uint64_t cgroup_burst)
{
	memset(b, 0, sizeof(*b));
	if (rate) {
		b->proc_interval_ns = 1000000000ull / rate;
		if (!b->proc_interval_ns)
			b->proc_interval_ns = 1;
		b->proc_burst_ns = b->proc_interval_ns * burst;
	}
	if (rate && uid_rate) {
		b->uid_interval_ns = 1000000000ull / uid_rate;
		if (!b->uid_interval_ns)
			b->uid_interval_ns = 1;
		b->uid_burst_ns = b->uid_interval_ns * uid_burst;
	}
	if (rate && cgroup_rate) {
		b->cgroup_interval_ns = 1000000000ull / cgroup_rate;
		if (!b->cgroup_interval_ns)
			b->cgroup_interval_ns = 1;
		b->cgroup_burst_ns = b->cgroup_interval_ns * cgroup_burst;
	}
}

unsigned saker_capture_cut_proc_losses(struct saker_capture *cap)
{
	uint32_t gen = cap->loss_gen_set;

	/* From now on the probe counts into the other map; this one is read and emptied. */
	cap->loss_gen_set = gen ^ 1;
	__atomic_store_n(&cap->skel->bss->loss_gen, gen ^ 1, __ATOMIC_SEQ_CST);
	return gen & 1;
}

int saker_capture_read_proc_losses(struct saker_capture *cap, unsigned cut, saker_proc_loss_fn cb,
				   void *ctx)
{
	struct bpf_map *m = cut & 1 ? cap->skel->maps.proc_loss1 : cap->skel->maps.proc_loss0;
	int fd = bpf_map__fd(m), n = 0, ret = 0;
	struct saker_proc_loss *vals;
	struct saker_proc_key key, next;
	bool first = true;

	vals = calloc((size_t)cap->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	/*
	 * Deleting as we go: get_next_key of a deleted key restarts from the
	 * first, which is the next one to read anyway.
	 */
	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		struct saker_proc_loss sum = {0};

		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, vals)) {
			if (errno == ENOENT)
				continue;
			ret = -errno;
			break;
		}
		for (int cpu = 0; cpu < cap->ncpus; cpu++) {
			sum.lost += vals[cpu].lost;
			sum.demoted += vals[cpu].demoted;
			if (!sum.comm[0] && vals[cpu].comm[0]) {
				memcpy(sum.comm, vals[cpu].comm, sizeof(sum.comm));
				sum.uid = vals[cpu].uid;
			}
		}
		sum.comm[sizeof(sum.comm) - 1] = '\0';
		(void)bpf_map_delete_elem(fd, &key);
		first = true;
		if (cb)
			cb(ctx, key.tgid, key.start_ns, &sum);
		n++;
	}
	free(vals);
	return ret ? ret : n;
}

/* Sum of the kernel's recursion misses over saker's programs (0 where it has no such count). */
static uint64_t prog_misses(const struct saker_capture *cap)
{
	struct bpf_program *prog;
	uint64_t n = 0;

	bpf_object__for_each_program(prog, cap->skel->obj)
	{
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_program__fd(prog);

		memset(&info, 0, sizeof(info));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

static int read_percpu(struct saker_capture *cap, struct saker_kcounters **out)
{
	struct saker_kcounters *percpu;
	uint32_t zero = 0;

	percpu = calloc((size_t)cap->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(cap->skel->maps.counters), &zero, percpu)) {
		int ret = -errno;

		free(percpu);
		return ret;
	}
	*out = percpu;
	return 0;
}

int saker_capture_stats(struct saker_capture *cap, struct saker_capture_stats *st)
{
	struct saker_kcounters *percpu;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = read_percpu(cap, &percpu);
	if (ret)
		return ret;
	for (int cpu = 0; cpu < cap->ncpus; cpu++)
		for (int i = 0; i < SAKER_CNT_MAX; i++)
			st->k[i] += percpu[cpu].c[i];
	free(percpu);
	st->delivered = cap->delivered;
	st->user_drops = cap->user_drops;
	st->prog_misses = prog_misses(cap);
	return 0;
}

uint64_t saker_capture_last_drain_ns(const struct saker_capture *cap)
{
	return cap->last_drain_ns;
}

uint64_t saker_capture_caught_up_ns(const struct saker_capture *cap)
{
	return cap->caught_up_ns;
}

unsigned saker_capture_nr_cpus(const struct saker_capture *cap)
{
	return (unsigned)cap->ncpus;
}

int saker_capture_cpu_stats(struct saker_capture *cap, struct saker_kcounters *percpu,
			    unsigned *cpu_ring, unsigned max)
{
	struct saker_kcounters *all;
	unsigned n = (unsigned)cap->ncpus < max ? (unsigned)cap->ncpus : max;
	int ret = read_percpu(cap, &all);

	if (ret)
		return ret;
	for (unsigned cpu = 0; cpu < n; cpu++) {
		percpu[cpu] = all[cpu];
		if (cpu_ring)
			cpu_ring[cpu] = cpu / cap->per;
	}
	free(all);
	return (int)n;
}

int saker_capture_ring_stats(const struct saker_capture *cap, unsigned ring,
			     struct saker_capture_ring_stats *st)
{
	if (ring >= cap->nr_rings)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->lane = cap->rings[ring].lane;
	st->size_bytes = st->lane == SAKER_LANE_NORMAL ? cap->ring_bytes : cap->crit_ring_bytes;
	st->events = cap->rings[ring].events;
	st->bytes = cap->rings[ring].bytes;
	st->has_high_water = cap->rings[ring].pos_pages && cap->rings[ring].has_window;
	st->high_water_bytes = cap->rings[ring].hw_last;
	st->saturated = cap->rings[ring].saturated_last;
	return 0;
}

void saker_capture_ring_window(struct saker_capture *cap)
{
	for (unsigned i = 0; i < cap->nr_rings; i++) {
		struct ring *r = &cap->rings[i];

		r->hw_last = r->hw_cur;
		r->hw_cur = 0;
		r->saturated_last = r->win_drains > 0 && r->win_spent == r->win_drains;
		r->win_drains = 0;
		r->win_spent = 0;
		r->has_window = true;
	}
}

int saker_capture_prog_stats(const struct saker_capture *cap, struct saker_capture_prog_stats *out,
			     unsigned max)
{
	struct bpf_program *prog;
	unsigned n = 0;

	bpf_object__for_each_program(prog, cap->skel->obj)
	{
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_program__fd(prog);

		/* cppcheck-suppress unsignedLessThanZero ; false positive: n counts up from 0 */
		if (n >= max)
			break;
		if (fd < 0)
			continue; /* not loaded (autoload off) */
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			return -errno;
		snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(prog));
		out[n].run_cnt = info.run_cnt;
		out[n].run_time_ns = info.run_time_ns;
		n++;
	}
	return (int)n;
}

int saker_capture_bpf_stats_enabled(void)
{
	/* The sysctl reads the kernel's switch, so BPF_ENABLE_STATS holders count too. */
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int v = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v ? 1 : 0;
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
