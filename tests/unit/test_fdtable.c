#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/fdtable.h"

static struct saker_fdtable *new_table(size_t max, size_t per_proc, size_t bytes)
{
	struct saker_fdtable *t = NULL;

	assert_int_equal(saker_fdtable_new(&t, max, per_proc, bytes), 0);
	assert_non_null(t);
	return t;
}

static struct saker_fdtable_stats stats(const struct saker_fdtable *t)
{
	struct saker_fdtable_stats st;

	saker_fdtable_get_stats(t, &st);
	return st;
}

/* Random operations against a plain array: catches probe-run breakage on delete. */
static void test_idmap_against_reference(void **state)
{
	enum { KEYS = 4096 };
	static uintptr_t ref[KEYS];
	struct saker_idmap m;
	unsigned seed = 12345;
	size_t live = 0;

	(void)state;
	memset(ref, 0, sizeof(ref));
	saker_idmap_init(&m);
	assert_null(saker_idmap_get(&m, 7));
	assert_null(saker_idmap_del(&m, 7));
	assert_int_equal(saker_idmap_put(&m, 1, NULL), -EINVAL);
	for (int i = 0; i < 200000; i++) {
		/* Keys spread over high bits too, as (pid << 32 | fd) keys are. */
		unsigned k = (unsigned)rand_r(&seed) % KEYS;
		uint64_t key = (uint64_t)(k % 64) << 32 | k;
		int op = rand_r(&seed) % 3;

		if (op == 0) {
			uintptr_t v = (uintptr_t)i + 1;

			assert_int_equal(saker_idmap_put(&m, key, (void *)v), 0);
			live += ref[k] == 0;
			ref[k] = v;
		} else if (op == 1) {
			void *got = saker_idmap_del(&m, key);

			assert_ptr_equal(got, (void *)ref[k]);
			live -= ref[k] != 0;
			ref[k] = 0;
		} else {
			assert_ptr_equal(saker_idmap_get(&m, key), (void *)ref[k]);
		}
		assert_int_equal(m.n, live);
	}
	for (unsigned k = 0; k < KEYS; k++)
		assert_ptr_equal(saker_idmap_get(&m, (uint64_t)(k % 64) << 32 | k), (void *)ref[k]);
	assert_true(m.cap >= 2 * m.n);
	assert_int_equal(saker_idmap_bytes(&m), m.cap * sizeof(struct saker_idmap_slot));
	saker_idmap_free(&m);
	saker_idmap_free(NULL);
}

static void test_open_lookup_close(void **state)
{
	struct saker_fdtable *t = new_table(0, 0, 0);
	const struct saker_fd *f;

	(void)state;
	assert_int_equal(saker_fdtable_on_open(t, 100, 3, "/etc/passwd", O_RDONLY | O_CLOEXEC), 0);
	f = saker_fdtable_lookup(t, 100, 3);
	assert_non_null(f);
	assert_int_equal(f->pid, 100);
	assert_int_equal(f->fd, 3);
	assert_int_equal(f->type, SAKER_FD_FILE);
	assert_string_equal(f->name, "/etc/passwd");
	assert_int_equal(f->open_flags, O_RDONLY | O_CLOEXEC);
	/* Keyed by process: another pid's fd 3 is another descriptor. */
	assert_null(saker_fdtable_lookup(t, 101, 3));
	assert_null(saker_fdtable_lookup(t, 100, 4));
	assert_null(saker_fdtable_lookup(t, 100, -1));

	/* A missed close: the new open replaces. */
	assert_int_equal(saker_fdtable_on_open(t, 100, 3, "/tmp/x", O_WRONLY), 0);
	f = saker_fdtable_lookup(t, 100, 3);
	assert_string_equal(f->name, "/tmp/x");
	assert_int_equal(stats(t).entries, 1);

	assert_int_equal(saker_fdtable_on_close(t, 100, 3), 0);
	assert_null(saker_fdtable_lookup(t, 100, 3));
	assert_int_equal(saker_fdtable_on_close(t, 100, 3), -ENOENT);
	assert_int_equal(saker_fdtable_on_open(t, 100, -2, "/x", 0), -EINVAL);
	assert_int_equal(saker_fdtable_on_open(t, 100, 5, NULL, 0), 0);
	assert_string_equal(saker_fdtable_lookup(t, 100, 5)->name, "");

	struct saker_fdtable_stats st = stats(t);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.processes, 1);
	assert_int_equal(st.lookups, 7);
	assert_int_equal(st.failed_lookups, 4);
	assert_int_equal(st.unmatched, 1);
	assert_int_equal(st.evictions, 0);
	saker_fdtable_free(t);
	saker_fdtable_free(NULL);
}

