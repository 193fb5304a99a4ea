/*
 * Per-channel queues and workers.
 *
 * Ownership: the emitting thread (the event loop) calls emit / reopen /
 * reconfigure / flush / shutdown and owns the formatting settings. Each
 * channel has a lock, a ring of pointers to shared, reference-counted
 * formatted lines, its requests (reopen, new settings, flush, stop) and its
 * counters; its worker thread owns the channel's resources (fd, program,
 * curl handle, write buffer). No I/O is done under a lock, so emit waits
 * only for a few pointer moves per channel.
 */
#include "outputs/outputs.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/safefile.h"
#include "outputs/output_format.h"
#include "outputs/output_http.h"
#include "outputs/output_program.h"

#define NS_PER_S 1000000000ULL
/* At most one delivery failure report per channel this often. */
#define FAIL_LOG_INTERVAL_NS (10ULL * NS_PER_S)
/* At most one queue loss report per channel this often. */
#define LOSS_LOG_INTERVAL_NS NS_PER_S
/* A per-alert program (keep_alive false) gets this long to exit after its line. */
#define PROGRAM_ONESHOT_EXIT_MS 5000
/* buffered_outputs: bytes held before a write, as stdio did on a pipe. */
#define WRITE_BUF_BYTES 4096
/* Shutdown: the last part of the budget is for cutting short and stopping. */
#define SHUTDOWN_CUT_MS 1000
/* How often a stuck worker is signalled while shutdown waits for it. */
#define KICK_MS 20

struct out_item {
	atomic_uint refs;
	atomic_bool missed_exit; /* some channel counted it undelivered */
	enum saker_prio prio;
	size_t len; /* with the trailing newline */
	char line[];
};

/* One channel's settings, built by the emitting thread, handed to the worker. */
struct chan_cfg {
	bool enabled;
	bool buffered;	 /* stdout, file */
	bool keep_alive; /* file, program */
	char *path;	 /* file: filename; program: command */
	char *user;	 /* program */
	struct saker_http_cfg http;
};

struct tally {
	unsigned delivered, failed, undelivered;
};

struct throttle {
	uint64_t last_ns;
	uint64_t unreported;
	bool once;
	char why[256]; /* the reason of the last failure held back (failures only) */
};

struct chan {
	struct saker_outputs *o;
	enum saker_channel id;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* to the worker */
	pthread_cond_t idle; /* from it: progress, idle, exit */
	pthread_t thread;
	bool started;
	bool done;   /* the worker has exited */
	bool leaked; /* the worker could not be stopped: left behind at exit */

	/* Under lock. */
	struct out_item **ring;
	size_t slots, cap, head, count;
	bool enabled; /* accepting alerts */
	bool busy;    /* the worker is working outside the lock */
	bool stop;    /* finish what is queued, then exit */
	bool paused;
	bool reopen_req;
	struct chan_cfg *next; /* new settings for the worker */
	uint64_t flush_req, flush_done;
	bool final; /* shutdown did the final count: the worker counts nothing more */
	uint64_t offered, delivered, failed, lost, dropped_reload, undelivered;
	uint64_t inflight; /* taken from the ring, not yet counted (incl. the write buffer) */
	struct throttle loss;
	atomic_bool abort; /* cut the current delivery short (reload or shutdown) */

	/* Emitting thread only: the settings last handed over, to compare. */
	struct chan_cfg latest;

	/* Worker only (or before it starts / after it ended). */
	struct chan_cfg cur;
	int fd;	   /* file channel; stdout uses STDOUT_FILENO */
	bool torn; /* a partial line was left: the next write starts a new line */
	char *buf; /* buffered_outputs */
	size_t buf_len;
	unsigned buf_lines;
	struct saker_program prog;
	bool prog_inited;
	struct saker_http *http;
	struct throttle fail;
};

struct saker_outputs {
	saker_report_fn log;
	void *log_ctx;
	char hostname[256];

	/* Formatting and filtering: emitting thread only. */
	enum saker_prio min_prio;
	bool json;
	bool include_output;
	bool include_tags;
	bool iso8601;

	atomic_bool closing;
	bool shut;
	bool flush_timed_out;
	atomic_uint_fast64_t emitted, filtered, queue_drops, live, undelivered_alerts;
	struct chan ch[SAKER_CH_MAX];
	struct saker_nats *nats; /* nats_output; SAKER_CH_NATS's queue channel stays disabled */
};

static const char *const channel_names[SAKER_CH_MAX] = {
    [SAKER_CH_STDOUT] = "stdout",   [SAKER_CH_FILE] = "file", [SAKER_CH_SYSLOG] = "syslog",
    [SAKER_CH_PROGRAM] = "program", [SAKER_CH_HTTP] = "http", [SAKER_CH_NATS] = "nats",
};

const char *saker_channel_name(enum saker_channel ch)
{
	if ((unsigned)ch >= SAKER_CH_MAX)
		return "unknown";
	return channel_names[ch];
}

static struct timespec ts_at(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S),
				 .tv_nsec = (long)(ns % NS_PER_S)};
}

static bool nonempty(const char *s)
{
	return s && *s;
}

static void report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct saker_outputs *o, enum saker_prio prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, prio, msg);
}

/* ---- items ---- */

static void item_put(struct saker_outputs *o, struct out_item *it)
{
	if (!it || atomic_fetch_sub(&it->refs, 1) != 1)
		return;
	if (atomic_load(&it->missed_exit))
		atomic_fetch_add(&o->undelivered_alerts, 1);
	atomic_fetch_sub(&o->live, 1);
	free(it);
}

/* ---- settings ---- */

