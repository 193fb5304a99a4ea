/*
 * `saker --dump`: one line per captured event, text or JSON lines, in the
 * format docs/dump.md documents (tests and users parse it: keep it stable).
 *
 * Events are enriched from the view (comm, exe, fd names, paths resolved
 * against the cwd or a directory fd). Dump an event BEFORE the view applies
 * it, so that a close still shows what it closed; the table fields are the
 * state the event found.
 *
 * Every string that comes from the kernel or a process is escaped
 * (output_format.h rules): a process cannot forge a line or a field.
 */
#ifndef SAKER_DUMP_H
#define SAKER_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "saker_abi.h"
#include "lib/sbuf.h"
#include "capture/syscalls.h"

struct saker_view;
struct saker_event;

struct saker_dump {
	bool json;
	bool iso8601; /* text time as UTC ISO 8601 (JSON time always is) */
	int64_t
	    boot_to_real_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, see saker_clock_boot_offset_ns() */
	struct saker_view *view; /* NULL = no enrichment */
	struct saker_sbuf line;
	/* The formatted calendar part of the last second seen (time_t tcache_sec). */
	bool tcache_valid;
	long long tcache_sec;
	char tcache[40];
	size_t tcache_len;
	uint64_t lines;
	uint64_t malformed;
	uint64_t write_errors;
};

void saker_dump_init(struct saker_dump *d, bool json, bool iso8601, int64_t boot_to_real_ns,
		     struct saker_view *view);
/* Frees the line buffer; NULL ok. */
void saker_dump_fini(struct saker_dump *d);

/*
 * Formats one ring record and writes it as one line (a single fwrite).
 * -EBADMSG (counted, nothing written) for a malformed record, -ENOMEM,
 * -EIO when out refused the line.
 */
int saker_dump_event(struct saker_dump *d, const struct saker_evt_hdr *e, size_t len, FILE *out);

/*
 * The line for an already decoded event, without the newline, in d->line
 * (valid until the next call). -ENOMEM.
 */
int saker_dump_format(struct saker_dump *d, const struct saker_event *ev);

/* SIGHUP: json_output / time_format_iso_8601 changed. */
void saker_dump_set_format(struct saker_dump *d, bool json, bool iso8601);

/*
 * Where dump lines go without ever blocking the event loop: a bounded buffer
 * in front of an fd. A pipe or socket is made non-blocking; the loop writes
 * what it can (saker_dump_sink_flush) and, while bytes are pending, watches
 * the fd for EPOLLOUT. Writes to a pipe are whole lines of at most PIPE_BUF
 * bytes, which the kernel writes atomically, so lines other writers of the
 * same pipe (stdout alerts) put in between never tear a dump line. A line
 * that finds the buffer full is lost and counted; so is what is still
 * pending when saker_dump_sink_finish() gives up. lines_put = written +
 * lost + pending, always.
 *
 * Critical lines (lifecycle records and the protected lane's syscalls) are
 * never shed before bulk ones: the last SAKER_DUMP_SINK_RESERVE(cap) bytes
 * of the buffer take critical lines only, so under a slow reader bulk lines
 * are lost first and a critical line is lost only once that reserve is
 * full too (counted apart in lines_lost_critical, a subset of lines_lost).
 */
struct saker_dump_sink {
	int fd;
	bool pipe;	 /* pipe or socket: non-blocking, line-aligned atomic writes */
	int saved_flags; /* the fd's flags before, restored by close; -1 = untouched */
	char *buf;
	size_t cap, off, len; /* pending bytes: buf[off, off + len) */
	uint64_t lines_put;   /* handed to saker_dump_sink_put */
	uint64_t lines_written;
	uint64_t lines_lost;	      /* buffer full, write error, or left at finish */
	uint64_t lines_lost_critical; /* of which critical lines */
	int err;		      /* sticky: -EPIPE (reader gone), -EIO, ... */
	bool stuck;		      /* finish gave up on a reader that did not read */
	/* fd 1 is shared with the stdout alert channel (outputs/stdout_line.h). */
	bool holds_line; /* the sink holds the stdout line lock */
	bool line_open;	 /* the last byte written is not a newline: a line is cut */
	bool lock_busy;	 /* the last flush found the alert channel inside a line */
};

/* fd is not owned (stdout). cap 0 = 8 MiB. -ENOMEM. */
int saker_dump_sink_open(struct saker_dump_sink *s, int fd, size_t cap);
/* Restores the fd's flags (unless stuck) and frees; NULL ok. Pending bytes are not written. */
void saker_dump_sink_close(struct saker_dump_sink *s);
/*
 * Queues one line (with its newline); critical lines may use the reserve.
 * 0; -ENOBUFS when it was lost to a full buffer (counted); the sticky error
 * (-EPIPE, -EIO) once the fd failed.
 */
int saker_dump_sink_put(struct saker_dump_sink *s, const char *line, size_t len, bool critical);
/*
 * Whether the buffer is too full to take a line of this class (less than
 * SAKER_DUMP_SINK_SLACK bytes free, beyond the reserve for a bulk line; the
 * loop flushes it), or failed: the caller then need not format the line, and
 * hands it to saker_dump_sink_skip().
 */
#define SAKER_DUMP_SINK_SLACK	     (16u << 10)
#define SAKER_DUMP_SINK_RESERVE(cap) ((cap) / 8)
bool saker_dump_sink_full(const struct saker_dump_sink *s, bool critical);
/* One line not even formatted because the sink was full: counted lost. */
static inline void saker_dump_sink_skip(struct saker_dump_sink *s, bool critical)
{
	s->lines_put++;
	s->lines_lost++;
	if (critical)
		s->lines_lost_critical++;
}
/* Writes what the fd takes now. 0 when nothing is pending, -EAGAIN when some is, or the error. */
int saker_dump_sink_flush(struct saker_dump_sink *s);
static inline bool saker_dump_sink_pending(const struct saker_dump_sink *s)
{
	return s->len > 0;
}
/*
 * Shutdown: writes for at most timeout_ms (waiting for the fd with poll),
 * then counts every line still pending as lost. 0, or the error.
 */
int saker_dump_sink_finish(struct saker_dump_sink *s, int timeout_ms);

#endif
