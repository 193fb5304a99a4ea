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

int saker_fleet_main(int argc, char **argv)
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
	const char *servers[MAX_SERVERS];
	struct saker_fleet_opts fo = {.since_ns = SAKER_FLEET_DEFAULT_SINCE_NS,
				      .stale_ns = SAKER_FLEET_DEFAULT_STALE_NS};
	struct saker_fleet_source_opts so = {.stream = "SAKER", .prefix = "saker"};
	struct saker_fleet_source *src = NULL;
	struct saker_fleet *f = NULL;
	char *list = NULL, err[512];
	int64_t timeout_ns = 5000000000ll;
	bool json = false, watch = false;
	int opt, status = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SERVERS:
			free(list);
			list = strdup(optarg);
			if (!list)
				goto out;
			so.n_servers = 0;
			for (char *sp = NULL, *t = strtok_r(list, ",", &sp); t;
			     t = strtok_r(NULL, ",", &sp)) {
				if (so.n_servers == MAX_SERVERS) {
					fprintf(stderr, "Error: --servers: at most %d\n",
						MAX_SERVERS);
					goto out;
				}
				servers[so.n_servers++] = t;
			}
			break;
		case O_STREAM:
			so.stream = optarg;
			break;
		case O_PREFIX:
			so.prefix = optarg;
			break;
		case O_SINCE:
			if (duration("since", optarg, &fo.since_ns))
				goto out;
			break;
		case O_STALE:
			if (duration("stale", optarg, &fo.stale_ns))
				goto out;
			break;
		case O_TIMEOUT:
			if (duration("timeout", optarg, &timeout_ns))
				goto out;
			break;
		case O_JSON:
			json = true;
			break;
		case O_WATCH:
			watch = true;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: saker fleet: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	if (!so.n_servers) {
		servers[0] = "nats://127.0.0.1:4222";
		so.n_servers = 1;
	}
	if (!*so.stream || !*so.prefix) {
		fprintf(stderr,
			"Error: saker fleet: --stream and --subject-prefix cannot be empty\n");
		goto out;
	}
	so.servers = servers;
	so.timeout_ms = timeout_ns / 1000000;
	so.start_ns = real_ns() - fo.since_ns;
	if (saker_fleet_new(&f, &fo)) {
		fprintf(stderr, "Error: saker fleet: out of memory\n");
		goto out;
	}
	if (watch) {
		struct sigaction sa = {.sa_handler = on_stop};

		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGINT, &sa, NULL);
		(void)sigaction(SIGTERM, &sa, NULL);
	}
	if (saker_fleet_source_open(&src, &so, err, sizeof(err)) ||
	    saker_fleet_source_catch_up(src, f, err, sizeof(err))) {
		fprintf(stderr, "Error: saker fleet: %s\n", err);
		goto out;
	}
	if (show(f, json, watch && !json && isatty(STDOUT_FILENO)))
		goto out;
	while (watch && !stop_requested) {
		if (saker_fleet_source_poll(src, f, mono_ms() + 1000, err, sizeof(err))) {
			fprintf(stderr, "Error: saker fleet: %s\n", err);
			goto out;
		}
		if (!stop_requested && show(f, json, !json && isatty(STDOUT_FILENO)))
			goto out;
	}
	status = 0;
out:
	saker_fleet_source_close(src);
	saker_fleet_free(f);
	free(list);
	return status;
}
