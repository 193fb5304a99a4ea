#include "drops/attrib.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/view.h"

/* Entries looked at to choose one to evict: enough that a flooder is never the smallest. */
#define EVICT_SAMPLES 8
#define NIL	      UINT32_MAX

struct node {
	struct saker_attrib_proc p;
	uint32_t next; /* bucket chain, NIL ends it */
	bool ended;    /* the leader exited: a later event of this pid is another process */
};

struct saker_attrib {
	struct saker_view *view;
	struct node *nodes;
	uint32_t *buckets;
	size_t max, used, nbuckets;
	uint64_t rng;
	bool kernel_loss;
	/* the open window */
	uint64_t win_untracked, win_evictions;
	struct saker_attrib_stats st;
	/* per window: containers summed at close */
	struct saker_attrib_container *agg;
	size_t n_agg;
	/* since start, for /metrics: named containers, then "other" */
	struct saker_attrib_container cum[SAKER_ATTRIB_METRIC_CONTAINERS + 1];
	size_t n_cum;
};

static size_t bucket_of(const struct saker_attrib *a, uint32_t pid)
{
	/* Fibonacci hashing: pids are dense and sequential. */
	return (size_t)(((uint64_t)pid * 0x9e3779b97f4a7c15ull) >> 32) & (a->nbuckets - 1);
}

static void reset_window(struct saker_attrib *a)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		a->buckets[i] = NIL;
	a->used = 0;
	a->win_untracked = 0;
	a->win_evictions = 0;
}

int saker_attrib_new(struct saker_attrib **out, size_t max_procs, struct saker_view *view)
{
	struct saker_attrib *a;

	*out = NULL;
	if (!max_procs)
		max_procs = SAKER_ATTRIB_DEFAULT_MAX;
	if (max_procs >= NIL)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->view = view;
	a->max = max_procs;
	for (a->nbuckets = 16; a->nbuckets < 2 * max_procs;)
		a->nbuckets *= 2;
	a->nodes = calloc(max_procs, sizeof(*a->nodes));
	a->buckets = calloc(a->nbuckets, sizeof(*a->buckets));
	if (!a->nodes || !a->buckets) {
		saker_attrib_free(a);
		return -ENOMEM;
	}
	a->agg = calloc(SAKER_ATTRIB_WINDOW_CONTAINERS + 1, sizeof(*a->agg));
	if (!a->agg) {
		saker_attrib_free(a);
		return -ENOMEM;
	}
	a->rng = 0x2545f4914f6cdd1dull;
	reset_window(a);
	*out = a;
	return 0;
}

void saker_attrib_free(struct saker_attrib *a)
{
	if (!a)
		return;
	free(a->nodes);
	free(a->buckets);
	free(a->agg);
	free(a);
}

void saker_attrib_set_kernel_loss(struct saker_attrib *a, bool on)
{
	if (a)
		a->kernel_loss = on;
}

/* The newest entry of pid, of the process that started at start_ns when both know it. */
/*
 * The same process start? The view may know it from /proc (clock ticks, 10 ms
 * apart), the probe from the task (ns): within two ticks is the same one.
 * 0 is unknown and matches anything.
 */
#define START_SLACK_NS (20ull * 1000 * 1000)
static bool same_start(uint64_t x, uint64_t y)
{
	if (!x || !y)
		return true;
	return (x > y ? x - y : y - x) <= START_SLACK_NS;
}

static struct node *find(struct saker_attrib *a, uint32_t pid, uint64_t start_ns)
{
	for (uint32_t i = a->buckets[bucket_of(a, pid)]; i != NIL; i = a->nodes[i].next) {
		struct node *n = &a->nodes[i];

		if (n->p.pid != pid)
			continue;
		if (!same_start(start_ns, n->p.start_ns))
			continue;
		return n;
	}
	return NULL;
}

static uint64_t weight(const struct node *n)
{
	return n->p.received + n->p.lost + n->p.demoted;
}

static void unlink_node(struct saker_attrib *a, uint32_t idx)
{
	uint32_t *pp = &a->buckets[bucket_of(a, a->nodes[idx].p.pid)];

	while (*pp != NIL && *pp != idx)
		pp = &a->nodes[*pp].next;
	if (*pp == idx)
		*pp = a->nodes[idx].next;
}

