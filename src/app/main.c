/*
 * saker: the command line. Everything else is in app.c (set-up, wiring,
 * shutdown), loop.c (the one epoll loop), pipeline.c (each record decoded
 * once, consumers in a fixed order), reload.c (configuration, SIGHUP) and
 * summary.c (the shutdown summary).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "app/app.h"
#include "app/ruleset.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: saker [options]\n"
		"  -c FILE           configuration file (default: the embedded saker.yaml)\n"
		"  -o KEY=VALUE      override a configuration key (repeatable, after -c),\n"
		"                    e.g. -o syscall_event_drops.actions=[log,exit]\n"
		"  -r FILE|DIR       load rules from FILE, or DIR's *.yaml/*.yml in sorted\n"
		"                    order (repeatable; replaces rules_files; default: the\n"
		"                    embedded saker_rules.yaml)\n"
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
	int opt, status;

	o.overrides = calloc((size_t)argc, sizeof(char *));
	o.rules_paths = calloc((size_t)argc, sizeof(char *));
	o.validate_paths = calloc((size_t)argc, sizeof(char *));
	if (!o.overrides || !o.rules_paths || !o.validate_paths) {
		status = SAKER_EXIT_FATAL;
		goto out;
	}
	while ((opt = getopt_long(argc, argv, "c:o:hUr:LV:w:", longopts, NULL)) != -1) {
		switch (opt) {
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
		fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
		status = SAKER_EXIT_FATAL;
		goto out;
	}
	status = saker_app_run(&o);
out:
	free(o.overrides);
	free(o.rules_paths);
	free(o.validate_paths);
	return status;
}
