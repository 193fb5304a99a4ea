/*
 * program_output: `/bin/sh -c <program>` started by saker with a pipe to its
 * standard input; alerts are written to that pipe, one per line. Alert text
 * is never part of the command line. The child gets its own process group
 * (terminal signals do not reach it; saker decides when it stops), default
 * signal dispositions and an empty signal mask.
 *
 * Used from the output thread only. Writes give up after a deadline or when
 * *abort becomes true, so a program that stops reading cannot hold the
 * output thread forever.
 */
#ifndef SAKER_OUTPUT_PROGRAM_H
#define SAKER_OUTPUT_PROGRAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct saker_program {
	char *cmd;
	pid_t pid; /* 0 when not running */
	int fd;	   /* write end of the child's stdin, -1 when closed */
	int write_timeout_ms;
	int exit_grace_ms; /* after closing stdin, before SIGTERM */
	const atomic_bool *abort;
};

/* Does not start anything yet. cmd is copied. */
int saker_program_init(struct saker_program *p, const char *cmd, const atomic_bool *abort);
/* Starts the program if it is not running (or has exited), then writes all of buf. */
int saker_program_write(struct saker_program *p, const char *buf, size_t len, char *err,
			size_t errlen);
/*
 * Closes its stdin and waits for it to exit, escalating to SIGTERM then
 * SIGKILL of its process group after bounded waits.
 */
void saker_program_stop(struct saker_program *p);
void saker_program_fini(struct saker_program *p);

#endif
