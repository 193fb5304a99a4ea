/*
 * The shutdown summary on stderr, rendered from the metrics collection
 * (observe/collect.h fills it; the same collection feeds /metrics). Short by
 * default: what was seen, delivered and lost and whether that accounting is
 * exact, the drop checks, the rules and alerts, and of the other counters
 * only those that are not zero. At log level debug every counter, zeros
 * included, the table internals and every other metric. The line texts are
 * stable: the end-to-end tests parse them (an absent counter reads 0).
 */
#ifndef SAKER_SUMMARY_H
#define SAKER_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/metrics.h"

/* exact: the rings were drained after detach, so seen == delivered + dropped holds. */
void saker_summary_print(const struct saker_metrics *m, bool exact, bool detail, FILE *f);

#endif
