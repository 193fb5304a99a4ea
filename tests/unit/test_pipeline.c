/* The pipeline: one decode per record, consumers in order, rejects counted as losses. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "app/pipeline.h"
#include "drops/attrib.h"
#include "event/event.h"
#include "evbuild.h"
#include "outputs/dump.h"
#include "state/view.h"

static struct evb B;

struct fx {
	struct saker_view *v;
	struct saker_dump d;
	struct saker_dump_sink sink;
	struct saker_pipeline p;
	int fds[2];
	unsigned rules_calls;
	bool rules_saw_fd;   /* the rules slot ran after state apply */
	char rules_comm[32]; /* the process's comm as the rules slot saw it */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || saker_view_new(&f->v, 0, "/nonexistent-proc-root") || pipe(f->fds))
		return -1;
	(void)fcntl(f->fds[0], F_SETFL, O_NONBLOCK);
	saker_dump_init(&f->d, true, false, 0, f->v);
	if (saker_dump_sink_open(&f->sink, f->fds[1], 0))
		return -1;
	saker_pipeline_init(&f->p, f->v, &f->d, &f->sink);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	saker_dump_sink_close(&f->sink);
	saker_dump_fini(&f->d);
	saker_view_free(f->v);
	close(f->fds[0]);
	close(f->fds[1]);
	free(f);
	return 0;
}

static int feed(struct fx *f)
{
	evb_end(&B);
	return saker_pipeline_record(&f->p, evb_hdr(&B), B.len);
}

