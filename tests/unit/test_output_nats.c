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
#include "outputs/output_nats.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_spooled_when_down_and_found_again, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bound_and_suffix, tmpdir_setup,
					    tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
