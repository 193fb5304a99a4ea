/* The condition language on its own: parsing, errors, glob, unquoting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/filter.h"

static int parse_ok(const char *text)
{
	struct saker_ast *a = NULL;
	struct saker_ferr e;
	int rc = saker_filter_parse(text, &a, &e);

	saker_ast_free(a);
	return rc;
}

/* The error offset of a condition that does not parse, -1 if it parses. */
static long parse_err(const char *text, int *kind, char *msg, size_t msglen)
{
	struct saker_ast *a = NULL;
	struct saker_ferr e;
	int rc = saker_filter_parse(text, &a, &e);

	saker_ast_free(a);
	if (!rc)
		return -1;
	if (kind)
		*kind = e.kind;
	if (msg)
		snprintf(msg, msglen, "%s", e.msg);
	return (long)e.off;
}

static void test_parse_accepts_falco_syntax(void **state)
{
	static const char *const ok[] = {
	    "proc.name = cat",
	    "proc.name=cat",
	    "proc.name == cat",
	    "proc.name != \"a b\"",
	    "fd.num>=0 and fd.num<=10 and fd.num<11 and fd.num>-1",
	    "proc.name in (a, b, 'c d', \"e\")",
	    "proc.name in ()",
	    "proc.name in shell_binaries",
	    "proc.name in(a,b)",
	    "proc.aname[2] = sshd",
	    "proc.aname[2]=sshd",
	    "evt.arg.flags contains O_TRUNC",
	    "evt.arg[0] = x",
	    "proc.pname exists",
	    "not proc.pname exists",
	    "not not a",
	    "not(a)",
	    "a and(b)",
	    "a or(b)",
	    "((a) and (b or c))",
	    "proc.name in (runc:[0:PARENT], runc:[1:CHILD])",
	    "fd.name glob '/home/*/.ssh/*'",
	    "fd.name pmatch (/etc, /usr/bin)",
	    "proc.cmdline regex 'a.*b'",
	    "evt.buffer bcontains CAFE",
	    "proc.name icontains BASH",
	    "x and\n  y\n  or z",
	    "fd.num = 0x10",
	    "proc.name startswith \"a\\\"b\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (parse_ok(ok[i]))
			fail_msg("did not parse: %s", ok[i]);
	}
}

static void test_parse_errors_have_offsets(void **state)
{
	char msg[512];
	int kind;

	(void)state;
	assert_int_equal(parse_err("", &kind, msg, sizeof(msg)), 0);
	assert_int_equal(kind, SAKER_FERR_SYNTAX);
	/* the operator is missing where the '(' is */
	assert_int_equal(parse_err("proc.name = a and proc.name ( b", &kind, msg, sizeof(msg)), 28);
	assert_non_null(strstr(msg, "operator"));
	assert_int_equal(parse_err("(a and b", NULL, msg, sizeof(msg)), 8);
	assert_non_null(strstr(msg, "')'"));
	assert_int_equal(parse_err("a b", NULL, NULL, 0), 2);
	assert_int_equal(parse_err("proc.name = 'open", NULL, msg, sizeof(msg)), 12);
	assert_non_null(strstr(msg, "unterminated"));
	assert_int_equal(parse_err("fd.num > abc", NULL, msg, sizeof(msg)), 9);
	assert_int_equal(parse_err("proc.name in (a, b", NULL, NULL, 0), 18);
	assert_int_equal(parse_err("a andb", NULL, NULL, 0), 2);
	/* an escape Falco does not know */
	assert_int_equal(parse_err("proc.name = \"a\\qb\"", NULL, msg, sizeof(msg)), 12);
	assert_non_null(strstr(msg, "escape"));
	/* \' is only an escape inside '...' */
	assert_int_equal(parse_err("proc.name = \"a\\'b\"", NULL, NULL, 0), 12);
	assert_int_equal(parse_ok("proc.name = 'a\\'b'"), 0);
}