static void test_long_path_bounded(void **state)
{
	struct saker_fdtable *t = new_table(0, 0, 0);
	char *p = malloc(3 * PATH_MAX);

	(void)state;
	memset(p, 'a', 3 * PATH_MAX - 1);
	p[3 * PATH_MAX - 1] = '\0';
	assert_int_equal(saker_fdtable_on_open(t, 1, 0, p, 0), 0);
	assert_int_equal(strlen(saker_fdtable_lookup(t, 1, 0)->name), PATH_MAX - 1);
	free(p);
	saker_fdtable_free(t);
}

static void test_dup(void **state)
{
	struct saker_fdtable *t = new_table(0, 0, 0);
	const struct saker_fd *f;

	(void)state;
	assert_int_equal(saker_fdtable_on_open(t, 7, 3, "/var/log/a", O_WRONLY | O_CLOEXEC), 0);
	/* dup/dup2: the new descriptor does not inherit close-on-exec. */
	assert_int_equal(saker_fdtable_on_dup(t, 7, 3, 10, 0), 0);
	f = saker_fdtable_lookup(t, 7, 10);
	assert_non_null(f);
	assert_string_equal(f->name, "/var/log/a");
	assert_int_equal(f->open_flags, O_WRONLY);
	/* dup3(O_CLOEXEC) over an existing descriptor replaces it. */
	assert_int_equal(saker_fdtable_on_open(t, 7, 11, "/old", 0), 0);
	assert_int_equal(saker_fdtable_on_dup(t, 7, 3, 11, O_CLOEXEC), 0);
	f = saker_fdtable_lookup(t, 7, 11);
	assert_string_equal(f->name, "/var/log/a");
	assert_int_equal(f->open_flags, O_WRONLY | O_CLOEXEC);
	/* Closing the original leaves the copies. */
	assert_int_equal(saker_fdtable_on_close(t, 7, 3), 0);
	assert_non_null(saker_fdtable_lookup(t, 7, 10));
	/* dup2 of an unknown descriptor still closed newfd. */
	assert_int_equal(saker_fdtable_on_dup(t, 7, 50, 10, 0), -ENOENT);
	assert_null(saker_fdtable_lookup(t, 7, 10));
	assert_int_equal(saker_fdtable_on_dup(t, 7, 11, 11, 0), 0);
	assert_int_equal(saker_fdtable_on_dup(t, 7, -1, 11, 0), -EINVAL);
	assert_int_equal(stats(t).unmatched, 1);
	assert_int_equal(stats(t).entries, 1);
	saker_fdtable_free(t);
}

