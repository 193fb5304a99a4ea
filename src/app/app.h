/*
 * saker as a whole: main.c reads the command line into struct
 * saker_app_opts and calls saker_app_run(), which runs one mode (app.c:
 * validate, report, live; replay.c: replay). What the modes share is in
 * app/run.h.
 */
#ifndef SAKER_APP_H
#define SAKER_APP_H

#include <stdbool.h>
#include <stddef.h>

#ifndef SAKER_VERSION
#define SAKER_VERSION "0.1.0"
#endif

#define SAKER_EXIT_FATAL 1

/* What the command line asked for (the configuration is re-read from it on SIGHUP). */
struct saker_app_opts {
	const char *config_path; /* NULL = the embedded saker.yaml */
	char **overrides;	 /* -o KEY=VALUE, in order */
	size_t n_overrides;
	bool unbuffered;	  /* -U */
	bool dump;		  /* --dump */
	bool dry_run;		  /* --dry-run */
	const char *metrics_json; /* --metrics-json FILE: the final metrics as one JSON object */
	char **rules_paths;	  /* -r FILE|DIR, in order: replace rules_files */
	size_t n_rules_paths;
	char **validate_paths; /* -V FILE: validate these rules files and exit */
	size_t n_validate_paths;
	bool list_rules;	/* -L */
	const char *write_path; /* -w FILE: record the ring records (capture/record.h) */
};

/* Runs saker as opts says; returns the process exit status. */
int saker_app_run(const struct saker_app_opts *opts);

#endif
