#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/tbucket.h"

#define SEC 1000000000ull
/* Far from 0 so that "time going back" has room. */
#define T0 (1000 * SEC)

static void test_burst(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	saker_tbucket_init(&tb, 1, 10, T0);
	for (int i = 0; i < 10; i++)
		assert_true(saker_tbucket_claim(&tb, T0));
	assert_false(saker_tbucket_claim(&tb, T0));
}

static void test_refill(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	saker_tbucket_init(&tb, 2, 3, T0);
	for (int i = 0; i < 3; i++)
		assert_true(saker_tbucket_claim(&tb, T0));
	assert_false(saker_tbucket_claim(&tb, T0 + SEC / 4));
	/* 1/rate = 0.5 s after the drain: exactly one more token. */
	assert_true(saker_tbucket_claim(&tb, T0 + SEC / 2));
	assert_false(saker_tbucket_claim(&tb, T0 + SEC / 2));
	assert_true(saker_tbucket_claim(&tb, T0 + SEC));
	assert_false(saker_tbucket_claim(&tb, T0 + SEC));
}

static void test_cap(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	saker_tbucket_init(&tb, 1, 5, T0);
	for (int i = 0; i < 5; i++)
		assert_true(saker_tbucket_claim(&tb, T0));
	assert_false(saker_tbucket_claim(&tb, T0));
	/* A million seconds earns a million tokens, but the bucket holds five. */
	uint64_t later = T0 + 1000000 * SEC;
	for (int i = 0; i < 5; i++)
		assert_true(saker_tbucket_claim(&tb, later));
	assert_false(saker_tbucket_claim(&tb, later));
	assert_true(tb.tokens >= 0 && tb.tokens < 1);
}

static void test_time_not_moving(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	saker_tbucket_init(&tb, 1, 1, T0);
	assert_true(saker_tbucket_claim(&tb, T0));
	for (int i = 0; i < 100; i++)
		assert_false(saker_tbucket_claim(&tb, T0));

	/* Stepping back earns nothing and does not rewind last_ns... */
	assert_false(saker_tbucket_claim(&tb, T0 - 500 * SEC));
	assert_int_equal(tb.last_ns, T0);
	assert_true(tb.tokens < 1);
	/* ...so the bucket refills on schedule, not 500 s late or early. */
	assert_false(saker_tbucket_claim(&tb, T0 + SEC / 2));
	assert_true(saker_tbucket_claim(&tb, T0 + SEC));
	assert_false(saker_tbucket_claim(&tb, T0 + SEC));
}

static void test_fractional_rate(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	saker_tbucket_init(&tb, .03333, 1, T0);
	assert_true(saker_tbucket_claim(&tb, T0));
	assert_false(saker_tbucket_claim(&tb, T0 + 29 * SEC));
	/* 30 s * .03333 = .9999: not yet. */
	assert_false(saker_tbucket_claim(&tb, T0 + 30 * SEC));
	assert_true(saker_tbucket_claim(&tb, T0 + 30 * SEC + SEC / 10));
	assert_false(saker_tbucket_claim(&tb, T0 + 31 * SEC));

	/*
	 * Claimed every second: a token is whole after 30.003 s, i.e. at the
	 * 31st tick, and the cap at one token drops the excess, so grants come
	 * every 31 s: 0, 31, ..., 2976.
	 */
	saker_tbucket_init(&tb, .03333, 1, T0);
	int granted = 0;
	uint64_t last = 0;
	for (uint64_t s = 0; s < 3000; s++) {
		if (saker_tbucket_claim(&tb, T0 + s * SEC)) {
			if (granted++)
				assert_int_equal(s - last, 31);
			last = s;
		}
	}
	assert_int_equal(granted, 97);
}

static void test_bad_settings(void **state)
{
	struct saker_tbucket tb;

	(void)state;
	/* NaN burst must not grant forever (NaN compares false). */
	saker_tbucket_init(&tb, 1, NAN, T0);
	assert_false(saker_tbucket_claim(&tb, T0 + 10 * SEC));
	/* A negative rate does not drain what is there, nor refills. */
	saker_tbucket_init(&tb, -5, 2, T0);
	assert_true(saker_tbucket_claim(&tb, T0 + 10 * SEC));
	assert_true(saker_tbucket_claim(&tb, T0 + 20 * SEC));
	assert_false(saker_tbucket_claim(&tb, T0 + 1000 * SEC));
	/* Burst below one token never grants. */
	saker_tbucket_init(&tb, 1, 0.5, T0);
	assert_false(saker_tbucket_claim(&tb, T0 + 10 * SEC));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_refill),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_time_not_moving),
	    cmocka_unit_test(test_fractional_rate),
	    cmocka_unit_test(test_bad_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
