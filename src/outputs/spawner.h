/*
 * The program output's spawner: a process forked before saker drops its
 * capabilities, that switches for good to program_output.user (groups,
 * group, user; all capabilities gone, no_new_privs) and then starts output
 * programs on request. So saker's main process needs neither CAP_SETUID,
 * CAP_SETGID nor CAP_KILL to run programs as another user and end them: it
 * cannot impersonate or signal another user's process (docs/security.md).
 *
 * A program is started with clone(CLONE_PARENT): its parent is saker's main
 * process, which waits for it, reads its exit status and owns the pipe to
 * its standard input as before (outputs/output_program.h). Only signals go
 * through the spawner, which sends them as the program's own user, and only
 * to the process groups of programs it started.
 *
 * The spawner ends when saker closes its socket or dies (parent-death
 * signal). One spawner per process; calls are serialised by a mutex.
 */
#ifndef SAKER_SPAWNER_H
#define SAKER_SPAWNER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Forks the spawner for user (NULL or "" = "nobody"): 0, or a negative errno
 * with the reason in err. Must run while saker may still switch users (before
 * the capability drop), from the thread that stays (the parent-death signal
 * follows the thread that forked).
 */
int saker_spawner_start(const char *user, char *err, size_t errlen);

/* Whether a spawner runs; when not, output programs are forked directly. */
int saker_spawner_running(void);

/* The user the spawner runs programs as ("" when none runs). */
const char *saker_spawner_user(void);

/*
 * Starts `/bin/sh -c cmd` as the spawner's user with stdin_fd as its standard
 * input, as a child of the calling process, in its own process group and
 * with PR_SET_PDEATHSIG(SIGKILL). Returns its pid (> 0), or a negative errno
 * with the reason in err.
 */
pid_t saker_spawner_spawn(const char *cmd, int stdin_fd, char *err, size_t errlen);

/* kill(-pid, sig) done by the spawner; pid must be one it started. 0 or -errno. */
int saker_spawner_kill(pid_t pid, int sig);

/* Closes the socket: the spawner exits. */
void saker_spawner_stop(void);

#endif
