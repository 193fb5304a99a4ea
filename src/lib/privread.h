/*
 * The /proc reads that need CAP_SYS_PTRACE (the exe, cwd and fd/<n> links,
 * fdinfo/<n> of another user's or a more privileged process), made by a
 * helper process instead of saker's main process, which then keeps no
 * CAP_SYS_PTRACE: nothing in it can attach to another process or write its
 * memory (docs/security.md).
 *
 * The helper is forked before the capability drop and keeps CAP_SYS_PTRACE
 * and CAP_DAC_READ_SEARCH only, no_new_privs, not dumpable. It answers one
 * kind of request on a socket: the caller passes a descriptor of a
 * /proc/<pid> directory it opened itself and a name within it, one of
 * "exe", "cwd", "fd/<n>" (read as links) or "fdinfo/<n>" (read as a small
 * file); the helper checks that the descriptor is a procfs directory and
 * the name one of these, and answers with the link or the text. So what a
 * compromised saker can get from it is what those files say, nothing more.
 *
 * Reads are tried directly first; only one refused (EACCES, EPERM) goes to
 * the helper. Without a helper (not started, or gone) the direct answer is
 * returned. One helper per process; requests are serialised by a mutex.
 */
#ifndef SAKER_PRIVREAD_H
#define SAKER_PRIVREAD_H

#include <stddef.h>
#include <sys/types.h>

/* Forks the helper: 0, or a negative errno with the reason in err. */
int saker_privread_start(char *err, size_t errlen);

/* The helper's pid, 0 when none runs. */
pid_t saker_privread_pid(void);

/* Closes the socket (the helper exits) and reaps it. */
void saker_privread_stop(void);

/* readlinkat(2), NUL-terminated in buf; the length, or a negative errno. */
ssize_t saker_privread_link(int dirfd, const char *name, char *buf, size_t len);

/* Up to len - 1 bytes of a small file, NUL-terminated; the length or a negative errno. */
ssize_t saker_privread_file(int dirfd, const char *name, char *buf, size_t len);

#endif
