#include "state/proctable_int.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ctrmatch.h"
#include "lib/list.h"

/* ---- container id ---- */

void saker_container_id_from_cgroup(const char *cgroup, size_t len,
				    char out[SAKER_CONTAINER_ID_LEN + 1])
{
	struct saker_ctr_match m;

	saker_ctr_match_proc(cgroup, len, &m);
	memcpy(out, m.id, SAKER_CONTAINER_ID_LEN + 1);
}

/* ---- images ---- */

static size_t bounded_len(const char *s)
{
	return s ? strnlen(s, PATH_MAX - 1) : 0;
}

/*
 * cgroup_len bounds cgroup (not NUL-terminated when it points into a file
 * buffer). container_id NULL = derive it from cgroup. One reference, the
 * caller's.
 */
struct proc_image *pt_image_new(struct saker_proctable *tbl, const char *exe, const char *args,
				size_t args_len, const char *cwd, const char *cgroup,
				size_t cgroup_len, const char *container_id)
{
	size_t exe_len = bounded_len(exe), cwd_len = bounded_len(cwd);
	size_t keep = args_len < SAKER_PROC_ARGS_MAX ? args_len : SAKER_PROC_ARGS_MAX;
	bool truncated = args_len > SAKER_PROC_ARGS_MAX;
	size_t alen, size;
	struct proc_image *img;
	char *p;

	if (!args)
		keep = 0;
	cgroup_len =
	    cgroup ? strnlen(cgroup, cgroup_len < PATH_MAX - 1 ? cgroup_len : PATH_MAX - 1) : 0;
	/* argv must end in NUL: append one, or give up the last byte when full. */
	alen = keep;
	if (keep && args[keep - 1] != '\0') {
		alen = keep < SAKER_PROC_ARGS_MAX ? keep + 1 : keep;
		truncated |= alen == keep;
	}
	size = sizeof(*img) + exe_len + 1 + alen + 1 + cwd_len + 1 + cgroup_len + 1;
	img = malloc(size);
	if (!img)
		return NULL;
	memset(img, 0, sizeof(*img));
	img->refs = 1;
	img->bytes = size;
	img->args_truncated = truncated;
	p = img->data;

	img->exe = p;
	memcpy(p, exe ? exe : "", exe_len);
	p[exe_len] = '\0';
	p += exe_len + 1;

	img->args = p;
	if (alen) {
		memcpy(p, args, keep);
		p[alen - 1] = '\0';
	}
	img->args_len = alen;
	for (size_t i = 0; i < alen; i++)
		img->argc += p[i] == '\0';
	p[alen] = '\0'; /* args_len == 0 still reads as "" */
	p += alen + 1;

	img->cwd = p;
	memcpy(p, cwd ? cwd : "", cwd_len);
	p[cwd_len] = '\0';
	p += cwd_len + 1;

	img->cgroup = p;
	if (cgroup_len)
		memcpy(p, cgroup, cgroup_len);
	p[cgroup_len] = '\0';

	if (container_id)
		snprintf(img->container_id, sizeof(img->container_id), "%s", container_id);
	else
		saker_container_id_from_cgroup(img->cgroup, cgroup_len, img->container_id);
	tbl->data_bytes += size;
	tbl->images++;
	return img;
}

void pt_image_put(struct saker_proctable *tbl, struct proc_image *img)
{
	if (!img || --img->refs)
		return;
	tbl->data_bytes -= img->bytes;
	tbl->images--;
	free(img);
}

void pt_set_image(struct saker_proctable *tbl, struct pt_entry *e, struct proc_image *img)
{
	img->refs++;
	pt_image_put(tbl, e->img);
	e->img = img;
	e->pub.exe = img->exe;
	e->pub.args = img->args;
	e->pub.args_len = img->args_len;
	e->pub.argc = img->argc;
	e->pub.cwd = img->cwd;
	e->pub.cgroup = img->cgroup;
	e->pub.container_id = img->container_id;
	if (img->args_truncated)
		e->pub.flags |= SAKER_PROC_ARGS_TRUNCATED;
	else
		e->pub.flags &= ~(uint32_t)SAKER_PROC_ARGS_TRUNCATED;
}

/* ---- entries ---- */

#define LRU_ENTRY(n) saker_list_entry(n, struct pt_entry, lru)

void pt_touch(struct saker_proctable *tbl, struct pt_entry *e)
{
	saker_list_touch(&tbl->lru, &e->lru);
}

