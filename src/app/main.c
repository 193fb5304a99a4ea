/*
 * saker: entry point and the one event loop. epoll watches the ring buffers,
 * a monotonic timerfd (the once-a-second drop check, which therefore runs
 * whether or not events arrive) and a signalfd (INT/TERM stop, HUP reloads,
 * USR1 reopens outputs). Rings are also drained on a short epoll timeout,
 * because the probe submits without waking us until a ring fills up.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "config/config.h"
#include "drops/drops.h"
#include "outputs/dump.h"
#include "state/view.h"
#include "lib/log.h"
#include "outputs/outputs.h"
#include "capture/syscalls.h"
#include "app/preflight.h"
#include "app/privilege.h"
#include "app/losslog.h"

#ifndef SAKER_VERSION
#define SAKER_VERSION "0.1.0"
#endif

#define EXIT_FATAL 1
/* Rings are drained at least this often even without a wake-up. */
#define DRAIN_PERIOD_MS 25
/* Records consumed per ring between two looks at the timers and signals. */
#define DRAIN_BUDGET	  65536
#define SHUTDOWN_FLUSH_MS 5000

enum { TAG_SIGNAL = -1, TAG_TIMER = -2 };

struct app {
	/* how the configuration was given, to re-read it on SIGHUP */
	const char *config_path;
	char **overrides;
	size_t n_overrides;
	bool unbuffered;

	struct saker_config cfg;
	struct saker_log log;
	struct saker_outputs *outputs;
	struct saker_capture *cap;
	struct saker_drops drops;
	int epfd, tfd, sfd;
	bool dump_on;
	struct saker_dump dump;
	struct saker_view *view;
	bool stop;
	int exit_status;
};

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void warn_cb(void *ctx, const char *msg)
{
	saker_log(ctx, SAKER_PRIO_WARNING, "%s", msg);
}

/*
 * Builds a configuration the way the command line asks, and the probe's
 * syscall table from it (building it is also what validates base_syscalls).
 * cfg is freed on error.
 */
static int load_config(const struct app *app, const struct saker_log *log, struct saker_config *cfg,
		       uint8_t table[SAKER_SYSCALL_MAX], char *err, size_t errlen)
{
	int ret;

	saker_config_init(cfg);
	if (app->config_path)
		ret = saker_config_load_file(cfg, app->config_path, err, errlen, warn_cb,
					     (void *)log);
	else
		ret = saker_config_load_buffer(
		    cfg, "<embedded saker.yaml>", saker_default_config_yaml,
		    strlen(saker_default_config_yaml), err, errlen, warn_cb, (void *)log);
	for (size_t i = 0; !ret && i < app->n_overrides; i++)
		ret = saker_config_override(cfg, app->overrides[i], err, errlen, warn_cb,
					    (void *)log);
	if (!ret && app->unbuffered)
		cfg->buffered_outputs = false;
	if (!ret)
		ret = saker_config_validate(cfg, err, errlen);
	if (!ret)
		ret = saker_syscalls_build_table(cfg, table, err, errlen);
	if (ret)
		saker_config_free(cfg);
	return ret;
}

static void log_from_config(struct saker_log *log, const struct saker_config *cfg)
{
	saker_log_init(log);
	log->level = cfg->log_level;
	log->to_stderr = cfg->log_stderr;
	log->to_syslog = cfg->log_syslog;
	log->iso8601 = cfg->time_format_iso_8601;
}

static void drops_log(void *ctx, enum saker_prio prio, const char *msg)
{
	struct app *app = ctx;

	saker_log(&app->log, prio, "%s", msg);
}

static void drops_alert(void *ctx, const struct saker_alert *alert)
{
	struct app *app = ctx;

	/* A refused alert is counted by the outputs and shows in the summary. */
	(void)saker_outputs_emit(app->outputs, alert);
}

