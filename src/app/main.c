/*
 * saker: the command line. Everything else is in app.c (set-up, wiring,
 * shutdown), loop.c (the one epoll loop), pipeline.c (each record decoded
 * once, consumers in a fixed order), reload.c (configuration, SIGHUP) and
 * summary.c (the shutdown summary).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/fleet.h"
#include "app/ruleset.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: saker [options]\n"
		"       saker fleet [options]   the fleet's coverage from NATS (saker fleet -h)\n"
		"  -c FILE           configuration file (default: the embedded saker.yaml)\n"
		"  -o KEY=VALUE      override a configuration key (repeatable, after -c),\n"
		"                    e.g. -o syscall_event_drops.actions=[log,exit]\n"
		"  -r FILE|DIR       load rules from FILE, or DIR's *.yaml/*.yml in sorted\n"
		"                    order (repeatable; replaces rules_files; default: the\n"
		"                    embedded saker_rules.yaml)\n"
		"  -D SUBSTRING      disable the rules whose name contains SUBSTRING\n"
		"                    (repeatable; as -o 'rules[]={disable: {rule: \"*S*\"}}')\n"
		"  -T TAG            disable the rules tagged TAG (repeatable)\n"
		"  -t TAG            run only the rules tagged TAG (repeatable; not with -D/-T)\n"
		"  -L                list the loaded rules (name, priority, file) and exit\n"
		"  --list            list the supported fields and exit\n"
		"  -V FILE           validate a rules file (repeatable) and exit: 0 valid, 1 not\n"
		"  --dry-run         validate the configuration and rules, print the\n"
		"                    configuration, the rules not loaded and why, and the\n"
		"                    syscall selection, and exit\n"
		"  --dump            print every captured event (docs/dump.md)\n"
		"  -w FILE           record the captured events to FILE (0600), to replay\n"
		"                    with -o engine.kind=replay\n"
		"                    -o engine.replay.capture_file=FILE (docs/replay.md)\n"
		"  --metrics-json FILE  at exit, write the final metrics (the summary's\n"
		"                    figures and more) to FILE as one JSON object\n"
		"  -U, --unbuffered  flush every alert (buffered_outputs=false)\n"
		"  -h, --help        this help\n"
		"  --version         print the version\n"
		"Exit status: 0 stopped by a signal, 1 fatal or configuration error,\n"
		"             %d the syscall_event_drops `exit` action.\n",
		SAKER_EXIT_DROPS);
}

/*
 * -D, -T and -t as Falco reads them since 0.38: entries of the `rules:`
 * selection, after the configuration's own, so --dry-run shows them.
 * kind: 'D' disable by name substring, 'T' disable by tag, 'E' enable by tag,
 * '*' disable every rule. NULL on ENOMEM.
 */
static char *selection(int kind, const char *arg)
{
	size_t n = arg ? strlen(arg) : 0;
	char *q = malloc(2 * n + 1), *o = q, *out = NULL;

	if (!q)
		return NULL;
	/* YAML single quotes: only ' needs escaping, by doubling it */
	for (size_t i = 0; i < n; i++) {
		if (arg[i] == '\'')
			*o++ = '\'';
		*o++ = arg[i];
	}
	*o = '\0';
	if (kind == 'D' && asprintf(&out, "rules[]={disable: {rule: '*%s*'}}", q) < 0)
		out = NULL;
	else if (kind == 'T' && asprintf(&out, "rules[]={disable: {tag: '%s'}}", q) < 0)
		out = NULL;
	else if (kind == 'E' && asprintf(&out, "rules[]={enable: {tag: '%s'}}", q) < 0)
		out = NULL;
	else if (kind == '*')
		out = strdup("rules[]={disable: {rule: '*'}}");
	free(q);
	return out;
}

int main(int argc, char **argv)
{
	enum { OPT_DRY_RUN = 256, OPT_VERSION, OPT_DUMP, OPT_METRICS_JSON, OPT_LIST };
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"unbuffered", no_argument, NULL, 'U'},
	    {"dump", no_argument, NULL, OPT_DUMP},
	    {"metrics-json", required_argument, NULL, OPT_METRICS_JSON},
	    {"list", no_argument, NULL, OPT_LIST},
	    {0},
	};
	struct saker_app_opts o = {0};
	char **sel = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_sel = 0, n_disable = 0, n_enable = 0;
	int opt, status;

	/* A mode of its own: no configuration, no probe, no privileges. */
	if (argc > 1 && !strcmp(argv[1], "fleet")) {
		free(sel);
		return saker_fleet_main(argc - 1, argv + 1);
	}
	/* + 1: -t adds "disable every rule" once, before its tags */
	o.overrides = calloc((size_t)argc + 1, sizeof(char *));
	o.rules_paths = calloc((size_t)argc, sizeof(char *));
	o.validate_paths = calloc((size_t)argc, sizeof(char *));
	if (!o.overrides || !o.rules_paths || !o.validate_paths || !sel) {
		status = SAKER_EXIT_FATAL;
		goto out;
	}
	while ((opt = getopt_long(argc, argv, "c:o:hUr:LV:w:D:T:t:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D':
		case 'T':
		case 't':
			if (opt == 't' && !n_enable++ && !(sel[n_sel++] = selection('*', NULL))) {
				status = SAKER_EXIT_FATAL;
				goto out;
			}
			n_disable += opt != 't';
			sel[n_sel] = selection(opt == 't' ? 'E' : opt, optarg);
			if (!sel[n_sel++]) {
				status = SAKER_EXIT_FATAL;
				goto out;
			}
			break;
		case 'c':
			o.config_path = optarg;
			break;
		case 'o':
			o.overrides[o.n_overrides++] = optarg;
			break;
		case 'r':
			o.rules_paths[o.n_rules_paths++] = optarg;
			break;
		case 'V':
			o.validate_paths[o.n_validate_paths++] = optarg;
			break;
		case 'L':
			o.list_rules = true;
			break;
		case 'w':
			o.write_path = optarg;
			break;
		case OPT_LIST:
			saker_ruleset_print_fields(stdout);
			status = fflush(stdout) ? SAKER_EXIT_FATAL : 0;
			goto out;
		case OPT_DUMP:
			o.dump = true;
			break;
		case OPT_METRICS_JSON:
			o.metrics_json = optarg;
			break;
		case 'U':
			o.unbuffered = true;
			break;
		case OPT_DRY_RUN:
			o.dry_run = true;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		case OPT_VERSION:
			printf("saker %s\n", SAKER_VERSION);
			status = 0;
			goto out;
		default:
			usage(stderr);
			status = SAKER_EXIT_FATAL;
			goto out;
		}
	}
	if (optind < argc) {
		saker_log_fatal(NULL, "unexpected argument '%s'", argv[optind]);
		status = SAKER_EXIT_FATAL;
		goto out;
	}
	if (n_disable && n_enable) {
		/* Falco's rule: what -t keeps and what -D/-T drop would contradict each other */
		saker_log_fatal(NULL, "-D/-T (disable) and -t (run only) cannot be combined");
		status = SAKER_EXIT_FATAL;
		goto out;
	}
	for (size_t i = 0; i < n_sel; i++)
		o.overrides[o.n_overrides++] = sel[i];
	status = saker_app_run(&o);
out:
	for (size_t i = 0; sel && i < n_sel; i++)
		free(sel[i]);
	free(sel);
	free(o.overrides);
	free(o.rules_paths);
	free(o.validate_paths);
	return status;
}
