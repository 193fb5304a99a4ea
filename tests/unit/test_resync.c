#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "state/resync.h"
#include "state/view.h"
#include "fakeproc.h"

#define SEC 1000000000ull
#define MS  1000000ull

struct fx {
	char root[64];
	struct saker_view *view;
	struct saker_resync *r;
	uint64_t mono;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	struct saker_resync_opts o = {.proc_root = f->root, .slice_ns = 50 * MS};

	fp_make_root(f->root, sizeof(f->root));
	fp_add(f->root, 100, "bash", "/usr/bin/bash", "bash\0", 5, 1000);
	assert_int_equal(saker_view_new(&f->view, 0, f->root), 0);
	assert_int_equal(saker_view_scan(f->view), 0);
	assert_int_equal(saker_resync_new(&f->r, f->view, &o), 0);
	f->mono = 1000 * SEC;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	saker_resync_free(f->r);
	saker_view_free(f->view);
	fp_remove_root(f->root);
	test_free(f);
	return 0;
}

static void note(struct saker_resync *r, uint32_t tid, uint32_t tgid, uint64_t ts)
{
	struct saker_evt_hdr h = {.tid = tid, .tgid = tgid, .ts_ns = ts, .type = SAKER_EVT_SYSCALL};

	saker_resync_note(r, &h);
}

/* Runs until no work is left (bounded); how many runs it took. */
static int run_all(struct fx *f, uint64_t boot)
{
	int runs = 0;

	while (runs < 10000) {
		f->mono += SEC; /* past any period */
		runs++;
		if (!saker_resync_run(f->r, f->mono, boot))
			break;
	}
	assert_true(runs < 10000);
	return runs;
}

static void test_seen_process_reloaded(void **state)
{
	struct fx *f = *state;
	const struct saker_proc *p;
	struct saker_resync_stats st;
	char args[64];

	/* While its fork and exec records were lost, pid 200 started "/usr/bin/id -u". */
	fp_add(f->root, 200, "id", "/usr/bin/id", "id\0-u\0", 6, 0);
	assert_null(saker_view_proc(f->view, 200));
	/* not armed: nothing happens */
	note(f->r, 200, 200, 5 * SEC);
	assert_false(saker_resync_run(f->r, f->mono, 5 * SEC));
	assert_null(saker_view_proc(f->view, 200));

	saker_resync_request(f->r, 10 * SEC, 30 * SEC, false);
	note(f->r, 200, 200, 11 * SEC);
	note(f->r, 201, 200, 11 * SEC); /* the same process again: queued once */
	note(f->r, 100, 100, 11 * SEC);
	saker_resync_get_stats(f->r, &st);
	assert_true(st.armed);
	assert_true(st.busy);
	assert_int_equal(st.queued, 2);
	run_all(f, 12 * SEC);
	p = saker_view_proc(f->view, 200);
	assert_non_null(p);
	assert_string_equal(p->exe, "/usr/bin/id");
	assert_string_equal(p->comm, "id");
	saker_proc_args_join(p, 0, args, sizeof(args));
	assert_string_equal(args, "id -u");
	saker_resync_get_stats(f->r, &st);
	assert_int_equal(st.loaded, 2);
	assert_int_equal(st.full_scans, 0);
	assert_false(st.busy);

	/* another loss: every process is suspect again; one gone before it is read is
	 * counted, and forgotten by the table */
	saker_resync_request(f->r, 12 * SEC, 30 * SEC, false);
	note(f->r, 300, 300, 12 * SEC);
	fp_remove(f->root, 200);
	note(f->r, 200, 200, 12 * SEC);
	run_all(f, 13 * SEC);
	saker_resync_get_stats(f->r, &st);
	assert_int_equal(st.gone, 2);
	assert_null(saker_view_proc(f->view, 200));

	/* once the window is over, seen processes are no longer queued */
	assert_false(saker_resync_run(f->r, f->mono, 31 * SEC));
	saker_resync_get_stats(f->r, &st);
	assert_false(st.armed);
	note(f->r, 400, 400, 32 * SEC);
	saker_resync_get_stats(f->r, &st);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.requests, 2);
}

