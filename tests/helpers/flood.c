/*
 * Syscall flood for tests and benchmarks: calls one syscall in a tight loop
 * until a count or a time limit is reached, whichever comes first, then
 * prints how many calls it made. Bounded by construction; touches nothing
 * but its own process (close(-1) fails with EBADF, getppid has no effect).
 *
 *   flood SYSCALL MAX_CALLS MAX_SECONDS [THREADS]
 *       SYSCALL: close | getppid | openat | openclose (open /dev/null, close it)
 *                | openfail (open a missing file, close(-1): the cheapest open/close pair)
 *       THREADS (default 1) threads each make up to MAX_CALLS calls; the
 *       total is printed.
 */
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long max_calls;
static double limit, start;
static int which;

static void *run(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (n < max_calls) {
		for (int i = 0; i < 1024 && n < max_calls; i++, n++) {
			if (which == 0) {
				syscall(SYS_close, -1);
			} else if (which == 1) {
				syscall(SYS_getppid);
			} else if (which == 2) {
				syscall(SYS_openat, AT_FDCWD, "/nonexistent/saker-flood", O_RDONLY);
			} else if (which == 4) {
				syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDONLY);
				syscall(SYS_close, -1);
				n++;
			} else {
				long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);

				if (fd >= 0)
					syscall(SYS_close, fd);
				n++;
			}
		}
		if (now() - start > limit)
			break;
	}
	return (void *)n;
}

int main(int argc, char **argv)
{
	pthread_t th[64];
	unsigned long total = 0;
	int threads = 1;

	if (argc != 4 && argc != 5) {
		fprintf(stderr,
			"usage: flood close|getppid|openat|openclose|openfail MAX_CALLS MAX_SECONDS [THREADS]\n");
		return 2;
	}
	if (!strcmp(argv[1], "close"))
		which = 0;
	else if (!strcmp(argv[1], "getppid"))
		which = 1;
	else if (!strcmp(argv[1], "openat"))
		which = 2;
	else if (!strcmp(argv[1], "openclose"))
		which = 3;
	else if (!strcmp(argv[1], "openfail"))
		which = 4;
	else
		return 2;
	max_calls = strtoul(argv[2], NULL, 0);
	limit = strtod(argv[3], NULL);
	if (argc == 5)
		threads = atoi(argv[4]);
	if (threads < 1 || threads > 64)
		return 2;
	start = now();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, run, NULL))
			return 1;
	for (int i = 0; i < threads; i++) {
		void *r;

		pthread_join(th[i], &r);
		total += (unsigned long)r;
	}
	printf("%lu\n", total);
	return 0;
}
