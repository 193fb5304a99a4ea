#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/hash.h"

/* The published FNV-1a 64 test vectors. */
static void test_vectors(void **state)
{
	(void)state;
	assert_true(saker_hash_fnv1a(NULL, 0) == 0xcbf29ce484222325ull);
	assert_true(saker_hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(saker_hash_fnv1a("foobar", 6) == 0x85944171f73967e8ull);
	assert_true(saker_hash_fnv1a_str("") == 0xcbf29ce484222325ull);
	assert_true(saker_hash_fnv1a_str("a") == 0xaf63dc4c8601ec8cull);
	assert_true(saker_hash_fnv1a_str("foobar") == 0x85944171f73967e8ull);
}

/* The string form equals the byte form; bytes past n and high bytes count as unsigned. */
static void test_forms_agree(void **state)
{
	const char *s[] = {"/etc/passwd", "proc.name", "\xff\x80 high bytes", "x"};

	(void)state;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		assert_true(saker_hash_fnv1a_str(s[i]) == saker_hash_fnv1a(s[i], strlen(s[i])));
	assert_true(saker_hash_fnv1a("foobarbaz", 6) == saker_hash_fnv1a_str("foobar"));
	assert_true(saker_hash_fnv1a("ab", 2) != saker_hash_fnv1a("ba", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_forms_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
