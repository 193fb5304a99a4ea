#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drops/drops.h"
#include "state/view.h"
#include "fakeproc.h"
#include "jsoncheck.h"

#define SEC   1000000000ull
#define T0    (5000 * SEC)
#define REAL0 1700000000000000000ull
#define DROP_MSG(n)                                                                                \
	"Saker internal: syscall event drop. " #n " system calls dropped in last second."
#define OTHER  (SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER)
#define EXECVE (SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_EXECVE)

/* Fake actions: every call recorded, deep-copied, in order. */
enum call_kind { CALL_LOG, CALL_ALERT, CALL_RESYNC };

struct rec_field {
	char name[64];
	enum saker_field_type type;
	uint64_t u64;
	char str[256];
};

struct call {
	enum call_kind kind;
	enum saker_prio prio;
	char msg[512]; /* log text, or the alert's output */
	uint64_t time_ns;
	char rule[64];
	char source[32];
	size_t n_fields;
	struct rec_field fields[64];
	size_t n_tags;
	uint64_t since, until; /* resync */
	bool full;
};

struct rec {
	size_t n;
	struct call calls[64];
};

static void fake_log(void *ctx, enum saker_prio prio, const char *msg)
{
	struct rec *r = ctx;

	assert_true(r->n < 64);
	struct call *c = &r->calls[r->n++];
	memset(c, 0, sizeof(*c));
	c->kind = CALL_LOG;
	c->prio = prio;
	assert_true(strlen(msg) < sizeof(c->msg));
	strcpy(c->msg, msg);
}

static void fake_alert(void *ctx, const struct saker_alert *a)
{
	struct rec *r = ctx;

	assert_true(r->n < 64);
	struct call *c = &r->calls[r->n++];
	memset(c, 0, sizeof(*c));
	c->kind = CALL_ALERT;
	c->prio = a->priority;
	c->time_ns = a->time_ns;
	snprintf(c->msg, sizeof(c->msg), "%s", a->output);
	snprintf(c->rule, sizeof(c->rule), "%s", a->rule);
	snprintf(c->source, sizeof(c->source), "%s", a->source);
	assert_true(a->n_fields <= 64);
	assert_true(a->n_fields <= SAKER_DROPS_N_FIELDS);
	c->n_fields = a->n_fields;
	for (size_t i = 0; i < a->n_fields; i++) {
		snprintf(c->fields[i].name, sizeof(c->fields[i].name), "%s", a->fields[i].name);
		c->fields[i].type = a->fields[i].type;
		if (a->fields[i].type == SAKER_FIELD_STR)
			snprintf(c->fields[i].str, sizeof(c->fields[i].str), "%s",
				 a->fields[i].str ? a->fields[i].str : "<NULL>");
		else
			c->fields[i].u64 = a->fields[i].u64;
	}
	c->n_tags = a->n_tags;
}

static void fake_resync(void *ctx, uint64_t since, uint64_t until, bool full)
{
	struct rec *r = ctx;

	assert_true(r->n < 64);
	struct call *c = &r->calls[r->n++];
	memset(c, 0, sizeof(*c));
	c->kind = CALL_RESYNC;
	c->since = since;
	c->until = until;
	c->full = full;
}

/* Test fixture: a manager, its fake clock, its cumulative counters and recorder. */
struct fx {
	struct saker_drops d;
	struct saker_drops_config cfg;
	struct saker_capture_stats st;
	uint64_t now;
	struct rec rec;
	struct saker_drops_actions act;
};

static struct saker_drops_config default_cfg(void)
{
	struct saker_drops_config cfg = {
	    .threshold = 0,
	    .actions = {SAKER_DROP_ACT_LOG, SAKER_DROP_ACT_ALERT},
	    .n_actions = 2,
	    .rate = .03333,
	    .max_burst = 10,
	    .priority = SAKER_PRIO_CRITICAL,
	};
	return cfg;
}

static void fx_start(struct fx *f)
{
	f->now = T0;
	f->act.ctx = &f->rec;
	f->act.log = fake_log;
	f->act.log_ctx = &f->rec;
	f->act.alert = fake_alert;
	f->act.resync = fake_resync;
	saker_drops_init(&f->d, &f->cfg, &f->st, f->now);
}

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->cfg = default_cfg();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	test_free(*state);
	return 0;
}

/* One second passes: evts seen, drops of one counter; then the timer fires. */
static enum saker_drops_result tick(struct fx *f, uint64_t evts, int counter, uint64_t drops)
{
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += evts;
	f->st.k[counter] += drops;
	f->st.delivered += evts - (counter == SAKER_CNT_PAGE_FAULTS ? 0 : drops);
	return saker_drops_check(&f->d, &f->st, f->now, REAL0 + f->now, &f->act);
}

static const struct rec_field *field(const struct call *c, const char *name)
{
	const struct rec_field *found = NULL;

	for (size_t i = 0; i < c->n_fields; i++) {
		if (strcmp(c->fields[i].name, name) == 0) {
			assert_null(found); /* names are unique */
			found = &c->fields[i];
		}
	}
	if (!found)
		fail_msg("alert has no field %s", name);
	assert_int_equal(found->type, SAKER_FIELD_U64);
	return found;
}

static uint64_t fval(const struct call *c, const char *name)
{
	return field(c, name)->u64;
}

static const struct rec_field *find_field(const struct call *c, const char *name)
{
	for (size_t i = 0; i < c->n_fields; i++)
		if (strcmp(c->fields[i].name, name) == 0)
			return &c->fields[i];
	return NULL;
}

static const char *sval(const struct call *c, const char *name)
{
	const struct rec_field *f = find_field(c, name);

	if (!f)
		fail_msg("alert has no field %s", name);
	assert_int_equal(f->type, SAKER_FIELD_STR);
	return f->str;
}

static void assert_log(const struct call *c, enum saker_prio prio, const char *msg)
{
	assert_int_equal(c->kind, CALL_LOG);
	assert_int_equal(c->prio, prio);
	assert_string_equal(c->msg, msg);
}

static void test_no_drops(void **state)
{
	struct fx *f = *state;

	fx_start(f);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tick(f, 1000, OTHER, 0), SAKER_DROPS_OK);
	/* Page faults are not drops. */
	assert_int_equal(tick(f, 1000, SAKER_CNT_PAGE_FAULTS, 500), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_checks, 6);
	assert_int_equal(f->d.n_fired, 0);
	assert_int_equal(f->d.n_actions_taken, 0);
}

static void test_drops_before_start_ignored(void **state)
{
	struct fx *f = *state;

	f->st.k[SAKER_CNT_EVTS] = 100000;
	f->st.k[EXECVE] = 5000;
	f->st.user_drops = 7;
	fx_start(f);
	assert_int_equal(tick(f, 10, OTHER, 0), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_fired, 0);
}

