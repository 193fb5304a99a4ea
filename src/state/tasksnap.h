/*
 * One read of the task iterators (capture/taskiter.h) as the view's /proc
 * loader uses it: per process (thread group), its start time, exe, cwd and
 * open descriptors. It stands in for /proc's exe, cwd and fd/<n> links,
 * which another user's process shows only to CAP_SYS_PTRACE; the rest of
 * /proc (stat, status, cmdline, cgroup) is anyone's to read and is still
 * read there. The loader takes a process's entry only when its start time is
 * /proc's (a pid reused between the two reads is not the same process).
 */
#ifndef SAKER_STATE_TASKSNAP_H
#define SAKER_STATE_TASKSNAP_H

#include <stddef.h>
#include <stdint.h>

#include "capture/taskiter.h"

struct saker_tasksnap_fd {
	uint32_t fd;
	uint32_t open_flags; /* as fdinfo's flags: line, O_CLOEXEC included */
	uint32_t i_mode;
	char *name; /* as readlink of fd/<n>; "" when it could not be resolved */
};

struct saker_tasksnap_proc {
	uint64_t start_ns; /* boot-time ns, as /proc's starttime */
	uint16_t flags;	   /* SAKER_ITER_F_* of its leader's task record */
	char *exe, *cwd;   /* NULL: no leader record, or not resolved (flags say why) */
	struct saker_tasksnap_fd *fds;
	size_t nfds, capfds;
};

struct saker_tasksnap;

/* Reads every process (tgid 0) or one. 0 or a negative errno (*out NULL then). */
int saker_tasksnap_read(struct saker_tasksnap **out, struct saker_taskiter *it, uint32_t tgid);
/* The process's entry, NULL when the iterators did not see it. */
const struct saker_tasksnap_proc *saker_tasksnap_get(const struct saker_tasksnap *s, uint32_t tgid);
/* Processes and descriptors read. */
size_t saker_tasksnap_procs(const struct saker_tasksnap *s);
size_t saker_tasksnap_fds(const struct saker_tasksnap *s);
void saker_tasksnap_free(struct saker_tasksnap *s);

#endif
