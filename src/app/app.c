#include "app/run.h"
#include "app/preflight.h"
#include "app/privilege.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "observe/observe.h"
#include "drops/attrib.h"
#include "drops/ledger.h"
#include "lib/clock.h"
#include "state/resync.h"
#include "app/reload.h"
#include "app/replay.h"
#include "app/summary.h"
#include "capture/capture.h"
#include "capture/record.h"
#include "outputs/outputs.h"
#include "outputs/spawner.h"
#include "lib/privread.h"
#include "capture/taskiter.h"
#include "rules/rules.h"
#include "state/proctable.h"
#include "state/snapshot.h"
#include "state/view.h"

/* Events per ring per capture call; the drain looks at the clock between calls. */
#define DRAIN_CHUNK   2048
#define DROP_CHECK_NS (1000ull * 1000 * 1000)
/* How often repair may read a slice of /proc (state/resync.h bounds each slice). */
#define RESYNC_TICK_NS (20ull * 1000 * 1000)
/* How often containers whose runtime files are gone are forgotten (one stat each). */
#define CONTAINER_SWEEP_NS (10ull * 1000 * 1000 * 1000)
/*
 * One budget for what exit may wait on, so SIGTERM ends saker within 5 s
 * whatever its readers do: the dump (at most SHUTDOWN_DUMP_MS of it), then
 * the outputs get what is left (stdout alerts into the same stuck pipe would
 * otherwise add their own 5 s to the dump's).
 */
#define SHUTDOWN_TOTAL_MS 4000
#define SHUTDOWN_DUMP_MS  1000
/* A -w file is a regular file: its last buffers normally take milliseconds. */
#define SHUTDOWN_RECORD_MS 2000

/* ---- the drop check, a 1 s timer ---- */

static void drops_resync(void *ctx, uint64_t since_boot_ns, uint64_t until_boot_ns, bool full)
{
	struct saker_app *app = ctx;
	struct saker_resync_stats rs;

	saker_resync_get_stats(app->resync, &rs);
	/* Once per episode, not every second of a long flood. */
	if (!rs.armed && !rs.busy)
		saker_log(&app->log, SAKER_PRIO_INFO,
			  "resync: lifecycle events were lost; reloading the processes seen next "
			  "from /proc%s",
			  full ? ", and rescanning all of /proc" : "");
	saker_resync_request(app->resync, since_boot_ns, until_boot_ns, full);
}

static void log_resync(struct saker_app *app)
{
	struct saker_resync_stats rs;

	saker_resync_get_stats(app->resync, &rs);
	if (rs.full_scans == app->resync_full_scans)
		return;
	app->resync_full_scans = rs.full_scans;
	saker_log(&app->log, SAKER_PRIO_INFO,
		  "resync: /proc rescan done: %llu processes in %.1f ms (%llu reloaded, %llu gone, "
		  "%llu exited threads pruned so far)",
		  (unsigned long long)rs.last_full_pids, (double)rs.last_full_ns / 1e6,
		  (unsigned long long)rs.loaded, (unsigned long long)rs.gone,
		  (unsigned long long)rs.pruned);
}

/* Repair paces itself: a slice of /proc reading per call, when there is any to do. */
static void resync_tick(void *ctx, uint64_t periods, uint64_t now_ns)
{
	struct saker_app *app = ctx;

	(void)periods;
	(void)saker_resync_run(app->resync, now_ns, saker_clock_ns(CLOCK_BOOTTIME));
}

static void container_sweep(void *ctx, uint64_t periods, uint64_t now_ns)
{
	struct saker_app *app = ctx;

	(void)periods;
	(void)now_ns;
	(void)saker_containers_sweep(saker_view_containers(app->view));
}

/* Metrics to the web server and the metrics snapshot (observe/observe.h). */
static void observe_tick(struct saker_app *app, uint64_t now_ns)
{
	const struct saker_observe_src src = saker_app_observe_src(app, now_ns, false);

	saker_observe_tick(app->observe, &src);
}

static void feed_loss(void *ctx, uint32_t tgid, uint64_t start_ns, const struct saker_proc_loss *l)
{
	struct saker_app *app = ctx;

	saker_attrib_add_kernel(app->attrib, tgid, start_ns, l->lost, l->demoted, l->uid, l->comm);
	saker_canary_proc_loss(&app->canary, tgid, l->lost);
}

static long drain(void *ctx, uint64_t deadline_ns);

