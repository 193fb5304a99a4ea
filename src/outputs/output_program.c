#include "outputs/output_program.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "outputs/channel.h"
#include "outputs/spawner.h"

extern char **environ;

/* Poll slice while waiting: bounds how late an abort is noticed. */
#define PROGRAM_SLICE_MS 20
#define DEFAULT_USER	 "nobody"

static bool aborted(const struct saker_program *p)
{
	return p->abort && atomic_load(p->abort);
}

static void sleep_us(long us)
{
	nanosleep(&(struct timespec){.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000},
		  NULL);
}

static int lookup_user(struct saker_program *p, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 16, rc;

	rc = getpwnam_r(p->user, &pw, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "program_output.user %s: %s", p->user,
			 rc ? strerror(rc) : "no such user");
		return rc ? -rc : -ENOENT;
	}
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	for (;;) {
		gid_t *g = realloc(p->groups, (size_t)n * sizeof(*g));
		int want = n;

		if (!g)
			return -ENOMEM;
		p->groups = g;
		if (getgrouplist(p->user, p->gid, g, &want) >= 0) {
			p->n_groups = (size_t)want;
			break;
		}
		if (want <= n || want > 65536) {
			/* Only the primary group rather than a list we cannot read. */
			g[0] = p->gid;
			p->n_groups = 1;
			break;
		}
		n = want;
	}
	/* Already that user (and group): nothing to switch, nothing to gain. */
	p->switch_user = geteuid() != p->uid || getegid() != p->gid;
	/* The spawner switched for good at start: a new user needs a new saker. */
	if (saker_spawner_running() && strcmp(p->user, saker_spawner_user()) != 0) {
		snprintf(err, errlen,
			 "program_output.user %s: programs run as %s, the user saker started "
			 "with; changing it needs a restart",
			 p->user, saker_spawner_user());
		return -EPERM;
	}
	return 0;
}

/* kill(-pid, sig): by the spawner when it started the program (it runs as its user). */
static void signal_group(pid_t pid, int sig)
{
	if (saker_spawner_running())
		(void)saker_spawner_kill(pid, sig);
	else
		(void)kill(-pid, sig);
}

int saker_program_init(struct saker_program *p, const char *cmd, const char *user,
		       const atomic_bool *abort, char *err, size_t errlen)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->rfd = -1;
	p->write_timeout_ms = 5000;
	p->exit_grace_ms = 2000;
	p->abort = abort;
	p->cmd = strdup(cmd ? cmd : "");
	p->user = strdup(user && *user ? user : DEFAULT_USER);
	if (!p->cmd || !p->user) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = lookup_user(p, err, errlen);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	saker_program_fini(p);
	return rc;
}

/*
 * True once pid has exited (reaped here, or by someone else: ECHILD);
 * *status if reaped. Gives up early once *abort (when abort is given).
 */
static bool wait_exit(const struct saker_program *p, pid_t pid, int timeout_ms, int *status)
{
	long long end = (long long)(saker_clock_ns(CLOCK_MONOTONIC) / 1000000) + timeout_ms;
	long us = 100;

	for (;;) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (status)
				*status = st;
			return true;
		}
		if (r < 0 && errno != EINTR)
			return true;
		if ((long long)(saker_clock_ns(CLOCK_MONOTONIC) / 1000000) >= end ||
		    (p && aborted(p)))
			return false;
		sleep_us(us);
		us = us < 10000 ? us * 2 : 10000;
	}
}

static void close_fds(struct saker_program *p)
{
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	if (p->rfd >= 0) {
		close(p->rfd);
		p->rfd = -1;
	}
}