static void test_threshold_edges(void **state)
{
	struct fx *f = *state;

	f->cfg.threshold = .1;
	fx_start(f);
	/* 10/100 == .1 exactly: not strictly above. */
	tick(f, 100, EXECVE, 10);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_fired, 0);
	tick(f, 100, EXECVE, 11);
	assert_int_equal(f->d.n_fired, 1);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(11));

	/* threshold 1 and every event lost: ratio 1 is not above it. */
	f->cfg.threshold = 1;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 5, EXECVE, 5);
	assert_int_equal(f->d.n_fired, 1);
	/* ...but drops with no events seen at all always fire. */
	f->now += SEC;
	f->st.user_drops += 3;
	saker_drops_check(&f->d, &f->st, f->now, REAL0, &f->act);
	assert_int_equal(f->d.n_fired, 2);
	assert_int_equal(f->rec.n, 4);
	assert_log(&f->rec.calls[2], SAKER_PRIO_CRITICAL, DROP_MSG(3));
	assert_int_equal(fval(&f->rec.calls[3], "n_evts"), 0);
	assert_int_equal(fval(&f->rec.calls[3], "n_drops_user"), 3);
	assert_int_equal(fval(&f->rec.calls[3], "n_drops_buffer_total"), 0);
}

static void test_threshold_zero_one_drop(void **state)
{
	struct fx *f = *state;

	fx_start(f);
	tick(f, 1000000, SAKER_CNT_DROPS_MAX_EVENT_SIZE, 1);
	assert_int_equal(f->d.n_fired, 1);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(1));
	assert_int_equal(fval(&f->rec.calls[1], "n_drops_max_event_size"), 1);
	assert_int_equal(fval(&f->rec.calls[1], "n_drops_buffer_total"), 0);
}

static void test_simulate(void **state)
{
	struct fx *f = *state;

	f->cfg.simulate_drops = true;
	f->cfg.threshold = .5; /* ignored while simulating */
	fx_start(f);
	for (int i = 0; i < 3; i++)
		tick(f, 1000, OTHER, 0);
	assert_int_equal(f->d.n_fired, 3);
	assert_int_equal(f->d.n_simulated, 3);
	/* warning once, then log + alert per check */
	assert_int_equal(f->rec.n, 7);
	assert_log(&f->rec.calls[0], SAKER_PRIO_WARNING,
		   "syscall_event_drops.simulate_drops is on: adding one simulated drop per check");
	for (int i = 0; i < 3; i++) {
		const struct call *a = &f->rec.calls[2 + 2 * i];

		assert_log(&f->rec.calls[1 + 2 * i], SAKER_PRIO_CRITICAL, DROP_MSG(1));
		assert_int_equal(a->kind, CALL_ALERT);
		assert_int_equal(fval(a, "n_drops"), 1);
		assert_int_equal(fval(a, "n_drops_buffer_total"), 1);
		assert_int_equal(fval(a, "n_drops_buffer_other_exit"), 1);
		assert_int_equal(fval(a, "n_evts"), 1000);
	}
	/* Off and on again: announced again. */
	f->cfg.simulate_drops = false;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 7);
	f->cfg.simulate_drops = true;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 10);
	assert_int_equal(f->rec.calls[7].prio, SAKER_PRIO_WARNING);
}

static void test_exit_last(void **state)
{
	struct fx *f = *state;

	f->cfg.actions[0] = SAKER_DROP_ACT_EXIT;
	f->cfg.actions[1] = SAKER_DROP_ACT_LOG;
	f->cfg.actions[2] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 3;
	fx_start(f);
	assert_int_equal(tick(f, 100, EXECVE, 4), SAKER_DROPS_EXIT);
	assert_int_equal(f->rec.n, 4);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(4));
	assert_int_equal(f->rec.calls[1].kind, CALL_ALERT);
	assert_log(&f->rec.calls[2], SAKER_PRIO_CRITICAL, DROP_MSG(4));
	assert_log(&f->rec.calls[3], SAKER_PRIO_CRITICAL, "Exiting.");
	assert_int_equal(f->d.n_actions_taken, 1);
}

static void test_order_and_once(void **state)
{
	struct fx *f = *state;
	static const enum saker_drop_action acts[] = {
	    SAKER_DROP_ACT_ALERT, SAKER_DROP_ACT_IGNORE, SAKER_DROP_ACT_LOG,
	    SAKER_DROP_ACT_ALERT, SAKER_DROP_ACT_LOG,
	};

	memcpy(f->cfg.actions, acts, sizeof(acts));
	f->cfg.n_actions = 5;
	fx_start(f);
	assert_int_equal(tick(f, 100, EXECVE, 4), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(f->rec.calls[0].kind, CALL_ALERT);
	assert_log(&f->rec.calls[1], SAKER_PRIO_CRITICAL, DROP_MSG(4));
}

static void test_exit_alone(void **state)
{
	struct fx *f = *state;

	f->cfg.actions[0] = SAKER_DROP_ACT_EXIT;
	f->cfg.n_actions = 1;
	fx_start(f);
	assert_int_equal(tick(f, 100, OTHER, 0), SAKER_DROPS_OK);
	assert_int_equal(tick(f, 100, OTHER, 2), SAKER_DROPS_EXIT);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(2));
	assert_log(&f->rec.calls[1], SAKER_PRIO_CRITICAL, "Exiting.");
}

static void test_ignore(void **state)
{
	struct fx *f = *state;

	f->cfg.n_actions = 0;
	fx_start(f);
	for (int i = 0; i < 20; i++)
		assert_int_equal(tick(f, 100, EXECVE, 50), SAKER_DROPS_OK);
	f->cfg.actions[0] = SAKER_DROP_ACT_IGNORE;
	f->cfg.n_actions = 1;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	assert_int_equal(tick(f, 100, EXECVE, 50), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_fired, 21);
	assert_int_equal(f->d.n_actions_taken, 0);
	assert_int_equal(f->d.n_suppressed, 0);
	/* No tokens were spent on doing nothing. */
	assert_true(f->d.bucket.tokens == 10);
}

static void test_suppression(void **state)
{
	struct fx *f = *state;

	f->cfg.max_burst = 2;
	f->cfg.rate = .01; /* one token per 100 s */
	fx_start(f);
	for (uint64_t n = 3; n <= 7; n++)
		tick(f, 1000, EXECVE, n);
	assert_int_equal(f->d.n_fired, 5);
	assert_int_equal(f->d.n_actions_taken, 2);
	assert_int_equal(f->d.n_suppressed, 3);
	assert_int_equal(f->d.suppressed_checks, 3);
	assert_int_equal(f->d.suppressed_drops, 5 + 6 + 7);
	assert_int_equal(f->rec.n, 4);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(3));
	assert_int_equal(fval(&f->rec.calls[1], "n_suppressed_checks"), 0);
	assert_int_equal(fval(&f->rec.calls[1], "n_suppressed_drops"), 0);
	assert_log(&f->rec.calls[2], SAKER_PRIO_CRITICAL, DROP_MSG(4));

	/* Refilled: the next report carries what was held back. */
	f->now += 200 * SEC;
	tick(f, 1000, EXECVE, 8);
	assert_int_equal(f->rec.n, 6);
	assert_log(&f->rec.calls[4], SAKER_PRIO_CRITICAL,
		   DROP_MSG(8) " 3 drop-seconds with 18 dropped events suppressed since last "
			       "report.");
	const struct call *a = &f->rec.calls[5];
	assert_int_equal(a->kind, CALL_ALERT);
	assert_string_equal(a->msg, DROP_MSG(8));
	assert_int_equal(fval(a, "n_suppressed_checks"), 3);
	assert_int_equal(fval(a, "n_suppressed_drops"), 18);
	assert_int_equal(fval(a, "n_drops"), 8);
	assert_int_equal(f->d.suppressed_checks, 0);
	assert_int_equal(f->d.suppressed_drops, 0);
	assert_int_equal(f->d.n_suppressed, 3); /* lifetime */

	/* The one after that starts from zero again. */
	f->now += 200 * SEC;
	tick(f, 1000, EXECVE, 9);
	assert_int_equal(f->rec.n, 8);
	assert_log(&f->rec.calls[6], SAKER_PRIO_CRITICAL, DROP_MSG(9));
	assert_int_equal(fval(&f->rec.calls[7], "n_suppressed_checks"), 0);
}