static uint32_t evict(struct saker_attrib *a)
{
	uint32_t best = NIL;

	for (int k = 0; k < EVICT_SAMPLES; k++) {
		uint32_t i;

		a->rng ^= a->rng << 13;
		a->rng ^= a->rng >> 7;
		a->rng ^= a->rng << 17;
		i = (uint32_t)(a->rng % a->used);
		if (best == NIL || weight(&a->nodes[i]) < weight(&a->nodes[best]))
			best = i;
	}
	unlink_node(a, best);
	a->win_evictions++;
	a->st.evictions++;
	return best;
}

/* The container's name and pod from the view's cache (the container may outlive the process). */
static void fill_container(struct saker_attrib *a, const char *id, char *name, char *pod_name,
			   char *pod_ns)
{
	const struct saker_container *m;

	if (!a->view || !id[0] || !strcmp(id, "host"))
		return;
	m = saker_containers_peek(saker_view_containers(a->view), id);
	if (!m)
		return;
	if (m->name)
		snprintf(name, SAKER_ATTRIB_NAME_LEN, "%s", m->name);
	if (m->pod_name)
		snprintf(pod_name, SAKER_ATTRIB_NAME_LEN, "%s", m->pod_name);
	if (m->pod_ns)
		snprintf(pod_ns, SAKER_ATTRIB_NAME_LEN, "%s", m->pod_ns);
}

static void fill_from_view(struct saker_attrib *a, struct saker_attrib_proc *p, bool fresh)
{
	const struct saker_proc *v;

	if (!a->view)
		return;
	v = saker_view_proc(a->view, p->pid);
	/* Another process took the pid since: keep what was known of this one. */
	if (v && (fresh || same_start(p->start_ns, v->start_ns))) {
		if (fresh)
			p->start_ns = v->start_ns;
		p->uid = v->uid;
		snprintf(p->comm, sizeof(p->comm), "%s", v->comm);
		if (v->exe[0])
			snprintf(p->exe, sizeof(p->exe), "%s", v->exe);
		if (v->container_id[0])
			snprintf(p->container_id, sizeof(p->container_id), "%s", v->container_id);
	}
	if (!fresh)
		fill_container(a, p->container_id, p->container_name, p->pod_name, p->pod_ns);
}

static struct node *insert(struct saker_attrib *a, uint32_t pid, uint64_t start_ns)
{
	uint32_t idx;
	struct node *n;
	size_t b;

	if (a->used < a->max)
		idx = (uint32_t)a->used++;
	else
		idx = evict(a);
	n = &a->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->p.pid = pid;
	n->p.uid = SAKER_UID_UNSET;
	n->p.start_ns = start_ns;
	fill_from_view(a, &n->p, !start_ns);
	b = bucket_of(a, pid);
	n->next = a->buckets[b];
	a->buckets[b] = idx;
	return n;
}

void saker_attrib_note(struct saker_attrib *a, const struct saker_evt_hdr *e)
{
	struct node *n;

	if (!a || !e)
		return;
	a->st.events++;
	n = find(a, e->tgid, 0);
	if (!n || n->ended)
		n = insert(a, e->tgid, 0);
	n->p.received++;
	if (e->type == SAKER_EVT_PROC_EXIT && e->tid == e->tgid)
		n->ended = true;
}

static struct node *entry_for(struct saker_attrib *a, uint32_t pid, uint64_t start_ns)
{
	struct node *n = find(a, pid, start_ns);

	return n ? n : insert(a, pid, start_ns);
}

void saker_attrib_add_lost(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t n)
{
	if (a && n)
		entry_for(a, pid, start_ns)->p.lost += n;
}

void saker_attrib_add_demoted(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t n)
{
	if (a && n)
		entry_for(a, pid, start_ns)->p.demoted += n;
}

void saker_attrib_add_kernel(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t lost,
			     uint64_t demoted, uint32_t uid, const char *comm)
{
	struct node *n;

	if (!a || (!lost && !demoted))
		return;
	n = entry_for(a, pid, start_ns);
	n->p.lost += lost;
	n->p.demoted += demoted;
	if (n->p.uid == SAKER_UID_UNSET)
		n->p.uid = uid;
	/* The probe's comm is bounded but may lack its NUL. */
	if (!n->p.comm[0] && comm)
		snprintf(n->p.comm, sizeof(n->p.comm), "%.*s", (int)SAKER_PROC_COMM_LEN - 1, comm);
}