static int drop_check(struct app *app)
{
	const struct saker_drops_actions act = {
	    .ctx = app,
	    .log = drops_log,
	    .alert = drops_alert,
	};
	struct saker_capture_stats st;
	int ret;

	ret = saker_capture_stats(app->cap, &st);
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR, "cannot read capture counters: %s",
			  strerror(-ret));
		return 0;
	}
	saker_losslog_check(app->cap, &app->log);
	if (saker_drops_check(&app->drops, &st, now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME),
			      &act) == SAKER_DROPS_EXIT) {
		app->stop = true;
		app->exit_status = SAKER_EXIT_DROPS;
	}
	return 0;
}

static void reload(struct app *app)
{
	struct saker_config cfg;
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[512];
	int ret;

	saker_log(&app->log, SAKER_PRIO_INFO, "SIGHUP: reloading configuration");
	ret = load_config(app, &app->log, &cfg, table, err, sizeof(err));
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "configuration reload failed, keeping the running one: %s", err);
		return;
	}
	if (saker_config_ring_bytes(&cfg) != saker_config_ring_bytes(&app->cfg) ||
	    cfg.engine.modern_ebpf.cpus_for_each_buffer !=
		app->cfg.engine.modern_ebpf.cpus_for_each_buffer)
		saker_log(&app->log, SAKER_PRIO_WARNING,
			  "engine.modern_ebpf changes take effect at the next start");
	/* Outputs first: if they refuse, nothing has changed yet. */
	ret = saker_outputs_reconfigure(app->outputs, &cfg);
	if (!ret)
		ret = saker_capture_set_syscalls(app->cap, table);
	if (!ret)
		saker_capture_set_lane_budget(app->cap, cfg.protected_lane.rate,
					      cfg.protected_lane.burst, cfg.protected_lane.uid_rate,
					      cfg.protected_lane.uid_burst);
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR, "configuration reload failed: %s",
			  strerror(-ret));
		saker_config_free(&cfg);
		return;
	}
	saker_drops_reconfigure(&app->drops, &cfg.drops, now_ns(CLOCK_MONOTONIC));
	saker_config_free(&app->cfg);
	app->cfg = cfg;
	log_from_config(&app->log, &app->cfg);
	saker_log(&app->log, SAKER_PRIO_INFO, "configuration reloaded");
}

static void handle_signal(struct app *app)
{
	struct signalfd_siginfo si;

	while (read(app->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			app->stop = true;
			break;
		case SIGHUP:
			reload(app);
			break;
		case SIGUSR1:
			saker_log(&app->log, SAKER_PRIO_INFO, "SIGUSR1: reopening outputs");
			saker_outputs_reopen(app->outputs);
			break;
		default:
			break;
		}
	}
}

static void on_event(void *ctx, const struct saker_evt_hdr *e, size_t len)
{
	struct app *app = ctx;

	/* Dump first: the line shows the state the event found (a close names its file). */
	if (app->dump_on)
		saker_dump_event(&app->dump, e, len, stdout);
	saker_view_handle_event(app->view, e, len);
}

static int epoll_add(int epfd, int fd, int tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(int64_t)tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The signals the loop reads from its signalfd. */
static void loop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1);
}

static int setup_loop(struct app *app)
{
	const struct itimerspec every_second = {
	    .it_interval = {.tv_sec = 1},
	    .it_value = {.tv_sec = 1},
	};
	sigset_t mask;
	int ret;

	app->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (app->epfd < 0)
		return -errno;
	/* CLOCK_MONOTONIC: wall-clock steps must not skip or repeat a check. */
	app->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (app->tfd < 0)
		return -errno;
	if (timerfd_settime(app->tfd, 0, &every_second, NULL))
		return -errno;
	loop_signals(&mask);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	app->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (app->sfd < 0)
		return -errno;
	ret = epoll_add(app->epfd, app->tfd, TAG_TIMER);
	if (!ret)
		ret = epoll_add(app->epfd, app->sfd, TAG_SIGNAL);
	for (unsigned i = 0; !ret && i < saker_capture_nr_rings(app->cap); i++)
		ret = epoll_add(app->epfd, saker_capture_ring_fd(app->cap, i), (int)i);
	return ret;
}

