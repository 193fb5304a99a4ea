#include "state/proctable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ctrmatch.h"
#include "lib/list.h"
#include "lib/privread.h"
#include "lib/procid.h"

#define CGROUP_FILE_MAX 8192
#define STAT_MAX	1024
#define STATUS_MAX	4096

/*
 * What fork copies and exec replaces. Immutable once built: a change (exec,
 * chdir) builds a new image, so sharing needs no copy-on-write bookkeeping.
 */
struct proc_image {
	uint32_t refs;
	uint32_t argc;
	size_t args_len;
	size_t bytes; /* accounted in data_bytes while alive */
	bool args_truncated;
	const char *exe, *args, *cwd, *cgroup;
	char container_id[SAKER_CONTAINER_ID_LEN + 1];
	char data[];
};

struct pt_entry {
	struct saker_proc pub;
	struct saker_list_node lru; /* live: head = most recent; history: head = newest */
	struct proc_image *img;
	uint32_t nthreads;	/* leaders: entries of the group held, itself included */
	uint64_t since_ns;	/* this version holds from (fork, exec, setid time); 0 = unknown */
	uint64_t until_ns;	/* history: held until (exit, exec, setid time) */
	struct pt_entry *older; /* history: the tid's next older version */
};

/* Reads of one process during a scan; on the heap, too big for the stack. */
struct scan_buf {
	char args[SAKER_PROC_ARGS_MAX + 2]; /* one byte more than kept tells truncation */
	char exe[PATH_MAX];
	char cwd[PATH_MAX];
	char cgroup[CGROUP_FILE_MAX];
	char stat[STAT_MAX];
	char status[STATUS_MAX];
};

struct saker_proctable {
	struct saker_idmap map; /* tid -> pt_entry */
	struct saker_list lru;
	size_t n, max, max_bytes;
	size_t data_bytes; /* entries and images */
	size_t images;
	struct saker_fdtable *fds;
	char *proc_root;
	long clk_tck;
	struct scan_buf *sb;
	uint64_t evictions, lookups, failed_lookups, scanned, scan_skipped;
	uint64_t load_zombies, load_replaced, load_kept, load_unconfirmed;
	/*
	 * History (see saker_proctable_lookup_at()): versions replaced or removed
	 * by lane-1 records, kept for records of the bulk lane older than them.
	 */
	struct saker_idmap hist; /* tid -> newest version; ->older chains the rest */
	struct saker_list hist_fifo;
	size_t hist_n, hist_max, hist_bytes, hist_max_bytes;
	uint64_t watermark;	    /* no bulk record older than this is to come */
	struct saker_idmap evicted; /* tid -> (until_ns | 1) of its latest early-evicted version */
	uint64_t hist_kept, hist_expired, hist_evicted, hist_hits;
	uint64_t ctx_missing[SAKER_PROC_CTX_CAUSES];
};

/* ---- container id ---- */

void saker_container_id_from_cgroup(const char *cgroup, size_t len,
				    char out[SAKER_CONTAINER_ID_LEN + 1])
{
	struct saker_ctr_match m;

	saker_ctr_match_proc(cgroup, len, &m);
	memcpy(out, m.id, SAKER_CONTAINER_ID_LEN + 1);
}

