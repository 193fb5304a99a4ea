/*
 * The outputs object: queue, output thread and channels (file with
 * rotation, program, stdout, syslog, HTTP against a libmicrohttpd server on
 * 127.0.0.1 started here). Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <zlib.h>

#include "outputs/outputs.h"

#define T0 1553700502123456789ULL

struct fx {
	char dir[64];
	char path[128];
	char path2[128];
	struct saker_config cfg;
	struct saker_outputs_opts opts;
	char err[512];
	pthread_mutex_t logm;
	char *logbuf; /* in memory: some tests limit the size of files */
	size_t loglen;
};

/* The application's side of the log callback: one line per report, with its severity. */
static void log_cb(void *ctx, enum saker_prio prio, const char *msg)
{
	struct fx *f = ctx;

	const char *sev = prio <= SAKER_PRIO_ERROR ? "Error" : "Warning";
	size_t n = strlen(sev) + 2 + strlen(msg) + 1;
	char *p;

	pthread_mutex_lock(&f->logm);
	p = realloc(f->logbuf, f->loglen + n + 1);
	assert_non_null(p);
	f->logbuf = p;
	snprintf(p + f->loglen, n + 1, "%s: %s\n", sev, msg);
	f->loglen += n;
	pthread_mutex_unlock(&f->logm);
}

#define NEW(o) saker_outputs_new(&(o), &f->cfg, &f->opts, f->err, sizeof(f->err))

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/saker-outputs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/events.txt", f->dir);
	snprintf(f->path2, sizeof(f->path2), "%s/other.txt", f->dir);
	f->cfg.priority = SAKER_PRIO_DEBUG;
	f->cfg.log_level = SAKER_PRIO_INFO;
	f->cfg.log_stderr = true;
	f->cfg.json_include_output_property = true;
	f->cfg.json_include_tags_property = true;
	f->cfg.http_output.user_agent = "saker-test";
	/* Tests write into their 0700 temporary directory; one test checks "nobody". */
	f->cfg.program_output.user = "root";
	pthread_mutex_init(&f->logm, NULL);
	f->opts.log = log_cb;
	f->opts.log_ctx = f;
	setenv("TZ", "UTC", 1);
	tzset();
	setenv("SAKER_HOSTNAME", "testhost", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f->logbuf);
	pthread_mutex_destroy(&f->logm);
	free(f);
	return 0;
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s = NULL;
	size_t n = 0;

	if (!fp)
		return strdup("");
	FILE *m = open_memstream(&s, &n);
	char buf[4096];
	size_t k;

	while ((k = fread(buf, 1, sizeof(buf), fp)) > 0)
		fwrite(buf, 1, k, m);
	fclose(m);
	fclose(fp);
	return s;
}

static char *log_text(struct fx *f)
{
	char *s;

	pthread_mutex_lock(&f->logm);
	s = strdup(f->logbuf ? f->logbuf : "");
	pthread_mutex_unlock(&f->logm);
	assert_non_null(s);
	return s;
}

static int count_lines(const char *path)
{
	char *s = read_all(path);
	int n = 0;

	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int emit_n(struct saker_outputs *o, int from, int n, enum saker_prio prio)
{
	int ok = 0;

	for (int i = from; i < from + n; i++) {
		char msg[64];
		struct saker_alert a = {
		    .time_ns = T0,
		    .priority = prio,
		    .rule = "r",
		    .source = "syscall",
		    .output = msg,
		};

		snprintf(msg, sizeof(msg), "alert %d", i);
		if (saker_outputs_emit(o, &a) == 0)
			ok++;
	}
	return ok;
}

/* ids "alert N" found in a file, each counted */
static void tally_ids(const char *path, int *seen, int max)
{
	char *s = read_all(path);
	char *save = NULL;

	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *p = strstr(l, "alert ");
		int id;

		assert_non_null(p);
		assert_int_equal(sscanf(p, "alert %d", &id), 1);
		assert_true(id >= 0 && id < max);
		seen[id]++;
	}
	free(s);
}

static void use_file(struct fx *f, const char *path, bool keep_alive)
{
	f->cfg.file_output.enabled = true;
	f->cfg.file_output.filename = (char *)path;
	f->cfg.file_output.keep_alive = keep_alive;
}

/* ---- construction ---- */

