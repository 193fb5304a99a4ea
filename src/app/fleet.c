#include "app/fleet.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/sbuf.h"
#include "outputs/fleet.h"

#define MAX_SERVERS 32

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: saker fleet [options]\n"
	       "  --servers URL,...   NATS servers (default nats://127.0.0.1:4222)\n"
	       "  --stream NAME       JetStream stream (default SAKER)\n"
	       "  --subject-prefix P  subjects P.<host>.coverage|alerts (default saker)\n"
	       "  --since DURATION    the window the counts cover, e.g. 90s, 15m, 1h (default 1h)\n"
	       "  --stale DURATION    a host is silent after this long without a coverage\n"
	       "                      record, at least 2 of its windows (default 5s)\n"
	       "  --json              one JSON object instead of the table\n"
	       "  --watch             refresh once a second until SIGINT or SIGTERM\n"
	       "  --timeout DURATION  connect and read timeout (default 5s)\n"
	       "  -h, --help          this help\n"
	       "Needs no privileges: it only reads the stream (docs/fleet.md).\n");
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int show(struct saker_fleet *f, bool json, bool clear)
{
	struct saker_sbuf b;
	int ret = 0;

	saker_sbuf_init(&b);
	if (clear)
		saker_sbuf_puts(&b, "\033[H\033[2J");
	if (json) {
		saker_fleet_render_json(f, real_ns(), &b);
		saker_sbuf_putc(&b, '\n');
	} else {
		saker_fleet_render_text(f, real_ns(), &b);
	}
	if (b.oom || fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout))
		ret = -EIO;
	saker_sbuf_free(&b);
	return ret;
}

static int duration(const char *opt, const char *arg, int64_t *ns)
{
	if (saker_fleet_parse_duration(arg, ns) == 0 && *ns > 0)
		return 0;
	fprintf(stderr, "Error: --%s: '%s' is not a duration (e.g. 90s, 15m, 1h)\n", opt, arg);
	return -EINVAL;
}

/* What the command line asks for; servers point into list. */
struct fleet_args {
	const char *servers[MAX_SERVERS];
	char *list;
	struct saker_fleet_opts fo;
	struct saker_fleet_source_opts so;
	int64_t timeout_ns;
	bool json, watch;
};

static int parse_servers(struct fleet_args *a, const char *arg)
{
	free(a->list);
	a->list = strdup(arg);
	if (!a->list)
		return -ENOMEM;
	a->so.n_servers = 0;
	for (char *sp = NULL, *t = strtok_r(a->list, ",", &sp); t; t = strtok_r(NULL, ",", &sp)) {
		if (a->so.n_servers == MAX_SERVERS) {
			fprintf(stderr, "Error: --servers: at most %d\n", MAX_SERVERS);
			return -EINVAL;
		}
		a->servers[a->so.n_servers++] = t;
	}
	return 0;
}

/* 0: run; 1: done (--help); negative: a usage error, said on stderr. */
static int parse_args(int argc, char **argv, struct fleet_args *a)
{
	enum { O_SERVERS = 256, O_STREAM, O_PREFIX, O_SINCE, O_STALE, O_JSON, O_WATCH, O_TIMEOUT };
	static const struct option longopts[] = {
	    {"servers", required_argument, NULL, O_SERVERS},
	    {"stream", required_argument, NULL, O_STREAM},
	    {"subject-prefix", required_argument, NULL, O_PREFIX},
	    {"since", required_argument, NULL, O_SINCE},
	    {"stale", required_argument, NULL, O_STALE},
	    {"json", no_argument, NULL, O_JSON},
	    {"watch", no_argument, NULL, O_WATCH},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int opt, err = 0;

	optind = 1;
	while (!err && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SERVERS:
			err = parse_servers(a, optarg);
			break;
		case O_STREAM:
			a->so.stream = optarg;
			break;
		case O_PREFIX:
			a->so.prefix = optarg;
			break;
		case O_SINCE:
			err = duration("since", optarg, &a->fo.since_ns);
			break;
		case O_STALE:
			err = duration("stale", optarg, &a->fo.stale_ns);
			break;
		case O_TIMEOUT:
			err = duration("timeout", optarg, &a->timeout_ns);
			break;
		case O_JSON:
			a->json = true;
			break;
		case O_WATCH:
			a->watch = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		fprintf(stderr, "Error: saker fleet: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!a->so.n_servers) {
		a->servers[0] = "nats://127.0.0.1:4222";
		a->so.n_servers = 1;
	}
	if (!*a->so.stream || !*a->so.prefix) {
		fprintf(stderr,
			"Error: saker fleet: --stream and --subject-prefix cannot be empty\n");
		return -EINVAL;
	}
	a->so.servers = a->servers;
	a->so.timeout_ms = a->timeout_ns / 1000000;
	return 0;
}

/* Catches up with the stream, shows the fleet, and with --watch keeps showing it. */
static int run(struct fleet_args *a)
{
	struct saker_fleet_source *src = NULL;
	struct saker_fleet *f = NULL;
	char err[512];
	int status = 1;

	a->so.start_ns = real_ns() - a->fo.since_ns;
	if (saker_fleet_new(&f, &a->fo)) {
		fprintf(stderr, "Error: saker fleet: out of memory\n");
		return 1;
	}
	if (a->watch) {
		struct sigaction sa = {.sa_handler = on_stop};

		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGINT, &sa, NULL);
		(void)sigaction(SIGTERM, &sa, NULL);
	}
	if (saker_fleet_source_open(&src, &a->so, err, sizeof(err)) ||
	    saker_fleet_source_catch_up(src, f, err, sizeof(err))) {
		fprintf(stderr, "Error: saker fleet: %s\n", err);
		goto out;
	}
	if (show(f, a->json, a->watch && !a->json && isatty(STDOUT_FILENO)))
		goto out;
	while (a->watch && !stop_requested) {
		if (saker_fleet_source_poll(src, f, mono_ms() + 1000, err, sizeof(err))) {
			fprintf(stderr, "Error: saker fleet: %s\n", err);
			goto out;
		}
		if (!stop_requested && show(f, a->json, !a->json && isatty(STDOUT_FILENO)))
			goto out;
	}
	status = 0;
out:
	saker_fleet_source_close(src);
	saker_fleet_free(f);
	return status;
}

int saker_fleet_main(int argc, char **argv)
{
	struct fleet_args a = {
	    .fo = {.since_ns = SAKER_FLEET_DEFAULT_SINCE_NS,
		   .stale_ns = SAKER_FLEET_DEFAULT_STALE_NS},
	    .so = {.stream = "SAKER", .prefix = "saker"},
	    .timeout_ns = 5000000000ll,
	};
	int ret = parse_args(argc, argv, &a);

	if (ret == 0)
		ret = run(&a);
	else
		ret = ret > 0 ? 0 : 1;
	free(a.list);
	return ret;
}
