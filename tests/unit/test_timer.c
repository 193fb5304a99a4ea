#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/timer.h"

#define MS  1000000ull
#define SEC 1000000000ull
#define T0  (100 * SEC)

struct rec {
	unsigned calls;
	uint64_t last_periods;
	uint64_t total_periods;
	uint64_t last_now;
};

static void cb(void *ctx, uint64_t periods, uint64_t now)
{
	struct rec *r = ctx;

	r->calls++;
	r->last_periods = periods;
	r->total_periods += periods;
	r->last_now = now;
}

static void test_on_time(void **state)
{
	struct saker_timers ts;
	struct rec r = {0};

	(void)state;
	saker_timers_init(&ts);
	assert_int_equal(saker_timers_next(&ts), SAKER_TIMER_NONE);
	assert_int_equal(saker_timers_timeout_ms(&ts, T0), -1);
	assert_int_equal(saker_timers_add(&ts, SEC, T0, cb, &r), 0);
	assert_int_equal(saker_timers_next(&ts), T0 + SEC);
	assert_int_equal(saker_timers_timeout_ms(&ts, T0), 1000);
	assert_int_equal(saker_timers_timeout_ms(&ts, T0 + SEC - MS / 2), 1);
	/* not due yet */
	assert_int_equal(saker_timers_run(&ts, T0 + SEC - 1), 0);
	assert_int_equal(r.calls, 0);
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(saker_timers_timeout_ms(&ts, T0 + (uint64_t)i * SEC), 0);
		assert_int_equal(saker_timers_run(&ts, T0 + (uint64_t)i * SEC), 1);
		assert_int_equal(r.last_periods, 1);
	}
	assert_int_equal(r.calls, 5);
	/* a second run at the same instant does nothing */
	assert_int_equal(saker_timers_run(&ts, T0 + 5 * SEC), 0);
}

static void test_late_keeps_grid(void **state)
{
	struct saker_timers ts;
	struct rec r = {0};

	(void)state;
	saker_timers_init(&ts);
	saker_timers_add(&ts, SEC, T0, cb, &r);
	/* 300 ms late, less than a period: one period, next deadline unchanged */
	saker_timers_run(&ts, T0 + SEC + 300 * MS);
	assert_int_equal(r.last_periods, 1);
	assert_int_equal(r.last_now, T0 + SEC + 300 * MS);
	assert_int_equal(saker_timers_next(&ts), T0 + 2 * SEC);
	assert_int_equal(saker_timers_timeout_ms(&ts, T0 + SEC + 300 * MS), 700);
}

static void test_several_periods(void **state)
{
	struct saker_timers ts;
	struct rec r = {0};

	(void)state;
	saker_timers_init(&ts);
	saker_timers_add(&ts, SEC, T0, cb, &r);
	/* the loop was stuck 3.5 s: deadlines at +1, +2, +3 passed, one call tells 3 */
	assert_int_equal(saker_timers_run(&ts, T0 + 3 * SEC + 500 * MS), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_periods, 3);
	assert_int_equal(saker_timers_next(&ts), T0 + 4 * SEC);
	saker_timers_run(&ts, T0 + 4 * SEC);
	assert_int_equal(r.last_periods, 1);
	/* periods add up to the time covered */
	saker_timers_run(&ts, T0 + 10 * SEC);
	assert_int_equal(r.total_periods, 10);
}

static void test_two_timers_and_del(void **state)
{
	struct saker_timers ts;
	struct rec a = {0}, b = {0};
	int ia, ib;

	(void)state;
	saker_timers_init(&ts);
	ia = saker_timers_add(&ts, SEC, T0, cb, &a);
	ib = saker_timers_add(&ts, 250 * MS, T0, cb, &b);
	assert_true(ia >= 0 && ib >= 0 && ia != ib);
	assert_int_equal(saker_timers_next(&ts), T0 + 250 * MS);
	assert_int_equal(saker_timers_run(&ts, T0 + SEC), 2);
	assert_int_equal(a.last_periods, 1);
	assert_int_equal(b.last_periods, 4);
	saker_timers_del(&ts, ib);
	assert_int_equal(saker_timers_next(&ts), T0 + 2 * SEC);
	saker_timers_del(&ts, 99);
	saker_timers_del(&ts, -1);
}

static void test_errors(void **state)
{
	struct saker_timers ts;
	struct rec r = {0};

	(void)state;
	saker_timers_init(&ts);
	assert_int_equal(saker_timers_add(&ts, 0, T0, cb, &r), -EINVAL);
	assert_int_equal(saker_timers_add(&ts, SEC, T0, NULL, &r), -EINVAL);
	assert_int_equal(saker_timers_add(&ts, SEC, UINT64_MAX, cb, &r), -EINVAL);
	for (int i = 0; i < SAKER_TIMERS_MAX; i++)
		assert_int_equal(saker_timers_add(&ts, SEC, T0, cb, &r), i);
	assert_int_equal(saker_timers_add(&ts, SEC, T0, cb, &r), -ENOSPC);
}

static struct saker_timers *self_ts;
static int self_id;

static void del_self(void *ctx, uint64_t periods, uint64_t now)
{
	(void)periods;
	(void)now;
	(*(unsigned *)ctx)++;
	saker_timers_del(self_ts, self_id);
}

static void test_delete_from_callback(void **state)
{
	struct saker_timers ts;
	unsigned calls = 0;

	(void)state;
	saker_timers_init(&ts);
	self_ts = &ts;
	self_id = saker_timers_add(&ts, SEC, T0, del_self, &calls);
	assert_int_equal(saker_timers_run(&ts, T0 + 5 * SEC), 1);
	assert_int_equal(calls, 1);
	assert_int_equal(saker_timers_next(&ts), SAKER_TIMER_NONE);
	assert_int_equal(saker_timers_run(&ts, T0 + 9 * SEC), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_on_time),	    cmocka_unit_test(test_late_keeps_grid),
	    cmocka_unit_test(test_several_periods), cmocka_unit_test(test_two_timers_and_del),
	    cmocka_unit_test(test_errors),	    cmocka_unit_test(test_delete_from_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
