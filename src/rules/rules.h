/*
 * The rules engine: loads Falco rules files (rules, macros, lists,
 * exceptions, overrides), compiles every enabled rule once and matches
 * decoded events against the rules that can match their event type.
 *
 * Life cycle: saker_rules_new(), any number of saker_rules_load_file() /
 * saker_rules_load_buffer() (later files override earlier ones, as in
 * Falco), one saker_rules_compile(), then saker_rules_match() per event
 * after the view has applied it. Loading is not thread-safe; matching uses
 * the engine's own scratch state, so one engine serves one thread.
 *
 * Errors (a YAML syntax error, a rule without a condition, an undefined
 * macro, a value that does not fit its field, a field or operator neither
 * saker nor Falco has unless the rule sets skip-if-unknown-filter) make a
 * load or the compile fail with "file:line:col: what". A rule that needs
 * something saker does not have (a Falco or plugin field saker lacks, a
 * field transformer, a field saker never has a value for in a place where
 * the rule cannot match without it) is skipped: the warning callback names
 * the rule and why, and saker_rules_get() keeps the reason.
 */
#ifndef SAKER_RULES_H
#define SAKER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "lib/alert.h"
#include "lib/prio.h"
#include "lib/report.h"

struct saker_rules;
struct saker_event;
struct saker_view;

/* The Falco engine version saker's rule language corresponds to. */
#define SAKER_RULES_ENGINE_VERSION "0.57.0"

/* Warnings, one complete line each (no trailing newline). */

enum saker_rule_state {
	SAKER_RULE_LOADED = 0, /* compiled and matched */
	SAKER_RULE_DISABLED,   /* enabled: false */
	SAKER_RULE_SKIPPED,    /* not matched: reason says why */
};

struct saker_rule_info {
	const char *name;
	const char *desc;
	const char *condition; /* as compiled: exceptions appended */
	const char *output;
	enum saker_prio priority;
	const char *const *tags;
	size_t n_tags;
	const char *file; /* where the rule was defined */
	unsigned line, col;
	enum saker_rule_state state;
	const char *reason; /* SKIPPED (and DISABLED): why; NULL when loaded */
	bool catchall;	    /* no event-type restriction: tested on every event */
	uint64_t matches;   /* events that matched since the compile */
};

int saker_rules_new(struct saker_rules **out);
void saker_rules_free(struct saker_rules *r);

/*
 * Falco's rule_matching: false (the default, Falco's "first") stops at the
 * first rule an event matches, in definition order; true reports every one.
 */
void saker_rules_set_match_all(struct saker_rules *r, bool all);
/* Rules less severe than min are skipped at compile time (Falco's `priority`). */
void saker_rules_set_min_priority(struct saker_rules *r, enum saker_prio min);
/* Where user and group names come from: root/etc/passwd, root/etc/group (NULL = "/"). */
int saker_rules_set_names_root(struct saker_rules *r, const char *root);
/* CLOCK_REALTIME - CLOCK_BOOTTIME in ns, for alert times (default: measured at new). */
void saker_rules_set_boot_offset(struct saker_rules *r, uint64_t ns);

/*
 * Falco's append_output entry: to every rule whose source, name and tags
 * (all listed) match (a NULL/empty condition matches any), extra_output is
 * appended to the output after a space, and extra_fields go to the alert's
 * fields (JSON output_fields only): field_values[i] NULL makes
 * field_keys[i] a field name (its value), otherwise field_keys[i] is the
 * key and field_values[i] a format (text and %fields) rendered as a string.
 * Before saker_rules_compile(); entries apply in the order added. Copied.
 */
struct saker_rules_append {
	const char *source, *rule;
	const char *const *tags;
	size_t n_tags;
	const char *extra_output;
	const char *const *field_keys;
	const char *const *field_values;
	size_t n_fields;
};
int saker_rules_add_append(struct saker_rules *r, const struct saker_rules_append *a);

/*
 * Falco's `rules:` selection, after the files are loaded and before the
 * compile, in the order given: enables or disables every rule whose name
 * matches rule (a glob: * and ?; NULL = none) and every rule tagged tag
 * (NULL = none), overriding the files' `enabled:`. Returns how many rules it
 * matched, or -EBUSY once compiled.
 */
int saker_rules_select(struct saker_rules *r, bool enable, const char *rule, const char *tag);

/* 0, or -errno with err = "file:line:col: what". warn may be NULL. */
int saker_rules_load_file(struct saker_rules *r, const char *path, char *err, size_t errlen,
			  saker_report_fn warn, void *warn_ctx);
int saker_rules_load_buffer(struct saker_rules *r, const char *name, const char *buf, size_t len,
			    char *err, size_t errlen, saker_report_fn warn, void *warn_ctx);

/* Compiles what was loaded; only once. 0, or -errno with err. */
int saker_rules_compile(struct saker_rules *r, char *err, size_t errlen, saker_report_fn warn,
			void *warn_ctx);

/* Rules in definition order, loaded or not. */
size_t saker_rules_count(const struct saker_rules *r);
const struct saker_rule_info *saker_rules_get(const struct saker_rules *r, size_t i);
/* Rules in the LOADED state. */
size_t saker_rules_loaded(const struct saker_rules *r);
size_t saker_rules_macros(const struct saker_rules *r);
size_t saker_rules_lists(const struct saker_rules *r);

/*
 * The syscalls the loaded rules need: sel[id] = 1 for each. *all is set when
 * a loaded rule has no event-type restriction (it would need every syscall).
 * Lifecycle records (exec, exit) are always captured and not listed.
 */
void saker_rules_syscalls(const struct saker_rules *r, uint8_t sel[SAKER_SYSCALL_MAX], bool *all);

/*
 * Called for the rule an event matches first (every rule it matches with
 * saker_rules_set_match_all()), in definition order. The alert
 * and everything it points to are valid during the call only.
 */
typedef void (*saker_rules_match_fn)(void *ctx, const struct saker_rule_info *rule,
				     const struct saker_alert *alert);

/*
 * Tests a decoded event (after the view applied it) against the rules of its
 * event type. Returns how many matched (at most 1 unless match_all). view may be NULL (process and
 * fd fields are then missing); cb may be NULL (only counting).
 */
int saker_rules_match(struct saker_rules *r, const struct saker_event *ev, struct saker_view *view,
		      saker_rules_match_fn cb, void *cb_ctx);

/* Events tested and rules evaluated since the compile (statistics, benchmarks). */
void saker_rules_stats(const struct saker_rules *r, uint64_t *events, uint64_t *evals,
		       uint64_t *matches);

#endif