static void drop_check(void *ctx, uint64_t periods, uint64_t now_ns)
{
	struct saker_app *app = ctx;
	const struct saker_drops_actions act = {
	    .ctx = app,
	    .log = saker_log_report,
	    .log_ctx = &app->log,
	    .alert = saker_app_alert_cb,
	    .resync = drops_resync,
	    .window = saker_app_fleet_window,
	};
	struct saker_capture_stats st;
	struct saker_drops_now now = {
	    .mono_ns = now_ns, .real_ns = saker_clock_ns(CLOCK_REALTIME), .window_s = periods};
	uint64_t counted_ns;
	unsigned cut;
	int ret, sret;

	/* The window's per-process losses and counters: one generation, drained, read (capture.h);
	 * without the drain the per-process counts are not the window's (producers only). */
	counted_ns = saker_clock_ns(CLOCK_BOOTTIME);
	cut = saker_capture_cut_proc_losses(app->cap, drain, app);
	ret = saker_capture_read_proc_losses(app->cap, cut, feed_loss, app);
	sret = saker_capture_cut_stats(app->cap, cut, &st);
	if (ret >= 0 && saker_capture_drain_error(app->cap) < 0)
		ret = saker_capture_drain_error(app->cap);
	if (ret < 0 && !app->proc_loss_failed)
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "cannot read per-process losses (drop alerts name producers only): %s",
			  strerror(-ret));
	app->proc_loss_failed = ret < 0;
	saker_attrib_set_kernel_loss(app->attrib, ret >= 0);
	/* After the cut, which writes the loss map generation the guard compares. */
	saker_canary_check_selection(app, now_ns);
	/* The canary's lost markers are known from here on (and what no process carries). */
	saker_canary_loss_read(&app->canary, now_ns, ret >= 0, sret ? NULL : &st);
	if (sret) {
		saker_log(&app->log, SAKER_PRIO_ERROR, "cannot read capture counters: %s",
			  strerror(-sret));
		return;
	}
	saker_observe_window(app->observe, app->cap, &app->drops);
	/* The window is what the timer says elapsed: seconds, since the period is one. */
	now.boot_ns = saker_clock_ns(CLOCK_BOOTTIME);
	if (saker_drops_check_at(&app->drops, &st, &now, &act) == SAKER_DROPS_EXIT) {
		saker_view_settle_pending(app->view, counted_ns);
		app->exit_status = SAKER_EXIT_DROPS;
		saker_loop_stop(app->loop);
	}
	/* The check marked the processes the probe named: a loss seen before its read is settled.
	 */
	saker_view_settle_pending(app->view, counted_ns);
	log_resync(app);
	observe_tick(app, now_ns);
	saker_record_flush(app->record);
}

/* ---- signals ---- */

static void loop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1);
}

static void on_signal(void *ctx, uint32_t events)
{
	struct saker_app *app = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(app->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			saker_loop_stop(app->loop);
			break;
		case SIGHUP:
			saker_reload_run(app);
			break;
		case SIGUSR1:
			saker_log(&app->log, SAKER_PRIO_INFO, "SIGUSR1: reopening outputs");
			/* A channel that cannot reopen is counted by the outputs and retried per
			 * alert. */
			(void)saker_outputs_reopen(app->outputs);
			if (app->ledger) {
				char err[512];

				if (saker_ledger_reopen(app->ledger, err, sizeof(err)))
					saker_log(&app->log, SAKER_PRIO_ERROR,
						  "syscall_event_drops.ledger: %s; still writing "
						  "to the file open before",
						  err);
			}
			break;
		default:
			break;
		}
	}
}

/* ---- the dump sink on stdout ---- */

static void sink_watch(struct saker_app *app)
{
	/* While the alert channel is inside a line the pipe may be writable: the next drain
	 * retries. */
	bool want = saker_dump_sink_pending(&app->sink) && !app->sink.err && !app->sink.lock_busy;

	if (!app->sink_watched || want == app->sink_want_out)
		return;
	if (saker_loop_mod_fd(app->loop, app->sink.fd, want ? EPOLLOUT : 0) == 0)
		app->sink_want_out = want;
}

/* A dump reader that went away (`saker --dump | head`) ends the run cleanly. */
static void sink_check(struct saker_app *app)
{
	int err = saker_pipeline_error(&app->pipe);

	if (!err || saker_loop_stopped(app->loop))
		return;
	saker_log(&app->log, SAKER_PRIO_INFO, "dump output closed (%s), stopping", strerror(-err));
	saker_loop_stop(app->loop);
}

