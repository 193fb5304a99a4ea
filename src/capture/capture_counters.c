#include "capture/capture_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "saker_syscalls.h" /* types of the skeleton's saker_specs */
#include "saker.skel.h"
#include "lib/clock.h"

/*
 * Returns once no program run that read the old loss_gen is left: an update
 * of a map-of-maps waits for every running non-sleepable BPF program
 * (synchronize_rcu, preempted ones included; bpf/lib/maps.h). ~10 ms here.
 */
static int drain(struct saker_capture *cap)
{
	int token = bpf_map__fd(cap->skel->maps.drain_token);
	uint32_t zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(cap->skel->maps.drain), &zero, &token, BPF_ANY))
		return -errno;
	return 0;
}

static void *drain_main(void *arg)
{
	struct saker_capture *cap = arg;

	cap->drain_err = drain(cap);
	__atomic_store_n(&cap->drain_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static unsigned cut_begin(struct saker_capture *cap)
{
	uint32_t gen = cap->loss_gen_set;

	/* From now on the probe counts into the other generation; this one is read. */
	cap->loss_gen_set = gen ^ 1;
	__atomic_store_n(&cap->skel->bss->loss_gen, gen ^ 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cap->drain_done, false, __ATOMIC_RELAXED);
	/* The wait in a thread of its own, so the caller can keep draining the rings. */
	cap->drain_thread = pthread_create(&cap->drain_th, NULL, drain_main, cap) == 0;
	if (!cap->drain_thread)
		(void)drain_main(cap);
	return gen & 1;
}

unsigned saker_capture_cut_proc_losses(struct saker_capture *cap, saker_capture_meanwhile_fn fn,
				       void *ctx)
{
	const struct timespec nap = {.tv_nsec = 200000};
	unsigned cut = cut_begin(cap);

	while (fn && !__atomic_load_n(&cap->drain_done, __ATOMIC_ACQUIRE))
		if (fn(ctx, saker_clock_ns(CLOCK_MONOTONIC) + 1000000) <= 0)
			nanosleep(&nap, NULL);
	if (cap->drain_thread)
		(void)pthread_join(cap->drain_th, NULL);
	cap->drain_thread = false;
	return cut;
}

int saker_capture_drain_error(const struct saker_capture *cap)
{
	return cap->drain_err;
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

/*
 * Calls fn with the kernel's info of each loaded program of saker's until fn
 * returns non-zero; -errno when the kernel refuses one (after fn's stop, its value).
 */
static int prog_info_each(const struct saker_capture *cap,
			  int (*fn)(const struct bpf_program *, const struct bpf_prog_info *,
				    void *),
			  void *ctx)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, cap->skel->obj)
	{
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_program__fd(prog), ret;

		if (fd < 0)
			continue; /* not loaded (autoload off) */
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			return -errno;
		ret = fn(prog, &info, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_misses(const struct bpf_program *prog, const struct bpf_prog_info *info, void *ctx)
{
	(void)prog;
	*(uint64_t *)ctx += info->recursion_misses;
	return 0;
}

/* Sum of the kernel's recursion misses over saker's programs (0 where it has no such count). */
static uint64_t prog_misses(const struct saker_capture *cap)
{
	uint64_t n = 0;

	(void)prog_info_each(cap, add_misses, &n);
	return n;
}

/* The counters of each CPU, of the generations in gens (bit g: generation g), added. */
static int read_percpu(struct saker_capture *cap, unsigned gens, struct saker_kcounters **out)
{
	struct saker_kcounters *percpu, *one;
	int ret = 0;

	percpu = calloc((size_t)cap->ncpus, sizeof(*percpu));
	one = calloc((size_t)cap->ncpus, sizeof(*one));
	if (!percpu || !one) {
		free(percpu);
		free(one);
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < 2 && !ret; g++) {
		if (!(gens & (1u << g)))
			continue;
		if (bpf_map_lookup_elem(bpf_map__fd(cap->skel->maps.counters), &g, one)) {
			ret = -errno;
			break;
		}
		for (int cpu = 0; cpu < cap->ncpus; cpu++)
			for (int i = 0; i < SAKER_CNT_MAX; i++)
				percpu[cpu].c[i] += one[cpu].c[i];
	}
	free(one);
	if (ret) {
		free(percpu);
		return ret;
	}
	*out = percpu;
	return 0;
}

static int read_summed(struct saker_capture *cap, unsigned gens, struct saker_kcounters *sum)
{
	struct saker_kcounters *percpu;
	int ret = read_percpu(cap, gens, &percpu);

	if (ret)
		return ret;
	memset(sum, 0, sizeof(*sum));
	for (int cpu = 0; cpu < cap->ncpus; cpu++)
		for (int i = 0; i < SAKER_CNT_MAX; i++)
			sum->c[i] += percpu[cpu].c[i];
	free(percpu);
	return 0;
}

static void stats_user(struct saker_capture *cap, struct saker_capture_stats *st)
{
	st->delivered = cap->delivered;
	st->user_drops = cap->user_drops;
	st->prog_misses = prog_misses(cap);
}

int saker_capture_stats(struct saker_capture *cap, struct saker_capture_stats *st)
{
	struct saker_kcounters sum;
	int ret = read_summed(cap, 3, &sum);

	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < SAKER_CNT_MAX; i++)
		st->k[i] = sum.c[i];
	stats_user(cap, st);
	return 0;
}

int saker_capture_cut_stats(struct saker_capture *cap, unsigned cut, struct saker_capture_stats *st)
{
	for (unsigned g = 0; g < 2; g++) {
		struct saker_kcounters now;
		int ret;

		if (cut != SAKER_CAPTURE_CUT_ALL && cut != g)
			continue;
		ret = read_summed(cap, 1u << g, &now);
		if (ret)
			return ret;
		saker_gen_cut_take(&cap->cut, g, &now);
	}
	memset(st, 0, sizeof(*st));
	saker_gen_cut_sum(&cap->cut, st);
	stats_user(cap, st);
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
	int ret = read_percpu(cap, 3, &all);

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

struct prog_stats_fill {
	struct saker_capture_prog_stats *out;
	unsigned n, max;
};

static int fill_prog_stats(const struct bpf_program *prog, const struct bpf_prog_info *info,
			   void *ctx)
{
	struct prog_stats_fill *f = ctx;

	if (f->n >= f->max)
		return 1;
	snprintf(f->out[f->n].name, sizeof(f->out[f->n].name), "%s", bpf_program__name(prog));
	f->out[f->n].run_cnt = info->run_cnt;
	f->out[f->n].run_time_ns = info->run_time_ns;
	f->n++;
	return 0;
}

int saker_capture_prog_stats(const struct saker_capture *cap, struct saker_capture_prog_stats *out,
			     unsigned max)
{
	struct prog_stats_fill f = {.out = out, .max = max};
	int ret = prog_info_each(cap, fill_prog_stats, &f);

	return ret < 0 ? ret : (int)f.n;
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
