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

#include "drops/ledger.h"
#include "lib/safefile.h"
#include "jsoncheck.h"

#define SEC 1000000000ull

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/saker-ledger-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ledger.jsonl", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	test_free(f);
	return 0;
}

/* The file's lines, each checked to be one well-formed JSON object. */
static size_t read_lines(const char *path, char lines[][4096], size_t max)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	assert_non_null(fp);
	while (n < max && fgets(lines[n], 4096, fp)) {
		size_t len = strlen(lines[n]);

		assert_true(len > 0 && lines[n][len - 1] == '\n');
		lines[n][--len] = '\0';
		assert_true(json_valid(lines[n], len));
		assert_int_equal(lines[n][0], '{');
		n++;
	}
	fclose(fp);
	return n;
}

static struct saker_ledger_record loss_record(struct saker_loss *loss,
					      struct saker_attrib_window *w)
{
	struct saker_ledger_record r = {
	    .kind = SAKER_LEDGER_LOSS,
	    .win = {.start_boot_ns = 10 * SEC,
		    .end_boot_ns = 11 * SEC,
		    .start_real_ns = 1700000000 * SEC,
		    .end_real_ns = 1700000001 * SEC + 5},
	    .seen = 1000,
	    .delivered = 900,
	    .loss = loss,
	    .attrib = w,
	    .fired = true,
	    .suppressed = true,
	};

	memset(loss, 0, sizeof(*loss));
	loss->total = 100;
	loss->cause[SAKER_LOSS_RING_FULL] = 100;
	loss->lane[SAKER_LANE_NORMAL] = 100;
	loss->category[SAKER_CAT_CLOSE] = 60;
	loss->category[SAKER_CAT_EXECVE] = 40;
	memset(w, 0, sizeof(*w));
	w->n_procs = 2;
	w->n_top = 2;
	w->top[0] =
	    (struct saker_attrib_proc){.pid = 4242, .uid = 65534, .received = 800, .produced = 800};
	strcpy(w->top[0].comm, "flo\"od\n");
	strcpy(w->top[0].exe, "/tmp/\x01weird \xff path");
	w->top[1] = (struct saker_attrib_proc){
	    .pid = 7, .uid = SAKER_UID_UNSET, .received = 100, .produced = 100};
	return r;
}

static void test_format_loss_line(void **state)
{
	struct saker_attrib_window w;
	struct saker_loss loss;
	struct saker_ledger_record r = loss_record(&loss, &w);
	struct saker_sbuf b;

	(void)state;
	saker_sbuf_init(&b);
	saker_ledger_format(&b, &r);
	assert_false(b.oom);
	assert_true(json_valid(b.p, b.len));
	assert_non_null(strstr(b.p, "{\"type\":\"loss\""));
	assert_non_null(strstr(b.p, "\"start_boot_ns\":10000000000"));
	assert_non_null(strstr(b.p, "\"end_boot_ns\":11000000000"));
	assert_non_null(strstr(b.p, "\"start\":\"2023-11-14T22:13:20.000000000Z\""));
	assert_non_null(strstr(b.p, "\"end\":\"2023-11-14T22:13:21.000000005Z\""));
	assert_non_null(strstr(b.p, "\"seconds\":1.000"));
	assert_non_null(strstr(b.p, "\"seen\":1000,\"delivered\":900,\"lost\":100"));
	assert_non_null(strstr(b.p, "\"ring_full\":100"));
	assert_non_null(strstr(b.p, "\"lost_by_lane\":{\"normal\":100,\"critical\":0}"));
	assert_non_null(strstr(b.p, "\"close\":60"));
	assert_non_null(strstr(b.p, "\"execve\":40"));
	assert_non_null(strstr(b.p, "\"attribution\":\"produced_only\""));
	assert_non_null(strstr(b.p, "\"processes\":2"));
	/* escaped, and per-process loss absent when nobody counted it */
	assert_non_null(strstr(b.p, "\"comm\":\"flo\\\"od\\n\""));
	assert_non_null(strstr(b.p, "\"pid\":7,\"comm\":null,\"exe\":null,\"uid\":null"));
	assert_null(strstr(b.p, "\"lost\":0"));
	assert_non_null(strstr(b.p, "\"fired\":true,\"suppressed\":true,\"resync\":false}"));

	/* with the kernel's counts, lost and demoted per process */
	w.lost_known = true;
	w.top[0].lost = 5;
	w.top[0].demoted = 3;
	b.len = 0;
	saker_ledger_format(&b, &r);
	assert_true(json_valid(b.p, b.len));
	assert_non_null(strstr(b.p, "\"attribution\":\"kernel\""));
	/* the process's counts, then its container (unknown here: null) */
	assert_non_null(strstr(b.p, "\"lost\":5,\"demoted\":3,\"container_id\":null"));
	saker_sbuf_free(&b);
}