/* Any loss in the protected lane fires, however small against the threshold. */
static void test_critical_loss_ignores_threshold(void **state)
{
	struct fx *f = *state;

	f->cfg.threshold = 0.5;
	f->cfg.actions[0] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 1;
	fx_start(f);
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += 1000000;
	f->st.k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN] += 10;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, 1, &f->act), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 0); /* lane 0 under the threshold: quiet */
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += 1000000;
	f->st
	    .k[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_EXECVE)] +=
	    1;
	f->st.k[SAKER_CNT_DEMOTED] += 5;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, 2, &f->act), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 1);
	assert_int_equal(fval(&f->rec.calls[0], "n_drops_critical"), 1);
	assert_int_equal(fval(&f->rec.calls[0], "n_demoted"), 5);
	assert_int_equal(fval(&f->rec.calls[0], "n_drops"), 1);
	/* A lane-1 slot lost for want of scratch is a critical loss too. */
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += 1000000;
	f->st.k[SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL] += 2;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, 3, &f->act), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(fval(&f->rec.calls[1], "n_drops_critical"), 2);
}

static void test_fields_exact(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {
	    "n_evts",
	    "n_drops",
	    "n_drops_buffer_total",
	    "n_drops_buffer_clone_fork_exit",
	    "n_drops_buffer_execve_exit",
	    "n_drops_buffer_connect_exit",
	    "n_drops_buffer_open_exit",
	    "n_drops_buffer_dir_file_exit",
	    "n_drops_buffer_other_interest_exit",
	    "n_drops_buffer_close_exit",
	    "n_drops_buffer_proc_exit",
	    "n_drops_buffer_other_exit",
	    "n_drops_max_event_size",
	    "n_drops_page_faults",
	    "n_drops_user",
	    "n_drops_critical",
	    "n_demoted",
	    "n_suppressed_checks",
	    "n_suppressed_drops",
	    "ebpf_enabled",
	};

	f->cfg.actions[0] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 1;
	f->cfg.priority = SAKER_PRIO_WARNING;
	fx_start(f);
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += 10000;
	/* category c loses c + 1 events: other 1, clone_fork 2, ..., proc 9 */
	for (int c = 0; c < SAKER_CAT_MAX; c++)
		f->st.k[SAKER_CNT_DROPS_BUFFER_FIRST + c] += (uint64_t)c + 1;
	f->st.k[SAKER_CNT_DROPS_MAX_EVENT_SIZE] += 20;
	f->st.k[SAKER_CNT_PAGE_FAULTS] += 30;
	f->st.user_drops += 7;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, 123456789, &f->act),
			 SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 1);

	const struct call *a = &f->rec.calls[0];
	assert_int_equal(a->kind, CALL_ALERT);
	assert_int_equal(a->time_ns, 123456789);
	assert_int_equal(a->prio, SAKER_PRIO_WARNING);
	assert_string_equal(a->rule, "Saker internal: syscall event drop");
	assert_string_equal(a->source, "internal");
	assert_string_equal(a->msg, DROP_MSG(72));
	assert_int_equal(a->n_tags, 0);
	assert_int_equal(a->n_fields, sizeof(names) / sizeof(names[0]));
	assert_int_equal(a->n_fields, SAKER_DROPS_N_COUNTER_FIELDS);
	for (size_t i = 0; i < a->n_fields; i++)
		field(a, names[i]);

	assert_int_equal(fval(a, "n_evts"), 10000);
	assert_int_equal(fval(a, "n_drops"), 45 + 20 + 7); /* page faults excluded */
	assert_int_equal(fval(a, "n_drops_buffer_total"), 45);
	assert_int_equal(fval(a, "n_drops_critical"), 0);
	assert_int_equal(fval(a, "n_demoted"), 0);
	assert_int_equal(fval(a, "n_drops_buffer_other_exit"), 1);
	assert_int_equal(fval(a, "n_drops_buffer_clone_fork_exit"), 2);
	assert_int_equal(fval(a, "n_drops_buffer_execve_exit"), 3);
	assert_int_equal(fval(a, "n_drops_buffer_connect_exit"), 4);
	assert_int_equal(fval(a, "n_drops_buffer_open_exit"), 5);
	assert_int_equal(fval(a, "n_drops_buffer_dir_file_exit"), 6);
	assert_int_equal(fval(a, "n_drops_buffer_other_interest_exit"), 7);
	assert_int_equal(fval(a, "n_drops_buffer_close_exit"), 8);
	assert_int_equal(fval(a, "n_drops_buffer_proc_exit"), 9);
	assert_int_equal(fval(a, "n_drops_max_event_size"), 20);
	assert_int_equal(fval(a, "n_drops_page_faults"), 30);
	assert_int_equal(fval(a, "n_drops_user"), 7);
	assert_int_equal(fval(a, "n_suppressed_checks"), 0);
	assert_int_equal(fval(a, "n_suppressed_drops"), 0);
	assert_int_equal(fval(a, "ebpf_enabled"), 1);
}

static void test_deltas_not_totals(void **state)
{
	struct fx *f = *state;

	fx_start(f);
	tick(f, 1000, EXECVE, 40);
	tick(f, 3000, EXECVE, 2);
	assert_int_equal(f->rec.n, 4);
	assert_log(&f->rec.calls[2], SAKER_PRIO_CRITICAL, DROP_MSG(2));
	assert_int_equal(fval(&f->rec.calls[3], "n_evts"), 3000);
	assert_int_equal(fval(&f->rec.calls[3], "n_drops"), 2);
	assert_int_equal(fval(&f->rec.calls[3], "n_drops_buffer_execve_exit"), 2);
}

