/*
 * Capture files (capture/capfile.h): the format round trip, every way a file
 * can be cut or damaged (each reported as FILE:offset, never a crash), the
 * table identity, the view's snapshot and restore (state/snapshot.h), and
 * the -w recorder writing a file the reader takes back (capture/record.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture/record.h"
#include "capture/capfile.h"
#include "evbuild.h"
#include "lib/log.h"
#include "state/snapshot.h"
#include "state/view.h"

static struct evb B;

static void meta_of(struct saker_capfile_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->table_id = saker_capfile_table_id();
	m->boot_offset_ns = 1700000000123456789ll;
	m->start_real_ns = 1700000001000000000ull;
	snprintf(m->version, sizeof(m->version), "9.8.7");
}

/* A file: header, one process, one descriptor, the end of the snapshot, n records. */
static void build(struct saker_sbuf *b, unsigned n)
{
	static const char args[] = "nginx\0-g\0daemon off;";
	struct saker_capfile_meta m;
	struct saker_capfile_proc p = {
	    .tid = 42,
	    .pid = 42,
	    .ppid = 1,
	    .uid = 33,
	    .gid = 33,
	    .euid = 33,
	    .egid = 33,
	    .loginuid = SAKER_UID_UNSET,
	    .tty = 0,
	    .flags = SAKER_PROC_FROM_SCAN,
	    .start_ns = 123456789,
	    .cap_eff = 0x1fffffffffull,
	    .exe = "/usr/sbin/nginx",
	    .exe_len = 15,
	    .args = args,
	    .args_len = sizeof(args),
	    .cwd = "/",
	    .cwd_len = 1,
	    .cgroup = "/system.slice/nginx.service",
	    .cgroup_len = 27,
	    .container_id = "host",
	    .container_id_len = 4,
	};
	struct saker_capfile_fd f = {
	    .pid = 42,
	    .fd = 6,
	    .type = SAKER_FD_IPV4,
	    .flags = SAKER_FD_F_LISTENING | SAKER_FD_F_BOUND,
	    .lport = 8080,
	    .l4proto = 6,
	    .laddr = {127, 0, 0, 1},
	    .name = "",
	};

	memcpy(p.comm, "nginx", 6);
	meta_of(&m);
	saker_sbuf_init(b);
	saker_capfile_put_header(b, &m);
	saker_capfile_put_proc(b, &p);
	saker_capfile_put_fd(b, &f);
	saker_capfile_put_snapshot_end(b);
	for (unsigned i = 0; i < n; i++) {
		evb_sc(&B, "openat", 42, 42, 3, 1000 + i);
		evb_str(&B, SAKER_PN_PATH, i % 2 ? "/etc/passwd" : "/etc/hostname");
		evb_end(&B);
		saker_capfile_put_record(b, B.buf, B.len);
	}
	assert_false(b->oom);
}

