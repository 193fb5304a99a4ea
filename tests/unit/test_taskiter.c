#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture/taskiter.h"

/* What the iterators write: records back to back, each followed by its strings. */
struct out {
	char buf[4096];
	size_t len;
};

static void put(struct out *o, const void *p, size_t n)
{
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_task(struct out *o, uint32_t tid, uint32_t tgid, const char *exe, const char *cwd,
		     uint16_t flags)
{
	struct saker_iter_task t = {.kind = SAKER_ITER_TASK,
				    .tid = tid,
				    .tgid = tgid,
				    .flags = flags,
				    .uid = 1000,
				    .start_ns = 42};

	t.exe_len = (uint16_t)strlen(exe);
	t.cwd_len = (uint16_t)strlen(cwd);
	snprintf(t.comm, sizeof(t.comm), "%s", "cat");
	put(o, &t, sizeof(t));
	put(o, exe, t.exe_len);
	put(o, cwd, t.cwd_len);
}

static void put_file(struct out *o, uint32_t tgid, uint32_t fd, const char *path)
{
	struct saker_iter_file f = {.kind = SAKER_ITER_FILE,
				    .tgid = tgid,
				    .fd = fd,
				    .f_flags = 02000001,
				    .i_mode = 0100644,
				    .start_ns = 42};

	f.path_len = (uint16_t)strlen(path);
	put(o, &f, sizeof(f));
	put(o, path, f.path_len);
}

/* The records as text, one line each, to compare in one assertion. */
struct seen {
	char text[2048];
	size_t n;
	int stop_after; /* return 7 after this many records; 0 never */
};

static int collect(void *ctx, const struct saker_taskiter_rec *r)
{
	struct seen *s = ctx;
	size_t l = strlen(s->text);

	if (r->kind == SAKER_ITER_TASK)
		snprintf(s->text + l, sizeof(s->text) - l,
			 "task %u/%u %s uid=%u exe=%.*s cwd=%.*s f=%x\n", r->task.tid, r->task.tgid,
			 r->task.comm, r->task.uid, (int)r->exe_len, r->exe, (int)r->cwd_len,
			 r->cwd, r->task.flags);
	else
		snprintf(s->text + l, sizeof(s->text) - l, "file %u fd=%u flags=%o mode=%o %.*s\n",
			 r->file.tgid, r->file.fd, r->file.f_flags, r->file.i_mode,
			 (int)r->path_len, r->path);
	s->n++;
	return s->stop_after && s->n == (size_t)s->stop_after ? 7 : 0;
}

static void test_tasks_and_files(void **state)
{
	struct out o = {0};
	struct seen s = {0};

	(void)state;
	put_task(&o, 10, 10, "/usr/bin/cat", "/root", 0);
	put_task(&o, 11, 10, "", "", 0); /* a thread: no paths */
	put_task(&o, 2, 2, "", "", SAKER_ITER_F_KTHREAD);
	put_file(&o, 10, 3, "/etc/shadow");
	put_file(&o, 10, 4, "socket:[1234]");
	assert_int_equal(saker_taskiter_decode(o.buf, o.len, collect, &s), 0);
	assert_string_equal(s.text, "task 10/10 cat uid=1000 exe=/usr/bin/cat cwd=/root f=0\n"
				    "task 11/10 cat uid=1000 exe= cwd= f=0\n"
				    "task 2/2 cat uid=1000 exe= cwd= f=1\n"
				    "file 10 fd=3 flags=2000001 mode=100644 /etc/shadow\n"
				    "file 10 fd=4 flags=2000001 mode=100644 socket:[1234]\n");
}

static void test_empty_output(void **state)
{
	struct seen s = {0};

	(void)state;
	assert_int_equal(saker_taskiter_decode("", 0, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* A record cut anywhere (its fixed part or its strings) is refused, and those before it stay. */
static void test_truncated(void **state)
{
	struct out o = {0};

	(void)state;
	put_task(&o, 10, 10, "/usr/bin/cat", "/root", 0);
	put_file(&o, 10, 3, "/etc/shadow");
	for (size_t cut = 1; cut < o.len; cut++) {
		struct seen s = {0};
		const size_t first = sizeof(struct saker_iter_task) + 17;
		size_t whole = cut >= first ? 1 : 0;

		if (cut == first) /* between two records: nothing is cut */
			continue;
		assert_int_equal(saker_taskiter_decode(o.buf, cut, collect, &s), -EBADMSG);
		assert_int_equal(s.n, whole);
	}
}

static void test_unknown_kind(void **state)
{
	struct out o = {0};
	struct seen s = {0};
	uint16_t bad[32] = {9};

	(void)state;
	put_file(&o, 10, 3, "/etc/shadow");
	put(&o, bad, sizeof(bad));
	assert_int_equal(saker_taskiter_decode(o.buf, o.len, collect, &s), -EBADMSG);
	assert_int_equal(s.n, 1);
}

/* A string length past the end: refused, not read beyond the buffer. */
static void test_length_past_end(void **state)
{
	struct saker_iter_file f = {.kind = SAKER_ITER_FILE, .path_len = 4000};
	struct seen s = {0};

	(void)state;
	assert_int_equal(saker_taskiter_decode(&f, sizeof(f), collect, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
}

static void test_callback_stops(void **state)
{
	struct out o = {0};
	struct seen s = {.stop_after = 1};

	(void)state;
	put_file(&o, 10, 3, "/a");
	put_file(&o, 10, 4, "/b");
	assert_int_equal(saker_taskiter_decode(o.buf, o.len, collect, &s), 7);
	assert_int_equal(s.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tasks_and_files), cmocka_unit_test(test_empty_output),
	    cmocka_unit_test(test_truncated),	    cmocka_unit_test(test_unknown_kind),
	    cmocka_unit_test(test_length_past_end), cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