static void test_new_rejects_bad_channels(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o = (void *)1;

	assert_int_equal(NEW(o), -EINVAL);
	assert_null(o);
	assert_string_equal(f->err, "no output channel is enabled");
	f->cfg.file_output.enabled = true;
	assert_int_equal(NEW(o), -EINVAL);
	assert_string_equal(f->err, "file_output needs a filename");
	f->cfg.file_output.filename = "/nonexistent-dir-saker/x.txt";
	assert_int_equal(NEW(o), -ENOENT);
	assert_non_null(strstr(f->err, "/nonexistent-dir-saker"));
	/* Only regular files. */
	f->cfg.file_output.filename = "/dev/full";
	assert_int_equal(NEW(o), -EINVAL);
	assert_non_null(strstr(f->err, "/dev/full is not a regular file"));
	f->cfg.file_output.enabled = false;
	f->cfg.program_output.enabled = true;
	assert_int_equal(NEW(o), -EINVAL);
	assert_string_equal(f->err, "program_output needs a program");
	f->cfg.program_output.program = "cat";
	f->cfg.program_output.user = "no-such-user-saker";
	assert_int_equal(NEW(o), -ENOENT);
	assert_string_equal(f->err, "program_output.user no-such-user-saker: no such user");
	f->cfg.program_output.enabled = false;
	f->cfg.http_output.enabled = true;
	f->cfg.http_output.url = "";
	assert_int_equal(NEW(o), -EINVAL);
	assert_string_equal(f->err, "http_output needs a url");
	/* The library itself never logged. */
	char *l = log_text(f);
	assert_string_equal(l, "");
	free(l);
	/* NULLs are harmless. */
	saker_outputs_free(NULL);
	assert_int_equal(saker_outputs_emit(NULL, NULL), -EINVAL);
	assert_string_equal(saker_channel_name(SAKER_CH_HTTP), "http");
	assert_string_equal(saker_channel_name(SAKER_CH_MAX), "unknown");
}

/*
 * Each row of outputs/channels.def has a distinct name, its ops, and a
 * `<name>_output.enabled` key that turns on exactly that channel (the config
 * rows a new channel needs, flagged so that "no output enabled" knows it).
 */
static void cfg_warn_fails(void *ctx, enum saker_prio prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	fail_msg("config warning: %s", msg); /* an unknown key is only a warning */
}

static void test_channel_table(void **state)
{
	(void)state;
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		const char *name = saker_channel_name((enum saker_channel)i);
		struct saker_config cfg;
		char kv[128], err[256];

		assert_string_not_equal(name, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(name, saker_channel_name((enum saker_channel)j));
		saker_config_init(&cfg);
		assert_int_equal(saker_config_override(&cfg, "stdout_output.enabled=false", err,
						       sizeof(err), cfg_warn_fails, NULL),
				 0);
		assert_int_equal(saker_config_validate(&cfg, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "no output enabled"));
		snprintf(kv, sizeof(kv), "%s_output.enabled=true", name);
		assert_int_equal(
		    saker_config_override(&cfg, kv, err, sizeof(err), cfg_warn_fails, NULL), 0);
		/* Enabled, it is either complete or names what it needs. */
		if (saker_config_validate(&cfg, err, sizeof(err)) < 0) {
			snprintf(kv, sizeof(kv), "%s_output is enabled but", name);
			assert_non_null(strstr(err, kv));
		}
		saker_config_free(&cfg);
	}
}

/* ---- file ---- */

static void file_n_lines(struct fx *f, bool keep_alive, bool buffered)
{
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char *s;

	use_file(f, f->path, keep_alive);
	f->cfg.buffered_outputs = buffered;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 500, SAKER_PRIO_CRITICAL), 500);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	assert_int_equal(count_lines(f->path), 500);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.emitted, 500);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 500);
	assert_int_equal(st.failed[SAKER_CH_FILE], 0);
	assert_int_equal(st.queue_drops, 0);
	assert_int_equal(st.queued, 0);
	assert_true(st.enabled[SAKER_CH_FILE]);
	assert_false(st.enabled[SAKER_CH_STDOUT]);
	saker_outputs_free(o);
	s = read_all(f->path);
	/* Text form, local time (UTC here). */
	assert_true(strncmp(s,
			    "15:28:22.123456789: Critical alert 0\n"
			    "15:28:22.123456789: Critical alert 1\n",
			    74) == 0);
	free(s);
}

static void test_file_keep_alive(void **state)
{
	file_n_lines(*state, true, false);
}

static void test_file_open_per_alert(void **state)
{
	file_n_lines(*state, false, false);
}

static void test_file_buffered(void **state)
{
	file_n_lines(*state, true, true);
}

static void rotation(struct fx *f, bool keep_alive)
{
	struct saker_outputs *o;
	int seen[400] = {0};
	char rotated[160];

	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	use_file(f, f->path, keep_alive);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 200, SAKER_PRIO_ERROR), 200);
	/* Renamed while the thread is still writing, as logrotate would. */
	assert_int_equal(rename(f->path, rotated), 0);
	assert_int_equal(saker_outputs_reopen(o), 0);
	assert_int_equal(emit_n(o, 200, 200, SAKER_PRIO_ERROR), 200);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_free(o);
	tally_ids(f->path, seen, 400);
	tally_ids(rotated, seen, 400);
	for (int i = 0; i < 400; i++)
		assert_int_equal(seen[i], 1);
	/* The new file got at least everything emitted after the reopen. */
	assert_true(count_lines(f->path) >= 200);
}

