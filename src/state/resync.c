#include "state/resync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/idmap.h"
#include "lib/procid.h"
#include "state/proctable.h"
#include "state/view.h"

/* Distinct processes remembered as reloaded while armed; past it, seen ones are not queued. */
#define MAX_CHECKED 65536
/* Containers whose metadata one request re-reads (the rest keep what they had). */
#define MAX_REFRESHED 256

enum phase {
	PH_IDLE = 0,
	PH_LIST,       /* read /proc's pid list */
	PH_LOAD,       /* reload pids[cursor..] */
	PH_PRUNE_LIST, /* take the table's tids */
	PH_PRUNE,      /* remove tids[cursor..] /proc no longer has */
};

struct saker_resync {
	struct saker_view *view;
	char *proc_root;
	uint64_t slice_ns, period_ns, last_run;
	bool ran_once;
	/* targeted */
	bool armed;
	uint64_t since, until;
	struct saker_idmap checked; /* pid -> (void *)1: queued once while armed */
	uint32_t *pending;
	size_t max_pending, head, count;
	/* full */
	enum phase phase;
	bool again; /* another full rescan was asked for while one ran */
	uint32_t *ids;
	size_t n_ids, cap_ids, cursor;
	uint64_t full_ns, full_pids;
	/* short ids of the containers re-read since the last request */
	char refreshed[MAX_REFRESHED][SAKER_CTR_SHORT_ID_LEN + 1];
	size_t nrefreshed;
	struct saker_resync_stats st;
};

