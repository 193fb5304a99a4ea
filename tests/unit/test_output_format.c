/* Alert formatters: text and JSON shapes, field order and types, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "outputs/output_format.h"
#include "outputs/outputs.h"

/* 2019-03-27T15:28:22.123456789Z */
#define T0 1553700502123456789ULL

/* ---- a small strict JSON checker (RFC 8259 structure, UTF-8 validated separately) ---- */

struct jp {
	const char *s;
	int depth;
};

static void jws(struct jp *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
		p->s++;
}

static int jvalue(struct jp *p);

static int jstring(struct jp *p)
{
	if (*p->s != '"')
		return -1;
	p->s++;
	for (;;) {
		unsigned char c = (unsigned char)*p->s;

		if (c == '\0' || c < 0x20)
			return -1;
		if (c == '"') {
			p->s++;
			return 0;
		}
		if (c == '\\') {
			p->s++;
			if (strchr("\"\\/bfnrt", *p->s) && *p->s) {
				p->s++;
			} else if (*p->s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p->s[i]) || !p->s[i])
						return -1;
				p->s += 5;
			} else {
				return -1;
			}
			continue;
		}
		p->s++;
	}
}

static int jnumber(struct jp *p)
{
	const char *start = p->s;

	if (*p->s == '-')
		p->s++;
	if (*p->s == '0')
		p->s++;
	else if (*p->s >= '1' && *p->s <= '9')
		while (*p->s >= '0' && *p->s <= '9')
			p->s++;
	else
		return -1;
	return p->s > start ? 0 : -1;
}

static int jvalue(struct jp *p)
{
	int rc;

	if (++p->depth > 32)
		return -1;
	jws(p);
	switch (*p->s) {
	case '{':
		p->s++;
		jws(p);
		if (*p->s == '}') {
			p->s++;
			break;
		}
		for (;;) {
			jws(p);
			if (jstring(p) < 0)
				return -1;
			jws(p);
			if (*p->s++ != ':')
				return -1;
			if (jvalue(p) < 0)
				return -1;
			jws(p);
			if (*p->s == ',') {
				p->s++;
				continue;
			}
			if (*p->s++ != '}')
				return -1;
			break;
		}
		break;
	case '[':
		p->s++;
		jws(p);
		if (*p->s == ']') {
			p->s++;
			break;
		}
		for (;;) {
			if (jvalue(p) < 0)
				return -1;
			jws(p);
			if (*p->s == ',') {
				p->s++;
				continue;
			}
			if (*p->s++ != ']')
				return -1;
			break;
		}
		break;
	case '"':
		rc = jstring(p);
		if (rc < 0)
			return rc;
		break;
	case 't':
		if (strncmp(p->s, "true", 4))
			return -1;
		p->s += 4;
		break;
	case 'f':
		if (strncmp(p->s, "false", 5))
			return -1;
		p->s += 5;
		break;
	case 'n':
		if (strncmp(p->s, "null", 4))
			return -1;
		p->s += 4;
		break;
	default:
		if (jnumber(p) < 0)
			return -1;
	}
	p->depth--;
	return 0;
}

static int json_valid(const char *s)
{
	struct jp p = {s, 0};

	if (jvalue(&p) < 0)
		return 0;
	jws(&p);
	return *p.s == '\0';
}

/* Well-formed UTF-8 (no overlongs, surrogates, or > U+10FFFF). */
static int utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned char c = *s;
		int n;
		uint32_t cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* One line: no byte below 0x20, no DEL. */
static int one_clean_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static struct saker_alert basic_alert(void)
{
	return (struct saker_alert){
	    .time_ns = T0,
	    .priority = SAKER_PRIO_CRITICAL,
	    .rule = "Test rule",
	    .source = "syscall",
	    .output = "hello world",
	};
}

/* ---- text ---- */

static void test_text_local_utc(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	s = saker_alert_format_text(&a, false);
	assert_non_null(s);
	assert_string_equal(s, "15:28:22.123456789: Critical hello world");
	free(s);
}

static void test_text_local_other_tz(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	/* POSIX TZ string: two hours east of UTC, no tzdata needed. */
	set_tz("XYZ-2");
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "17:28:22.123456789: Critical hello world");
	free(s);
	/* ISO 8601 is always UTC. */
	s = saker_alert_format_text(&a, true);
	assert_string_equal(s, "2019-03-27T15:28:22.123456789+0000: Critical hello world");
	free(s);
	set_tz("UTC");
}

static void test_text_priorities_and_small_ns(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	a.time_ns = 7; /* 1970-01-01 00:00:00.000000007 */
	a.priority = SAKER_PRIO_INFO;
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "00:00:00.000000007: Informational hello world");
	free(s);
	a.priority = SAKER_PRIO_DEBUG;
	s = saker_alert_format_text(&a, true);
	assert_string_equal(s, "1970-01-01T00:00:00.000000007+0000: Debug hello world");
	free(s);
}

