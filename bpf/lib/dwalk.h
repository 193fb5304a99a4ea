/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dentry walk that turns a struct path the kernel holds into text, for
 * the probe (path.h: exe, cwd, a descriptor's file) and the task iterator
 * (iter.h: exe and cwd, which bpf_d_path refuses there: task->mm and
 * task->fs are not trusted pointers). d_path is not available to tp_btf
 * programs: walk the dentries up to the root, crossing mounts, writing
 * components backwards into a 4 KiB scratch area. The walk runs under
 * bpf_loop so the verifier checks one step once; an unrolled loop with a
 * branch per step explodes into 2^depth paths.
 */
#ifndef SAKER_BPF_DWALK_H
#define SAKER_BPF_DWALK_H

#ifndef PATH_MASK
#define PATH_MASK (SAKER_MAX_PATH - 1)
#endif

#define NAME_MAX 255
/* Path components walked before a path is reported truncated. */
#define PATH_DEPTH 32

struct walk {
	__u8 *tmp;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 pos;
	__u32 truncated;
	__u32 unreadable;
};

static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	/* Local copies: CO-RE relocations apply to kernel types, not to struct walk. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct qstr q;
	__u32 l, pos = w->pos;

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || mp == mnt)
			return 1; /* the global root */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = &mp->mnt;
		return 0;
	}
	q = BPF_CORE_READ(dentry, d_name);
	l = q.len;
	if (l > NAME_MAX)
		l = NAME_MAX;
	if (pos > SAKER_MAX_PATH || pos < l + 2) {
		w->truncated = 1;
		return 1;
	}
	pos -= l;
	/*
	 * A name we cannot read makes the whole path unknown, not one with NULs
	 * in it. No branch on the result: one here keeps the verifier from ever
	 * seeing two iterations alike (1M instructions in sched_process_exec).
	 */
	w->unreadable |=
	    (__u32)bpf_probe_read_kernel(w->tmp + (pos & PATH_MASK), l & NAME_MAX, q.name);
	pos -= 1;
	w->tmp[pos & PATH_MASK] = '/';
	w->pos = pos;
	w->dentry = parent;
	if (i == PATH_DEPTH - 1)
		w->truncated = 1;
	return 0;
}

/*
 * Walks path into tmp (SAKER_MAX_PATH bytes): the text is tmp + w->pos up to
 * the end, unless w->unreadable; w->truncated when it was cut short.
 */
static __always_inline void dwalk(struct walk *w, __u8 *tmp, const struct path *path)
{
	w->tmp = tmp;
	w->dentry = BPF_CORE_READ(path, dentry);
	w->vfsmnt = BPF_CORE_READ(path, mnt);
	w->pos = SAKER_MAX_PATH;
	w->truncated = 0;
	w->unreadable = 0;
	w->mnt = container_of(w->vfsmnt, struct mount, mnt);
	/*
	 * A file with no parent in its mount (d_alloc_pseudo: memfd_create,
	 * anonymous files) has only its own name, "memfd:NAME": reported alone,
	 * without a leading slash, as Falco's modern probe does. Tested here,
	 * once, not in walk_step: a branch there multiplies the states the
	 * verifier explores per iteration past its 1M-instruction limit.
	 */
	struct dentry *d0 = w->dentry; /* locals: CO-RE relocates kernel types, not struct walk */
	struct vfsmount *m0 = w->vfsmnt;

	if (d0 == BPF_CORE_READ(d0, d_parent) && d0 != BPF_CORE_READ(m0, mnt_root)) {
		struct qstr q = BPF_CORE_READ(d0, d_name);
		__u32 l = q.len > NAME_MAX ? NAME_MAX : q.len;

		w->pos = SAKER_MAX_PATH - l;
		w->unreadable = (__u32)bpf_probe_read_kernel(w->tmp + (w->pos & PATH_MASK),
							     l & NAME_MAX, q.name);
	} else {
		bpf_loop(PATH_DEPTH, walk_step, w, 0);
	}
}

#endif
