#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "outputs/fleet.h"
#include "jsoncheck.h"

#define SEC 1000000000ll
#define NOW (1700000000ll * SEC)

static int add(struct saker_fleet *f, const char *subject, uint64_t seq, int64_t end_ns,
	       uint64_t rseq, uint64_t seen, uint64_t lost, uint64_t critical, const char *top)
{
	char doc[1024];

	snprintf(doc, sizeof(doc),
		 "{\"type\":\"coverage\",\"version\":1,\"host\":\"%s\",\"run_id\":\"r1\","
		 "\"seq\":%llu,\"end_real_ns\":%lld,\"window_s\":1,\"seen\":%llu,"
		 "\"delivered\":%llu,\"lost\":%llu,\"lost_by_lane\":{\"normal\":%llu,"
		 "\"critical\":%llu},\"demoted\":0,\"top\":[%s],"
		 "\"health\":{\"healthy\":true,\"problem\":\"\"}}",
		 strstr(subject, "db") ? "db.example" : "web-1", (unsigned long long)rseq,
		 (long long)end_ns, (unsigned long long)seen, (unsigned long long)(seen - lost),
		 (unsigned long long)lost, (unsigned long long)(lost - critical),
		 (unsigned long long)critical, top);
	return saker_fleet_add_coverage(f, "saker", subject, seq, doc, strlen(doc));
}

static char *render(struct saker_fleet *f, bool json, struct saker_sbuf *b)
{
	b->len = 0;
	if (json)
		saker_fleet_render_json(f, NOW, b);
	else
		saker_fleet_render_text(f, NOW, b);
	saker_sbuf_putc(b, '\0');
	assert_false(b->oom);
	if (json)
		assert_true(json_valid(b->p, b->len - 1));
	return b->p;
}

/* Sums over the window, the top flooder by program, alerts, and each host its own row. */
static void test_rows(void **state)
{
	const struct saker_fleet_opts o = {.since_ns = 60 * SEC, .stale_ns = 5 * SEC};
	const char *flood = "{\"pid\":42,\"comm\":\"flood\",\"exe\":\"/bin/flood\",\"lost\":7},"
			    "{\"pid\":9,\"comm\":\"sh\",\"exe\":\"/bin/sh\",\"lost\":3}";
	struct saker_fleet *f;
	struct saker_sbuf b;
	char *s;

	(void)state;
	saker_sbuf_init(&b);
	assert_int_equal(saker_fleet_new(&f, &o), 0);
	/* outside the window: last seen, not counted */
	assert_int_equal(add(f, "saker.web-1.coverage", 1, NOW - 120 * SEC, 1, 999, 99, 0, ""), 0);
	assert_int_equal(add(f, "saker.web-1.coverage", 2, NOW - 3 * SEC, 2, 1000, 10, 2, flood),
			 0);
	assert_int_equal(add(f, "saker.web-1.coverage", 3, NOW - 2 * SEC, 4, 1000, 0, 0, ""), 0);
	/* the same stream sequence again (a consumer restarted): ignored */
	assert_int_equal(add(f, "saker.web-1.coverage", 3, NOW - 2 * SEC, 4, 1000, 0, 0, ""), 0);
	/* the host that stopped: its last record 30 s ago */
	assert_int_equal(add(f, "saker.db_example.coverage", 4, NOW - 30 * SEC, 1, 50, 0, 0, ""),
			 0);
	/* in the stream's order: the first before the window */
	assert_int_equal(saker_fleet_add_alert(f, "saker", "saker.web-1.alerts", NOW - 90 * SEC),
			 0);
	assert_int_equal(saker_fleet_add_alert(f, "saker", "saker.web-1.alerts", NOW - SEC), 0);
	assert_int_equal(saker_fleet_add_alert(f, "saker", "saker.web-1.alerts", NOW - SEC), 0);
	/* not the fleet's */
	assert_int_equal(add(f, "other.web-1.coverage", 9, NOW, 1, 1, 0, 0, ""), -EINVAL);
	assert_int_equal(
	    saker_fleet_add_coverage(f, "saker", "saker.x.coverage", 0, "{\"type\":1}", 10),
	    -EINVAL);
	assert_int_equal(saker_fleet_add_coverage(f, "saker", "saker.x.coverage", 0, "{", 1),
			 -EINVAL);
	assert_true(saker_fleet_has_host(f, "saker", "saker.web-1.coverage"));
	assert_false(saker_fleet_has_host(f, "saker", "saker.x.coverage"));

	s = render(f, true, &b);
	assert_non_null(strstr(
	    s, "{\"host\":\"db.example\",\"subject_host\":\"db_example\",\"state\":\"silent\","
	       "\"silent\":true"));
	assert_non_null(strstr(s, "{\"host\":\"web-1\",\"subject_host\":\"web-1\",\"state\":\"ok\","
				  "\"silent\":false"));
	/* db.example sorts first; web-1: two windows in the last minute, one record missing */
	assert_true(strstr(s, "db.example") < strstr(s, "\"web-1\""));
	assert_non_null(strstr(s, "\"last_seq\":4,\"missing\":1,\"windows\":2,\"seen\":2000,"
				  "\"delivered\":1990,\"lost\":10,\"lost_critical\":2"));
	assert_non_null(strstr(s, "\"coverage_pct\":99.5000"));
	assert_non_null(strstr(s, "\"top_flooder\":{\"pid\":42,\"comm\":\"flood\",\"exe\":"
				  "\"/bin/flood\",\"lost\":7},\"alerts\":2,\"stopped\":false,"
				  "\"run_totals\":null}"));
	assert_non_null(strstr(s, "\"last_seen_age_s\":30.000"));
	assert_non_null(strstr(s, "\"windows\":1,\"seen\":50,\"delivered\":50,\"lost\":0,"));
	assert_non_null(strstr(s, "\"coverage_pct\":100.0000,\"top_flooder\":null,\"alerts\":0,"));

	s = render(f, false, &b);
	assert_non_null(strstr(s, "HOST"));
	assert_non_null(strstr(s, "flood(42) 7"));
	assert_non_null(strstr(s, "99.50%"));
	assert_non_null(strstr(s, "30s ago"));
	assert_non_null(strstr(s, "2 host(s), 1 silent; window 60 s"));
	saker_fleet_free(f);
	saker_sbuf_free(&b);
}