static void test_round_trip(void **state)
{
	struct saker_capfile_reader *r;
	struct saker_capfile_item it;
	struct saker_sbuf b;
	char err[512];
	unsigned recs = 0;
	int ret;

	(void)state;
	build(&b, 5);
	assert_int_equal(saker_capfile_open_mem(&r, b.p, b.len, "t.cap", err, sizeof(err)), 0);
	assert_int_equal(saker_capfile_meta(r)->boot_offset_ns, 1700000000123456789ll);
	assert_int_equal(saker_capfile_meta(r)->start_real_ns, 1700000001000000000ull);
	assert_string_equal(saker_capfile_meta(r)->version, "9.8.7");

	assert_int_equal(saker_capfile_next(r, &it, err, sizeof(err)), 1);
	assert_int_equal(it.kind, SAKER_CAPFILE_ITEM_PROC);
	assert_int_equal(it.proc.tid, 42);
	assert_int_equal(it.proc.uid, 33);
	assert_int_equal(it.proc.loginuid, SAKER_UID_UNSET);
	assert_int_equal(it.proc.start_ns, 123456789);
	assert_int_equal(it.proc.cap_eff, 0x1fffffffffull);
	assert_string_equal(it.proc.comm, "nginx");
	assert_int_equal(it.proc.exe_len, 15);
	assert_memory_equal(it.proc.exe, "/usr/sbin/nginx", 15);
	assert_int_equal(it.proc.args_len, 21);
	assert_memory_equal(it.proc.args, "nginx\0-g\0daemon off;", 21);
	assert_memory_equal(it.proc.cgroup, "/system.slice/nginx.service", 27);
	assert_memory_equal(it.proc.container_id, "host", 4);

	assert_int_equal(saker_capfile_next(r, &it, err, sizeof(err)), 1);
	assert_int_equal(it.kind, SAKER_CAPFILE_ITEM_FD);
	assert_int_equal(it.fd.fd, 6);
	assert_int_equal(it.fd.type, SAKER_FD_IPV4);
	assert_int_equal(it.fd.lport, 8080);
	assert_int_equal(it.fd.laddr[0], 127);
	assert_int_equal(it.fd.flags, SAKER_FD_F_LISTENING | SAKER_FD_F_BOUND);

	assert_int_equal(saker_capfile_next(r, &it, err, sizeof(err)), 1);
	assert_int_equal(it.kind, SAKER_CAPFILE_ITEM_SNAPSHOT_END);
	while ((ret = saker_capfile_next(r, &it, err, sizeof(err))) == 1) {
		assert_int_equal(it.kind, SAKER_CAPFILE_ITEM_RECORD);
		assert_int_equal(it.rec->ts_ns, 1000 + recs);
		assert_int_equal(it.rec->tid, 42);
		assert_int_equal(it.rec_len, it.rec->len);
		assert_int_equal((uintptr_t)it.rec % 8, 0);
		recs++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(recs, 5);
	assert_int_equal(saker_capfile_offset(r), b.len);
	/* the end stays the end; a rewind plays the records again */
	assert_int_equal(saker_capfile_next(r, &it, err, sizeof(err)), 0);
	saker_capfile_rewind(r);
	assert_int_equal(saker_capfile_next(r, &it, err, sizeof(err)), 1);
	assert_int_equal(it.kind, SAKER_CAPFILE_ITEM_PROC);
	saker_capfile_close(r);
	saker_capfile_close(NULL);
	saker_sbuf_free(&b);
}

/* Memory handed in at an odd address still yields aligned records. */
static void test_unaligned_memory(void **state)
{
	struct saker_capfile_reader *r;
	struct saker_capfile_item it;
	struct saker_sbuf b;
	char err[512], *copy;
	unsigned recs = 0;

	(void)state;
	build(&b, 3);
	copy = malloc(b.len + 1);
	assert_non_null(copy);
	memcpy(copy + 1, b.p, b.len);
	assert_int_equal(saker_capfile_open_mem(&r, copy + 1, b.len, "t.cap", err, sizeof(err)), 0);
	while (saker_capfile_next(r, &it, err, sizeof(err)) == 1)
		if (it.kind == SAKER_CAPFILE_ITEM_RECORD) {
			assert_int_equal((uintptr_t)it.rec % 8, 0);
			assert_int_equal(it.rec->ts_ns, 1000 + recs);
			recs++;
		}
	assert_int_equal(recs, 3);
	saker_capfile_close(r);
	free(copy);
	saker_sbuf_free(&b);
}

/* Reads to the end or the first error; the error's "t.cap:OFF: " prefix in *off. */
static int drain(struct saker_capfile_reader *r, char *err, size_t errlen, unsigned *recs)
{
	struct saker_capfile_item it;
	int ret;

	*recs = 0;
	while ((ret = saker_capfile_next(r, &it, err, errlen)) == 1)
		*recs += it.kind == SAKER_CAPFILE_ITEM_RECORD;
	return ret;
}

/*
 * Every prefix of a file: either it ends on a block boundary (fewer records,
 * no error) or the reader names the offset of the block it cut, and says
 * "truncated". Never a crash (the ASan build runs this too).
 */
static void test_truncation(void **state)
{
	struct saker_sbuf b;
	size_t boundaries = 0;

	(void)state;
	build(&b, 4);
	for (size_t len = 0; len < b.len; len++) {
		struct saker_capfile_reader *r;
		char err[512] = "", *buf = malloc(len ? len : 1);
		unsigned recs;
		int ret;

		assert_non_null(buf);
		memcpy(buf, b.p, len);
		ret = saker_capfile_open_mem(&r, buf, len, "t.cap", err, sizeof(err));
		if (ret) {
			assert_int_equal(ret, -EBADMSG);
			assert_non_null(strstr(err, "t.cap:"));
			free(buf);
			continue;
		}
		ret = drain(r, err, sizeof(err), &recs);
		if (ret == 0) {
			boundaries++;
			assert_true(recs < 4);
		} else {
			unsigned long off;

			assert_int_equal(ret, -EBADMSG);
			assert_int_equal(sscanf(err, "t.cap:%lu:", &off), 1);
			assert_true(off < len);
			assert_int_equal(off % 8, 0);
			assert_non_null(strstr(err, "truncated"));
			/* the error is sticky */
			assert_int_equal(drain(r, err, sizeof(err), &recs), -EBADMSG);
		}
		saker_capfile_close(r);
		free(buf);
	}
	/* after META, PROC, FD and SNAPSHOT_END, and after each record but the last */
	assert_int_equal(boundaries, 7);
	saker_sbuf_free(&b);
}

static void expect_open_error(const void *data, size_t len, int want, const char *what)
{
	struct saker_capfile_reader *r = NULL;
	char err[512] = "";

	assert_int_equal(saker_capfile_open_mem(&r, data, len, "t.cap", err, sizeof(err)), want);
	assert_null(r);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not contain \"%s\"", err, what);
}