/* The cgroup v2 ("0::") line's path, else the first line's. */
static void cgroup_display_path(const char *content, const char **path, size_t *plen)
{
	size_t len = strlen(content), i = 0;
	bool first = true;

	*path = "";
	*plen = 0;
	while (i < len) {
		const char *nl = memchr(content + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - content) : len;

		if (end > i && (first || !strncmp(content + i, "0::", 3))) {
			saker_ctr_line_path(content + i, end - i, path, plen);
			if (!strncmp(content + i, "0::", 3))
				return;
			first = false;
		}
		i = end + 1;
	}
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
static struct proc_image *image_new(struct saker_proctable *tbl, const char *exe, const char *args,
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

static void image_put(struct saker_proctable *tbl, struct proc_image *img)
{
	if (!img || --img->refs)
		return;
	tbl->data_bytes -= img->bytes;
	tbl->images--;
	free(img);
}

static void set_image(struct saker_proctable *tbl, struct pt_entry *e, struct proc_image *img)
{
	img->refs++;
	image_put(tbl, e->img);
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

static void touch(struct saker_proctable *tbl, struct pt_entry *e)
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
	image_put(tbl, e->img);
	tbl->data_bytes -= sizeof(*e);
	tbl->n--;
	free(e);
}

static void enforce_bounds(struct saker_proctable *tbl, const struct pt_entry *keep)
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
	image_put(tbl, h->img);
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
		image_put(tbl, h->img);
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
static void version(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts)
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
static void bury(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts)
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
		touch(tbl, e);
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
		touch(tbl, e);
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
static struct pt_entry *entry_upsert(struct saker_proctable *tbl, uint32_t tid, uint32_t pid,
				     struct proc_image *img)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	/* A tid reused by another process: its exit was missed. */
	if (e && e->pub.pid != pid) {
		entry_remove(tbl, e);
		e = NULL;
	}
	if (e) {
		set_image(tbl, e, img);
		touch(tbl, e);
		enforce_bounds(tbl, e);
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
	set_image(tbl, e, img);
	saker_list_push_front(&tbl->lru, &e->lru);
	group_join(tbl, e);
	tbl->n++;
	tbl->data_bytes += sizeof(*e);
	enforce_bounds(tbl, e);
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
		image_put(tbl, e->img);
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

/* ---- /proc ---- */

/* Up to len - 1 bytes (reads until EOF: /proc hands cmdline out a page at a time). */
static ssize_t read_file(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

/* Through the /proc helper when saker may not read it itself (lib/privread.h). */
static void read_link(int dirfd, const char *name, char *buf, size_t len)
{
	(void)saker_privread_link(dirfd, name, buf, len);
}

/* A decimal number up to the next space or end; false on anything else. */
static bool parse_num(const char **pp, long long *out)
{
	const char *p = *pp;
	bool neg = false;
	unsigned long long v = 0;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (unsigned long long)LLONG_MAX / 10)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > (unsigned long long)LLONG_MAX || (*p && *p != ' ' && *p != '\n'))
		return false;
	*out = neg ? -(long long)v : (long long)v;
	*pp = p;
	return true;
}

struct stat_fields {
	char comm[SAKER_PROC_COMM_LEN];
	char state; /* R, S, D, Z (zombie), X (dead), ... */
	uint32_t ppid;
	uint32_t tty;
	uint64_t kflags; /* the task's PF_* flags */
	uint64_t start_ticks;
};

#define PF_KTHREAD_BIT 0x00200000ull /* include/linux/sched.h's PF_KTHREAD */

/*
 * "tid (comm) state ppid pgrp session tty_nr ... starttime(22) ...". comm
 * may hold spaces and parentheses: it ends at the last ')'.
 */
static int parse_stat(const char *buf, struct stat_fields *sf)
{
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')'), *p;
	size_t clen;

	if (!open || !close || close < open)
		return -EINVAL;
	clen = (size_t)(close - open - 1);
	if (clen > SAKER_PROC_COMM_LEN - 1)
		clen = SAKER_PROC_COMM_LEN - 1;
	memcpy(sf->comm, open + 1, clen);
	sf->comm[clen] = '\0';
	p = close + 1;
	for (int field = 3; field <= 22; field++) {
		long long v;

		while (*p == ' ')
			p++;
		if (field == 3) { /* state: one letter */
			if (!*p || *p == '\n')
				return -EINVAL;
			sf->state = *p;
			while (*p && *p != ' ')
				p++;
			continue;
		}
		if (!parse_num(&p, &v))
			return -EINVAL;
		if (field == 4)
			sf->ppid = (uint32_t)v;
		else if (field == 7)
			sf->tty = (uint32_t)v;
		else if (field == 9)
			sf->kflags = (uint64_t)v;
		else if (field == 22)
			sf->start_ticks = (uint64_t)v;
	}
	return 0;
}

/* The real and effective ids of a "Uid:" or "Gid:" line. */
static void parse_ids(const char *status, const char *key, uint32_t *real, uint32_t *eff)
{
	size_t klen = strlen(key);
	const char *p = status;

	*real = *eff = SAKER_UID_UNSET;
	while (p && *p) {
		if (!strncmp(p, key, klen)) {
			unsigned long long r, e;
			char *end;

			errno = 0;
			r = strtoull(p + klen, &end, 10);
			if (errno || end == p + klen || r > UINT32_MAX)
				return;
			p = end;
			e = strtoull(p, &end, 10);
			if (errno || end == p || e > UINT32_MAX)
				return;
			*real = (uint32_t)r;
			*eff = (uint32_t)e;
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

/* The hex value of a "CapEff:" line; false when there is none. */
static bool parse_caps(const char *status, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		unsigned long long v;
		char *end;

		if (strncmp(p, key, klen))
			continue;
		errno = 0;
		v = strtoull(p + klen, &end, 16);
		if (errno || end == p + klen)
			return false;
		*out = v;
		return true;
	}
	return false;
}

static uint32_t parse_u32(const char *s, uint32_t dflt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v > UINT32_MAX || s[0] == '-')
		return dflt;
	return (uint32_t)v;
}

static uint64_t ticks_to_ns(const struct saker_proctable *tbl, uint64_t ticks)
{
	uint64_t hz = (uint64_t)tbl->clk_tck;

	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}

/*
 * Whether a start time read from /proc (clock ticks, so up to one tick
 * early) and one the table holds (from a fork record, taken a little after
 * the kernel's) name the same task. 0 is unknown: nothing contradicts it.
 */
static bool same_start(const struct saker_proctable *tbl, uint64_t known_ns, uint64_t proc_ns)
{
	uint64_t tol = 2 * (1000000000ull / (uint64_t)tbl->clk_tck) + 10000000ull;

	if (!known_ns || !proc_ns)
		return true;
	return known_ns > proc_ns ? known_ns - proc_ns <= tol : proc_ns - known_ns <= tol;
}

/* What load_pid() learned of the process, for each of its threads. */
struct load_ctx {
	struct proc_image *img;
	uint32_t loginuid;
	uint32_t extra_flags; /* EXITED, UNCONFIRMED */
};

/* One thread from its /proc directory (task/<tid>, or <pid> itself). */
static int load_thread(struct saker_proctable *tbl, uint32_t pid, uint32_t tid, int tdir,
		       const struct load_ctx *lc)
{
	struct scan_buf *sb = tbl->sb;
	struct stat_fields sf = {0};
	struct pt_entry *e;
	uint64_t start;
	bool status_ok, same;

	if (read_file(tdir, "stat", sb->stat, sizeof(sb->stat)) <= 0 || parse_stat(sb->stat, &sf)) {
		tbl->scan_skipped++;
		return -ENOENT;
	}
	status_ok = read_file(tdir, "status", sb->status, sizeof(sb->status)) > 0;
	if (!status_ok)
		sb->status[0] = '\0';
	start = ticks_to_ns(tbl, sf.start_ticks);
	e = saker_idmap_get(&tbl->map, tid);
	same = e && e->pub.pid == pid && same_start(tbl, e->pub.start_ns, start);
	e = entry_upsert(tbl, tid, pid, lc->img);
	if (!e)
		return -ENOMEM;
	/* The same task whose status cannot be read: what the table knew of it stays. */
	if (status_ok || !same) {
		parse_ids(sb->status, "Uid:", &e->pub.uid, &e->pub.euid);
		parse_ids(sb->status, "Gid:", &e->pub.gid, &e->pub.egid);
		e->pub.flags &= ~(uint32_t)SAKER_PROC_CAPS_KNOWN;
		e->pub.cap_eff = 0;
		if (parse_caps(sb->status, "CapEff:", &e->pub.cap_eff))
			e->pub.flags |= SAKER_PROC_CAPS_KNOWN;
	}
	e->pub.ppid = sf.ppid;
	e->pub.tty = sf.tty;
	e->pub.loginuid = lc->loginuid;
	/* A fork record's time is finer than /proc's ticks: kept for the same task. */
	if (!same || !e->pub.start_ns)
		e->pub.start_ns = start;
	if (!same) {
		e->pub.cgroup_id = 0;
		e->since_ns = 0;
	}
	memcpy(e->pub.comm, sf.comm, sizeof(sf.comm));
	e->pub.flags = SAKER_PROC_FROM_SCAN | (e->pub.flags & SAKER_PROC_CAPS_KNOWN) |
		       (lc->img->args_truncated ? SAKER_PROC_ARGS_TRUNCATED : 0) | lc->extra_flags;
	if (sf.state == 'Z' || sf.state == 'X')
		e->pub.flags |= SAKER_PROC_EXITED;
	tbl->scanned++;
	return 0;
}

static int load_threads(struct saker_proctable *tbl, uint32_t pid, int pdir,
			const struct load_ctx *lc)
{
	char name[16];
	struct dirent *de;
	int tasks, tdir, err;
	DIR *dir;

	tasks = openat(pdir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tasks < 0)
		return load_thread(tbl, pid, pid, pdir, lc);
	dir = fdopendir(tasks);
	if (!dir) {
		close(tasks);
		return -ENOMEM;
	}
	/* The leader first, so that it counts the threads that follow. */
	snprintf(name, sizeof(name), "%u", pid);
	tdir = openat(tasks, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0) {
		tbl->scan_skipped++;
		err = -ENOENT;
	} else {
		err = load_thread(tbl, pid, pid, tdir, lc);
		close(tdir);
	}
	if (err) {
		closedir(dir);
		return err;
	}
	while ((de = readdir(dir))) {
		uint32_t tid;

		if (!saker_procid_parse(de->d_name, &tid) || tid == pid)
			continue;
		tdir = openat(tasks, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tdir < 0) {
			tbl->scan_skipped++;
			continue;
		}
		err = load_thread(tbl, pid, tid, tdir, lc);
		close(tdir);
		if (err == -ENOMEM)
			break;
		err = 0;
	}
	closedir(dir);
	return err;
}

/* A readlink into buf; false when it fails or is empty. */
static bool read_link_ok(int dirfd, const char *name, char *buf, size_t len)
{
	read_link(dirfd, name, buf, len);
	return buf[0] != '\0';
}

/*
 * One process. /proc can only improve what the table knows: a process that
 * exited but is not reaped yet (a zombie) has no exe, cmdline or cwd left to
 * read, and a process whose reads fail (gone meanwhile, not ours to read)
 * tells nothing either. So the leader's stat comes first: its start time says
 * whether /proc's process is the one the table holds (a pid reused is not);
 * for the same one, what cannot be read keeps the known value; whatever
 * stays unconfirmed (nothing known, nothing read) is flagged
 * SAKER_PROC_UNCONFIRMED, which the view reports as degraded.
 */
static int load_pid(struct saker_proctable *tbl, int root, uint32_t pid)
{
	char name[32], loginuid_buf[32], cid[SAKER_CONTAINER_ID_LEN + 1];
	struct stat_fields sf = {0};
	struct load_ctx lc = {.loginuid = SAKER_UID_UNSET};
	const struct proc_image *kimg = NULL;
	struct scan_buf *sb;
	struct pt_entry *known;
	const char *cg, *exe, *cwd, *args;
	size_t cglen;
	ssize_t alen;
	bool kthread, zombie, exe_ok, cwd_ok, args_ok, cg_ok;
	int pdir, err;

	if (!tbl->sb) {
		tbl->sb = malloc(sizeof(*tbl->sb));
		if (!tbl->sb)
			return -ENOMEM;
	}
	sb = tbl->sb;
	snprintf(name, sizeof(name), "%u", pid);
	pdir = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pdir < 0) {
		tbl->scan_skipped++;
		return -ENOENT;
	}
	/* /proc has <pid>/stat; test trees may only have the leader's task directory. */
	snprintf(name, sizeof(name), "task/%u/stat", pid);
	if ((read_file(pdir, "stat", sb->stat, sizeof(sb->stat)) <= 0 &&
	     read_file(pdir, name, sb->stat, sizeof(sb->stat)) <= 0) ||
	    parse_stat(sb->stat, &sf)) {
		close(pdir);
		tbl->scan_skipped++;
		return -ENOENT;
	}
	kthread = sf.kflags & PF_KTHREAD_BIT;
	zombie = sf.state == 'Z' || sf.state == 'X';
	known = saker_idmap_get(&tbl->map, pid);
	if (known && (known->pub.pid != pid ||
		      !same_start(tbl, known->pub.start_ns, ticks_to_ns(tbl, sf.start_ticks)))) {
		tbl->load_replaced++;
		known = NULL;
	}
	if (known)
		kimg = known->img;
	if (zombie)
		tbl->load_zombies++;

	/* Kernel threads have no cmdline, exe or cwd: empty strings, not errors. */
	alen = read_file(pdir, "cmdline", sb->args, sizeof(sb->args));
	args_ok = alen > 0;
	if (alen < 0)
		alen = 0;
	exe_ok = read_link_ok(pdir, "exe", sb->exe, sizeof(sb->exe));
	cwd_ok = read_link_ok(pdir, "cwd", sb->cwd, sizeof(sb->cwd));
	cg_ok = read_file(pdir, "cgroup", sb->cgroup, sizeof(sb->cgroup)) > 0;
	if (!cg_ok)
		sb->cgroup[0] = '\0';
	if (read_file(pdir, "loginuid", loginuid_buf, sizeof(loginuid_buf)) > 0)
		lc.loginuid = parse_u32(loginuid_buf, SAKER_UID_UNSET);
	else if (known)
		lc.loginuid = known->pub.loginuid;

	exe = sb->exe;
	cwd = sb->cwd;
	args = sb->args;
	cgroup_display_path(sb->cgroup, &cg, &cglen);
	saker_container_id_from_cgroup(sb->cgroup, sizeof(sb->cgroup), cid);
	if (!kthread && kimg) {
		if (!exe_ok && kimg->exe[0]) {
			exe = kimg->exe;
			exe_ok = true;
			tbl->load_kept++;
		}
		if (!cwd_ok && kimg->cwd[0]) {
			cwd = kimg->cwd;
			cwd_ok = true;
			tbl->load_kept++;
		}
		if (!args_ok && kimg->args_len) {
			args = kimg->args;
			alen = (ssize_t)kimg->args_len;
			args_ok = true;
			tbl->load_kept++;
		}
		if (!cg_ok) {
			cg = kimg->cgroup;
			cglen = strlen(cg);
			snprintf(cid, sizeof(cid), "%s", kimg->container_id);
		}
	}
	if (!kthread && (!exe_ok || !cwd_ok || !args_ok)) {
		lc.extra_flags |= SAKER_PROC_UNCONFIRMED;
		tbl->load_unconfirmed++;
	}
	lc.img = image_new(tbl, exe, args, (size_t)alen, cwd, cg, cglen, cid);
	if (!lc.img) {
		close(pdir);
		return -ENOMEM;
	}
	err = load_threads(tbl, pid, pdir, &lc);
	image_put(tbl, lc.img);
	if (!err) {
		err = saker_fdtable_scan_pid(tbl->fds, pid, pdir);
		/* No fd directory, or not ours to read: the process is still known. */
		if (err && err != -ENOMEM)
			err = 0;
	}
	close(pdir);
	return err;
}

int saker_proctable_load(struct saker_proctable *tbl, uint32_t pid)
{
	int root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (root < 0)
		return -errno;
	err = load_pid(tbl, root, pid);
	close(root);
	return err;
}

int saker_proctable_scan(struct saker_proctable *tbl)
{
	struct dirent *de;
	int root, err = 0;
	DIR *dir;

	root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	dir = fdopendir(root);
	if (!dir) {
		err = -errno;
		close(root);
		return err;
	}
	while ((de = readdir(dir))) {
		uint32_t pid;

		if (!saker_procid_parse(de->d_name, &pid))
			continue;
		err = load_pid(tbl, dirfd(dir), pid);
		if (err == -ENOMEM)
			break;
		err = 0;
	}
	closedir(dir);
	return err;
}

/* ---- events ---- */

int saker_proctable_on_fork(struct saker_proctable *tbl, uint32_t parent_tid, uint32_t child_tid,
			    uint32_t child_pid, uint64_t clone_flags, uint64_t ts_ns)
{
	struct pt_entry *p = saker_idmap_get(&tbl->map, parent_tid), *e;
	bool thread = clone_flags & CLONE_THREAD;
	struct saker_proc pv = {0};
	struct proc_image *img;
	int err = 0;

	if (p) {
		pv = p->pub;
		img = p->img;
		img->refs++;
		touch(tbl, p);
	} else {
		tbl->failed_lookups++;
		/* Nothing to inherit: the container is unknown too, not "host". */
		img = image_new(tbl, NULL, NULL, 0, NULL, NULL, 0, "");
		if (!img)
			return -ENOMEM;
		pv.loginuid = pv.uid = pv.gid = pv.euid = pv.egid = SAKER_UID_UNSET;
	}
	/* p may be evicted from here on: only pv and img are used. */
	e = entry_upsert(tbl, child_tid, child_pid, img);
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	e->pub.ppid = thread || (clone_flags & CLONE_PARENT) ? pv.ppid : pv.pid;
	e->pub.uid = pv.uid;
	e->pub.gid = pv.gid;
	e->pub.euid = pv.euid;
	e->pub.egid = pv.egid;
	e->pub.loginuid = pv.loginuid;
	e->pub.tty = pv.tty;
	e->pub.cgroup_id = pv.cgroup_id;
	e->pub.start_ns = ts_ns;
	e->since_ns = ts_ns;
	memcpy(e->pub.comm, pv.comm, sizeof(pv.comm));
	e->pub.cap_eff = pv.cap_eff;
	e->pub.flags =
	    SAKER_PROC_FORKED |
	    (pv.flags & (SAKER_PROC_EXEC_SEEN | SAKER_PROC_CAPS_KNOWN | SAKER_PROC_UNCONFIRMED)) |
	    (p ? 0 : SAKER_PROC_INCOMPLETE) | (img->args_truncated ? SAKER_PROC_ARGS_TRUNCATED : 0);
	/* Threads share the process's descriptors: they are keyed by pid already. */
	if (!thread) {
		if (p && pv.pid != child_pid)
			err = saker_fdtable_copy_process(tbl->fds, pv.pid, child_pid);
		else
			saker_fdtable_drop_process(tbl->fds, child_pid);
	}
out:
	image_put(tbl, img);
	return err;
}

int saker_proctable_set_cgroup(struct saker_proctable *tbl, uint32_t tid, uint64_t cgroup_id,
			       const char *cgroup)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);
	struct proc_image *img;
	bool truncated;

	if (!cgroup)
		return -EINVAL;
	if (!e)
		return -ENOENT;
	truncated = e->img->args_truncated;
	img = image_new(tbl, e->img->exe, e->img->args, e->img->args_len, e->img->cwd, cgroup,
			strlen(cgroup), NULL);
	if (!img)
		return -ENOMEM;
	img->args_truncated = truncated;
	set_image(tbl, e, img);
	image_put(tbl, img);
	if (cgroup_id)
		e->pub.cgroup_id = cgroup_id;
	return 0;
}

