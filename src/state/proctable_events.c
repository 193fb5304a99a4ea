#include "state/proctable_int.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		pt_touch(tbl, p);
	} else {
		tbl->failed_lookups++;
		/* Nothing to inherit: the container is unknown too, not "host". */
		img = pt_image_new(tbl, NULL, NULL, 0, NULL, NULL, 0, "");
		if (!img)
			return -ENOMEM;
		pv.loginuid = pv.uid = pv.gid = pv.euid = pv.egid = SAKER_UID_UNSET;
	}
	/* p may be evicted from here on: only pv and img are used. */
	e = pt_entry_upsert(tbl, child_tid, child_pid, img);
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
	pt_image_put(tbl, img);
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
	img = pt_image_new(tbl, e->img->exe, e->img->args, e->img->args_len, e->img->cwd, cgroup,
			   strlen(cgroup), NULL);
	if (!img)
		return -ENOMEM;
	img->args_truncated = truncated;
	pt_set_image(tbl, e, img);
	pt_image_put(tbl, img);
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

/* The exec'd process's entry from the record, and what it keeps of its version before (bv). */
static void exec_fill(struct pt_entry *e, const struct saker_exec_info *in,
		      const struct saker_proc *bv)
{
	e->pub.ppid = in->ppid ? in->ppid : bv->ppid;
	e->pub.uid = in->uid;
	e->pub.gid = in->gid;
	e->pub.euid = in->euid;
	e->pub.egid = in->egid;
	e->pub.loginuid = in->loginuid;
	e->pub.tty = in->tty;
	e->pub.start_ns = bv->start_ns;
	e->since_ns = in->ts_ns;
	e->pub.cgroup_id = in->cgroup_id ? in->cgroup_id : bv->cgroup_id;
	if (in->comm)
		snprintf(e->pub.comm, sizeof(e->pub.comm), "%s", in->comm);
	else
		basename_comm(in->exe, e->pub.comm);
	e->pub.flags = SAKER_PROC_EXEC_SEEN |
		       (bv->flags & (SAKER_PROC_FROM_SCAN | SAKER_PROC_FORKED)) |
		       (e->img->args_truncated ? SAKER_PROC_ARGS_TRUNCATED : 0) |
		       (in->caps_known ? SAKER_PROC_CAPS_KNOWN : 0);
	e->pub.cap_eff = in->caps_known ? in->cap_eff : 0;
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
		if (pt_read_cgroup(tbl, in->pid, &cg, &cglen, cidbuf))
			cid = cidbuf;
	}
	/* Neither a known process nor the event tell the container: "", not "host". */
	img = pt_image_new(tbl, in->exe, in->args, in->args_len, in->cwd ? in->cwd : bv.cwd, cg,
			   cglen, cid);
	if (!img) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * The exec'ing thread took the leader's tid: its old tid is gone. Both
	 * versions stay for the records older than the exec.
	 */
	if (old)
		pt_bury(tbl, old, in->ts_ns);
	base = saker_idmap_get(&tbl->map, in->pid);
	if (base && base->pub.pid == in->pid)
		pt_version(tbl, base, in->ts_ns);
	e = pt_entry_upsert(tbl, in->pid, in->pid, img);
	pt_image_put(tbl, img);
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	exec_fill(e, in, &bv);
	saker_fdtable_drop_cloexec(tbl->fds, in->pid);
out:
	pt_image_put(tbl, bimg);
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
			pt_bury(tbl, e, ts_ns);
			saker_fdtable_drop_process(tbl->fds, pid);
		} else {
			/* A zombie leader: its threads still show the process. */
			e->pub.flags |= SAKER_PROC_EXITED;
		}
		return 0;
	}
	pt_bury(tbl, e, ts_ns);
	l = saker_idmap_get(&tbl->map, pid);
	if (dead || (!alive && l && (l->pub.flags & SAKER_PROC_EXITED) && l->nthreads <= 1)) {
		if (l)
			pt_bury(tbl, l, ts_ns);
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
		pt_version(tbl, e, ts_ns);
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
	pt_touch(tbl, e);
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
	pt_touch(tbl, e);
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
	img = pt_image_new(tbl, o->exe, o->args, o->args_len, cwd, o->cgroup, strlen(o->cgroup),
			   o->container_id);
	if (!img)
		return -ENOMEM;
	img->args_truncated = o->args_truncated;
	pt_set_image(tbl, e, img);
	pt_touch(tbl, e);
	l = e->pub.tid != e->pub.pid ? saker_idmap_get(&tbl->map, e->pub.pid) : NULL;
	if (l)
		pt_set_image(tbl, l, img);
	pt_image_put(tbl, img);
	pt_enforce_bounds(tbl, e);
	return 0;
}
