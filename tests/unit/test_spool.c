#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "lib/spool.h"
#include "tmpdir.h"

static struct saker_spool *open_sp(struct tmpdir *f, uint64_t max)
{
	struct saker_spool_opts o = {.dir = f->dir, .max_bytes = max};
	struct saker_spool *sp = NULL;
	char err[256] = "";

	assert_int_equal(saker_spool_open(&sp, &o, err, sizeof(err)), 0);
	return sp;
}

static void put(struct saker_spool *sp, int i)
{
	char id[32], data[64];

	snprintf(id, sizeof(id), "host-run-%d", i);
	snprintf(data, sizeof(data), "{\"n\":%d}", i);
	assert_int_equal(saker_spool_append(sp, id, "saker.h.alerts", data, strlen(data)), 0);
}

/* The next record is message i, id and payload both. */
static void expect(struct saker_spool *sp, int i)
{
	struct saker_spool_rec r;
	char id[32], data[64];

	snprintf(id, sizeof(id), "host-run-%d", i);
	snprintf(data, sizeof(data), "{\"n\":%d}", i);
	assert_int_equal(saker_spool_next(sp, &r), 0);
	assert_int_equal(r.id_len, strlen(id));
	assert_memory_equal(r.id, id, r.id_len);
	assert_int_equal(r.subject_len, strlen("saker.h.alerts"));
	assert_memory_equal(r.subject, "saker.h.alerts", r.subject_len);
	assert_int_equal(r.data_len, strlen(data));
	assert_memory_equal(r.data, data, r.data_len);
}

static void balanced(struct saker_spool *sp)
{
	struct saker_spool_stats st;

	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered + st.appended, st.acked + st.pending);
}

/* The newest segment file, for the damage tests. */
static void last_seg(struct tmpdir *f, char *out, size_t len)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	char best[256] = "";

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strstr(de->d_name, ".spool") && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	assert_true(best[0]);
	assert_true((size_t)snprintf(out, len, "%s/%s", f->dir, best) < len);
}

static void test_order_and_ack(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, 1 << 20);
	struct saker_spool_rec r;
	struct saker_spool_stats st;

	for (int i = 0; i < 10; i++)
		put(sp, i);
	for (int i = 0; i < 10; i++)
		expect(sp, i);
	assert_int_equal(saker_spool_next(sp, &r), -ENODATA);
	assert_int_equal(saker_spool_outstanding(sp), 10);
	assert_int_equal(saker_spool_ack(sp, 11), -EINVAL);
	assert_int_equal(saker_spool_ack(sp, 4), 0);
	/* Not acknowledged: handed out again, in order, from the oldest. */
	saker_spool_rewind(sp);
	for (int i = 4; i < 10; i++)
		expect(sp, i);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.acked, 4);
	assert_int_equal(st.pending, 6);
	balanced(sp);
	saker_spool_close(sp);
}

static void test_restart_resends_same_ids(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, 1 << 20);
	struct saker_spool_stats st;
	struct saker_spool_rec r;

	for (int i = 0; i < 20; i++)
		put(sp, i);
	for (int i = 0; i < 7; i++)
		expect(sp, i);
	assert_int_equal(saker_spool_ack(sp, 7), 0);
	assert_int_equal(saker_spool_sync(sp), 0);
	saker_spool_close(sp);

	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 13);
	assert_int_equal(st.corrupt, 0);
	for (int i = 7; i < 20; i++)
		expect(sp, i);
	assert_int_equal(saker_spool_next(sp, &r), -ENODATA);
	/* New records follow the recovered ones. */
	put(sp, 20);
	expect(sp, 20);
	assert_int_equal(saker_spool_ack(sp, 14), 0);
	balanced(sp);
	saker_spool_close(sp);

	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 0);
	assert_int_equal(saker_spool_next(sp, &r), -ENODATA);
	saker_spool_close(sp);
}

static void test_torn_tail(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, 1 << 20);
	struct saker_spool_stats st;
	struct saker_spool_rec r;
	struct stat sb;
	char path[512];

	for (int i = 0; i < 3; i++)
		put(sp, i);
	saker_spool_close(sp);
	last_seg(f, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	/* Mid-record, as a crash during write(2) leaves it. */
	assert_int_equal(truncate(path, sb.st_size - 5), 0);

	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 2);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.torn_tails, 1);
	assert_true(st.corrupt_bytes > 0);
	expect(sp, 0);
	expect(sp, 1);
	assert_int_equal(saker_spool_next(sp, &r), -ENODATA);
	put(sp, 3);
	expect(sp, 3);
	saker_spool_close(sp);

	/* The tear was cut off: the next open finds three whole records and no damage. */
	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 3);
	assert_int_equal(st.corrupt, 0);
	expect(sp, 0);
	expect(sp, 1);
	expect(sp, 3);
	saker_spool_close(sp);
}