static void test_counters_backwards(void **state)
{
	struct fx *f = *state;

	f->st.k[SAKER_CNT_EVTS] = 1000000;
	f->st.k[EXECVE] = 500;
	f->st.user_drops = 50;
	fx_start(f);
	/* Everything goes back: deltas are 0, not 2^64 - n. */
	memset(&f->st, 0, sizeof(f->st));
	f->st.k[SAKER_CNT_EVTS] = 10;
	f->now += SEC;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, REAL0, &f->act), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_fired, 0);
	/* Deltas continue from the lower value. */
	tick(f, 100, EXECVE, 5);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL, DROP_MSG(5));
	assert_int_equal(fval(&f->rec.calls[1], "n_evts"), 100);

	/* n_evts going back while drops grow: counted as drops with no events seen. */
	f->st.k[SAKER_CNT_EVTS] -= 50;
	f->st.k[EXECVE] += 4;
	f->now += SEC;
	saker_drops_check(&f->d, &f->st, f->now, REAL0, &f->act);
	assert_int_equal(f->rec.n, 4);
	assert_int_equal(fval(&f->rec.calls[3], "n_evts"), 0);
	assert_int_equal(fval(&f->rec.calls[3], "n_drops"), 4);
}

static void test_reconfigure(void **state)
{
	struct fx *f = *state;

	f->cfg.max_burst = 1;
	f->cfg.rate = .001;
	fx_start(f);
	tick(f, 1000, EXECVE, 3);
	tick(f, 1000, EXECVE, 3);
	assert_int_equal(f->d.n_actions_taken, 1);
	assert_int_equal(f->d.n_suppressed, 1);
	assert_int_equal(f->rec.n, 2);

	/* Same rate and burst: the empty bucket stays empty, counters stay. */
	f->cfg.actions[0] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 1;
	f->st.k[EXECVE] += 100; /* lost while reloading: reported next check */
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	assert_int_equal(f->d.n_checks, 2);
	assert_int_equal(f->d.n_fired, 2);
	assert_int_equal(f->d.suppressed_checks, 1);
	tick(f, 1000, EXECVE, 3);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(f->d.n_suppressed, 2);
	assert_int_equal(f->d.suppressed_drops, 3 + 103);

	/* New burst: refilled bucket, the alert carries the held-back counts. */
	f->cfg.max_burst = 2;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 1000, EXECVE, 1);
	assert_int_equal(f->rec.n, 3);
	assert_int_equal(f->rec.calls[2].kind, CALL_ALERT);
	assert_int_equal(fval(&f->rec.calls[2], "n_drops"), 1);
	assert_int_equal(fval(&f->rec.calls[2], "n_suppressed_checks"), 2);
	assert_int_equal(fval(&f->rec.calls[2], "n_suppressed_drops"), 106);
	assert_int_equal(f->d.n_checks, 4);
	assert_int_equal(f->d.n_actions_taken, 2);
}

static void test_null_callbacks(void **state)
{
	struct fx *f = *state;

	f->cfg.actions[2] = SAKER_DROP_ACT_EXIT;
	f->cfg.n_actions = 3;
	f->cfg.simulate_drops = true;
	fx_start(f);
	f->act.log = NULL;
	f->act.alert = NULL;
	assert_int_equal(tick(f, 10, EXECVE, 1), SAKER_DROPS_EXIT);
	f->now += SEC;
	assert_int_equal(saker_drops_check(&f->d, &f->st, f->now, REAL0, NULL), SAKER_DROPS_EXIT);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(f->d.n_actions_taken, 2);
}

/* A check that ran late covers several periods and says so; on time, Falco's wording. */
static void test_late_window_wording(void **state)
{
	struct fx *f = *state;

	f->cfg.actions[0] = SAKER_DROP_ACT_LOG;
	f->cfg.n_actions = 1;
	fx_start(f);
	f->now += 3 * SEC;
	f->st.k[SAKER_CNT_EVTS] += 100;
	f->st.k[OTHER] += 5;
	assert_int_equal(saker_drops_check_window(&f->d, &f->st, 3, f->now, REAL0, &f->act),
			 SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 1);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL,
		   "Saker internal: syscall event drop. 5 system calls dropped in last 3 seconds.");
	f->now += SEC;
	f->st.k[SAKER_CNT_EVTS] += 100;
	f->st.k[OTHER] += 2;
	saker_drops_check_window(&f->d, &f->st, 1, f->now, REAL0, &f->act);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[1], SAKER_PRIO_CRITICAL, DROP_MSG(2));
}

