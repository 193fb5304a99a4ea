/* Logger: date forms, level filter, one intact line per call, also across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <regex.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"

/* Wed Mar 27 15:28:22 2019 UTC */
#define T0_NS 1553700502000000000LL

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* Reads everything written to f so far. */
static char *slurp(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	assert_true(n >= 0);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	return s;
}

static int matches(const char *re, const char *s)
{
	regex_t r;
	int rc;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return rc;
}

static void test_init_defaults(void **state)
{
	(void)state;
	struct saker_log log;

	memset(&log, 0x55, sizeof(log));
	saker_log_init(&log);
	assert_int_equal(log.level, SAKER_PRIO_INFO);
	assert_true(log.to_stderr);
	assert_false(log.to_syslog);
	assert_false(log.iso8601);
	assert_ptr_equal(log.stream, stderr);
}

static void test_format_date(void **state)
{
	(void)state;
	char buf[64];

	set_tz("UTC");
	assert_int_equal(saker_log_format_date(buf, sizeof(buf), T0_NS, false), 24);
	assert_string_equal(buf, "Wed Mar 27 15:28:22 2019");
	assert_int_equal(saker_log_format_date(buf, sizeof(buf), T0_NS + 999999999, true), 24);
	assert_string_equal(buf, "2019-03-27T15:28:22+0000");

	/* Local time follows TZ; ISO 8601 stays UTC. */
	set_tz("XYZ+5");
	saker_log_format_date(buf, sizeof(buf), T0_NS, false);
	assert_string_equal(buf, "Wed Mar 27 10:28:22 2019");
	saker_log_format_date(buf, sizeof(buf), T0_NS, true);
	assert_string_equal(buf, "2019-03-27T15:28:22+0000");
	set_tz("UTC");

	/* Too small a buffer: 0 and an empty string, never an overflow. */
	assert_int_equal(saker_log_format_date(buf, 10, T0_NS, false), 0);
	assert_string_equal(buf, "");
	assert_int_equal(saker_log_format_date(NULL, 0, T0_NS, false), 0);
}

static void test_level_filter_and_shape(void **state)
{
	(void)state;
	struct saker_log log;
	FILE *f = tmpfile();
	char *s;

	assert_non_null(f);
	saker_log_init(&log);
	log.stream = f;
	log.level = SAKER_PRIO_WARNING;
	saker_log(&log, SAKER_PRIO_DEBUG, "debug %d", 1);
	saker_log(&log, SAKER_PRIO_INFO, "info %d", 2);
	saker_log(&log, SAKER_PRIO_WARNING, "warn %d", 3);
	saker_log(&log, SAKER_PRIO_CRITICAL, "crit %s\n", "x");
	s = slurp(f);
	assert_true(matches("^[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} "
			    "[0-9]{4}: Warning: warn 3\n"
			    "[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9:]{8} [0-9]{4}: crit x\n$",
			    s));
	free(s);
	fclose(f);

	f = tmpfile();
	log.stream = f;
	log.iso8601 = true;
	log.level = SAKER_PRIO_DEBUG;
	saker_log(&log, SAKER_PRIO_DEBUG, "d");
	s = slurp(f);
	assert_true(
	    matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+0000: d\n$", s));
	free(s);
	fclose(f);

	/* Neither stderr nor syslog: nothing. */
	f = tmpfile();
	log.stream = f;
	log.to_stderr = false;
	saker_log(&log, SAKER_PRIO_EMERGENCY, "nothing");
	s = slurp(f);
	assert_string_equal(s, "");
	free(s);
	fclose(f);
}

/* The reporter library code is given: severity word, level filter and a % in the message kept. */
static void test_report_through_logger(void **state)
{
	(void)state;
	struct saker_log log;
	saker_report_fn rep = saker_log_report;
	FILE *f = tmpfile();
	char *s;

	assert_non_null(f);
	saker_log_init(&log);
	log.stream = f;
	log.iso8601 = true;
	rep(&log, SAKER_PRIO_DEBUG, "hidden");
	rep(&log, SAKER_PRIO_ERROR, "100% %s");
	rep(&log, SAKER_PRIO_WARNING, "w");
	s = slurp(f);
	assert_true(matches("^[0-9T:+-]{24}: Error: 100% %s\n[0-9T:+-]{24}: Warning: w\n$", s));
	free(s);
	fclose(f);
}

static void test_controls_escaped_and_long(void **state)
{
	(void)state;
	struct saker_log log;
	FILE *f = tmpfile();
	char *big = malloc(5001), *s, *colon;

	assert_non_null(big);
	memset(big, 'a', 5000);
	big[5000] = '\0';
	saker_log_init(&log);
	log.stream = f;
	saker_log(&log, SAKER_PRIO_ERROR, "path /tmp/x\ny\tz\x1b");
	saker_log(&log, SAKER_PRIO_ERROR, "%s|end", big);
	s = slurp(f);
	colon = strstr(s, ": ");
	assert_non_null(colon);
	/* An error says so after the date. */
	assert_true(strncmp(colon, ": Error: path /tmp/x\\x0ay\\x09z\\x1b\n", 35) == 0);
	/* A message longer than the stack buffer is complete. */
	assert_non_null(strstr(s, "aaaaaaaaaa|end\n"));
	assert_true(strlen(s) > 5000 + 2 * 26);
	free(s);
	free(big);
	fclose(f);
}

static void test_null_log_uses_stderr(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *s;

	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	saker_log(NULL, SAKER_PRIO_ERROR, "to stderr %d", 7);
	saker_log(NULL, SAKER_PRIO_DEBUG, "filtered at info");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	s = slurp(f);
	assert_true(matches("^[A-Z][a-z]{2} .*: to stderr 7\n$", s));
	free(s);
	fclose(f);
}

struct writer {
	struct saker_log *log;
	int id;
};

#define N_THREADS 4
#define N_LINES	  300

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < N_LINES; i++)
		saker_log(w->log, SAKER_PRIO_INFO, "thread %d line %d %s", w->id, i,
			  "padding-padding-padding-padding-padding-padding-padding");
	return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
	(void)state;
	struct saker_log log;
	struct writer w[N_THREADS];
	pthread_t t[N_THREADS];
	int seen[N_THREADS] = {0};
	FILE *f = tmpfile();
	char *s, *line, *save = NULL;
	int lines = 0;

	saker_log_init(&log);
	log.stream = f;
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct writer){&log, i};
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	s = slurp(f);
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int id, n;

		assert_true(matches("^[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9:]{8} [0-9]{4}: "
				    "thread [0-9] line [0-9]+ (padding-){6}padding$",
				    line));
		assert_int_equal(sscanf(strstr(line, "thread"), "thread %d line %d", &id, &n), 2);
		assert_int_equal(n, seen[id]); /* each thread's lines in order */
		seen[id]++;
		lines++;
	}
	assert_int_equal(lines, N_THREADS * N_LINES);
	free(s);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_defaults),
	    cmocka_unit_test(test_format_date),
	    cmocka_unit_test(test_level_filter_and_shape),
	    cmocka_unit_test(test_report_through_logger),
	    cmocka_unit_test(test_controls_escaped_and_long),
	    cmocka_unit_test(test_null_log_uses_stderr),
	    cmocka_unit_test(test_threads_do_not_interleave),
	};

	set_tz("UTC");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
