/*
 * Log lines for humans: "<date>: <message>" on stderr and/or syslog,
 * "<date>: Warning: <message>" and "<date>: Error: <message>" for those
 * two priorities (syslog carries the priority itself),
 * filtered by log_level. <date> is local "%a %b %d %H:%M:%S %Y", or UTC
 * ISO 8601 ("%FT%T%z") with time_format_iso_8601. No global state: the
 * logger is a value owned by main and passed to the modules that log.
 */
#ifndef SAKER_LOG_H
#define SAKER_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/prio.h"
#include "lib/report.h"

struct saker_log {
	enum saker_prio level;
	bool to_stderr;
	bool to_syslog;
	bool iso8601;
	FILE *stream; /* stderr unless a test redirects it */
};

/* Defaults: info, stderr only, local time. */
void saker_log_init(struct saker_log *log);
/* NULL log = defaults on stderr (usable before configuration is read). */
void saker_log(const struct saker_log *log, enum saker_prio prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * An error that ends saker (configuration, set-up): an Error line as
 * saker_log writes it, also on stderr and at any log_level.
 */
void saker_log_fatal(const struct saker_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A saker_report_fn: ctx is the struct saker_log * (NULL: defaults). */
void saker_log_report(void *log, enum saker_prio prio, const char *msg);
/* Formats the date prefix for a CLOCK_REALTIME time in ns. */
size_t saker_log_format_date(char *buf, size_t len, long long realtime_ns, bool iso8601);

#endif
