#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "capture/stats.h"
#include "drops/canary.h"
#include "drops/canary_child.h"

#define MS  1000000ull
#define SEC 1000000000ull
#define T0  (1000 * SEC)

static struct saker_canary_now at(uint64_t t, uint64_t counted, uint64_t caught_up)
{
	return (struct saker_canary_now){
	    .now_ns = t, .counted = counted, .caught_up_ns = caught_up, .ack_timeout_ns = 3 * SEC};
}

/* Sent at T0 with 100 losses counted so far, acked 1 ms later. */
static uint64_t sent_acked(struct saker_canary *c)
{
	uint64_t seq;

	saker_canary_init(c);
	seq = saker_canary_send(c, T0, 100);
	saker_canary_ack(c, seq, T0 + MS);
	return seq;
}

static void test_seen(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;
	uint64_t seq = sent_acked(&c);

	(void)state;
	saker_canary_arrived(&c, seq);
	n = at(T0 + 100 * MS, 100, T0 + 50 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_SEEN);
	assert_false(c.blind);
	assert_int_equal(c.n_seen, 1);
	/* Decided: nothing outstanding any more. */
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_NONE);
}

/* Missing, and no loss of any kind counted since the request: blind. */
static void test_missing_no_drop_is_blind(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;

	(void)state;
	sent_acked(&c);
	n = at(T0 + 100 * MS, 100, T0 + 50 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_BLIND);
	assert_true(c.blind);
	assert_int_equal(c.blind_since_ns, T0 + 100 * MS);
	assert_int_equal(c.n_blind, 1);
}

/* Missing, but the canary's own process lost an event (counted): loss, not blindness. */
static void test_missing_own_counted_drop_is_lost(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;

	(void)state;
	sent_acked(&c);
	saker_canary_losses(&c, T0 + 20 * MS, 1, true);
	/* Decided without waiting for the rings to empty (a flood may keep them full). */
	n = at(T0 + 100 * MS, 5000, 0);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_LOST);
	assert_false(c.blind);
	assert_int_equal(c.n_lost, 1);
	assert_int_equal(c.n_blind, 0);
}

/* Missing, a loss counted whose process is unknown (map full): it may be ours, not blind. */
static void test_missing_unattributed_drop_is_lost(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;

	(void)state;
	sent_acked(&c);
	n = at(T0 + 100 * MS, 150, T0 + 50 * MS);
	/* Some loss, no per-process read after the ack yet: wait for it. */
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_NONE);
	saker_canary_losses(&c, T0 + 200 * MS, 0, false);
	n = at(T0 + 300 * MS, 150, T0 + 250 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_LOST);
}

/* Missing; other processes lost events, every loss attributed, none ours: blind. */
static void test_missing_others_drop_is_blind(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;

	(void)state;
	sent_acked(&c);
	saker_canary_losses(&c, T0 + 200 * MS, 0, true);
	n = at(T0 + 300 * MS, 9000, T0 + 250 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_BLIND);
}

/* Not decidable while the record may still wait in a ring, nor before the ack. */
static void test_pending(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;
	uint64_t seq;

	(void)state;
	saker_canary_init(&c);
	seq = saker_canary_send(&c, T0, 0);
	n = at(T0 + 500 * MS, 0, T0 + 400 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_NONE);
	saker_canary_ack(&c, seq, T0 + 450 * MS);
	/* The last drain that emptied every ring started before the ack (or within the slack). */
	n = at(T0 + 600 * MS, 0, T0 + 452 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_NONE);
	/* It arrives late: seen. */
	saker_canary_arrived(&c, seq);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_SEEN);
}

static void test_stuck_child(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;

	(void)state;
	saker_canary_init(&c);
	(void)saker_canary_send(&c, T0, 0);
	n = at(T0 + 2 * SEC, 0, T0 + 2 * SEC);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_NONE);
	n = at(T0 + 4 * SEC, 0, T0 + 4 * SEC);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_STUCK);
	assert_int_equal(c.n_stuck, 1);
}

/* Blind stays until a marker arrives again; a late marker of an ended request is stray. */
static void test_blind_until_seen(void **state)
{
	struct saker_canary c;
	struct saker_canary_now n;
	uint64_t seq;

	(void)state;
	seq = sent_acked(&c);
	n = at(T0 + 100 * MS, 100, T0 + 50 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_BLIND);
	saker_canary_arrived(&c, seq);
	assert_int_equal(c.n_stray, 1);
	/* Next: lost (counted) keeps the blind state and its start. */
	seq = saker_canary_send(&c, T0 + SEC, 100);
	saker_canary_ack(&c, seq, T0 + SEC + MS);
	saker_canary_losses(&c, T0 + SEC + 5 * MS, 2, true);
	n = at(T0 + SEC + 100 * MS, 102, T0 + SEC + 50 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_LOST);
	assert_true(c.blind);
	assert_int_equal(c.blind_since_ns, T0 + 100 * MS);
	/* A wrong ack or marker number changes nothing. */
	seq = saker_canary_send(&c, T0 + 2 * SEC, 102);
	saker_canary_ack(&c, seq + 1, T0 + 2 * SEC + MS);
	assert_false(c.acked);
	saker_canary_ack(&c, seq, T0 + 2 * SEC + MS);
	saker_canary_arrived(&c, seq);
	n = at(T0 + 2 * SEC + 100 * MS, 102, T0 + 2 * SEC + 50 * MS);
	assert_int_equal(saker_canary_decide(&c, &n), SAKER_CANARY_SEEN);
	assert_false(c.blind);
	assert_int_equal(c.n_sent, 3);
}

