#include "lib/timer.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

void saker_timers_init(struct saker_timers *ts)
{
	memset(ts, 0, sizeof(*ts));
}

int saker_timers_add(struct saker_timers *ts, uint64_t period_ns, uint64_t now_ns,
		     saker_timer_fn fn, void *ctx)
{
	if (!period_ns || !fn || now_ns > UINT64_MAX - period_ns)
		return -EINVAL;
	for (int i = 0; i < SAKER_TIMERS_MAX; i++) {
		struct saker_timer *t = &ts->t[i];

		if (t->period_ns)
			continue;
		t->period_ns = period_ns;
		t->next_ns = now_ns + period_ns;
		t->fn = fn;
		t->ctx = ctx;
		return i;
	}
	return -ENOSPC;
}

void saker_timers_del(struct saker_timers *ts, int id)
{
	if (id >= 0 && id < SAKER_TIMERS_MAX)
		memset(&ts->t[id], 0, sizeof(ts->t[id]));
}

uint64_t saker_timers_next(const struct saker_timers *ts)
{
	uint64_t next = SAKER_TIMER_NONE;

	for (int i = 0; i < SAKER_TIMERS_MAX; i++)
		if (ts->t[i].period_ns && ts->t[i].next_ns < next)
			next = ts->t[i].next_ns;
	return next;
}

int saker_timers_timeout_ms(const struct saker_timers *ts, uint64_t now_ns)
{
	uint64_t next = saker_timers_next(ts), ms;

	if (next == SAKER_TIMER_NONE)
		return -1;
	if (next <= now_ns)
		return 0;
	ms = (next - now_ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

unsigned saker_timers_run(struct saker_timers *ts, uint64_t now_ns)
{
	unsigned ran = 0;

	for (int i = 0; i < SAKER_TIMERS_MAX; i++) {
		struct saker_timer *t = &ts->t[i];
		uint64_t periods;

		if (!t->period_ns || t->next_ns > now_ns)
			continue;
		/* Every deadline in (previous run, now] counts; the grid is kept. */
		periods = 1 + (now_ns - t->next_ns) / t->period_ns;
		t->next_ns += periods * t->period_ns;
		ran++;
		/* Last: the callback may delete or re-add this very slot. */
		t->fn(t->ctx, periods, now_ns);
	}
	return ran;
}
