/*
 * The alert: what every producer (drop check, rules) hands to the outputs.
 * A leaf type, so producers need not know the output API.
 */
#ifndef SAKER_ALERT_H
#define SAKER_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/prio.h"

enum saker_field_type {
	SAKER_FIELD_U64,
	SAKER_FIELD_S64,
	SAKER_FIELD_STR,
	SAKER_FIELD_BOOL,
};

struct saker_field {
	const char *name;
	enum saker_field_type type;
	union {
		uint64_t u64;
		int64_t s64;
		const char *str; /* NULL prints as <NA> */
		bool b;
	};
};

struct saker_alert {
	uint64_t time_ns; /* CLOCK_REALTIME, ns */
	enum saker_prio priority;
	const char *rule;
	const char *source; /* "internal" (saker's own) or "syscall" (rules) */
	const char *output; /* the message; text form of internal alerts appends " (k=v ...)" */
	const struct saker_field *fields;
	size_t n_fields; /* formatters print them in name order */
	const char *const *tags;
	size_t n_tags;
	/*
	 * A rule alert raised on a process whose view may be stale because events
	 * were lost (state/degraded.h): the producer appends " view_degraded=true"
	 * to output (where Falco's append_output appends) and adds the field.
	 */
	bool view_degraded;
};

#endif