static void test_full_rescan_and_prune(void **state)
{
	struct fx *f = *state;
	struct saker_resync_stats st;

	/* pid 100 exited (its exit lost); 200 and 201 started unseen */
	fp_remove(f->root, 100);
	fp_add(f->root, 200, "a", "/bin/a", "a\0", 2, 0);
	fp_add(f->root, 201, "b", "/bin/b", "b\0", 2, 0);
	assert_non_null(saker_view_proc(f->view, 100));
	saker_resync_request(f->r, 10 * SEC, 30 * SEC, true);
	/* asked again before it began: still one rescan */
	saker_resync_request(f->r, 10 * SEC, 30 * SEC, true);
	run_all(f, 12 * SEC);
	saker_resync_get_stats(f->r, &st);
	assert_int_equal(st.full_scans, 1);
	assert_int_equal(st.last_full_pids, 2);
	assert_int_equal(st.loaded, 2);
	assert_int_equal(st.pruned, 1);
	assert_null(saker_view_proc(f->view, 100));
	assert_string_equal(saker_view_proc(f->view, 200)->exe, "/bin/a");
	assert_string_equal(saker_view_proc(f->view, 201)->exe, "/bin/b");
	/* asked while one runs (a step at a time): another one follows it */
	fp_add(f->root, 202, "c", "/bin/c", "c\0", 2, 0);
	saker_resync_request(f->r, 11 * SEC, 31 * SEC, true);
	f->mono += SEC;
	{
		struct saker_resync_opts o = {.proc_root = f->root, .slice_ns = 1};
		struct saker_resync *r1;

		assert_int_equal(saker_resync_new(&r1, f->view, &o), 0);
		saker_resync_request(r1, 11 * SEC, 31 * SEC, true);
		assert_true(saker_resync_run(r1, f->mono, 12 * SEC));	    /* listed */
		assert_true(saker_resync_run(r1, f->mono + SEC, 12 * SEC)); /* one loaded */
		saker_resync_request(r1, 11 * SEC, 31 * SEC, true);
		while (saker_resync_run(r1, f->mono += SEC, 12 * SEC))
			;
		saker_resync_get_stats(r1, &st);
		assert_int_equal(st.full_scans, 2);
		saker_resync_free(r1);
	}
	run_all(f, 12 * SEC);
	saker_resync_get_stats(f->r, &st);
	assert_int_equal(st.full_requests, 3);
	assert_int_equal(st.full_scans, 2);
	assert_int_equal(st.last_full_pids, 3);
	assert_string_equal(saker_view_proc(f->view, 202)->exe, "/bin/c");
	assert_true(st.ns > 0);
	assert_true(st.last_full_ns > 0);
	{
		struct saker_metrics m;

		saker_metrics_init(&m);
		saker_resync_add_metrics(f->r, &m);
		assert_false(m.oom);
		assert_non_null(saker_metrics_find(&m, "resync_full_scans_total", NULL, 0));
		assert_true(saker_metrics_sum(&m, "resync_full_scans_total") == 2);
		assert_true(saker_metrics_sum(&m, "resync_pruned_total") == 1);
		assert_true(saker_metrics_sum(&m, "resync_seconds_total") > 0);
		saker_metrics_free(&m);
	}
}