static const struct saker_field drop_fields[] = {
    {.name = "n_drops", .type = SAKER_FIELD_U64, .u64 = 3},
    {.name = "ebpf_enabled", .type = SAKER_FIELD_BOOL, .b = true},
    {.name = "n_evts", .type = SAKER_FIELD_U64, .u64 = 18446744073709551615ULL},
    {.name = "delta", .type = SAKER_FIELD_S64, .s64 = -42},
    {.name = "comm", .type = SAKER_FIELD_STR, .str = "a \"b\"\n"},
    {.name = "missing", .type = SAKER_FIELD_STR, .str = NULL},
    {.name = "bug", .type = SAKER_FIELD_BOOL, .b = false},
};

static void test_text_internal_fields_sorted(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	a.source = "internal";
	a.output = "Saker internal: syscall event drop. 3 system calls dropped in last second.";
	a.fields = drop_fields;
	a.n_fields = sizeof(drop_fields) / sizeof(drop_fields[0]);
	s = saker_alert_format_text(&a, false);
	assert_string_equal(
	    s, "15:28:22.123456789: Critical Saker internal: syscall event drop. 3 "
	       "system calls dropped in last second. (bug=false comm=\"a \\\"b\\\"\\n\" "
	       "delta=-42 ebpf_enabled=true missing=<NA> n_drops=3 "
	       "n_evts=18446744073709551615)");
	free(s);
}

static void test_text_fields_only_for_internal(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	a.fields = drop_fields;
	a.n_fields = 2;
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical hello world");
	free(s);
	/* Internal without fields: no empty parentheses. */
	a.source = "internal";
	a.n_fields = 0;
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical hello world");
	free(s);
}

/*
 * A rule alert on a possibly stale view: the producer appended the flag to
 * the output (as append_output would); the formatter adds nothing of its own.
 */
static void test_view_degraded(void **state)
{
	(void)state;
	static const struct saker_field f[] = {
	    {.name = "proc.name", .type = SAKER_FIELD_STR, .str = "bash"},
	    {.name = "view_degraded", .type = SAKER_FIELD_BOOL, .b = true},
	};
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	a.output = "hello world view_degraded=true";
	a.fields = f;
	a.n_fields = 2;
	a.view_degraded = true;
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical hello world view_degraded=true");
	free(s);
	s = saker_alert_format_json(&a, "h", true, false);
	assert_non_null(strstr(s, "\"output\":\"hello world view_degraded=true\","));
	assert_non_null(
	    strstr(s, "\"output_fields\":{\"proc.name\":\"bash\",\"view_degraded\":true}"));
	assert_true(json_valid(s));
	free(s);
}

static void test_text_escapes(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	a.output = "a\nb\tc\rd\"e\\f\x01g\x7fh\x1b[31m";
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical "
			       "a\\nb\\tc\\rd\"e\\f\\x01g\\x7fh\\x1b[31m");
	assert_true(one_clean_line(s));
	free(s);
}

static void test_text_invalid_utf8(void **state)
{
	(void)state;
	struct saker_alert a = basic_alert();
	char *s;

	set_tz("UTC");
	/* Lone 0xff, truncated 2-byte, truncated 3-byte at the end. */
	a.output = "ok\xff\xc3(\xe2\x82";
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical ok\\xff\\xc3(\\xe2\\x82");
	free(s);
	/* Overlong '/', encoded surrogate, above U+10FFFF. */
	a.output = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80";
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical "
			       "\\xc0\\xaf|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80");
	free(s);
	/* Valid multi-byte text passes; C1 controls and U+2028/9 are line breaks to some. */
	a.output = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e|\xc2\x85|\xe2\x80\xa8|\xe2\x80\xa9";
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical h\xc3\xa9llo \xe2\x82\xac "
			       "\xf0\x9d\x84\x9e|\\u0085|\\u2028|\\u2029");
	assert_true(utf8_valid(s));
	free(s);
}

/* ---- JSON ---- */