static void chan_cfg_free(struct chan_cfg *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->user);
	saker_http_cfg_free(&c->http);
	memset(c, 0, sizeof(*c));
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool http_cfg_eq(const struct saker_http_cfg *a, const struct saker_http_cfg *b)
{
	return str_eq(a->url, b->url) && str_eq(a->user_agent, b->user_agent) &&
	       a->insecure == b->insecure && str_eq(a->ca_cert, b->ca_cert) &&
	       str_eq(a->ca_bundle, b->ca_bundle) && str_eq(a->ca_path, b->ca_path) &&
	       a->mtls == b->mtls && str_eq(a->client_cert, b->client_cert) &&
	       str_eq(a->client_key, b->client_key) && a->echo == b->echo &&
	       a->compress_uploads == b->compress_uploads && a->keep_alive == b->keep_alive &&
	       a->json == b->json && a->timeout_ms == b->timeout_ms && a->retries == b->retries &&
	       a->backoff_ms == b->backoff_ms;
}

static bool chan_cfg_eq(const struct chan_cfg *a, const struct chan_cfg *b)
{
	return a->enabled == b->enabled && a->buffered == b->buffered &&
	       a->keep_alive == b->keep_alive && str_eq(a->path, b->path) &&
	       str_eq(a->user, b->user) && http_cfg_eq(&a->http, &b->http);
}

static int chan_cfg_copy(struct chan_cfg *dst, const struct chan_cfg *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->enabled = src->enabled;
	dst->buffered = src->buffered;
	dst->keep_alive = src->keep_alive;
	dst->path = src->path ? strdup(src->path) : NULL;
	dst->user = src->user ? strdup(src->user) : NULL;
	if ((src->path && !dst->path) || (src->user && !dst->user) ||
	    saker_http_cfg_copy(&dst->http, &src->http) < 0) {
		free(dst->path);
		free(dst->user);
		memset(dst, 0, sizeof(*dst));
		return -ENOMEM;
	}
	return 0;
}

/*
 * Checks and copies the channel part of cfg into c[SAKER_CH_MAX]; the file
 * is opened (safely) and the program's user looked up now, so a bad setting
 * is refused at startup or reload rather than at the first alert.
 */
static int cfgs_build(struct chan_cfg c[SAKER_CH_MAX], const struct saker_config *cfg, char *err,
		      size_t errlen)
{
	const struct saker_http_cfg h = {
	    .url = cfg->http_output.url,
	    .user_agent = cfg->http_output.user_agent,
	    .insecure = cfg->http_output.insecure,
	    .ca_cert = cfg->http_output.ca_cert,
	    .ca_bundle = cfg->http_output.ca_bundle,
	    .ca_path = cfg->http_output.ca_path,
	    .mtls = cfg->http_output.mtls,
	    .client_cert = cfg->http_output.client_cert,
	    .client_key = cfg->http_output.client_key,
	    .echo = cfg->http_output.echo,
	    .compress_uploads = cfg->http_output.compress_uploads,
	    .keep_alive = cfg->http_output.keep_alive,
	    .json = cfg->json_output,
	    .retries = -1,
	};
	bool any = false;
	int rc = -EINVAL;

	memset(c, 0, sizeof(*c) * SAKER_CH_MAX);
	c[SAKER_CH_STDOUT].enabled = cfg->stdout_output.enabled;
	c[SAKER_CH_STDOUT].buffered = cfg->buffered_outputs;
	c[SAKER_CH_FILE].enabled = cfg->file_output.enabled;
	c[SAKER_CH_SYSLOG].enabled = cfg->syslog_output.enabled;
	c[SAKER_CH_PROGRAM].enabled = cfg->program_output.enabled;
	c[SAKER_CH_HTTP].enabled = cfg->http_output.enabled;
	for (int i = 0; i < SAKER_CH_MAX; i++)
		any |= c[i].enabled;
	any |= cfg->nats_output.enabled;
	if (!any) {
		snprintf(err, errlen, "no output channel is enabled");
		goto fail;
	}
	if (c[SAKER_CH_FILE].enabled) {
		const char *name = cfg->file_output.filename;
		int fd;

		if (!nonempty(name)) {
			snprintf(err, errlen, "file_output needs a filename");
			goto fail;
		}
		fd = saker_safefile_open_append(name, err, errlen);
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		close(fd);
		c[SAKER_CH_FILE].keep_alive = cfg->file_output.keep_alive;
		c[SAKER_CH_FILE].buffered = cfg->buffered_outputs && cfg->file_output.keep_alive;
		c[SAKER_CH_FILE].path = strdup(name);
		if (!c[SAKER_CH_FILE].path)
			goto nomem;
	}
	if (c[SAKER_CH_PROGRAM].enabled) {
		const char *user =
		    nonempty(cfg->program_output.user) ? cfg->program_output.user : "nobody";
		struct passwd pw, *res = NULL;
		char pwbuf[4096];
		int e;

		if (!nonempty(cfg->program_output.program)) {
			snprintf(err, errlen, "program_output needs a program");
			goto fail;
		}
		e = getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res);
		if (e != 0 || !res) {
			snprintf(err, errlen, "program_output.user %s: %s", user,
				 e ? strerror(e) : "no such user");
			rc = e ? -e : -ENOENT;
			goto fail;
		}
		c[SAKER_CH_PROGRAM].keep_alive = cfg->program_output.keep_alive;
		c[SAKER_CH_PROGRAM].path = strdup(cfg->program_output.program);
		c[SAKER_CH_PROGRAM].user = strdup(user);
		if (!c[SAKER_CH_PROGRAM].path || !c[SAKER_CH_PROGRAM].user)
			goto nomem;
	}
	if (c[SAKER_CH_HTTP].enabled) {
		if (!nonempty(cfg->http_output.url)) {
			snprintf(err, errlen, "http_output needs a url");
			goto fail;
		}
		if (saker_http_cfg_copy(&c[SAKER_CH_HTTP].http, &h) < 0)
			goto nomem;
	}
	return 0;
nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	for (int i = 0; i < SAKER_CH_MAX; i++)
		chan_cfg_free(&c[i]);
	return rc;
}

static void apply_format_settings(struct saker_outputs *o, const struct saker_config *cfg)
{
	o->min_prio = cfg->priority;
	o->json = cfg->json_output;
	o->include_output = cfg->json_include_output_property;
	o->include_tags = cfg->json_include_tags_property;
	o->iso8601 = cfg->time_format_iso_8601;
}

static size_t capacity_of(const struct saker_config *cfg)
{
	uint64_t c = cfg->outputs_queue_capacity;

	if (c == 0)
		return SAKER_OUTPUTS_DEFAULT_QUEUE;
	/* An absurd bound would only turn into an allocation failure. */
	if (c > (1ULL << 24))
		c = 1ULL << 24;
	return (size_t)c;
}

/* ---- worker: writing lines ---- */

static bool cut(struct chan *c)
{
	return atomic_load(&c->abort);
}

/* A write is given up only at shutdown; a reload lets the line finish. */
static bool cut_at_exit(struct chan *c)
{
	return atomic_load(&c->abort) && atomic_load(&c->o->closing);
}

/* Writes all of p unless an error or a cut; *done = bytes written. */
static int write_all(struct chan *c, int fd, const char *p, size_t len, size_t *done)
{
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			if (cut_at_exit(c)) {
				rc = -ECANCELED;
				break;
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			/* Somebody made the fd non-blocking: wait for room, still cuttable. */
			struct timespec slice = {.tv_nsec = 5 * 1000000L};

			if (cut_at_exit(c)) {
				rc = -ECANCELED;
				break;
			}
			nanosleep(&slice, NULL);
			continue;
		}
		rc = n < 0 ? -errno : -EIO;
		break;
	}
	*done = off;
	return rc;
}

static void file_close(struct chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->torn = false;
}

static void note_failure(struct chan *c, const char *why, bool force);

/* The file channel's fd, opened (again) by name if needed. */
static int file_ready(struct chan *c, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* Unlinked, or its directory removed: what is written there is lost. */
	if (c->fd >= 0 && fstat(c->fd, &st) == 0 && st.st_nlink == 0) {
		report(c->o, SAKER_PRIO_WARNING, "outputs: %s was removed: reopening it",
		       c->cur.path);
		file_close(c);
	}
	if (c->fd >= 0)
		return 0;
	fd = saker_safefile_open_append(c->cur.path, err, errlen);
	if (fd < 0)
		return fd;
	c->fd = fd;
	c->torn = false;
	return 0;
}

static unsigned count_nl(const char *p, size_t n)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/*
 * Writes whole lines (nlines of them) to stdout or the file. A line is
 * delivered once all of it was written. A partial line left by a failure is
 * cut off again (a regular file of ours) or, failing that, ended by a
 * newline before the next write, so no line is ever glued to another.
 */
static struct tally write_lines(struct chan *c, const char *p, size_t len, unsigned nlines,
				char *err, size_t errlen)
{
	bool is_file = c->id == SAKER_CH_FILE;
	struct tally t = {0};
	off_t before = -1;
	size_t done = 0;
	int fd, rc;

	if (is_file) {
		rc = file_ready(c, err, errlen);
		if (rc < 0) {
			t.failed = nlines;
			return t;
		}
	}
	fd = is_file ? c->fd : STDOUT_FILENO;
	if (c->torn) {
		rc = write_all(c, fd, "\n", 1, &done);
		if (rc < 0 || done != 1)
			goto failed;
		c->torn = false;
	}
	if (is_file)
		before = lseek(fd, 0, SEEK_END);
	rc = write_all(c, fd, p, len, &done);
	if (rc == 0) {
		t.delivered = nlines;
		return t;
	}
	t.delivered = count_nl(p, done);
	if (done > 0 && p[done - 1] != '\n') {
		size_t keep = done;

		while (keep > 0 && p[keep - 1] != '\n')
			keep--;
		if (!(before >= 0 && ftruncate(fd, before + (off_t)keep) == 0))
			c->torn = true;
	}
failed:
	if (rc == -ECANCELED) {
		t.undelivered = nlines - t.delivered;
		snprintf(err, errlen, "cut short at shutdown");
	} else {
		t.failed = nlines - t.delivered;
		snprintf(err, errlen, "write %s: %s", is_file ? c->cur.path : "to stdout",
			 strerror(rc < 0 ? -rc : EIO));
	}
	return t;
}

static struct tally buf_flush(struct chan *c, char *err, size_t errlen)
{
	struct tally t = {0};

	if (c->buf_len == 0)
		return t;
	t = write_lines(c, c->buf, c->buf_len, c->buf_lines, err, errlen);
	c->buf_len = 0;
	c->buf_lines = 0;
	return t;
}

static void tally_add(struct tally *a, struct tally b)
{
	a->delivered += b.delivered;
	a->failed += b.failed;
	a->undelivered += b.undelivered;
}

static struct tally deliver_stream(struct chan *c, const struct out_item *it, char *err,
				   size_t errlen)
{
	struct tally t = {0};

	if (!c->cur.buffered) {
		t = write_lines(c, it->line, it->len, 1, err, errlen);
		if (c->id == SAKER_CH_FILE && !c->cur.keep_alive)
			file_close(c);
		return t;
	}
	if (!c->buf) {
		c->buf = malloc(WRITE_BUF_BYTES);
		if (!c->buf) {
			snprintf(err, errlen, "out of memory");
			t.failed = 1;
			return t;
		}
	}
	if (c->buf_len + it->len > WRITE_BUF_BYTES)
		t = buf_flush(c, err, errlen);
	if (it->len >= WRITE_BUF_BYTES) {
		tally_add(&t, write_lines(c, it->line, it->len, 1, err, errlen));
		return t;
	}
	memcpy(c->buf + c->buf_len, it->line, it->len);
	c->buf_len += it->len;
	c->buf_lines++;
	return t;
}