static void test_ring_occupancy_advice(void **state)
{
	struct fx *f = *state;
	const int full = SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN;
	struct saker_drops_rings r = {
	    .known = true,
	    .size_bytes = 1 << 20,
	    .high_water_bytes = 1 << 20,
	    .peak_demand_bytes = 3 << 20,
	};
	char buf[320];

	fx_start(f);
	/* 3 MiB of demand: preset 3 (4 MiB) is the smallest that holds it. */
	saker_drops_set_rings(&f->d, &r);
	assert_int_equal(tick(f, 1000, full, 10), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(f->rec.calls[0].kind, CALL_LOG);
	assert_non_null(strstr(f->rec.calls[0].msg,
			       DROP_MSG(10) " Ring high water 1048576 of "
					    "1048576 bytes, peak demand about "
					    "3145728 bytes: buf_size_preset 3 (4 "
					    "MiB per ring) would have held it."));
	/* The alert's output stays the plain message; the figures are fields. */
	assert_string_equal(f->rec.calls[1].msg, DROP_MSG(10));
	assert_int_equal(f->rec.calls[1].n_fields, SAKER_DROPS_N_COUNTER_FIELDS + 2);
	assert_int_equal(fval(&f->rec.calls[1], "ring_high_water_bytes"), 1 << 20);
	assert_int_equal(fval(&f->rec.calls[1], "ring_size_bytes"), 1 << 20);

	/* Given for one check only: the next has neither advice nor fields. */
	f->d.bucket.tokens = 10;
	assert_int_equal(tick(f, 1000, full, 10), SAKER_DROPS_OK);
	assert_int_equal(f->rec.n, 4);
	assert_string_equal(f->rec.calls[2].msg, DROP_MSG(10));
	assert_int_equal(f->rec.calls[3].n_fields, SAKER_DROPS_N_COUNTER_FIELDS);

	/* Drops that are not ring-full ones get no sizing advice. */
	saker_drops_set_rings(&f->d, &r);
	f->d.bucket.tokens = 10;
	assert_int_equal(tick(f, 1000, SAKER_CNT_DROPS_MAX_EVENT_SIZE, 4), SAKER_DROPS_OK);
	assert_string_equal(f->rec.calls[4].msg, DROP_MSG(4));

	r.saturated = true;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no buffer size would have held this window: the consumer was "
				    "the bottleneck"));
	r.saturated = false;
	r.peak_demand_bytes = (512ull << 20) + 1;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_non_null(
	    strstr(buf, "no buf_size_preset would have held it (the largest is 512 MiB)"));
	/* A demand the rings held is no reason for a bigger ring: never the preset in use. */
	r.peak_demand_bytes = 1000;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_string_equal(buf, "");
	r.peak_demand_bytes = 1 << 20;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_string_equal(buf, "");
	r.size_bytes = 65536;
	r.peak_demand_bytes = 100000;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "buf_size_preset 1 (1 MiB per ring)"));
	r.known = false;
	saker_drops_advice(&r, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

/*
 * The protected lane has its own size (protected_lane.buf_size): its
 * ring-full drops are advised on it, never on buf_size_preset, and the bulk
 * lane's advice only follows the bulk lane's drops.
 */
static void test_protected_lane_advice(void **state)
{
	struct fx *f = *state;
	const int crit_full =
	    SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, SAKER_LANE_CRITICAL, SAKER_CAT_EXECVE);
	struct saker_drops_rings r = {
	    .known = true,
	    .size_bytes = 8 << 20,
	    .high_water_bytes = 4096,
	    .peak_demand_bytes = 4096,
	    .critical = {.known = true,
			 .size_bytes = 256 << 10,
			 .high_water_bytes = 256 << 10,
			 .peak_demand_bytes = 700 << 10},
	};
	char buf[320];

	fx_start(f);
	saker_drops_set_rings(&f->d, &r);
	assert_int_equal(tick(f, 1000, crit_full, 10), SAKER_DROPS_OK);
	assert_int_equal(f->rec.calls[0].kind, CALL_LOG);
	assert_string_equal(f->rec.calls[0].msg,
			    DROP_MSG(10) " Protected lane ring high water 262144 of 262144 bytes, "
					 "peak demand about 716800 bytes: protected_lane.buf_size "
					 "1048576 would have held it.");
	/* Bulk drops with rings that held their demand: nothing to advise. */
	saker_drops_set_rings(&f->d, &r);
	f->d.bucket.tokens = 10;
	assert_int_equal(tick(f, 1000, OTHER, 3), SAKER_DROPS_OK);
	assert_string_equal(f->rec.calls[2].msg, DROP_MSG(3));

	r.critical.saturated = true;
	saker_drops_advice_critical(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no protected_lane.buf_size would have held this window"));
	r.critical.saturated = false;
	r.critical.peak_demand_bytes = (1ull << 30) + 1;
	saker_drops_advice_critical(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no protected_lane.buf_size would have held it"));
	r.critical.peak_demand_bytes = 1000;
	saker_drops_advice_critical(&r, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

/* ---- who, the ledger, repair and the degraded view ---- */

struct parts {
	char root[64];
	struct saker_view *view;
	struct saker_attrib *attrib;
};

static void parts_start(struct fx *f, struct parts *p, struct saker_ledger *ledger)
{
	fp_make_root(p->root, sizeof(p->root));
	fp_add(p->root, 4242, "flood", "/usr/bin/flood", "flood\0", 6, 65534);
	fp_add(p->root, 7, "sshd", "/usr/sbin/sshd", "sshd\0", 5, 0);
	assert_int_equal(saker_view_new(&p->view, 0, p->root), 0);
	assert_int_equal(saker_view_scan(p->view), 0);
	assert_int_equal(saker_attrib_new(&p->attrib, 0, p->view), 0);
	fx_start(f);
	saker_drops_set_parts(&f->d, p->attrib, ledger, p->view);
}

static void parts_stop(struct parts *p)
{
	saker_attrib_free(p->attrib);
	saker_view_free(p->view);
	fp_remove_root(p->root);
}

static void events(struct saker_attrib *a, uint32_t pid, int n)
{
	struct saker_evt_hdr h = {.tid = pid, .tgid = pid, .type = SAKER_EVT_SYSCALL};

	for (int i = 0; i < n; i++)
		saker_attrib_note(a, &h);
}

static void test_top_named_produced_only(void **state)
{
	struct fx *f = *state;
	struct parts p;

	parts_start(f, &p, NULL);
	events(p.attrib, 7, 10);
	events(p.attrib, 4242, 1234);
	tick(f, 10000, EXECVE, 5);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL,
		   DROP_MSG(5) " Top (produced only): pid 4242 (flood), 1.2k events.");
	/* The alert's output is Falco's sentence alone: who is in the fields. */
	const struct call *a = &f->rec.calls[1];
	assert_string_equal(a->msg, DROP_MSG(5));
	assert_null(find_field(a, "top.lost_sum"));
	assert_string_equal(sval(a, "top.attribution"), "produced_only");
	assert_int_equal(fval(a, "top.processes"), 2);
	assert_int_equal(fval(a, "top.0.pid"), 4242);
	assert_string_equal(sval(a, "top.0.comm"), "flood");
	assert_string_equal(sval(a, "top.0.exe"), "/usr/bin/flood");
	assert_int_equal(fval(a, "top.0.uid"), 65534);
	assert_int_equal(fval(a, "top.0.produced"), 1234);
	/* unknown is not zero: no per-process loss without the kernel's counts */
	assert_null(find_field(a, "top.0.lost"));
	assert_null(find_field(a, "top.0.demoted"));
	assert_int_equal(fval(a, "top.1.pid"), 7);
	assert_string_equal(sval(a, "top.1.comm"), "sshd");
	assert_null(find_field(a, "top.2.pid"));
	assert_int_equal(fval(a, "n_drops"), 5);

	/* a window in which nothing was received names nobody, and says so */
	tick(f, 10, EXECVE, 10);
	assert_int_equal(f->rec.n, 4);
	assert_log(&f->rec.calls[2], SAKER_PRIO_CRITICAL,
		   DROP_MSG(10) " Top: nobody (no events received).");
	assert_int_equal(fval(&f->rec.calls[3], "top.processes"), 0);
	parts_stop(&p);
}

static void test_top_named_by_kernel_loss(void **state)
{
	struct fx *f = *state;
	struct parts p;

	parts_start(f, &p, NULL);
	saker_attrib_set_kernel_loss(p.attrib, true);
	events(p.attrib, 7, 5000);
	events(p.attrib, 4242, 210000);
	saker_attrib_add_lost(p.attrib, 4242, 0, 990000);
	saker_attrib_add_demoted(p.attrib, 4242, 0, 12);
	/* the process is gone by the time of the check: what was known is kept */
	assert_int_equal(
	    saker_proctable_on_exit(saker_view_procs(p.view), 4242, SAKER_EXIT_GROUP_DEAD), 0);
	assert_null(saker_view_proc(p.view, 4242));
	tick(f, 1200000, OTHER, 990000);
	const struct call *a = &f->rec.calls[1];
	assert_string_equal(a->msg, DROP_MSG(990000));
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL,
		   DROP_MSG(990000) " Top: pid 4242 (flood), 1.2M events, 990k lost, 12 demoted.");
	assert_int_equal(fval(a, "top.lost_sum"), 990000);
	assert_null(find_field(a, "top.lost_previous_window"));
	assert_string_equal(sval(a, "top.attribution"), "kernel");
	assert_int_equal(fval(a, "top.0.pid"), 4242);
	assert_int_equal(fval(a, "top.0.produced"), 1200000);
	assert_int_equal(fval(a, "top.0.lost"), 990000);
	assert_int_equal(fval(a, "top.0.demoted"), 12);
	assert_int_equal(fval(a, "top.1.pid"), 7);
	assert_int_equal(fval(a, "top.1.lost"), 0);
	/* the loss is all attributed: only the flooder's view is degraded */
	assert_true(saker_view_degraded(p.view, 4242, f->now - SEC / 2));
	assert_false(saker_view_degraded(p.view, 7, f->now - SEC / 2));
	parts_stop(&p);
}

/*
 * The drop check reports what it is given: the processes' losses as the
 * kernel counted them, summed, and n_drops; top.lost_previous_window is gone
 * (one generation of both is read together, see test_generation_cut).
 */
static void test_lost_sum_against_n_drops(void **state)
{
	struct fx *f = *state;
	struct parts p;

	parts_start(f, &p, NULL);
	saker_attrib_set_kernel_loss(p.attrib, true);
	saker_attrib_add_kernel(p.attrib, 999, 0, 60, 0, 1000, "ghost");
	saker_attrib_add_kernel(p.attrib, 4242, 0, 40, 0, 65534, "flood");
	tick(f, 1000, OTHER, 103);
	const struct call *a = &f->rec.calls[1];
	assert_int_equal(fval(a, "top.lost_sum"), 100);
	assert_null(find_field(a, "top.lost_previous_window"));
	assert_true(fval(a, "top.lost_sum") <= fval(a, "n_drops"));
	parts_stop(&p);
}

/*
 * A model of the probe's generations (bpf/lib/counters.h, attrib.h): a run
 * reads loss_gen once, then counts its event in that generation's counters
 * and, if lost, its process's loss in that generation's map (counters
 * first). Per-process maps are read and emptied; counters only grow.
 */
struct probe_model {
	struct saker_kcounters k[2];
	uint64_t lost[2][2]; /* [gen][process: 0 ghost 999, 1 flood 4242] */
	unsigned gen;
	uint64_t delivered;
	struct saker_gen_cut cut;
};

struct gen_windows {
	struct rec rec; /* first: the fake alert and log take ctx as a struct rec */
	uint64_t seen, delivered, lost, windows;
};

static void gen_window(void *ctx, const struct saker_drops_window *w)
{
	struct gen_windows *g = ctx;

	g->seen += w->rec->seen;
	g->delivered += w->rec->delivered;
	g->lost += w->rec->loss->total;
	g->windows++;
}

/* A run that read generation gen loses (or delivers) n events of process who. */
static void model_run(struct probe_model *m, unsigned gen, int who, uint64_t n, bool lost)
{
	m->k[gen].c[SAKER_CNT_EVTS] += n;
	if (!lost) {
		m->delivered += n;
		return;
	}
	m->k[gen].c[OTHER] += n;
	m->lost[gen][who] += n;
}

/* What drop_check does after the flip and the drain: the old generation's map, then counters. */
static void model_cut(struct probe_model *m, struct saker_attrib *a, unsigned old,
		      struct saker_capture_stats *st)
{
	saker_attrib_add_kernel(a, 999, 0, m->lost[old][0], 0, 1000, "ghost");
	saker_attrib_add_kernel(a, 4242, 0, m->lost[old][1], 0, 65534, "flood");
	m->lost[old][0] = m->lost[old][1] = 0;
	saker_gen_cut_take(&m->cut, old, &m->k[old]);
	memset(st, 0, sizeof(*st));
	saker_gen_cut_sum(&m->cut, st);
	st->delivered = m->delivered;
}

/*
 * Runs that read the old generation and are still going at the flip (a
 * preempted probe) add to it before the drain returns: they are in the
 * window the old generation closes, counters and processes alike. So in
 * every window the processes' losses sum to n_drops (all attributed here),
 * never more, and over the windows and the final partial one at shutdown
 * seen = delivered + lost exactly.
 */
static void test_generation_cut(void **state)
{
	struct fx *f = *state;
	struct probe_model m = {0};
	struct gen_windows g = {0};
	struct saker_capture_stats st;
	struct parts p;
	uint64_t straggler = 0, total = 0;

	parts_start(f, &p, NULL);
	f->act.ctx = &g;
	f->act.log_ctx = &g;
	f->act.window = gen_window;
	saker_attrib_set_kernel_loss(p.attrib, true);
	for (int w = 0; w < 6; w++) {
		unsigned old = m.gen;
		const struct call *a;
		size_t before = g.rec.n;

		model_run(&m, m.gen, 1, 1000 + 10 * (uint64_t)w, true);
		model_run(&m, m.gen, 0, 7 * (uint64_t)w, true);
		model_run(&m, m.gen, 0, 500, false);
		/* the flip: runs from now on read the new generation */
		m.gen ^= 1;
		model_run(&m, m.gen, 1, 300, true);
		/* a run that read the old one before the flip finishes before the drain returns */
		model_run(&m, old, 1, 200 + (uint64_t)w, true);
		straggler += 200 + (uint64_t)w;
		model_cut(&m, p.attrib, old, &st);
		f->now += SEC;
		f->d.bucket.tokens = 10;
		saker_drops_check(&f->d, &st, f->now, REAL0 + f->now, &f->act);
		assert_int_equal(g.rec.n, before + 2);
		a = &g.rec.calls[before + 1];
		assert_int_equal(a->kind, CALL_ALERT);
		/* the first window also holds what the probe counted before the flip: all of it */
		assert_int_equal(fval(a, "top.lost_sum"), fval(a, "n_drops"));
		assert_int_equal(fval(a, "n_drops"), (w ? 300 : 0) + 1000 + 10 * (uint64_t)w +
							 7 * (uint64_t)w + 200 + (uint64_t)w);
		assert_null(find_field(a, "top.lost_previous_window"));
	}
	assert_true(straggler > 0);
	/* shutdown: after the detach nothing runs; both generations are read */
	model_run(&m, m.gen, 1, 42, true);
	model_run(&m, m.gen, 0, 9, false);
	saker_gen_cut_take(&m.cut, 0, &m.k[0]);
	saker_gen_cut_take(&m.cut, 1, &m.k[1]);
	memset(&st, 0, sizeof(st));
	saker_gen_cut_sum(&m.cut, &st);
	st.delivered = m.delivered;
	f->now += SEC / 2;
	const struct saker_drops_now end = {
	    .mono_ns = f->now, .real_ns = REAL0 + f->now, .boot_ns = f->now};
	saker_drops_finish_window(&f->d, &st, &end, &f->act);
	assert_int_equal(g.windows, 7);
	total = m.k[0].c[SAKER_CNT_EVTS] + m.k[1].c[SAKER_CNT_EVTS];
	assert_int_equal(g.seen, total);
	assert_int_equal(g.seen, g.delivered + g.lost);
	assert_int_equal(g.delivered, m.delivered);
	parts_stop(&p);
}

/*
 * The probe names a process the view never knew (its fork lost): its comm and
 * uid are the probe's. Demotion without loss raises no drop alert but a
 * warning naming the process, at once, then at most every 10 s with what
 * accumulated, and the rest once demotion ends.
 */
static void test_kernel_names_and_demotion_notice(void **state)
{
	struct fx *f = *state;
	struct parts p;

	parts_start(f, &p, NULL);
	saker_attrib_set_kernel_loss(p.attrib, true);
	saker_attrib_add_kernel(p.attrib, 999, 0, 5000, 0, 1000, "ghost");
	tick(f, 6000, OTHER, 5000);
	const struct call *a = &f->rec.calls[1];
	assert_string_equal(a->msg, DROP_MSG(5000));
	assert_log(&f->rec.calls[0], SAKER_PRIO_CRITICAL,
		   DROP_MSG(5000) " Top: pid 999 (ghost), 5.0k events, 5.0k lost.");
	assert_int_equal(fval(a, "top.0.uid"), 1000);
	assert_int_equal(f->rec.n, 2);

	/* 300 demoted, no loss: no alert, one warning naming the connect flooder */
	events(p.attrib, 4242, 1000);
	saker_attrib_add_kernel(p.attrib, 4242, 0, 0, 300, 65534, "flood");
	saker_attrib_add_kernel(p.attrib, 7, 0, 0, 2, 0, "sshd");
	tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 3);
	assert_log(
	    &f->rec.calls[2], SAKER_PRIO_WARNING,
	    "Saker internal: protected lane: 302 critical events demoted in last 1 second(s) "
	    "(over budget); top: pid 4242 (flood) uid 65534: 300 demoted");
	/* within 10 s: accumulated, not logged */
	for (int i = 0; i < 5; i++) {
		saker_attrib_add_kernel(p.attrib, 4242, 0, 0, 100, 65534, "flood");
		tick(f, 1000, OTHER, 0);
	}
	assert_int_equal(f->rec.n, 3);
	/* demotion ended: what accumulated is still reported once the period is over */
	for (int i = 0; i < 5; i++)
		tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 4);
	assert_log(
	    &f->rec.calls[3], SAKER_PRIO_WARNING,
	    "Saker internal: protected lane: 500 critical events demoted in last 10 second(s) "
	    "(over budget); top: pid 4242 (flood) uid 65534: 100 demoted");
	assert_int_equal(f->d.n_demote_notices, 2);
	for (int i = 0; i < 12; i++)
		tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 4);
	parts_stop(&p);
}

