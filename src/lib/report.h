/*
 * How library code tells its caller something it does not fail on (an
 * ignored key, a skipped rule, a channel that stalled, a drop): a severity
 * and one line without a trailing newline. Library modules never print;
 * they take a reporter and its opaque ctx (both may be NULL: nothing is
 * said), and the application passes saker_log_report with its logger, so
 * every such line gets the date, the severity word and syslog.
 * A reporter may be called from any thread the module runs.
 */
#ifndef SAKER_REPORT_H
#define SAKER_REPORT_H

#include "lib/prio.h"

typedef void (*saker_report_fn)(void *ctx, enum saker_prio prio, const char *msg);

#endif
