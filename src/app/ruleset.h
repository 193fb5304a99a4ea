/*
 * The rules in the running binary: which files are loaded (-r, rules_files,
 * the older rules_file, else the embedded default ruleset), the listings of
 * -L, --list, -V and --dry-run, and the pipeline's rules slot, which hands
 * each match to the outputs as an alert. The engine itself is rules/.
 */
#ifndef SAKER_RULESET_H
#define SAKER_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "saker_abi.h"
#include "config/config.h"
#include "lib/log.h"
#include "observe/collect.h"

struct saker_rules;
struct saker_event;
struct saker_view;
struct saker_outputs;

/* The embedded etc/rules/saker_rules.yaml (NUL-terminated). */
extern const char saker_default_rules_yaml[];
#define SAKER_DEFAULT_RULES_NAME "<embedded saker_rules.yaml>"

/* The rules slot's state (the pipeline's rules_ctx). */
struct saker_ruleset {
	struct saker_rules *rules;
	struct saker_view *view;
	struct saker_outputs *outputs;
	uint64_t matches;	  /* events a rule matched */
	uint64_t alerts;	  /* ... whose alert the outputs took (or filtered by priority) */
	uint64_t alerts_refused;  /* ... that no output channel took */
	uint64_t errors;	  /* evaluations that failed */
	uint64_t alerts_degraded; /* matches raised on a possibly stale view (view_degraded) */
	uint64_t reloads;	  /* SIGHUP reloads that swapped the rules in */
	uint64_t reload_failures; /* ... that failed and kept the running rules */
	bool default_rules;	  /* the embedded ruleset is loaded */
	char **used;		  /* the paths loaded (missing rules_files entries left out) */
	size_t n_used;
};

/*
 * rules_files as Falco reads them: entries that do not exist are skipped
 * (one warning names them all); when none is left, the embedded ruleset runs
 * (a warning says so). Without it (-r, -V) a missing path is an error.
 */
#define SAKER_RULESET_SKIP_MISSING 0x1u

/*
 * Loads paths (files, or directories: their *.yaml / *.yml in sorted order)
 * or, with none, the embedded default ruleset, and compiles. Loader warnings
 * go to log with "Warning:". 0, or -errno with err ("file:line:col: what").
 */
int saker_ruleset_load(struct saker_ruleset *rs, const struct saker_config *cfg, char *const *paths,
		       size_t n_paths, unsigned flags, const struct saker_log *log, char *err,
		       size_t errlen);
void saker_ruleset_fini(struct saker_ruleset *rs);

/*
 * The files a configuration names: rules_files, else rules_file, else
 * SAKER_RULES_DIR when it is a directory (n = 0: the embedded default).
 */
#ifndef SAKER_RULES_DIR
#define SAKER_RULES_DIR "/etc/saker/rules.d"
#endif
void saker_ruleset_config_paths(const struct saker_config *cfg, char *const **paths, size_t *n);

/* The pipeline's rules slot: ctx is a struct saker_ruleset. */
int saker_ruleset_on_event(void *ctx, const struct saker_event *ev);

/*
 * The syscalls the loaded rules need (sel[id] = 1); *all when a rule has no
 * event-type restriction. Both zero without rules.
 */
void saker_ruleset_syscalls(const struct saker_ruleset *rs, uint8_t sel[SAKER_SYSCALL_MAX],
			    bool *all);

/*
 * The syscalls the rules need (sel, all: saker_ruleset_syscalls()) that the
 * capture table does not select (base_syscalls.custom_set "!name" removes
 * them), as one warning line into buf; how many (0: buf is empty).
 */
size_t saker_ruleset_excluded(const uint8_t sel[SAKER_SYSCALL_MAX], bool all,
			      const uint8_t table[SAKER_SYSCALL_MAX], char *buf, size_t len);

/* -L: loaded rules, one line each: name, priority, source file:line. */
void saker_ruleset_print_loaded(const struct saker_ruleset *rs, FILE *f);
/* --dry-run: counts, every rule not loaded with its reason, the effective selection. */
void saker_ruleset_print_report(const struct saker_ruleset *rs,
				const uint8_t table[SAKER_SYSCALL_MAX], FILE *f);
/* --list: every supported field with its type and description. */
void saker_ruleset_print_fields(FILE *f);

/* The rules' figures for the metrics collection (observe/collect.h). */
void saker_ruleset_collect_stats(const struct saker_ruleset *rs, struct saker_collect_rules *out);

#endif