/*
 * Shutdown: demotions held back by the notice's period, and those of the last
 * partial window, are logged then, so the warnings add up to every demotion.
 */
static void test_demotions_pending_at_shutdown_are_logged(void **state)
{
	struct fx *f = *state;
	struct parts p;
	struct saker_drops_now now;

	parts_start(f, &p, NULL);
	saker_attrib_set_kernel_loss(p.attrib, true);
	saker_attrib_add_kernel(p.attrib, 4242, 0, 0, 50000, 65534, "flood");
	tick(f, 1000, OTHER, 0);
	assert_int_equal(f->rec.n, 1);
	assert_non_null(strstr(f->rec.calls[0].msg, ": 50000 demoted"));
	/* within the period: held back */
	for (int i = 0; i < 3; i++) {
		saker_attrib_add_kernel(p.attrib, 4242, 0, 0, 200000, 65534, "flood");
		tick(f, 1000, OTHER, 0);
	}
	assert_int_equal(f->rec.n, 1);
	/* the last partial window, never checked */
	saker_attrib_add_kernel(p.attrib, 4242, 0, 0, 50000, 65534, "flood");
	now = (struct saker_drops_now){.mono_ns = f->now + SEC / 2, .window_s = 1};
	saker_drops_finish(&f->d, &now, &f->act);
	assert_int_equal(f->rec.n, 2);
	assert_log(&f->rec.calls[1], SAKER_PRIO_WARNING,
		   "Saker internal: protected lane: 650000 critical events demoted in last 3 "
		   "second(s) (over budget); top: pid 4242 (flood) uid 65534: 200000 demoted");
	/* nothing pending: nothing more */
	saker_drops_finish(&f->d, &now, &f->act);
	assert_int_equal(f->rec.n, 2);
	parts_stop(&p);
}

