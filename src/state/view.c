#include "state/view_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "lib/ctrmatch.h"
#include "state/degraded.h"

int saker_view_new_opts(struct saker_view **out, const struct saker_view_opts *o)
{
	struct saker_proctable_opts po = {
	    .max_procs = o->max_procs,
	    .max_bytes = o->max_proc_bytes,
	    .max_fds = o->max_fds,
	    .max_fds_per_proc = o->max_fds_per_proc,
	    .max_fd_bytes = o->max_fd_bytes,
	    .max_history = o->max_history,
	    .proc_root = o->proc_root,
	};
	struct saker_view *v;
	int err;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	err = saker_proctable_new_opts(&v->procs, &po);
	if (err) {
		free(v);
		return err;
	}
	if (!o->no_containers) {
		err = saker_containers_new(&v->ctrs, o->containers);
		if (err) {
			saker_proctable_free(v->procs);
			free(v);
			return err;
		}
	}
	v->fds = saker_proctable_fds(v->procs);
	saker_idmap_init(&v->pending);
	saker_degraded_init(&v->degraded, 0);
	*out = v;
	return 0;
}

int saker_view_new(struct saker_view **out, size_t max_procs, const char *proc_root)
{
	struct saker_view_opts o = {.max_procs = max_procs, .proc_root = proc_root};

	return saker_view_new_opts(out, &o);
}

void saker_view_free(struct saker_view *v)
{
	if (!v)
		return;
	saker_proctable_free(v->procs);
	saker_containers_free(v->ctrs);
	saker_idmap_free(&v->pending);
	saker_degraded_fini(&v->degraded);
	free(v);
}

static int learn_each(void *ctx, const struct saker_proc *p)
{
	saker_view_learn_container(ctx, p);
	return 0;
}

int saker_view_scan(struct saker_view *v)
{
	int err = saker_proctable_scan(v->procs);

	/* processes that predate saker: their containers' files, once per container */
	if (!err && v->ctrs)
		saker_proctable_foreach(v->procs, learn_each, v);
	return err;
}

struct saker_containers *saker_view_containers(struct saker_view *v)
{
	return v ? v->ctrs : NULL;
}

const struct saker_container *saker_view_container(struct saker_view *v, const struct saker_proc *p)
{
	if (!v || !v->ctrs || !p || !p->container_id[0] || !strcmp(p->container_id, "host"))
		return NULL;
	return saker_containers_get(v->ctrs, p->container_id);
}

/* lib/ctrmatch's runtime as the one whose files containers.c reads; UNKNOWN: any. */
static enum saker_ctr_runtime match_runtime(enum saker_ctr_type t)
{
	switch (t) {
	case SAKER_CTR_DOCKER:
		return SAKER_CTR_RT_DOCKER;
	case SAKER_CTR_CONTAINERD:
		return SAKER_CTR_RT_CONTAINERD;
	case SAKER_CTR_CRIO:
		return SAKER_CTR_RT_CRIO;
	case SAKER_CTR_PODMAN:
		return SAKER_CTR_RT_PODMAN;
	default:
		return SAKER_CTR_RT_UNKNOWN;
	}
}

const struct saker_container *saker_view_learn_container(struct saker_view *v,
							 const struct saker_proc *p)
{
	const struct saker_container *m;

	if (!v || !v->ctrs || !p || !p->container_id[0] || !strcmp(p->container_id, "host"))
		return NULL;
	m = saker_containers_get(v->ctrs, p->container_id);
	if (m)
		return m;
	/* the cgroup path held names the full id; else the runtimes' roots are searched by prefix
	 */
	if (saker_ctr_match_path(p->cgroup, strlen(p->cgroup), &v->match) &&
	    !strcmp(v->match.id, p->container_id))
		return saker_containers_learn_as(
		    v->ctrs, match_runtime(v->match.type), v->match.ns[0] ? v->match.ns : NULL,
		    v->match.full_id, saker_ctr_type_name(v->match.type), v->match.pod_uid, NULL);
	return saker_containers_learn_as(v->ctrs, SAKER_CTR_RT_UNKNOWN, NULL, p->container_id, NULL,
					 NULL, NULL);
}

const struct saker_proc *saker_view_proc(struct saker_view *v, uint32_t tid)
{
	return saker_proctable_lookup(v->procs, tid);
}

