/*
 * nats_output without a server (a refused loopback port): the buckets, the
 * queue bound, the suffix check, the shutdown with the cluster down and what
 * the next start finds in the spool. The e2e tests (tests/e2e/test_nats.py)
 * cover real servers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "lib/spool.h"
#include "config/config.h"
#include "outputs/output_nats.h"
#include "outputs/outputs.h"
#include "tmpdir.h"

static char *dead_server[] = {"nats://127.0.0.1:9"};

static struct saker_nats *start(struct tmpdir *f, size_t queue)
{
	struct saker_nats_cfg c = {
	    .servers = dead_server,
	    .n_servers = 1,
	    .subject_prefix = "t",
	    .hostname = "h.one",
	    .stream = "T",
	    .replicas = 1,
	    .spool_dir = f->dir,
	    .spool_max_bytes = 1 << 20,
	    .queue_cap = queue,
	};
	struct saker_nats *n = NULL;
	char err[256] = "";

	assert_int_equal(saker_nats_new(&n, &c, NULL, NULL, err, sizeof(err)), 0);
	return n;
}

static void balanced(const struct saker_nats_stats *st)
{
	assert_int_equal(st->offered + st->recovered, st->acked + st->pending + st->lost_queue +
							  st->lost_spool_full + st->lost_write +
							  st->lost_corrupt);
	assert_int_equal(st->alerts.offered,
			 st->alerts.acked + st->alerts.lost + st->alerts.pending);
}

static void test_spooled_when_down_and_found_again(void **state)
{
	struct tmpdir *f = *state;
	struct saker_nats *n = start(f, 0);
	struct saker_nats_stats st;
	struct saker_spool *sp;
	struct saker_spool_opts so = {.dir = f->dir, .max_bytes = 1 << 20};
	struct saker_spool_rec r;
	char err[256];
	uint64_t t0;

	for (int i = 0; i < 20; i++)
		assert_int_equal(saker_nats_publish(n, i % 2 ? "alerts" : "ledger", "{}", 2), 0);
	t0 = saker_clock_ns(CLOCK_MONOTONIC);
	assert_int_equal(saker_nats_shutdown(n, 3000), 0);
	/* The cluster is down: no waiting for acks that cannot come. */
	assert_true(saker_clock_ns(CLOCK_MONOTONIC) - t0 < 2500000000ULL);
	assert_int_equal(saker_nats_publish(n, "alerts", "{}", 2), -ESHUTDOWN);
	saker_nats_get_stats(n, &st);
	balanced(&st);
	assert_int_equal(st.offered, 20);
	assert_int_equal(st.pending, 20);
	assert_int_equal(st.acked, 0);
	assert_int_equal(st.alerts.offered, 10);
	assert_int_equal(st.alerts.pending, 10);
	assert_false(st.connected);
	saker_nats_free(n);

	/* Everything is on disk, in order, with its subject and a host-run-sequence id. */
	assert_int_equal(saker_spool_open(&sp, &so, err, sizeof(err)), 0);
	for (int i = 0; i < 20; i++) {
		char id[64];

		assert_int_equal(saker_spool_next(sp, &r), 0);
		snprintf(id, sizeof(id), "%.*s", (int)r.id_len, r.id);
		assert_true(strncmp(id, "h_one-", 6) == 0);
		assert_int_equal(strtoul(strrchr(id, '-') + 1, NULL, 10), (unsigned long)i + 1);
		if (i % 2)
			assert_memory_equal(r.subject, "t.h_one.alerts", r.subject_len);
		else
			assert_memory_equal(r.subject, "t.h_one.ledger", r.subject_len);
	}
	saker_spool_close(sp);

	/* The next start counts them as recovered and still pending. */
	n = start(f, 0);
	saker_nats_get_stats(n, &st);
	assert_int_equal(st.recovered, 20);
	assert_int_equal(st.pending, 20);
	balanced(&st);
	saker_nats_free(n);
}