static void basename_comm(const char *exe, char comm[SAKER_PROC_COMM_LEN])
{
	const char *slash = exe ? strrchr(exe, '/') : NULL;
	const char *b = slash ? slash + 1 : (exe ? exe : "");

	snprintf(comm, SAKER_PROC_COMM_LEN, "%s", b);
}

int saker_proctable_on_exec(struct saker_proctable *tbl, const struct saker_exec_info *in)
{
	struct pt_entry *base, *old, *e;
	struct proc_image *bimg = NULL, *img;
	struct saker_proc bv = {0};
	char cidbuf[SAKER_CONTAINER_ID_LEN + 1];
	const char *cg = NULL, *cid = "";
	size_t cglen = 0;
	int err = 0;

	if (!in)
		return -EINVAL;
	base = saker_idmap_get(&tbl->map, in->pid);
	old = in->tid != in->pid ? saker_idmap_get(&tbl->map, in->tid) : NULL;
	if (base && base->pub.pid != in->pid)
		base = NULL;
	if (!base)
		base = old;
	if (base) {
		bv = base->pub;
		bimg = base->img;
		bimg->refs++;
		cg = bimg->cgroup;
		cglen = strlen(cg);
		cid = bimg->container_id;
	} else {
		tbl->failed_lookups++;
	}

	if (in->cgroup) {
		cg = in->cgroup;
		cglen = strlen(cg);
		cid = NULL;
	} else if (in->cgroup_id && in->cgroup_id != bv.cgroup_id) {
		/* Moved to another cgroup (a container runtime does so before exec). */
		char name[32];
		int root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		snprintf(name, sizeof(name), "%u/cgroup", in->pid);
		if (!tbl->sb)
			tbl->sb = malloc(sizeof(*tbl->sb));
		if (root >= 0 && tbl->sb &&
		    read_file(root, name, tbl->sb->cgroup, sizeof(tbl->sb->cgroup)) >= 0) {
			cgroup_display_path(tbl->sb->cgroup, &cg, &cglen);
			saker_container_id_from_cgroup(tbl->sb->cgroup, sizeof(tbl->sb->cgroup),
						       cidbuf);
			cid = cidbuf;
		}
		if (root >= 0)
			close(root);
	}
	/* Neither a known process nor the event tell the container: "", not "host". */
	img = image_new(tbl, in->exe, in->args, in->args_len, in->cwd ? in->cwd : bv.cwd, cg, cglen,
			cid);
	if (!img) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * The exec'ing thread took the leader's tid: its old tid is gone. Both
	 * versions stay for the records older than the exec.
	 */
	if (old)
		bury(tbl, old, in->ts_ns);
	base = saker_idmap_get(&tbl->map, in->pid);
	if (base && base->pub.pid == in->pid)
		version(tbl, base, in->ts_ns);
	e = entry_upsert(tbl, in->pid, in->pid, img);
	image_put(tbl, img);
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	e->pub.ppid = in->ppid ? in->ppid : bv.ppid;
	e->pub.uid = in->uid;
	e->pub.gid = in->gid;
	e->pub.euid = in->euid;
	e->pub.egid = in->egid;
	e->pub.loginuid = in->loginuid;
	e->pub.tty = in->tty;
	e->pub.start_ns = bv.start_ns;
	e->since_ns = in->ts_ns;
	e->pub.cgroup_id = in->cgroup_id ? in->cgroup_id : bv.cgroup_id;
	if (in->comm)
		snprintf(e->pub.comm, sizeof(e->pub.comm), "%s", in->comm);
	else
		basename_comm(in->exe, e->pub.comm);
	e->pub.flags = SAKER_PROC_EXEC_SEEN |
		       (bv.flags & (SAKER_PROC_FROM_SCAN | SAKER_PROC_FORKED)) |
		       (e->img->args_truncated ? SAKER_PROC_ARGS_TRUNCATED : 0) |
		       (in->caps_known ? SAKER_PROC_CAPS_KNOWN : 0);
	e->pub.cap_eff = in->caps_known ? in->cap_eff : 0;
	saker_fdtable_drop_cloexec(tbl->fds, in->pid);
out:
	image_put(tbl, bimg);
	return err;
}