/* Silent means no record for the staleness, or 2 of the host's windows if longer. */
static void test_silent(void **state)
{
	const struct saker_fleet_opts o = {.since_ns = 3600 * SEC, .stale_ns = 5 * SEC};
	char doc[256];
	struct saker_fleet *f;
	struct saker_sbuf b;

	(void)state;
	saker_sbuf_init(&b);
	assert_int_equal(saker_fleet_new(&f, &o), 0);
	assert_int_equal(add(f, "saker.a.coverage", 1, NOW - 4 * SEC, 1, 1, 0, 0, ""), 0);
	assert_non_null(strstr(render(f, true, &b), "\"state\":\"ok\""));
	assert_int_equal(add(f, "saker.b.coverage", 2, NOW - 6 * SEC, 1, 1, 0, 0, ""), 0);
	assert_non_null(strstr(render(f, true, &b), "\"state\":\"silent\""));
	/* a late check covered 4 s: 6 s without the next is not yet silent */
	snprintf(doc, sizeof(doc),
		 "{\"type\":\"coverage\",\"host\":\"c\",\"seq\":1,\"end_real_ns\":%lld,"
		 "\"final\":true,\"totals\":{\"seen\":70,\"delivered\":60,\"lost\":10},"
		 "\"window_s\":4,\"seen\":0,\"health\":{\"healthy\":false,\"problem\":\"blind\"}}",
		 (long long)(NOW - 6 * SEC));
	assert_int_equal(
	    saker_fleet_add_coverage(f, "saker", "saker.c.coverage", 3, doc, strlen(doc)), 0);
	assert_non_null(strstr(render(f, true, &b), "\"host\":\"c\",\"subject_host\":\"c\","
						    "\"state\":\"unhealthy\",\"silent\":false,"
						    "\"healthy\":false,\"problem\":\"blind\""));
	assert_non_null(strstr(render(f, true, &b), "\"stopped\":true,\"run_totals\":{\"seen\":70,"
						    "\"delivered\":60,\"lost\":10}}"));
	/* alerts alone make a row, that never reported */
	assert_int_equal(saker_fleet_add_alert(f, "saker", "saker.d.e.alerts", NOW), 0);
	assert_non_null(strstr(render(f, true, &b), "\"host\":\"d.e\",\"subject_host\":\"d.e\","
						    "\"state\":\"silent\""));
	assert_non_null(strstr(render(f, false, &b), "never"));
	saker_fleet_free(f);
	saker_sbuf_free(&b);
}

static void test_duration(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(saker_fleet_parse_duration("1h", &ns), 0);
	assert_true(ns == 3600 * SEC);
	assert_int_equal(saker_fleet_parse_duration("90", &ns), 0);
	assert_true(ns == 90 * SEC);
	assert_int_equal(saker_fleet_parse_duration("1.5m", &ns), 0);
	assert_true(ns == 90 * SEC);
	assert_int_equal(saker_fleet_parse_duration("250ms", &ns), 0);
	assert_true(ns == 250000000ll);
	assert_int_equal(saker_fleet_parse_duration("2d", &ns), 0);
	assert_true(ns == 172800 * SEC);
	assert_int_equal(saker_fleet_parse_duration("", &ns), -EINVAL);
	assert_int_equal(saker_fleet_parse_duration("1y", &ns), -EINVAL);
	assert_int_equal(saker_fleet_parse_duration("-1s", &ns), -EINVAL);
	assert_int_equal(saker_fleet_parse_duration("1e300s", &ns), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_silent),
	    cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
