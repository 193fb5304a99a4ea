/*
 * The shutdown summary on stderr, rendered from the metrics collection
 * (app/collect.h fills it; the same collection feeds /metrics). Short by
 * default, Falco-like: what was seen, delivered and lost, the drop checks,
 * the alerts. At log level debug it adds the table internals and every other
 * metric. The line texts are stable: the end-to-end tests parse them.
 */
#ifndef SAKER_SUMMARY_H
#define SAKER_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/metrics.h"

/* exact: the rings were drained after detach, so seen == delivered + dropped holds. */
void saker_summary_print(const struct saker_metrics *m, bool exact, bool detail, FILE *f);

#endif
