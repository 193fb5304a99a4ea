#include "capture/record.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capfile.h"
#include "lib/safefile.h"

#define CHUNK_BYTES (1u << 20)
#define NCHUNK	    8

struct chunk {
	struct saker_sbuf b;
	uint64_t recs;
};

struct saker_record {
	int fd;
	char path[1024];
	saker_report_fn report; /* the writer thread reports a write error */
	void *report_ctx;
	pthread_t thread;
	bool started, finished;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct chunk chunks[NCHUNK];
	/* Under mu: full chunks in order, free ones, the one being written. */
	int queue[NCHUNK];
	unsigned q_head, q_n;
	int free_list[NCHUNK];
	unsigned n_free;
	int writing;
	bool stop;
	/* The loop's own. */
	int cur; /* the chunk being filled, -1 none */
	uint64_t records, not_written_loop;
	/* Under mu (err also read by the loop without it: a stale 0 costs one record). */
	uint64_t written, failed, bytes;
	int err;
};

/* An error line through the reporter (NULL: nothing said). */
__attribute__((format(printf, 2, 3))) static void say(const struct saker_record *r, const char *fmt,
						      ...)
{
	char msg[1280];
	va_list ap;

	if (!r->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->report(r->report_ctx, SAKER_PRIO_ERROR, msg);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int saker_record_open(struct saker_record **out, const char *path, saker_report_fn report,
		      void *report_ctx, char *err, size_t errlen)
{
	struct saker_record *r;
	char why[512];
	int fd;

	*out = NULL;
	fd = saker_safefile_open_append(path, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "-w %s: %s", path, why);
		return fd;
	}
	/* A capture file is one recording: an older one at the path is replaced, not appended
	 * to. */
	if (ftruncate(fd, 0)) {
		int ret = -errno;

		snprintf(err, errlen, "-w %s: cannot truncate: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		snprintf(err, errlen, "-w %s: out of memory", path);
		return -ENOMEM;
	}
	r->fd = fd;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->report = report;
	r->report_ctx = report_ctx;
	r->cur = -1;
	r->writing = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->done, NULL);
	for (int i = 0; i < NCHUNK; i++) {
		saker_sbuf_init(&r->chunks[i].b);
		r->free_list[r->n_free++] = i;
	}
	*out = r;
	return 0;
}

/* ---- the writer thread ---- */

static void *writer(void *arg)
{
	struct saker_record *r = arg;

	/* Cancelled (finish gave up on the disk) only inside write(), never holding mu. */
	(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct chunk *c;
		int idx, prev, werr = 0;

		while (!r->q_n && !r->stop)
			pthread_cond_wait(&r->work, &r->mu);
		if (!r->q_n)
			break;
		idx = r->queue[r->q_head];
		r->q_head = (r->q_head + 1) % NCHUNK;
		r->q_n--;
		r->writing = idx;
		prev = r->err;
		c = &r->chunks[idx];
		pthread_mutex_unlock(&r->mu);
		if (!prev) {
			(void)pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			werr = write_all(r->fd, c->b.p, c->b.len);
			(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		}
		pthread_mutex_lock(&r->mu);
		if (!prev && !werr) {
			r->written += c->recs;
			r->bytes += c->b.len;
		} else {
			r->failed += c->recs;
		}
		if (werr && !prev)
			__atomic_store_n(&r->err, werr, __ATOMIC_RELEASE);
		c->b.len = 0;
		c->recs = 0;
		r->free_list[r->n_free++] = idx;
		r->writing = -1;
		pthread_cond_broadcast(&r->done);
		if (werr && !prev) {
			pthread_mutex_unlock(&r->mu);
			say(r,
			    "-w %s: write failed: %s; the records from now on are not "
			    "written (counted in the summary)",
			    r->path, strerror(-werr));
			pthread_mutex_lock(&r->mu);
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int saker_record_start(struct saker_record *r, saker_record_snapshot_fn snapshot,
		       void *snapshot_ctx, int64_t boot_offset_ns, const char *version, char *err,
		       size_t errlen)
{
	struct saker_capfile_meta m = {
	    .table_id = saker_capfile_table_id(),
	    .boot_offset_ns = boot_offset_ns,
	};
	struct saker_sbuf b;
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	m.start_real_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(m.version, sizeof(m.version), "%s", version ? version : "");
	saker_sbuf_init(&b);
	saker_capfile_put_header(&b, &m);
	if (snapshot)
		ret = snapshot(snapshot_ctx, &b);
	saker_capfile_put_snapshot_end(&b);
	if (!ret && b.oom)
		ret = -ENOMEM;
	if (!ret)
		ret = write_all(r->fd, b.p, b.len);
	if (ret) {
		snprintf(err, errlen, "-w %s: cannot write the header: %s", r->path,
			 strerror(-ret));
		saker_sbuf_free(&b);
		return ret;
	}
	r->bytes = b.len;
	saker_sbuf_free(&b);
	/* Every chunk's memory up front: the loop never waits on malloc for a record. */
	for (int i = 0; i < NCHUNK; i++)
		if (!saker_sbuf_reserve(&r->chunks[i].b, CHUNK_BYTES)) {
			snprintf(err, errlen, "-w %s: out of memory", r->path);
			return -ENOMEM;
		}
	ret = -pthread_create(&r->thread, NULL, writer, r);
	if (ret) {
		snprintf(err, errlen, "-w %s: cannot start the writer thread: %s", r->path,
			 strerror(-ret));
		return ret;
	}
	r->started = true;
	return 0;
}

/* Hands the chunk being filled to the writer. */
static void submit(struct saker_record *r)
{
	pthread_mutex_lock(&r->mu);
	r->queue[(r->q_head + r->q_n) % NCHUNK] = r->cur;
	r->q_n++;
	pthread_cond_signal(&r->work);
	pthread_mutex_unlock(&r->mu);
	r->cur = -1;
}

static bool take_free(struct saker_record *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->n_free)
		r->cur = r->free_list[--r->n_free];
	pthread_mutex_unlock(&r->mu);
	return r->cur >= 0;
}

int saker_record_put(void *ctx, const struct saker_evt_hdr *e, size_t len)
{
	struct saker_record *r = ctx;
	size_t need = saker_capfile_record_bytes(len);
	struct chunk *c;

	r->records++;
	if (!r->started || r->finished || __atomic_load_n(&r->err, __ATOMIC_ACQUIRE)) {
		r->not_written_loop++;
		return 0;
	}
	if (r->cur >= 0) {
		c = &r->chunks[r->cur];
		if (c->b.cap - c->b.len <= need)
			submit(r);
	}
	if (r->cur < 0 && !take_free(r)) {
		/* Every chunk waits for the disk: this record is lost to the file, counted. */
		r->not_written_loop++;
		return 0;
	}
	c = &r->chunks[r->cur];
	saker_capfile_put_record(&c->b, e, len);
	c->recs++;
	return 0;
}

void saker_record_flush(struct saker_record *r)
{
	if (!r || !r->started || r->finished || r->cur < 0 || !r->chunks[r->cur].recs)
		return;
	submit(r);
}

void saker_record_finish(struct saker_record *r, int timeout_ms)
{
	struct timespec dl;
	bool gave_up = false;

	if (!r || r->finished)
		return;
	r->finished = true;
	if (!r->started)
		return;
	/* An empty chunk is queued too: the writer skips it in one step. */
	if (r->cur >= 0)
		submit(r);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->work);
	while ((r->q_n || r->writing >= 0) && !gave_up)
		gave_up = pthread_cond_timedwait(&r->done, &r->mu, &dl) == ETIMEDOUT &&
			  (r->q_n || r->writing >= 0);
	if (gave_up) {
		/* The disk does not take it: what is left is counted, the thread stopped. */
		for (unsigned i = 0; i < r->q_n; i++)
			r->failed += r->chunks[r->queue[(r->q_head + i) % NCHUNK]].recs;
		if (r->writing >= 0)
			r->failed += r->chunks[r->writing].recs;
		r->q_n = 0;
		pthread_mutex_unlock(&r->mu);
		(void)pthread_cancel(r->thread);
		(void)pthread_join(r->thread, NULL);
		say(r,
		    "-w %s: the disk did not take the last records within %d ms; counted "
		    "as not written",
		    r->path, timeout_ms);
		return;
	}
	pthread_mutex_unlock(&r->mu);
	(void)pthread_join(r->thread, NULL);
}

void saker_record_close(struct saker_record *r)
{
	if (!r)
		return;
	saker_record_finish(r, 5000);
	for (int i = 0; i < NCHUNK; i++)
		saker_sbuf_free(&r->chunks[i].b);
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->mu);
	close(r->fd);
	free(r);
}

void saker_record_get_stats(struct saker_record *r, struct saker_record_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!r)
		return;
	st->records = r->records;
	pthread_mutex_lock(&r->mu);
	st->written = r->written;
	st->not_written = r->not_written_loop + r->failed;
	st->bytes = r->bytes;
	st->err = r->err;
	pthread_mutex_unlock(&r->mu);
}

void saker_record_add_metrics(struct saker_record *r, struct saker_metrics *m)
{
	struct saker_record_stats st;

	if (!r)
		return;
	saker_record_get_stats(r, &st);
	(void)saker_metrics_add_u64(m, "capture_file_records_written_total",
				    "Records written to the -w capture file.", SAKER_METRIC_COUNTER,
				    SAKER_METRIC_F_SUMMARY, st.written, NULL, 0);
	(void)saker_metrics_add_u64(
	    m, "capture_file_records_not_written_total",
	    "Records the -w capture file did not get (the writer fell behind, a write failed, "
	    "or the disk did not take them at exit).",
	    SAKER_METRIC_COUNTER, SAKER_METRIC_F_SUMMARY, st.not_written, NULL, 0);
	(void)saker_metrics_add_u64(m, "capture_file_bytes_total",
				    "Bytes written to the -w capture file, header included.",
				    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, st.bytes, NULL, 0);
}
