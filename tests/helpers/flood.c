/*
 * Syscall flood for tests and benchmarks: calls one syscall in a tight loop
 * until a count or a time limit is reached, whichever comes first, then
 * prints how many calls it made. Bounded by construction; touches nothing
 * but its own process (close(-1) fails with EBADF, getppid has no effect).
 *
 *   flood SYSCALL MAX_CALLS MAX_SECONDS     SYSCALL: close | getppid | openat
 */
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

int main(int argc, char **argv)
{
	unsigned long max, n = 0;
	double limit, start;
	int which;

	if (argc != 4) {
		fprintf(stderr, "usage: flood close|getppid|openat MAX_CALLS MAX_SECONDS\n");
		return 2;
	}
	if (!strcmp(argv[1], "close"))
		which = 0;
	else if (!strcmp(argv[1], "getppid"))
		which = 1;
	else if (!strcmp(argv[1], "openat"))
		which = 2;
	else
		return 2;
	max = strtoul(argv[2], NULL, 0);
	limit = strtod(argv[3], NULL);
	start = now();
	while (n < max) {
		for (int i = 0; i < 1024 && n < max; i++, n++) {
			if (which == 0)
				syscall(SYS_close, -1);
			else if (which == 1)
				syscall(SYS_getppid);
			else
				syscall(SYS_openat, AT_FDCWD, "/nonexistent/saker-flood", O_RDONLY);
		}
		if (now() - start > limit)
			break;
	}
	printf("%lu\n", n);
	return 0;
}