static void test_file_reopen_keep_alive(void **state)
{
	rotation(*state, true);
}

static void test_file_reopen_per_alert(void **state)
{
	rotation(*state, false);
}

/* Writes past the limit fail with EFBIG (SIGXFSZ stays blocked in the workers). */
static void limit_file_size(rlim_t n)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = n;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void test_file_failures_counted_and_throttled(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char *l;

	use_file(f, f->path, true);
	assert_int_equal(NEW(o), 0);
	limit_file_size(0);
	assert_int_equal(emit_n(o, 0, 5, SAKER_PRIO_ERROR), 5);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	limit_file_size(RLIM_INFINITY);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.failed[SAKER_CH_FILE], 5);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 0);
	l = log_text(f);
	/* The first failure is reported at once, with its severity; the next ones wait 10 s. */
	assert_int_equal(count_str(l, "file output could not deliver"), 1);
	assert_non_null(strstr(l, "Error: outputs: file output could not deliver 1 alert(s) "
				  "since the last report"));
	assert_non_null(strstr(l, "File too large"));
	free(l);
	/* What was held back is reported at the end, with its reason. */
	saker_outputs_free(o);
	l = log_text(f);
	assert_int_equal(count_str(l, "file output could not deliver"), 2);
	assert_non_null(strstr(l, "could not deliver 4 alert(s) since the last report: "));
	assert_int_equal(count_str(l, "File too large"), 2);
	free(l);
	assert_int_equal(count_lines(f->path), 0);
}

/* A write cut off mid-line (the disk is full) never leaves a torn line behind. */
static void torn(struct fx *f, bool buffered)
{
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char *s;

	use_file(f, f->path, true);
	f->cfg.buffered_outputs = buffered;
	assert_int_equal(NEW(o), 0);
	/* "15:28:22.123456789: Error alert N\n" is 34 bytes for N < 10: room for 2 and a half. */
	limit_file_size(90);
	assert_int_equal(emit_n(o, 0, 6, SAKER_PRIO_ERROR), 6);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	limit_file_size(RLIM_INFINITY);
	assert_int_equal(emit_n(o, 6, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_shutdown(o, 5000), 0);
	saker_outputs_get_stats(o, &st);
	s = read_all(f->path);
	assert_string_equal(s, "15:28:22.123456789: Error alert 0\n"
			       "15:28:22.123456789: Error alert 1\n"
			       "15:28:22.123456789: Error alert 6\n");
	free(s);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 3);
	assert_int_equal(st.failed[SAKER_CH_FILE], 4);
	assert_int_equal(st.offered[SAKER_CH_FILE], 7);
	saker_outputs_free(o);
}

static void test_file_partial_write_no_torn_line(void **state)
{
	torn(*state, false);
}

static void test_file_partial_write_buffered(void **state)
{
	torn(*state, true);
}

static void test_file_unlinked_is_reopened(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char sub[160], path[200];

	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	snprintf(path, sizeof(path), "%s/events", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	use_file(f, path, true);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 2, SAKER_PRIO_ERROR), 2);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	/* Unlinked under our feet: the next alert goes to a new file of that name. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(emit_n(o, 2, 2, SAKER_PRIO_ERROR), 2);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	assert_int_equal(count_lines(path), 2);
	/* Its directory removed: failed until it is back. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(emit_n(o, 4, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(emit_n(o, 5, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	assert_int_equal(count_lines(path), 1);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 5);
	assert_int_equal(st.failed[SAKER_CH_FILE], 1);
	saker_outputs_free(o);
	char *l = log_text(f);
	assert_non_null(strstr(l, "Warning: outputs: "));
	assert_non_null(strstr(l, "was removed: reopening it"));
	free(l);
}

/* ---- queue ---- */

static void test_queue_full_and_pause(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct saker_alert a = {.time_ns = T0, .priority = SAKER_PRIO_ERROR, .output = "x"};

	use_file(f, f->path, false);
	f->cfg.outputs_queue_capacity = 2;
	assert_int_equal(NEW(o), 0);
	saker_outputs_test_pause(o, true);
	assert_int_equal(saker_outputs_emit(o, &a), 0);
	assert_int_equal(saker_outputs_emit(o, &a), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(saker_outputs_emit(o, &a), -ENOBUFS);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.emitted, 2);
	assert_int_equal(st.queue_drops, 3);
	assert_int_equal(st.queued, 2);
	/* A paused thread cannot drain: flush gives up in time. */
	assert_int_equal(saker_outputs_flush(o, 50), -ETIMEDOUT);
	saker_outputs_test_pause(o, false);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	assert_int_equal(count_lines(f->path), 2);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 2);
	saker_outputs_free(o);
}