int saker_proctable_on_exit(struct saker_proctable *tbl, uint32_t tid, unsigned flags)
{
	return saker_proctable_on_exit_at(tbl, tid, flags, 0);
}

int saker_proctable_on_exit_at(struct saker_proctable *tbl, uint32_t tid, unsigned flags,
			       uint64_t ts_ns)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid), *l;
	bool dead = flags & SAKER_EXIT_GROUP_DEAD, alive = flags & SAKER_EXIT_GROUP_ALIVE;
	uint32_t pid;

	if (!e) {
		tbl->failed_lookups++;
		return -ENOENT;
	}
	pid = e->pub.pid;
	if (tid == pid) {
		if (dead || (!alive && e->nthreads <= 1)) {
			bury(tbl, e, ts_ns);
			saker_fdtable_drop_process(tbl->fds, pid);
		} else {
			/* A zombie leader: its threads still show the process. */
			e->pub.flags |= SAKER_PROC_EXITED;
		}
		return 0;
	}
	bury(tbl, e, ts_ns);
	l = saker_idmap_get(&tbl->map, pid);
	if (dead || (!alive && l && (l->pub.flags & SAKER_PROC_EXITED) && l->nthreads <= 1)) {
		if (l)
			bury(tbl, l, ts_ns);
		saker_fdtable_drop_process(tbl->fds, pid);
	}
	return 0;
}