static void test_json_syscall_exact(void **state)
{
	(void)state;
	static const char *const tags[] = {"host", "T1059", "mitre_execution"};
	static const struct saker_field f[] = {
	    {.name = "proc.name", .type = SAKER_FIELD_STR, .str = "bash"},
	    {.name = "evt.type", .type = SAKER_FIELD_STR, .str = "execve"},
	    {.name = "user.uid", .type = SAKER_FIELD_U64, .u64 = 0},
	    {.name = "fd.num", .type = SAKER_FIELD_S64, .s64 = -1},
	    {.name = "container.id", .type = SAKER_FIELD_STR, .str = NULL},
	    {.name = "proc.tty", .type = SAKER_FIELD_BOOL, .b = true},
	};
	struct saker_alert a = basic_alert();
	char *s;

	a.priority = SAKER_PRIO_WARNING;
	a.fields = f;
	a.n_fields = 6;
	a.tags = tags;
	a.n_tags = 3;
	s = saker_alert_format_json(&a, "myhost", true, true);
	assert_string_equal(s, "{\"hostname\":\"myhost\",\"output\":\"hello world\","
			       "\"output_fields\":{\"container.id\":null,\"evt.type\":\"execve\","
			       "\"fd.num\":-1,\"proc.name\":\"bash\",\"proc.tty\":true,"
			       "\"user.uid\":0},\"priority\":\"Warning\",\"rule\":\"Test rule\","
			       "\"source\":\"syscall\",\"tags\":[\"host\",\"T1059\","
			       "\"mitre_execution\"],\"time\":\"2019-03-27T15:28:22.123456789Z\"}");
	assert_true(json_valid(s));
	free(s);

	/* Switches: no output, no tags. */
	s = saker_alert_format_json(&a, "myhost", false, false);
	assert_null(strstr(s, "\"output\":"));
	assert_non_null(strstr(s, "\"output_fields\":{"));
	assert_null(strstr(s, "\"tags\""));
	assert_true(json_valid(s));
	free(s);
}

static void test_json_internal_no_tags(void **state)
{
	(void)state;
	static const char *const tags[] = {"never"};
	struct saker_alert a = basic_alert();
	char *s;

	a.source = "internal";
	a.rule = "Saker internal: syscall event drop";
	a.output = "dropped";
	a.fields = drop_fields;
	a.n_fields = 3;
	a.tags = tags;
	a.n_tags = 1;
	s = saker_alert_format_json(&a, "h", true, true);
	assert_string_equal(s,
			    "{\"hostname\":\"h\",\"output\":\"dropped\",\"output_fields\":"
			    "{\"ebpf_enabled\":true,\"n_drops\":3,\"n_evts\":18446744073709551615},"
			    "\"priority\":\"Critical\",\"rule\":\"Saker internal: syscall event "
			    "drop\",\"source\":\"internal\",\"time\":\"2019-03-27T15:28:"
			    "22.123456789Z\"}");
	assert_true(json_valid(s));
	free(s);
}

static void test_json_empty_and_null(void **state)
{
	(void)state;
	struct saker_alert a = {.time_ns = 0, .priority = SAKER_PRIO_EMERGENCY};
	char *s;

	/* NULL rule/source/output/hostname print as empty strings; no fields, empty tags. */
	s = saker_alert_format_json(&a, NULL, true, true);
	assert_string_equal(s, "{\"hostname\":\"\",\"output\":\"\",\"output_fields\":{},"
			       "\"priority\":\"Emergency\",\"rule\":\"\",\"source\":\"\","
			       "\"tags\":[],\"time\":\"1970-01-01T00:00:00.000000000Z\"}");
	free(s);
	assert_null(saker_alert_format_json(NULL, "h", true, true));
	assert_null(saker_alert_format_text(NULL, false));
}

static void test_json_escapes(void **state)
{
	(void)state;
	struct saker_field f[] = {
	    {.name = "k\"ey\n", .type = SAKER_FIELD_STR, .str = "v\x01\xff\"\\"},
	};
	struct saker_alert a = basic_alert();
	char *s;

	a.output = "a\nb\tc\rd\"e\\f\x01g\x7fh\bi\fj\xff\xc3(\xc2\x85\xe2\x80\xa8 \xc3\xa9";
	a.rule = "r\"";
	a.fields = f;
	a.n_fields = 1;
	s = saker_alert_format_json(&a, "h\n", true, true);
	assert_string_equal(s,
			    "{\"hostname\":\"h\\n\",\"output\":\"a\\nb\\tc\\rd\\\"e\\\\f\\u0001g"
			    "\\u007fh\\bi\\fj\\ufffd\\ufffd(\\u0085\\u2028 \xc3\xa9\","
			    "\"output_fields\":{\"k\\\"ey\\n\":\"v\\u0001\\ufffd\\\"\\\\\"},"
			    "\"priority\":\"Critical\",\"rule\":\"r\\\"\",\"source\":\"syscall\","
			    "\"tags\":[],\"time\":\"2019-03-27T15:28:22.123456789Z\"}");
	assert_true(json_valid(s));
	assert_true(utf8_valid(s));
	assert_true(one_clean_line(s));
	free(s);
}