static void test_free_counts_what_is_left(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	uint64_t t;
	char *l;

	use_file(f, f->path, false);
	assert_int_equal(NEW(o), 0);
	saker_outputs_test_pause(o, true);
	assert_int_equal(emit_n(o, 0, 3, SAKER_PRIO_ERROR), 3);
	t = now_ms();
	saker_outputs_free(o);
	assert_true(now_ms() - t < 1000);
	l = log_text(f);
	assert_non_null(strstr(l, "Error: outputs: file output: 3 alert(s) undelivered at exit"));
	free(l);
	assert_int_equal(count_lines(f->path), 0);
}

static void test_priority_filter(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;

	use_file(f, f->path, true);
	f->cfg.priority = SAKER_PRIO_WARNING;
	assert_int_equal(NEW(o), 0);
	for (int p = SAKER_PRIO_EMERGENCY; p <= SAKER_PRIO_DEBUG; p++)
		emit_n(o, p, 1, (enum saker_prio)p);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.filtered, 3); /* Notice, Informational, Debug */
	assert_int_equal(st.emitted, 5);
	assert_int_equal(count_lines(f->path), 5);
	saker_outputs_free(o);
	char *s = read_all(f->path);
	assert_non_null(strstr(s, "Warning alert 4"));
	assert_null(strstr(s, "Notice"));
	free(s);
}

/* ---- reconfigure ---- */

static void test_reconfigure_keeps_queued(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char *s;

	use_file(f, f->path, true);
	assert_int_equal(NEW(o), 0);
	saker_outputs_test_pause(o, true);
	assert_int_equal(emit_n(o, 0, 5, SAKER_PRIO_ERROR), 5);

	/* An invalid configuration is refused and changes nothing. */
	f->cfg.file_output.filename = "/nonexistent-dir-saker/x.txt";
	assert_int_equal(saker_outputs_reconfigure(o, &f->cfg, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "/nonexistent-dir-saker"));

	f->cfg.file_output.filename = f->path2;
	f->cfg.json_output = true;
	assert_int_equal(saker_outputs_reconfigure(o, &f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(emit_n(o, 5, 5, SAKER_PRIO_ERROR), 5);
	saker_outputs_test_pause(o, false);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 10);
	saker_outputs_free(o);
	/*
	 * The new settings apply to what was still queued too; each alert keeps
	 * the shape it was formatted in when emitted.
	 */
	assert_int_equal(count_lines(f->path), 0);
	assert_int_equal(count_lines(f->path2), 10);
	s = read_all(f->path2);
	assert_true(strncmp(s, "15:28:22.123456789: Error alert 0\n", 34) == 0);
	assert_non_null(strstr(s, "{\"hostname\":\"testhost\",\"output\":\"alert 5\""));
	free(s);
}

/* ---- stdout and syslog ---- */

static void test_stdout_and_syslog(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	int saved, fd;

	f->cfg.stdout_output.enabled = true;
	f->cfg.syslog_output.enabled = true;
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 3, SAKER_PRIO_ERROR), 3);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	/* Unbuffered: on disk already, although stdout is a file. */
	int lines = count_lines(f->path);
	saker_outputs_get_stats(o, &st);
	saker_outputs_free(o);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_int_equal(lines, 3);
	assert_int_equal(st.delivered[SAKER_CH_STDOUT], 3);
	assert_int_equal(st.delivered[SAKER_CH_SYSLOG], 3);
}

/* ---- program ---- */

static void test_program_records_stdin(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char cmd[512], pwned[160];
	char *s;

	snprintf(cmd, sizeof(cmd), "echo started >> %s/starts; exec cat >> %s", f->dir, f->path);
	snprintf(pwned, sizeof(pwned), "%s/pwned", f->dir);
	f->cfg.program_output.enabled = true;
	f->cfg.program_output.keep_alive = true;
	f->cfg.program_output.program = cmd;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 50, SAKER_PRIO_ERROR), 50);

	/* Alert text reaches stdin only, never a shell. */
	char evil[600];
	snprintf(evil, sizeof(evil), "$(touch %s) `touch %s`; touch %s '\"", pwned, pwned, pwned);
	struct saker_alert a = {.time_ns = T0, .priority = SAKER_PRIO_ERROR, .output = evil};
	assert_int_equal(saker_outputs_emit(o, &a), 0);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	/* SIGUSR1 restarts the program. */
	assert_int_equal(saker_outputs_reopen(o), 0);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	assert_int_equal(emit_n(o, 50, 50, SAKER_PRIO_ERROR), 50);
	assert_int_equal(saker_outputs_flush(o, 5000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_PROGRAM], 101);
	assert_int_equal(st.failed[SAKER_CH_PROGRAM], 0);
	/* Closing stdin lets cat finish; free waits for it. */
	saker_outputs_free(o);
	assert_int_equal(count_lines(f->path), 101);
	snprintf(cmd, sizeof(cmd), "%s/starts", f->dir);
	assert_int_equal(count_lines(cmd), 2);
	assert_int_not_equal(access(pwned, F_OK), 0);
	s = read_all(f->path);
	assert_non_null(strstr(s, evil));
	free(s);
}