/* ---- worker: other channels ---- */

static int deliver_program(struct chan *c, const struct out_item *it, char *err, size_t errlen)
{
	int rc;

	if (!c->prog_inited) {
		rc = saker_program_init(&c->prog, c->cur.path, c->cur.user, &c->abort, err, errlen);
		if (rc < 0)
			return rc;
		c->prog.exit_grace_ms = c->cur.keep_alive ? 2000 : PROGRAM_ONESHOT_EXIT_MS;
		c->prog_inited = true;
	}
	rc = saker_program_write(&c->prog, it->line, it->len, err, errlen);
	if (rc == 0 && !c->cur.keep_alive)
		rc = saker_program_finish(&c->prog, err, errlen);
	return rc;
}

static int deliver_http(struct chan *c, const struct out_item *it, char *err, size_t errlen)
{
	int rc;

	if (!c->http) {
		rc = saker_http_new(&c->http, &c->cur.http, &c->abort);
		if (rc < 0) {
			snprintf(err, errlen, "http: %s", strerror(-rc));
			return rc;
		}
	}
	/* The body is the alert without its newline. */
	rc = saker_http_post(c->http, it->line, it->len - 1, err, errlen);
	return rc;
}

/* Delivers one item; *retry when a reload cut it short (the item is kept). */
static struct tally deliver(struct chan *c, const struct out_item *it, char *err, size_t errlen,
			    bool *retry)
{
	struct tally t = {0};
	int rc = 0;

	err[0] = '\0';
	*retry = false;
	switch (c->id) {
	case SAKER_CH_STDOUT:
	case SAKER_CH_FILE:
		return deliver_stream(c, it, err, errlen);
	case SAKER_CH_SYSLOG:
		/* syslog(3) reports nothing back: handed over counts as delivered. */
		syslog(LOG_USER | (int)it->prio, "%.*s", (int)(it->len - 1), it->line);
		break;
	case SAKER_CH_PROGRAM:
		rc = deliver_program(c, it, err, errlen);
		break;
	case SAKER_CH_HTTP:
		rc = deliver_http(c, it, err, errlen);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0)
		t.delivered = 1;
	else if (rc == -ECANCELED && cut(c))
		*retry = true; /* the caller decides: reload (again) or shutdown (undelivered) */
	else
		t.failed = 1;
	return t;
}

/* Closes what the channel holds; buffered lines are written first. */
static struct tally close_channel(struct chan *c)
{
	char err[256];
	struct tally t = buf_flush(c, err, sizeof(err));

	if (t.failed)
		note_failure(c, err, false);
	file_close(c);
	if (c->prog_inited) {
		saker_program_fini(&c->prog);
		c->prog_inited = false;
	}
	saker_http_free(c->http);
	c->http = NULL;
	return t;
}

/*
 * Counts failures towards the next report (why != NULL) and reports when
 * the interval has passed or force is set. Worker state: no lock.
 */
static void note_failure(struct chan *c, const char *why, bool force)
{
	struct throttle *t = &c->fail;
	uint64_t now = saker_clock_ns(CLOCK_MONOTONIC);

	if (why) {
		t->unreported++;
		/* Kept for a report made later (the next one, or shutdown's) without a reason. */
		snprintf(t->why, sizeof(t->why), "%s", why);
	}
	if (t->unreported == 0)
		return;
	if (!force && t->once && now - t->last_ns < FAIL_LOG_INTERVAL_NS)
		return;
	if (!why && t->why[0])
		why = t->why;
	report(c->o, SAKER_PRIO_ERROR,
	       "outputs: %s output could not deliver %llu alert(s) since the last report%s%s",
	       saker_channel_name(c->id), (unsigned long long)t->unreported, why ? ": " : "",
	       why ? why : "");
	t->unreported = 0;
	t->why[0] = '\0';
	t->last_ns = now;
	t->once = true;
}

/* With the lock held: the loss report due now, if any (printed by the caller, unlocked). */
static uint64_t loss_due(struct chan *c, uint64_t now, bool force)
{
	uint64_t n = c->loss.unreported;

	if (n == 0 || (!force && c->loss.once && now - c->loss.last_ns < LOSS_LOG_INTERVAL_NS))
		return 0;
	c->loss.unreported = 0;
	c->loss.last_ns = now;
	c->loss.once = true;
	return n;
}

static void report_loss(struct chan *c, uint64_t n)
{
	if (n)
		report(c->o, SAKER_PRIO_ERROR,
		       "outputs: %s queue full: %llu alert(s) lost since the last report",
		       saker_channel_name(c->id), (unsigned long long)n);
}

/* With the lock held. */
static void count(struct chan *c, struct tally t, struct out_item *it)
{
	if (c->final)
		return;
	c->delivered += t.delivered;
	c->failed += t.failed;
	c->undelivered += t.undelivered;
	c->inflight -= t.delivered + t.failed + t.undelivered;
	if (t.undelivered && it)
		atomic_store(&it->missed_exit, true);
}

/* With the lock held: everything queued goes into *bucket. */
static void drain_ring(struct chan *c, uint64_t *bucket, bool missed)
{
	while (c->count > 0) {
		struct out_item *it = c->ring[c->head];

		c->ring[c->head] = NULL;
		c->head = (c->head + 1) % c->slots;
		c->count--;
		(*bucket)++;
		if (missed)
			atomic_store(&it->missed_exit, true);
		item_put(c->o, it);
	}
}