const struct saker_proc *saker_view_proc_at(struct saker_view *v, uint32_t tid, uint64_t ts_ns)
{
	return saker_proctable_lookup_at(v->procs, tid, ts_ns, NULL);
}

int saker_view_context(struct saker_view *v, const struct saker_event *ev)
{
	enum saker_proc_ctx ctx;

	v->miss = false;
	/* A fork record names the child, which the table learns from this very record. */
	if (ev->hdr.type == SAKER_EVT_PROC_FORK)
		return SAKER_PROC_CTX_LIVE;
	(void)saker_proctable_lookup_at(v->procs, ev->hdr.tid, ev->hdr.ts_ns, &ctx);
	if (ctx >= SAKER_PROC_CTX_EVICTED) {
		saker_proctable_count_missing(v->procs, ctx);
		v->miss = true;
		v->miss_pid = ev->hdr.tgid;
		v->miss_ts = ev->hdr.ts_ns;
	}
	return (int)ctx;
}

void saker_view_set_watermark(struct saker_view *v, uint64_t ts_ns)
{
	if (v)
		saker_proctable_set_watermark(v->procs, ts_ns);
}

struct saker_proctable *saker_view_procs(struct saker_view *v)
{
	return v->procs;
}

const struct saker_fd *saker_view_fd(struct saker_view *v, uint32_t pid, int fd)
{
	return saker_fdtable_lookup(v->fds, pid, fd);
}

uint32_t saker_dev_to_tty_nr(uint64_t dev)
{
	uint32_t major = (uint32_t)(dev >> 20) & 0xfff, minor = (uint32_t)dev & 0xfffff;

	/* new_encode_dev(), which /proc/<pid>/stat uses for tty_nr */
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* ---- paths ---- */

/* Appends the components of s to out (len bytes used), folding "." and "..". */
static int fold_append(char *out, size_t *len, size_t size, const char *s)
{
	while (*s) {
		const char *c;
		size_t n;

		while (*s == '/')
			s++;
		c = s;
		while (*s && *s != '/')
			s++;
		n = (size_t)(s - c);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 0)
				(*len)--; /* the slash */
			continue;
		}
		if (*len + 1 + n + 1 > size)
			return -ENAMETOOLONG;
		out[(*len)++] = '/';
		memcpy(out + *len, c, n);
		*len += n;
	}
	return 0;
}

int saker_path_join(const char *base, const char *rel, char *out, size_t size)
{
	size_t len = 0;
	int err = 0;

	if (size < 2)
		return -ENAMETOOLONG;
	if (rel[0] != '/' && base)
		err = fold_append(out, &len, size, base);
	if (!err)
		err = fold_append(out, &len, size, rel);
	if (err) {
		out[0] = '\0';
		return err;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return 0;
}

int saker_view_resolve(struct saker_view *v, uint32_t tid, uint32_t pid, int64_t dirfd,
		       const char *path, char *out, size_t size)
{
	const char *base = NULL;

	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			const struct saker_proc *p =
			    saker_proctable_lookup_at(v->procs, tid, v->cur_ts, NULL);

			base = p ? p->cwd : NULL;
		} else if (dirfd >= 0 && dirfd <= INT_MAX) {
			const struct saker_fd *f = saker_fdtable_lookup(v->fds, pid, (int)dirfd);

			base = f && f->type == SAKER_FD_FILE ? f->name : NULL;
		}
		if (!base || base[0] != '/')
			return -ENOENT;
	}
	return saker_path_join(base, path, out, size);
}

void saker_view_count_malformed(struct saker_view *v)
{
	v->events++;
	v->malformed++;
}

void saker_view_get_stats(const struct saker_view *v, struct saker_view_stats *st)
{
	memset(st, 0, sizeof(*st));
	saker_proctable_get_stats(v->procs, &st->procs);
	saker_fdtable_get_stats(v->fds, &st->fds);
	st->events = v->events;
	st->malformed = v->malformed;
	st->applied = v->applied;
	st->late_forks = v->late_forks;
	st->loss_pending_marks = v->loss_pending_marks;
	saker_containers_get_stats(v->ctrs, &st->containers);
}

