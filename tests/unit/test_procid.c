#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/procid.h"

/* *out is written only on success: a sentinel shows it was left alone. */
#define UNTOUCHED 0xdeadbeefu

static uint32_t parse_ok(const char *s)
{
	uint32_t v = UNTOUCHED;

	assert_true(saker_procid_parse(s, &v));
	return v;
}

static void refused(const char *s)
{
	uint32_t v = UNTOUCHED;

	assert_false(saker_procid_parse(s, &v));
	assert_int_equal(v, UNTOUCHED);
}

static void test_plain_numbers(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0"), 0); /* fd 0 */
	assert_int_equal(parse_ok("1"), 1);
	assert_int_equal(parse_ok("4242"), 4242);
	assert_int_equal(parse_ok("4194304"), 4194304); /* PID_MAX_LIMIT on 64-bit */
}

static void test_leading_zeros(void **state)
{
	(void)state;
	/* the kernel finds /proc/7, not /proc/007: such a name is not process 7 */
	refused("007");
	refused("00");
	refused("01");
}

static void test_overflow(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2147483647"), SAKER_PROCID_MAX);
	refused("2147483648");
	refused("4294967295"); /* fits 32 bits, but no pid_t or fd is that large */
	refused("4294967296");
	refused("18446744073709551616");		   /* would wrap 64 bits */
	refused("99999999999999999999999999999999999999"); /* and much more */
}

static void test_non_digits(void **state)
{
	(void)state;
	refused("self");
	refused("thread-self");
	refused(".");
	refused("..");
	refused("12a");
	refused("a12");
	refused("-1");
	refused("+1");
	refused(" 1");
	refused("1 ");
	refused("1\n");
	refused("0x10");
	refused("1e3");
	refused("\xd9\xa1"); /* ARABIC-INDIC DIGIT ONE: a digit, not an ASCII one */
}

static void test_empty(void **state)
{
	uint32_t v = UNTOUCHED;

	(void)state;
	refused("");
	assert_false(saker_procid_parse(NULL, &v));
	assert_int_equal(v, UNTOUCHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_numbers), cmocka_unit_test(test_leading_zeros),
	    cmocka_unit_test(test_overflow),	  cmocka_unit_test(test_non_digits),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