static void *worker(void *arg)
{
	struct chan *c = arg;
	struct out_item *retry = NULL;
	char why[512];

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->next) {
			struct chan_cfg *next = c->next;
			struct tally t;
			uint64_t dropped = 0;

			c->next = NULL;
			c->busy = true;
			if (!c->stop)
				atomic_store(&c->abort, false);
			pthread_mutex_unlock(&c->lock);
			t = close_channel(c);
			chan_cfg_free(&c->cur);
			c->cur = *next;
			free(next);
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			if (!c->cur.enabled && retry) {
				if (!c->final) {
					c->dropped_reload++;
					c->inflight--;
					dropped++;
				}
				item_put(c->o, retry);
				retry = NULL;
			}
			if (dropped) {
				pthread_mutex_unlock(&c->lock);
				report(c->o, SAKER_PRIO_WARNING,
				       "outputs: %s output disabled by reload: the alert being "
				       "delivered was dropped",
				       saker_channel_name(c->id));
				pthread_mutex_lock(&c->lock);
			}
			continue;
		}
		if (c->reopen_req) {
			struct tally t;

			c->reopen_req = false;
			c->busy = true;
			pthread_mutex_unlock(&c->lock);
			/*
			 * Between two alerts: the next one goes to a file opened by
			 * name, so a renamed file keeps everything written before.
			 */
			t = buf_flush(c, why, sizeof(why));
			if (t.failed)
				note_failure(c, why, false);
			file_close(c);
			if (c->prog_inited)
				saker_program_stop(&c->prog);
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			continue;
		}
		if (c->stop && cut(c))
			break;
		if ((retry || c->count > 0) && !c->paused) {
			struct out_item *it = retry;
			bool again;
			struct tally t;

			retry = NULL;
			if (!it) {
				it = c->ring[c->head];
				c->ring[c->head] = NULL;
				c->head = (c->head + 1) % c->slots;
				c->count--;
				c->inflight++;
			}
			c->busy = true;
			pthread_mutex_unlock(&c->lock);
			t = deliver(c, it, why, sizeof(why), &again);
			if (t.failed)
				note_failure(c, why[0] ? why : "failed", false);
			pthread_mutex_lock(&c->lock);
			c->busy = false;
			if (again && !c->stop) {
				retry = it; /* new settings first, then this alert again */
				continue;
			}
			if (again)
				t.undelivered = 1;
			count(c, t, it);
			item_put(c->o, it);
			pthread_cond_broadcast(&c->idle);
			continue;
		}
		if (c->stop)
			break;
		if (c->flush_done != c->flush_req) {
			uint64_t req = c->flush_req;
			struct tally t;

			c->busy = true;
			pthread_mutex_unlock(&c->lock);
			t = buf_flush(c, why, sizeof(why));
			if (t.failed)
				note_failure(c, why, false);
			pthread_mutex_lock(&c->lock);
			count(c, t, NULL);
			c->busy = false;
			c->flush_done = req;
			continue;
		}
		{
			uint64_t now = saker_clock_ns(CLOCK_MONOTONIC), n = loss_due(c, now, false);

			if (n) {
				pthread_mutex_unlock(&c->lock);
				report_loss(c, n);
				pthread_mutex_lock(&c->lock);
				continue;
			}
			pthread_cond_broadcast(&c->idle);
			if (c->loss.unreported) {
				struct timespec dl = ts_at(c->loss.last_ns + LOSS_LOG_INTERVAL_NS);

				pthread_cond_timedwait(&c->wake, &c->lock, &dl);
			} else {
				pthread_cond_wait(&c->wake, &c->lock);
			}
		}
	}
	/* Stopping: cut short or drained. */
	if (retry) {
		count(c, (struct tally){.undelivered = 1}, retry);
		item_put(c->o, retry);
	}
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	{
		/* Buffered lines are still written unless shutdown already cut us short. */
		struct tally t = {0};

		if (cut(c)) {
			t.undelivered = c->buf_lines;
			c->buf_len = 0;
			c->buf_lines = 0;
		}
		tally_add(&t, close_channel(c));
		pthread_mutex_lock(&c->lock);
		count(c, t, NULL);
	}
	c->busy = false;
	c->done = true;
	pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- emitting thread ---- */

static void on_wake_signal(int sig)
{
	(void)sig; /* only there to make a blocking write(2) return EINTR */
}

static void install_wake_handler(void)
{
	struct sigaction sa = {.sa_handler = on_wake_signal};

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SAKER_OUTPUTS_WAKE_SIGNAL, &sa, NULL);
}

