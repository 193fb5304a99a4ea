#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "lib/clock.h"

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* saker_clock_ns is clock_gettime in ns: between two direct reads, and never going back. */
static void test_clock_ns(void **state)
{
	const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME};

	(void)state;
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		struct timespec a, b;
		uint64_t v;

		clock_gettime(clocks[i], &a);
		v = saker_clock_ns(clocks[i]);
		clock_gettime(clocks[i], &b);
		assert_true((int64_t)v >= ts_ns(&a));
		assert_true((int64_t)v <= ts_ns(&b));
	}
	{
		uint64_t prev = saker_clock_ns(CLOCK_MONOTONIC);

		for (int i = 0; i < 1000; i++) {
			uint64_t now = saker_clock_ns(CLOCK_MONOTONIC);

			assert_true(now >= prev);
			prev = now;
		}
	}
	/* a clock that does not exist reads as 0 */
	assert_int_equal(saker_clock_ns((clockid_t)-1000), 0);
}

/* realtime - boottime, as direct reads give it (to well within 100 ms on a busy box). */
static void test_boot_offset(void **state)
{
	struct timespec r, b;
	int64_t off;

	(void)state;
	off = saker_clock_boot_offset_ns();
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	assert_true(llabs(off - (ts_ns(&r) - ts_ns(&b))) < 100000000);
	/* a boot timestamp plus the offset is the wall time */
	assert_true(llabs((int64_t)saker_clock_ns(CLOCK_BOOTTIME) + saker_clock_boot_offset_ns() -
			  (int64_t)saker_clock_ns(CLOCK_REALTIME)) < 100000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clock_ns),
	    cmocka_unit_test(test_boot_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
