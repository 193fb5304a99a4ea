// SPDX-License-Identifier: GPL-2.0
/*
 * saker's task iterators: process state for seeding the view at start and
 * for its repair (resync), read from the kernel instead of /proc, so that no
 * saker process needs CAP_SYS_PTRACE for another user's exe, cwd and
 * descriptor links. A separate object from the probe (bpf/saker.bpf.c): a
 * kernel that cannot load it still runs the probe, and saker falls back to
 * /proc.
 *
 * Links are created at start, before the privilege drop; reading one
 * (BPF_ITER_CREATE on the link, then read()) needs no capability. Each
 * program writes fixed records (include/saker_abi.h) and their strings into
 * the seq_file; target_tgid (mmapped .bss, set by user space before a read)
 * limits a read to one process for a resync, 0 for all.
 *
 * The helpers live in bpf/lib/iter.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "saker_abi.h"

#include "lib/iter.h"

char LICENSE[] SEC("license") = "GPL";

/* 0: every process; else only this thread group (a resync of one process). */
__u32 target_tgid = 0;

int saker_iter_task(struct bpf_iter__task *ctx);
int saker_iter_file(struct bpf_iter__task_file *ctx);

SEC("iter/task")
int saker_iter_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct iter_scratch *s;
	__u32 tgid;

	if (!t)
		return 0;
	tgid = (__u32)t->tgid;
	if (target_tgid && tgid != target_tgid)
		return 0;
	s = iter_scratch();
	if (!s)
		return 0;
	iter_task_fill(s, t);
	iter_task_paths(s, t);
	iter_task_emit(seq, s);
	return 0;
}

SEC("iter/task_file")
int saker_iter_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct file *f = ctx->file;
	struct iter_scratch *s;

	if (!t || !f)
		return 0;
	if (target_tgid && (__u32)t->tgid != target_tgid)
		return 0;
	s = iter_scratch();
	if (!s)
		return 0;
	iter_file_emit(seq, s, t, f, ctx->fd);
	return 0;
}