/* Everything the dump wrote so far, as one string. */
static const char *dumped(struct fx *f)
{
	static char buf[1 << 16];
	ssize_t n;

	assert_int_equal(saker_pipeline_flush(&f->p), 0);
	n = read(f->fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int rules_probe(void *ctx, const struct saker_event *ev)
{
	struct fx *f = ctx;

	f->rules_calls++;
	/* An open's new fd is in the table by the time the rules see the event. */
	if (ev->hdr.ret == 7)
		f->rules_saw_fd = saker_view_fd(f->v, ev->hdr.tgid, 7) != NULL;
	{
		const struct saker_proc *p = saker_view_proc(f->v, ev->hdr.tid);

		snprintf(f->rules_comm, sizeof(f->rules_comm), "%s", p ? p->comm : "");
	}
	return 0;
}

static const char *const ARGV[] = {"cat", "-n", NULL};

static void exec_evt(uint32_t pid, const char *exe, const char *comm)
{
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, pid, pid, 0, 1000);
	evb_str(&B, SAKER_PN_EXE, exe);
	evb_strlist(&B, SAKER_PN_ARGS, ARGV);
	evb_str(&B, SAKER_PN_CWD, "/");
	evb_u64(&B, SAKER_PN_UID, 0);
	evb_u64(&B, SAKER_PN_GID, 0);
	evb_u64(&B, SAKER_PN_EUID, 0);
	evb_u64(&B, SAKER_PN_LOGINUID, 0);
	evb_s64(&B, SAKER_PN_PPID, 1);
	evb_str(&B, SAKER_PN_COMM, comm);
	evb_u64(&B, SAKER_PN_TTY, 0);
	evb_u64(&B, SAKER_PN_CGROUP_ID, 0);
	evb_u64(&B, SAKER_PN_START_TS, 77);
}

/* An exec: the dump names the image it replaced, the rules see the new one. */
static void test_exec_rules_see_the_new_image(void **state)
{
	struct fx *f = *state;

	f->p.rules = rules_probe;
	f->p.rules_ctx = f;
	exec_evt(20, "/usr/bin/bash", "bash");
	assert_int_equal(feed(f), 0);
	assert_string_equal(f->rules_comm, "bash");
	exec_evt(20, "/usr/bin/cat", "cat");
	assert_int_equal(feed(f), 0);
	assert_string_equal(f->rules_comm, "cat");
	assert_int_equal(f->rules_calls, 2);
	assert_non_null(strstr(dumped(f), "sched_process_exec"));
	assert_int_equal(f->p.state_errors, 0);
}

/* Attribution counts every record, the ones rules see after their result (exec) too. */
static void test_every_record_is_attributed(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;

	assert_int_equal(saker_attrib_new(&f->p.attrib, 0, f->v), 0);
	f->p.rules = rules_probe;
	f->p.rules_ctx = f;
	exec_evt(20, "/usr/bin/bash", "bash");
	assert_int_equal(feed(f), 0);
	evb_sc(&B, "close", 20, 20, 0, 1001);
	evb_s64(&B, SAKER_PN_FD, 3);
	assert_int_equal(feed(f), 0);
	saker_attrib_close(f->p.attrib, &w);
	assert_int_equal(w.n_top, 1);
	assert_int_equal(w.top[0].pid, 20);
	assert_int_equal(w.top[0].received, 2);
	saker_attrib_free(f->p.attrib);
	f->p.attrib = NULL;
}

struct tap_seen {
	unsigned n;
	size_t last_len;
	bool before_decode; /* the tap ran before the view applied the record */
	struct fx *f;
};

static int tap_probe(void *ctx, const struct saker_evt_hdr *e, size_t len)
{
	struct tap_seen *t = ctx;

	t->n++;
	t->last_len = len;
	if (e->type == SAKER_EVT_SYSCALL && e->ret == 9)
		t->before_decode = saker_view_fd(t->f->v, e->tgid, 9) == NULL;
	return -EIO; /* ignored: a tap cannot reject a record */
}

/* The tap (-w) sees every record as handed in, rejected ones too, before anything else. */
static void test_tap_sees_every_record_first(void **state)
{
	struct fx *f = *state;
	struct tap_seen t = {.f = f};

	f->p.tap = tap_probe;
	f->p.tap_ctx = &t;
	evb_sc(&B, "openat", 30, 30, 9, 1000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "/etc/hosts");
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	evb_u64(&B, SAKER_PN_MODE, 0);
	assert_int_equal(feed(f), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.last_len, B.len);
	assert_true(t.before_decode);
	assert_non_null(saker_view_fd(f->v, 30, 9)); /* the tap's -EIO changed nothing */
	/* a record the decoder refuses still reaches the tap */
	evb_sc(&B, "close", 30, 30, 0, 1001);
	evb_s64(&B, SAKER_PN_FD, 9);
	evb_end(&B);
	evb_hdr(&B)->len = (uint16_t)(B.len + 100);
	assert_int_equal(saker_pipeline_record(&f->p, evb_hdr(&B), B.len), -EBADMSG);
	assert_int_equal(t.n, 2);
	assert_int_equal(f->p.rejected, 1);
}

static int canary_probe(void *ctx, const struct saker_event *ev)
{
	unsigned *n = ctx;

	(*n)++;
	return ev->hdr.tgid == 40 ? 0 : -EINVAL;
}

/* The capture canary's events reach its slot, never the rules; they are delivered and dumped. */
static void test_canary_events_bypass_the_rules(void **state)
{
	struct fx *f = *state;
	unsigned canary = 0;

	f->p.rules = rules_probe;
	f->p.rules_ctx = f;
	f->p.canary_tgid = 40;
	f->p.canary = canary_probe;
	f->p.canary_ctx = &canary;
	evb_sc(&B, "openat", 40, 40, -20, 1000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "/dev/null/saker-canary-0123456789abcdef-1");
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	evb_u64(&B, SAKER_PN_MODE, 0);
	assert_int_equal(feed(f), 0);
	assert_int_equal(canary, 1);
	assert_int_equal(f->rules_calls, 0);
	assert_non_null(strstr(dumped(f), "saker-canary-0123456789abcdef-1"));
	/* Anyone else's event goes to the rules, not to the canary. */
	evb_sc(&B, "close", 41, 41, 0, 1001);
	evb_s64(&B, SAKER_PN_FD, 3);
	assert_int_equal(feed(f), 0);
	assert_int_equal(canary, 1);
	assert_int_equal(f->rules_calls, 1);
}

/* A record the decoder refuses is rejected (the capture counts it as a user-space loss). */
static void test_rejected_record_is_a_loss(void **state)
{
	struct fx *f = *state;

	evb_sc(&B, "close", 10, 10, 0, 1000);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_end(&B);
	/* hdr.len past what the ring handed over */
	assert_int_equal(saker_pipeline_record(&f->p, evb_hdr(&B), B.len - 1), -EBADMSG);
	/* an unknown parameter kind */
	evb_sc(&B, "close", 10, 10, 0, 1000);
	evb_raw(&B, SAKER_PN_FD, 0x0f, "12345678", 8);
	assert_int_equal(feed(f), -EBADMSG);
	assert_int_equal(f->p.records, 2);
	assert_int_equal(f->p.rejected, 2);
	/* the view's counters say the same (the summary and /metrics read them) */
	{
		struct saker_view_stats vs;

		saker_view_get_stats(f->v, &vs);
		assert_int_equal(vs.events, 2);
		assert_int_equal(vs.malformed, 2);
	}
	/* nothing of them reached the dump */
	assert_string_equal(dumped(f), "");
	/* a good one goes through */
	evb_sc(&B, "close", 10, 10, 0, 1000);
	evb_s64(&B, SAKER_PN_FD, 3);
	assert_int_equal(feed(f), 0);
	assert_int_equal(f->p.records, 3);
	assert_int_equal(f->p.rejected, 2);
	assert_non_null(strstr(dumped(f), "\"event\":\"close\""));
}

/* state, rules, dump, deferred removals: the close line still names its file. */
static void test_order_of_consumers(void **state)
{
	struct fx *f = *state;
	const char *out;

	f->p.rules = rules_probe;
	f->p.rules_ctx = f;
	evb_sc(&B, "openat", 10, 10, 7, 1000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "/etc/hostname");
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	assert_int_equal(feed(f), 0);
	assert_true(f->rules_saw_fd);
	evb_sc(&B, "close", 10, 10, 0, 2000);
	evb_s64(&B, SAKER_PN_FD, 7);
	assert_int_equal(feed(f), 0);
	assert_int_equal(f->rules_calls, 2);
	out = dumped(f);
	assert_non_null(strstr(out, "\"event\":\"close\",\"ret\":0,\"params\":{\"fd\":7,"
				    "\"fd_name\":\"/etc/hostname\"}"));
	/* ... and the close was applied afterwards */
	assert_null(saker_view_fd(f->v, 10, 7));
	assert_int_equal(f->p.rejected, 0);
	assert_int_equal(saker_pipeline_error(&f->p), 0);
}

static uint16_t conn_rport; /* fd 5's remote port as the rules slot saw it at connect */

static int rules_probe_connect(void *ctx, const struct saker_event *ev)
{
	struct fx *f = ctx;
	const struct saker_fd *fd = saker_view_fd(f->v, ev->hdr.tgid, 5);

	f->rules_calls++;
	conn_rport = fd ? fd->tuple.rport : 0;
	return 0;
}

/*
 * connect: the rules see the socket as the call left it (Falco's parser runs
 * before the filters), the dump the state the call found.
 */
static void test_connect_rules_see_the_connection(void **state)
{
	struct fx *f = *state;
	const char *out;

	f->p.rules = rules_probe_connect;
	f->p.rules_ctx = f;
	evb_sc(&B, "socket", 10, 10, 5, 1000);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	assert_int_equal(feed(f), 0);
	assert_int_equal(conn_rport, 0);
	evb_sc(&B, "connect", 10, 10, 0, 2000);
	evb_s64(&B, SAKER_PN_FD, 5);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 2222);
	assert_int_equal(feed(f), 0);
	assert_int_equal(f->rules_calls, 2);
	assert_int_equal(conn_rport, 2222);
	out = dumped(f);
	/* the dump line of the connect names the socket before the connection */
	assert_non_null(strstr(out, "\"fd_name\":\"0.0.0.0:0->0.0.0.0:0\""));
	assert_int_equal(saker_view_fd(f->v, 10, 5)->tuple.l4proto, IPPROTO_TCP);
}