static int ring_resize(struct chan *c, size_t cap)
{
	size_t slots = cap > c->count ? cap : c->count;
	struct out_item **ring;

	if (slots == c->slots) {
		c->cap = cap;
		return 0;
	}
	ring = calloc(slots, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (size_t i = 0; i < c->count; i++)
		ring[i] = c->ring[(c->head + i) % c->slots];
	free(c->ring);
	c->ring = ring;
	c->slots = slots;
	c->cap = cap;
	c->head = 0;
	return 0;
}

static int chan_start(struct chan *c)
{
	sigset_t all, old;
	int rc;

	if (c->started)
		return 0;
	/* Signals stay with the event loop: the worker gets only its wake-up one. */
	sigfillset(&all);
	sigdelset(&all, SAKER_OUTPUTS_WAKE_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&c->thread, NULL, worker, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		c->started = true;
	return rc;
}

static void hostname_init(struct saker_outputs *o)
{
	const char *env = getenv("SAKER_HOSTNAME");

	if (nonempty(env)) {
		snprintf(o->hostname, sizeof(o->hostname), "%s", env);
		return;
	}
	if (gethostname(o->hostname, sizeof(o->hostname) - 1) < 0)
		snprintf(o->hostname, sizeof(o->hostname), "localhost");
	o->hostname[sizeof(o->hostname) - 1] = '\0';
}

static void chan_destroy(struct chan *c)
{
	for (size_t i = 0; i < c->count; i++)
		item_put(c->o, c->ring[(c->head + i) % c->slots]);
	free(c->ring);
	free(c->buf);
	chan_cfg_free(&c->cur);
	chan_cfg_free(&c->latest);
	chan_cfg_free(c->next);
	free(c->next);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
}

static void nats_report(void *ctx, enum saker_prio prio, const char *msg)
{
	struct saker_outputs *o = ctx;

	if (o->log)
		o->log(o->log_ctx, prio, msg);
}

static int nats_start(struct saker_outputs *o, const struct saker_config *cfg, char *err,
		      size_t errlen)
{
	static char *const def_server[] = {"nats://127.0.0.1:4222"};
	struct saker_nats_cfg nc = {
	    .servers =
		cfg->nats_output.servers.n ? cfg->nats_output.servers.v : (char **)def_server,
	    .n_servers = cfg->nats_output.servers.n ? cfg->nats_output.servers.n : 1,
	    .subject_prefix = cfg->nats_output.subject_prefix,
	    .hostname = o->hostname,
	    .stream = cfg->nats_output.stream,
	    .replicas = (unsigned)cfg->nats_output.stream_replicas,
	    .spool_dir = cfg->nats_output.spool_dir,
	    .spool_max_bytes = cfg->nats_output.spool_max_bytes,
	    .creds_file = cfg->nats_output.creds_file,
	    .ca_file = cfg->nats_output.ca_file,
	    .cert_file = cfg->nats_output.cert_file,
	    .key_file = cfg->nats_output.key_file,
	};

	return saker_nats_new(&o->nats, &nc, nats_report, o, err, errlen);
}

int saker_outputs_publish(struct saker_outputs *o, const char *suffix, const char *json, size_t len)
{
	if (!o || !suffix || !json)
		return -EINVAL;
	if (!o->nats)
		return -ENOTCONN;
	return saker_nats_publish(o->nats, suffix, json, len);
}

int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_outputs_opts *opts, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct chan_cfg cc[SAKER_CH_MAX];
	struct saker_outputs *o;
	pthread_condattr_t ca;
	size_t cap;
	int rc;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	rc = cfgs_build(cc, cfg, err, errlen);
	if (rc < 0)
		return rc;
	o = calloc(1, sizeof(*o));
	if (!o) {
		for (int i = 0; i < SAKER_CH_MAX; i++)
			chan_cfg_free(&cc[i]);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (opts) {
		o->log = opts->log;
		o->log_ctx = opts->log_ctx;
	}
	hostname_init(o);
	apply_format_settings(o, cfg);
	cap = capacity_of(cfg);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		c->o = o;
		c->id = (enum saker_channel)i;
		c->fd = -1;
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->wake, &ca);
		pthread_cond_init(&c->idle, &ca);
		atomic_init(&c->abort, false);
		c->cur = cc[i];
		c->enabled = cc[i].enabled;
		if (rc == 0)
			rc = chan_cfg_copy(&c->latest, &cc[i]);
		if (rc == 0)
			rc = ring_resize(c, cap);
	}
	pthread_condattr_destroy(&ca);
	/*
	 * Once per process is what curl wants; it counts calls, so pairing
	 * init and cleanup per outputs object is safe (before any thread here).
	 */
	if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rc = -ENOMEM;
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_once(&once, install_wake_handler);
	if (cfg->nats_output.enabled) {
		rc = nats_start(o, cfg, err, errlen);
		if (rc < 0) {
			saker_outputs_free(o);
			return rc;
		}
	}
	for (int i = 0; i < SAKER_CH_MAX && rc == 0; i++)
		if (o->ch[i].enabled)
			rc = chan_start(&o->ch[i]);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start an output thread: %s", strerror(-rc));
		saker_outputs_free(o);
		return rc;
	}
	*out = o;
	return 0;
fail:
	for (int i = 0; i < SAKER_CH_MAX; i++)
		chan_destroy(&o->ch[i]);
	free(o);
	return rc;
}

static struct out_item *make_item(struct saker_outputs *o, const struct saker_alert *a)
{
	char *line =
	    o->json ? saker_alert_format_json(a, o->hostname, o->include_output, o->include_tags)
		    : saker_alert_format_text(a, o->iso8601);
	struct out_item *it;
	size_t len;

	if (!line)
		return NULL;
	len = strlen(line);
	it = malloc(sizeof(*it) + len + 2);
	if (it) {
		atomic_init(&it->refs, 1);
		atomic_init(&it->missed_exit, false);
		it->prio = a->priority;
		memcpy(it->line, line, len);
		it->line[len] = '\n';
		it->line[len + 1] = '\0';
		it->len = len + 1;
		atomic_fetch_add(&o->live, 1);
	}
	free(line);
	return it;
}

int saker_outputs_emit(struct saker_outputs *o, const struct saker_alert *alert)
{
	struct out_item *it;
	bool taken = false;
	uint64_t now;

	if (!o || !alert)
		return -EINVAL;
	if (atomic_load(&o->closing)) {
		atomic_fetch_add(&o->queue_drops, 1);
		return -ESHUTDOWN;
	}
	if (alert->priority > o->min_prio) {
		atomic_fetch_add(&o->filtered, 1);
		return 0;
	}
	/* Formatting happens here, once and outside any lock: workers only write bytes. */
	it = make_item(o, alert);
	now = saker_clock_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];
		uint64_t n = 0;

		pthread_mutex_lock(&c->lock);
		if (c->enabled) {
			c->offered++;
			if (it && c->count < c->cap && !c->stop) {
				atomic_fetch_add(&it->refs, 1);
				c->ring[(c->head + c->count) % c->slots] = it;
				c->count++;
				taken = true;
				pthread_cond_signal(&c->wake);
			} else {
				c->lost++;
				c->loss.unreported++;
				n = loss_due(c, now, false);
				/* The worker reports the rest when it is free again. */
				pthread_cond_signal(&c->wake);
			}
		}
		pthread_mutex_unlock(&c->lock);
		report_loss(c, n);
	}
	if (it)
		item_put(o, it);
	if (o->nats) {
		/* The stream holds JSON whatever json_output says: the fleet parses it. */
		char *js =
		    saker_alert_format_json(alert, o->hostname, o->include_output, o->include_tags);

		if (js && saker_nats_publish(o->nats, "alerts", js, strlen(js)) == 0)
			taken = true;
		free(js);
	}
	atomic_fetch_add(taken ? &o->emitted : &o->queue_drops, 1);
	return taken ? 0 : -ENOBUFS;
}