static void test_program_one_per_alert(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char cmd[512], starts[160];

	snprintf(starts, sizeof(starts), "%s/starts", f->dir);
	snprintf(cmd, sizeof(cmd), "echo x >> %s; cat >> %s", starts, f->path);
	f->cfg.program_output.enabled = true;
	f->cfg.program_output.keep_alive = false;
	f->cfg.program_output.program = cmd;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 5, SAKER_PRIO_ERROR), 5);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_PROGRAM], 5);
	/* Each program has exited before the next alert: all written already. */
	assert_int_equal(count_lines(f->path), 5);
	assert_int_equal(count_lines(starts), 5);
	saker_outputs_free(o);
}

static void test_program_that_does_not_read(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	uint64_t t;

	/* Never reads: the pipe fills, the thread is stuck, the queue fills. */
	f->cfg.program_output.enabled = true;
	f->cfg.program_output.keep_alive = true;
	f->cfg.program_output.program = "sleep 30";
	f->cfg.outputs_queue_capacity = 4;
	assert_int_equal(NEW(o), 0);
	static char big[16384];
	memset(big, 'b', sizeof(big) - 1);
	struct saker_alert a = {.time_ns = T0, .priority = SAKER_PRIO_ERROR, .output = big};
	int drops = 0;
	t = now_ms();
	for (int i = 0; i < 40; i++)
		drops += saker_outputs_emit(o, &a) == -ENOBUFS;
	assert_true(now_ms() - t < 1000); /* emit never waited */
	assert_true(drops > 0);
	assert_int_equal(saker_outputs_flush(o, 100), -ETIMEDOUT);
	/* After a timed-out flush, free gives up at once and kills the program. */
	t = now_ms();
	saker_outputs_free(o);
	assert_true(now_ms() - t < 3000);
}

/* A program that exits without reading fails its alerts: kept alive or one per alert. */
static void program_true(struct fx *f, bool keep_alive)
{
	struct saker_outputs *o;
	struct saker_outputs_stats st;

	f->cfg.program_output.enabled = true;
	f->cfg.program_output.keep_alive = keep_alive;
	f->cfg.program_output.program = "true";
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 4, SAKER_PRIO_ERROR), 4);
	assert_int_equal(saker_outputs_shutdown(o, 20000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_PROGRAM], 0);
	assert_int_equal(st.failed[SAKER_CH_PROGRAM], 4);
	assert_int_equal(st.offered[SAKER_CH_PROGRAM], 4);
	saker_outputs_free(o);
	char *l = log_text(f);
	assert_non_null(strstr(l, "without reading its input"));
	free(l);
}

static void test_program_true_keep_alive_fails(void **state)
{
	program_true(*state, true);
}

static void test_program_true_per_alert_fails(void **state)
{
	program_true(*state, false);
}

static void test_program_exit_status_checked(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;

	/* Reads its line, then fails. */
	f->cfg.program_output.enabled = true;
	f->cfg.program_output.program = "read l; exit 3";
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 2, SAKER_PRIO_ERROR), 2);
	assert_int_equal(saker_outputs_shutdown(o, 20000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.failed[SAKER_CH_PROGRAM], 2);
	saker_outputs_free(o);
	char *l = log_text(f);
	assert_non_null(strstr(l, "program exited with status 3"));
	free(l);
}

/* The program runs as program_output.user, never as root by default. */
static void test_program_runs_as_user(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	char sub[160], cmd[512], ids[200];
	char *s;

	/* A directory nobody may write to, inside ours (made traversable). */
	snprintf(sub, sizeof(sub), "%s/pub", f->dir);
	snprintf(ids, sizeof(ids), "%s/ids", sub);
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	snprintf(cmd, sizeof(cmd), "read l; echo $(id -u) $(id -g) $(id -G) > %s", ids);
	f->cfg.program_output.enabled = true;
	f->cfg.program_output.program = cmd;
	f->cfg.program_output.user = NULL; /* the default */
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_shutdown(o, 20000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_PROGRAM], 1);
	saker_outputs_free(o);
	s = read_all(ids);
	assert_string_equal(s, "65534 65534 65534\n");
	free(s);
}

/* ---- HTTP ---- */

struct srv {
	struct MHD_Daemon *d;
	uint16_t port;
	unsigned status;
	int delay_ms;
	pthread_mutex_t m;
	int requests;
	char *last_body;
	size_t last_len;
	char ctype[128];
	char cenc[64];
	char ua[64];
};

struct upload {
	char *buf;
	size_t len;
};