static int run_loop(struct app *app)
{
	struct epoll_event evs[16];

	while (!app->stop) {
		int n = epoll_wait(app->epfd, evs, 16, DRAIN_PERIOD_MS);
		bool timer = false;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			int tag = (int)(int64_t)evs[i].data.u64;

			if (tag == TAG_SIGNAL)
				handle_signal(app);
			else if (tag == TAG_TIMER)
				timer = true;
		}
		/* Rings are drained whatever woke us: wake-ups are only for full rings. */
		long got = saker_capture_drain(app->cap, DRAIN_BUDGET);
		/* A dump reader that went away (`saker --dump | head`) ends the run cleanly. */
		if (app->dump_on && (fflush(stdout) == EOF || ferror(stdout))) {
			saker_log(&app->log, SAKER_PRIO_INFO, "dump output closed (%s), stopping",
				  strerror(errno));
			app->stop = true;
		}
		if (got < 0)
			saker_log(&app->log, SAKER_PRIO_ERROR, "ring buffer read failed: %s",
				  strerror((int)-got));
		if (timer) {
			uint64_t expirations;

			if (read(app->tfd, &expirations, sizeof(expirations)) < 0 &&
			    errno != EAGAIN)
				return -errno;
			drop_check(app);
		}
	}
	return 0;
}

static void print_summary(struct app *app, const struct saker_capture_stats *st, bool exact)
{
	struct saker_outputs_stats os;
	FILE *f = stderr;

	fprintf(f, "saker summary:\n");
	fprintf(f, "   events seen: %llu\n", (unsigned long long)st->k[SAKER_CNT_EVTS]);
	fprintf(f, "   events delivered: %llu\n", (unsigned long long)st->delivered);
	fprintf(f, "   events dropped: %llu\n", (unsigned long long)saker_stats_drops(st));
	fprintf(f, "   dropped, buffer full: %llu\n",
		(unsigned long long)saker_stats_drops_buffer(st));
	for (int c = 0; c < SAKER_CAT_MAX; c++) {
		uint64_t v = st->k[SAKER_CNT_DROPS_BUFFER_FIRST + c];

		if (v)
			fprintf(f, "      %s: %llu\n",
				saker_counter_name(SAKER_CNT_DROPS_BUFFER_FIRST + c),
				(unsigned long long)v);
	}
	fprintf(f, "   dropped, protected lane (n_drops_critical): %llu\n",
		(unsigned long long)saker_stats_drops_critical(st));
	fprintf(f, "   demoted from the protected lane (n_demoted): %llu\n",
		(unsigned long long)st->k[SAKER_CNT_DEMOTED]);
	fprintf(f, "   dropped, oversized: %llu\n",
		(unsigned long long)st->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE]);
	fprintf(f, "   dropped, user space: %llu\n", (unsigned long long)st->user_drops);
	fprintf(f, "   user memory read failures (events kept): %llu\n",
		(unsigned long long)st->k[SAKER_CNT_PAGE_FAULTS]);
	fprintf(f, "   accounting: %s\n",
		exact ? "exact (seen == delivered + dropped)" : "INCOMPLETE (rings not drained)");
	saker_view_print_stats(app->view, f);
	fprintf(f, "Syscall event drop monitoring:\n");
	fprintf(f, "   - drop checks: %llu\n", (unsigned long long)app->drops.n_checks);
	fprintf(f, "   - event drop detected: %llu occurrences\n",
		(unsigned long long)app->drops.n_fired);
	fprintf(f, "   - num times actions taken: %llu\n",
		(unsigned long long)app->drops.n_actions_taken);
	fprintf(f, "   - suppressed by rate limit: %llu\n",
		(unsigned long long)app->drops.n_suppressed);
	saker_outputs_get_stats(app->outputs, &os);
	fprintf(f,
		"Alerts: emitted %llu, below priority %llu, lost in queue %llu, undelivered at "
		"exit %llu\n",
		(unsigned long long)os.emitted, (unsigned long long)os.filtered,
		(unsigned long long)os.queue_drops, (unsigned long long)os.queued);
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		if (os.enabled[ch])
			fprintf(f, "   - %s: delivered %llu, failed %llu\n", saker_channel_name(ch),
				(unsigned long long)os.delivered[ch],
				(unsigned long long)os.failed[ch]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: saker [options]\n"
		"  -c FILE           configuration file (default: the embedded saker.yaml)\n"
		"  -o KEY=VALUE      override a configuration key (repeatable, after -c),\n"
		"                    e.g. -o syscall_event_drops.actions=[log,exit]\n"
		"  --dry-run         validate the configuration, print it, and exit\n"
		"  --dump            print every captured event (docs/dump.md)\n"
		"  -U, --unbuffered  flush every alert (buffered_outputs=false)\n"
		"  -h, --help        this help\n"
		"  --version         print the version\n"
		"Exit status: 0 stopped by a signal, 1 fatal or configuration error,\n"
		"             %d the syscall_event_drops `exit` action.\n",
		SAKER_EXIT_DROPS);
}

