#include "lib/privread.h"

#include "lib/child.h"
#include "lib/fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HELPER_FD 3
/* Longer than any answer: a link (PATH_MAX) or an fdinfo text (the caller's buffer). */
#define MAX_ANSWER PATH_MAX
/* A reply later than this means the helper is stuck: the caller gives up. */
#define REPLY_TIMEOUT_S 5

enum { OP_LINK = 1, OP_FILE = 2 };

struct req {
	uint32_t op;
	char name[32];
};

struct reply {
	int32_t rc; /* length, or a negative errno */
	char data[MAX_ANSWER];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;
static pid_t helper_pid;

/* ---- the helper (async-signal-safe calls only: forked from a threaded process) ---- */

/* "fd/<n>" or "fdinfo/<n>" with a decimal n; "exe", "cwd". */
static bool allowed(uint32_t op, const char *name)
{
	const char *p = NULL;

	if (op == OP_LINK && (!strcmp(name, "exe") || !strcmp(name, "cwd")))
		return true;
	if (op == OP_LINK && !strncmp(name, "fd/", 3))
		p = name + 3;
	else if (op == OP_FILE && !strncmp(name, "fdinfo/", 7))
		p = name + 7;
	if (!p || !*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int32_t answer(uint32_t op, int dirfd, const char *name, char *data)
{
	struct statfs sfs;
	ssize_t n;
	int fd;

	/* Not one of the reads it makes: the caller keeps its own refusal. */
	if (fstatfs(dirfd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC || !allowed(op, name))
		return -ENOTSUP;
	if (op == OP_LINK) {
		n = readlinkat(dirfd, name, data, MAX_ANSWER - 1);
		return n < 0 ? -errno : (int32_t)n;
	}
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, data, MAX_ANSWER - 1);
	n = n < 0 ? -errno : n;
	close(fd);
	return (int32_t)n;
}

static void helper_main(int s, pid_t saker)
{
	static struct reply rp;

	if (saker_child_setup(s, HELPER_FD) ||
	    saker_child_confine((1ULL << CAP_SYS_PTRACE) | (1ULL << CAP_DAC_READ_SEARCH)))
		_exit(126);
	s = HELPER_FD;
	/* Not traceable by saker (which has fewer capabilities) nor by anyone without ptrace. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0) ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(126);
	(void)prctl(PR_SET_NAME, "saker-procread", 0, 0, 0);
	if (getppid() != saker)
		_exit(0);
	for (;;) {
		struct req rq;
		int dirfd;
		ssize_t n = saker_fdpass_recv(s, &rq, sizeof(rq), &dirfd);
		size_t out;

		if (n <= 0)
			_exit(0);
		rq.name[sizeof(rq.name) - 1] = '\0';
		if (n != (ssize_t)sizeof(rq) || dirfd < 0)
			rp.rc = -EINVAL;
		else
			rp.rc = answer(rq.op, dirfd, rq.name, rp.data);
		if (dirfd >= 0)
			close(dirfd);
		out = offsetof(struct reply, data) + (rp.rc > 0 ? (size_t)rp.rc : 0);
		(void)!send(s, &rp, out, MSG_NOSIGNAL);
	}
}

/* ---- saker's side ---- */

int saker_privread_start(char *err, size_t errlen)
{
	pid_t saker = getpid(), pid;
	int s;

	if (sock >= 0) {
		snprintf(err, errlen, "the /proc helper already runs");
		return -EBUSY;
	}
	pid = saker_fdpass_fork(&s, REPLY_TIMEOUT_S, err, errlen);
	if (pid == 0)
		helper_main(s, saker);
	if (pid < 0)
		return pid;
	pthread_mutex_lock(&lock);
	sock = s;
	helper_pid = pid;
	pthread_mutex_unlock(&lock);
	return 0;
}

pid_t saker_privread_pid(void)
{
	pid_t p;

	pthread_mutex_lock(&lock);
	p = sock >= 0 ? helper_pid : 0;
	pthread_mutex_unlock(&lock);
	return p;
}

void saker_privread_stop(void)
{
	pid_t pid;

	pthread_mutex_lock(&lock);
	if (sock >= 0)
		close(sock);
	sock = -1;
	pid = helper_pid;
	helper_pid = 0;
	pthread_mutex_unlock(&lock);
	saker_child_reap(pid, 1000);
}

/* Asks the helper; -ENOTCONN when there is none, -ENOTSUP for a read it does not make. */
static ssize_t ask(uint32_t op, int dirfd, const char *name, char *buf, size_t len)
{
	static struct reply rp;
	struct req rq = {.op = op};
	const struct iovec iov = {.iov_base = &rq, .iov_len = sizeof(rq)};
	ssize_t n, rc;

	if (strlen(name) >= sizeof(rq.name))
		return -ENAMETOOLONG;
	memcpy(rq.name, name, strlen(name) + 1);
	pthread_mutex_lock(&lock);
	if (sock < 0) {
		rc = -ENOTCONN;
		goto out;
	}
	n = saker_fdpass_send(sock, &iov, 1, dirfd);
	if (n < 0) {
		rc = n;
		goto out;
	}
	do
		n = recv(sock, &rp, sizeof(rp), 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)offsetof(struct reply, data)) {
		rc = n < 0 ? -errno : -EPIPE;
		goto out;
	}
	rc = rp.rc;
	if (rc > (ssize_t)(n - (ssize_t)offsetof(struct reply, data)))
		rc = -EPROTO;
	if (rc >= 0) {
		if ((size_t)rc > len - 1)
			rc = (ssize_t)len - 1;
		memcpy(buf, rp.data, (size_t)rc);
		buf[rc] = '\0';
	}
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

static bool refused(ssize_t rc)
{
	return rc == -EACCES || rc == -EPERM;
}

ssize_t saker_privread_link(int dirfd, const char *name, char *buf, size_t len)
{
	ssize_t n, h;

	if (!len)
		return -EINVAL;
	n = readlinkat(dirfd, name, buf, len - 1);
	if (n >= 0) {
		buf[n] = '\0';
		return n;
	}
	n = -errno;
	buf[0] = '\0';
	if (!refused(n))
		return n;
	h = ask(OP_LINK, dirfd, name, buf, len);
	return h == -ENOTCONN || h == -ENOTSUP ? n : h;
}

ssize_t saker_privread_file(int dirfd, const char *name, char *buf, size_t len)
{
	int fd;
	ssize_t n, h;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		n = n < 0 ? -errno : n;
		close(fd);
		if (n >= 0)
			buf[n] = '\0';
		if (!refused(n))
			return n;
	} else {
		n = -errno;
		if (!refused(n))
			return n;
	}
	h = ask(OP_FILE, dirfd, name, buf, len);
	if (h == -ENOTCONN || h == -ENOTSUP) {
		buf[0] = '\0';
		return n;
	}
	return h;
}