static void test_sockets(void **state)
{
	struct saker_fdtable *t = new_table(0, 0, 0);
	struct saker_fd_tuple tu = {.lport = 40000, .rport = 8080, .l4proto = IPPROTO_TCP};
	struct saker_fd_tuple t6 = {.lport = 8080, .rport = 5555};
	const struct saker_fd *f;
	char buf[128];

	(void)state;
	memcpy(tu.laddr, "\x7f\x00\x00\x01", 4);
	memcpy(tu.raddr, "\x0a\x00\x00\x02", 4);
	assert_int_equal(saker_fdtable_on_connect(t, 9, 4, SAKER_FD_IPV4, &tu, NULL), 0);
	f = saker_fdtable_lookup(t, 9, 4);
	assert_int_equal(f->type, SAKER_FD_IPV4);
	assert_true(f->flags & SAKER_FD_F_CONNECTED);
	assert_int_equal(f->tuple.rport, 8080);
	assert_int_equal(f->tuple.l4proto, IPPROTO_TCP);
	assert_int_equal(saker_fd_format_name(f, buf, sizeof(buf)), 30);
	assert_string_equal(buf, "127.0.0.1:40000->10.0.0.2:8080");

	/* The server's accepted socket names the client first as well. */
	t6.laddr[15] = 1;
	t6.raddr[0] = 0xfe;
	t6.raddr[1] = 0x80;
	t6.raddr[15] = 2;
	assert_int_equal(saker_fdtable_on_accept(t, 9, 5, SAKER_FD_IPV6, &t6, NULL), 0);
	f = saker_fdtable_lookup(t, 9, 5);
	assert_true(f->flags & SAKER_FD_F_ACCEPTED);
	saker_fd_format_name(f, buf, sizeof(buf));
	assert_string_equal(buf, "fe80::2:5555->::1:8080");
	/* Truncated like snprintf. */
	assert_int_equal(saker_fd_format_name(f, buf, 5), (int)strlen("fe80::2:5555->::1:8080"));
	assert_string_equal(buf, "fe80");

	assert_int_equal(saker_fdtable_on_connect(t, 9, 6, SAKER_FD_UNIX, NULL, "/run/x.sock"), 0);
	f = saker_fdtable_lookup(t, 9, 6);
	assert_int_equal(f->type, SAKER_FD_UNIX);
	saker_fd_format_name(f, buf, sizeof(buf));
	assert_string_equal(buf, "/run/x.sock");
	assert_string_equal(saker_fd_type_name(f->type), "unix");

	assert_int_equal(saker_fdtable_on_bind(t, 9, 7, SAKER_FD_IPV4, NULL, NULL), 0);
	assert_int_equal(saker_fdtable_on_listen(t, 9, 7), 0);
	f = saker_fdtable_lookup(t, 9, 7);
	assert_int_equal(f->flags, SAKER_FD_F_BOUND | SAKER_FD_F_LISTENING);
	assert_int_equal(saker_fdtable_on_listen(t, 9, 8), -ENOENT);
	/* An address family we do not decode. */
	assert_int_equal(saker_fdtable_on_connect(t, 9, 8, (enum saker_fd_type)77, &tu, "x"), 0);
	f = saker_fdtable_lookup(t, 9, 8);
	assert_int_equal(f->type, SAKER_FD_OTHER);
	assert_string_equal(f->name, "");
	assert_string_equal(saker_fd_type_name((enum saker_fd_type)77), "unknown");
	saker_fdtable_free(t);
}

static void test_per_process_bound_lru(void **state)
{
	struct saker_fdtable *t = new_table(100, 4, 0);
	char path[32];

	(void)state;
	for (int fd = 0; fd < 4; fd++) {
		snprintf(path, sizeof(path), "/f%d", fd);
		assert_int_equal(saker_fdtable_on_open(t, 1, fd, path, 0), 0);
	}
	/* Used recently: fd 0 survives, fd 1 is the least recently used. */
	assert_non_null(saker_fdtable_lookup(t, 1, 0));
	assert_int_equal(saker_fdtable_on_open(t, 1, 4, "/f4", 0), 0);
	assert_null(saker_fdtable_lookup(t, 1, 1));
	assert_non_null(saker_fdtable_lookup(t, 1, 0));
	for (int fd = 5; fd < 14; fd++) {
		snprintf(path, sizeof(path), "/f%d", fd);
		assert_int_equal(saker_fdtable_on_open(t, 1, fd, path, 0), 0);
	}
	struct saker_fdtable_stats st = stats(t);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 10);
	for (int fd = 10; fd < 14; fd++)
		assert_non_null(saker_fdtable_lookup(t, 1, fd));
	/* Another process is not affected by pid 1's bound. */
	assert_int_equal(saker_fdtable_on_open(t, 2, 0, "/g", 0), 0);
	assert_int_equal(stats(t).entries, 5);
	assert_int_equal(stats(t).processes, 2);
	saker_fdtable_free(t);
}

static void test_per_process_bound_of_one(void **state)
{
	struct saker_fdtable *t = new_table(10, 1, 0);

	(void)state;
	assert_int_equal(saker_fdtable_on_open(t, 1, 0, "/a", 0), 0);
	assert_int_equal(saker_fdtable_on_open(t, 1, 1, "/b", 0), 0);
	/* dup of the only descriptor: the source goes, its name must survive. */
	assert_int_equal(saker_fdtable_on_dup(t, 1, 1, 2, 0), 0);
	assert_string_equal(saker_fdtable_lookup(t, 1, 2)->name, "/b");
	assert_int_equal(stats(t).entries, 1);
	assert_int_equal(stats(t).processes, 1);
	saker_fdtable_free(t);
}

