/* syslog_output: syslog(3) at the alert's priority, facility user. */
#include <syslog.h>

#include "outputs/channel.h"

static bool syslog_enabled(const struct saker_config *cfg)
{
	return cfg->syslog_output.enabled;
}

static struct saker_chan_tally syslog_deliver(void *state, const char *line, size_t len,
					      enum saker_prio prio, char *err, size_t errlen)
{
	(void)state;
	(void)err;
	(void)errlen;
	/* syslog(3) reports nothing back: handed over counts as delivered. */
	syslog(LOG_USER | (int)prio, "%.*s", (int)(len - 1), line);
	return saker_chan_result(0);
}

const struct saker_channel_ops saker_output_syslog = {
    .name = "syslog",
    .enabled = syslog_enabled,
    .deliver = syslog_deliver,
};
