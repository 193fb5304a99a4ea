/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Paths the kernel holds (exe, cwd, a descriptor's file) as event
 * parameters: the dentry walk (dwalk.h) writes them backwards into the
 * scratch tail, then the result is copied into the event.
 */
#ifndef SAKER_BPF_PATH_H
#define SAKER_BPF_PATH_H

#include "event.h"
#include "dwalk.h"

static __always_inline void push_path(struct ev *x, __u8 name, const struct path *path)
{
	struct walk w;
	__u8 kind = SAKER_PK_STR;
	__u32 pos, off, len;

	if (!ev_room(x))
		return;
	dwalk(&w, x->buf + 2 * SAKER_MAX_EVENT_SIZE, path);
	off = ev_off(x) & EV_MASK;
	if (w.unreadable) {
		put_hdr(x, off, 0, kind | SAKER_PF_UNREADABLE, name);
		ev_set_off(x, off + 4);
		return;
	}
	pos = w.pos;
	if (w.truncated)
		kind |= SAKER_PF_TRUNCATED;
	if (pos >= SAKER_MAX_PATH) {
		pos = SAKER_MAX_PATH - 1;
		w.tmp[pos & PATH_MASK] = '/';
	}
	len = (SAKER_MAX_PATH - pos) & PATH_MASK;
	if (bpf_probe_read_kernel(x->buf + off + 4, len, w.tmp + (pos & PATH_MASK))) {
		kind |= SAKER_PF_UNREADABLE;
		len = 0;
	}
	put_hdr(x, off, (__u16)len, kind, name);
	ev_set_off(x, off + 4 + len);
}

/*
 * The path of the file behind the current task's descriptor fd, from the
 * kernel's own struct file (task->files->fdt->fd[fd]->f_path): what an open
 * really opened, whatever the cwd's depth or the ../ in the name. Nothing is
 * pushed when there is no such file. Read at syscall exit by the task that
 * opened it; another thread could close and reuse fd in between (then this
 * names the newer file): the window is the rest of the syscall exit.
 */
static __always_inline void push_fd_path(struct ev *x, __u8 name, long fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds, *f = NULL;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), fds + fd) || !f)
		return;
	push_path(x, name, &f->f_path);
}

#endif
