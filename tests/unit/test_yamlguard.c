#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/yamlguard.h"

static char err[512];

static int check(const char *name, const char *text, unsigned max, bool positions)
{
	const struct saker_yaml_src src = {
	    .name = name, .buf = text, .len = text ? strlen(text) : 0, .positions = positions};

	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	return saker_yaml_check_depth(&src, max, err, sizeof(err));
}

static void test_depth_limit(void **state)
{
	(void)state;
	/* exactly the limit is fine, one more is refused where that collection starts */
	assert_int_equal(check("t.yaml", "[[1]]", 2, true), 0);
	assert_string_equal(err, "");
	assert_int_equal(check("t.yaml", "[[[1]]]", 2, true), -EINVAL);
	assert_string_equal(err, "t.yaml:1:3: nesting deeper than 2 levels");
	/* unclosed: refused at the same place, before the syntax error at the end */
	assert_int_equal(check("t.yaml", "[[[", 2, true), -EINVAL);
	assert_string_equal(err, "t.yaml:1:3: nesting deeper than 2 levels");
	/* siblings do not add up: depth goes down at each end */
	assert_int_equal(check("t.yaml", "[[1], [2], [3], {a: [4]}]", 3, true), 0);
	assert_int_equal(check("t.yaml", "[[1], [2], [3], {a: [[4]]}]", 3, true), -EINVAL);
	assert_string_equal(err, "t.yaml:1:22: nesting deeper than 3 levels");
	/* block mappings: the third level starts on line 3, column 5 */
	assert_int_equal(check("t.yaml", "a:\n  b:\n    c: 1\n", 2, true), -EINVAL);
	assert_string_equal(err, "t.yaml:3:5: nesting deeper than 2 levels");
	assert_int_equal(check("t.yaml", "a:\n  b:\n    c: 1\n", 3, true), 0);
	/* scalars are not collections */
	assert_int_equal(check("t.yaml", "just a string", 0, true), 0);
	assert_int_equal(check("t.yaml", "[]", 0, true), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1: nesting deeper than 0 levels");
}

static void test_every_document(void **state)
{
	(void)state;
	/* each document of a stream is checked, and positions count from the stream's start */
	assert_int_equal(check("s.yaml", "--- [[1]]\n--- [1]\n--- [[[1]]]\n", 2, true), -EINVAL);
	assert_string_equal(err, "s.yaml:3:7: nesting deeper than 2 levels");
}

static void test_large_input_is_refused_quickly(void **state)
{
	/* 400 KB of '[' would keep libyaml's loader busy for minutes */
	size_t n = 400 * 1024;
	char *deep = malloc(n + 1);

	(void)state;
	assert_non_null(deep);
	memset(deep, '[', n);
	deep[n] = '\0';
	assert_int_equal(check("deep", deep, 64, true), -EINVAL);
	assert_string_equal(err, "deep:1:65: nesting deeper than 64 levels");
	free(deep);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	/* the position of the first syntax error, and libyaml's context with its line */
	assert_int_equal(check("t.yaml", "a: 1\n b: 2\n", 64, true), -EINVAL);
	assert_string_equal(err, "t.yaml:2:3: mapping values are not allowed in this context");
	assert_int_equal(check("t.yaml", "a: [1, 2\nb: 3\n", 64, true), -EINVAL);
	assert_string_equal(err, "t.yaml:2:2: did not find expected ',' or ']' "
				 "(while parsing a flow sequence at line 1)");
	/* bad UTF-8: libyaml gives a byte offset; the message gives line and column */
	assert_int_equal(check("t.yaml", "a: 1\nb: \xff\n", 64, true), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:2:4: "));
	assert_non_null(strstr(err, "UTF-8"));
	/* a '!' value is a tag: the message says how to quote it */
	assert_int_equal(check("t.yaml", "k: [read, !]\n", 64, true), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:1:"));
	assert_non_null(strstr(err, "a value starting with '!' is a YAML tag: quote it"));
}

static void test_without_positions(void **state)
{
	(void)state;
	/* a one-line -o value: the name only */
	assert_int_equal(check("-o x", "[[[1]]]", 2, false), -EINVAL);
	assert_string_equal(err, "-o x: nesting deeper than 2 levels");
	assert_int_equal(check("-o x", "[1, 2", 2, false), -EINVAL);
	assert_int_equal(strncmp(err, "-o x: ", 6), 0);
	assert_null(strstr(err, "-o x:1"));
}

static void test_odd_arguments(void **state)
{
	const struct saker_yaml_src none = {.name = "n", .buf = NULL, .len = 5, .positions = true};
	const struct saker_yaml_src deep = {.buf = "[[", .len = 2, .positions = true};
	char small[8];

	(void)state;
	/* empty input: a stream with no document */
	assert_int_equal(check("e", "", 0, true), 0);
	assert_int_equal(check("e", NULL, 0, true), 0);
	assert_int_equal(check("e", "# only a comment\n", 0, true), 0);
	/* a length without data */
	assert_int_equal(saker_yaml_check_depth(&none, 64, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "n: no data");
	/* no name; no error buffer; a buffer too small for the message */
	assert_int_equal(saker_yaml_check_depth(&deep, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "<yaml>:1:2: nesting deeper than 1 levels");
	assert_int_equal(saker_yaml_check_depth(&deep, 1, NULL, 0), -EINVAL);
	assert_int_equal(saker_yaml_check_depth(&deep, 1, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "<yaml>:");
	/* not NUL-terminated: only len bytes are read */
	{
		const struct saker_yaml_src cut = {.name = "c", .buf = "[1]]]]", .len = 3};

		assert_int_equal(saker_yaml_check_depth(&cut, 1, err, sizeof(err)), 0);
	}
}

static void test_parser_error_memory(void **state)
{
	const struct saker_yaml_src src = {.name = "m", .buf = "", .len = 0, .positions = true};
	yaml_parser_t p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.error = YAML_MEMORY_ERROR;
	assert_int_equal(saker_yaml_parser_error(&src, &p, err, sizeof(err)), -ENOMEM);
	assert_string_equal(err, "m: out of memory");
	/* no problem text: a plain "syntax error" at the mark */
	p.error = YAML_PARSER_ERROR;
	p.problem_mark.line = 4;
	p.problem_mark.column = 1;
	assert_int_equal(saker_yaml_parser_error(&src, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "m:5:2: syntax error");
}

static void test_load_first_document(void **state)
{
	const char *text = "a: 1\n---\nb: [2]\n";
	struct saker_yaml_src src = {
	    .name = "t.yaml", .buf = text, .len = strlen(text), .positions = true};
	yaml_document_t doc, next;
	yaml_parser_t p;
	yaml_node_t *root;

	(void)state;
	assert_int_equal(saker_yaml_load(&src, 4, &p, &doc, err, sizeof(err)), 0);
	root = yaml_document_get_root_node(&doc);
	assert_non_null(root);
	assert_int_equal(root->type, YAML_MAPPING_NODE);
	assert_int_equal(root->start_mark.line, 0);
	/* the parser is left after the first document: the second one follows */
	assert_true(yaml_parser_load(&p, &next));
	root = yaml_document_get_root_node(&next);
	assert_non_null(root);
	assert_int_equal(root->start_mark.line, 2);
	yaml_document_delete(&next);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
}

static void test_load_errors(void **state)
{
	struct saker_yaml_src src = {.name = "t.yaml", .buf = "a: [[1]]\n", .positions = true};
	yaml_document_t doc;
	yaml_parser_t p;

	(void)state;
	/* too deep: refused before libyaml builds anything, nothing left to free */
	src.len = strlen(src.buf);
	assert_int_equal(saker_yaml_load(&src, 2, &p, &doc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:5: nesting deeper than 2 levels");
	/* a syntax error says file:line:col */
	src.buf = "a: 1\nb: [2\n";
	src.len = strlen(src.buf);
	assert_int_equal(saker_yaml_load(&src, 8, &p, &doc, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "t.yaml:3:1: ", 12), 0);
	/* no text but a length */
	src.buf = NULL;
	assert_int_equal(saker_yaml_load(&src, 8, &p, &doc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml: no data");
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/saker-yamlguard-XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 1\n", 5), 5);
	close(fd);
	assert_int_equal(saker_yaml_read_file(path, 64, &buf, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "a: 1\n");
	free(buf);
	/* too large for the caller's limit: refused with the path and the reason */
	assert_int_equal(saker_yaml_read_file(path, 4, &buf, &len, err, sizeof(err)), -EFBIG);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, ": cannot read: "));
	unlink(path);
	assert_int_equal(saker_yaml_read_file(path, 64, &buf, &len, err, sizeof(err)), -ENOENT);
	assert_null(buf);
	assert_non_null(strstr(err, ": cannot read: No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_every_document),
	    cmocka_unit_test(test_large_input_is_refused_quickly),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_without_positions),
	    cmocka_unit_test(test_odd_arguments),
	    cmocka_unit_test(test_parser_error_memory),
	    cmocka_unit_test(test_load_first_document),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
