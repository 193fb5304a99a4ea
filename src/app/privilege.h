/*
 * Least privilege once the probe is attached (docs/security.md): every
 * thread of the process keeps only the capabilities saker still needs, in
 * its effective, permitted and bounding sets, with no inheritable or ambient
 * capabilities and no_new_privs set. Capabilities are per thread, so threads
 * started before the drop (the outputs worker) are made to drop too, and the
 * result is checked in /proc/self/task/<tid>/status for every thread.
 */
#ifndef SAKER_PRIVILEGE_H
#define SAKER_PRIVILEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/log.h"

/* Bit (1 << CAP_x) of a capability number. */
#define SAKER_CAP(c) (1ULL << (c))

/*
 * What saker keeps after attaching: reading other users' /proc/<pid>/{fd,
 * exe,cwd} and, on kernels before 6.5, reading the probe's counter maps.
 * Output programs need nothing: the spawner runs them (outputs/spawner.h).
 */
uint64_t saker_privilege_default_keep(void);

struct saker_privilege_result {
	uint64_t kept;	       /* the effective/permitted set every thread now has */
	unsigned threads;      /* threads checked (the caller included) */
	bool bounding_reduced; /* false: no CAP_SETPCAP, the bounding set is left as it was */
};

/*
 * Drops everything outside keep in every thread of the process. Returns 0,
 * or a negative errno with the reason in err (a thread that did not take the
 * drop is named). Only the main thread may call it, once.
 */
int saker_privilege_drop(uint64_t keep, struct saker_privilege_result *res, char *err,
			 size_t errlen);

/* "cap_dac_read_search,cap_sys_ptrace" for a set; "none" for 0. */
void saker_privilege_names(uint64_t set, char *buf, size_t len);

/*
 * A seccomp filter on every thread: kill, tgkill and rt_(tg)sigqueueinfo only
 * to self (saker's own pid), and no ptrace, process_vm_readv/writev, tkill,
 * pidfd_send_signal or pidfd_getfd at all (EPERM), nor any syscall of another
 * ABI. saker stays uid 0, and the kernel lets a uid-0 process signal any
 * process of uid 0 without CAP_KILL: this is what stops it. Needs no_new_privs
 * (set by the drop). 0, -ENOTSUP on an architecture without a filter, or a
 * negative errno with the reason in err.
 */
int saker_privilege_confine(pid_t self, char *err, size_t errlen);

/*
 * saker_privilege_drop with saker_privilege_default_keep(), then
 * saker_privilege_confine(getpid()), logging what is
 * kept (info) and a bounding set left unreduced (warning). What main calls.
 */
int saker_privilege_apply(const struct saker_log *log, const char *user, char *err, size_t errlen);
/*
 * run_as_user: switches every thread to user (its uid and gid, no
 * supplementary groups), keeping the capabilities for the drop that follows;
 * called by saker_privilege_apply when user is set. 0 (*uid set) or a
 * negative errno with the reason in err.
 */
int saker_privilege_switch_user(const char *user, uid_t *uid, char *err, size_t errlen);

#endif
