/*
 * saker: the command line. Everything else is in app.c (the modes and their
 * set-up), run.c (what the modes share, the one clean-up), replay.c,
 * pipeline.c (each record decoded once, consumers in a fixed order),
 * reload.c (configuration, SIGHUP) and summary.c (the shutdown summary).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/fleet.h"
#include "app/ruleset.h"
#include "drops/drops.h"

enum { OPT_DRY_RUN = 256, OPT_VERSION, OPT_DUMP, OPT_METRICS_JSON, OPT_LIST };

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

/* The command line in opts and sel; argument arrays sized by argc. */
struct cmdline {
	struct saker_app_opts o;
	char **sel; /* -D, -T, -t as `rules:` entries, owned */
	size_t n_sel, n_disable, n_enable;
};

/* -D, -T or -t; 0 or -ENOMEM. */
static int add_selection(struct cmdline *c, int opt, const char *arg)
{
	if (opt == 't' && !c->n_enable++ && !(c->sel[c->n_sel++] = selection('*', NULL)))
		return -ENOMEM;
	c->n_disable += opt != 't';
	c->sel[c->n_sel] = selection(opt == 't' ? 'E' : opt, arg);
	return c->sel[c->n_sel++] ? 0 : -ENOMEM;
}

/*
 * One option into c. 0 to go on; else 1 + the exit status of an option that
 * ends saker here (--help, --version, --list, a bad option, out of memory).
 */
static int one_option(struct cmdline *c, int opt, char *arg)
{
	struct saker_app_opts *o = &c->o;

	switch (opt) {
	case 'D':
	case 'T':
	case 't':
		return add_selection(c, opt, arg) ? 1 + SAKER_EXIT_FATAL : 0;
	case 'c':
		o->config_path = arg;
		break;
	case 'o':
		o->overrides[o->n_overrides++] = arg;
		break;
	case 'r':
		o->rules_paths[o->n_rules_paths++] = arg;
		break;
	case 'V':
		o->validate_paths[o->n_validate_paths++] = arg;
		break;
	case 'L':
		o->list_rules = true;
		break;
	case 'w':
		o->write_path = arg;
		break;
	case OPT_LIST:
		saker_ruleset_print_fields(stdout);
		return 1 + (fflush(stdout) ? SAKER_EXIT_FATAL : 0);
	case OPT_DUMP:
		o->dump = true;
		break;
	case OPT_METRICS_JSON:
		o->metrics_json = arg;
		break;
	case 'U':
		o->unbuffered = true;
		break;
	case OPT_DRY_RUN:
		o->dry_run = true;
		break;
	case 'h':
		usage(stdout);
		return 1;
	case OPT_VERSION:
		printf("saker %s\n", SAKER_VERSION);
		return 1;
	default:
		usage(stderr);
		return 1 + SAKER_EXIT_FATAL;
	}
	return 0;
}

/* As one_option, for the whole command line; -D/-T/-t are appended to the overrides. */
static int parse(struct cmdline *c, int argc, char **argv)
{
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
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:o:hUr:LV:w:D:T:t:", longopts, NULL)) != -1)
		if ((ret = one_option(c, opt, optarg)))
			return ret;
	if (optind < argc) {
		saker_log_fatal(NULL, "unexpected argument '%s'", argv[optind]);
		return 1 + SAKER_EXIT_FATAL;
	}
	if (c->n_disable && c->n_enable) {
		/* Falco's rule: what -t keeps and what -D/-T drop would contradict each other */
		saker_log_fatal(NULL, "-D/-T (disable) and -t (run only) cannot be combined");
		return 1 + SAKER_EXIT_FATAL;
	}
	for (size_t i = 0; i < c->n_sel; i++)
		c->o.overrides[c->o.n_overrides++] = c->sel[i];
	return 0;
}

int main(int argc, char **argv)
{
	struct cmdline c = {0};
	int status;

	/* A mode of its own: no configuration, no probe, no privileges. */
	if (argc > 1 && !strcmp(argv[1], "fleet"))
		return saker_fleet_main(argc - 1, argv + 1);
	/* + 1: -t adds "disable every rule" once, before its tags */
	c.sel = calloc((size_t)argc + 1, sizeof(char *));
	c.o.overrides = calloc((size_t)argc + 1, sizeof(char *));
	c.o.rules_paths = calloc((size_t)argc, sizeof(char *));
	c.o.validate_paths = calloc((size_t)argc, sizeof(char *));
	if (!c.o.overrides || !c.o.rules_paths || !c.o.validate_paths || !c.sel)
		status = SAKER_EXIT_FATAL;
	else if ((status = parse(&c, argc, argv)))
		status--;
	else
		status = saker_app_run(&c.o);
	for (size_t i = 0; c.sel && i < c.n_sel; i++)
		free(c.sel[i]);
	free(c.sel);
	free(c.o.overrides);
	free(c.o.rules_paths);
	free(c.o.validate_paths);
	return status;
}