static void test_write_and_reopen(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;
	struct saker_loss loss;
	struct saker_ledger_record r = loss_record(&loss, &w);
	struct saker_ledger_stats st;
	struct saker_ledger *l;
	static char lines[8][4096];
	char err[256], rotated[160];
	struct stat sb;

	assert_int_equal(saker_ledger_open(&l, f->path, err, sizeof(err)), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(saker_ledger_write(l, &r), 0);
	r.kind = SAKER_LEDGER_END;
	r.loss = NULL;
	r.episode = r.win;
	r.episode_windows = 3;
	r.episode_seen = 3000;
	r.episode_lost = 300;
	assert_int_equal(saker_ledger_write(l, &r), 0);
	assert_int_equal(read_lines(f->path, lines, 8), 2);
	assert_non_null(strstr(lines[0], "\"type\":\"loss\""));
	assert_non_null(strstr(lines[1], "{\"type\":\"loss_end\""));
	assert_non_null(strstr(lines[1], "\"lost\":0"));
	assert_non_null(strstr(lines[1], "\"episode_windows\":3,\"episode_seen\":3000,"
					 "\"episode_lost\":300}"));
	assert_non_null(strstr(lines[1], "\"episode_start_boot_ns\":10000000000"));

	/* logrotate: the file is moved away; SIGUSR1 reopens a new one at the path */
	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	assert_int_equal(rename(f->path, rotated), 0);
	assert_int_equal(saker_ledger_reopen(l, err, sizeof(err)), 0);
	r.kind = SAKER_LEDGER_LOSS;
	r.loss = &loss;
	assert_int_equal(saker_ledger_write(l, &r), 0);
	assert_int_equal(read_lines(f->path, lines, 8), 1);
	assert_int_equal(read_lines(rotated, lines, 8), 2);
	saker_ledger_get_stats(l, &st);
	assert_int_equal(st.lines, 3);
	assert_int_equal(st.reopens, 1);
	assert_int_equal(st.write_errors, 0);
	{
		struct saker_metrics m;

		saker_metrics_init(&m);
		saker_ledger_add_metrics(l, &m);
		assert_true(saker_metrics_sum(&m, "ledger_lines_total") == 3);
		assert_true(saker_metrics_sum(&m, "ledger_reopens_total") == 1);
		saker_metrics_free(&m);
	}

	/* a reopen that fails keeps the old file */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_true(saker_ledger_reopen(l, err, sizeof(err)) < 0);
	assert_int_equal(saker_ledger_write(l, &r), 0);
	saker_ledger_close(l);
	saker_ledger_close(NULL);
}

static void test_safe_open_refuses(void **state)
{
	struct fx *f = *state;
	char p[160], err[256];
	int fd;

	/* a symlink, even to a regular file */
	snprintf(p, sizeof(p), "%s/target", f->dir);
	fd = saker_safefile_open_append(p, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/link", f->dir);
	{
		char t[160];

		snprintf(t, sizeof(t), "%s/target", f->dir);
		assert_int_equal(symlink(t, p), 0);
	}
	assert_int_equal(saker_safefile_open_append(p, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	/* a dangling symlink is not followed to create its target */
	snprintf(p, sizeof(p), "%s/dangling", f->dir);
	assert_int_equal(symlink("/tmp/saker-ledger-should-not-exist", p), 0);
	assert_int_equal(saker_safefile_open_append(p, err, sizeof(err)), -ELOOP);
	assert_int_equal(access("/tmp/saker-ledger-should-not-exist", F_OK), -1);
	/* a FIFO without a reader: refused at once, not waited on */
	snprintf(p, sizeof(p), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_true(saker_safefile_open_append(p, err, sizeof(err)) < 0);
	/* a directory */
	assert_true(saker_safefile_open_append(f->dir, err, sizeof(err)) < 0);
	/* /dev/null is not a regular file either */
	assert_int_equal(saker_safefile_open_append("/dev/null", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(saker_safefile_open_append("", err, sizeof(err)), -EINVAL);
	assert_true(saker_safefile_open_append(NULL, err, sizeof(err)) < 0);
	/* the descriptor does not leak into children */
	snprintf(p, sizeof(p), "%s/target", f->dir);
	fd = saker_safefile_open_append(p, err, sizeof(err));
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_APPEND);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

static void test_json_checker_itself(void **state)
{
	static const char *const good[] = {
	    "{}",
	    "[]",
	    "{\"a\":[1,-2.5e3,true,false,null,\"x\\u00e9\"]}",
	    " 0 ",
	};
	static const char *const bad[] = {
	    "",		 "{",	  "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "\"\x01\"",
	    "{\"a\" 1}", "{} {}", "\"\\x\"",  "tru",  "1.",	    "-",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(json_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(json_valid(bad[i], strlen(bad[i])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_checker_itself),
	    cmocka_unit_test(test_format_loss_line),
	    cmocka_unit_test_setup_teardown(test_write_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_safe_open_refuses, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
