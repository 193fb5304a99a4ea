#include "state/snapshot.h"

#include <errno.h>
#include <string.h>

#include "state/view.h"

static uint32_t slen(const char *s)
{
	return s ? (uint32_t)strnlen(s, SAKER_CAPFILE_MAX_STR) : 0;
}

static int snap_proc(void *ctx, const struct saker_proc *p)
{
	struct saker_sbuf *b = ctx;
	struct saker_capfile_proc c = {
	    .tid = p->tid,
	    .pid = p->pid,
	    .ppid = p->ppid,
	    .uid = p->uid,
	    .gid = p->gid,
	    .euid = p->euid,
	    .egid = p->egid,
	    .loginuid = p->loginuid,
	    .tty = p->tty,
	    .flags = p->flags,
	    .start_ns = p->start_ns,
	    .cgroup_id = p->cgroup_id,
	    .cap_eff = p->cap_eff,
	    .exe = p->exe,
	    .exe_len = slen(p->exe),
	    .args = p->args,
	    .args_len = (uint32_t)(p->args_len < SAKER_CAPFILE_MAX_ARGS ? p->args_len
									: SAKER_CAPFILE_MAX_ARGS),
	    .cwd = p->cwd,
	    .cwd_len = slen(p->cwd),
	    .cgroup = p->cgroup,
	    .cgroup_len = slen(p->cgroup),
	    .container_id = p->container_id,
	    .container_id_len = slen(p->container_id),
	};

	memcpy(c.comm, p->comm, sizeof(c.comm));
	saker_capfile_put_proc(b, &c);
	return b->oom ? -ENOMEM : 0;
}

static int snap_fd(void *ctx, const struct saker_fd *f)
{
	struct saker_sbuf *b = ctx;
	struct saker_capfile_fd c = {
	    .pid = f->pid,
	    .fd = f->fd,
	    .type = (uint32_t)f->type,
	    .open_flags = f->open_flags,
	    .flags = f->flags,
	    .lport = f->tuple.lport,
	    .rport = f->tuple.rport,
	    .l4proto = f->tuple.l4proto,
	    .name = f->name,
	    .name_len = slen(f->name),
	};

	memcpy(c.laddr, f->tuple.laddr, sizeof(c.laddr));
	memcpy(c.raddr, f->tuple.raddr, sizeof(c.raddr));
	saker_capfile_put_fd(b, &c);
	return b->oom ? -ENOMEM : 0;
}

int saker_snapshot_put(void *view, struct saker_sbuf *b)
{
	struct saker_proctable *pt = view ? saker_view_procs(view) : NULL;
	int ret;

	if (!pt)
		return 0;
	ret = saker_proctable_foreach(pt, snap_proc, b);
	if (!ret)
		ret = saker_fdtable_foreach(saker_proctable_fds(pt), snap_fd, b);
	return ret;
}

static int restore_proc(struct saker_view *v, const struct saker_capfile_proc *c)
{
	char exe[SAKER_CAPFILE_MAX_STR + 1], cwd[SAKER_CAPFILE_MAX_STR + 1];
	char cg[SAKER_CAPFILE_MAX_STR + 1], cid[65];
	struct saker_proc p = {
	    .tid = c->tid,
	    .pid = c->pid,
	    .ppid = c->ppid,
	    .uid = c->uid,
	    .gid = c->gid,
	    .euid = c->euid,
	    .egid = c->egid,
	    .loginuid = c->loginuid,
	    .tty = c->tty,
	    .flags = c->flags,
	    .start_ns = c->start_ns,
	    .cgroup_id = c->cgroup_id,
	    .cap_eff = c->cap_eff,
	    .exe = exe,
	    .args = c->args,
	    .args_len = c->args_len,
	    .cwd = cwd,
	    .cgroup = cg,
	    .container_id = cid,
	};

	/* The file's strings are not NUL-terminated; the table copies these. */
	memcpy(exe, c->exe, c->exe_len);
	exe[c->exe_len] = '\0';
	memcpy(cwd, c->cwd, c->cwd_len);
	cwd[c->cwd_len] = '\0';
	memcpy(cg, c->cgroup, c->cgroup_len);
	cg[c->cgroup_len] = '\0';
	memcpy(cid, c->container_id, c->container_id_len);
	cid[c->container_id_len] = '\0';
	memcpy(p.comm, c->comm, sizeof(p.comm));
	return saker_proctable_restore(saker_view_procs(v), &p);
}

static int restore_fd(struct saker_view *v, const struct saker_capfile_fd *c)
{
	char name[SAKER_CAPFILE_MAX_STR + 1];
	struct saker_fd f = {
	    .pid = c->pid,
	    .fd = c->fd,
	    .type = (enum saker_fd_type)c->type,
	    .open_flags = c->open_flags,
	    .flags = c->flags,
	    .name = name,
	};

	memcpy(name, c->name, c->name_len);
	name[c->name_len] = '\0';
	memcpy(f.tuple.laddr, c->laddr, sizeof(f.tuple.laddr));
	memcpy(f.tuple.raddr, c->raddr, sizeof(f.tuple.raddr));
	f.tuple.lport = c->lport;
	f.tuple.rport = c->rport;
	f.tuple.l4proto = c->l4proto;
	return saker_fdtable_restore(saker_proctable_fds(saker_view_procs(v)), &f);
}

int saker_snapshot_restore(struct saker_view *view, const struct saker_capfile_item *it)
{
	if (it->kind == SAKER_CAPFILE_ITEM_PROC)
		return restore_proc(view, &it->proc);
	if (it->kind == SAKER_CAPFILE_ITEM_FD)
		return restore_fd(view, &it->fd);
	return 0;
}
