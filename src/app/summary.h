/*
 * The shutdown summary on stderr. Short by default, Falco-like: what was
 * seen, delivered and lost, the drop checks, the alerts; the table
 * internals and the pipeline's own counters only at log level debug. The
 * line texts are stable: the end-to-end tests parse them.
 */
#ifndef SAKER_SUMMARY_H
#define SAKER_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "capture/stats.h"

struct saker_app;

/* exact: the rings were drained after detach, so seen == delivered + dropped holds. */
void saker_summary_print(const struct saker_app *app, const struct saker_capture_stats *st,
			 bool exact, bool detail, FILE *f);

#endif