static void on_stdout_writable(void *ctx, uint32_t events)
{
	struct saker_app *app = ctx;

	(void)events;
	(void)saker_pipeline_flush(&app->pipe);
	sink_check(app);
	sink_watch(app);
}

/* ---- draining, bounded by time ---- */

static uint64_t capture_loss_seq(void *ctx)
{
	return saker_capture_loss_seq(ctx);
}

static long drain(void *ctx, uint64_t deadline_ns)
{
	struct saker_app *app = ctx;
	long total = 0, got;

	do {
		saker_pipeline_poll_loss(&app->pipe);
		got = saker_capture_drain(app->cap, DRAIN_CHUNK);
		if (got < 0) {
			/* Said once; the counters tell the rest. */
			if (!app->drain_failed)
				saker_log(&app->log, SAKER_PRIO_ERROR,
					  "ring buffer read failed: %s", strerror((int)-got));
			app->drain_failed = true;
			break;
		}
		total += got;
		saker_view_set_watermark(app->view, saker_capture_bulk_watermark(app->cap));
	} while (got > 0 && saker_loop_now_ns() < deadline_ns && !saker_pipeline_error(&app->pipe));
	if (app->opts.dump) {
		(void)saker_pipeline_flush(&app->pipe);
		sink_check(app);
		sink_watch(app);
	}
	return total;
}

/* ---- set-up and shutdown ---- */

static int setup_loop(struct saker_app *app)
{
	sigset_t mask;
	int ret;

	ret = saker_loop_new(&app->loop);
	if (ret)
		return ret;
	loop_signals(&mask);
	app->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (app->sfd < 0)
		return -errno;
	ret = saker_loop_add_fd(app->loop, app->sfd, EPOLLIN, on_signal, app);
	/* Ring fds only wake the loop (a forced wake-up: a ring is filling); every turn drains. */
	for (unsigned i = 0; !ret && i < saker_capture_nr_rings(app->cap); i++)
		ret = saker_loop_add_fd(app->loop, saker_capture_ring_fd(app->cap, i), EPOLLIN,
					NULL, NULL);
	if (!ret && app->sink_open && app->sink.pipe) {
		/* Registered without events; EPOLLOUT only while lines are pending. */
		ret = saker_loop_add_fd(app->loop, app->sink.fd, 0, on_stdout_writable, app);
		app->sink_watched = ret == 0;
	}
	if (!ret) {
		int id = saker_loop_add_timer(app->loop, DROP_CHECK_NS, drop_check, app);

		ret = id < 0 ? id : 0;
	}
	if (!ret) {
		int id = saker_loop_add_timer(app->loop, RESYNC_TICK_NS, resync_tick, app);

		ret = id < 0 ? id : 0;
	}
	if (!ret) {
		int id = saker_loop_add_timer(app->loop, CONTAINER_SWEEP_NS, container_sweep, app);

		ret = id < 0 ? id : 0;
	}
	if (!ret && app->canary.status != SAKER_CANARY_OFF) {
		int id =
		    saker_loop_add_timer(app->loop, SAKER_CANARY_TICK_NS, saker_canary_tick, app);

		ret = id < 0 ? id : 0;
	}
	if (!ret)
		saker_loop_set_drain(app->loop, drain, app);
	return ret;
}