int saker_proctable_on_setids(struct saker_proctable *tbl, uint32_t tid, uint32_t uid,
			      uint32_t euid, uint32_t gid, uint32_t egid)
{
	return saker_proctable_on_setids_at(tbl, tid, uid, euid, gid, egid, 0);
}

int saker_proctable_on_setids_at(struct saker_proctable *tbl, uint32_t tid, uint32_t uid,
				 uint32_t euid, uint32_t gid, uint32_t egid, uint64_t ts_ns)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	if (!e) {
		tbl->failed_lookups++;
		return -ENOENT;
	}
	/* Only a change needs the old ids kept (a setuid loop to the same id costs nothing). */
	if ((uid != SAKER_ID_KEEP && uid != e->pub.uid) ||
	    (euid != SAKER_ID_KEEP && euid != e->pub.euid) ||
	    (gid != SAKER_ID_KEEP && gid != e->pub.gid) ||
	    (egid != SAKER_ID_KEEP && egid != e->pub.egid))
		version(tbl, e, ts_ns);
	if (uid != SAKER_ID_KEEP)
		e->pub.uid = uid;
	/*
	 * The kernel clears the effective set when the effective uid leaves 0 and
	 * fills it from the permitted set (which saker does not track) when it
	 * becomes 0 (capabilities(7)).
	 */
	if (euid != SAKER_ID_KEEP && euid != e->pub.euid) {
		if (e->pub.euid == 0) {
			e->pub.cap_eff = 0;
		} else if (euid == 0) {
			e->pub.cap_eff = 0;
			e->pub.flags &= ~(uint32_t)SAKER_PROC_CAPS_KNOWN;
		}
	}
	if (euid != SAKER_ID_KEEP)
		e->pub.euid = euid;
	if (gid != SAKER_ID_KEEP)
		e->pub.gid = gid;
	if (egid != SAKER_ID_KEEP)
		e->pub.egid = egid;
	touch(tbl, e);
	return 0;
}