static void test_queue_bound_and_suffix(void **state)
{
	struct tmpdir *f = *state;
	struct saker_nats *n = start(f, 4);
	struct saker_nats_stats st;
	int full = 0;

	assert_int_equal(saker_nats_publish(n, "Alerts", "{}", 2), -EINVAL);
	assert_int_equal(saker_nats_publish(n, "a.b", "{}", 2), -EINVAL);
	assert_int_equal(saker_nats_publish(n, "", "{}", 2), -EINVAL);
	/* Faster than the worker drains: some are refused, each one counted. */
	for (int i = 0; i < 5000; i++) {
		int rc = saker_nats_publish(n, "alerts", "{}", 2);

		assert_true(rc == 0 || rc == -ENOBUFS);
		full += rc == -ENOBUFS;
	}
	saker_nats_shutdown(n, 2000);
	saker_nats_get_stats(n, &st);
	balanced(&st);
	assert_int_equal(st.offered, 5000);
	assert_int_equal(st.lost_queue, (uint64_t)full);
	assert_int_equal(st.alerts.lost, (uint64_t)full);
	assert_int_equal(st.pending, 5000 - (uint64_t)full);
	saker_nats_free(n);
	saker_nats_free(NULL);
}

/* The log callback of the outputs object: the last report kept. */
static char last[512];

static void keep_last(void *ctx, enum saker_prio prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	snprintf(last, sizeof(last), "%s", msg);
}

static uint64_t series(const struct saker_outputs_stats *st, const char *name, const char *cause)
{
	for (size_t i = 0; i < st->n_series; i++)
		if (!strcmp(st->series[i].name, name) &&
		    (!cause || (st->series[i].value && !strcmp(st->series[i].value, cause))))
			return st->series[i].v;
	fail_msg("no series %s", name);
	return 0;
}

/*
 * nats is a row of the channel table whose counts come from the channel
 * (the own kind): the outputs' stats show its buckets of the alerts and its
 * own series, documents go through saker_outputs_publish, and shutdown
 * reports what stays in the spool.
 */
static void test_channel_counts_itself(void **state)
{
	struct tmpdir *f = *state;
	const struct saker_outputs_opts opts = {.log = keep_last};
	const struct saker_alert a = {.priority = SAKER_PRIO_CRITICAL, .rule = "r", .output = "x"};
	struct saker_outputs_stats st;
	struct saker_outputs *o = NULL;
	struct saker_config cfg;
	char kv[128], err[256];

	saker_config_init(&cfg);
	snprintf(kv, sizeof(kv), "nats_output.spool_dir=%s", f->dir);
	assert_int_equal(saker_config_override(&cfg, kv, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_config_override(&cfg, "nats_output.servers=[nats://127.0.0.1:9]",
					       err, sizeof(err), NULL, NULL),
			 0);
	assert_int_equal(
	    saker_config_override(&cfg, "nats_output.enabled=true", err, sizeof(err), NULL, NULL),
	    0);
	assert_int_equal(saker_config_override(&cfg, "stdout_output.enabled=false", err,
					       sizeof(err), NULL, NULL),
			 0);
	assert_string_equal(saker_channel_name(SAKER_CH_NATS), "nats");
	assert_int_equal(saker_outputs_new(&o, &cfg, &opts, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(saker_outputs_emit(o, &a), 0);
	assert_int_equal(saker_outputs_publish(o, "ledger", "{}", 2), 0);
	saker_outputs_get_stats(o, &st);
	assert_true(st.enabled[SAKER_CH_NATS]);
	assert_false(st.enabled[SAKER_CH_STDOUT]);
	assert_int_equal(st.emitted, 3);
	assert_int_equal(st.offered[SAKER_CH_NATS], 3);
	assert_int_equal(
	    st.delivered[SAKER_CH_NATS] + st.lost[SAKER_CH_NATS] + st.pending[SAKER_CH_NATS], 3);
	assert_int_equal(series(&st, "nats_offered_total", NULL), 4);
	assert_int_equal(series(&st, "nats_lost_total", "queue_full"), 0);
	assert_int_equal(series(&st, "nats_connected", NULL), 0);
	assert_int_equal(saker_outputs_shutdown(o, 1000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.pending[SAKER_CH_NATS], 3);
	assert_int_equal(series(&st, "nats_pending", NULL), 4);
	assert_string_equal(last, "outputs: nats output: 4 message(s) not acknowledged, kept in "
				  "the spool for the next start");
	saker_outputs_free(o);
	saker_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_spooled_when_down_and_found_again, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bound_and_suffix, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_channel_counts_itself, tmpdir_setup,
					    tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
