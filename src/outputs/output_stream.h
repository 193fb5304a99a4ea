/*
 * Lines written to a file descriptor (stdout, the file channel): whole lines
 * only, an optional write buffer (buffered_outputs) and the repair of a line
 * a failure left half-written. Used from one worker thread; what a channel
 * with a stream does differently (which fd, when it is opened) is in its
 * own file.
 */
#ifndef SAKER_OUTPUT_STREAM_H
#define SAKER_OUTPUT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "outputs/channel.h"

struct saker_stream {
	const struct saker_chan_env *env;
	/* The file channel: its name (opened on demand, by name); NULL for stdout. */
	const char *path;
	bool buffered;
	bool keep_alive; /* the file stays open between alerts */
	int fd;		 /* -1 when the file is closed */
	bool torn;	 /* a partial line was left: the next write starts a new line */
	char *buf;
	size_t buf_len;
	unsigned buf_lines;
};

/* path NULL: stdout. */
void saker_stream_init(struct saker_stream *s, const struct saker_chan_env *env, const char *path,
		       bool buffered, bool keep_alive);
struct saker_chan_tally saker_stream_deliver(struct saker_stream *s, const char *line, size_t len,
					     char *err, size_t errlen);
/* Writes the buffer. */
struct saker_chan_tally saker_stream_flush(struct saker_stream *s, char *err, size_t errlen);
/* The buffer is written, then the file closed: the next line opens it by name. */
struct saker_chan_tally saker_stream_reopen(struct saker_stream *s, char *err, size_t errlen);
/* The buffer is written (or, when cut, counted undelivered), the file closed. */
struct saker_chan_tally saker_stream_fini(struct saker_stream *s, bool cut, char *err,
					  size_t errlen);

#endif