int saker_resync_new(struct saker_resync **out, struct saker_view *view,
		     const struct saker_resync_opts *o)
{
	static const struct saker_resync_opts defaults;
	struct saker_resync *r;

	*out = NULL;
	if (!view)
		return -EINVAL;
	if (!o)
		o = &defaults;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->view = view;
	r->slice_ns = o->slice_ns ? o->slice_ns : SAKER_RESYNC_DEFAULT_SLICE_NS;
	r->period_ns = o->period_ns ? o->period_ns : SAKER_RESYNC_DEFAULT_PERIOD_NS;
	r->max_pending = o->max_pending ? o->max_pending : SAKER_RESYNC_DEFAULT_MAX_PENDING;
	r->proc_root = strdup(o->proc_root ? o->proc_root : "/proc");
	r->pending = calloc(r->max_pending, sizeof(*r->pending));
	saker_idmap_init(&r->checked);
	if (!r->proc_root || !r->pending) {
		saker_resync_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void saker_resync_free(struct saker_resync *r)
{
	if (!r)
		return;
	saker_idmap_free(&r->checked);
	free(r->pending);
	free(r->ids);
	free(r->proc_root);
	free(r);
}

static void start_full(struct saker_resync *r)
{
	/* Not begun yet: it will see what the new request wants seen. */
	if (r->phase == PH_LIST)
		return;
	if (r->phase != PH_IDLE) {
		r->again = true;
		return;
	}
	r->phase = PH_LIST;
}

void saker_resync_request(struct saker_resync *r, uint64_t since_ns, uint64_t until_ns, bool full)
{
	if (!r)
		return;
	r->st.requests++;
	r->nrefreshed = 0;
	/* A new loss makes every process suspect again, the ones reloaded before it too. */
	saker_idmap_free(&r->checked);
	saker_idmap_init(&r->checked);
	if (!r->armed || since_ns < r->since)
		r->since = since_ns;
	if (until_ns > r->until)
		r->until = until_ns;
	r->armed = true;
	if (full) {
		r->st.full_requests++;
		start_full(r);
	}
}

void saker_resync_note(struct saker_resync *r, const struct saker_evt_hdr *e)
{
	uint32_t pid;

	if (!r || !r->armed || !e)
		return;
	pid = e->tgid;
	if (saker_idmap_get(&r->checked, pid) || r->checked.n >= MAX_CHECKED)
		return;
	if (saker_idmap_put(&r->checked, pid, (void *)1))
		return;
	if (r->count == r->max_pending) {
		r->st.overflows++;
		start_full(r);
		return;
	}
	r->pending[(r->head + r->count++) % r->max_pending] = pid;
	r->st.queued++;
}

static int reserve_ids(struct saker_resync *r, size_t n)
{
	size_t cap = r->cap_ids ? r->cap_ids : 256;
	uint32_t *v;

	if (n <= r->cap_ids)
		return 0;
	while (cap < n)
		cap *= 2;
	v = realloc(r->ids, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->ids = v;
	r->cap_ids = cap;
	return 0;
}

static int push_id(struct saker_resync *r, uint32_t id)
{
	int err = reserve_ids(r, r->n_ids + 1);

	if (!err)
		r->ids[r->n_ids++] = id;
	return err;
}

/* Every pid /proc lists now (a directory read: fast next to reading the processes). */
static int list_proc(struct saker_resync *r)
{
	struct dirent *de;
	DIR *dir = opendir(r->proc_root);
	int err = 0;

	r->n_ids = 0;
	r->cursor = 0;
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		uint32_t pid;

		if (saker_procid_parse(de->d_name, &pid) && (err = push_id(r, pid)))
			break;
	}
	closedir(dir);
	return err;
}

/*
 * A reloaded process's container: one that started during the loss (its
 * exec lost) is learned from the cgroup /proc gave; a known one has its
 * metadata read again, once per request (its files may have changed while
 * saker saw nothing, e.g. a container replaced under the same id).
 */
static void resync_container(struct saker_resync *r, const struct saker_proc *p)
{
	struct saker_containers *ctrs = saker_view_containers(r->view);

	if (!ctrs || !p || !p->container_id[0] || !strcmp(p->container_id, "host"))
		return;
	if (!saker_containers_peek(ctrs, p->container_id)) {
		if (saker_view_learn_container(r->view, p))
			r->st.containers_learned++;
		return;
	}
	for (size_t i = 0; i < r->nrefreshed; i++)
		if (!strcmp(r->refreshed[i], p->container_id))
			return;
	if (r->nrefreshed == MAX_REFRESHED)
		return;
	snprintf(r->refreshed[r->nrefreshed++], sizeof(r->refreshed[0]), "%s", p->container_id);
	if (saker_containers_refresh(ctrs, p->container_id) == 0)
		r->st.containers_refreshed++;
}

static void load_one(struct saker_resync *r, uint32_t pid)
{
	struct saker_proctable *tbl = saker_view_procs(r->view);
	int err = saker_proctable_load(tbl, pid);

	if (!err) {
		r->st.loaded++;
		resync_container(r, saker_proctable_peek(tbl, pid));
		return;
	}
	if (err == -ENOENT) {
		r->st.gone++;
		/* Its exit was lost, or is still in a ring: either way it is no more. */
		if (saker_proctable_lookup(tbl, pid))
			(void)saker_proctable_on_exit(tbl, pid, SAKER_EXIT_GROUP_DEAD);
	}
}

static void prune_one(struct saker_resync *r, int root, uint32_t tid)
{
	char name[16];

	snprintf(name, sizeof(name), "%u", tid);
	/* /proc/<tid> resolves for every thread, listed or not. */
	if (faccessat(root, name, F_OK, 0) == 0 || errno != ENOENT)
		return;
	if (saker_proctable_on_exit(saker_view_procs(r->view), tid, 0) == 0)
		r->st.pruned++;
}

/* One step of the work; false when there is none left. */
static bool step(struct saker_resync *r, int root)
{
	struct saker_proctable_stats ps;

	if (r->count) {
		uint32_t pid = r->pending[r->head];

		r->head = (r->head + 1) % r->max_pending;
		r->count--;
		load_one(r, pid);
		return true;
	}
	switch (r->phase) {
	case PH_IDLE:
		return false;
	case PH_LIST:
		r->full_ns = 0;
		r->full_pids = 0;
		r->phase = list_proc(r) ? PH_IDLE : PH_LOAD;
		return true;
	case PH_LOAD:
		if (r->cursor < r->n_ids) {
			load_one(r, r->ids[r->cursor++]);
			r->full_pids++;
			return true;
		}
		r->phase = PH_PRUNE_LIST;
		return true;
	case PH_PRUNE_LIST:
		saker_proctable_get_stats(saker_view_procs(r->view), &ps);
		r->cursor = 0;
		/* Without the memory for the whole list, a part of it is pruned. */
		(void)reserve_ids(r, (size_t)ps.entries);
		r->n_ids = saker_proctable_tids(saker_view_procs(r->view), r->ids, r->cap_ids);
		r->phase = PH_PRUNE;
		return true;
	case PH_PRUNE:
		if (r->cursor < r->n_ids) {
			prune_one(r, root, r->ids[r->cursor++]);
			return true;
		}
		r->st.full_scans++;
		r->st.last_full_pids = r->full_pids;
		r->phase = PH_IDLE;
		if (r->again) {
			r->again = false;
			start_full(r);
		}
		return true;
	}
	return false;
}

static bool busy(const struct saker_resync *r)
{
	return r->count || r->phase != PH_IDLE;
}

bool saker_resync_run(struct saker_resync *r, uint64_t mono_ns, uint64_t boot_ns)
{
	uint64_t start, t;
	int root;

	if (!r)
		return false;
	if (r->armed && boot_ns > r->until) {
		r->armed = false;
		saker_idmap_free(&r->checked);
		saker_idmap_init(&r->checked);
	}
	if (!busy(r))
		return false;
	if (r->ran_once && mono_ns - r->last_run < r->period_ns)
		return true;
	r->ran_once = true;
	r->last_run = mono_ns;
	r->st.runs++;
	root = open(r->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	start = t = saker_clock_ns(CLOCK_MONOTONIC);
	/* At least one step per run, so progress does not depend on the clock's grain. */
	do {
		bool full = r->phase != PH_IDLE && !r->count;
		uint64_t s = t, scans = r->st.full_scans;

		if (!step(r, root))
			break;
		t = saker_clock_ns(CLOCK_MONOTONIC);
		if (full)
			r->full_ns += t - s;
		if (r->st.full_scans != scans)
			r->st.last_full_ns = r->full_ns;
	} while (t - start < r->slice_ns && busy(r));
	if (root >= 0)
		close(root);
	r->st.ns += t - start;
	return busy(r);
}

void saker_resync_add_metrics(const struct saker_resync *r, struct saker_metrics *m)
{
	static const unsigned F = SAKER_METRIC_F_DETAIL;
	struct saker_resync_stats st;

	saker_resync_get_stats(r, &st);
#define C(name, help, v)                                                                           \
	(void)saker_metrics_add_u64(m, name, help, SAKER_METRIC_COUNTER, F, v, NULL, 0)
	C("resync_requests_total", "Repairs asked for after lost lifecycle events.", st.requests);
	C("resync_full_requests_total", "Of which asked for a full /proc rescan.",
	  st.full_requests);
	C("resync_queued_total", "Processes queued for a reload after being seen.", st.queued);
	C("resync_overflows_total", "Reloads that did not fit the queue (a full rescan instead).",
	  st.overflows);
	C("resync_loaded_total", "Processes reloaded from /proc.", st.loaded);
	C("resync_gone_total", "Processes to reload that had exited.", st.gone);
	C("resync_pruned_total", "Threads removed because /proc no longer has them.", st.pruned);
	C("resync_full_scans_total", "Full /proc rescans completed.", st.full_scans);
	C("resync_containers_learned_total",
	  "Containers first found by a repair (started while events were lost).",
	  st.containers_learned);
	C("resync_containers_refreshed_total",
	  "Containers whose runtime metadata a repair read again.", st.containers_refreshed);
#undef C
	(void)saker_metrics_add_f64(m, "resync_seconds_total",
				    "Time spent reading /proc to repair.", SAKER_METRIC_COUNTER, F,
				    (double)st.ns / 1e9, NULL, 0);
	(void)saker_metrics_add_f64(m, "resync_last_full_seconds",
				    "Time the last full rescan took, slices summed.",
				    SAKER_METRIC_GAUGE, F, (double)st.last_full_ns / 1e9, NULL, 0);
}

void saker_resync_get_stats(const struct saker_resync *r, struct saker_resync_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!r)
		return;
	*st = r->st;
	st->armed = r->armed;
	st->busy = busy(r);
}
