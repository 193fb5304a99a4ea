/*
 * Critical-event markers and floods for the protected-lane tests. Bounded by
 * construction (counts and seconds), loopback only, touches nothing but its
 * own processes. Prints one line "done N" when finished.
 *
 *   lanemark markers EXECS CONNECTS SETUIDS PTRACES MEMFDS PORT
 *       EXECS children exec /bin/true saker-mark-exec-I; CONNECTS connect()s
 *       to 127.0.0.1:PORT (nothing listens: refused); SETUIDS setuid(own
 *       uid); PTRACES PTRACE_ATTACH/DETACH of a child of its own;
 *       MEMFDS memfd_create("saker-mark-memfd-I"). Paced (1 ms apart) so
 *       that the markers span the flood.
 *   lanemark connectflood SECONDS PORT      connect() to 127.0.0.1:PORT in a loop
 *   lanemark execs N                        N children exec /bin/true saker-mark-exec-I, 2 ms apart
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int do_exec(unsigned long i)
{
	char arg[64];
	pid_t p;
	int st;

	snprintf(arg, sizeof(arg), "saker-mark-exec-%lu", i);
	p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		execl("/bin/true", "true", arg, (char *)NULL);
		_exit(127);
	}
	return waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void do_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
}

static int do_ptrace(void)
{
	pid_t c = fork();
	int st, ret = 0;

	if (c < 0)
		return -1;
	if (c == 0) {
		pause_ms(5000);
		_exit(0);
	}
	if (ptrace(PTRACE_ATTACH, c, NULL, NULL) == 0) {
		waitpid(c, &st, 0);
		ptrace(PTRACE_DETACH, c, NULL, NULL);
	} else {
		ret = -1;
	}
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long n = 0;

	if (argc >= 8 && !strcmp(argv[1], "markers")) {
		unsigned long execs = strtoul(argv[2], NULL, 0), conns = strtoul(argv[3], NULL, 0);
		unsigned long setuids = strtoul(argv[4], NULL, 0), ptr = strtoul(argv[5], NULL, 0);
		unsigned long memfds = strtoul(argv[6], NULL, 0);
		int port = atoi(argv[7]), fails = 0;

		for (unsigned long i = 0; i < execs || i < conns || i < setuids || i < ptr ||
					  i < memfds;
		     i++) {
			if (i < execs)
				fails += do_exec(i) != 0;
			if (i < conns)
				do_connect(port);
			if (i < setuids)
				fails += setuid(getuid()) != 0;
			if (i < ptr)
				fails += do_ptrace() != 0;
			if (i < memfds) {
				char name[64];
				int fd;

				snprintf(name, sizeof(name), "saker-mark-memfd-%lu", i);
				fd = memfd_create(name, 0);
				fails += fd < 0;
				if (fd >= 0)
					close(fd);
			}
			n++;
			pause_ms(1);
		}
		printf("done %lu fails %d\n", n, fails);
		return fails ? 1 : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "connectflood")) {
		double limit = strtod(argv[2], NULL), start = now();
		int port = atoi(argv[3]);

		while (now() - start < limit)
			for (int i = 0; i < 256; i++, n++)
				do_connect(port);
		printf("done %lu\n", n);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "execs")) {
		unsigned long execs = strtoul(argv[2], NULL, 0);
		int fails = 0;

		for (unsigned long i = 0; i < execs; i++, n++) {
			fails += do_exec(i) != 0;
			pause_ms(2);
		}
		printf("done %lu fails %d\n", n, fails);
		return fails ? 1 : 0;
	}
	fprintf(stderr, "usage: see the comment at the top of lanemark.c\n");
	return 2;
}