static void group_join(struct saker_proctable *tbl, struct pt_entry *e)
{
	struct pt_entry *l;

	if (e->pub.tid == e->pub.pid) {
		e->nthreads = 1;
		return;
	}
	l = saker_idmap_get(&tbl->map, e->pub.pid);
	if (l)
		l->nthreads++;
}

static void group_leave(struct saker_proctable *tbl, struct pt_entry *e)
{
	struct pt_entry *l;

	if (e->pub.tid == e->pub.pid)
		return;
	l = saker_idmap_get(&tbl->map, e->pub.pid);
	/* Threads known before their leader was are not in its count. */
	if (l && l->nthreads > 1)
		l->nthreads--;
}

static void entry_remove(struct saker_proctable *tbl, struct pt_entry *e)
{
	group_leave(tbl, e);
	saker_idmap_del(&tbl->map, e->pub.tid);
	saker_list_unlink(&tbl->lru, &e->lru);
	pt_image_put(tbl, e->img);
	tbl->data_bytes -= sizeof(*e);
	tbl->n--;
	free(e);
}

void pt_enforce_bounds(struct saker_proctable *tbl, const struct pt_entry *keep)
{
	while (tbl->n > tbl->max || tbl->data_bytes > tbl->max_bytes) {
		struct pt_entry *v = LRU_ENTRY(tbl->lru.tail);

		if (v == keep)
			v = LRU_ENTRY(v->lru.prev);
		if (!v)
			break;
		entry_remove(tbl, v);
		tbl->evictions++;
	}
}

/* ---- history ---- */

/* Versions of one tid kept at most: one thread's setuid storm evicts its own. */
#define HIST_PER_TID 8

#define HIST_ENTRY(n) saker_list_entry(n, struct pt_entry, lru)
/* Tids remembered with an early eviction (a hint for the cause of a miss); past it, forgotten. */
#define HIST_EVICTED_TIDS 4096

static size_t hist_cost(const struct pt_entry *e)
{
	return sizeof(*e) + e->img->bytes;
}

/* Unlinks and frees a history version; early: before the watermark passed it. */
static void hist_drop(struct saker_proctable *tbl, struct pt_entry *h, bool early)
{
	struct pt_entry *head = saker_idmap_get(&tbl->hist, h->pub.tid);

	if (head == h) {
		if (h->older)
			(void)saker_idmap_put(&tbl->hist, h->pub.tid, h->older);
		else
			saker_idmap_del(&tbl->hist, h->pub.tid);
	} else {
		for (struct pt_entry *p = head; p; p = p->older)
			if (p->older == h) {
				p->older = h->older;
				break;
			}
	}
	if (early && h->until_ns >= tbl->watermark) {
		void *prev = saker_idmap_get(&tbl->evicted, h->pub.tid);

		tbl->hist_evicted++;
		/* Which tids lost a version, and until when: the cause of a later miss. */
		if (tbl->evicted.n >= HIST_EVICTED_TIDS) {
			saker_idmap_free(&tbl->evicted);
			saker_idmap_init(&tbl->evicted);
			prev = NULL;
		}
		if (!prev || (uint64_t)(uintptr_t)prev < (h->until_ns | 1))
			(void)saker_idmap_put(&tbl->evicted, h->pub.tid,
					      (void *)(uintptr_t)(h->until_ns | 1));
	} else {
		tbl->hist_expired++;
	}
	saker_list_unlink(&tbl->hist_fifo, &h->lru);
	tbl->hist_bytes -= hist_cost(h);
	tbl->hist_n--;
	pt_image_put(tbl, h->img);
	tbl->data_bytes -= sizeof(*h);
	free(h);
}

/*
 * Keeps h (detached from the live table, its image reference its own) as
 * the version of its tid until until_ns. Bounded: the oldest versions go
 * first, counted as evicted while bulk records older than them may still
 * come.
 */
static void hist_push(struct saker_proctable *tbl, struct pt_entry *h, uint64_t until_ns)
{
	struct pt_entry *head = saker_idmap_get(&tbl->hist, h->pub.tid), *p;
	unsigned n = 1;

	h->until_ns = until_ns;
	h->older = head;
	if (saker_idmap_put(&tbl->hist, h->pub.tid, h)) {
		pt_image_put(tbl, h->img);
		tbl->data_bytes -= sizeof(*h);
		free(h);
		return;
	}
	saker_list_push_front(&tbl->hist_fifo, &h->lru);
	tbl->hist_n++;
	tbl->hist_bytes += hist_cost(h);
	tbl->hist_kept++;
	for (p = h; p->older; p = p->older)
		if (++n > HIST_PER_TID) {
			hist_drop(tbl, p->older, true);
			break;
		}
	while ((tbl->hist_n > tbl->hist_max || tbl->hist_bytes > tbl->hist_max_bytes) &&
	       tbl->hist_fifo.tail)
		hist_drop(tbl, HIST_ENTRY(tbl->hist_fifo.tail), true);
}