int saker_proctable_caps_unknown(struct saker_proctable *tbl, uint32_t tid)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	if (!e) {
		tbl->failed_lookups++;
		return -ENOENT;
	}
	e->pub.flags &= ~(uint32_t)SAKER_PROC_CAPS_KNOWN;
	e->pub.cap_eff = 0;
	touch(tbl, e);
	return 0;
}

int saker_proctable_on_chdir(struct saker_proctable *tbl, uint32_t tid, const char *cwd)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid), *l;
	struct proc_image *img, *o;

	if (!e) {
		tbl->failed_lookups++;
		return -ENOENT;
	}
	o = e->img;
	img = image_new(tbl, o->exe, o->args, o->args_len, cwd, o->cgroup, strlen(o->cgroup),
			o->container_id);
	if (!img)
		return -ENOMEM;
	img->args_truncated = o->args_truncated;
	set_image(tbl, e, img);
	touch(tbl, e);
	l = e->pub.tid != e->pub.pid ? saker_idmap_get(&tbl->map, e->pub.pid) : NULL;
	if (l)
		set_image(tbl, l, img);
	image_put(tbl, img);
	enforce_bounds(tbl, e);
	return 0;
}

const struct saker_proc *saker_proctable_lookup(struct saker_proctable *tbl, uint32_t tid)
{
	struct pt_entry *e = saker_idmap_get(&tbl->map, tid);

	tbl->lookups++;
	if (!e) {
		tbl->failed_lookups++;
		return NULL;
	}
	touch(tbl, e);
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
	img = image_new(tbl, p->exe, p->args, p->args ? p->args_len : 0, p->cwd, cg, strlen(cg),
			p->container_id ? p->container_id : "");
	if (!img)
		return -ENOMEM;
	/* Truncated at the recording end stays truncated, whatever the copy found. */
	img->args_truncated |= (p->flags & SAKER_PROC_ARGS_TRUNCATED) != 0;
	e = entry_upsert(tbl, p->tid, p->pid, img);
	image_put(tbl, img);
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
