#include "outputs/output_program.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Poll slice while waiting: bounds how late an abort is noticed. */
#define PROGRAM_SLICE_MS 20

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool aborted(const struct saker_program *p)
{
	return p->abort && atomic_load(p->abort);
}

int saker_program_init(struct saker_program *p, const char *cmd, const atomic_bool *abort)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->write_timeout_ms = 5000;
	p->exit_grace_ms = 2000;
	p->abort = abort;
	p->cmd = strdup(cmd ? cmd : "");
	return p->cmd ? 0 : -ENOMEM;
}

/* True once pid has exited (reaped here, or by someone else: ECHILD). */
static bool wait_exit(pid_t pid, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (r < 0 && errno != EINTR)
			return true;
		if (mono_ms() >= end)
			return false;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
	}
}

void saker_program_stop(struct saker_program *p)
{
	pid_t pid = p->pid;

	if (p->fd >= 0) {
		/* EOF lets the program finish what it has read and exit on its own. */
		close(p->fd);
		p->fd = -1;
	}
	if (pid <= 0)
		return;
	p->pid = 0;
	if (wait_exit(pid, aborted(p) ? 0 : p->exit_grace_ms))
		return;
	/* Not reaped yet, so the group id cannot have been reused. */
	kill(-pid, SIGTERM);
	if (wait_exit(pid, 1000))
		return;
	kill(-pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int program_start(struct saker_program *p, char *err, size_t errlen)
{
	char *argv[] = {"sh", "-c", p->cmd, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int pfd[2], rc;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-rc));
		return rc;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* dup2 clears close-on-exec on the child's stdin only. */
	posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[0]);
	if (rc != 0) {
		close(pfd[1]);
		snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
		return -rc;
	}
	/* Non-blocking so that writes can time out and notice an abort. */
	fcntl(pfd[1], F_SETFL, fcntl(pfd[1], F_GETFL) | O_NONBLOCK);
	p->fd = pfd[1];
	p->pid = pid;
	return 0;
}

/* write(2) with SIGPIPE kept from killing the process: EPIPE is reported instead. */
static ssize_t write_nosigpipe(int fd, const char *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending) {
		/* Consume the SIGPIPE this write raised so it never fires later. */
		struct timespec zero = {0, 0};

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

int saker_program_write(struct saker_program *p, const char *buf, size_t len, char *err,
			size_t errlen)
{
	long long deadline;
	size_t off = 0;
	int rc;

	if (p->pid > 0) {
		pid_t r = waitpid(p->pid, NULL, WNOHANG);

		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			/* Exited since the last alert: start a new one. */
			p->pid = 0;
			if (p->fd >= 0) {
				close(p->fd);
				p->fd = -1;
			}
		}
	}
	if (p->pid <= 0) {
		rc = program_start(p, err, errlen);
		if (rc < 0)
			return rc;
	}
	deadline = mono_ms() + p->write_timeout_ms;
	while (off < len) {
		ssize_t n = write_nosigpipe(p->fd, buf + off, len - off);
		long long left;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			rc = -errno;
			snprintf(err, errlen, "write to program: %s", strerror(-rc));
			goto fail;
		}
		left = deadline - mono_ms();
		if (aborted(p)) {
			rc = -ECANCELED;
			snprintf(err, errlen, "write to program: cancelled at shutdown");
			goto fail;
		}
		if (left <= 0) {
			rc = -ETIMEDOUT;
			snprintf(err, errlen, "program did not read its input for %d ms",
				 p->write_timeout_ms);
			goto fail;
		}
		poll(&(struct pollfd){.fd = p->fd, .events = POLLOUT}, 1,
		     left < PROGRAM_SLICE_MS ? (int)left : PROGRAM_SLICE_MS);
	}
	return 0;
fail:
	/* Part of a line may be in the pipe: only a fresh process gets clean input. */
	saker_program_stop(p);
	return rc;
}

void saker_program_fini(struct saker_program *p)
{
	if (!p)
		return;
	saker_program_stop(p);
	free(p->cmd);
	p->cmd = NULL;
}
