#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "state/degraded.h"
#include "state/view.h"

#define SEC 1000000000ull

static void test_one_process_window(void **state)
{
	struct saker_degraded d;

	(void)state;
	saker_degraded_init(&d, 0);
	assert_false(saker_degraded_check(&d, 42, 5 * SEC));
	saker_degraded_mark(&d, 42, 10 * SEC, 21 * SEC);
	/* before the loss's window, inside it (edges included), after it */
	assert_false(saker_degraded_check(&d, 42, 10 * SEC - 1));
	assert_true(saker_degraded_check(&d, 42, 10 * SEC));
	assert_true(saker_degraded_check(&d, 42, 21 * SEC));
	assert_false(saker_degraded_check(&d, 42, 21 * SEC + 1));
	/* another process is not touched */
	assert_false(saker_degraded_check(&d, 43, 15 * SEC));
	/* an overlapping loss extends, a later one after a gap replaces */
	saker_degraded_mark(&d, 42, 20 * SEC, 31 * SEC);
	assert_true(saker_degraded_check(&d, 42, 12 * SEC));
	assert_true(saker_degraded_check(&d, 42, 31 * SEC));
	saker_degraded_mark(&d, 42, 50 * SEC, 61 * SEC);
	assert_false(saker_degraded_check(&d, 42, 40 * SEC));
	assert_true(saker_degraded_check(&d, 42, 55 * SEC));
	/* nonsense intervals change nothing */
	saker_degraded_mark(&d, 43, 9 * SEC, 8 * SEC);
	saker_degraded_mark(&d, 43, 0, 0);
	assert_false(saker_degraded_check(&d, 43, 8 * SEC));
	saker_degraded_fini(&d);
	saker_degraded_fini(NULL);
}

static void test_unknown_attribution_marks_all(void **state)
{
	struct saker_degraded d;

	(void)state;
	saker_degraded_init(&d, 0);
	saker_degraded_mark(&d, 0, 10 * SEC, 20 * SEC);
	for (uint32_t pid = 1; pid < 2000; pid += 97)
		assert_true(saker_degraded_check(&d, pid, 15 * SEC));
	assert_false(saker_degraded_check(&d, 1, 9 * SEC));
	assert_false(saker_degraded_check(&d, 1, 21 * SEC));
	saker_degraded_fini(&d);
}

static void test_bound_falls_back_to_all(void **state)
{
	struct saker_degraded d;

	(void)state;
	saker_degraded_init(&d, 2);
	saker_degraded_mark(&d, 1, 10 * SEC, 20 * SEC);
	saker_degraded_mark(&d, 2, 10 * SEC, 20 * SEC);
	assert_false(saker_degraded_check(&d, 3, 15 * SEC));
	/* expired marks are reclaimed first: no overflow */
	saker_degraded_mark(&d, 3, 30 * SEC, 40 * SEC);
	assert_int_equal(d.overflows, 0);
	assert_true(saker_degraded_check(&d, 3, 35 * SEC));
	assert_false(saker_degraded_check(&d, 4, 35 * SEC));
	saker_degraded_mark(&d, 4, 30 * SEC, 40 * SEC);
	/* the third live mark does not fit: everyone is marked, nobody under-reported */
	saker_degraded_mark(&d, 5, 30 * SEC, 40 * SEC);
	assert_int_equal(d.overflows, 1);
	assert_true(saker_degraded_check(&d, 5, 35 * SEC));
	assert_true(saker_degraded_check(&d, 999, 35 * SEC));
	saker_degraded_fini(&d);
}

static void test_view_decides(void **state)
{
	struct saker_view *v;

	(void)state;
	assert_false(saker_view_degraded(NULL, 1, 1));
	assert_int_equal(saker_view_new(&v, 0, "/nonexistent"), 0);
	assert_false(saker_view_degraded(v, 7, 15 * SEC));
	saker_view_mark_degraded(v, 7, 10 * SEC, 20 * SEC);
	assert_true(saker_view_degraded(v, 7, 15 * SEC));
	assert_false(saker_view_degraded(v, 8, 15 * SEC));
	saker_view_mark_degraded(v, 0, 10 * SEC, 20 * SEC);
	assert_true(saker_view_degraded(v, 8, 15 * SEC));
	saker_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_process_window),
	    cmocka_unit_test(test_unknown_attribution_marks_all),
	    cmocka_unit_test(test_bound_falls_back_to_all),
	    cmocka_unit_test(test_view_decides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