/* Ends the child (already sent EOF) and reaps it. */
static void reap(struct saker_program *p, int grace_ms)
{
	pid_t pid = p->pid;

	if (pid <= 0)
		return;
	p->pid = 0;
	if (wait_exit(p, pid, aborted(p) ? 0 : grace_ms, NULL))
		return;
	/* Not reaped yet, so the group id cannot have been reused. */
	signal_group(pid, SIGTERM);
	if (!wait_exit(NULL, pid, aborted(p) ? 200 : 1000, NULL)) {
		signal_group(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

void saker_program_stop(struct saker_program *p)
{
	if (p->fd >= 0) {
		/* EOF lets the program finish what it has read and exit on its own. */
		close(p->fd);
		p->fd = -1;
	}
	reap(p, p->exit_grace_ms);
	close_fds(p);
}

/* The child between fork and exec: async-signal-safe calls only. */
static void child(const struct saker_program *p, int rfd, int errfd, pid_t parent)
{
	char *argv[] = {"sh", "-c", p->cmd, NULL};
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int e;

	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);
	if (dup2(rfd, STDIN_FILENO) < 0)
		goto fail;
	if (p->switch_user) {
		/*
		 * Raw system calls: they change this (only) thread, without
		 * glibc's all-threads machinery, which a forked child must not use.
		 * Groups first: after setuid the right to change them is gone.
		 */
		if (syscall(SYS_setgroups, p->n_groups, p->groups) < 0 ||
		    syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0 ||
		    syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
			goto fail;
		if (getuid() != p->uid || geteuid() != p->uid || getgid() != p->gid) {
			errno = EPERM;
			goto fail;
		}
	}
	/* After the switch: changing credentials clears the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	if (getppid() != parent)
		_exit(0); /* saker is already gone */
	execve("/bin/sh", argv, environ);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

static int program_start(struct saker_program *p, char *err, size_t errlen)
{
	int pfd[2], efd[2], rc, e = 0;
	pid_t parent = getpid(), pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-rc));
		return rc;
	}
	if (pipe2(efd, O_CLOEXEC) < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		snprintf(err, errlen, "pipe: %s", strerror(-rc));
		return rc;
	}
	if (saker_spawner_running()) {
		close(efd[0]);
		close(efd[1]);
		pid = saker_spawner_spawn(p->cmd, pfd[0], err, errlen);
		if (pid < 0) {
			close(pfd[0]);
			close(pfd[1]);
			return pid;
		}
		goto started;
	}
	pid = fork();
	if (pid == 0)
		child(p, pfd[0], efd[1], parent);
	close(efd[1]);
	if (pid < 0) {
		rc = -errno;
		close(efd[0]);
		close(pfd[0]);
		close(pfd[1]);
		snprintf(err, errlen, "fork: %s", strerror(-rc));
		return rc;
	}
	/* EOF (exec went through, close-on-exec) or the child's errno. */
	do
		n = read(efd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(efd[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pfd[0]);
		close(pfd[1]);
		snprintf(err, errlen, "cannot start the program as user %s: %s", p->user,
			 strerror(e));
		return -e;
	}
started:
	/* Non-blocking so that writes can time out and notice an abort. */
	(void)fcntl(pfd[1], F_SETFL, fcntl(pfd[1], F_GETFL) | O_NONBLOCK);
	p->fd = pfd[1];
	p->rfd = pfd[0];
	p->pid = pid;
	return 0;
}

static int unread(const struct saker_program *p)
{
	int n = 0;

	if (p->rfd < 0 || ioctl(p->rfd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

static void describe_exit(char *buf, size_t len, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "unknown status");
}

/* The program has exited: reaps it; -EPIPE if it left input unread. */
static int exited(struct saker_program *p, int status, bool have_status, char *err, size_t errlen)
{
	int left = unread(p);
	char how[64];

	p->pid = 0;
	describe_exit(how, sizeof(how), status);
	close_fds(p);
	if (left != 0) {
		snprintf(err, errlen, "program exited (%s) without reading its input",
			 have_status ? how : "unknown status");
		return -EPIPE;
	}
	return 0;
}

/* Waits until the program has read everything written so far. */
static int wait_read(struct saker_program *p, long long deadline, char *err, size_t errlen)
{
	long us = 50;

	for (;;) {
		int st = 0;
		pid_t r;

		if (unread(p) == 0)
			return 0;
		r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			return exited(p, st, true, err, errlen);
		if (aborted(p)) {
			snprintf(err, errlen, "write to program: cancelled");
			return -ECANCELED;
		}
		if ((long long)(saker_clock_ns(CLOCK_MONOTONIC) / 1000000) >= deadline) {
			snprintf(err, errlen, "program did not read its input for %d ms",
				 p->write_timeout_ms);
			return -ETIMEDOUT;
		}
		sleep_us(us);
		us = us < 10000 ? us * 2 : 10000;
	}
}

int saker_program_write(struct saker_program *p, const char *buf, size_t len, char *err,
			size_t errlen)
{
	long long deadline;
	size_t off = 0;
	int rc;

	if (p->pid > 0) {
		int st = 0;
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		/* Exited since the last alert (having read it): start a new one. */
		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			p->pid = 0;
			close_fds(p);
		}
	}
	if (p->pid <= 0) {
		rc = program_start(p, err, errlen);
		if (rc < 0)
			return rc;
	}
	deadline = (long long)(saker_clock_ns(CLOCK_MONOTONIC) / 1000000) + p->write_timeout_ms;
	while (off < len) {
		ssize_t n = write(p->fd, buf + off, len - off);
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
		left = deadline - (long long)(saker_clock_ns(CLOCK_MONOTONIC) / 1000000);
		if (aborted(p)) {
			rc = -ECANCELED;
			snprintf(err, errlen, "write to program: cancelled");
			goto fail;
		}
		if (left <= 0) {
			rc = -ETIMEDOUT;
			snprintf(err, errlen, "program did not read its input for %d ms",
				 p->write_timeout_ms);
			goto fail;
		}
		/* A program that exits with the pipe full never makes it writable again. */
		{
			int st = 0;

			if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
				rc = exited(p, st, true, err, errlen);
				if (rc == 0)
					rc = -EPIPE;
				goto fail;
			}
		}
		poll(&(struct pollfd){.fd = p->fd, .events = POLLOUT}, 1,
		     left < PROGRAM_SLICE_MS ? (int)left : PROGRAM_SLICE_MS);
	}
	rc = wait_read(p, deadline, err, errlen);
	if (rc < 0 && p->pid > 0)
		goto fail;
	return rc;
fail:
	/* Part of a line may be in the pipe: only a fresh process gets clean input. */
	saker_program_stop(p);
	return rc;
}

int saker_program_finish(struct saker_program *p, char *err, size_t errlen)
{
	int st = 0;
	char how[64];
	int left;

	if (p->pid <= 0) {
		close_fds(p);
		return 0;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	if (!wait_exit(p, p->pid, aborted(p) ? 0 : p->exit_grace_ms, &st)) {
		saker_program_stop(p);
		snprintf(err, errlen, "program did not exit within %d ms of its input's end",
			 p->exit_grace_ms);
		return aborted(p) ? -ECANCELED : -ETIMEDOUT;
	}
	p->pid = 0;
	left = unread(p);
	close_fds(p);
	describe_exit(how, sizeof(how), st);
	if (left != 0) {
		snprintf(err, errlen, "program exited (%s) without reading its input", how);
		return -EPIPE;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "program exited with %s", how);
		return -EIO;
	}
	return 0;
}

void saker_program_fini(struct saker_program *p)
{
	if (!p)
		return;
	saker_program_stop(p);
	free(p->cmd);
	free(p->user);
	free(p->groups);
	p->cmd = NULL;
	p->user = NULL;
	p->groups = NULL;
}

/* ---- the channel (outputs/channel.h) ---- */

/* A per-alert program (keep_alive false) gets this long to exit after its line. */
#define PROGRAM_ONESHOT_EXIT_MS 5000
#define PROGRAM_KEEP_EXIT_MS	2000

struct program_settings {
	char *cmd;
	char *user;
	bool keep_alive;
};

static bool program_enabled(const struct saker_config *cfg)
{
	return cfg->program_output.enabled;
}

static void program_settings_free(void *ps)
{
	struct program_settings *s = ps;

	if (s) {
		free(s->cmd);
		free(s->user);
	}
	free(s);
}

/* The user is looked up now, so a bad one is refused at start-up or reload. */
static int program_settings_new(void **out, const struct saker_config *cfg, char *err,
				size_t errlen)
{
	const char *cmd = cfg->program_output.program;
	const char *user = cfg->program_output.user && *cfg->program_output.user
			       ? cfg->program_output.user
			       : DEFAULT_USER;
	struct passwd pw, *res = NULL;
	struct program_settings *s;
	char pwbuf[4096];
	int e;

	if (!cmd || !*cmd) {
		snprintf(err, errlen, "program_output needs a program");
		return -EINVAL;
	}
	e = getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res);
	if (e != 0 || !res) {
		snprintf(err, errlen, "program_output.user %s: %s", user,
			 e ? strerror(e) : "no such user");
		return e ? -e : -ENOENT;
	}
	s = calloc(1, sizeof(*s));
	if (s) {
		s->cmd = strdup(cmd);
		s->user = strdup(user);
		s->keep_alive = cfg->program_output.keep_alive;
	}
	if (!s || !s->cmd || !s->user) {
		program_settings_free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static bool program_settings_eq(const void *pa, const void *pb)
{
	const struct program_settings *a = pa, *b = pb;

	return strcmp(a->cmd, b->cmd) == 0 && strcmp(a->user, b->user) == 0 &&
	       a->keep_alive == b->keep_alive;
}

struct program_chan {
	struct saker_program prog;
	bool keep_alive;
};

static int program_open(void **state, const void *settings, const struct saker_chan_env *env,
			char *err, size_t errlen)
{
	const struct program_settings *s = settings;
	struct program_chan *pc = calloc(1, sizeof(*pc));
	int rc;

	if (!pc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = saker_program_init(&pc->prog, s->cmd, s->user, env->abort, err, errlen);
	if (rc < 0) {
		free(pc);
		return rc;
	}
	pc->keep_alive = s->keep_alive;
	pc->prog.exit_grace_ms = s->keep_alive ? PROGRAM_KEEP_EXIT_MS : PROGRAM_ONESHOT_EXIT_MS;
	*state = pc;
	return 0;
}

static struct saker_chan_tally program_deliver(void *state, const char *line, size_t len,
					       enum saker_prio prio, char *err, size_t errlen)
{
	struct program_chan *pc = state;
	int rc;

	(void)prio;
	rc = saker_program_write(&pc->prog, line, len, err, errlen);
	if (rc == 0 && !pc->keep_alive)
		rc = saker_program_finish(&pc->prog, err, errlen);
	return saker_chan_result(rc);
}

static struct saker_chan_tally program_reopen(void *state, char *err, size_t errlen)
{
	struct program_chan *pc = state;

	(void)err;
	(void)errlen;
	/* The next alert starts it again. */
	saker_program_stop(&pc->prog);
	return (struct saker_chan_tally){0};
}

static struct saker_chan_tally program_close(void *state, bool cut, char *err, size_t errlen)
{
	struct program_chan *pc = state;

	(void)cut;
	(void)err;
	(void)errlen;
	if (pc)
		saker_program_fini(&pc->prog);
	free(pc);
	return (struct saker_chan_tally){0};
}

const struct saker_channel_ops saker_output_program = {
    .name = "program",
    .enabled = program_enabled,
    .settings_new = program_settings_new,
    .settings_eq = program_settings_eq,
    .settings_free = program_settings_free,
    .open = program_open,
    .deliver = program_deliver,
    .reopen = program_reopen,
    .close = program_close,
};