/* A copy of e's present version into the history, until ts; e holds from ts on. */
void pt_version(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts)
{
	struct pt_entry *h;

	if (!ts)
		return;
	h = malloc(sizeof(*h));
	if (h) {
		*h = *e;
		h->img->refs++;
		tbl->data_bytes += sizeof(*h);
		hist_push(tbl, h, ts);
	}
	e->since_ns = ts;
}

/* Removes e from the live table into the history (ts 0: freed, no history). */
void pt_bury(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts)
{
	if (!ts) {
		entry_remove(tbl, e);
		return;
	}
	group_leave(tbl, e);
	saker_idmap_del(&tbl->map, e->pub.tid);
	saker_list_unlink(&tbl->lru, &e->lru);
	tbl->n--;
	hist_push(tbl, e, ts);
}

void saker_proctable_set_watermark(struct saker_proctable *tbl, uint64_t ts_ns)
{
	if (!tbl || ts_ns <= tbl->watermark)
		return;
	tbl->watermark = ts_ns;
	/* Oldest first; one not yet passed stops the sweep (the next call goes on). */
	while (tbl->hist_fifo.tail && HIST_ENTRY(tbl->hist_fifo.tail)->until_ns < ts_ns)
		hist_drop(tbl, HIST_ENTRY(tbl->hist_fifo.tail), false);
}

const struct saker_proc *saker_proctable_lookup_at(struct saker_proctable *tbl, uint32_t tid,
						   uint64_t ts_ns, enum saker_proc_ctx *ctx)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid), *h;
	enum saker_proc_ctx c;

	tbl->lookups++;
	if (e && (!ts_ns || e->since_ns <= ts_ns)) {
		pt_touch(tbl, e);
		c = SAKER_PROC_CTX_LIVE;
		goto out;
	}
	/* Newest first: the first version that ended after ts and began before it. */
	for (h = saker_idmap_get(&tbl->hist, tid); h && h->until_ns >= ts_ns; h = h->older)
		if (h->since_ns <= ts_ns) {
			tbl->hist_hits++;
			c = SAKER_PROC_CTX_HISTORY;
			if (ctx)
				*ctx = c;
			return &h->pub;
		}
	/*
	 * A live version that began just after ts with no history before it: a
	 * record stamped with its CPU's cached clock (generic records, up to a
	 * tick early) of a task forked or exec'd meanwhile. Its own.
	 */
	if (e && e->since_ns <= ts_ns + SAKER_PROC_CLOCK_SLACK_NS) {
		pt_touch(tbl, e);
		c = SAKER_PROC_CTX_LIVE;
		goto out;
	}
	tbl->failed_lookups++;
	{
		uint64_t ev = (uint64_t)(uintptr_t)saker_idmap_get(&tbl->evicted, tid);

		c = ev && ts_ns <= ev	     ? SAKER_PROC_CTX_EVICTED
		    : ts_ns < tbl->watermark ? SAKER_PROC_CTX_LATE
					     : SAKER_PROC_CTX_UNKNOWN;
	}
	e = NULL;
out:
	if (ctx)
		*ctx = c;
	return e ? &e->pub : NULL;
}

void saker_proctable_count_missing(struct saker_proctable *tbl, enum saker_proc_ctx ctx)
{
	if (tbl && ctx >= SAKER_PROC_CTX_EVICTED && ctx < SAKER_PROC_CTX_CAUSES)
		tbl->ctx_missing[ctx]++;
}

/*
 * The entry for tid in process pid, with image img, most recently used.
 * Fields other than tid, pid and the image's are the caller's to set. May
 * evict others: the caller holds no other entry pointer across it.
 */