/* The reader went away: the error comes back through the pipeline, records still go on. */
static void test_sink_error_reaches_the_pipeline(void **state)
{
	struct fx *f = *state;

	signal(SIGPIPE, SIG_IGN);
	close(f->fds[0]);
	f->fds[0] = open("/dev/null", O_RDONLY);
	evb_sc(&B, "close", 10, 10, 0, 1000);
	evb_s64(&B, SAKER_PN_FD, 3);
	assert_int_equal(feed(f), 0);
	assert_int_equal(saker_pipeline_flush(&f->p), -EPIPE);
	assert_int_equal(saker_pipeline_error(&f->p), -EPIPE);
	assert_int_equal(feed(f), 0);
	assert_int_equal(f->p.records, 2);
}

/* A reader that stalls: lines are counted lost (not formatted), records still reach the state. */
static void test_stalled_sink_counts_every_line(void **state)
{
	struct fx *f = *state;
	struct saker_dump_sink small;
	struct saker_view_stats vs;
	uint64_t pending;

	assert_int_equal(saker_dump_sink_open(&small, f->fds[1], 20000), 0);
	f->p.sink = &small;
	for (int i = 0; i < 5000; i++) {
		evb_sc(&B, "openat", 10, 10, 7, 1000 + (uint64_t)i);
		evb_s64(&B, SAKER_PN_DIRFD, -100);
		evb_str(&B, SAKER_PN_PATH, "/etc/hostname");
		assert_int_equal(feed(f), 0);
		if (i % 100 == 99)
			(void)saker_pipeline_flush(&f->p);
	}
	assert_int_equal(small.lines_put, 5000);
	assert_true(small.lines_lost > 0);
	pending = small.lines_put - small.lines_written - small.lines_lost;
	assert_true(pending * 100 < 20000);
	saker_view_get_stats(f->v, &vs);
	assert_int_equal(vs.events, 5000);
	assert_int_equal(saker_pipeline_error(&f->p), 0);
	saker_dump_sink_close(&small);
}

