/*
 * Periodic timers as data (redis ae.c's time events are the model): a set of
 * {period, callback} registrations on CLOCK_MONOTONIC. The set only computes;
 * the caller says what time it is, sleeps until saker_timers_next() (one
 * timerfd armed to it, or an epoll timeout) and calls saker_timers_run().
 *
 * Deadlines stay on their original grid (start + k * period): a late run
 * does not shift the next one. A callback is told how many deadlines passed
 * since its previous run (1 on time, more when the loop was late past whole
 * periods), so a check over "the last period" can say what window it
 * really covered.
 */
#ifndef SAKER_TIMER_H
#define SAKER_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define SAKER_TIMERS_MAX 8
#define SAKER_TIMER_NONE UINT64_MAX

/* periods >= 1: deadlines passed since the previous call; now_ns as given to run. */
typedef void (*saker_timer_fn)(void *ctx, uint64_t periods, uint64_t now_ns);

struct saker_timer {
	uint64_t period_ns; /* 0 = free slot */
	uint64_t next_ns;   /* next deadline */
	saker_timer_fn fn;
	void *ctx;
};

struct saker_timers {
	struct saker_timer t[SAKER_TIMERS_MAX];
};

void saker_timers_init(struct saker_timers *ts);
/*
 * Registers fn every period_ns, first due at now_ns + period_ns. Returns an
 * id >= 0, -EINVAL (period 0, no fn), -ENOSPC (set full).
 */
int saker_timers_add(struct saker_timers *ts, uint64_t period_ns, uint64_t now_ns,
		     saker_timer_fn fn, void *ctx);
/* Unregisters id; unknown ids are ignored. Safe from inside a callback. */
void saker_timers_del(struct saker_timers *ts, int id);
/* The earliest deadline, or SAKER_TIMER_NONE when nothing is registered. */
uint64_t saker_timers_next(const struct saker_timers *ts);
/* Milliseconds from now_ns to the earliest deadline, rounded up; -1 = none, 0 = due. */
int saker_timers_timeout_ms(const struct saker_timers *ts, uint64_t now_ns);
/* Runs every timer due at now_ns once (in id order); returns how many ran. */
unsigned saker_timers_run(struct saker_timers *ts, uint64_t now_ns);

#endif
