/*
 * Metrics as data: one collection of {name, help, type, labels, value},
 * filled once per tick (or at shutdown) from capture, drops, the view and
 * the outputs, and rendered by whoever needs it: the shutdown summary, the
 * Prometheus /metrics endpoint, the loss ledger, tests. Producers never
 * print; renderers never reach into modules.
 *
 * Names are given without the "saker_" prefix the Prometheus renderer adds,
 * in Prometheus conventions (counters end in _total; units as suffixes:
 * _bytes, _seconds, _ratio). Samples of one family (same name) share help
 * and type; the renderer groups them under one HELP/TYPE header whatever
 * order they were added in.
 *
 * Strings passed in are copied, so a producer may hand in stack buffers.
 * Not thread-safe: build a collection in one thread, then hand it over
 * (saker_metrics_move) or render it there.
 */
#ifndef SAKER_METRICS_H
#define SAKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sbuf.h"

#define SAKER_METRICS_PREFIX	"saker_"
#define SAKER_METRIC_MAX_LABELS 4

enum saker_metric_type {
	SAKER_METRIC_COUNTER = 0,
	SAKER_METRIC_GAUGE,
};

/* Which renderings show a sample; Prometheus and JSON show all of them. */
enum saker_metric_flags {
	SAKER_METRIC_F_SUMMARY = 1u << 0, /* the short shutdown summary */
	SAKER_METRIC_F_DETAIL = 1u << 1,  /* the summary at log level debug (table internals) */
};

struct saker_metric_label {
	const char *name;
	const char *value;
};

struct saker_metric {
	const char *name; /* without SAKER_METRICS_PREFIX */
	const char *help;
	enum saker_metric_type type;
	unsigned flags; /* enum saker_metric_flags */
	/* Integers are kept exact (a counter can pass 2^53); is_float says which is set. */
	bool is_float;
	uint64_t u64;
	double f64;
	size_t n_labels;
	struct saker_metric_label labels[SAKER_METRIC_MAX_LABELS];
};

struct saker_metrics {
	struct saker_metric *v;
	size_t n, cap;
	/* Copied strings, freed together (a chunk list). */
	struct saker_metrics_chunk *chunks;
	bool oom; /* sticky: an add failed for want of memory */
};

void saker_metrics_init(struct saker_metrics *m);
/* Frees everything; NULL ok. */
void saker_metrics_free(struct saker_metrics *m);
/* Empties the collection (keeps nothing); the next adds start afresh. */
void saker_metrics_reset(struct saker_metrics *m);
/* Hands src's contents to dst (dst's old contents are freed); src is left empty. */
void saker_metrics_move(struct saker_metrics *dst, struct saker_metrics *src);

/*
 * Adds one sample. labels: n_labels {name, value} pairs (names must be valid
 * Prometheus label names). Returns 0, -EINVAL (bad name, too many labels,
 * a family re-added with another type), or -ENOMEM (also sets m->oom).
 */
int saker_metrics_add_u64(struct saker_metrics *m, const char *name, const char *help,
			  enum saker_metric_type type, unsigned flags, uint64_t value,
			  const struct saker_metric_label *labels, size_t n_labels);
int saker_metrics_add_f64(struct saker_metrics *m, const char *name, const char *help,
			  enum saker_metric_type type, unsigned flags, double value,
			  const struct saker_metric_label *labels, size_t n_labels);
/* Adds a copy of s (from another collection): its name, help, type, flags, value, labels. */
int saker_metrics_add_copy(struct saker_metrics *m, const struct saker_metric *s);

/*
 * The sample with this name and exactly these labels (in any order), or
 * NULL. Linear: for tests, the summary and the ledger, not a hot path.
 */
const struct saker_metric *saker_metrics_find(const struct saker_metrics *m, const char *name,
					      const struct saker_metric_label *labels,
					      size_t n_labels);
/* The sum over every sample of a family (all label values), 0 when absent. */
double saker_metrics_sum(const struct saker_metrics *m, const char *name);
/* Its value as a double. */
double saker_metric_value(const struct saker_metric *s);

/* Prometheus text exposition format 0.0.4, names prefixed. */
int saker_metrics_render_prometheus(const struct saker_metrics *m, struct saker_sbuf *out);
/*
 * One JSON object: {"name{label=\"v\"}": value, ...} with unprefixed
 * names, for the ledger and metrics.output_file. No trailing newline.
 */
int saker_metrics_render_json(const struct saker_metrics *m, struct saker_sbuf *out);

#endif