/* Whether x ranks before y: more lost, then more produced, then the lower pid. */
static bool ranks_before(const struct saker_attrib_proc *x, const struct saker_attrib_proc *y)
{
	if (x->lost != y->lost)
		return x->lost > y->lost;
	if (x->produced != y->produced)
		return x->produced > y->produced;
	return x->pid < y->pid;
}

static bool ctr_ranks_before(const struct saker_attrib_container *x,
			     const struct saker_attrib_container *y)
{
	if (x->lost != y->lost)
		return x->lost > y->lost;
	if (x->demoted != y->demoted)
		return x->demoted > y->demoted;
	return x->received + x->lost > y->received + y->lost;
}

static struct saker_attrib_container *agg_of(struct saker_attrib *a, const char *id)
{
	for (size_t i = 0; i < a->n_agg; i++)
		if (!strcmp(a->agg[i].id, id))
			return &a->agg[i];
	if (a->n_agg < SAKER_ATTRIB_WINDOW_CONTAINERS) {
		struct saker_attrib_container *c = &a->agg[a->n_agg++];

		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", id);
		return c;
	}
	/* past the bound: one "other" entry, kept after the named ones */
	if (strcmp(a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS].id, "other")) {
		memset(&a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS], 0, sizeof(*a->agg));
		snprintf(a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS].id, sizeof(a->agg->id), "other");
	}
	return &a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS];
}

/* The cumulative entry /metrics names a container by: its own, or "other" past the bound. */
static struct saker_attrib_container *cum_of(struct saker_attrib *a,
					     const struct saker_attrib_container *c)
{
	for (size_t i = 0; i < a->n_cum; i++)
		if (!strcmp(a->cum[i].id, c->id))
			return &a->cum[i];
	if (a->n_cum < SAKER_ATTRIB_METRIC_CONTAINERS && strcmp(c->id, "other")) {
		struct saker_attrib_container *n = &a->cum[a->n_cum++];

		*n = *c;
		n->lost = n->demoted = n->received = n->processes = 0;
		fill_container(a, n->id, n->name, n->pod_name, n->pod_ns);
		return n;
	}
	snprintf(a->cum[SAKER_ATTRIB_METRIC_CONTAINERS].id, sizeof(a->cum->id), "other");
	return &a->cum[SAKER_ATTRIB_METRIC_CONTAINERS];
}

/* The window's processes summed by container: its top list, and the counters /metrics shows. */
static void close_containers(struct saker_attrib *a, struct saker_attrib_window *w)
{
	bool other_used = false;

	a->n_agg = 0;
	a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS].id[0] = '\0';
	for (size_t i = 0; i < a->used; i++) {
		const struct saker_attrib_proc *p = &a->nodes[i].p;
		struct saker_attrib_container *c;

		if (!p->received && !p->lost && !p->demoted)
			continue;
		c = agg_of(a, p->container_id);
		other_used |= c == &a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS];
		c->processes++;
		c->received += p->received;
		c->lost += p->lost;
		c->demoted += p->demoted;
	}
	for (size_t i = 0; i < a->n_agg + (other_used ? 1 : 0); i++) {
		struct saker_attrib_container *c =
		    i < a->n_agg ? &a->agg[i] : &a->agg[SAKER_ATTRIB_WINDOW_CONTAINERS];
		size_t k;

		if (c->lost || c->demoted) {
			struct saker_attrib_container *m = cum_of(a, c);

			m->lost += c->lost;
			m->demoted += c->demoted;
		}
		if (w->lost_known && !c->lost && !c->demoted)
			continue;
		for (k = w->n_top_containers;
		     k > 0 && ctr_ranks_before(c, &w->top_containers[k - 1]); k--)
			if (k < SAKER_ATTRIB_TOP)
				w->top_containers[k] = w->top_containers[k - 1];
		if (k < SAKER_ATTRIB_TOP) {
			w->top_containers[k] = *c;
			if (w->n_top_containers < SAKER_ATTRIB_TOP)
				w->n_top_containers++;
		}
	}
	for (size_t k = 0; k < w->n_top_containers; k++) {
		struct saker_attrib_container *c = &w->top_containers[k];

		fill_container(a, c->id, c->name, c->pod_name, c->pod_ns);
	}
}

