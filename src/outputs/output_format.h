/* Falco's alert shapes: the text line and the JSON object. */
#ifndef SAKER_OUTPUT_FORMAT_H
#define SAKER_OUTPUT_FORMAT_H

#include <stdbool.h>

#include "lib/alert.h"
#include "lib/sbuf.h"

/*
 * Pure formatters (unit-tested). Return a malloc'd line without trailing
 * newline, or NULL on allocation failure. Control characters and invalid
 * UTF-8 are escaped so one alert is always one line.
 */
char *saker_alert_format_text(const struct saker_alert *a, bool iso8601);
char *saker_alert_format_json(const struct saker_alert *a, const char *hostname,
			      bool include_output, bool include_tags);

#endif