static void test_global_bounds(void **state)
{
	/* max_per_proc is capped at max_fds / 2 = 8. */
	struct saker_fdtable *t = new_table(16, 1000, 0);
	struct saker_fdtable_stats st;

	(void)state;
	for (uint32_t pid = 1; pid <= 200; pid++)
		for (int fd = 0; fd < 10; fd++)
			assert_int_equal(saker_fdtable_on_open(t, pid, fd, "/some/file", 0), 0);
	st = stats(t);
	assert_int_equal(st.entries, 16);
	assert_int_equal(st.max_entries, 16);
	assert_int_equal(st.evictions, 2000 - 16);
	/* The most recent process keeps its 8 most recent. */
	for (int fd = 2; fd < 10; fd++)
		assert_non_null(saker_fdtable_lookup(t, 200, fd));
	assert_null(saker_fdtable_lookup(t, 200, 1));
	assert_null(saker_fdtable_lookup(t, 1, 9));
	saker_fdtable_free(t);

	/* Byte bound: long names evict even below the entry bound. */
	t = new_table(100000, 0, 64 * 1024);
	char *name = malloc(4000);
	memset(name, 'n', 3999);
	name[3999] = '\0';
	size_t peak = 0;
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(saker_fdtable_on_open(t, i, 3, name, 0), 0);
		st = stats(t);
		if (st.bytes > peak)
			peak = st.bytes;
	}
	free(name);
	st = stats(t);
	assert_true(st.entries < 20);
	assert_true(st.evictions > 980);
	/* Entries and names within the bound; the index on top stays small. */
	assert_true(peak <= 64 * 1024 + 16 * 1024);
	saker_fdtable_free(t);
}

static void test_copy_and_drop(void **state)
{
	struct saker_fdtable *t = new_table(8, 4, 0);

	(void)state;
	assert_int_equal(saker_fdtable_on_open(t, 1, 0, "/dev/null", 0), 0);
	assert_int_equal(saker_fdtable_on_open(t, 1, 1, "/log", O_CLOEXEC), 0);
	assert_int_equal(saker_fdtable_on_open(t, 1, 2, "/tty", 0), 0);
	assert_int_equal(saker_fdtable_on_open(t, 1, 3, "/data", O_CLOEXEC), 0);
	/* Fill the rest of the table with another process's descriptors. */
	for (int fd = 0; fd < 4; fd++)
		assert_int_equal(saker_fdtable_on_open(t, 2, fd, "/other", 0), 0);
	assert_int_equal(stats(t).entries, 8);

	/* The copy needs room: pid 2 goes, never the parent being copied. */
	assert_int_equal(saker_fdtable_copy_process(t, 1, 3), 0);
	assert_int_equal(stats(t).entries, 8);
	for (int fd = 0; fd < 4; fd++) {
		const struct saker_fd *p = saker_fdtable_lookup(t, 1, fd);
		const struct saker_fd *c = saker_fdtable_lookup(t, 3, fd);

		assert_non_null(p);
		assert_non_null(c);
		assert_string_equal(p->name, c->name);
		assert_int_equal(p->open_flags, c->open_flags);
		assert_int_equal(c->pid, 3);
	}
	assert_null(saker_fdtable_lookup(t, 2, 0));
	assert_int_equal(stats(t).evictions, 4);

	/* The child's close is its own. */
	assert_int_equal(saker_fdtable_on_close(t, 3, 0), 0);
	assert_non_null(saker_fdtable_lookup(t, 1, 0));

	saker_fdtable_drop_cloexec(t, 3);
	assert_null(saker_fdtable_lookup(t, 3, 1));
	assert_null(saker_fdtable_lookup(t, 3, 3));
	assert_non_null(saker_fdtable_lookup(t, 3, 2));
	assert_non_null(saker_fdtable_lookup(t, 1, 1));

	saker_fdtable_drop_process(t, 3);
	assert_null(saker_fdtable_lookup(t, 3, 2));
	assert_int_equal(stats(t).processes, 1);
	saker_fdtable_drop_process(t, 3);
	saker_fdtable_drop_cloexec(t, 3);
	assert_int_equal(saker_fdtable_copy_process(t, 1, 1), -EINVAL);
	/* Nothing to copy from: the child's stale descriptors still go. */
	assert_int_equal(saker_fdtable_on_open(t, 5, 0, "/stale", 0), 0);
	assert_int_equal(saker_fdtable_copy_process(t, 4, 5), 0);
	assert_null(saker_fdtable_lookup(t, 5, 0));
	saker_fdtable_drop_process(t, 1);
	assert_int_equal(stats(t).entries, 0);
	assert_int_equal(stats(t).processes, 0);
	saker_fdtable_free(t);
}