void saker_attrib_close(struct saker_attrib *a, struct saker_attrib_window *w)
{
	saker_attrib_close_each(a, w, NULL, NULL);
}

void saker_attrib_close_each(struct saker_attrib *a, struct saker_attrib_window *w,
			     saker_attrib_each_fn each_lost, void *ctx)
{
	struct saker_attrib_window tmp;

	if (!a)
		return;
	if (!w)
		w = &tmp;
	memset(w, 0, sizeof(*w));
	w->lost_known = a->kernel_loss;
	w->n_procs = a->used;
	w->untracked = a->win_untracked;
	w->evictions = a->win_evictions;
	for (size_t i = 0; i < a->used; i++) {
		struct saker_attrib_proc *p = &a->nodes[i].p;
		size_t k;

		p->produced = p->received + p->lost;
		if (each_lost && p->lost)
			each_lost(ctx, p);
		w->received += p->received;
		w->lost += p->lost;
		w->demoted += p->demoted;
		if (p->demoted > w->top_demoted.demoted)
			w->top_demoted = *p;
		/* Insertion into the short sorted top list. */
		for (k = w->n_top; k > 0 && ranks_before(p, &w->top[k - 1]); k--)
			if (k < SAKER_ATTRIB_TOP)
				w->top[k] = w->top[k - 1];
		if (k < SAKER_ATTRIB_TOP) {
			w->top[k] = *p;
			if (w->n_top < SAKER_ATTRIB_TOP)
				w->n_top++;
		}
	}
	for (size_t k = 0; k < w->n_top; k++)
		fill_from_view(a, &w->top[k], false);
	if (w->top_demoted.demoted)
		fill_from_view(a, &w->top_demoted, false);
	close_containers(a, w);
	a->st.windows++;
	a->st.untracked += a->win_untracked;
	reset_window(a);
}

void saker_attrib_get_stats(const struct saker_attrib *a, struct saker_attrib_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (a)
		*st = a->st;
}

void saker_attrib_add_metrics(const struct saker_attrib *a, struct saker_metrics *m)
{
	struct saker_attrib_stats st;

	saker_attrib_get_stats(a, &st);
	(void)saker_metrics_add_u64(m, "attribution_evictions_total",
				    "Processes evicted from a window's attribution table.",
				    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, st.evictions, NULL,
				    0);
	(void)saker_metrics_add_u64(m, "attribution_untracked_total",
				    "Events counted to no process.", SAKER_METRIC_COUNTER,
				    SAKER_METRIC_F_DETAIL, st.untracked, NULL, 0);
	/* the named containers, then "other" (always: the families exist from the start) */
	for (size_t i = 0; a && i <= a->n_cum; i++) {
		const struct saker_attrib_container *c =
		    i < a->n_cum ? &a->cum[i] : &a->cum[SAKER_ATTRIB_METRIC_CONTAINERS];
		char pod[2 * SAKER_ATTRIB_NAME_LEN + 2];
		struct saker_metric_label l[2] = {{"container", i == a->n_cum ? "other"
								: c->id[0]    ? c->id
									      : "unknown"},
						  {"pod", pod}};

		snprintf(pod, sizeof(pod), "%s%s%s", c->pod_ns, c->pod_name[0] ? "/" : "",
			 c->pod_name);
		(void)saker_metrics_add_u64(
		    m, "container_events_lost_total",
		    "Events lost by container (the first containers that lost; the rest as other).",
		    SAKER_METRIC_COUNTER, 0, c->lost, l, 2);
		(void)saker_metrics_add_u64(
		    m, "container_events_demoted_total",
		    "Events demoted to the bulk lane by container (bounded as lost).",
		    SAKER_METRIC_COUNTER, 0, c->demoted, l, 2);
	}
}

void saker_attrib_human(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "kMGTPE";
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(buf, len, "%" PRIu64, n);
		return;
	}
	while (v >= 999.5 && u < 5) {
		v /= 1000;
		u++;
	}
	/* 1.2M, 12.3k, 990k: a decimal only while it says something. */
	if (v < 99.95)
		snprintf(buf, len, "%.1f%c", v, units[u]);
	else
		snprintf(buf, len, "%.0f%c", v, units[u]);
}
