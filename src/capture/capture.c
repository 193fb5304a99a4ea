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

#include "saker_syscalls.h" /* types of the skeleton's saker_specs */
#include "saker.skel.h"

/* Returned by the ring callback to stop a drain once its budget is spent. */
#define DRAIN_BUDGET_SPENT (-ECANCELED)

struct ring {
	struct saker_capture *cap;
	struct ring_buffer *rb;
	int map_fd;
	unsigned long budget_left;
	int budget_on;
	uint64_t events; /* taken from this ring: delivered or lost in user space */
	uint64_t bytes;	 /* ring bytes consumed, record headers and padding included */
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
};

struct saker_capture {
	struct saker_bpf *skel;
	struct ring *rings;
	unsigned nr_rings;
	int ncpus;
	unsigned per; /* CPUs for each ring */
	uint64_t ring_bytes;
	saker_event_fn on_event;
	void *ctx;
	uint64_t delivered;
	uint64_t user_drops;
	uint64_t last_drain_ns; /* CLOCK_MONOTONIC of the last drain that succeeded */
};

static void deliver(struct saker_capture *cap, const struct saker_evt_hdr *e)
{
	if (cap->on_event && cap->on_event(cap->ctx, e, e->len) < 0)
		cap->user_drops++;
	else
		cap->delivered++;
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
		deliver(cap, e);
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
	uint64_t n = 1;

	/* The kernel's record header (8 bytes) and the 8-byte rounding take ring space too. */
	r->bytes += (len + 8 + 7) & ~(size_t)7;

	/* A record the probe could not have written is lost in user space, not ignored. */
	if (len < sizeof(*e) || e->len > len || e->len < sizeof(*e)) {
		cap->user_drops++;
	} else if (e->type == SAKER_EVT_BATCH) {
		n = e->ret > 0 ? (uint64_t)e->ret : 1;
		deliver_batch(cap, (const uint8_t *)data + sizeof(*e), e->len - sizeof(*e),
			      e->ret > 0 ? (uint64_t)e->ret : 0);
	} else {
		deliver(cap, e);
	}
	/* The budget bounds the work per drain, so a batch costs the events it carries. */
	if (r->budget_on) {
		if (n >= r->budget_left) {
			r->budget_left = 0;
			return DRAIN_BUDGET_SPENT;
		}
		r->budget_left -= n;
	}
	return 0;
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
	cap->nr_rings = ((unsigned)cap->ncpus + per - 1) / per;

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
	cap->skel->rodata->wakeup_bytes = opts->ring_bytes / 8;
	memcpy(cap->skel->bss->sc_table, opts->sc_table, SAKER_SYSCALL_MAX);

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

		r->cap = cap;
		snprintf(name, sizeof(name), "saker_rb%u", i & 0xffff);
		r->map_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name, 0, 0,
					   (uint32_t)opts->ring_bytes, NULL);
		if (r->map_fd < 0) {
			ret = r->map_fd;
			snprintf(err, errlen, "cannot create a %llu-byte ring buffer: %s%s",
				 (unsigned long long)opts->ring_bytes, strerror(-ret),
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
		uint32_t key = SAKER_LANE_NORMAL * SAKER_MAX_RINGS_PER_LANE + i;

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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long saker_capture_drain(struct saker_capture *cap, unsigned long budget)
{
	long total = 0;

	for (unsigned i = 0; i < cap->nr_rings; i++) {
		struct ring *r = &cap->rings[i];
		uint64_t before = cap->delivered + cap->user_drops;
		int n;

		if (r->pos_pages) {
			const uint64_t *cons = r->pos_pages;
			const uint64_t *prod =
			    (const uint64_t *)((const char *)r->pos_pages + r->pos_len / 2);
			/* Consumer first: the producer only moves ahead, so used is never negative.
			 */
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
		r->win_drains++;
		if (n == DRAIN_BUDGET_SPENT)
			r->win_spent++;
		r->events += cap->delivered + cap->user_drops - before;
		total += (long)(cap->delivered + cap->user_drops - before);
	}
	cap->last_drain_ns = mono_ns();
	return total;
}

int saker_capture_set_syscalls(struct saker_capture *cap, const uint8_t *sc_table)
{
	/* .bss is mmap-ed: byte stores are seen by the probe without reload. */
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++)
		__atomic_store_n(&cap->skel->bss->sc_table[i], sc_table[i], __ATOMIC_RELAXED);
	return 0;
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
	st->lane = SAKER_LANE_NORMAL;
	st->size_bytes = cap->ring_bytes;
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
