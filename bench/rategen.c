// SPDX-License-Identifier: GPL-2.0
/*
 * Rate-controlled syscall generator: THREADS threads together make RATE
 * getppid calls per second for SECONDS seconds. Pacing is per 1 ms tick: a
 * thread makes the calls due by now (CLOCK_MONOTONIC, vDSO, no syscall), in
 * bursts of at most 256, and when it is ahead of schedule it sleeps to the
 * next tick (one clock_nanosleep per tick, so ~1000 extra events per second
 * and thread), leaving the CPU to the monitor instead of spinning. Thread i
 * is pinned to the i-th CPU of the inherited affinity mask (run it under
 * taskset). A thread that falls behind never makes up for it in a burst, so
 * the achieved rate is the honest figure; it is what it reports:
 *
 *   calls N seconds S rate R
 *
 *   rategen RATE SECONDS THREADS
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16

struct gen {
	double rate; /* calls per ns, this thread */
	double seconds;
	int cpu; /* -1: leave affinity alone */
	unsigned long calls;
	double elapsed_ns;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void sleep_until_ns(double t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1e9)};

	ts.tv_nsec = (long)(t - (double)ts.tv_sec * 1e9);
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void *gen_run(void *arg)
{
	struct gen *g = arg;
	double start, end, t;
	unsigned long done = 0, due, burst;

	if (g->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(g->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	start = now_ns();
	end = start + g->seconds * 1e9;
	for (t = start; t < end; t = now_ns()) {
		due = (unsigned long)(g->rate * (t - start));
		if (done >= due) {
			/* Ahead: sleep to the next 1 ms tick. */
			double next =
			    start + (double)((unsigned long)((t - start) / 1e6) + 1) * 1e6;

			sleep_until_ns(next < end ? next : end);
			continue;
		}
		burst = due - done < 256 ? due - done : 256;
		for (unsigned long i = 0; i < burst; i++)
			syscall(SYS_getppid);
		done += burst;
	}
	g->calls = done;
	g->elapsed_ns = now_ns() - start;
	return NULL;
}

int main(int argc, char **argv)
{
	struct gen g[MAX_THREADS] = {0};
	pthread_t th[MAX_THREADS];
	unsigned long total = 0;
	double rate, seconds, elapsed = 0;
	int threads, cpu = -1;
	cpu_set_t set;

	if (argc != 4) {
		fprintf(stderr, "usage: rategen RATE SECONDS THREADS\n");
		return 2;
	}
	rate = strtod(argv[1], NULL);
	seconds = strtod(argv[2], NULL);
	threads = atoi(argv[3]);
	if (rate <= 0 || seconds <= 0 || seconds > 60 || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "rategen: RATE > 0, 0 < SECONDS <= 60, 1 <= THREADS <= %d\n",
			MAX_THREADS);
		return 2;
	}
	if (sched_getaffinity(0, sizeof(set), &set))
		CPU_ZERO(&set);
	for (int i = 0; i < threads; i++) {
		/* Next CPU of the mask, round robin; -1 if the mask is unknown. */
		int c = cpu;

		do
			c = (c + 1) % CPU_SETSIZE;
		while (CPU_COUNT(&set) && !CPU_ISSET(c, &set));
		cpu = CPU_COUNT(&set) ? c : -1;
		g[i].rate = rate / threads / 1e9;
		g[i].seconds = seconds;
		g[i].cpu = cpu;
		if (pthread_create(&th[i], NULL, gen_run, &g[i])) {
			fprintf(stderr, "rategen: cannot start thread %d\n", i);
			threads = i;
			break;
		}
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += g[i].calls;
		if (g[i].elapsed_ns > elapsed)
			elapsed = g[i].elapsed_ns;
	}
	if (!threads || elapsed <= 0)
		return 1;
	printf("calls %lu seconds %.3f rate %.0f\n", total, elapsed / 1e9, total / (elapsed / 1e9));
	return 0;
}