static size_t ledger_lines(const char *path, char lines[][4096], size_t max)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (!fp)
		return 0;
	while (n < max && fgets(lines[n], 4096, fp)) {
		size_t len = strlen(lines[n]);

		assert_true(len && lines[n][len - 1] == '\n');
		lines[n][--len] = '\0';
		assert_true(json_valid(lines[n], len));
		n++;
	}
	fclose(fp);
	return n;
}

/*
 * A ledger line that cannot be written is logged with its reason: at once,
 * then held back for the period, and what was held back at shutdown, still
 * with its reason.
 */
static void test_ledger_failures_logged_with_reason(void **state)
{
	struct fx *f = *state;
	struct saker_ledger *l;
	struct parts p;
	struct saker_drops_now now;
	struct rlimit rl, old;
	char path[128], err[256];
	size_t n_err = 0;

	fp_make_root(path, sizeof(path) - 16);
	strcat(path, "/ledger");
	assert_int_equal(saker_ledger_open(&l, path, err, sizeof(err)), 0);
	f->cfg.n_actions = 0;
	parts_start(f, &p, l);
	/* Writes past the limit fail with EFBIG (the signal ignored). */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = 0;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (int i = 0; i < 4; i++)
		tick(f, 1000, OTHER, 2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(f->d.n_ledger_errors, 4);
	for (size_t i = 0; i < f->rec.n; i++)
		if (f->rec.calls[i].kind == CALL_LOG && f->rec.calls[i].prio == SAKER_PRIO_ERROR)
			n_err++;
	assert_int_equal(n_err, 1);
	assert_log(&f->rec.calls[f->rec.n - 1], SAKER_PRIO_ERROR,
		   "syscall_event_drops.ledger: 1 line(s) could not be written since the last "
		   "report: File too large");
	now = (struct saker_drops_now){.mono_ns = f->now + SEC / 2, .window_s = 1};
	saker_drops_finish(&f->d, &now, &f->act);
	assert_log(&f->rec.calls[f->rec.n - 1], SAKER_PRIO_ERROR,
		   "syscall_event_drops.ledger: 3 line(s) could not be written since the last "
		   "report: File too large");
	parts_stop(&p);
	saker_ledger_close(l);
	*strrchr(path, '/') = '\0';
	fp_remove_root(path);
}

static void test_ledger_every_lossy_window(void **state)
{
	struct fx *f = *state;
	static char lines[16][4096];
	struct saker_ledger *l;
	struct parts p;
	char path[128], err[256];

	fp_make_root(path, sizeof(path) - 16);
	strcat(path, "/ledger");
	assert_int_equal(saker_ledger_open(&l, path, err, sizeof(err)), 0);
	f->cfg.max_burst = 1;
	f->cfg.rate = .001;
	f->cfg.actions[0] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 1;
	parts_start(f, &p, l);
	tick(f, 1000, SAKER_CNT_EVTS, 0); /* nothing lost: no line */
	events(p.attrib, 4242, 50);
	tick(f, 1000, EXECVE, 3);	  /* alerted */
	tick(f, 1000, OTHER, 4);	  /* suppressed */
	tick(f, 1000, OTHER, 5);	  /* suppressed */
	tick(f, 1000, SAKER_CNT_EVTS, 0); /* loss ended */
	tick(f, 1000, SAKER_CNT_EVTS, 0); /* nothing more */
	assert_int_equal(f->d.n_suppressed, 2);
	assert_int_equal(ledger_lines(path, lines, 16), 4);
	for (int i = 0; i < 3; i++) {
		assert_non_null(strstr(lines[i], "{\"type\":\"loss\""));
		assert_non_null(strstr(lines[i], "\"seen\":1000"));
		assert_non_null(strstr(lines[i], "\"fired\":true"));
		assert_non_null(
		    strstr(lines[i], i ? "\"suppressed\":true" : "\"suppressed\":false"));
	}
	assert_non_null(strstr(lines[0], "\"lost\":3,"));
	assert_non_null(strstr(lines[0], "\"execve\":3"));
	assert_non_null(strstr(lines[0], "\"top\":[{\"pid\":4242,\"comm\":\"flood\""));
	assert_non_null(strstr(lines[1], "\"lost\":4,"));
	assert_non_null(strstr(lines[1], "\"other\":4"));
	assert_non_null(strstr(lines[2], "\"lost\":5,"));
	/* windows follow each other: one's end is the next one's start */
	assert_non_null(strstr(lines[0], "\"start_boot_ns\":5001000000000,\"end_boot_ns\":"
					 "5002000000000"));
	assert_non_null(strstr(lines[1], "\"start_boot_ns\":5002000000000"));
	assert_non_null(strstr(lines[3], "{\"type\":\"loss_end\""));
	assert_non_null(strstr(lines[3], "\"start_boot_ns\":5004000000000,\"end_boot_ns\":"
					 "5005000000000"));
	assert_non_null(strstr(lines[3], "\"episode_start_boot_ns\":5001000000000,"
					 "\"episode_end_boot_ns\":5004000000000"));
	assert_non_null(strstr(lines[3], "\"episode_windows\":3,\"episode_seen\":3000,"
					 "\"episode_lost\":12}"));
	saker_ledger_close(l);
	parts_stop(&p);
	*strrchr(path, '/') = '\0';
	fp_remove_root(path);
}

static void test_resync_action(void **state)
{
	struct fx *f = *state;

	f->cfg.actions[0] = SAKER_DROP_ACT_RESYNC;
	f->cfg.actions[1] = SAKER_DROP_ACT_ALERT;
	f->cfg.n_actions = 2;
	f->cfg.max_burst = 1;
	f->cfg.rate = .001;
	f->cfg.degraded_window = 10;
	fx_start(f);
	/* a lost exec: targeted */
	tick(f, 1000, EXECVE, 3);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(f->rec.calls[0].kind, CALL_RESYNC);
	assert_int_equal(f->rec.calls[0].since, f->now - SEC);
	assert_int_equal(f->rec.calls[0].until, f->now + 10 * SEC);
	assert_false(f->rec.calls[0].full);
	assert_int_equal(f->rec.calls[1].kind, CALL_ALERT);
	/* opens lost: no lifecycle event, nothing to repair (the alert is suppressed) */
	tick(f, 1000, SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OPEN, 100);
	assert_int_equal(f->rec.n, 2);
	/* many forks lost: a full rescan, whatever the bucket says */
	tick(f, 1000, SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_CLONE_FORK,
	     SAKER_DROPS_RESYNC_FULL_MIN);
	assert_int_equal(f->rec.n, 3);
	assert_int_equal(f->rec.calls[2].kind, CALL_RESYNC);
	assert_true(f->rec.calls[2].full);
	/* and whatever the threshold says */
	f->cfg.threshold = 1;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 1000, SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_PROC, 1);
	assert_int_equal(f->rec.n, 4);
	assert_int_equal(f->rec.calls[3].kind, CALL_RESYNC);
	assert_int_equal(f->d.n_resyncs, 3);
	/* simulated drops repair nothing */
	f->cfg.simulate_drops = true;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	tick(f, 1000, SAKER_CNT_EVTS, 0);
	assert_int_equal(f->d.n_resyncs, 3);
	/* without the action, no repair */
	f->cfg.simulate_drops = false;
	f->cfg.actions[0] = SAKER_DROP_ACT_LOG;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	f->rec.n = 0;
	tick(f, 1000, EXECVE, 3);
	for (size_t i = 0; i < f->rec.n; i++)
		assert_int_not_equal(f->rec.calls[i].kind, CALL_RESYNC);
	assert_int_equal(f->d.n_resyncs, 3);
}