static void test_bad_header(void **state)
{
	struct saker_capfile_meta m;
	struct saker_sbuf b;
	char *copy;

	(void)state;
	build(&b, 1);
	copy = malloc(b.len);
	assert_non_null(copy);

	memcpy(copy, b.p, b.len);
	memcpy(copy, "PCAPNGXX", 8);
	expect_open_error(copy, b.len, -EBADMSG, "t.cap:0: not a saker capture file (bad magic)");
	expect_open_error(copy, 3, -EBADMSG, "t.cap:0: not a saker capture file");
	expect_open_error(NULL, 0, -EBADMSG, "t.cap:0: not a saker capture file");

	memcpy(copy, b.p, b.len);
	copy[8] = 2; /* format version 2 */
	expect_open_error(copy, b.len, -EPROTO, "t.cap:8: capture format version 2");

	memcpy(copy, b.p, b.len);
	copy[16] = 7; /* the first block is not META */
	expect_open_error(copy, b.len, -EBADMSG, "t.cap:16: expected the header block");

	/* another syscall table: refused, naming both identities */
	meta_of(&m);
	m.table_id ^= 1;
	saker_sbuf_free(&b);
	saker_sbuf_init(&b);
	saker_capfile_put_header(&b, &m);
	saker_capfile_put_snapshot_end(&b);
	expect_open_error(b.p, b.len, -EPROTO,
			  "t.cap:24: recorded by saker 9.8.7 with another "
			  "syscall table");
	free(copy);
	saker_sbuf_free(&b);
}