static enum MHD_Result srv_handler(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct srv *s = cls;
	struct upload *u = *con_cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *h;

	(void)url;
	(void)method;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		char *p = realloc(u->buf, u->len + *upload_data_size);

		if (!p)
			return MHD_NO;
		u->buf = p;
		memcpy(u->buf + u->len, upload_data, *upload_data_size);
		u->len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->m);
	s->requests++;
	free(s->last_body);
	s->last_body = malloc(u->len + 1);
	if (s->last_body) {
		memcpy(s->last_body, u->buf, u->len);
		s->last_body[u->len] = '\0';
	}
	s->last_len = u->len;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	snprintf(s->ctype, sizeof(s->ctype), "%s", h ? h : "");
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	snprintf(s->cenc, sizeof(s->cenc), "%s", h ? h : "");
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
	snprintf(s->ua, sizeof(s->ua), "%s", h ? h : "");
	pthread_mutex_unlock(&s->m);
	if (s->delay_ms)
		usleep((useconds_t)s->delay_ms * 1000);
	r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, s->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void srv_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

static void srv_start(struct srv *s, unsigned status, int delay_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	const union MHD_DaemonInfo *info;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->m, NULL);
	s->status = status;
	s->delay_ms = delay_ms;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
				NULL, NULL, srv_handler, s, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, srv_completed, NULL, MHD_OPTION_END);
	assert_non_null(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	s->port = info->port;
	assert_true(s->port > 0);
}

static void srv_stop(struct srv *s)
{
	MHD_stop_daemon(s->d);
	free(s->last_body);
	pthread_mutex_destroy(&s->m);
}

static int srv_requests(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->m);
	n = s->requests;
	pthread_mutex_unlock(&s->m);
	return n;
}

static void use_http(struct fx *f, char *url, size_t len, uint16_t port)
{
	snprintf(url, len, "http://127.0.0.1:%u/alerts", port);
	f->cfg.http_output.enabled = true;
	f->cfg.http_output.url = url;
}

static void test_http_json(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv s;
	char url[128];

	srv_start(&s, 200, 0);
	use_http(f, url, sizeof(url), s.port);
	f->cfg.json_output = true;
	f->cfg.http_output.keep_alive = true;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 3, SAKER_PRIO_ERROR), 3);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 3);
	assert_int_equal(st.failed[SAKER_CH_HTTP], 0);
	assert_int_equal(srv_requests(&s), 3);
	assert_string_equal(s.ctype, "application/json");
	assert_string_equal(s.ua, "saker-test");
	/* The body is the alert without a newline. */
	assert_string_equal(
	    s.last_body, "{\"hostname\":\"testhost\",\"output\":\"alert 2\",\"output_fields\":{},"
			 "\"priority\":\"Error\",\"rule\":\"r\",\"source\":\"syscall\",\"tags\":[],"
			 "\"time\":\"2019-03-27T15:28:22.123456789Z\"}");
	saker_outputs_free(o);
	srv_stop(&s);
}

static void test_http_text_gzip(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct srv s;
	char url[128], plain[256];
	uLongf plain_len = sizeof(plain) - 1;
	z_stream zs = {0};

	srv_start(&s, 200, 0);
	use_http(f, url, sizeof(url), s.port);
	f->cfg.http_output.compress_uploads = true;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 7, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_free(o);
	assert_int_equal(srv_requests(&s), 1);
	assert_true(strncmp(s.ctype, "text/plain", 10) == 0);
	assert_string_equal(s.cenc, "gzip");
	/* 15 + 32: zlib or gzip header, detected. */
	assert_int_equal(inflateInit2(&zs, 15 + 32), Z_OK);
	zs.next_in = (Bytef *)s.last_body;
	zs.avail_in = (uInt)s.last_len;
	zs.next_out = (Bytef *)plain;
	zs.avail_out = (uInt)plain_len;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	plain[zs.total_out] = '\0';
	inflateEnd(&zs);
	assert_string_equal(plain, "15:28:22.123456789: Error alert 7");
	srv_stop(&s);
}

static void test_http_failing_server(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv s;
	char url[128];
	char *l;

	srv_start(&s, 500, 0);
	use_http(f, url, sizeof(url), s.port);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.failed[SAKER_CH_HTTP], 1);
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 0);
	/* First try plus three retries. */
	assert_int_equal(srv_requests(&s), 4);
	l = log_text(f);
	assert_non_null(strstr(l, "http output could not deliver 1 alert(s)"));
	assert_non_null(strstr(l, "answered HTTP 500"));
	free(l);
	saker_outputs_free(o);
	srv_stop(&s);

	/* A 4xx is not worth retrying. */
	srv_start(&s, 404, 0);
	use_http(f, url, sizeof(url), s.port);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 1, SAKER_PRIO_ERROR), 1);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.failed[SAKER_CH_HTTP], 1);
	assert_int_equal(srv_requests(&s), 1);
	saker_outputs_free(o);
	srv_stop(&s);
}

static void test_http_down_server(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	char url[128];
	int fd;

	/* A loopback port that was free a moment ago and has no listener. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	use_http(f, url, sizeof(url), ntohs(sa.sin_port));
	f->cfg.file_output.enabled = true;
	f->cfg.file_output.filename = f->path;
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 2, SAKER_PRIO_ERROR), 2);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.failed[SAKER_CH_HTTP], 2);
	/* One channel failing does not stop the others. */
	assert_int_equal(st.delivered[SAKER_CH_FILE], 2);
	saker_outputs_free(o);
}