static void test_duplicate_and_nameless_fields(void **state)
{
	(void)state;
	struct saker_field f[] = {
	    {.name = "b", .type = SAKER_FIELD_U64, .u64 = 1},
	    {.name = NULL, .type = SAKER_FIELD_U64, .u64 = 9},
	    {.name = "a", .type = SAKER_FIELD_U64, .u64 = 2},
	    {.name = "b", .type = SAKER_FIELD_U64, .u64 = 3},
	};
	struct saker_alert a = basic_alert();
	char *s;

	a.fields = f;
	a.n_fields = 4;
	a.source = "internal";
	s = saker_alert_format_json(&a, "h", false, false);
	/* The first of a repeated name wins, so keys stay unique. */
	assert_non_null(strstr(s, "\"output_fields\":{\"a\":2,\"b\":1}"));
	free(s);
	set_tz("UTC");
	s = saker_alert_format_text(&a, false);
	assert_string_equal(s, "15:28:22.123456789: Critical hello world (a=2 b=1)");
	free(s);
}

/* Random bytes anywhere still give one line, valid UTF-8, valid JSON. */
static void test_random_bytes_stay_one_line(void **state)
{
	(void)state;
	unsigned seed = 12345;
	char out[64], val[64], name[16];
	struct saker_field f[2];
	struct saker_alert a = basic_alert();

	for (int iter = 0; iter < 2000; iter++) {
		for (size_t i = 0; i < sizeof(out) - 1; i++) {
			out[i] = (char)(rand_r(&seed) % 255 + 1);
			val[i] = (char)(rand_r(&seed) % 255 + 1);
		}
		out[rand_r(&seed) % sizeof(out)] = '\0';
		out[sizeof(out) - 1] = '\0';
		val[sizeof(val) - 1] = '\0';
		for (size_t i = 0; i < sizeof(name) - 1; i++)
			name[i] = (char)(rand_r(&seed) % 255 + 1);
		name[sizeof(name) - 1] = '\0';
		f[0] = (struct saker_field){.name = name, .type = SAKER_FIELD_STR, .str = val};
		f[1] = (struct saker_field){.name = "z", .type = SAKER_FIELD_STR, .str = out};
		a.output = out;
		a.fields = f;
		a.n_fields = 2;
		a.source = iter % 2 ? "internal" : "syscall";
		char *t = saker_alert_format_text(&a, iter % 3 == 0);
		char *j = saker_alert_format_json(&a, val, true, true);

		assert_non_null(t);
		assert_non_null(j);
		assert_true(one_clean_line(t));
		assert_true(one_clean_line(j));
		assert_true(utf8_valid(t));
		assert_true(utf8_valid(j));
		assert_true(json_valid(j));
		free(t);
		free(j);
	}
}

static void test_sbuf_escape_embedded_nul(void **state)
{
	(void)state;
	struct saker_sbuf b;
	char *s;

	saker_sbuf_init(&b);
	saker_sbuf_escape(&b, "a\0b", 3, SAKER_ESC_JSON);
	saker_sbuf_puts(&b, "|");
	saker_sbuf_escape(&b, "a\0b", 3, SAKER_ESC_TEXT);
	s = saker_sbuf_take(&b);
	assert_string_equal(s, "a\\u0000b|a\\x00b");
	free(s);
	/* Empty buffer hands over an empty string. */
	saker_sbuf_init(&b);
	s = saker_sbuf_take(&b);
	assert_string_equal(s, "");
	free(s);
}

static void test_json_checker_rejects(void **state)
{
	(void)state;
	/* The checker used above must itself catch broken JSON. */
	assert_false(json_valid("{\"a\":1"));
	assert_false(json_valid("{\"a\":\"x\ny\"}"));
	assert_false(json_valid("{\"a\":\"\\q\"}"));
	assert_false(json_valid("{\"a\":1}x"));
	assert_true(json_valid("{\"a\":[1,-2,\"\\u00e9\",true,false,null,{}]}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_local_utc),
	    cmocka_unit_test(test_text_local_other_tz),
	    cmocka_unit_test(test_text_priorities_and_small_ns),
	    cmocka_unit_test(test_text_internal_fields_sorted),
	    cmocka_unit_test(test_text_fields_only_for_internal),
	    cmocka_unit_test(test_view_degraded),
	    cmocka_unit_test(test_text_escapes),
	    cmocka_unit_test(test_text_invalid_utf8),
	    cmocka_unit_test(test_json_syscall_exact),
	    cmocka_unit_test(test_json_internal_no_tags),
	    cmocka_unit_test(test_json_empty_and_null),
	    cmocka_unit_test(test_json_escapes),
	    cmocka_unit_test(test_duplicate_and_nameless_fields),
	    cmocka_unit_test(test_random_bytes_stay_one_line),
	    cmocka_unit_test(test_sbuf_escape_embedded_nul),
	    cmocka_unit_test(test_json_checker_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