/* Damage after the header: each names the block's offset and what is wrong. */
static void test_bad_blocks(void **state)
{
	struct saker_capfile_meta m;
	struct saker_capfile_reader *r;
	struct saker_sbuf b;
	char err[512];
	unsigned recs;
	size_t at;

	(void)state;
	meta_of(&m);

	/* a record before the end of the snapshot */
	saker_sbuf_init(&b);
	saker_capfile_put_header(&b, &m);
	at = b.len;
	evb_sc(&B, "close", 1, 1, 0, 1);
	evb_end(&B);
	saker_capfile_put_record(&b, B.buf, B.len);
	assert_int_equal(saker_capfile_open_mem(&r, b.p, b.len, "t.cap", err, sizeof(err)), 0);
	assert_int_equal(drain(r, err, sizeof(err), &recs), -EBADMSG);
	assert_int_equal(at, 80);
	assert_string_equal(err, "t.cap:80: a record before the end of the snapshot");
	saker_capfile_close(r);
	saker_sbuf_free(&b);

	/* an unknown block type, a snapshot block after the snapshot, a record too short */
	for (int k = 0; k < 3; k++) {
		static const char *const want[] = {"unknown block type 99",
						   "a snapshot block (type 4) after the snapshot",
						   "record of 8 bytes (expected 32 to 65535)"};
		char blk[16] = {0};

		saker_sbuf_init(&b);
		saker_capfile_put_header(&b, &m);
		saker_capfile_put_snapshot_end(&b);
		at = b.len;
		blk[0] = k == 0 ? 99 : k == 1 ? SAKER_CAPFILE_SNAPSHOT_END : SAKER_CAPFILE_RECORD;
		blk[4] = k == 2 ? 8 : 0;
		saker_sbuf_putn(&b, blk, k == 2 ? 16 : 8);
		assert_int_equal(saker_capfile_open_mem(&r, b.p, b.len, "t.cap", err, sizeof(err)),
				 0);
		assert_int_equal(drain(r, err, sizeof(err), &recs), -EBADMSG);
		{
			char exp[256];

			snprintf(exp, sizeof(exp), "t.cap:%zu: %s", at, want[k]);
			assert_string_equal(err, exp);
		}
		saker_capfile_close(r);
		saker_sbuf_free(&b);
	}

	/* a process entry whose string lengths do not add up */
	{
		struct saker_capfile_proc p = {.tid = 5, .pid = 5, .exe = "/bin/sh", .exe_len = 7};

		saker_sbuf_init(&b);
		saker_capfile_put_header(&b, &m);
		at = b.len;
		saker_capfile_put_proc(&b, &p);
		b.p[at + 8 + 80] = 9; /* exe_len 7 -> 9 (after ids, times, caps and comm) */
		assert_int_equal(saker_capfile_open_mem(&r, b.p, b.len, "t.cap", err, sizeof(err)),
				 0);
		assert_int_equal(drain(r, err, sizeof(err), &recs), -EBADMSG);
		assert_non_null(strstr(err, "t.cap:80: process entry: its strings take 9 bytes"));
		saker_capfile_close(r);
		saker_sbuf_free(&b);
	}
}

