#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drops/coverage.h"
#include "jsoncheck.h"

#define SEC   1000000000ull
#define T0    (5000 * SEC)
#define REAL0 1700000000000000000ull
#define OTHER (SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER)

/* The drop check's windows, each made into a coverage record as the app does. */
struct fx {
	struct saker_drops d;
	struct saker_drops_config cfg;
	struct saker_capture_stats st;
	struct saker_drops_actions act;
	uint64_t now, seq;
	size_t n;
	char recs[8][4096];
	bool ledger_line[8];
	struct saker_coverage_health health;
};

static void on_window(void *ctx, const struct saker_drops_window *w)
{
	struct fx *f = ctx;
	const struct saker_coverage_id id = {.host = "web-1", .run_id = "r\"1", .seq = ++f->seq};
	struct saker_sbuf b;

	assert_true(f->n < 8);
	saker_sbuf_init(&b);
	saker_coverage_format(&b, &id, w, &f->health);
	assert_false(b.oom);
	assert_true(b.len < sizeof(f->recs[0]));
	assert_true(json_valid(b.p, b.len));
	memcpy(f->recs[f->n], b.p, b.len);
	f->recs[f->n][b.len] = '\0';
	f->ledger_line[f->n++] = w->ledger_line;
	saker_sbuf_free(&b);
}

static void tick(struct fx *f, uint64_t evts, uint64_t drops)
{
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += evts;
	f->st.k[OTHER] += drops;
	f->st.delivered += evts - drops;
	(void)saker_drops_check(&f->d, &f->st, f->now, REAL0 + f->now, &f->act);
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.threshold = 0.1;
	f->cfg.rate = 1;
	f->cfg.max_burst = 10;
	f->now = T0;
	f->act.ctx = f;
	f->act.window = on_window;
	saker_drops_init(&f->d, &f->cfg, &f->st, f->now);
}

/* Every window has its record, quiet ones too, and each says what its ledger line would. */
static void test_every_window(void **state)
{
	static struct fx f;

	(void)state;
	fx_init(&f);
	tick(&f, 1000, 0);  /* quiet */
	tick(&f, 1000, 30); /* lossy, below the threshold */
	tick(&f, 500, 0);   /* the episode's end */
	tick(&f, 0, 0);	    /* nothing at all */
	assert_int_equal(f.n, 4);

	assert_non_null(strstr(f.recs[0], "{\"type\":\"coverage\",\"version\":1,\"host\":\"web-1\","
					  "\"run_id\":\"r\\\"1\",\"seq\":1,"));
	assert_non_null(strstr(f.recs[0], "\"seen\":1000,\"delivered\":1000,\"lost\":0,"));
	assert_non_null(strstr(f.recs[0], "\"start_real_ns\":1700005000000000000,"
					  "\"end_real_ns\":1700005001000000000,\"window_s\":1"));
	assert_non_null(strstr(f.recs[0], "\"ledger_line\":false"));
	assert_false(f.ledger_line[0]);

	assert_non_null(strstr(f.recs[1], "\"seq\":2,"));
	assert_non_null(strstr(f.recs[1], "\"seen\":1000,\"delivered\":970,\"lost\":30,"));
	assert_non_null(strstr(f.recs[1], "\"lost_by_lane\":{\"normal\":30,\"critical\":0}"));
	assert_non_null(strstr(f.recs[1], "\"fired\":false,\"suppressed\":false"));
	assert_non_null(strstr(f.recs[1], "\"ledger_line\":true"));
	/* windows abut: this one starts where the first ended */
	assert_non_null(strstr(f.recs[1], "\"start_real_ns\":1700005001000000000,"));
	assert_true(f.ledger_line[1]);
	assert_true(f.ledger_line[2]);
	assert_non_null(strstr(f.recs[2], "\"lost\":0,"));
	assert_false(f.ledger_line[3]);
	assert_non_null(strstr(f.recs[3], "\"seen\":0,\"delivered\":0,\"lost\":0,"));
	/* no attribution, no occupancy read: said so, not zero */
	assert_non_null(strstr(f.recs[3], "\"attribution\":\"none\",\"processes\":0,\"top\":[]"));
	assert_non_null(strstr(f.recs[3], "\"ring\":{\"normal\":null,\"critical\":null}"));
	assert_non_null(strstr(f.recs[3], "\"health\":{\"healthy\":true,\"problem\":\"\","));
}