static uint64_t fake_loss;

static uint64_t fake_loss_seq(void *ctx)
{
	(void)ctx;
	return fake_loss;
}

static uint64_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Loss known at once: a move of the probe's loss count marks every process, pending. */
static void test_loss_known_at_once(void **state)
{
	struct saker_pipeline p;
	struct saker_view *v;
	struct saker_view_stats st;
	uint64_t before, seen;

	(void)state;
	assert_int_equal(saker_view_new(&v, 0, "/nonexistent"), 0);
	saker_pipeline_init(&p, v, NULL, NULL);
	p.loss_seq = fake_loss_seq;
	fake_loss = 7; /* what was lost before saker looked is no news */
	saker_pipeline_poll_loss(&p);
	saker_pipeline_poll_loss(&p);
	before = boot_now(); /* after the last poll without news */
	assert_false(saker_view_degraded(v, 4242, before + 1));
	/* a loss between two polls: any process's event from the earlier poll on */
	fake_loss = 9;
	saker_pipeline_poll_loss(&p);
	seen = boot_now();
	assert_true(saker_view_degraded(v, 4242, seen));
	assert_true(saker_view_degraded(v, 1, before + 1));
	assert_false(saker_view_degraded(v, 4242, before / 2)); /* older events: not affected */
	saker_view_get_stats(v, &st);
	assert_int_equal(st.loss_pending_marks, 1);
	/* a drop check whose counters were read before the loss was seen settles nothing */
	saker_view_settle_pending(v, before);
	assert_true(saker_view_degraded(v, 4242, seen));
	/* one read after it did: its per-process marks replace the pending one */
	saker_view_settle_pending(v, seen);
	assert_false(saker_view_degraded(v, 4242, seen));
	/* polled by the records themselves, every SAKER_PIPELINE_LOSS_POLL */
	fake_loss = 10;
	for (int i = 0; i < SAKER_PIPELINE_LOSS_POLL + 1; i++) {
		evb_sc(&B, "getpid", 4242, 4242, 4242, boot_now());
		evb_end(&B);
		(void)saker_pipeline_record(&p, evb_hdr(&B), B.len);
	}
	assert_true(saker_view_degraded(v, 4242, boot_now()));
	saker_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loss_known_at_once),
	    cmocka_unit_test_setup_teardown(test_rejected_record_is_a_loss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_of_consumers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_rules_see_the_new_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_record_is_attributed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_rules_see_the_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sink_error_reaches_the_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stalled_sink_counts_every_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_sees_every_record_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_canary_events_bypass_the_rules, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
