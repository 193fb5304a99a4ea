/*
 * file_output: one line per alert appended to a file opened safely
 * (lib/safefile.h), by name again after SIGUSR1 (rotation) or when it was
 * removed; kept open between alerts with keep_alive, which buffered_outputs
 * then buffers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/safefile.h"
#include "outputs/channel.h"
#include "outputs/output_stream.h"

struct file_settings {
	char *path;
	bool keep_alive;
	bool buffered;
};

static bool file_enabled(const struct saker_config *cfg)
{
	return cfg->file_output.enabled;
}

static void file_settings_free(void *p)
{
	struct file_settings *f = p;

	if (f)
		free(f->path);
	free(f);
}

/* The file is opened now, so a bad name is refused at start-up or reload. */
static int file_settings_new(void **out, const struct saker_config *cfg, char *err, size_t errlen)
{
	const char *name = cfg->file_output.filename;
	struct file_settings *f;
	int fd;

	if (!name || !*name) {
		snprintf(err, errlen, "file_output needs a filename");
		return -EINVAL;
	}
	fd = saker_safefile_open_append(name, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(name))) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->keep_alive = cfg->file_output.keep_alive;
	f->buffered = cfg->buffered_outputs && f->keep_alive;
	*out = f;
	return 0;
}

static bool file_settings_eq(const void *pa, const void *pb)
{
	const struct file_settings *a = pa, *b = pb;

	return strcmp(a->path, b->path) == 0 && a->keep_alive == b->keep_alive &&
	       a->buffered == b->buffered;
}

static int file_open(void **state, const void *settings, const struct saker_chan_env *env,
		     char *err, size_t errlen)
{
	const struct file_settings *f = settings;
	struct saker_stream *s = malloc(sizeof(*s));

	(void)err;
	(void)errlen;
	if (!s)
		return -ENOMEM;
	/* The file itself is opened by the first line. */
	saker_stream_init(s, env, f->path, f->buffered, f->keep_alive);
	*state = s;
	return 0;
}

static struct saker_chan_tally file_deliver(void *state, const char *line, size_t len,
					    enum saker_prio prio, char *err, size_t errlen)
{
	(void)prio;
	return saker_stream_deliver(state, line, len, err, errlen);
}

static struct saker_chan_tally file_flush(void *state, char *err, size_t errlen)
{
	return saker_stream_flush(state, err, errlen);
}

static struct saker_chan_tally file_reopen(void *state, char *err, size_t errlen)
{
	return saker_stream_reopen(state, err, errlen);
}

static struct saker_chan_tally file_close(void *state, bool cut, char *err, size_t errlen)
{
	struct saker_chan_tally t = {0};

	if (state)
		t = saker_stream_fini(state, cut, err, errlen);
	free(state);
	return t;
}

const struct saker_channel_ops saker_output_file = {
    .name = "file",
    .enabled = file_enabled,
    .settings_new = file_settings_new,
    .settings_eq = file_settings_eq,
    .settings_free = file_settings_free,
    .open = file_open,
    .deliver = file_deliver,
    .flush = file_flush,
    .reopen = file_reopen,
    .close = file_close,
};
