/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The task iterators' records (bpf/iter.bpf.c): a per-CPU scratch holds the
 * record and its paths while it is assembled, then they go to the seq_file.
 * A descriptor's path comes from bpf_d_path, the kernel's own d_path: the
 * same text as readlink of /proc/<pid>/fd/<n> ("socket:[123]", "pipe:[4]",
 * " (deleted)"). exe and cwd hang off task->mm and task->fs, which the
 * verifier does not trust for bpf_d_path: they take the probe's dentry walk
 * (dwalk.h), as exec records do.
 */
#ifndef SAKER_BPF_ITER_H
#define SAKER_BPF_ITER_H

#include "dwalk.h"

#define ITER_PF_KTHREAD 0x00200000 /* include/linux/sched.h's PF_KTHREAD */
#define ITER_O_CLOEXEC	02000000   /* as fdinfo's flags: line reports it */

struct iter_scratch {
	struct saker_iter_task task;
	struct saker_iter_file file;
	__u8 walk[SAKER_MAX_PATH]; /* dwalk's area: the text ends at its end */
	char exe[SAKER_MAX_PATH];
	char cwd[SAKER_MAX_PATH];
	char fpath[SAKER_ITER_PATH_MAX];
};
_Static_assert(SAKER_ITER_PATH_MAX == SAKER_MAX_PATH, "one path bound");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iter_scratch);
} iter_scratch_map SEC(".maps");

static __always_inline struct iter_scratch *iter_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&iter_scratch_map, &zero);
}

/* bpf_d_path's length without its NUL, 0 when it failed (*bad set then). */
static __always_inline __u16 iter_d_path(const struct path *p, char *buf, __u16 *flags, __u16 bad)
{
	long n = bpf_d_path((struct path *)p, buf, SAKER_ITER_PATH_MAX);

	if (n <= 1 || n > SAKER_ITER_PATH_MAX) {
		*flags |= bad;
		return 0;
	}
	return (__u16)(n - 1);
}

static __always_inline void iter_task_fill(struct iter_scratch *s, struct task_struct *t)
{
	struct saker_iter_task *r = &s->task;
	const struct cred *cred = BPF_CORE_READ(t, real_cred);

	__builtin_memset(r, 0, sizeof(*r));
	r->kind = SAKER_ITER_TASK;
	r->tid = (__u32)BPF_CORE_READ(t, pid);
	r->tgid = (__u32)BPF_CORE_READ(t, tgid);
	r->ppid = (__u32)BPF_CORE_READ(t, real_parent, tgid);
	r->uid = BPF_CORE_READ(cred, uid.val);
	r->gid = BPF_CORE_READ(cred, gid.val);
	r->euid = BPF_CORE_READ(cred, euid.val);
	r->egid = BPF_CORE_READ(cred, egid.val);
	r->start_ns = BPF_CORE_READ(t, start_boottime);
	BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
	if (BPF_CORE_READ(t, flags) & ITER_PF_KTHREAD)
		r->flags |= SAKER_ITER_F_KTHREAD;
}

/* A bound the verifier keeps (clang may test a copy of len otherwise). */
static __always_inline __u32 iter_len(__u32 len)
{
	asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "i"(PATH_MASK));
	return len;
}

/* The walked path copied into out; its length, 0 with *flags |= bad when unknown. */
static __always_inline __u16 iter_walk(struct iter_scratch *s, char *out, const struct path *p,
				       __u16 *flags, __u16 bad)
{
	struct walk w;
	__u32 pos, len;

	dwalk(&w, s->walk, p);
	pos = w.pos;
	if (w.unreadable || w.truncated || pos > SAKER_MAX_PATH) {
		*flags |= bad;
		return 0;
	}
	if (pos == SAKER_MAX_PATH) { /* the root itself */
		out[0] = '/';
		return 1;
	}
	len = iter_len(SAKER_MAX_PATH - pos);
	if (bpf_probe_read_kernel(out, len, s->walk + (pos & PATH_MASK))) {
		*flags |= bad;
		return 0;
	}
	return (__u16)len;
}

/* exe and cwd of a thread-group leader; threads share them. */
static __always_inline void iter_task_paths(struct iter_scratch *s, struct task_struct *t)
{
	struct saker_iter_task *r = &s->task;
	struct fs_struct *fs;
	struct file *exe;

	if (r->tid != r->tgid || (r->flags & SAKER_ITER_F_KTHREAD))
		return;
	exe = BPF_CORE_READ(t, mm, exe_file);
	if (exe)
		r->exe_len = iter_walk(s, s->exe, &exe->f_path, &r->flags, SAKER_ITER_F_EXE_BAD);
	else
		r->flags |= SAKER_ITER_F_NO_EXE;
	fs = BPF_CORE_READ(t, fs);
	if (fs)
		r->cwd_len = iter_walk(s, s->cwd, &fs->pwd, &r->flags, SAKER_ITER_F_CWD_BAD);
	else
		r->flags |= SAKER_ITER_F_NO_CWD;
}

static __always_inline void iter_task_emit(struct seq_file *seq, struct iter_scratch *s)
{
	__u32 el = s->task.exe_len, cl = s->task.cwd_len;

	bpf_seq_write(seq, &s->task, sizeof(s->task));
	if (el)
		bpf_seq_write(seq, s->exe, iter_len(el));
	if (cl)
		bpf_seq_write(seq, s->cwd, iter_len(cl));
}

/* Whether fd is marked close-on-exec in t's descriptor table. */
static __always_inline bool iter_cloexec(struct task_struct *t, __u32 fd)
{
	unsigned long *bits = BPF_CORE_READ(t, files, fdt, close_on_exec), word = 0;

	if (!bits || bpf_probe_read_kernel(&word, sizeof(word), bits + fd / 64))
		return false;
	return (word >> (fd % 64)) & 1;
}

static __always_inline void iter_file_emit(struct seq_file *seq, struct iter_scratch *s,
					   struct task_struct *t, struct file *f, __u32 fd)
{
	struct saker_iter_file *r = &s->file;
	__u32 pl;

	__builtin_memset(r, 0, sizeof(*r));
	r->kind = SAKER_ITER_FILE;
	r->tgid = (__u32)t->tgid;
	r->fd = fd;
	r->f_flags = BPF_CORE_READ(f, f_flags);
	if (iter_cloexec(t, fd))
		r->f_flags |= ITER_O_CLOEXEC;
	r->i_mode = BPF_CORE_READ(f, f_inode, i_mode);
	r->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	r->path_len = iter_d_path(&f->f_path, s->fpath, &r->flags, SAKER_ITER_F_PATH_BAD);
	pl = r->path_len;
	bpf_seq_write(seq, r, sizeof(*r));
	if (pl)
		bpf_seq_write(seq, s->fpath, iter_len(pl));
}

#endif
