/*
 * program_output: `/bin/sh -c <program>` started by saker with a pipe to its
 * standard input; alerts are written to that pipe, one per line. Alert text
 * is never part of the command line.
 *
 * The child runs as the configured user (supplementary groups, group, then
 * user, so it keeps nothing of root's; a failure to switch fails the start,
 * it never runs as root instead), gets PR_SET_PDEATHSIG(SIGKILL) after the
 * switch (a credential change clears it) so it ends with saker even after
 * `kill -9`, its own process group (terminal signals do not reach it; saker
 * decides when it stops), default signal dispositions and an empty mask.
 * When the spawner runs (outputs/spawner.h, started by saker before its
 * capability drop) it starts the program and sends its signals instead, and
 * the program's user is the spawner's.
 *
 * An alert counts as delivered only once the program has read it: saker
 * keeps its own copy of the pipe's read end and asks how many bytes are
 * still unread (FIONREAD). A program that exits without reading (`true`)
 * fails its alerts; so does a per-alert program that exits with a non-zero
 * status.
 *
 * Used from one output thread only. Every wait gives up after a deadline or
 * when *abort becomes true, so a program that stops reading cannot hold the
 * thread forever.
 */
#ifndef SAKER_OUTPUT_PROGRAM_H
#define SAKER_OUTPUT_PROGRAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct saker_program {
	char *cmd;
	char *user;
	bool switch_user; /* false when saker already runs as that user */
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	pid_t pid; /* 0 when not running */
	int fd;	   /* write end of the child's stdin, -1 when closed */
	int rfd;   /* our copy of the read end: what the program left unread */
	int write_timeout_ms;
	int exit_grace_ms; /* after closing stdin, before SIGTERM */
	const atomic_bool *abort;
};

/*
 * Does not start anything yet. cmd is copied; user (NULL or "" = "nobody")
 * is looked up now: 0, or a negative errno with the reason in err.
 */
int saker_program_init(struct saker_program *p, const char *cmd, const char *user,
		       const atomic_bool *abort, char *err, size_t errlen);
/*
 * Starts the program if it is not running (or has exited), writes all of
 * buf and waits until the program has read it. 0, or a negative errno
 * (-ECANCELED when *abort cut it short) with the reason in err; on failure
 * the program is stopped, so the next write starts a fresh one.
 */
int saker_program_write(struct saker_program *p, const char *buf, size_t len, char *err,
			size_t errlen);
/*
 * Per-alert mode: closes its stdin, waits for it to exit (exit_grace_ms,
 * then it is stopped) and checks that it read everything and exited 0.
 */
int saker_program_finish(struct saker_program *p, char *err, size_t errlen);
/*
 * Closes its stdin and waits for it to exit, escalating to SIGTERM then
 * SIGKILL of its process group after bounded waits (short ones once *abort).
 */
void saker_program_stop(struct saker_program *p);
void saker_program_fini(struct saker_program *p);

#endif
