#include "outputs/output_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/safefile.h"
#include "outputs/stdout_line.h"

/* buffered_outputs: bytes held before a write, as stdio did on a pipe. */
#define WRITE_BUF_BYTES 4096

void saker_stream_init(struct saker_stream *s, const struct saker_chan_env *env, const char *path,
		       bool buffered, bool keep_alive)
{
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->path = path;
	s->buffered = buffered;
	s->keep_alive = keep_alive;
	s->fd = -1;
}

/* A write is given up only at shutdown; a reload lets the line finish. */
static bool cut_at_exit(const struct saker_stream *s)
{
	return atomic_load(s->env->abort) && atomic_load(s->env->closing);
}

/* Writes all of p unless an error or a cut; *done = bytes written. */
static int write_all(const struct saker_stream *s, int fd, const char *p, size_t len, size_t *done)
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
			if (cut_at_exit(s)) {
				rc = -ECANCELED;
				break;
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			/* Somebody made the fd non-blocking: wait for room, still cuttable. */
			struct timespec slice = {.tv_nsec = 5 * 1000000L};

			if (cut_at_exit(s)) {
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

/*
 * Waits while the dump sink is inside a line of its own on stdout (it never
 * waits for us: the event loop must not block); false when cut at shutdown.
 */
static bool stdout_line_take(const struct saker_stream *s)
{
	struct timespec slice = {.tv_nsec = 1000000L};

	while (!saker_stdout_line_trylock()) {
		if (cut_at_exit(s))
			return false;
		nanosleep(&slice, NULL);
	}
	return true;
}

static void file_close(struct saker_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->torn = false;
}

/* The file channel's fd, opened (again) by name if needed. */
static int file_ready(struct saker_stream *s, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* Unlinked, or its directory removed: what is written there is lost. */
	if (s->fd >= 0 && fstat(s->fd, &st) == 0 && st.st_nlink == 0) {
		saker_chan_report(s->env, SAKER_PRIO_WARNING, "%s was removed: reopening it",
				  s->path);
		file_close(s);
	}
	if (s->fd >= 0)
		return 0;
	fd = saker_safefile_open_append(s->path, err, errlen);
	if (fd < 0)
		return fd;
	s->fd = fd;
	s->torn = false;
	return 0;
}

static unsigned count_nl(const char *p, size_t n)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/* The torn line's end, then the lines; for stdout under the line lock. */
static int write_lines_locked(struct saker_stream *s, int fd, bool is_file, const char *p,
			      size_t len, off_t *before, size_t *done)
{
	int rc;

	if (s->torn) {
		rc = write_all(s, fd, "\n", 1, done);
		if (rc < 0 || *done != 1) {
			*done = 0;
			return rc < 0 ? rc : -EIO;
		}
		s->torn = false;
	}
	if (is_file)
		*before = lseek(fd, 0, SEEK_END);
	return write_all(s, fd, p, len, done);
}

/*
 * Writes whole lines (nlines of them). A line is delivered once all of it
 * was written. A partial line left by a failure is cut off again (a regular
 * file of ours) or, failing that, ended by a newline before the next write,
 * so no line is ever glued to another.
 */
static struct saker_chan_tally write_lines(struct saker_stream *s, const char *p, size_t len,
					   unsigned nlines, char *err, size_t errlen)
{
	bool is_file = s->path != NULL;
	struct saker_chan_tally t = {0};
	off_t before = -1;
	size_t done = 0;
	int fd, rc;

	if (is_file) {
		rc = file_ready(s, err, errlen);
		if (rc < 0) {
			t.failed = nlines;
			return t;
		}
	}
	fd = is_file ? s->fd : STDOUT_FILENO;
	if (!is_file && !stdout_line_take(s)) {
		rc = -ECANCELED;
		goto failed;
	}
	rc = write_lines_locked(s, fd, is_file, p, len, &before, &done);
	if (!is_file)
		saker_stdout_line_unlock();
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
			s->torn = true;
	}
failed:
	if (rc == -ECANCELED) {
		t.undelivered = nlines - t.delivered;
		snprintf(err, errlen, "cut short at shutdown");
	} else {
		t.failed = nlines - t.delivered;
		snprintf(err, errlen, "write %s: %s", is_file ? s->path : "to stdout",
			 strerror(rc < 0 ? -rc : EIO));
	}
	return t;
}

static void tally_add(struct saker_chan_tally *a, struct saker_chan_tally b)
{
	a->delivered += b.delivered;
	a->failed += b.failed;
	a->undelivered += b.undelivered;
}

struct saker_chan_tally saker_stream_flush(struct saker_stream *s, char *err, size_t errlen)
{
	struct saker_chan_tally t = {0};

	if (s->buf_len == 0)
		return t;
	t = write_lines(s, s->buf, s->buf_len, s->buf_lines, err, errlen);
	s->buf_len = 0;
	s->buf_lines = 0;
	return t;
}

struct saker_chan_tally saker_stream_deliver(struct saker_stream *s, const char *line, size_t len,
					     char *err, size_t errlen)
{
	struct saker_chan_tally t = {0};

	if (!s->buffered) {
		t = write_lines(s, line, len, 1, err, errlen);
		if (s->path && !s->keep_alive)
			file_close(s);
		return t;
	}
	if (!s->buf) {
		s->buf = malloc(WRITE_BUF_BYTES);
		if (!s->buf) {
			snprintf(err, errlen, "out of memory");
			t.failed = 1;
			return t;
		}
	}
	if (s->buf_len + len > WRITE_BUF_BYTES)
		t = saker_stream_flush(s, err, errlen);
	if (len >= WRITE_BUF_BYTES) {
		tally_add(&t, write_lines(s, line, len, 1, err, errlen));
		return t;
	}
	memcpy(s->buf + s->buf_len, line, len);
	s->buf_len += len;
	s->buf_lines++;
	return t;
}

struct saker_chan_tally saker_stream_reopen(struct saker_stream *s, char *err, size_t errlen)
{
	/*
	 * Between two alerts: the next one goes to a file opened by name, so a
	 * renamed file keeps everything written before.
	 */
	struct saker_chan_tally t = saker_stream_flush(s, err, errlen);

	file_close(s);
	return t;
}

struct saker_chan_tally saker_stream_fini(struct saker_stream *s, bool cut, char *err,
					  size_t errlen)
{
	struct saker_chan_tally t = {0};

	if (cut) {
		t.undelivered = s->buf_lines;
		s->buf_len = 0;
		s->buf_lines = 0;
	}
	tally_add(&t, saker_stream_flush(s, err, errlen));
	file_close(s);
	free(s->buf);
	s->buf = NULL;
	return t;
}