int saker_outputs_reopen(struct saker_outputs *o)
{
	if (!o)
		return -EINVAL;
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		c->reopen_req = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

int saker_outputs_reconfigure(struct saker_outputs *o, const struct saker_config *cfg, char *err,
			      size_t errlen)
{
	struct chan_cfg cc[SAKER_CH_MAX];
	struct chan_cfg *next[SAKER_CH_MAX] = {0};
	size_t cap;
	int rc;

	if (!o || !cfg)
		return -EINVAL;
	if (atomic_load(&o->closing)) {
		snprintf(err, errlen, "outputs are shutting down");
		return -ESHUTDOWN;
	}
	rc = cfgs_build(cc, cfg, err, errlen);
	if (rc < 0)
		return rc;
	cap = capacity_of(cfg);
	/* Everything that can fail first, so a failure changes nothing. */
	for (int i = 0; i < SAKER_CH_MAX && rc == 0; i++) {
		if (chan_cfg_eq(&cc[i], &o->ch[i].latest))
			continue;
		next[i] = malloc(sizeof(*next[i]));
		if (!next[i] || chan_cfg_copy(next[i], &cc[i]) < 0) {
			free(next[i]);
			next[i] = NULL;
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
		}
	}
	for (int i = 0; i < SAKER_CH_MAX && rc == 0; i++) {
		if (cc[i].enabled) {
			rc = chan_start(&o->ch[i]);
			if (rc < 0)
				snprintf(err, errlen, "cannot start an output thread: %s",
					 strerror(-rc));
		}
	}
	for (int i = 0; i < SAKER_CH_MAX && rc == 0; i++) {
		struct chan *c = &o->ch[i];

		pthread_mutex_lock(&c->lock);
		if (c->slots < cap)
			rc = ring_resize(c, cap);
		pthread_mutex_unlock(&c->lock);
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
	}
	if (rc < 0) {
		for (int i = 0; i < SAKER_CH_MAX; i++) {
			chan_cfg_free(&cc[i]);
			chan_cfg_free(next[i]);
			free(next[i]);
		}
		return rc;
	}
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];
		bool disabling = next[i] && !next[i]->enabled;
		uint64_t before, dropped = 0;

		pthread_mutex_lock(&c->lock);
		(void)ring_resize(c, cap); /* a shrink keeps what is queued: cannot fail */
		if (next[i]) {
			before = c->dropped_reload;
			if (disabling)
				drain_ring(c, &c->dropped_reload, false);
			dropped = c->dropped_reload - before;
			c->enabled = next[i]->enabled;
			if (c->next) {
				chan_cfg_free(c->next);
				free(c->next);
			}
			c->next = next[i];
			/* What is being delivered now is cut short and redone with the new
			 * settings. */
			atomic_store(&c->abort, true);
			pthread_cond_signal(&c->wake);
			chan_cfg_free(&c->latest);
			c->latest = cc[i];
			memset(&cc[i], 0, sizeof(cc[i]));
		}
		pthread_mutex_unlock(&c->lock);
		if (dropped)
			report(
			    o, SAKER_PRIO_WARNING,
			    "outputs: %s output disabled by reload: %llu queued alert(s) dropped",
			    saker_channel_name(c->id), (unsigned long long)dropped);
		chan_cfg_free(&cc[i]);
	}
	apply_format_settings(o, cfg);
	return 0;
}

/* With c->lock held. */
static bool chan_idle(const struct chan *c, uint64_t req)
{
	return c->done ||
	       (c->count == 0 && !c->busy && !c->next && !c->reopen_req && c->flush_done >= req);
}

int saker_outputs_flush(struct saker_outputs *o, int timeout_ms)
{
	struct timespec dl = ts_at(saker_clock_ns(CLOCK_MONOTONIC) +
				   (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000);
	int rc = 0;

	if (!o)
		return -EINVAL;
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];
		uint64_t req;

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		req = ++c->flush_req;
		pthread_cond_signal(&c->wake);
		while (rc == 0 && !chan_idle(c, req))
			if (pthread_cond_timedwait(&c->idle, &c->lock, &dl) == ETIMEDOUT)
				rc = -ETIMEDOUT;
		pthread_mutex_unlock(&c->lock);
	}
	o->flush_timed_out = rc < 0;
	return rc;
}

static void chan_stats(struct chan *c, struct saker_outputs_stats *st)
{
	int i = c->id;

	pthread_mutex_lock(&c->lock);
	st->enabled[i] = c->enabled;
	st->offered[i] = c->offered;
	st->delivered[i] = c->delivered;
	st->failed[i] = c->failed;
	st->lost[i] = c->lost;
	st->dropped_reload[i] = c->dropped_reload;
	st->undelivered[i] = c->undelivered;
	st->pending[i] = c->final ? 0 : c->count + c->inflight;
	pthread_mutex_unlock(&c->lock);
}

