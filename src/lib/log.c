#include "lib/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Longest message kept on the stack; longer ones are allocated. */
#define LOG_STACK_MSG 1024

void saker_log_init(struct saker_log *log)
{
	log->level = SAKER_PRIO_INFO;
	log->to_stderr = true;
	log->to_syslog = false;
	log->iso8601 = false;
	log->stream = stderr;
}

size_t saker_log_format_date(char *buf, size_t len, long long realtime_ns, bool iso8601)
{
	time_t sec = (time_t)(realtime_ns / 1000000000LL);
	struct tm tm;

	if (!buf || len == 0)
		return 0;
	if (iso8601) {
		if (!gmtime_r(&sec, &tm))
			goto fail;
		/* %z of a struct tm from gmtime_r is +0000; spelled out to not depend on it. */
		len = strftime(buf, len, "%Y-%m-%dT%H:%M:%S+0000", &tm);
	} else {
		if (!localtime_r(&sec, &tm))
			goto fail;
		len = strftime(buf, len, "%a %b %d %H:%M:%S %Y", &tm);
	}
	if (len == 0)
		goto fail;
	return len;
fail:
	buf[0] = '\0';
	return 0;
}

/*
 * A log line must stay one line whatever a message quotes (paths, command
 * lines), so control characters become \xNN in place of their raw bytes.
 */
static size_t escape_controls(char *dst, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c < 0x20 || c == 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	return o;
}

/*
 * Warnings and errors say so after the date, as users grep for them. The
 * drop line (critical) keeps Falco's shape: its text already says what it is.
 */
static const char *severity_word(enum saker_prio prio)
{
	switch (prio) {
	case SAKER_PRIO_ERROR:
		return "Error: ";
	case SAKER_PRIO_WARNING:
		return "Warning: ";
	default:
		return NULL;
	}
}

__attribute__((format(printf, 3, 0))) static void
vlog(const struct saker_log *log, enum saker_prio prio, const char *fmt, va_list ap0)
{
	struct saker_log defaults;
	char stack_msg[LOG_STACK_MSG];
	char *msg = stack_msg, *line = NULL;
	const char *word;
	struct timespec ts;
	char date[64];
	va_list ap;
	int n;

	if (!log) {
		saker_log_init(&defaults);
		log = &defaults;
	}
	if (prio > log->level || (!log->to_stderr && !log->to_syslog))
		return;

	va_copy(ap, ap0);
	n = vsnprintf(stack_msg, sizeof(stack_msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stack_msg)) {
		msg = malloc((size_t)n + 1);
		if (msg) {
			va_copy(ap, ap0);
			vsnprintf(msg, (size_t)n + 1, fmt, ap);
			va_end(ap);
		} else {
			/* Out of memory: the truncated message is better than none. */
			msg = stack_msg;
			n = sizeof(stack_msg) - 1;
		}
	}
	while (n > 0 && msg[n - 1] == '\n')
		n--;

	if (log->to_syslog)
		syslog(LOG_USER | (int)prio, "%.*s", n, msg);
	word = severity_word(prio);

	if (log->to_stderr) {
		FILE *out = log->stream ? log->stream : stderr;
		size_t dlen;

		clock_gettime(CLOCK_REALTIME, &ts);
		dlen = saker_log_format_date(date, sizeof(date),
					     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
					     log->iso8601);
		/* Worst case every byte becomes \xNN. */
		line = malloc(dlen + 2 + (word ? strlen(word) : 0) + (size_t)n * 4 + 2);
		if (line) {
			size_t len = 0;

			memcpy(line, date, dlen);
			len = dlen;
			line[len++] = ':';
			line[len++] = ' ';
			if (word) {
				memcpy(line + len, word, strlen(word));
				len += strlen(word);
			}
			len += escape_controls(line + len, msg, (size_t)n);
			line[len++] = '\n';
			/*
			 * One fwrite under the stream lock, flushed at once: lines
			 * from several threads never interleave.
			 */
			flockfile(out);
			fwrite_unlocked(line, 1, len, out);
			fflush_unlocked(out);
			funlockfile(out);
		}
	}
	free(line);
	if (msg != stack_msg)
		free(msg);
}

void saker_log(const struct saker_log *log, enum saker_prio prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log, prio, fmt, ap);
	va_end(ap);
}

void saker_log_fatal(const struct saker_log *log, const char *fmt, ...)
{
	struct saker_log l;
	va_list ap;

	if (log)
		l = *log;
	else
		saker_log_init(&l);
	/* Whatever log_stderr and log_level say: the one who started saker learns why it ended. */
	l.to_stderr = true;
	if (l.level < SAKER_PRIO_ERROR)
		l.level = SAKER_PRIO_ERROR;
	va_start(ap, fmt);
	vlog(&l, SAKER_PRIO_ERROR, fmt, ap);
	va_end(ap);
}

void saker_log_report(void *log, enum saker_prio prio, const char *msg)
{
	saker_log(log, prio, "%s", msg);
}
