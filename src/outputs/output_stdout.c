/* stdout_output: one line per alert on standard output, buffered with buffered_outputs. */
#include <stdio.h>
#include <stdlib.h>

#include "outputs/channel.h"
#include "outputs/output_stream.h"

static bool stdout_enabled(const struct saker_config *cfg)
{
	return cfg->stdout_output.enabled;
}

struct stdout_settings {
	bool buffered;
};

static int stdout_settings_new(void **out, const struct saker_config *cfg, char *err, size_t errlen)
{
	struct stdout_settings *s = malloc(sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->buffered = cfg->buffered_outputs;
	*out = s;
	return 0;
}

static bool stdout_settings_eq(const void *a, const void *b)
{
	return ((const struct stdout_settings *)a)->buffered ==
	       ((const struct stdout_settings *)b)->buffered;
}

static int stdout_open(void **state, const void *settings, const struct saker_chan_env *env,
		       char *err, size_t errlen)
{
	struct saker_stream *s = malloc(sizeof(*s));

	(void)err;
	(void)errlen;
	if (!s)
		return -ENOMEM;
	saker_stream_init(s, env, NULL, ((const struct stdout_settings *)settings)->buffered, true);
	*state = s;
	return 0;
}

static struct saker_chan_tally stdout_deliver(void *state, const char *line, size_t len,
					      enum saker_prio prio, char *err, size_t errlen)
{
	(void)prio;
	return saker_stream_deliver(state, line, len, err, errlen);
}

static struct saker_chan_tally stdout_flush(void *state, char *err, size_t errlen)
{
	return saker_stream_flush(state, err, errlen);
}

static struct saker_chan_tally stdout_close(void *state, bool cut, char *err, size_t errlen)
{
	struct saker_chan_tally t = {0};

	if (state)
		t = saker_stream_fini(state, cut, err, errlen);
	free(state);
	return t;
}

const struct saker_channel_ops saker_output_stdout = {
    .name = "stdout",
    .enabled = stdout_enabled,
    .settings_new = stdout_settings_new,
    .settings_eq = stdout_settings_eq,
    .settings_free = free,
    .open = stdout_open,
    .deliver = stdout_deliver,
    .flush = stdout_flush,
    .reopen = stdout_flush,
    .close = stdout_close,
};