static void startup_mark(struct saker_app *app, enum saker_startup_phase ph)
{
	app->startup.wall[ph] = saker_clock_ns(CLOCK_MONOTONIC);
	app->startup.cpu[ph] = saker_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/* One debug line: each phase's wall and CPU milliseconds, so a slow start says why. */
static void startup_log(const struct saker_app *app)
{
	static const char *const names[SAKER_START_MAX] = {
	    [SAKER_START_CONFIG] = "config",
	    [SAKER_START_RULES] = "rules",
	    [SAKER_START_PROBE] = "probe load, verify and attach",
	    [SAKER_START_PRIVS] = "privilege drop",
	    [SAKER_START_SCAN] = "/proc scan",
	    [SAKER_START_REST] = "outputs and loop",
	};
	const struct saker_startup_marks *s = &app->startup;
	char line[512];
	size_t off = 0;

	for (int i = SAKER_START_BEGIN + 1; i < SAKER_START_MAX && off < sizeof(line); i++) {
		int n =
		    snprintf(line + off, sizeof(line) - off, "%s%s %.1f ms (CPU %.1f)",
			     off ? ", " : "", names[i], (double)(s->wall[i] - s->wall[i - 1]) / 1e6,
			     (double)(s->cpu[i] - s->cpu[i - 1]) / 1e6);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	saker_log(&app->log, SAKER_PRIO_DEBUG, "start-up: %.1f ms (CPU %.1f): %s",
		  (double)(s->wall[SAKER_START_REST] - s->wall[SAKER_START_BEGIN]) / 1e6,
		  (double)(s->cpu[SAKER_START_REST] - s->cpu[SAKER_START_BEGIN]) / 1e6, line);
}

/* Where the seed's exe, cwd and descriptors came from: the task iterators or /proc. */
static void log_seed(struct saker_app *app)
{
	struct saker_proctable_stats st;

	saker_proctable_get_stats(saker_view_procs(app->view), &st);
	saker_log(
	    &app->log, SAKER_PRIO_DEBUG,
	    "process table seeded: %llu threads; %llu processes and %llu descriptors from the "
	    "task iterators%s",
	    (unsigned long long)st.scanned, (unsigned long long)st.iter_procs,
	    (unsigned long long)st.iter_fds,
	    !app->taskiter   ? " (none loaded: /proc)"
	    : st.iter_errors ? " (read failed: /proc)"
			     : "");
}

static void raise_memlock(const struct saker_app *app)
{
	/* Only needed on kernels that charge BPF memory to RLIMIT_MEMLOCK (< 5.11). */
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		saker_log(&app->log, SAKER_PRIO_DEBUG,
			  "cannot raise RLIMIT_MEMLOCK (%s); relying on memcg accounting",
			  strerror(errno));
}

/* The process and fd tables, loss attribution, repair, the ledger: what the pipeline feeds. */
static int open_view(struct saker_app *app, char *err, size_t errlen)
{
	const struct saker_config *cc = &app->cfg;
	const struct saker_containers_opts copts = {
	    .max = (size_t)cc->container_engines.max_containers,
	    .root = {[SAKER_CTR_RT_DOCKER] = cc->container_engines.docker.root,
		     [SAKER_CTR_RT_PODMAN] = cc->container_engines.podman.root,
		     [SAKER_CTR_RT_CONTAINERD] = cc->container_engines.containerd.root,
		     [SAKER_CTR_RT_CRIO] = cc->container_engines.cri.root},
	    .disabled = {[SAKER_CTR_RT_DOCKER] = !cc->container_engines.docker.enabled,
			 [SAKER_CTR_RT_PODMAN] = !cc->container_engines.podman.enabled,
			 [SAKER_CTR_RT_CONTAINERD] = !cc->container_engines.containerd.enabled,
			 [SAKER_CTR_RT_CRIO] = !cc->container_engines.cri.enabled},
	};
	const struct saker_view_opts vopts = {
	    .max_procs = (size_t)app->cfg.state.max_procs,
	    .max_fds = (size_t)app->cfg.state.max_fds,
	    .max_fds_per_proc = (size_t)app->cfg.state.max_fds_per_proc,
	    .containers = &copts,
	};
	int ret;

	ret = saker_view_new_opts(&app->view, &vopts);
	if (ret) {
		snprintf(err, errlen, "cannot create the process table: %s", strerror(-ret));
		return ret;
	}
	ret = saker_attrib_new(&app->attrib, 0, app->view);
	if (!ret)
		ret = saker_resync_new(&app->resync, app->view, NULL);
	if (ret) {
		snprintf(err, errlen, "cannot set up loss attribution and repair: %s",
			 strerror(-ret));
		return ret;
	}
	ret = saker_app_open_ledger(app->live_cfg.drops_ledger, &app->ledger, err, errlen);
	if (ret)
		return ret;
	return 0;
}

static int open_capture(struct saker_app *app, const uint8_t *table, char *err, size_t errlen)
{
	const struct saker_capture_opts opts = {
	    .ring_bytes = saker_config_ring_bytes(&app->cfg),
	    .critical_ring_bytes = app->cfg.protected_lane.buf_size,
	    .lane_rate = app->live_cfg.protected_lane.rate,
	    .lane_burst = app->live_cfg.protected_lane.burst,
	    .lane_uid_rate = app->live_cfg.protected_lane.uid_rate,
	    .lane_uid_burst = app->live_cfg.protected_lane.uid_burst,
	    .lane_cgroup_rate = app->live_cfg.protected_lane.cgroup_rate,
	    .lane_cgroup_burst = app->live_cfg.protected_lane.cgroup_burst,
	    .cpus_for_each_buffer = (unsigned)app->cfg.engine.modern_ebpf.cpus_for_each_buffer,
	    .sc_table = table,
	    .self_tgid = getpid(),
	    .on_event = saker_pipeline_record,
	    .ctx = &app->pipe,
	    .report = saker_log_report,
	    .report_ctx = &app->log,
	};
	int64_t boot_offset;
	int ret;

	ret = open_view(app, err, errlen);
	if (ret)
		return ret;
	saker_proctable_set_taskiter(saker_view_procs(app->view), app->taskiter);
	/* One offset for the dump, the rules and a -w file, so a replay stamps the same times. */
	boot_offset = saker_clock_boot_offset_ns();
	saker_dump_init(&app->dump, app->cfg.json_output, app->cfg.time_format_iso_8601,
			boot_offset, app->view);
	if (app->rules.rules)
		saker_rules_set_boot_offset(app->rules.rules, (uint64_t)boot_offset);
	if (app->opts.write_path) {
		ret = saker_record_open(&app->record, app->opts.write_path, saker_log_report,
					&app->log, err, errlen);
		if (ret)
			return ret;
	}
	ret = saker_app_wire_pipeline(app, err, errlen);
	if (ret)
		return ret;
	saker_pipeline_set_critical(&app->pipe, table);
	app->pipe.attrib = app->attrib;
	app->pipe.resync = app->resync;
	app->pipe.canary_tgid = app->canary.pid > 0 ? (uint32_t)app->canary.pid : 0;
	app->pipe.canary = saker_canary_on_event;
	app->pipe.canary_ctx = &app->canary;
	saker_canary_set_table(&app->canary, table);
	ret = saker_capture_open(&app->cap, &opts, err, errlen);
	startup_mark(app, SAKER_START_PROBE);
	/* Attached: from here on saker needs only a few capabilities (docs/security.md). */
	if (!ret)
		ret = saker_privilege_apply(&app->log, app->cfg.run_as_user, err, errlen);
	startup_mark(app, SAKER_START_PRIVS);
	/* Attached first, then seeded: a process born in between is in the rings. */
	if (!ret)
		(void)saker_view_scan(app->view);
	startup_mark(app, SAKER_START_SCAN);
	if (!ret)
		log_seed(app);
	/* Loss known at once: the probe's loss count, polled by the pipeline. */
	app->pipe.loss_seq = capture_loss_seq;
	app->pipe.loss_ctx = app->cap;
	if (!ret)
		saker_pipeline_poll_loss(&app->pipe);
	/* The header carries what the scan learned; records are drained only once the loop runs. */
	if (!ret && app->record) {
		ret = saker_record_start(app->record, saker_snapshot_put, app->view, boot_offset,
					 SAKER_VERSION, err, errlen);
		app->pipe.tap = saker_record_put;
		app->pipe.tap_ctx = app->record;
	}
	return ret;
}

/* ---- rules ---- */

/* -V: each file on its own; 0 when every one loads and compiles. */
static int validate_rules(const struct saker_app *app)
{
	int status = 0;

	for (size_t i = 0; i < app->opts.n_validate_paths; i++) {
		struct saker_ruleset rs;
		char err[1024];
		int ret;

		ret = saker_ruleset_load(&rs, &app->cfg, &app->opts.validate_paths[i], 1, 0,
					 &app->log, err, sizeof(err));
		if (ret) {
			saker_log(&app->log, SAKER_PRIO_ERROR, "%s", err);
			printf("%s: Invalid\n", app->opts.validate_paths[i]);
			status = SAKER_EXIT_FATAL;
			continue;
		}
		printf("%s: Ok (%zu rules loaded, %zu not loaded)\n", app->opts.validate_paths[i],
		       saker_rules_loaded(rs.rules),
		       saker_rules_count(rs.rules) - saker_rules_loaded(rs.rules));
		saker_ruleset_fini(&rs);
	}
	return status;
}

/* Loads the rules (-r, else rules_files, else the embedded set) and merges their syscalls. */
static int setup_rules(struct saker_app *app, uint8_t table[SAKER_SYSCALL_MAX], char *err,
		       size_t errlen)
{
	char *const *paths = app->opts.rules_paths;
	size_t n = app->opts.n_rules_paths;
	unsigned flags = 0;
	int ret;

	if (!n) {
		saker_ruleset_config_paths(&app->cfg, &paths, &n);
		flags = SAKER_RULESET_SKIP_MISSING;
	}
	ret = saker_ruleset_load(&app->rules, &app->cfg, paths, n, flags, &app->log, err, errlen);
	if (ret)
		return ret;
	saker_ruleset_syscalls(&app->rules, app->rules_sel, &app->rules_all);
	ret = saker_syscalls_build_table_rules(&app->cfg, app->rules_sel, app->rules_all, table,
					       err, errlen);
	if (!ret) {
		char warn[1024];

		if (saker_ruleset_excluded(app->rules_sel, app->rules_all, table, warn,
					   sizeof(warn)))
			saker_log(&app->log, SAKER_PRIO_WARNING, "%s", warn);
	}
	return ret;
}

/* The drop manager's last word: what the probe counted per process since the last check. */
static void drops_finish(struct saker_app *app)
{
	const struct saker_drops_actions act = {
	    .ctx = app,
	    .log = saker_log_report,
	    .log_ctx = &app->log,
	    .alert = saker_app_alert_cb,
	};
	const struct saker_drops_now now = {.mono_ns = saker_loop_now_ns(), .window_s = 1};
	unsigned cut = saker_capture_cut_proc_losses(app->cap, NULL, NULL);

	if (saker_capture_read_proc_losses(app->cap, cut, feed_loss, app) < 0)
		saker_attrib_set_kernel_loss(app->attrib, false);
	/* The last, partial window's coverage record: the run's final counts (docs/fleet.md). */
	if (app->cfg.nats_output.enabled) {
		const struct saker_drops_actions fin = {.ctx = app,
							.window = saker_app_fleet_window};
		struct saker_drops_now end = now;
		struct saker_capture_stats st;

		end.boot_ns = saker_clock_ns(CLOCK_BOOTTIME);
		end.real_ns = saker_clock_ns(CLOCK_REALTIME);
		/* After the detach nothing runs: both generations read now are the final counts. */
		if (saker_capture_cut_stats(app->cap, SAKER_CAPTURE_CUT_ALL, &st) == 0)
			saker_drops_finish_window(&app->drops, &st, &end, &fin);
	}
	saker_drops_finish(&app->drops, &now, &act);
}

static void shutdown_and_summarize(struct saker_app *app)
{
	bool exact;

	const uint64_t t0 = saker_loop_now_ns();
	uint64_t spent_ms;

	exact = saker_capture_detach_and_drain(app->cap) == 0;
	drops_finish(app);
	/* After the last record: the file gets what the rings still held. */
	saker_record_finish(app->record, SHUTDOWN_RECORD_MS);
	/* Bounded whatever the reader does; what is left is counted lost. */
	if (app->sink_open)
		(void)saker_dump_sink_finish(&app->sink, SHUTDOWN_DUMP_MS);
	/*
	 * Deliver queued alerts (bounded, whatever a channel does) so the summary
	 * has the final counts; what does not make it is counted undelivered.
	 * At least a second, even if the detach and the dump took the rest.
	 */
	spent_ms = (saker_loop_now_ns() - t0) / 1000000;
	(void)saker_outputs_shutdown(app->outputs, spent_ms + 1000 < SHUTDOWN_TOTAL_MS
						       ? (int)(SHUTDOWN_TOTAL_MS - spent_ms)
						       : 1000);
	saker_app_summarize(app, exact);
}

/*
 * --dry-run's configuration, which -c reads back to the same run: the rules
 * files actually loaded (-r's, or rules_files less those that do not
 * exist; none for the embedded ruleset) as rules_files.
 */
static int dump_effective(const struct saker_app *app)
{
	struct saker_config c;
	int ret = saker_config_copy(&c, &app->cfg);

	if (ret)
		return ret;
	ret = saker_config_set_strlist(&c.rules_files, app->rules.used, app->rules.n_used);
	if (!ret)
		ret = saker_config_set_strlist(&c.rules_file, NULL, 0);
	if (!ret)
		ret = saker_config_dump(&c, stdout);
	saker_config_free(&c);
	return ret;
}

/* -L or --dry-run: what the configuration and the rules say, on stdout; no probe. */
static int run_report(struct saker_app *app, const uint8_t *table)
{
	int status = 0;
	char err[512];

	if (app->opts.list_rules) {
		saker_ruleset_print_loaded(&app->rules, stdout);
	} else if (saker_preflight_files(&app->cfg, err, sizeof(err))) {
		saker_log_fatal(&app->log, "%s", err);
		status = SAKER_EXIT_FATAL;
	} else if (dump_effective(app)) {
		status = SAKER_EXIT_FATAL;
	} else {
		saker_ruleset_print_report(&app->rules, table, stdout);
	}
	if (fflush(stdout))
		status = SAKER_EXIT_FATAL;
	return status;
}

/*
 * Before anything can start a thread or load the probe: the limits, the
 * signals and the processes that must be forked while saker still has every
 * capability (the canary's child, the program spawner, the /proc helper).
 */
static int prepare_live(struct saker_app *app, sigset_t *mask, char *err, size_t errlen)
{
	char why[512];
	int ret;

	raise_memlock(app);
	/*
	 * Blocked already while the probe loads (0.2 s, longer on a busy host), not only once
	 * the signalfd exists: until then SIGHUP or SIGUSR1 (logrotate) would
	 * kill saker, and SIGTERM would skip the summary. Pending, they are read
	 * by the loop.
	 */
	loop_signals(mask);
	(void)sigprocmask(SIG_BLOCK, mask, NULL);
	/* Writes to a closed pipe must fail with EPIPE, not kill before the summary. */
	(void)signal(SIGPIPE, SIG_IGN);

	/* Before the capability drop and the output threads (nice is per thread; they inherit it).
	 */
	if (app->cfg.priority_boost && setpriority(PRIO_PROCESS, 0, -(int)app->cfg.priority_boost))
		saker_log(&app->log, SAKER_PRIO_WARNING, "priority_boost: cannot set nice %d: %s",
			  -(int)app->cfg.priority_boost, strerror(errno));
	/*
	 * The canary's child: forked before the capability drop (it drops to
	 * nothing itself) and before any thread, after the boost (it inherits
	 * the nice value, so a CPU flood does not delay its answers).
	 */
	ret = saker_canary_start(
	    &app->canary, app->cfg.capture_canary.enabled ? app->cfg.capture_canary.interval_ms : 0,
	    err, errlen);
	/*
	 * Also before the drop: the spawner switches to program_output.user for good, so the
	 * main process needs no CAP_SETUID, CAP_SETGID or CAP_KILL for output programs.
	 * Without a usable user it is not started; only an enabled program output needs it.
	 */
	if (!ret) {
		if (saker_spawner_start(app->cfg.program_output.user, why, sizeof(why)) &&
		    app->cfg.program_output.enabled) {
			snprintf(err, errlen, "%s", why);
			ret = -EINVAL;
		}
	}
	/*
	 * The task iterators give the scan and resync what /proc shows only to
	 * CAP_SYS_PTRACE (other users' exe, cwd, descriptors); their links are made
	 * now, while saker may. Without them, the /proc helper that keeps
	 * CAP_SYS_PTRACE for /proc's links, so saker need not.
	 */
	if (!ret && app->cfg.engine.modern_ebpf.disable_iterators) {
		saker_log(
		    &app->log, SAKER_PRIO_INFO,
		    "engine.modern_ebpf.disable_iterators: other users' exe, cwd and descriptors "
		    "are read in /proc through a helper that keeps CAP_SYS_PTRACE");
		ret = saker_privread_start(err, errlen);
	} else if (!ret && saker_taskiter_open(&app->taskiter, why, sizeof(why))) {
		saker_log(&app->log, SAKER_PRIO_WARNING,
			  "%s: other users' exe, cwd and descriptors are read in /proc through a "
			  "helper that keeps CAP_SYS_PTRACE",
			  why);
		ret = saker_privread_start(err, errlen);
	}
	return ret;
}

/* Started after the privilege drop: their threads inherit the reduced capabilities. */
static int start_outputs_and_loop(struct saker_app *app, char *err, size_t errlen)
{
	/* Output threads report too: saker_log writes each line with one locked call. */
	const struct saker_outputs_opts oopts = {.log = saker_log_report, .log_ctx = &app->log};
	struct saker_capture_stats st;
	char why[400];
	unsigned cut;
	int ret;

	ret = saker_outputs_new(&app->outputs, &app->live_cfg, &oopts, why, sizeof(why));
	app->rules.outputs = app->outputs;
	if (ret) {
		snprintf(err, errlen, "cannot set up outputs: %s", why);
		return ret;
	}
	ret = setup_loop(app);
	if (ret) {
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-ret));
		return ret;
	}
	/* Losses from before we started watching are not this run's: counters and processes. */
	cut = saker_capture_cut_proc_losses(app->cap, NULL, NULL);
	(void)saker_capture_read_proc_losses(app->cap, cut, NULL, NULL);
	saker_drops_init(&app->drops, &app->cfg.drops,
			 saker_capture_cut_stats(app->cap, cut, &st) == 0 ? &st : NULL,
			 saker_loop_now_ns());
	saker_drops_set_parts(&app->drops, app->attrib, app->ledger, app->view);
	return 0;
}