void saker_view_print_stats(const struct saker_view *v, FILE *out)
{
	struct saker_view_stats st;

	saker_view_get_stats(v, &st);
	fprintf(out, "State tables:\n");
	fprintf(out, "   process table entries: %" PRIu64 "\n", st.procs.entries);
	fprintf(out, "   process table max entries: %" PRIu64 "\n", st.procs.max_entries);
	fprintf(out, "   process table bytes: %" PRIu64 "\n", st.procs.bytes);
	fprintf(out, "   process table evictions: %" PRIu64 "\n", st.procs.evictions);
	fprintf(out, "   process table lookups: %" PRIu64 "\n", st.procs.lookups);
	fprintf(out, "   process table failed lookups: %" PRIu64 "\n", st.procs.failed_lookups);
	fprintf(out, "   threads scanned from proc: %" PRIu64 "\n", st.procs.scanned);
	fprintf(out, "   fd table entries: %" PRIu64 "\n", st.fds.entries);
	fprintf(out, "   fd table max entries: %" PRIu64 "\n", st.fds.max_entries);
	fprintf(out, "   fd table bytes: %" PRIu64 "\n", st.fds.bytes);
	fprintf(out, "   fd table evictions: %" PRIu64 "\n", st.fds.evictions);
	fprintf(out, "   fd table lookups: %" PRIu64 "\n", st.fds.lookups);
	fprintf(out, "   fd table failed lookups: %" PRIu64 "\n", st.fds.failed_lookups);
	fprintf(out, "   fd table unmatched: %" PRIu64 "\n", st.fds.unmatched);
	fprintf(out, "   state events: %" PRIu64 "\n", st.events);
	fprintf(out, "   state events malformed: %" PRIu64 "\n", st.malformed);
	fprintf(out, "   state events applied: %" PRIu64 "\n", st.applied);
	fprintf(out, "   late fork events: %" PRIu64 "\n", st.late_forks);
	fprintf(out,
		"   events without process context: %" PRIu64 " (evicted %" PRIu64 ", late %" PRIu64
		", unknown %" PRIu64 ")\n",
		st.procs.ctx_missing[SAKER_PROC_CTX_EVICTED] +
		    st.procs.ctx_missing[SAKER_PROC_CTX_LATE] +
		    st.procs.ctx_missing[SAKER_PROC_CTX_UNKNOWN],
		st.procs.ctx_missing[SAKER_PROC_CTX_EVICTED],
		st.procs.ctx_missing[SAKER_PROC_CTX_LATE],
		st.procs.ctx_missing[SAKER_PROC_CTX_UNKNOWN]);
}

/* ---- loss ---- */

void saker_view_mark_loss_pending(struct saker_view *v, uint64_t since_ns, uint64_t seen_ns)
{
	if (!v)
		return;
	if (!v->loss_pending || since_ns < v->loss_pending_since)
		v->loss_pending_since = since_ns;
	if (!v->loss_pending || seen_ns > v->loss_pending_seen)
		v->loss_pending_seen = seen_ns;
	v->loss_pending = true;
	v->loss_pending_marks++;
}

void saker_view_settle_pending(struct saker_view *v, uint64_t counted_ns)
{
	if (v && v->loss_pending && v->loss_pending_seen <= counted_ns)
		v->loss_pending = false;
}

void saker_view_mark_degraded(struct saker_view *v, uint32_t pid, uint64_t since_ns,
			      uint64_t until_ns)
{
	saker_degraded_mark(&v->degraded, pid, since_ns, until_ns);
}

bool saker_view_degraded(const struct saker_view *v, uint32_t pid, uint64_t ts_ns)
{
	const struct saker_proc *p;

	if (!v)
		return false;
	if (saker_degraded_check(&v->degraded, pid, ts_ns))
		return true;
	/* A loss not attributed yet: any process may have lost events. */
	if (v->loss_pending && ts_ns >= v->loss_pending_since)
		return true;
	/* The record saker_view_context() found without its process. */
	if (v->miss && v->miss_pid == pid && v->miss_ts == ts_ns)
		return true;
	/* A repair that could not read the process's image from /proc, nor keep a known one. */
	p = saker_proctable_peek(v->procs, pid);
	return p && (p->flags & SAKER_PROC_UNCONFIRMED);
}