/* The rings' occupancy and the health given reach the record. */
static void test_rings_and_health(void **state)
{
	static struct fx f;
	struct saker_drops_rings rings = {
	    .known = true,
	    .size_bytes = 8 << 20,
	    .high_water_bytes = 4096,
	    .critical = {.known = true, .size_bytes = 1 << 20, .high_water_bytes = 7},
	};

	(void)state;
	fx_init(&f);
	f.health = (struct saker_coverage_health){.problem = "capture blind: x",
						  .drain_age_ms = 12,
						  .alerts_lost = 3,
						  .dump_lost = 4,
						  .ledger_errors = 5};
	saker_drops_set_rings(&f.d, &rings);
	f.now += 3 * SEC;
	f.st.k[SAKER_CNT_EVTS] += 10;
	f.st.delivered += 10;
	(void)saker_drops_check_window(&f.d, &f.st, 3, f.now, REAL0 + f.now, &f.act);
	tick(&f, 0, 0);
	assert_int_equal(f.n, 2);
	assert_non_null(strstr(
	    f.recs[0], "\"ring\":{\"normal\":{\"size_bytes\":8388608,\"high_water_bytes\":4096,"
		       "\"saturated\":false},\"critical\":{\"size_bytes\":1048576,"
		       "\"high_water_bytes\":7,\"saturated\":false}}"));
	assert_non_null(strstr(f.recs[0], "\"window_s\":3"));
	assert_non_null(strstr(f.recs[0],
			       "\"health\":{\"healthy\":false,\"problem\":\"capture blind: x\","
			       "\"drain_age_ms\":12,\"late_windows\":2,\"alerts_lost_total\":3,"
			       "\"dump_lost_total\":4,\"ledger_errors_total\":5}}"));
	/* the occupancy was that window's only */
	assert_non_null(strstr(f.recs[1], "\"ring\":{\"normal\":null,\"critical\":null}"));
}

/* The last, partial window at shutdown: no action, no ledger line, and the sums are the totals. */
static void test_final_window(void **state)
{
	static struct fx f;
	struct saker_drops_now now;

	(void)state;
	fx_init(&f);
	tick(&f, 1000, 0);
	tick(&f, 1000, 500); /* fired, but no action is configured */
	f.now += SEC / 2;
	f.st.k[SAKER_CNT_EVTS] += 300;
	f.st.k[OTHER] += 7;
	f.st.delivered += 293;
	now = (struct saker_drops_now){
	    .mono_ns = f.now, .boot_ns = f.now, .real_ns = REAL0 + f.now, .window_s = 1};
	saker_drops_finish_window(&f.d, &f.st, &now, &f.act);
	saker_drops_finish(&f.d, &now, &f.act);
	assert_int_equal(f.n, 3);
	assert_non_null(strstr(f.recs[1], "\"totals\":{\"seen\":2000,\"delivered\":1500,"
					  "\"lost\":500,\"simulated\":0},\"final\":false"));
	assert_non_null(strstr(f.recs[2], "\"seq\":3,"));
	assert_non_null(strstr(f.recs[2], "\"seen\":300,\"delivered\":293,\"lost\":7,"));
	assert_non_null(strstr(f.recs[2], "\"start_real_ns\":1700005002000000000,"
					  "\"end_real_ns\":1700005002500000000,"));
	assert_non_null(strstr(f.recs[2], "\"fired\":false,\"suppressed\":false,"
					  "\"ledger_line\":false"));
	assert_non_null(strstr(f.recs[2], "\"totals\":{\"seen\":2300,\"delivered\":1793,"
					  "\"lost\":507,\"simulated\":0},\"final\":true"));
	assert_false(f.ledger_line[2]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_window),
	    cmocka_unit_test(test_rings_and_health),
	    cmocka_unit_test(test_final_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