void saker_outputs_get_stats(struct saker_outputs *o, struct saker_outputs_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!o)
		return;
	for (int i = 0; i < SAKER_CH_MAX; i++)
		chan_stats(&o->ch[i], st);
	st->emitted = atomic_load(&o->emitted);
	st->filtered = atomic_load(&o->filtered);
	st->queue_drops = atomic_load(&o->queue_drops);
	st->queued = o->shut ? 0 : atomic_load(&o->live);
	st->undelivered_alerts = atomic_load(&o->undelivered_alerts);
	st->final = o->shut;
	if (o->nats) {
		saker_nats_get_stats(o->nats, &st->nats);
		st->nats_enabled = true;
		st->enabled[SAKER_CH_NATS] = true;
		st->offered[SAKER_CH_NATS] = st->nats.alerts.offered;
		st->delivered[SAKER_CH_NATS] = st->nats.alerts.acked;
		st->lost[SAKER_CH_NATS] = st->nats.alerts.lost;
		st->pending[SAKER_CH_NATS] = st->nats.alerts.pending;
	}
}

void saker_outputs_test_pause(struct saker_outputs *o, bool paused)
{
	if (!o)
		return;
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		pthread_mutex_lock(&c->lock);
		c->paused = paused;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
}

/* Waits for the worker to exit until dl_ns; kicks it with the wake signal when kick. */
static bool wait_done(struct chan *c, uint64_t dl_ns, bool kick)
{
	bool done;

	pthread_mutex_lock(&c->lock);
	while (!c->done) {
		uint64_t now = saker_clock_ns(CLOCK_MONOTONIC), until = dl_ns;
		struct timespec ts;

		if (now >= dl_ns)
			break;
		if (kick) {
			pthread_kill(c->thread, SAKER_OUTPUTS_WAKE_SIGNAL);
			if (now + KICK_MS * 1000000ULL < until)
				until = now + KICK_MS * 1000000ULL;
		}
		ts = ts_at(until);
		pthread_cond_timedwait(&c->idle, &c->lock, &ts);
	}
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

int saker_outputs_shutdown(struct saker_outputs *o, int timeout_ms)
{
	uint64_t t0 = saker_clock_ns(CLOCK_MONOTONIC), budget, hard, soft;
	bool cut_any = false;

	if (!o || o->shut)
		return 0;
	if (timeout_ms <= 0)
		timeout_ms = SAKER_OUTPUTS_SHUTDOWN_MS;
	budget = (uint64_t)timeout_ms * 1000000ULL;
	hard = t0 + budget;
	soft = budget > 2 * SHUTDOWN_CUT_MS * 1000000ULL ? hard - SHUTDOWN_CUT_MS * 1000000ULL
							 : t0 + budget / 2;
	atomic_store(&o->closing, true);
	/* It writes its queue to its spool and waits for acks in parallel with the others. */
	saker_nats_stop(o->nats, (int)((soft - t0) / 1000000ULL));
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		/* A flush already gave up (or the test hook holds the queue): do not wait again. */
		if (o->flush_timed_out || c->paused)
			atomic_store(&c->abort, true);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	/* Deliver what is queued while the budget lasts ... */
	for (int i = 0; i < SAKER_CH_MAX; i++)
		if (o->ch[i].started)
			(void)wait_done(&o->ch[i], soft, false);
	/* ... then cut every channel still busy short, and interrupt its system call. */
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started || wait_done(c, 0, false))
			continue;
		cut_any = true;
		pthread_mutex_lock(&c->lock);
		atomic_store(&c->abort, true);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];

		if (!c->started)
			continue;
		if (wait_done(c, hard, true)) {
			pthread_join(c->thread, NULL);
			continue;
		}
		/* Stuck in the kernel beyond the budget: left behind, counted here. */
		c->leaked = true;
		pthread_detach(c->thread);
	}
	for (int i = 0; i < SAKER_CH_MAX; i++) {
		struct chan *c = &o->ch[i];
		uint64_t before, n;

		pthread_mutex_lock(&c->lock);
		before = c->undelivered;
		drain_ring(c, &c->undelivered, true);
		if (c->leaked) {
			c->undelivered += c->inflight;
			c->inflight = 0;
		}
		c->final = true;
		n = loss_due(c, saker_clock_ns(CLOCK_MONOTONIC), true);
		pthread_mutex_unlock(&c->lock);
		report_loss(c, n);
		if (!c->leaked)
			note_failure(c, NULL, true);
		if (c->undelivered > before || c->leaked)
			report(o, SAKER_PRIO_ERROR,
			       "outputs: %s output: %llu alert(s) undelivered at exit%s",
			       saker_channel_name(c->id), (unsigned long long)c->undelivered,
			       c->leaked ? " (its thread is stuck in a system call)" : "");
	}
	if (o->nats) {
		struct saker_nats_stats ns;

		saker_nats_shutdown(o->nats, 0);
		saker_nats_get_stats(o->nats, &ns);
		if (ns.pending)
			report(
			    o, SAKER_PRIO_WARNING,
			    "outputs: nats output: %llu message(s) not acknowledged, kept in the "
			    "spool for the next start",
			    (unsigned long long)ns.pending);
	}
	o->shut = true;
	return cut_any ? -ETIMEDOUT : 0;
}

void saker_outputs_free(struct saker_outputs *o)
{
	bool leaked = false;

	if (!o)
		return;
	(void)saker_outputs_shutdown(o, SAKER_OUTPUTS_SHUTDOWN_MS);
	for (int i = 0; i < SAKER_CH_MAX; i++)
		leaked |= o->ch[i].leaked;
	/* A thread still running uses the object: it goes when the process does. */
	if (leaked)
		return;
	for (int i = 0; i < SAKER_CH_MAX; i++)
		chan_destroy(&o->ch[i]);
	saker_nats_free(o->nats);
	curl_global_cleanup();
	free(o);
}