static void test_parse_unsupported_constructs(void **state)
{
	char msg[512];
	int kind;

	(void)state;
	assert_true(parse_err("tolower(proc.name) = bash", &kind, msg, sizeof(msg)) == 0);
	assert_int_equal(kind, SAKER_FERR_UNSUPPORTED);
	assert_non_null(strstr(msg, "tolower"));
	assert_true(parse_err("proc.name = val(proc.pname)", &kind, NULL, 0) == 12);
	assert_int_equal(kind, SAKER_FERR_UNSUPPORTED);
	/* saker has every operator Falco has: another word is a typo, not unsupported */
	assert_true(parse_err("proc.name likes bash", &kind, msg, sizeof(msg)) == 10);
	assert_int_equal(kind, SAKER_FERR_UNKNOWN);
	assert_non_null(strstr(msg, "unknown operator 'likes'"));
}

static void test_parse_depth_is_bounded(void **state)
{
	size_t n = 100000;
	char *deep = malloc(2 * n + 2);
	char msg[512];

	(void)state;
	assert_non_null(deep);
	memset(deep, '(', n);
	deep[n] = 'a';
	memset(deep + n + 1, ')', n);
	deep[2 * n + 1] = '\0';
	assert_true(parse_err(deep, NULL, msg, sizeof(msg)) >= 0);
	assert_non_null(strstr(msg, "nesting deeper"));
	/* not not not ... is iterative, not recursive */
	for (size_t i = 0; i + 4 <= n; i += 4)
		memcpy(deep + i, "not ", 4);
	strcpy(deep + (n / 4) * 4, "a");
	assert_int_equal(parse_ok(deep), 0);
	free(deep);
}

static void test_glob(void **state)
{
	static const struct {
		const char *pat, *s;
		bool icase, want;
	} cases[] = {
	    {"/home/*/.ssh/*", "/home/u/.ssh/id_rsa", false, true},
	    {"/home/*/.ssh/*", "/home/u/x/.ssh/id", false, true}, /* * crosses / */
	    {"/home/*/.ssh/*", "/root/.ssh/id", false, false},
	    {"*../*../*", "/var/www/../../etc/passwd", false, true},
	    {"*../*../*", "/var/www/../etc/passwd", false, false},
	    {"a?c", "abc", false, true},
	    {"a?c", "ac", false, false},
	    {"[ab]x", "bx", false, true},
	    {"[!ab]x", "bx", false, false},
	    {"[a-c]x", "cx", false, true},
	    {"[^a-c]x", "dx", false, true},
	    {"\\*x", "*x", false, true},
	    {"\\*x", "ax", false, false},
	    {"A*B", "axxb", true, true},
	    {"A*B", "axxb", false, false},
	    {"", "", false, true},
	    {"*", "", false, true},
	    {"[abc", "[abc", false, true},
	    {"**a", "bbba", false, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = saker_glob_match(cases[i].pat, strlen(cases[i].pat), cases[i].s,
					    strlen(cases[i].s), cases[i].icase);

		if (got != cases[i].want)
			fail_msg("glob '%s' on '%s': got %d", cases[i].pat, cases[i].s, got);
	}
}

static void test_unquote(void **state)
{
	char out[64];
	size_t n;

	(void)state;
	assert_int_equal(saker_filter_unquote("\"a\\\"b\"", 6, out, sizeof(out), &n), 0);
	assert_string_equal(out, "a\"b");
	assert_int_equal(saker_filter_unquote("'a\\tb\\\\'", 8, out, sizeof(out), &n), 0);
	assert_string_equal(out, "a\tb\\");
	assert_int_equal(n, 4);
	assert_int_equal(saker_filter_unquote("'a\\/b'", 6, out, sizeof(out), &n), 0);
	assert_string_equal(out, "a/b");
	assert_int_equal(saker_filter_unquote("\"ab'", 4, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(saker_filter_unquote("ab", 2, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(saker_filter_unquote("\"a\\\"", 4, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(saker_filter_unquote("\"abcdef\"", 8, out, 4, &n), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_accepts_falco_syntax),
	    cmocka_unit_test(test_parse_errors_have_offsets),
	    cmocka_unit_test(test_parse_unsupported_constructs),
	    cmocka_unit_test(test_parse_depth_is_bounded),
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_unquote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