static void test_http_slow_server_does_not_block_emit(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv s;
	char url[128];
	uint64_t t;

	srv_start(&s, 200, 400);
	use_http(f, url, sizeof(url), s.port);
	assert_int_equal(NEW(o), 0);
	t = now_ms();
	assert_int_equal(emit_n(o, 0, 3, SAKER_PRIO_ERROR), 3);
	assert_true(now_ms() - t < 200);
	assert_true(srv_requests(&s) <= 1);
	assert_int_equal(saker_outputs_flush(o, 10000), 0);
	assert_true(now_ms() - t >= 1200);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 3);
	saker_outputs_free(o);
	srv_stop(&s);

	/* Stuck on a slower one at shutdown: a timed-out flush makes free quick. */
	srv_start(&s, 200, 2500);
	use_http(f, url, sizeof(url), s.port);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 4, SAKER_PRIO_ERROR), 4);
	assert_int_equal(saker_outputs_flush(o, 100), -ETIMEDOUT);
	t = now_ms();
	saker_outputs_free(o);
	assert_true(now_ms() - t < 2000);
	srv_stop(&s);
}

/* ---- one worker per channel ---- */

static void test_slow_channel_delays_only_itself(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv s;
	char url[128];
	uint64_t t;

	srv_start(&s, 200, 3000);
	use_http(f, url, sizeof(url), s.port);
	use_file(f, f->path, true);
	f->cfg.outputs_queue_capacity = 3;
	assert_int_equal(NEW(o), 0);
	t = now_ms();
	/* HTTP: 1 in flight, 3 queued, 6 lost; the file keeps up (an alert every 20 ms). */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(emit_n(o, i, 1, SAKER_PRIO_ERROR), 1);
		usleep(20000);
	}
	for (int i = 0; i < 200 && count_lines(f->path) < 10; i++)
		usleep(10000);
	assert_int_equal(count_lines(f->path), 10);
	assert_true(now_ms() - t < 2500);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 10);
	assert_int_equal(st.lost[SAKER_CH_FILE], 0);
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 0);
	assert_int_equal(st.emitted, 10);
	assert_int_equal(st.queue_drops, 0);
	assert_int_equal(st.lost[SAKER_CH_HTTP], 6);
	assert_int_equal(st.lost[SAKER_CH_HTTP] + st.pending[SAKER_CH_HTTP], 10);
	/* Reported at once, with the count, not only at exit. */
	char *l = log_text(f);
	assert_non_null(strstr(l, "Error: outputs: http queue full: 1 alert(s) lost since the last "
				  "report"));
	assert_int_equal(count_str(l, "http queue full"), 1);
	free(l);
	/* Throttled: the next report (a second later) carries what was lost in between. */
	while (now_ms() - t < 1400)
		usleep(10000);
	assert_int_equal(emit_n(o, 10, 1, SAKER_PRIO_ERROR), 1);
	l = log_text(f);
	assert_non_null(strstr(l, "http queue full: 6 alert(s) lost since the last report"));
	assert_int_equal(count_str(l, "http queue full"), 2);
	free(l);
	/* Shutdown within its budget: the post in flight is cut short, the rest counted. */
	t = now_ms();
	assert_int_equal(saker_outputs_shutdown(o, 2000), -ETIMEDOUT);
	assert_true(now_ms() - t < 2600);
	saker_outputs_get_stats(o, &st);
	assert_true(st.final);
	assert_int_equal(st.offered[SAKER_CH_HTTP], 11);
	assert_int_equal(st.lost[SAKER_CH_HTTP], 7);
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 0);
	assert_int_equal(st.undelivered[SAKER_CH_HTTP], 4);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 11);
	assert_int_equal(st.undelivered_alerts, 4);
	saker_outputs_free(o);
	srv_stop(&s);
}

static void test_reload_disabling_http_drops_its_queue(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv s;
	char url[128];
	uint64_t t;

	srv_start(&s, 200, 3000);
	use_http(f, url, sizeof(url), s.port);
	use_file(f, f->path, true);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 5, SAKER_PRIO_ERROR), 5);
	for (int i = 0; i < 200 && srv_requests(&s) < 1; i++)
		usleep(10000);
	assert_int_equal(srv_requests(&s), 1);
	t = now_ms();
	f->cfg.http_output.enabled = false;
	assert_int_equal(saker_outputs_reconfigure(o, &f->cfg, f->err, sizeof(f->err)), 0);
	/* The post in flight is cut short and nothing queued waits for it. */
	assert_int_equal(saker_outputs_flush(o, 2000), 0);
	assert_true(now_ms() - t < 2000);
	saker_outputs_get_stats(o, &st);
	assert_false(st.enabled[SAKER_CH_HTTP]);
	assert_int_equal(st.dropped_reload[SAKER_CH_HTTP], 5);
	assert_int_equal(st.pending[SAKER_CH_HTTP], 0);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 5);
	assert_int_equal(emit_n(o, 5, 2, SAKER_PRIO_ERROR), 2);
	assert_int_equal(saker_outputs_shutdown(o, 5000), 0);
	saker_outputs_get_stats(o, &st);
	assert_int_equal(st.offered[SAKER_CH_HTTP], 5);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 7);
	char *l = log_text(f);
	assert_non_null(strstr(l, "http output disabled by reload"));
	free(l);
	saker_outputs_free(o);
	assert_int_equal(srv_requests(&s), 1);
	srv_stop(&s);
}