struct pt_entry *pt_entry_upsert(struct saker_proctable *tbl, uint32_t tid, uint32_t pid,
				 struct proc_image *img)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	/* A tid reused by another process: its exit was missed. */
	if (e && e->pub.pid != pid) {
		entry_remove(tbl, e);
		e = NULL;
	}
	if (e) {
		pt_set_image(tbl, e, img);
		pt_touch(tbl, e);
		pt_enforce_bounds(tbl, e);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	if (saker_idmap_put(&tbl->map, tid, e)) {
		free(e);
		return NULL;
	}
	e->pub.tid = tid;
	e->pub.pid = pid;
	pt_set_image(tbl, e, img);
	saker_list_push_front(&tbl->lru, &e->lru);
	group_join(tbl, e);
	tbl->n++;
	tbl->data_bytes += sizeof(*e);
	pt_enforce_bounds(tbl, e);
	return e;
}

/* ---- table ---- */

int saker_proctable_new_opts(struct saker_proctable **out, const struct saker_proctable_opts *o)
{
	static const struct saker_proctable_opts defaults;
	struct saker_proctable *tbl;
	int err;

	*out = NULL;
	if (!o)
		o = &defaults;
	if (o->max_procs == 1)
		return -EINVAL;
	tbl = calloc(1, sizeof(*tbl));
	if (!tbl)
		return -ENOMEM;
	saker_idmap_init(&tbl->map);
	saker_idmap_init(&tbl->hist);
	saker_idmap_init(&tbl->evicted);
	tbl->hist_max = o->max_history ? o->max_history : SAKER_PROCTABLE_DEFAULT_MAX_HISTORY;
	tbl->hist_max_bytes = SAKER_PROCTABLE_DEFAULT_MAX_HISTORY_BYTES;
	tbl->max = o->max_procs ? o->max_procs : SAKER_PROCTABLE_DEFAULT_MAX;
	tbl->max_bytes = o->max_bytes ? o->max_bytes : SAKER_PROCTABLE_DEFAULT_MAX_BYTES;
	tbl->clk_tck = sysconf(_SC_CLK_TCK);
	if (tbl->clk_tck <= 0)
		tbl->clk_tck = 100;
	tbl->proc_root = strdup(o->proc_root ? o->proc_root : "/proc");
	if (!tbl->proc_root) {
		err = -ENOMEM;
		goto err;
	}
	err = saker_fdtable_new(&tbl->fds, o->max_fds, o->max_fds_per_proc, o->max_fd_bytes);
	if (err)
		goto err;
	*out = tbl;
	return 0;
err:
	saker_proctable_free(tbl);
	return err;
}

int saker_proctable_new(struct saker_proctable **out, size_t max_procs, const char *proc_root)
{
	struct saker_proctable_opts o = {.max_procs = max_procs, .proc_root = proc_root};

	return saker_proctable_new_opts(out, &o);
}

void saker_proctable_free(struct saker_proctable *tbl)
{
	struct pt_entry *e, *next;

	if (!tbl)
		return;
	for (e = LRU_ENTRY(tbl->lru.head); e; e = next) {
		next = LRU_ENTRY(e->lru.next);
		pt_image_put(tbl, e->img);
		free(e);
	}
	while (tbl->hist_fifo.tail)
		hist_drop(tbl, HIST_ENTRY(tbl->hist_fifo.tail), false);
	saker_idmap_free(&tbl->hist);
	saker_idmap_free(&tbl->evicted);
	saker_idmap_free(&tbl->map);
	saker_fdtable_free(tbl->fds);
	free(tbl->proc_root);
	free(tbl->sb);
	free(tbl);
}

struct saker_fdtable *saker_proctable_fds(struct saker_proctable *tbl)
{
	return tbl->fds;
}

const struct saker_proc *saker_proctable_lookup(struct saker_proctable *tbl, uint32_t tid)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	tbl->lookups++;
	if (!e) {
		tbl->failed_lookups++;
		return NULL;
	}
	pt_touch(tbl, e);
	return &e->pub;
}

const struct saker_proc *saker_proctable_peek(const struct saker_proctable *tbl, uint32_t tid)
{
	const struct pt_entry *e = tbl ? saker_idmap_get(&tbl->map, tid) : NULL;

	return e ? &e->pub : NULL;
}

size_t saker_proctable_tids(const struct saker_proctable *tbl, uint32_t *out, size_t max)
{
	size_t n = 0;

	for (const struct saker_list_node *l = tbl->lru.head; l && n < max; l = l->next) {
		const struct pt_entry *e = saker_list_entry(l, const struct pt_entry, lru);

		/* cppcheck-suppress nullPointer ; l is not NULL in the loop, nor then e */
		out[n++] = e->pub.tid;
	}
	return n;
}

