#include "outputs/spawner.h"

#include "lib/child.h"
#include "lib/fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_USER "nobody"
#define MAX_CMD	     (64 * 1024)
/* Programs whose groups the spawner may still signal: the most recent ones. */
#define N_RECENT 64
/* A reply later than this means the spawner is stuck: the caller gives up. */
#define REPLY_TIMEOUT_S 5
#define SPAWNER_FD	3

enum { OP_SPAWN = 1, OP_KILL = 2 };

struct req {
	uint32_t op;
	int32_t pid;
	int32_t sig;
	uint32_t len; /* of the command that follows */
};

struct reply {
	int32_t rc;
	int32_t pid;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;
static pid_t spawner_pid;
static char spawner_user[256];

/* ---- the spawner process (async-signal-safe calls only: forked from a threaded process) ---- */

static void reply(int s, int32_t rc, int32_t pid)
{
	struct reply r = {.rc = rc, .pid = pid};

	(void)!send(s, &r, sizeof(r), MSG_NOSIGNAL);
}

/* The program, between clone and exec: the spawner already runs as the user. */
static void program_child(const char *cmd, int in, int errfd, pid_t saker)
{
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	int e;

	(void)setpgid(0, 0);
	if (dup2(in, STDIN_FILENO) < 0)
		goto fail;
	/* Its parent is saker's main process (CLONE_PARENT): it ends with saker. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	if (getppid() != saker)
		_exit(0);
	execve("/bin/sh", argv, environ);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

static int32_t spawn_one(const char *cmd, int in, pid_t saker, pid_t *out, int *pidfd)
{
	int efd[2], e = 0;
	ssize_t n;
	long pid;

	*out = 0;
	*pidfd = -1;
	if (pipe2(efd, O_CLOEXEC) < 0)
		return -errno;
	/*
	 * CLONE_PARENT: saker, not the spawner, is the parent that waits for it.
	 * CLONE_PIDFD: the spawner can tell whether it still runs, so that a
	 * signal never reaches a process group whose id was reused.
	 */
	pid = syscall(SYS_clone, CLONE_PARENT | CLONE_PIDFD | SIGCHLD, 0, pidfd, 0, 0);
	if (pid == 0)
		program_child(cmd, in, efd[1], saker);
	close(efd[1]);
	if (pid < 0) {
		e = errno;
		close(efd[0]);
		return -e;
	}
	*out = (pid_t)pid;
	do
		n = read(efd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(efd[0]);
	return n == (ssize_t)sizeof(e) ? -e : 0;
}

/*
 * Whether the program behind pidfd has not exited yet. It has not been
 * waited for either (saker reaps it only after the signals it asks for), so
 * while it runs its pid, and so its process group's id, is its own.
 */
static bool alive(int pidfd)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

	return pidfd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* The programs the spawner started last, to kill (their process group) on request or at exit. */
struct recent {
	pid_t pid;
	int pidfd;
};

/*
 * The spawner process becomes the program's user with no capability and only
 * stdio and the socket (SPAWNER_FD) open, or exits 126. Exits 0 when saker
 * is already gone.
 */
static void spawner_become(int s, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
			   pid_t saker)
{
	if (saker_child_setup(s, SPAWNER_FD))
		_exit(126);
	/* Raw system calls: they change this one thread, without glibc's all-threads machinery. */
	if (syscall(SYS_setgroups, n_groups, groups) < 0 ||
	    syscall(SYS_setresgid, gid, gid, gid) < 0 || syscall(SYS_setresuid, uid, uid, uid) < 0)
		_exit(126);
	if (getuid() != uid || geteuid() != uid || getgid() != gid || saker_child_confine(0) < 0)
		_exit(126);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		_exit(126);
	/* After the switch: changing credentials clears the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
	if (getppid() != saker)
		_exit(0);
}

/* One request of n bytes in buf (in: the fd it carried, or -1); the reply is sent. */
static void spawner_serve(int s, char *buf, size_t n, int in, pid_t saker, struct recent *recent,
			  unsigned *next)
{
	struct req rq;

	if (n < sizeof(rq)) {
		reply(s, -EINVAL, 0);
		return;
	}
	memcpy(&rq, buf, sizeof(rq));
	if (rq.op == OP_SPAWN && in >= 0 && rq.len == n - sizeof(rq)) {
		unsigned slot = (*next)++ % N_RECENT;
		pid_t pid;
		int32_t rc;
		int pidfd;

		buf[n] = '\0';
		rc = spawn_one(buf + sizeof(rq), in, saker, &pid, &pidfd);
		if (pid > 0) {
			if (recent[slot].pidfd >= 0)
				close(recent[slot].pidfd);
			recent[slot].pid = pid;
			recent[slot].pidfd = pidfd;
		}
		reply(s, rc, (int32_t)pid);
	} else if (rq.op == OP_KILL) {
		int32_t rc = -EPERM;

		for (unsigned i = 0; rq.pid > 0 && i < N_RECENT; i++)
			if (recent[i].pid == rq.pid)
				rc = !alive(recent[i].pidfd) ? -ESRCH
				     : kill(-rq.pid, rq.sig) ? -errno
							     : 0;
		reply(s, rc, rq.pid);
	} else {
		reply(s, -EINVAL, 0);
	}
}

static void spawner_main(int s, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
			 pid_t saker)
{
	static char buf[sizeof(struct req) + MAX_CMD + 1];
	struct recent recent[N_RECENT];
	unsigned next = 0;

	for (unsigned i = 0; i < N_RECENT; i++) {
		recent[i].pid = 0;
		recent[i].pidfd = -1;
	}
	spawner_become(s, uid, gid, groups, n_groups, saker);
	s = SPAWNER_FD;
	for (;;) {
		int in;
		ssize_t n = saker_fdpass_recv(s, buf, sizeof(buf) - 1, &in);

		if (n <= 0) {
			/*
			 * saker is gone (its end of the socket closed, even after kill -9). The
			 * programs' parent-death signal needs CAP_KILL in saker, which it
			 * dropped: the spawner, their own user, ends them instead.
			 */
			for (unsigned i = 0; i < N_RECENT; i++)
				if (alive(recent[i].pidfd))
					(void)kill(-recent[i].pid, SIGKILL);
			_exit(0);
		}
		spawner_serve(s, buf, (size_t)n, in, saker, recent, &next);
		if (in >= 0)
			close(in);
	}
}

/* ---- saker's side ---- */

static int lookup(const char *user, uid_t *uid, gid_t *gid, gid_t **groups, size_t *n_groups,
		  char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 16, rc;

	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "program_output.user %s: %s", user,
			 rc ? strerror(rc) : "no such user");
		return rc ? -rc : -ENOENT;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	*groups = NULL;
	for (;;) {
		gid_t *g = realloc(*groups, (size_t)n * sizeof(*g));
		int want = n;

		if (!g) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		*groups = g;
		if (getgrouplist(user, *gid, g, &want) >= 0) {
			*n_groups = (size_t)want;
			return 0;
		}
		if (want <= n || want > 65536) {
			/* Only the primary group rather than a list we cannot read. */
			g[0] = *gid;
			*n_groups = 1;
			return 0;
		}
		n = want;
	}
}

int saker_spawner_start(const char *user, char *err, size_t errlen)
{
	gid_t *groups = NULL;
	size_t n_groups = 0;
	uid_t uid;
	gid_t gid;
	pid_t saker = getpid(), pid;
	int s, rc;

	if (!user || !*user)
		user = DEFAULT_USER;
	if (sock >= 0) {
		snprintf(err, errlen, "the spawner already runs");
		return -EBUSY;
	}
	rc = lookup(user, &uid, &gid, &groups, &n_groups, err, errlen);
	if (rc < 0) {
		free(groups);
		return rc;
	}
	pid = saker_fdpass_fork(&s, REPLY_TIMEOUT_S, err, errlen);
	if (pid == 0)
		spawner_main(s, uid, gid, groups, n_groups, saker);
	free(groups);
	if (pid < 0)
		return pid;
	pthread_mutex_lock(&lock);
	sock = s;
	spawner_pid = pid;
	snprintf(spawner_user, sizeof(spawner_user), "%s", user);
	pthread_mutex_unlock(&lock);
	return 0;
}

int saker_spawner_running(void)
{
	int r;

	pthread_mutex_lock(&lock);
	r = sock >= 0;
	pthread_mutex_unlock(&lock);
	return r;
}

const char *saker_spawner_user(void)
{
	return spawner_user;
}

/* One request and its reply, under the lock. */
static int call(const struct req *rq, const char *cmd, int fd, struct reply *rp)
{
	const struct iovec iov[2] = {{.iov_base = (void *)rq, .iov_len = sizeof(*rq)},
				     {.iov_base = (void *)cmd, .iov_len = rq->len}};
	ssize_t n;
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (sock < 0) {
		rc = -ENOTCONN;
		goto out;
	}
	n = saker_fdpass_send(sock, iov, rq->len ? 2 : 1, fd);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	do
		n = recv(sock, rp, sizeof(*rp), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*rp))
		rc = n < 0 ? -errno : -EPIPE;
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

pid_t saker_spawner_spawn(const char *cmd, int stdin_fd, char *err, size_t errlen)
{
	size_t len = cmd ? strlen(cmd) : 0;
	struct req rq = {.op = OP_SPAWN, .len = (uint32_t)len};
	struct reply rp = {0};
	int rc;

	if (len > MAX_CMD) {
		snprintf(err, errlen, "program_output.program is longer than %d bytes", MAX_CMD);
		return -E2BIG;
	}
	rc = call(&rq, cmd ? cmd : "", stdin_fd, &rp);
	if (rc < 0) {
		snprintf(err, errlen, "program spawner: %s", strerror(-rc));
		return rc;
	}
	if (rp.rc < 0) {
		/* Our child all the same (CLONE_PARENT): reaped here. */
		if (rp.pid > 0)
			while (waitpid(rp.pid, NULL, 0) < 0 && errno == EINTR)
				;
		snprintf(err, errlen, "cannot start the program as user %s: %s", spawner_user,
			 strerror(-rp.rc));
		return rp.rc;
	}
	return rp.pid;
}

int saker_spawner_kill(pid_t pid, int sig)
{
	struct req rq = {.op = OP_KILL, .pid = pid, .sig = sig};
	struct reply rp = {0};
	int rc = call(&rq, "", -1, &rp);

	return rc < 0 ? rc : rp.rc;
}

void saker_spawner_stop(void)
{
	pid_t pid;

	pthread_mutex_lock(&lock);
	if (sock >= 0)
		close(sock);
	sock = -1;
	pid = spawner_pid;
	spawner_pid = 0;
	spawner_user[0] = '\0';
	pthread_mutex_unlock(&lock);
	/* It exits on the socket's end; bounded, as a stuck one is killed with saker anyway. */
	saker_child_reap(pid, 1000);
}