/* The probe, the loop until a signal or the exit action, the summary. The exit status. */
static int run_live(struct saker_app *app, const uint8_t *table)
{
	char err[512];
	sigset_t mask;
	int ret;

	ret = prepare_live(app, &mask, err, sizeof(err));
	if (!ret)
		ret = open_capture(app, table, err, sizeof(err));
	if (!ret)
		ret = start_outputs_and_loop(app, err, sizeof(err));
	if (ret) {
		saker_log_fatal(&app->log, "%s", err);
		return SAKER_EXIT_FATAL;
	}
	startup_mark(app, SAKER_START_REST);
	saker_log(&app->log, SAKER_PRIO_INFO,
		  "saker %s started: %u ring buffer(s) of %llu bytes, %u protected-lane ring(s) of "
		  "%llu bytes, config %s, %zu rules",
		  SAKER_VERSION, saker_capture_nr_rings(app->cap) / 2,
		  (unsigned long long)saker_config_ring_bytes(&app->cfg),
		  saker_capture_nr_rings(app->cap) / 2,
		  (unsigned long long)app->cfg.protected_lane.buf_size,
		  app->opts.config_path ? app->opts.config_path : "<embedded>",
		  saker_rules_loaded(app->rules.rules));
	startup_log(app);

	/* After the probe attached: /healthz must not say ok before capture runs. */
	ret = saker_observe_start(&app->observe, &app->cfg, SAKER_VERSION, &app->log, err,
				  sizeof(err));
	if (ret) {
		saker_log_fatal(&app->log, "%s", err);
		return SAKER_EXIT_FATAL;
	}
	if (saker_observe_web_port(app->observe))
		saker_log(&app->log, SAKER_PRIO_INFO, "web server listening on %s port %u",
			  app->cfg.webserver.listen_address, saker_observe_web_port(app->observe));
	observe_tick(app, saker_loop_now_ns()); /* a first snapshot now, not a second from now */

	ret = saker_loop_run(app->loop);
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR, "event loop failed: %s", strerror(-ret));
		app->exit_status = SAKER_EXIT_FATAL;
	}
	shutdown_and_summarize(app);
	return app->exit_status;
}