void saker_proctable_get_stats(const struct saker_proctable *tbl, struct saker_proctable_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->entries = tbl->n;
	st->max_entries = tbl->max;
	st->images = tbl->images;
	st->bytes = sizeof(*tbl) + tbl->data_bytes + saker_idmap_bytes(&tbl->map) +
		    (tbl->sb ? sizeof(*tbl->sb) : 0);
	st->max_bytes = tbl->max_bytes;
	st->evictions = tbl->evictions;
	st->lookups = tbl->lookups;
	st->failed_lookups = tbl->failed_lookups;
	st->scanned = tbl->scanned;
	st->scan_skipped = tbl->scan_skipped;
	st->load_zombies = tbl->load_zombies;
	st->load_replaced = tbl->load_replaced;
	st->load_kept = tbl->load_kept;
	st->load_unconfirmed = tbl->load_unconfirmed;
	st->iter_procs = tbl->iter_procs;
	st->iter_fds = tbl->iter_fds;
	st->iter_errors = tbl->iter_errors;
	st->history = tbl->hist_n;
	st->history_bytes = tbl->hist_bytes;
	st->history_kept = tbl->hist_kept;
	st->history_expired = tbl->hist_expired;
	st->history_evicted = tbl->hist_evicted;
	st->history_hits = tbl->hist_hits;
	st->bytes += saker_idmap_bytes(&tbl->hist) + saker_idmap_bytes(&tbl->evicted);
	for (int i = 0; i < SAKER_PROC_CTX_CAUSES; i++)
		st->ctx_missing[i] = tbl->ctx_missing[i];
}

int saker_proc_args_join(const struct saker_proc *p, unsigned first, char *buf, size_t len)
{
	size_t out = 0, i = 0;
	unsigned idx = 0;

	if (len)
		buf[0] = '\0';
	while (i < p->args_len) {
		size_t alen = strnlen(p->args + i, p->args_len - i);

		if (idx++ >= first) {
			if (out && out < len)
				buf[out] = ' ';
			out += out ? 1 : 0;
			for (size_t k = 0; k < alen; k++, out++)
				if (out < len)
					buf[out] = p->args[i + k];
		}
		i += alen + 1;
	}
	if (len)
		buf[out < len ? out : len - 1] = '\0';
	return out > INT_MAX ? INT_MAX : (int)out;
}

/* ---- record and replay ---- */

int saker_proctable_foreach(const struct saker_proctable *tbl, saker_proctable_each_fn fn,
			    void *ctx)
{
	for (struct saker_list_node *n = tbl->lru.tail; n; n = n->prev) {
		int ret = fn(ctx, &LRU_ENTRY(n)->pub);

		if (ret)
			return ret;
	}
	return 0;
}

int saker_proctable_restore(struct saker_proctable *tbl, const struct saker_proc *p)
{
	const char *cg = p->cgroup ? p->cgroup : "";
	struct proc_image *img;
	struct pt_entry *e;
	uint32_t truncated;

	if (!p->tid || !p->pid)
		return -EINVAL;
	img = pt_image_new(tbl, p->exe, p->args, p->args ? p->args_len : 0, p->cwd, cg, strlen(cg),
			   p->container_id ? p->container_id : "");
	if (!img)
		return -ENOMEM;
	/* Truncated at the recording end stays truncated, whatever the copy found. */
	img->args_truncated |= (p->flags & SAKER_PROC_ARGS_TRUNCATED) != 0;
	e = pt_entry_upsert(tbl, p->tid, p->pid, img);
	pt_image_put(tbl, img);
	if (!e)
		return -ENOMEM;
	truncated = e->pub.flags & SAKER_PROC_ARGS_TRUNCATED;
	e->pub.ppid = p->ppid;
	e->pub.uid = p->uid;
	e->pub.gid = p->gid;
	e->pub.euid = p->euid;
	e->pub.egid = p->egid;
	e->pub.loginuid = p->loginuid;
	e->pub.tty = p->tty;
	e->pub.flags = (p->flags & ~(uint32_t)SAKER_PROC_ARGS_TRUNCATED) | truncated;
	e->pub.start_ns = p->start_ns;
	e->pub.cgroup_id = p->cgroup_id;
	e->pub.cap_eff = p->cap_eff;
	memcpy(e->pub.comm, p->comm, sizeof(e->pub.comm));
	e->pub.comm[sizeof(e->pub.comm) - 1] = '\0';
	return 0;
}

_Static_assert(SAKER_CONTAINER_ID_LEN == SAKER_CTR_SHORT_ID_LEN, "one container.id length");