static void test_reload_changing_http_redirects_its_queue(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	struct srv slow, fast;
	char url[128], url2[128];

	srv_start(&slow, 200, 3000);
	srv_start(&fast, 200, 0);
	use_http(f, url, sizeof(url), slow.port);
	assert_int_equal(NEW(o), 0);
	assert_int_equal(emit_n(o, 0, 4, SAKER_PRIO_ERROR), 4);
	for (int i = 0; i < 200 && srv_requests(&slow) < 1; i++)
		usleep(10000);
	use_http(f, url2, sizeof(url2), fast.port);
	assert_int_equal(saker_outputs_reconfigure(o, &f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(saker_outputs_flush(o, 2500), 0);
	saker_outputs_get_stats(o, &st);
	/* The cut-short alert is redone with the new URL, with the queued ones. */
	assert_int_equal(st.delivered[SAKER_CH_HTTP], 4);
	assert_int_equal(srv_requests(&fast), 4);
	assert_int_equal(srv_requests(&slow), 1);
	saker_outputs_free(o);
	srv_stop(&slow);
	srv_stop(&fast);
}

/* stdout into a pipe nobody reads: shutdown still ends in time, every alert in one bucket. */
static void test_shutdown_bounded_with_stuck_stdout(void **state)
{
	struct fx *f = *state;
	struct saker_outputs *o;
	struct saker_outputs_stats st;
	static char big[8192];
	struct saker_alert a = {.time_ns = T0, .priority = SAKER_PRIO_ERROR, .output = big};
	int pfd[2], saved;
	uint64_t t;
	int rc;

	memset(big, 's', sizeof(big) - 1);
	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(pfd[1], STDOUT_FILENO);
	f->cfg.stdout_output.enabled = true;
	use_file(f, f->path, true);
	assert_int_equal(NEW(o), 0);
	/* 64 KiB of pipe: the 9th alert blocks the stdout worker in write(2). */
	for (int i = 0; i < 20; i++)
		assert_int_equal(saker_outputs_emit(o, &a), 0);
	for (int i = 0; i < 200 && count_lines(f->path) < 20; i++)
		usleep(10000);
	assert_int_equal(count_lines(f->path), 20);
	t = now_ms();
	rc = saker_outputs_shutdown(o, 1500);
	t = now_ms() - t;
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(t < 2000);
	saker_outputs_get_stats(o, &st);
	assert_true(st.final);
	assert_int_equal(st.offered[SAKER_CH_STDOUT], 20);
	/* What 64 KiB of pipe pages hold of 8 KiB lines; the one cut short is undelivered. */
	assert_true(st.delivered[SAKER_CH_STDOUT] >= 4 && st.delivered[SAKER_CH_STDOUT] <= 8);
	assert_int_equal(st.delivered[SAKER_CH_STDOUT] + st.undelivered[SAKER_CH_STDOUT], 20);
	assert_int_equal(st.pending[SAKER_CH_STDOUT], 0);
	assert_int_equal(st.delivered[SAKER_CH_FILE], 20);
	assert_int_equal(st.undelivered_alerts, 20 - st.delivered[SAKER_CH_STDOUT]);
	assert_int_equal(st.queued, 0);
	char *l = log_text(f);
	assert_non_null(strstr(l, "stdout output: "));
	assert_non_null(strstr(l, "undelivered at exit"));
	free(l);
	saker_outputs_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_rejects_bad_channels, setup, teardown),
	    cmocka_unit_test(test_channel_table),
	    cmocka_unit_test_setup_teardown(test_file_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_open_per_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_buffered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_reopen_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_reopen_per_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_failures_counted_and_throttled, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_file_partial_write_no_torn_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_partial_write_buffered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_unlinked_is_reopened, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full_and_pause, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_counts_what_is_left, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_priority_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconfigure_keeps_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stdout_and_syslog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_records_stdin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_one_per_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_that_does_not_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_true_keep_alive_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_true_per_alert_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_exit_status_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_program_runs_as_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_text_gzip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_failing_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_down_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_slow_server_does_not_block_emit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_slow_channel_delays_only_itself, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_disabling_http_drops_its_queue, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reload_changing_http_redirects_its_queue, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_bounded_with_stuck_stdout, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