/* A replay: no probe, no loop; the file is played to its end (app/replay.h). */
static int run_replay(struct saker_app *app)
{
	(void)signal(SIGPIPE, SIG_IGN);
	if (app->opts.write_path) {
		saker_log_fatal(&app->log, "-w cannot record a replay (engine.kind replay)");
		return SAKER_EXIT_FATAL;
	}
	return saker_replay_run(app);
}

/* The configuration, the rules, then one mode: -V, -L/--dry-run, replay or live. */
static int run_mode(struct saker_app *app)
{
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[512];

	if (saker_reload_load_config(&app->opts, &app->log, &app->cfg, table, err, sizeof(err))) {
		saker_log_fatal(&app->log, "%s", err);
		return SAKER_EXIT_FATAL;
	}
	saker_app_log_from_config(&app->log, &app->cfg);
	startup_mark(app, SAKER_START_CONFIG);
	if (app->opts.n_validate_paths)
		return validate_rules(app);
	if (setup_rules(app, table, err, sizeof(err))) {
		saker_log_fatal(&app->log, "%s", err);
		return SAKER_EXIT_FATAL;
	}
	startup_mark(app, SAKER_START_RULES);
	if (app->opts.list_rules || app->opts.dry_run)
		return run_report(app, table);
	if (saker_config_copy(&app->live_cfg, &app->cfg)) {
		saker_log_fatal(&app->log, "out of memory");
		return SAKER_EXIT_FATAL;
	}
	if (saker_replay_configured(&app->cfg))
		return run_replay(app);
	return run_live(app, table);
}

int saker_app_run(const struct saker_app_opts *opts)
{
	struct saker_app *app = calloc(1, sizeof(*app));
	int status;

	if (!app) {
		saker_log_fatal(NULL, "out of memory");
		return SAKER_EXIT_FATAL;
	}
	app->opts = *opts;
	startup_mark(app, SAKER_START_BEGIN);
	app->sfd = -1;
	app->canary.req_fd = app->canary.ack_fd = -1;
	saker_log_init(&app->log);
	status = run_mode(app);
	saker_app_free(app);
	return status;
}