/* Repair only improves: a zombie keeps its image, a reused pid is another process. */
static void test_zombie_keeps_image(void **state)
{
	struct fx *f = *state;
	struct saker_proctable_stats ps;
	const struct saker_proc *p;
	char args[64];

	/* pid 100 ("bash", from the scan) exited; its exit record is still in a ring */
	fp_set_state(f->root, 100, 'Z', 500);
	saker_resync_request(f->r, 10 * SEC, 30 * SEC, true);
	note(f->r, 100, 100, 11 * SEC);
	run_all(f, 12 * SEC);
	p = saker_view_proc(f->view, 100);
	assert_non_null(p);
	assert_string_equal(p->exe, "/usr/bin/bash");
	assert_string_equal(p->cwd, "/");
	saker_proc_args_join(p, 0, args, sizeof(args));
	assert_string_equal(args, "bash");
	assert_true(p->flags & SAKER_PROC_EXITED);
	assert_false(p->flags & SAKER_PROC_UNCONFIRMED);
	assert_false(saker_view_degraded(f->view, 100, 11 * SEC));
	saker_proctable_get_stats(saker_view_procs(f->view), &ps);
	assert_true(ps.load_zombies >= 1);
	assert_true(ps.load_kept >= 3);
	assert_int_equal(ps.load_unconfirmed, 0);

	/* a zombie nobody knew: nothing to keep, so flagged, and its events degraded */
	fp_add(f->root, 700, "ghost", "/bin/ghost", "ghost\0", 6, 0);
	fp_set_state(f->root, 700, 'Z', 900);
	saker_resync_request(f->r, 12 * SEC, 30 * SEC, false);
	note(f->r, 700, 700, 13 * SEC);
	run_all(f, 13 * SEC);
	p = saker_view_proc(f->view, 700);
	assert_non_null(p);
	assert_true(p->flags & SAKER_PROC_UNCONFIRMED);
	assert_true(saker_view_degraded(f->view, 700, 13 * SEC));

	/* pid 100 reaped and reused by another program (another start time): replaced */
	fp_remove(f->root, 100);
	fp_add(f->root, 100, "id", "/usr/bin/id", "id\0", 3, 0);
	fp_set_state(f->root, 100, 'S', 9000);
	saker_resync_request(f->r, 14 * SEC, 30 * SEC, false);
	note(f->r, 100, 100, 95 * SEC);
	run_all(f, 14 * SEC);
	p = saker_view_proc(f->view, 100);
	assert_non_null(p);
	assert_string_equal(p->exe, "/usr/bin/id");
	assert_false(p->flags & SAKER_PROC_EXITED);
	saker_proctable_get_stats(saker_view_procs(f->view), &ps);
	assert_int_equal(ps.load_replaced, 1);
}

static void test_bounded_per_run(void **state)
{
	struct fx *f = *state;
	struct saker_resync_stats st;
	struct saker_resync *r;
	struct saker_resync_opts o = {.proc_root = f->root, .slice_ns = 1, .period_ns = 10 * MS};
	int runs;

	for (unsigned pid = 500; pid < 530; pid++)
		fp_add(f->root, pid, "x", "/bin/x", "x\0", 2, 0);
	assert_int_equal(saker_resync_new(&r, f->view, &o), 0);
	saker_resync_request(r, 10 * SEC, 30 * SEC, true);
	/* one step per run with a 1 ns slice: listing, 31 loads, the table listing, prunes */
	assert_true(saker_resync_run(r, f->mono, 11 * SEC));
	/* within the period nothing more is done */
	assert_true(saker_resync_run(r, f->mono + 5 * MS, 11 * SEC));
	saker_resync_get_stats(r, &st);
	assert_int_equal(st.runs, 1);
	runs = 1;
	while (saker_resync_run(r, f->mono + (uint64_t)runs * 10 * MS, 11 * SEC) && runs < 1000)
		runs++;
	saker_resync_get_stats(r, &st);
	assert_int_equal(st.full_scans, 1);
	assert_int_equal(st.last_full_pids, 31);
	assert_true(runs > 31);
	assert_int_equal(st.runs, (uint64_t)runs + 1);
	saker_resync_free(r);
}

static void test_queue_overflow_turns_full(void **state)
{
	struct fx *f = *state;
	struct saker_resync_stats st;
	struct saker_resync *r;
	struct saker_resync_opts o = {.proc_root = f->root, .max_pending = 2};

	assert_int_equal(saker_resync_new(&r, f->view, &o), 0);
	saker_resync_request(r, 10 * SEC, 30 * SEC, false);
	for (uint32_t pid = 600; pid < 605; pid++)
		note(r, pid, pid, 11 * SEC);
	saker_resync_get_stats(r, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.overflows, 3);
	while (saker_resync_run(r, f->mono += SEC, 11 * SEC))
		;
	saker_resync_get_stats(r, &st);
	assert_int_equal(st.full_scans, 1);
	saker_resync_free(r);
	saker_resync_free(NULL);
	saker_resync_note(NULL, NULL);
	saker_resync_request(NULL, 0, 0, true);
	assert_false(saker_resync_run(NULL, 0, 0));
	assert_int_equal(saker_resync_new(&r, NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_seen_process_reloaded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_rescan_and_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zombie_keeps_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_per_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_overflow_turns_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
