/*
 * End-to-end helper for tests/e2e/test_view.py: performs known syscalls so
 * the test can find each of them in saker's dump. Loopback only, bounded,
 * leaves no process behind (children exit before it does).
 *
 *   viewprog actions DIR PORT   chdir, opens (relative, dirfd-relative), rename,
 *                               an evil file name, connect to 127.0.0.1:PORT,
 *                               setuid/setgid to its own ids, a fork+exec of
 *                               echo, a failed exec; prints its pid first
 *   viewprog evil DIR           creates and removes the evil file name in DIR
 *   viewprog wait TAG           blocks until a line on stdin, then opens
 *                               /etc/hostname (a process older than saker)
 *   viewprog forks N            N children alive at once, then all exit
 *
 * Every mode ends with a marker: a failing open of "/dev/null/viewprog-end-<pid>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A newline then what a forged dump line would look like, and terminal escapes. */
#define EVIL_NAME "evil\n10:00:00.000000000 0 forged(1) 1 openat ret=0\x1b[31m\"q\".txt"

static void marker(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/null/viewprog-end-%d", (int)getpid());
	if (open(path, O_RDONLY) >= 0)
		exit(2);
}

static int die(const char *what)
{
	fprintf(stderr, "viewprog: %s: %s\n", what, strerror(errno));
	return 1;
}

static int evil(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int fd;

	if (dfd < 0)
		return die("open dir");
	fd = openat(dfd, EVIL_NAME, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		return die("openat evil");
	close(fd);
	if (unlinkat(dfd, EVIL_NAME, 0))
		return die("unlinkat evil");
	close(dfd);
	return 0;
}

static int connect_loopback(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return die("socket");
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		return die("connect");
	if (write(s, "hi", 2) != 2)
		return die("write");
	close(s);
	return 0;
}

static int run_child(char *const argv[], const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return die("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 1);
		execv(path, argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int actions(const char *dir, int port)
{
	char *echo_argv[] = {"echo", "hello world", NULL};
	char *bad_argv[] = {"prog", NULL};
	int fd, dfd;

	printf("%d\n", (int)getpid());
	fflush(stdout);
	if (chdir(dir))
		return die("chdir");
	/* relative to the cwd */
	fd = open("rel.txt", O_CREAT | O_WRONLY | O_TRUNC, 0640);
	if (fd < 0)
		return die("open rel.txt");
	close(fd);
	/* relative to a directory fd */
	if (mkdir("sub", 0750))
		return die("mkdir");
	dfd = open("sub", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return die("open sub");
	fd = openat(dfd, "inner.txt", O_CREAT | O_RDWR, 0600);
	if (fd < 0)
		return die("openat inner");
	close(fd);
	close(dfd);
	if (rename("rel.txt", "renamed.txt"))
		return die("rename");
	if (evil(dir))
		return 1;
	if (connect_loopback(port))
		return 1;
	/* to its own ids: always allowed, and seen as successful calls */
	if (setgid(getgid()) || setuid(getuid()))
		return die("setuid");
	if (run_child(echo_argv, "/bin/echo") != 0)
		return die("echo");
	if (run_child(bad_argv, "/nonexistent/prog") != 127)
		return die("bad exec");
	marker();
	return 0;
}

static int wait_line(void)
{
	char buf[64];
	int fd;

	/* started before saker: blocks until the test says saker runs */
	if (!fgets(buf, sizeof(buf), stdin))
		return die("stdin");
	fd = open("/etc/hostname", O_RDONLY);
	if (fd >= 0)
		close(fd);
	marker();
	return 0;
}

static int forks(long n)
{
	int p[2];
	long made = 0;

	if (n < 1 || n > 10000 || pipe(p))
		return die("forks");
	for (; made < n; made++) {
		pid_t pid = fork();
		char c;

		if (pid < 0)
			break;
		if (pid == 0) {
			/* alive until the parent closes the pipe (or dies) */
			close(p[1]);
			while (read(p[0], &c, 1) > 0)
				;
			_exit(0);
		}
	}
	close(p[0]);
	close(p[1]);
	while (wait(NULL) > 0)
		;
	printf("%ld\n", made);
	marker();
	return made == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "actions"))
		return actions(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "evil"))
		return evil(argv[2]) ? 1 : (marker(), 0);
	if (argc == 3 && !strcmp(argv[1], "wait"))
		return wait_line();
	if (argc == 3 && !strcmp(argv[1], "forks"))
		return forks(atol(argv[2]));
	fprintf(stderr, "usage: viewprog actions DIR PORT | evil DIR | wait TAG | forks N\n");
	return 1;
}