static void test_bad_checksum(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, 1 << 20);
	struct saker_spool_stats st;
	struct saker_spool_rec r;
	char path[512], c;
	int fd;
	off_t reclen;
	struct stat sb;

	for (int i = 0; i < 3; i++)
		put(sp, i);
	saker_spool_close(sp);
	last_seg(f, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	reclen = sb.st_size / 3;
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* A byte of the second record's payload. */
	assert_int_equal(pread(fd, &c, 1, reclen + reclen - 2), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, reclen + reclen - 2), 1);
	close(fd);

	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 1);
	assert_int_equal(st.corrupt, 1);
	expect(sp, 0);
	assert_int_equal(saker_spool_next(sp, &r), -ENODATA);
	saker_spool_close(sp);
}

static void test_full_drops_newest(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, SAKER_SPOOL_MIN_BYTES);
	struct saker_spool_stats st;
	char data[1000];
	int ok = 0, full = 0;

	memset(data, 'x', sizeof(data));
	for (int i = 0; i < 100; i++) {
		char id[16];
		int rc;

		snprintf(id, sizeof(id), "id-%d", i);
		rc = saker_spool_append(sp, id, "s", data, sizeof(data));
		assert_true(rc == 0 || rc == -ENOSPC);
		if (rc == 0) {
			assert_int_equal(full, 0); /* once full, stays full until acks */
			ok++;
		} else {
			full++;
		}
	}
	saker_spool_get_stats(sp, &st);
	assert_true(ok > 30 && ok < 66);
	assert_int_equal(st.dropped_full, (uint64_t)full);
	assert_int_equal(st.appended, (uint64_t)ok);
	assert_true(st.bytes <= SAKER_SPOOL_MIN_BYTES);
	balanced(sp);

	/* Acknowledging all of it frees the space (segments removed). */
	for (int i = 0; i < ok; i++) {
		struct saker_spool_rec r;

		assert_int_equal(saker_spool_next(sp, &r), 0);
	}
	assert_int_equal(saker_spool_ack(sp, (uint64_t)ok), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(saker_spool_append(sp, "again", "s", data, sizeof(data)), 0);
	balanced(sp);
	saker_spool_close(sp);
}

static void test_segments_removed(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool *sp = open_sp(f, 1 << 20);
	struct saker_spool_stats st;
	char data[4000];
	int n = 200;

	memset(data, 'y', sizeof(data));
	for (int i = 0; i < n; i++)
		assert_int_equal(saker_spool_append(sp, "i", "s", data, sizeof(data)), 0);
	saker_spool_get_stats(sp, &st);
	assert_true(st.bytes > 800000);
	for (int i = 0; i < n; i++) {
		struct saker_spool_rec r;

		assert_int_equal(saker_spool_next(sp, &r), 0);
	}
	assert_int_equal(saker_spool_ack(sp, (uint64_t)n), 0);
	saker_spool_get_stats(sp, &st);
	/* Only the segment being appended to may remain. */
	assert_true(st.bytes <= (1 << 20) / 8);
	assert_int_equal(saker_spool_sync(sp), 0);
	saker_spool_close(sp);

	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 0);
	put(sp, 1);
	saker_spool_close(sp);
	/* A fresh segment after everything was removed is still found after a restart. */
	sp = open_sp(f, 1 << 20);
	saker_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 1);
	expect(sp, 1);
	saker_spool_close(sp);
}

static void test_bad_opts(void **state)
{
	struct tmpdir *f = *state;
	struct saker_spool_opts o = {.dir = f->dir, .max_bytes = 100};
	struct saker_spool *sp = (void *)1;
	char err[256] = "";

	assert_int_equal(saker_spool_open(&sp, &o, err, sizeof(err)), -EINVAL);
	assert_null(sp);
	assert_non_null(strstr(err, "minimum"));
	o.dir = "";
	assert_int_equal(saker_spool_open(&sp, &o, err, sizeof(err)), -EINVAL);
	saker_spool_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_and_ack, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_restart_resends_same_ids, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_checksum, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_full_drops_newest, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_segments_removed, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_opts, tmpdir_setup, tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
