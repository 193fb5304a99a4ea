// SPDX-License-Identifier: GPL-2.0
/*
 * Per-syscall cost: times REPS runs of CALLS getppid calls (the raw syscall,
 * never a libc cache) after one untimed warm-up run, and prints the ns per
 * call of each run, on CPU time of this thread and on the wall clock:
 *
 *   cpu_ns R1 R2 ...
 *   wall_ns R1 R2 ...
 *
 * CPU time (CLOCK_THREAD_CPUTIME_ID) includes what the BPF hook costs, since
 * it runs in this thread's syscall, but not the time another process holds
 * the CPU, so it is the less noisy figure on a shared machine. The caller
 * pins the loop to one CPU (taskset) and takes the minimum of the runs.
 *
 *   sysloop CALLS REPS [openclose]
 *
 * openclose: each call is an open of /dev/null and its close (a pair of
 * selected syscalls with parameters and a path); the figure is per pair.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int openclose;

static void run(unsigned long calls, double *cpu, double *wall)
{
	double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);

	for (unsigned long i = 0; i < calls; i++) {
		if (openclose) {
			long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);

			if (fd >= 0)
				syscall(SYS_close, fd);
		} else {
			syscall(SYS_getppid);
		}
	}
	*wall = (now_ns(CLOCK_MONOTONIC) - w0) / (double)calls;
	*cpu = (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)calls;
}

int main(int argc, char **argv)
{
	static double cpu[1000], wall[1000];
	unsigned long calls, reps;

	if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "openclose"))) {
		fprintf(stderr, "usage: sysloop CALLS REPS [openclose]\n");
		return 2;
	}
	openclose = argc == 4;
	calls = strtoul(argv[1], NULL, 0);
	reps = strtoul(argv[2], NULL, 0);
	if (!calls || !reps || reps > 1000) {
		fprintf(stderr, "sysloop: CALLS > 0, 0 < REPS <= 1000\n");
		return 2;
	}
	run(calls / 4 + 1, &cpu[0], &wall[0]);
	for (unsigned long r = 0; r < reps; r++)
		run(calls, &cpu[r], &wall[r]);
	printf("cpu_ns");
	for (unsigned long r = 0; r < reps; r++)
		printf(" %.2f", cpu[r]);
	printf("\nwall_ns");
	for (unsigned long r = 0; r < reps; r++)
		printf(" %.2f", wall[r]);
	printf("\n");
	return 0;
}
