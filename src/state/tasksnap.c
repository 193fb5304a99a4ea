#include "state/tasksnap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/idmap.h"

struct saker_tasksnap {
	struct saker_idmap procs; /* tgid -> struct saker_tasksnap_proc */
	size_t nfds;
};

static char *dup_len(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static struct saker_tasksnap_proc *proc_get(struct saker_tasksnap *s, uint32_t tgid)
{
	struct saker_tasksnap_proc *p = saker_idmap_get(&s->procs, tgid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (p && saker_idmap_put(&s->procs, tgid, p)) {
		free(p);
		p = NULL;
	}
	return p;
}

static int on_task(struct saker_tasksnap *s, const struct saker_taskiter_rec *r)
{
	struct saker_tasksnap_proc *p;

	/* Threads share the leader's exe, cwd and descriptors. */
	if (r->task.tid != r->task.tgid)
		return 0;
	p = proc_get(s, r->task.tgid);
	if (!p)
		return -ENOMEM;
	p->start_ns = r->task.start_ns;
	p->flags = r->task.flags;
	if (r->exe_len && !(p->exe = dup_len(r->exe, r->exe_len)))
		return -ENOMEM;
	if (r->cwd_len && !(p->cwd = dup_len(r->cwd, r->cwd_len)))
		return -ENOMEM;
	return 0;
}

static int on_file(struct saker_tasksnap *s, const struct saker_taskiter_rec *r)
{
	struct saker_tasksnap_proc *p = proc_get(s, r->file.tgid);
	struct saker_tasksnap_fd *f;

	if (!p)
		return -ENOMEM;
	if (!p->start_ns)
		p->start_ns = r->file.start_ns;
	if (p->nfds == p->capfds) {
		size_t cap = p->capfds ? p->capfds * 2 : 16;
		struct saker_tasksnap_fd *n = realloc(p->fds, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->fds = n;
		p->capfds = cap;
	}
	f = &p->fds[p->nfds];
	f->fd = r->file.fd;
	f->open_flags = r->file.f_flags;
	f->i_mode = r->file.i_mode;
	f->name = dup_len(r->path, r->path_len);
	if (!f->name)
		return -ENOMEM;
	p->nfds++;
	s->nfds++;
	return 0;
}

static int on_rec(void *ctx, const struct saker_taskiter_rec *r)
{
	return r->kind == SAKER_ITER_TASK ? on_task(ctx, r) : on_file(ctx, r);
}

int saker_tasksnap_read(struct saker_tasksnap **out, struct saker_taskiter *it, uint32_t tgid)
{
	struct saker_tasksnap *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	saker_idmap_init(&s->procs);
	err = saker_taskiter_read(it, tgid, on_rec, s);
	if (err) {
		saker_tasksnap_free(s);
		return err;
	}
	*out = s;
	return 0;
}

const struct saker_tasksnap_proc *saker_tasksnap_get(const struct saker_tasksnap *s, uint32_t tgid)
{
	return s ? saker_idmap_get(&s->procs, tgid) : NULL;
}

size_t saker_tasksnap_procs(const struct saker_tasksnap *s)
{
	return s ? s->procs.n : 0;
}

size_t saker_tasksnap_fds(const struct saker_tasksnap *s)
{
	return s ? s->nfds : 0;
}

void saker_tasksnap_free(struct saker_tasksnap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->procs.cap; i++) {
		struct saker_tasksnap_proc *p = s->procs.slots[i].val;

		if (!p)
			continue;
		for (size_t f = 0; f < p->nfds; f++)
			free(p->fds[f].name);
		free(p->fds);
		free(p->exe);
		free(p->cwd);
		free(p);
	}
	saker_idmap_free(&s->procs);
	free(s);
}
