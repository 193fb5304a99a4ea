/*
 * The alert queue and the output thread.
 *
 * Ownership: the event loop (one thread) calls emit/reopen/reconfigure/flush
 * and owns the formatting settings. The output thread owns every channel
 * (FILE, program, curl handle). The two meet only under `lock`, over the
 * ring of formatted lines, the requests (reopen, new channel settings,
 * flush, stop) and the counters; no I/O is ever done under the lock, so
 * emit only waits for a few pointer moves.
 */
#include "outputs/outputs.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "outputs/output_format.h"
#include "outputs/output_http.h"
#include "outputs/output_program.h"

/* At most one failure report per channel this often. */
#define FAIL_LOG_INTERVAL_NS (10ULL * 1000000000ULL)
/* saker_outputs_free's wait for queued alerts when no flush timed out before. */
#define FREE_FLUSH_MS 5000
/* A per-alert program (keep_alive false) gets this long to exit after its line. */
#define PROGRAM_ONESHOT_EXIT_MS 5000

struct out_item {
	enum saker_prio prio;
	size_t len; /* with the trailing newline */
	char line[];
};

/* Channel settings: built by the event loop, then handed to the output thread. */
struct chan_cfg {
	struct saker_log log; /* the output thread's own copy, for failure reports */
	bool enabled[SAKER_CH_MAX];
	bool buffered;
	char *filename;
	bool file_keep_alive;
	char *program;
	bool program_keep_alive;
	struct saker_http_cfg http;
};

struct fail_throttle {
	uint64_t last_ns; /* monotonic time of the last report */
	uint64_t unreported;
	bool reported_once;
};

struct saker_outputs {
	struct saker_log log; /* event loop's copy; the caller's may change under us */
	char hostname[256];

	/* Formatting and filtering: event loop only. */
	enum saker_prio min_prio;
	bool json;
	bool include_output;
	bool include_tags;
	bool iso8601;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* to the output thread */
	pthread_cond_t idle; /* from it: progress, idle, exit */
	struct out_item **ring;
	size_t slots; /* allocated */
	size_t cap;   /* accepted; slots >= cap, larger only while a shrink drains */
	size_t head;
	size_t count;
	uint64_t pushed;
	uint64_t popped;
	bool busy;   /* the thread is working outside the lock */
	bool stop;   /* finish what is queued, then exit */
	bool paused; /* test hook: hold queued alerts */
	bool reopen_req;
	struct chan_cfg *pending; /* new channel settings ... */
	uint64_t pending_at;	  /* ... taking effect once this many alerts were popped */
	uint64_t flush_req;
	uint64_t flush_done;
	bool flush_timed_out;
	bool thread_done;
	struct saker_outputs_stats st;
	atomic_bool abort; /* stop now, even mid-delivery */

	pthread_t thread;

	/* Output thread only (or before it starts / after it ends). */
	struct chan_cfg cur;
	FILE *file;
	struct saker_program prog;
	bool prog_inited;
	struct saker_http *http;
	struct fail_throttle thr[SAKER_CH_MAX];
};

static const char *const channel_names[SAKER_CH_MAX] = {
    [SAKER_CH_STDOUT] = "stdout",   [SAKER_CH_FILE] = "file", [SAKER_CH_SYSLOG] = "syslog",
    [SAKER_CH_PROGRAM] = "program", [SAKER_CH_HTTP] = "http",
};

