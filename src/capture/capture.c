#include "capture/capture_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/clock.h"
#include "saker_syscalls.h" /* types of the skeleton's saker_specs */
#include "saker.skel.h"

static uint64_t critical_bytes(const struct saker_capture_opts *opts)
{
	return opts->critical_ring_bytes ? opts->critical_ring_bytes : SAKER_CAPTURE_CRITICAL_BYTES;
}

/*
 * libbpf's print hook is one for the process and takes no context, so the
 * reporter the opener passed is kept here for it: set at open, cleared at
 * close (libbpf then says nothing). Only the loop's thread calls libbpf.
 */
static saker_report_fn libbpf_report;
static void *libbpf_report_ctx;

/* libbpf's format strings are its own: checked where libbpf writes them. */
__attribute__((format(printf, 2, 0))) static int libbpf_print(enum libbpf_print_level level,
							      const char *fmt, va_list ap)
{
	enum saker_prio prio = level == LIBBPF_WARN   ? SAKER_PRIO_WARNING
			       : level == LIBBPF_INFO ? SAKER_PRIO_INFO
						      : SAKER_PRIO_DEBUG;
	char *text, *line, *save = NULL;
	int n;

	if (!libbpf_report)
		return 0;
	n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return 0;
	/* A report is one line; a verifier log is many. */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		libbpf_report(libbpf_report_ctx, prio, line);
	free(text);
	return n;
}

/* The probe's read-only settings and its first writable ones, before load. */
static void configure(struct saker_capture *cap, const struct saker_capture_opts *opts)
{
	cap->skel->rodata->self_tgid = (uint32_t)opts->self_tgid;
	for (int cpu = 0; cpu < cap->ncpus; cpu++)
		cap->skel->rodata->cpu_ring[cpu] = (uint32_t)cpu / cap->per;
	/* Wake the consumer when a ring is an eighth full; it also drains on a timer. */
	cap->skel->rodata->wakeup_bytes[SAKER_LANE_NORMAL] = opts->ring_bytes / 8;
	cap->skel->rodata->wakeup_bytes[SAKER_LANE_CRITICAL] = critical_bytes(opts) / 8;
	memcpy(cap->skel->bss->sc_table, opts->sc_table, SAKER_SYSCALL_MAX);
	memcpy(cap->sc_set, opts->sc_table, SAKER_SYSCALL_MAX);
	saker_lane_budget_from_rate(&cap->skel->bss->lane_budget, opts->lane_rate, opts->lane_burst,
				    opts->lane_uid_rate, opts->lane_uid_burst,
				    opts->lane_cgroup_rate, opts->lane_cgroup_burst);
	cap->budget_set = cap->skel->bss->lane_budget;
}

static int create_rings(struct saker_capture *cap, const struct saker_capture_opts *opts, char *err,
			size_t errlen)
{
	cap->rings = calloc(cap->nr_rings, sizeof(*cap->rings));
	if (!cap->rings) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
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
			int ret = r->map_fd;

			snprintf(err, errlen, "cannot create a %llu-byte ring buffer: %s%s",
				 (unsigned long long)bytes, strerror(-ret),
				 ret == -EPERM ? " (saker must run as root: CAP_BPF, CAP_PERFMON)"
					       : "");
			return ret;
		}
	}
	return 0;
}

static int size_maps(struct saker_capture *cap, char *err, size_t errlen)
{
	int ret;

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
		return ret;
	}
	ret = bpf_map__set_inner_map_fd(cap->skel->maps.rings, cap->rings[0].map_fd);
	if (ret)
		snprintf(err, errlen, "cannot set the ring template: %s", strerror(-ret));
	return ret;
}

/* After load: each ring into the probe's ring map, and mapped here. */
static int install_rings(struct saker_capture *cap, char *err, size_t errlen)
{
	int outer_fd = bpf_map__fd(cap->skel->maps.rings);

	for (unsigned i = 0; i < cap->nr_rings; i++) {
		struct ring *r = &cap->rings[i];
		uint32_t key = r->lane * SAKER_MAX_RINGS_PER_LANE +
			       (r->lane == SAKER_LANE_NORMAL ? i : i - cap->nr_lane);

		if (bpf_map_update_elem(outer_fd, &key, &r->map_fd, BPF_ANY)) {
			int ret = -errno;

			snprintf(err, errlen, "cannot install ring %u: %s", i, strerror(-ret));
			return ret;
		}
		r->rb = ring_buffer__new(r->map_fd, cap_on_record, r, NULL);
		if (!r->rb) {
			int ret = -errno;

			snprintf(err, errlen, "cannot map ring %u: %s", i, strerror(-ret));
			return ret;
		}
		/* Without the positions there is no occupancy figure; capture goes on. */
		r->pos_len = 2 * (size_t)sysconf(_SC_PAGESIZE);
		r->pos_pages = mmap(NULL, r->pos_len, PROT_READ, MAP_SHARED, r->map_fd, 0);
		if (r->pos_pages == MAP_FAILED)
			r->pos_pages = NULL;
	}
	return 0;
}

/* The CPU grouping and the skeleton opened (not loaded). */
static int open_skel(struct saker_capture *cap, const struct saker_capture_opts *opts, char *err,
		     size_t errlen)
{
	unsigned per;

	cap->ncpus = libbpf_num_possible_cpus();
	if (cap->ncpus <= 0 || cap->ncpus > SAKER_MAX_CPUS) {
		snprintf(err, errlen, "unsupported number of possible CPUs (%d, max %d)",
			 cap->ncpus, SAKER_MAX_CPUS);
		return cap->ncpus <= 0 ? cap->ncpus : -E2BIG;
	}
	per = opts->cpus_for_each_buffer ? opts->cpus_for_each_buffer : (unsigned)cap->ncpus;
	cap->per = per;
	cap->ring_bytes = opts->ring_bytes;
	cap->crit_ring_bytes = critical_bytes(opts);
	cap->nr_lane = ((unsigned)cap->ncpus + per - 1) / per;
	cap->nr_rings = 2 * cap->nr_lane;

	cap->skel = saker_bpf__open();
	if (!cap->skel) {
		int ret = -errno;

		snprintf(err, errlen, "cannot open BPF object: %s", strerror(errno));
		return ret;
	}
	return 0;
}

int saker_capture_open(struct saker_capture **out, const struct saker_capture_opts *opts, char *err,
		       size_t errlen)
{
	struct saker_capture *cap;
	int ret;

	*out = NULL;
	libbpf_report = opts->report;
	libbpf_report_ctx = opts->report_ctx;
	libbpf_set_print(libbpf_print);
	cap = calloc(1, sizeof(*cap));
	if (!cap) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cap->on_event = opts->on_event;
	cap->ctx = opts->ctx;

	ret = open_skel(cap, opts, err, errlen);
	if (ret)
		goto fail;
	configure(cap, opts);
	ret = create_rings(cap, opts, err, errlen);
	if (!ret)
		ret = size_maps(cap, err, errlen);
	if (ret)
		goto fail;
	ret = saker_bpf__load(cap->skel);
	if (ret) {
		snprintf(err, errlen, "cannot load BPF programs (root and BTF needed): %s",
			 strerror(-ret));
		goto fail;
	}
	ret = install_rings(cap, err, errlen);
	if (ret)
		goto fail;
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
	libbpf_report = NULL;
	libbpf_report_ctx = NULL;
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