int main(int argc, char **argv)
{
	enum { OPT_DRY_RUN = 256, OPT_VERSION, OPT_DUMP };
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"unbuffered", no_argument, NULL, 'U'},
	    {"dump", no_argument, NULL, OPT_DUMP},
	    {0},
	};
	struct app app = {.epfd = -1, .tfd = -1, .sfd = -1};
	struct saker_capture_stats st;
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[512];
	bool dry_run = false, exact;
	int opt, ret;

	saker_log_init(&app.log);
	app.overrides = calloc((size_t)argc, sizeof(char *));
	if (!app.overrides)
		return EXIT_FATAL;
	while ((opt = getopt_long(argc, argv, "c:o:hU", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			app.config_path = optarg;
			break;
		case 'o':
			app.overrides[app.n_overrides++] = optarg;
			break;
		case OPT_DUMP:
			app.dump_on = true;
			break;
		case 'U':
			app.unbuffered = true;
			break;
		case 'h':
			usage(stdout);
			free(app.overrides);
			return 0;
		case OPT_DRY_RUN:
			dry_run = true;
			break;
		case OPT_VERSION:
			printf("saker %s\n", SAKER_VERSION);
			free(app.overrides);
			return 0;
		default:
			usage(stderr);
			free(app.overrides);
			return EXIT_FATAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
		free(app.overrides);
		return EXIT_FATAL;
	}

	ret = load_config(&app, &app.log, &app.cfg, table, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "Error: %s\n", err);
		free(app.overrides);
		return EXIT_FATAL;
	}
	log_from_config(&app.log, &app.cfg);
	if (dry_run) {
		ret = saker_preflight_files(&app.cfg, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "Error: %s\n", err);
			saker_config_free(&app.cfg);
			free(app.overrides);
			return EXIT_FATAL;
		}
		saker_config_dump(&app.cfg, stdout);
		saker_config_free(&app.cfg);
		free(app.overrides);
		return 0;
	}
	/* Only needed on kernels that charge BPF memory to RLIMIT_MEMLOCK (< 5.11). */
	{
		struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			saker_log(&app.log, SAKER_PRIO_DEBUG,
				  "cannot raise RLIMIT_MEMLOCK (%s); relying on memcg accounting",
				  strerror(errno));
	}

	/*
	 * Blocked already while the probe loads (a second or so), not only once
	 * the signalfd exists: until then SIGHUP or SIGUSR1 (logrotate) would
	 * kill saker, and SIGTERM would skip the summary. Pending, they are read
	 * by the loop.
	 */
	{
		sigset_t mask;

		loop_signals(&mask);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		/* Writes to a closed pipe must fail with EPIPE, not kill before the summary. */
		signal(SIGPIPE, SIG_IGN);
	}
	app.exit_status = 0;
	/* Before the capability drop and the output threads (nice is per thread; they inherit it).
	 */
	if (app.cfg.priority_boost && setpriority(PRIO_PROCESS, 0, -(int)app.cfg.priority_boost))
		saker_log(&app.log, SAKER_PRIO_WARNING, "priority_boost: cannot set nice %d: %s",
			  -(int)app.cfg.priority_boost, strerror(errno));
	{
		const struct saker_capture_opts opts = {
		    .ring_bytes = saker_config_ring_bytes(&app.cfg),
		    .critical_ring_bytes = app.cfg.protected_lane.buf_size,
		    .lane_rate = app.cfg.protected_lane.rate,
		    .lane_burst = app.cfg.protected_lane.burst,
		    .lane_uid_rate = app.cfg.protected_lane.uid_rate,
		    .lane_uid_burst = app.cfg.protected_lane.uid_burst,
		    .cpus_for_each_buffer =
			(unsigned)app.cfg.engine.modern_ebpf.cpus_for_each_buffer,
		    .sc_table = table,
		    .self_tgid = getpid(),
		    .on_event = on_event,
		    .ctx = &app,
		};
		const struct saker_view_opts vopts = {
		    .max_procs = (size_t)app.cfg.state.max_procs,
		    .max_fds = (size_t)app.cfg.state.max_fds,
		    .max_fds_per_proc = (size_t)app.cfg.state.max_fds_per_proc,
		};

		ret = saker_view_new_opts(&app.view, &vopts);
		if (ret)
			snprintf(err, sizeof(err), "cannot create the process table: %s",
				 strerror(-ret));
		else
			ret = saker_capture_open(&app.cap, &opts, err, sizeof(err));
		/* Attached: from here on saker needs only a few capabilities (docs/security.md). */
		if (!ret)
			ret = saker_privilege_apply(&app.log, err, sizeof(err));
		/* Attached first, then seeded: a process born in between is in the rings. */
		if (!ret)
			saker_view_scan(app.view);
		saker_dump_init(&app.dump, app.cfg.json_output, app.cfg.time_format_iso_8601,
				saker_dump_boot_offset(), app.view);
	}
	if (ret) {
		fprintf(stderr, "Error: %s\n", err);
		app.exit_status = EXIT_FATAL;
		goto out;
	}
	/* Started after the drop: threads inherit the reduced capabilities. */
	ret = saker_outputs_new(&app.outputs, &app.cfg, &app.log);
	if (ret) {
		fprintf(stderr, "Error: cannot set up outputs: %s\n", strerror(-ret));
		app.exit_status = EXIT_FATAL;
		goto out;
	}
	ret = setup_loop(&app);
	if (ret) {
		fprintf(stderr, "Error: cannot set up the event loop: %s\n", strerror(-ret));
		app.exit_status = EXIT_FATAL;
		goto out;
	}
	if (saker_capture_stats(app.cap, &st) == 0)
		saker_drops_init(&app.drops, &app.cfg.drops, &st, now_ns(CLOCK_MONOTONIC));
	saker_log(&app.log, SAKER_PRIO_INFO,
		  "saker %s started: %u ring buffer(s) of %llu bytes, %u protected-lane ring(s) of "
		  "%llu bytes, config %s",
		  SAKER_VERSION, saker_capture_nr_rings(app.cap) / 2,
		  (unsigned long long)saker_config_ring_bytes(&app.cfg),
		  saker_capture_nr_rings(app.cap) / 2,
		  (unsigned long long)app.cfg.protected_lane.buf_size,
		  app.config_path ? app.config_path : "<embedded>");

	ret = run_loop(&app);
	if (ret) {
		fprintf(stderr, "Error: event loop failed: %s\n", strerror(-ret));
		app.exit_status = EXIT_FATAL;
	}

	exact = saker_capture_detach_and_drain(app.cap) == 0;
	if (saker_capture_stats(app.cap, &st) == 0) {
		/* Deliver queued alerts (bounded) before the summary counts them. */
		saker_outputs_flush(app.outputs, SHUTDOWN_FLUSH_MS);
		print_summary(&app, &st, exact);
	}
out:
	saker_capture_close(app.cap);
	saker_outputs_free(app.outputs);
	if (app.epfd >= 0)
		close(app.epfd);
	if (app.tfd >= 0)
		close(app.tfd);
	if (app.sfd >= 0)
		close(app.sfd);
	saker_dump_fini(&app.dump);
	saker_view_free(app.view);
	saker_config_free(&app.cfg);
	free(app.overrides);
	return app.exit_status;
}