static void test_open_file(void **state)
{
	char path[] = "/tmp/saker-capfile-XXXXXX", err[512] = "";
	struct saker_capfile_reader *r;
	struct saker_sbuf b;
	unsigned recs;
	int fd;

	(void)state;
	assert_int_equal(saker_capfile_open(&r, "/nonexistent/x.cap", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.cap: cannot open"));
	assert_int_equal(saker_capfile_open(&r, "/tmp", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	build(&b, 7);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
	close(fd);
	assert_int_equal(saker_capfile_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(drain(r, err, sizeof(err), &recs), 0);
	assert_int_equal(recs, 7);
	assert_int_equal(saker_capfile_size(r), b.len);
	saker_capfile_close(r);
	/* an empty file */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(saker_capfile_open(&r, path, err, sizeof(err)), -EBADMSG);
	snprintf(err + 400, 100, "%s:0: not a saker", path);
	assert_non_null(strstr(err, err + 400));
	unlink(path);
	saker_sbuf_free(&b);
}

/* The identity is stable within a build and depends on the table. */
static void test_table_id(void **state)
{
	(void)state;
	assert_int_equal(saker_capfile_table_id(), saker_capfile_table_id());
	assert_true(saker_capfile_table_id() != 0);
}

/* ---- the view's snapshot: walk, restore, same answers ---- */

static int count_proc(void *ctx, const struct saker_proc *p)
{
	(void)p;
	(*(unsigned *)ctx)++;
	return 0;
}

static int count_fd(void *ctx, const struct saker_fd *f)
{
	(void)f;
	(*(unsigned *)ctx)++;
	return 0;
}

static int stop_walk(void *ctx, const struct saker_proc *p)
{
	(void)ctx;
	(void)p;
	return 7;
}

static void test_view_restore(void **state)
{
	static const char args[] = "sshd\0-D";
	struct saker_view *v;
	struct saker_proctable *pt;
	const struct saker_proc *p;
	const struct saker_fd *f;
	unsigned n = 0;
	struct saker_proc in = {
	    .tid = 100,
	    .pid = 100,
	    .ppid = 1,
	    .uid = 0,
	    .euid = 0,
	    .loginuid = 1000,
	    .tty = 34816,
	    .flags = SAKER_PROC_FROM_SCAN | SAKER_PROC_CAPS_KNOWN,
	    .start_ns = 5,
	    .cap_eff = 0x20000, /* CAP_SYS_PTRACE */
	    .exe = "/usr/sbin/sshd",
	    .args = args,
	    .args_len = sizeof(args),
	    .cwd = "/",
	    .cgroup = "/system.slice/ssh.service",
	    .container_id = "host",
	};
	struct saker_fd fin = {
	    .pid = 100,
	    .fd = 3,
	    .type = SAKER_FD_IPV4,
	    .flags = SAKER_FD_F_LISTENING,
	    .tuple = {.lport = 22, .l4proto = 6},
	    .name = "",
	};

	(void)state;
	memcpy(in.comm, "sshd", 5);
	assert_int_equal(saker_view_new(&v, 0, "/dev/null/none"), 0);
	pt = saker_view_procs(v);
	assert_int_equal(saker_proctable_restore(pt, &in), 0);
	in.tid = 101; /* a thread */
	assert_int_equal(saker_proctable_restore(pt, &in), 0);
	assert_int_equal(saker_fdtable_restore(saker_proctable_fds(pt), &fin), 0);
	in.tid = 0;
	assert_int_equal(saker_proctable_restore(pt, &in), -EINVAL);

	p = saker_view_proc(v, 101);
	assert_non_null(p);
	assert_int_equal(p->pid, 100);
	assert_string_equal(p->exe, "/usr/sbin/sshd");
	assert_string_equal(p->comm, "sshd");
	assert_int_equal(p->argc, 2);
	assert_int_equal(p->loginuid, 1000);
	assert_int_equal(p->tty, 34816);
	assert_string_equal(p->container_id, "host");
	assert_string_equal(p->cgroup, "/system.slice/ssh.service");
	/* capabilities known at the recording are known in the replay (thread.cap_effective) */
	assert_true(p->flags & SAKER_PROC_CAPS_KNOWN);
	assert_int_equal(p->cap_eff, 0x20000);
	f = saker_view_fd(v, 100, 3);
	assert_non_null(f);
	assert_int_equal(f->tuple.lport, 22);
	assert_int_equal(f->flags, SAKER_FD_F_LISTENING);

	assert_int_equal(saker_proctable_foreach(pt, count_proc, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(saker_proctable_foreach(pt, stop_walk, NULL), 7);
	n = 0;
	assert_int_equal(saker_fdtable_foreach(saker_proctable_fds(pt), count_fd, &n), 0);
	assert_int_equal(n, 1);
	saker_view_free(v);
}

/* The view written as a snapshot and read back into another view: what a replay starts from. */
static void test_snapshot_round_trip(void **state)
{
	static const char args[] = "nginx\0-g";
	char err[512] = "";
	struct saker_view *v, *back;
	struct saker_sbuf b;
	struct saker_capfile_meta m;
	struct saker_capfile_reader *r;
	struct saker_capfile_item it;
	const struct saker_proc *p;
	const struct saker_fd *f;
	struct saker_proc in = {
	    .tid = 200,
	    .pid = 200,
	    .ppid = 1,
	    .uid = 33,
	    .loginuid = 1000,
	    .flags = SAKER_PROC_FROM_SCAN,
	    .start_ns = 9,
	    .exe = "/usr/sbin/nginx",
	    .args = args,
	    .args_len = sizeof(args),
	    .cwd = "/srv",
	    .cgroup = "/system.slice/nginx.service",
	    .container_id = "host",
	};
	struct saker_fd fin = {
	    .pid = 200,
	    .fd = 6,
	    .type = SAKER_FD_IPV4,
	    .flags = SAKER_FD_F_LISTENING,
	    .tuple = {.lport = 443, .l4proto = 6},
	    .name = "0.0.0.0:443",
	};
	unsigned procs = 0, fds = 0;
	int ret;

	(void)state;
	memcpy(in.comm, "nginx", 6);
	assert_int_equal(saker_view_new(&v, 0, "/dev/null/none"), 0);
	assert_int_equal(saker_proctable_restore(saker_view_procs(v), &in), 0);
	assert_int_equal(saker_fdtable_restore(saker_proctable_fds(saker_view_procs(v)), &fin), 0);

	meta_of(&m);
	saker_sbuf_init(&b);
	saker_capfile_put_header(&b, &m);
	assert_int_equal(saker_snapshot_put(NULL, &b), 0); /* no view: nothing */
	assert_int_equal(saker_snapshot_put(v, &b), 0);
	saker_capfile_put_snapshot_end(&b);
	assert_false(b.oom);

	assert_int_equal(saker_view_new(&back, 0, "/dev/null/none"), 0);
	assert_int_equal(saker_capfile_open_mem(&r, b.p, b.len, "s.cap", err, sizeof(err)), 0);
	while ((ret = saker_capfile_next(r, &it, err, sizeof(err))) == 1) {
		procs += it.kind == SAKER_CAPFILE_ITEM_PROC;
		fds += it.kind == SAKER_CAPFILE_ITEM_FD;
		assert_int_equal(saker_snapshot_restore(back, &it), 0);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(procs, 1);
	assert_int_equal(fds, 1);
	p = saker_view_proc(back, 200);
	assert_non_null(p);
	assert_string_equal(p->exe, "/usr/sbin/nginx");
	assert_string_equal(p->comm, "nginx");
	assert_string_equal(p->cwd, "/srv");
	assert_string_equal(p->cgroup, "/system.slice/nginx.service");
	assert_int_equal(p->argc, 2);
	assert_int_equal(p->loginuid, 1000);
	f = saker_view_fd(back, 200, 6);
	assert_non_null(f);
	assert_int_equal(f->tuple.lport, 443);
	assert_string_equal(f->name, "0.0.0.0:443");
	saker_capfile_close(r);
	saker_sbuf_free(&b);
	saker_view_free(back);
	saker_view_free(v);
}

/* ---- the recorder: a file the reader takes back, with the view's snapshot ---- */

static void test_recorder(void **state)
{
	char path[] = "/tmp/saker-record-XXXXXX", err[512] = "";
	struct saker_record *rec;
	struct saker_record_stats st;
	struct saker_capfile_reader *r;
	struct saker_capfile_item it;
	struct saker_view *v;
	struct saker_proc in = {
	    .tid = 7, .pid = 7, .exe = "/bin/true", .args = "true", .args_len = 5};
	struct stat sb;
	unsigned recs = 0, procs = 0;
	int fd, ret;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old content", 11), 11);
	close(fd);
	assert_int_equal(saker_view_new(&v, 0, "/dev/null/none"), 0);
	assert_int_equal(saker_proctable_restore(saker_view_procs(v), &in), 0);

	assert_int_equal(saker_record_open(&rec, path, NULL, NULL, err, sizeof(err)), 0);
	/* a record before start is counted, not written */
	evb_sc(&B, "close", 7, 7, 0, 1);
	evb_end(&B);
	assert_int_equal(saker_record_put(rec, evb_hdr(&B), B.len), 0);
	assert_int_equal(
	    saker_record_start(rec, saker_snapshot_put, v, 42, "1.2.3", err, sizeof(err)), 0);
	for (unsigned i = 0; i < 20000; i++) {
		evb_sc(&B, "openat", 7, 7, 3, 10 + i);
		evb_str(&B, SAKER_PN_PATH, "/etc/hosts");
		evb_end(&B);
		assert_int_equal(saker_record_put(rec, evb_hdr(&B), B.len), 0);
		if (i == 100)
			saker_record_flush(rec);
	}
	saker_record_finish(rec, 5000);
	saker_record_get_stats(rec, &st);
	assert_int_equal(st.records, 20001);
	assert_int_equal(st.written + st.not_written, st.records);
	assert_true(st.not_written >= 1);
	assert_int_equal(st.err, 0);
	saker_record_close(rec);
	saker_record_close(NULL);

	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal((uint64_t)sb.st_size, st.bytes);
	assert_int_equal(saker_capfile_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(saker_capfile_meta(r)->boot_offset_ns, 42);
	assert_string_equal(saker_capfile_meta(r)->version, "1.2.3");
	while ((ret = saker_capfile_next(r, &it, err, sizeof(err))) == 1) {
		if (it.kind == SAKER_CAPFILE_ITEM_PROC) {
			assert_int_equal(it.proc.tid, 7);
			assert_memory_equal(it.proc.exe, "/bin/true", 9);
			procs++;
		} else if (it.kind == SAKER_CAPFILE_ITEM_RECORD) {
			assert_int_equal(it.rec->ts_ns, 10 + recs);
			recs++;
		}
	}
	assert_int_equal(ret, 0);
	assert_int_equal(procs, 1);
	assert_int_equal(recs, st.written);
	saker_capfile_close(r);

	/* a symlink is refused (safefile) */
	unlink(path);
	assert_int_equal(symlink("/tmp/elsewhere", path), 0);
	assert_true(saker_record_open(&rec, path, NULL, NULL, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, path));
	unlink(path);
	saker_view_free(v);
}

/*
 * A write that fails (here EFBIG past RLIMIT_FSIZE, as a full disk would
 * ENOSPC): logged once with "Error:", every record after it counted not
 * written, written + not written == handed in. In a child: the limit is
 * the process's.
 */
static void test_recorder_write_error(void **state)
{
	char path[] = "/tmp/saker-record-XXXXXX";
	pid_t child;
	int fd, status;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct rlimit rl = {.rlim_cur = 256 * 1024, .rlim_max = 256 * 1024};
		struct saker_record *rec;
		struct saker_record_stats st;
		struct saker_log log;
		char err[512], line[1024];
		FILE *logf = tmpfile();
		unsigned errors = 0;

		saker_log_init(&log);
		log.stream = logf;
		(void)signal(SIGXFSZ, SIG_IGN);
		if (!logf || setrlimit(RLIMIT_FSIZE, &rl) ||
		    saker_record_open(&rec, path, saker_log_report, &log, err, sizeof(err)) ||
		    saker_record_start(rec, NULL, NULL, 0, "t", err, sizeof(err)))
			_exit(10);
		for (unsigned i = 0; i < 40000; i++) {
			evb_sc(&B, "openat", 7, 7, 3, 10 + i);
			evb_str(&B, SAKER_PN_PATH, "/etc/hosts");
			evb_end(&B);
			(void)saker_record_put(rec, evb_hdr(&B), B.len);
			if (i % 5000 == 0)
				saker_record_flush(rec);
		}
		saker_record_finish(rec, 5000);
		saker_record_get_stats(rec, &st);
		saker_record_close(rec);
		rewind(logf);
		while (fgets(line, sizeof(line), logf))
			if (strstr(line, "Error: -w ") &&
			    strstr(line, "write failed: File too large"))
				errors++;
		if (st.err != -EFBIG)
			_exit(11);
		if (st.written + st.not_written != 40000 || st.not_written == 0 || st.written == 0)
			_exit(12);
		if (st.bytes > 256 * 1024)
			_exit(13);
		_exit(errors == 1 ? 0 : 14);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_unaligned_memory),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_bad_header),
	    cmocka_unit_test(test_bad_blocks),
	    cmocka_unit_test(test_open_file),
	    cmocka_unit_test(test_table_id),
	    cmocka_unit_test(test_view_restore),
	    cmocka_unit_test(test_snapshot_round_trip),
	    cmocka_unit_test(test_recorder),
	    cmocka_unit_test(test_recorder_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