static void put_file(const char *dir, const char *name, const char *content)
{
	char path[2 * PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void put_link(const char *dir, const char *name, const char *target)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(symlink(target, path), 0);
}

static void test_scan_pid(void **state)
{
	char root[] = "/tmp/saker-fdtest-XXXXXX", path[PATH_MAX], cmd[PATH_MAX + 16];
	struct saker_fdtable *t = new_table(0, 3, 0);
	const struct saker_fd *f;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/fd", root);
	assert_int_equal(mkdir(path, 0755), 0);
	put_link(path, "0", "/dev/null");
	put_link(path, "3", "socket:[12345]");
	put_link(path, "junk", "/ignored");
	snprintf(path, sizeof(path), "%s/fdinfo", root);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(path, "0", "pos:\t0\nflags:\t02100002\nmnt_id:\t25\n");
	put_file(path, "3", "pos:\t0\nflags:\tgarbage\n");

	/* A descriptor from before the scan is dropped. */
	assert_int_equal(saker_fdtable_on_open(t, 42, 9, "/before", 0), 0);
	dfd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(saker_fdtable_scan_pid(t, 42, dfd), 0);
	f = saker_fdtable_lookup(t, 42, 0);
	assert_non_null(f);
	assert_int_equal(f->type, SAKER_FD_FILE);
	assert_string_equal(f->name, "/dev/null");
	assert_int_equal(f->open_flags, 02100002);
	assert_int_equal(f->flags, SAKER_FD_F_FROM_SCAN);
	f = saker_fdtable_lookup(t, 42, 3);
	assert_non_null(f);
	assert_int_equal(f->type, SAKER_FD_OTHER);
	assert_string_equal(f->name, "socket:[12345]");
	assert_int_equal(f->open_flags, 0);
	assert_null(saker_fdtable_lookup(t, 42, 9));
	assert_int_equal(stats(t).entries, 2);

	/* Past the per-process bound (3) the rest is counted, not read. */
	snprintf(path, sizeof(path), "%s/fd", root);
	put_link(path, "4", "/a");
	put_link(path, "5", "/b");
	assert_int_equal(saker_fdtable_scan_pid(t, 42, dfd), 0);
	assert_int_equal(stats(t).entries, 3);
	assert_int_equal(stats(t).evictions, 1);
	close(dfd);

	/* No fd directory: the process is gone. */
	dfd = open("/", O_RDONLY | O_DIRECTORY);
	assert_int_equal(saker_fdtable_scan_pid(t, 43, dfd), -ENOENT);
	close(dfd);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	saker_fdtable_free(t);
}

static void test_new_bounds(void **state)
{
	struct saker_fdtable *t = new_table(1, 0, 0);

	(void)state;
	/* At least 2 entries and 1 per process, whatever was asked. */
	assert_int_equal(saker_fdtable_on_open(t, 1, 0, "/a", 0), 0);
	assert_int_equal(saker_fdtable_on_open(t, 2, 0, "/b", 0), 0);
	assert_int_equal(stats(t).entries, 2);
	assert_int_equal(stats(t).max_entries, 2);
	saker_fdtable_free(t);
	t = new_table(0, 0, 0);
	assert_int_equal(stats(t).max_entries, SAKER_FDTABLE_DEFAULT_MAX);
	assert_int_equal(stats(t).max_bytes, SAKER_FDTABLE_DEFAULT_MAX_BYTES);
	saker_fdtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idmap_against_reference),
	    cmocka_unit_test(test_open_lookup_close),
	    cmocka_unit_test(test_long_path_bounded),
	    cmocka_unit_test(test_dup),
	    cmocka_unit_test(test_sockets),
	    cmocka_unit_test(test_per_process_bound_lru),
	    cmocka_unit_test(test_per_process_bound_of_one),
	    cmocka_unit_test(test_global_bounds),
	    cmocka_unit_test(test_copy_and_drop),
	    cmocka_unit_test(test_scan_pid),
	    cmocka_unit_test(test_new_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