const char *saker_channel_name(enum saker_channel ch)
{
	if ((unsigned)ch >= SAKER_CH_MAX)
		return "unknown";
	return channel_names[ch];
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct timespec deadline_in(int ms)
{
	uint64_t t = mono_ns() + (uint64_t)(ms > 0 ? ms : 0) * 1000000ULL;

	return (struct timespec){.tv_sec = (time_t)(t / 1000000000ULL),
				 .tv_nsec = (long)(t % 1000000000ULL)};
}

static bool nonempty(const char *s)
{
	return s && *s;
}

static void chan_cfg_free(struct chan_cfg *c)
{
	if (!c)
		return;
	free(c->filename);
	free(c->program);
	saker_http_cfg_free(&c->http);
	memset(c, 0, sizeof(*c));
}

/* Checks and copies the channel part of cfg. Errors are logged. */
static int chan_cfg_build(struct chan_cfg *c, const struct saker_config *cfg,
			  const struct saker_log *log)
{
	struct saker_http_cfg h = {
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

	memset(c, 0, sizeof(*c));
	c->log = *log;
	c->enabled[SAKER_CH_STDOUT] = cfg->stdout_output.enabled;
	c->enabled[SAKER_CH_FILE] = cfg->file_output.enabled;
	c->enabled[SAKER_CH_SYSLOG] = cfg->syslog_output.enabled;
	c->enabled[SAKER_CH_PROGRAM] = cfg->program_output.enabled;
	c->enabled[SAKER_CH_HTTP] = cfg->http_output.enabled;
	c->buffered = cfg->buffered_outputs;
	c->file_keep_alive = cfg->file_output.keep_alive;
	c->program_keep_alive = cfg->program_output.keep_alive;
	for (int i = 0; i < SAKER_CH_MAX; i++)
		any |= c->enabled[i];
	if (!any) {
		saker_log(log, SAKER_PRIO_ERROR, "outputs: no output channel is enabled");
		goto fail;
	}
	if (c->enabled[SAKER_CH_FILE]) {
		int fd;

		if (!nonempty(cfg->file_output.filename)) {
			saker_log(log, SAKER_PRIO_ERROR, "outputs: file_output needs a filename");
			goto fail;
		}
		/* Fail at startup (or reload) rather than at the first alert. */
		fd = open(cfg->file_output.filename, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0640);
		if (fd < 0) {
			rc = -errno;
			saker_log(log, SAKER_PRIO_ERROR, "outputs: cannot open %s: %s",
				  cfg->file_output.filename, strerror(-rc));
			goto fail;
		}
		close(fd);
		c->filename = strdup(cfg->file_output.filename);
		if (!c->filename)
			goto nomem;
	}
	if (c->enabled[SAKER_CH_PROGRAM]) {
		if (!nonempty(cfg->program_output.program)) {
			saker_log(log, SAKER_PRIO_ERROR, "outputs: program_output needs a program");
			goto fail;
		}
		c->program = strdup(cfg->program_output.program);
		if (!c->program)
			goto nomem;
	}
	if (c->enabled[SAKER_CH_HTTP]) {
		if (!nonempty(cfg->http_output.url)) {
			saker_log(log, SAKER_PRIO_ERROR, "outputs: http_output needs a url");
			goto fail;
		}
		if (saker_http_cfg_copy(&c->http, &h) < 0)
			goto nomem;
	}
	return 0;
nomem:
	rc = -ENOMEM;
	saker_log(log, SAKER_PRIO_ERROR, "outputs: out of memory");
fail:
	chan_cfg_free(c);
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

/* ---- output thread: channels ---- */

static void close_channels(struct saker_outputs *o)
{
	fflush(stdout);
	if (o->file) {
		fclose(o->file);
		o->file = NULL;
	}
	if (o->prog_inited) {
		saker_program_fini(&o->prog);
		o->prog_inited = false;
	}
	saker_http_free(o->http);
	o->http = NULL;
}

static int deliver_stdout(struct saker_outputs *o, const struct out_item *it, char *err,
			  size_t errlen)
{
	/* Unbuffered: each alert leaves at once, also when stdout is a pipe or a file. */
	if (fwrite(it->line, 1, it->len, stdout) == it->len &&
	    (o->cur.buffered || fflush(stdout) == 0))
		return 0;
	snprintf(err, errlen, "write to stdout: %s", strerror(errno ? errno : EIO));
	clearerr(stdout);
	return -EIO;
}

static FILE *open_append(const char *name)
{
	int fd = open(name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "a");
	if (!f)
		close(fd);
	return f;
}

static int deliver_file(struct saker_outputs *o, const struct out_item *it, char *err,
			size_t errlen)
{
	bool keep = o->cur.file_keep_alive;
	int rc = 0;

	if (!o->file) {
		o->file = open_append(o->cur.filename);
		if (!o->file) {
			rc = -errno;
			snprintf(err, errlen, "open %s: %s", o->cur.filename, strerror(-rc));
			return rc;
		}
	}
	if (fwrite(it->line, 1, it->len, o->file) != it->len ||
	    ((!keep || !o->cur.buffered) && fflush(o->file) != 0))
		rc = -(errno ? errno : EIO);
	if (rc < 0 || !keep) {
		if (fclose(o->file) != 0 && rc == 0)
			rc = -(errno ? errno : EIO);
		o->file = NULL;
	}
	if (rc < 0)
		snprintf(err, errlen, "write %s: %s", o->cur.filename, strerror(-rc));
	return rc;
}

static int deliver_program(struct saker_outputs *o, const struct out_item *it, char *err,
			   size_t errlen)
{
	int rc;

	if (!o->prog_inited) {
		rc = saker_program_init(&o->prog, o->cur.program, &o->abort);
		if (rc < 0) {
			snprintf(err, errlen, "program: %s", strerror(-rc));
			return rc;
		}
		o->prog.exit_grace_ms = o->cur.program_keep_alive ? 2000 : PROGRAM_ONESHOT_EXIT_MS;
		o->prog_inited = true;
	}
	rc = saker_program_write(&o->prog, it->line, it->len, err, errlen);
	if (rc == 0 && !o->cur.program_keep_alive)
		saker_program_stop(&o->prog);
	return rc;
}

static int deliver_http(struct saker_outputs *o, const struct out_item *it, char *err,
			size_t errlen)
{
	int rc;

	if (!o->http) {
		rc = saker_http_new(&o->http, &o->cur.http, &o->abort);
		if (rc < 0) {
			snprintf(err, errlen, "http: %s", strerror(-rc));
			return rc;
		}
	}
	/* The body is the alert without its newline. */
	return saker_http_post(o->http, it->line, it->len - 1, err, errlen);
}

static int deliver(struct saker_outputs *o, enum saker_channel ch, const struct out_item *it,
		   char *err, size_t errlen)
{
	err[0] = '\0';
	switch (ch) {
	case SAKER_CH_STDOUT:
		return deliver_stdout(o, it, err, errlen);
	case SAKER_CH_FILE:
		return deliver_file(o, it, err, errlen);
	case SAKER_CH_SYSLOG:
		/* syslog(3) reports nothing back: handed over counts as delivered. */
		syslog(LOG_USER | (int)it->prio, "%.*s", (int)(it->len - 1), it->line);
		return 0;
	case SAKER_CH_PROGRAM:
		return deliver_program(o, it, err, errlen);
	case SAKER_CH_HTTP:
		return deliver_http(o, it, err, errlen);
	default:
		return -EINVAL;
	}
}

/*
 * Counts a failure towards the next report (why != NULL) and reports when
 * the interval has passed or force is set. Throttle state belongs to the
 * output thread: called without the lock.
 */
static void note_failure(struct saker_outputs *o, enum saker_channel ch, const char *why,
			 bool force)
{
	struct fail_throttle *t = &o->thr[ch];
	uint64_t now = mono_ns();

	if (why)
		t->unreported++;
	if (t->unreported == 0)
		return;
	if (!force && t->reported_once && now - t->last_ns < FAIL_LOG_INTERVAL_NS)
		return;
	saker_log(&o->cur.log, SAKER_PRIO_ERROR,
		  "outputs: %s output could not deliver %llu alert(s) since the last report%s%s",
		  saker_channel_name(ch), (unsigned long long)t->unreported, why ? ": " : "",
		  why ? why : "");
	t->unreported = 0;
	t->last_ns = now;
	t->reported_once = true;
}

/* ---- output thread: loop ---- */

static void *output_thread(void *arg)
{
	struct saker_outputs *o = arg;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		if (o->pending && o->popped >= o->pending_at) {
			struct chan_cfg *next = o->pending;

			o->pending = NULL;
			o->busy = true;
			pthread_mutex_unlock(&o->lock);
			close_channels(o);
			chan_cfg_free(&o->cur);
			o->cur = *next;
			free(next);
			pthread_mutex_lock(&o->lock);
			o->busy = false;
			continue;
		}
		if (o->reopen_req) {
			o->reopen_req = false;
			o->busy = true;
			pthread_mutex_unlock(&o->lock);
			/*
			 * Between two alerts: the next one goes to a file opened by
			 * name now, so a renamed file keeps everything written before.
			 */
			if (o->file) {
				fclose(o->file);
				o->file = NULL;
				if (o->cur.file_keep_alive && o->cur.enabled[SAKER_CH_FILE])
					o->file = open_append(o->cur.filename);
			}
			if (o->prog_inited)
				saker_program_stop(&o->prog);
			pthread_mutex_lock(&o->lock);
			o->busy = false;
			continue;
		}
		if (atomic_load(&o->abort))
			break;
		if (o->count > 0 && !o->paused) {
			struct out_item *it = o->ring[o->head];
			bool ok[SAKER_CH_MAX] = {0};
			char why[SAKER_CH_MAX][256];

			o->ring[o->head] = NULL;
			o->head = (o->head + 1) % o->slots;
			o->count--;
			o->popped++;
			o->busy = true;
			pthread_mutex_unlock(&o->lock);
			for (int ch = 0; ch < SAKER_CH_MAX; ch++)
				if (o->cur.enabled[ch])
					ok[ch] = deliver(o, ch, it, why[ch], sizeof(why[ch])) == 0;
			free(it);
			for (int ch = 0; ch < SAKER_CH_MAX; ch++)
				if (o->cur.enabled[ch] && !ok[ch])
					note_failure(o, ch, why[ch][0] ? why[ch] : "failed", false);
			pthread_mutex_lock(&o->lock);
			for (int ch = 0; ch < SAKER_CH_MAX; ch++) {
				if (!o->cur.enabled[ch])
					continue;
				if (ok[ch])
					o->st.delivered[ch]++;
				else
					o->st.failed[ch]++;
			}
			o->busy = false;
			pthread_cond_broadcast(&o->idle);
			continue;
		}
		if (o->stop)
			break;
		if (o->flush_done != o->flush_req) {
			uint64_t req = o->flush_req;

			o->busy = true;
			pthread_mutex_unlock(&o->lock);
			fflush(stdout);
			if (o->file)
				fflush(o->file);
			pthread_mutex_lock(&o->lock);
			o->busy = false;
			o->flush_done = req;
			continue;
		}
		pthread_cond_broadcast(&o->idle);
		pthread_cond_wait(&o->wake, &o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	close_channels(o);
	pthread_mutex_lock(&o->lock);
	o->thread_done = true;
	pthread_cond_broadcast(&o->idle);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* ---- event loop side ---- */

static int ring_resize(struct saker_outputs *o, size_t cap)
{
	size_t slots = cap > o->count ? cap : o->count;
	struct out_item **ring;

	if (slots == o->slots) {
		o->cap = cap;
		return 0;
	}
	ring = calloc(slots, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (size_t i = 0; i < o->count; i++)
		ring[i] = o->ring[(o->head + i) % o->slots];
	free(o->ring);
	o->ring = ring;
	o->slots = slots;
	o->cap = cap;
	o->head = 0;
	return 0;
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

int saker_outputs_new(struct saker_outputs **out, const struct saker_config *cfg,
		      const struct saker_log *log)
{
	struct saker_outputs *o;
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	if (log)
		o->log = *log;
	else
		saker_log_init(&o->log);
	atomic_init(&o->abort, false);
	rc = chan_cfg_build(&o->cur, cfg, &o->log);
	if (rc < 0) {
		free(o);
		return rc;
	}
	hostname_init(o);
	apply_format_settings(o, cfg);
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		o->st.enabled[ch] = o->cur.enabled[ch];
	rc = ring_resize(o, capacity_of(cfg));
	if (rc < 0)
		goto fail_cfg;
	/*
	 * Once per process is what curl wants; it counts calls, so pairing
	 * init and cleanup per outputs object is safe (before any thread here).
	 */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = -ENOMEM;
		goto fail_ring;
	}

	pthread_mutex_init(&o->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->wake, &ca);
	pthread_cond_init(&o->idle, &ca);
	pthread_condattr_destroy(&ca);

	/* Signals stay with the event loop: the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&o->thread, NULL, output_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		saker_log(&o->log, SAKER_PRIO_ERROR, "outputs: cannot start the output thread: %s",
			  strerror(-rc));
		goto fail_sync;
	}
	*out = o;
	return 0;

fail_sync:
	pthread_cond_destroy(&o->wake);
	pthread_cond_destroy(&o->idle);
	pthread_mutex_destroy(&o->lock);
	curl_global_cleanup();
fail_ring:
	free(o->ring);
fail_cfg:
	chan_cfg_free(&o->cur);
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
		it->prio = a->priority;
		memcpy(it->line, line, len);
		it->line[len] = '\n';
		it->line[len + 1] = '\0';
		it->len = len + 1;
	}
	free(line);
	return it;
}

int saker_outputs_emit(struct saker_outputs *o, const struct saker_alert *alert)
{
	struct out_item *it = NULL;
	int rc = 0;

	if (!o || !alert)
		return -EINVAL;
	if (alert->priority > o->min_prio) {
		pthread_mutex_lock(&o->lock);
		o->st.filtered++;
		pthread_mutex_unlock(&o->lock);
		return 0;
	}
	/* Formatting happens here, outside the lock, so the thread only writes bytes. */
	it = make_item(o, alert);
	pthread_mutex_lock(&o->lock);
	if (!it) {
		o->st.queue_drops++;
		rc = -ENOMEM;
	} else if (o->count >= o->cap || o->stop) {
		o->st.queue_drops++;
		rc = -ENOBUFS;
	} else {
		o->ring[(o->head + o->count) % o->slots] = it;
		o->count++;
		o->pushed++;
		o->st.emitted++;
		it = NULL;
		pthread_cond_signal(&o->wake);
	}
	pthread_mutex_unlock(&o->lock);
	free(it);
	return rc;
}

int saker_outputs_reopen(struct saker_outputs *o)
{
	if (!o)
		return -EINVAL;
	pthread_mutex_lock(&o->lock);
	o->reopen_req = true;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	return 0;
}

int saker_outputs_reconfigure(struct saker_outputs *o, const struct saker_config *cfg)
{
	struct saker_log log;
	struct chan_cfg *next;
	int rc;

	if (!o || !cfg)
		return -EINVAL;
	/* Failure reports follow the reloaded log settings too. */
	log = o->log;
	log.level = cfg->log_level;
	log.to_stderr = cfg->log_stderr;
	log.to_syslog = cfg->log_syslog;
	log.iso8601 = cfg->time_format_iso_8601;
	next = calloc(1, sizeof(*next));
	if (!next)
		return -ENOMEM;
	rc = chan_cfg_build(next, cfg, &log);
	if (rc < 0) {
		free(next);
		return rc;
	}
	o->log = log;
	pthread_mutex_lock(&o->lock);
	rc = ring_resize(o, capacity_of(cfg));
	if (rc < 0) {
		pthread_mutex_unlock(&o->lock);
		chan_cfg_free(next);
		free(next);
		return rc;
	}
	if (o->pending) {
		chan_cfg_free(o->pending);
		free(o->pending);
	}
	/* Alerts already queued still go to the channels they were emitted for. */
	o->pending = next;
	o->pending_at = o->pushed;
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		o->st.enabled[ch] = next->enabled[ch];
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	apply_format_settings(o, cfg);
	return 0;
}

/* With the lock held. */
static int wait_drained(struct saker_outputs *o, uint64_t req, int timeout_ms)
{
	struct timespec dl = deadline_in(timeout_ms);

	while (!o->thread_done &&
	       (o->count > 0 || o->busy || o->pending || o->reopen_req || o->flush_done < req)) {
		if (pthread_cond_timedwait(&o->idle, &o->lock, &dl) == ETIMEDOUT)
			return -ETIMEDOUT;
	}
	return 0;
}

int saker_outputs_flush(struct saker_outputs *o, int timeout_ms)
{
	uint64_t req;
	int rc;

	if (!o)
		return -EINVAL;
	pthread_mutex_lock(&o->lock);
	req = ++o->flush_req;
	pthread_cond_signal(&o->wake);
	rc = wait_drained(o, req, timeout_ms);
	o->flush_timed_out = rc < 0;
	pthread_mutex_unlock(&o->lock);
	return rc;
}

void saker_outputs_get_stats(struct saker_outputs *o, struct saker_outputs_stats *st)
{
	if (!st)
		return;
	if (!o) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&o->lock);
	*st = o->st;
	st->queued = o->count;
	pthread_mutex_unlock(&o->lock);
}

void saker_outputs_test_pause(struct saker_outputs *o, bool paused)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->paused = paused;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
}

void saker_outputs_free(struct saker_outputs *o)
{
	struct timespec dl = deadline_in(FREE_FLUSH_MS);

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	/* A flush already gave up (or the test hook holds the queue): do not wait again. */
	if (o->flush_timed_out || o->paused)
		atomic_store(&o->abort, true);
	pthread_cond_signal(&o->wake);
	while (!o->thread_done) {
		if (pthread_cond_timedwait(&o->idle, &o->lock, &dl) == ETIMEDOUT) {
			atomic_store(&o->abort, true);
			pthread_cond_signal(&o->wake);
			break;
		}
	}
	pthread_mutex_unlock(&o->lock);
	/* Bounded: every blocking step of the thread checks abort. */
	pthread_join(o->thread, NULL);

	/* What never left the queue is lost for every channel. */
	for (size_t i = 0; i < o->count; i++) {
		free(o->ring[(o->head + i) % o->slots]);
		for (int ch = 0; ch < SAKER_CH_MAX; ch++) {
			if (o->cur.enabled[ch]) {
				o->st.failed[ch]++;
				o->thr[ch].unreported++;
			}
		}
	}
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		note_failure(o, ch, NULL, true);
	if (o->pending) {
		chan_cfg_free(o->pending);
		free(o->pending);
	}
	chan_cfg_free(&o->cur);
	free(o->ring);
	pthread_cond_destroy(&o->wake);
	pthread_cond_destroy(&o->idle);
	pthread_mutex_destroy(&o->lock);
	curl_global_cleanup();
	free(o);
}