static void test_loss_degrades_view(void **state)
{
	struct fx *f = *state;
	struct parts p;
	uint64_t start;

	f->cfg.degraded_window = 10;
	parts_start(f, &p, NULL);
	events(p.attrib, 4242, 5);
	tick(f, 1000, SAKER_CNT_EVTS, 0);
	assert_false(saker_view_degraded(p.view, 4242, f->now));
	start = f->now;
	tick(f, 1000, OTHER, 1);
	/* unknown attribution: everyone, from the window's start to 10 s after the check */
	assert_false(saker_view_degraded(p.view, 7, start - 1));
	assert_true(saker_view_degraded(p.view, 7, start));
	assert_true(saker_view_degraded(p.view, 99999, f->now + 10 * SEC));
	assert_false(saker_view_degraded(p.view, 7, f->now + 10 * SEC + 1));
	/* simulated drops are not losses */
	f->cfg.simulate_drops = true;
	saker_drops_reconfigure(&f->d, &f->cfg, f->now);
	f->now += 100 * SEC;
	tick(f, 1000, SAKER_CNT_EVTS, 0);
	assert_false(saker_view_degraded(p.view, 7, f->now));
	parts_stop(&p);
}

/*
 * With the probe's counts every process that lost is marked, beyond the top
 * three, and a bystander is not; a loss the probe could not attribute marks all.
 */
static void test_every_loser_degraded_bystanders_not(void **state)
{
	struct fx *f = *state;
	struct parts p;

	f->cfg.degraded_window = 10;
	parts_start(f, &p, NULL);
	saker_attrib_set_kernel_loss(p.attrib, true);
	events(p.attrib, 7, 50);
	for (uint32_t pid = 100; pid < 105; pid++)
		saker_attrib_add_kernel(p.attrib, pid, 0, 10 + pid, 0, 0, "flood");
	tick(f, 1000, OTHER, 5 * 112);
	for (uint32_t pid = 100; pid < 105; pid++)
		assert_true(saker_view_degraded(p.view, pid, f->now));
	assert_false(saker_view_degraded(p.view, 7, f->now));
	assert_false(saker_view_degraded(p.view, 4242, f->now));

	f->now += 100 * SEC;
	saker_attrib_add_kernel(p.attrib, 100, 0, 3, 0, 0, "flood");
	f->st.k[SAKER_CNT_DROPS_UNATTRIBUTED] += 2;
	tick(f, 1000, OTHER, 5);
	assert_true(saker_view_degraded(p.view, 7, f->now));
	assert_true(saker_view_degraded(p.view, 4242, f->now));
	parts_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drops_before_start_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threshold_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threshold_zero_one_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_simulate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_and_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ignore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suppression, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fields_exact, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_critical_loss_ignores_threshold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deltas_not_totals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters_backwards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconfigure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_callbacks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_window_wording, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ring_occupancy_advice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_named_produced_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_sum_against_n_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generation_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protected_lane_advice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_failures_logged_with_reason, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_demotions_pending_at_shutdown_are_logged, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_top_named_by_kernel_loss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_names_and_demotion_notice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_every_lossy_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resync_action, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loss_degrades_view, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_loser_degraded_bystanders_not, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
