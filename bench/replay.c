/*
 * User-space cost per event, on one core, without the kernel: synthetic ring
 * records (an open/close loop of one known process, as the flood helper
 * makes them, plus a getppid) replayed through saker's own pipeline
 * (app/pipeline.h, the capture callback), reporting ns of CPU per event for
 *   decode        saker_event_parse only
 *   state         the pipeline without --dump: decode + state apply
 *   dump-text     the pipeline with the text dump into the sink, on /dev/null
 *   dump-json     the same with json_output
 *
 *   replay [EVENTS [MODE]]        (default 2000000, every mode)
 *
 * Timestamps advance 250 ns per event (4 M events/s, a saturating flood).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/pipeline.h"
#include "event/event.h"
#include "outputs/dump.h"
#include "state/view.h"
#include "../tests/unit/evbuild.h"

#define NREC 4

struct rec {
	uint8_t buf[512];
	size_t len;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void save(struct rec *r, struct evb *b)
{
	evb_end(b);
	memcpy(r->buf, b->buf, b->len);
	r->len = b->len;
}

static void set_ts(struct rec *r, uint64_t ts)
{
	memcpy(r->buf, &ts, sizeof(ts));
}

/* The process every record comes from, known to the view as after an exec. */
static void seed(struct saker_view *v, struct evb *b)
{
	static const char *const argv[] = {"flood", "openat", "1000000", "3", NULL};
	struct saker_event ev;

	evb_begin(b, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, 4242, 4242, 0, 1);
	evb_str(b, SAKER_PN_EXE, "/work/build/helpers/flood");
	evb_strlist(b, SAKER_PN_ARGS, argv);
	evb_str(b, SAKER_PN_CWD, "/work");
	evb_str(b, SAKER_PN_COMM, "flood");
	evb_u64(b, SAKER_PN_PPID, 1);
	evb_u64(b, SAKER_PN_UID, 0);
	evb_u64(b, SAKER_PN_GID, 0);
	evb_end(b);
	if (saker_event_parse(&ev, b->buf, b->len) || saker_view_apply(v, &ev)) {
		fprintf(stderr, "replay: cannot seed the view\n");
		exit(1);
	}
}

static void build(struct rec *r, struct evb *b)
{
	evb_sc(b, "openat", 4242, 4242, 3, 0);
	evb_s64(b, SAKER_PN_DIRFD, -100);
	evb_str(b, SAKER_PN_PATH, "/etc/hostname");
	evb_u64(b, SAKER_PN_FLAGS, 0);
	evb_u64(b, SAKER_PN_MODE, 0);
	save(&r[0], b);
	evb_sc(b, "close", 4242, 4242, 0, 0);
	evb_s64(b, SAKER_PN_FD, 3);
	save(&r[1], b);
	evb_sc(b, "openat", 4242, 4242, -2, 0);
	evb_s64(b, SAKER_PN_DIRFD, -100);
	evb_str(b, SAKER_PN_PATH, "nonexistent/saker-flood");
	evb_u64(b, SAKER_PN_FLAGS, 0);
	evb_u64(b, SAKER_PN_MODE, 0);
	save(&r[2], b);
	evb_sc(b, "getppid", 4242, 4243, 1, 0);
	save(&r[3], b);
}

enum mode { M_DECODE, M_STATE, M_TEXT, M_JSON };

static double run(enum mode m, unsigned long n, struct rec *r, int null_fd)
{
	struct saker_view *v;
	struct saker_dump d;
	struct saker_dump_sink sink;
	struct saker_pipeline p;
	struct evb *b = calloc(1, sizeof(*b));
	uint64_t t0, t1, ts = 1000000000ull * 3600;
	unsigned long bad = 0;

	if (!b || saker_view_new(&v, 0, "/nonexistent") || saker_dump_sink_open(&sink, null_fd, 0)) {
		fprintf(stderr, "replay: out of memory\n");
		exit(1);
	}
	seed(v, b);
	saker_dump_init(&d, m == M_JSON, false, 0, v);
	saker_pipeline_init(&p, v, m >= M_TEXT ? &d : NULL, m >= M_TEXT ? &sink : NULL);
	t0 = cpu_ns();
	for (unsigned long i = 0; i < n; i++) {
		struct rec *x = &r[i % NREC];
		struct saker_event ev;

		ts += 250;
		set_ts(x, ts);
		if (m == M_DECODE) {
			bad += saker_event_parse(&ev, x->buf, x->len) != 0;
			continue;
		}
		bad += saker_pipeline_record(&p, (const void *)x->buf, x->len) != 0;
		/* The loop flushes after each drain chunk of 2048 records. */
		if (i % 2048 == 2047)
			(void)saker_pipeline_flush(&p);
	}
	(void)saker_pipeline_flush(&p);
	t1 = cpu_ns();
	if (m >= M_TEXT && (sink.lines_lost || sink.lines_written != n)) {
		fprintf(stderr, "replay: %llu lines lost\n", (unsigned long long)sink.lines_lost);
		exit(1);
	}
	saker_dump_sink_close(&sink);
	saker_dump_fini(&d);
	saker_view_free(v);
	free(b);
	if (bad) {
		fprintf(stderr, "replay: %lu records rejected\n", bad);
		exit(1);
	}
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"decode", "state", "dump-text", "dump-json"};
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000000;
	const char *only = argc > 2 ? argv[2] : NULL;
	struct rec r[NREC];
	struct evb *b = calloc(1, sizeof(*b));
	int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (!b || null_fd < 0 || n == 0) {
		fprintf(stderr, "usage: replay [EVENTS [decode|state|dump-text|dump-json]]\n");
		return 2;
	}
	build(r, b);
	free(b);
	for (int m = M_DECODE; m <= M_JSON; m++)
		if (!only || !strcmp(only, names[m]))
			printf("%-10s %8.1f ns/event\n", names[m], run((enum mode)m, n, r, null_fd));
	close(null_fd);
	return 0;
}