static void test_marker_roundtrip(void **state)
{
	char buf[SAKER_CANARY_MAX_LEN];
	uint64_t seq = 0;
	int n;

	(void)state;
	n = saker_canary_marker(buf, sizeof(buf), 0xdeadbeef12345678ull, 42);
	assert_string_equal(buf, "/dev/null/saker-canary-deadbeef12345678-42");
	assert_true(saker_canary_parse(buf, (size_t)n, 0xdeadbeef12345678ull, &seq));
	assert_int_equal(seq, 42);
	/* Another run's nonce, a truncated or garbled number, another path: not ours. */
	assert_false(saker_canary_parse(buf, (size_t)n, 0xdeadbeef12345679ull, &seq));
	assert_false(saker_canary_parse(buf, (size_t)n - 3, 0xdeadbeef12345678ull, &seq));
	assert_false(saker_canary_parse("/dev/null/saker-canary-deadbeef12345678-4x", 42,
					0xdeadbeef12345678ull, &seq));
	assert_false(saker_canary_parse("/etc/passwd", 11, 0xdeadbeef12345678ull, &seq));
	/* The largest sequence fits the buffer. */
	n = saker_canary_marker(buf, sizeof(buf), UINT64_MAX, UINT64_MAX);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_true(saker_canary_parse(buf, (size_t)n, UINT64_MAX, &seq));
	assert_true(seq == UINT64_MAX);
}

/*
 * The run's side of a per-process loss read (drops/canary_child): the canary's own losses count for
 * its marker; a read is complete only when no loss without a process (unattributed,
 * user space, skipped runs) came since the previous one.
 */
static void test_loss_reads(void **state)
{
	struct saker_canary_run r;
	struct saker_capture_stats st;
	struct saker_canary_now n;
	uint64_t seq;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&st, 0, sizeof(st));
	r.pid = 4242;
	saker_canary_init(&r.v);
	saker_canary_loss_read(&r, T0, true, &st); /* the first read sets the baseline */
	seq = saker_canary_send(&r.v, T0 + 10 * MS, 100);
	saker_canary_ack(&r.v, seq, T0 + 11 * MS);
	/* Another process lost events; the read attributed all of them. */
	saker_canary_proc_loss(&r, 99, 500);
	saker_canary_loss_read(&r, T0 + 20 * MS, true, &st);
	n = at(T0 + 30 * MS, 600, T0 + 25 * MS);
	assert_int_equal(saker_canary_decide(&r.v, &n), SAKER_CANARY_BLIND);

	/* The canary's own loss: lost, and counted in its total. */
	seq = saker_canary_send(&r.v, T0 + SEC, 600);
	saker_canary_ack(&r.v, seq, T0 + SEC + MS);
	saker_canary_proc_loss(&r, 4242, 1);
	saker_canary_loss_read(&r, T0 + SEC + 20 * MS, true, &st);
	n = at(T0 + SEC + 30 * MS, 601, T0 + SEC + 25 * MS);
	assert_int_equal(saker_canary_decide(&r.v, &n), SAKER_CANARY_LOST);
	assert_int_equal(r.own_lost_total, 1);

	/* Losses no process carries since the previous read: the read is incomplete. */
	seq = saker_canary_send(&r.v, T0 + 2 * SEC, 601);
	saker_canary_ack(&r.v, seq, T0 + 2 * SEC + MS);
	st.k[SAKER_CNT_DROPS_UNATTRIBUTED] = 3;
	saker_canary_loss_read(&r, T0 + 2 * SEC + 20 * MS, true, &st);
	n = at(T0 + 2 * SEC + 30 * MS, 610, T0 + 2 * SEC + 25 * MS);
	assert_int_equal(saker_canary_decide(&r.v, &n), SAKER_CANARY_LOST);
	seq = saker_canary_send(&r.v, T0 + 3 * SEC, 610);
	saker_canary_ack(&r.v, seq, T0 + 3 * SEC + MS);
	st.user_drops = 1;
	saker_canary_loss_read(&r, T0 + 3 * SEC + 20 * MS, true, &st);
	n = at(T0 + 3 * SEC + 30 * MS, 611, T0 + 3 * SEC + 25 * MS);
	assert_int_equal(saker_canary_decide(&r.v, &n), SAKER_CANARY_LOST);
	/* A read that failed is incomplete too. */
	seq = saker_canary_send(&r.v, T0 + 4 * SEC, 611);
	saker_canary_ack(&r.v, seq, T0 + 4 * SEC + MS);
	saker_canary_loss_read(&r, T0 + 4 * SEC + 20 * MS, false, &st);
	n = at(T0 + 4 * SEC + 30 * MS, 700, T0 + 4 * SEC + 25 * MS);
	assert_int_equal(saker_canary_decide(&r.v, &n), SAKER_CANARY_LOST);
	assert_int_equal(r.v.n_blind, 1);
	assert_int_equal(r.v.n_lost, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seen),
	    cmocka_unit_test(test_missing_no_drop_is_blind),
	    cmocka_unit_test(test_missing_own_counted_drop_is_lost),
	    cmocka_unit_test(test_missing_unattributed_drop_is_lost),
	    cmocka_unit_test(test_missing_others_drop_is_blind),
	    cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_stuck_child),
	    cmocka_unit_test(test_blind_until_seen),
	    cmocka_unit_test(test_marker_roundtrip),
	    cmocka_unit_test(test_loss_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
