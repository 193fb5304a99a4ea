#include "app/replay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/run.h"
#include "capture/capfile.h"
#include "lib/clock.h"
#include "outputs/outputs.h"
#include "rules/rules.h"
#include "state/snapshot.h"
#include "state/view.h"

/*
 * The view's proc_root in a replay: a path no open() can succeed on
 * (ENOTDIR), so nothing the view does on a miss (a reload, an exec's cgroup)
 * reads this host's /proc into the recording host's picture.
 */
#define REPLAY_PROC_ROOT "/dev/null/saker-replay"
/* How often (records) the replay looks at the alert queues. */
#define OUTPUTS_CHECK_EVERY 256
/* What the dump may still write at exit before the rest is counted lost. */
#define SHUTDOWN_DUMP_MS  5000
#define SHUTDOWN_FLUSH_MS 5000

/* SIGINT/SIGTERM: stop after the current record, with the summary. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

bool saker_replay_configured(const struct saker_config *cfg)
{
	return cfg->engine.kind && strcmp(cfg->engine.kind, "replay") == 0;
}

/* The dump is waited for, not lost: a replay has nothing to fall behind. */
static int dump_wait(struct saker_app *app)
{
	while (saker_dump_sink_full(&app->sink, false) && !app->sink.err) {
		struct pollfd pfd = {.fd = app->sink.fd, .events = POLLOUT};

		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			return -errno;
		(void)saker_pipeline_flush(&app->pipe);
	}
	return saker_pipeline_error(&app->pipe);
}

/* Alerts likewise: past half a queue, wait for the channels. */
static void outputs_wait(struct saker_app *app)
{
	uint64_t cap = app->cfg.outputs_queue_capacity ? app->cfg.outputs_queue_capacity
						       : SAKER_OUTPUTS_DEFAULT_QUEUE;
	struct saker_outputs_stats st;

	saker_outputs_get_stats(app->outputs, &st);
	if (st.queued * 2 >= cap)
		(void)saker_outputs_flush(app->outputs, 1000);
}

static int setup(struct saker_app *app, struct saker_capfile_reader *r, char *err, size_t errlen)
{
	const struct saker_view_opts vopts = {
	    .max_procs = (size_t)app->cfg.state.max_procs,
	    .max_fds = (size_t)app->cfg.state.max_fds,
	    .max_fds_per_proc = (size_t)app->cfg.state.max_fds_per_proc,
	    .proc_root = REPLAY_PROC_ROOT,
	    /* the runtimes' files are this host's now, not the recording's */
	    .no_containers = true,
	};
	const struct saker_capfile_meta *m = saker_capfile_meta(r);
	struct saker_capfile_item it;
	int ret;

	ret = saker_view_new_opts(&app->view, &vopts);
	if (ret) {
		snprintf(err, errlen, "cannot create the process table: %s", strerror(-ret));
		return ret;
	}
	/* The snapshot, in place of the /proc scan. */
	while ((ret = saker_capfile_next(r, &it, err, errlen)) == 1) {
		if (it.kind == SAKER_CAPFILE_ITEM_SNAPSHOT_END)
			break;
		ret = saker_snapshot_restore(app->view, &it);
		if (ret < 0 && ret != -EINVAL) {
			snprintf(err, errlen, "cannot restore the process table: %s",
				 strerror(-ret));
			return ret;
		}
	}
	if (ret == 0) {
		snprintf(err, errlen, "%s:%llu: truncated: the file ends inside its snapshot",
			 app->cfg.engine.replay.capture_file,
			 (unsigned long long)saker_capfile_offset(r));
		return -EBADMSG;
	}
	if (ret < 0)
		return ret;
	saker_dump_init(&app->dump, app->cfg.json_output, app->cfg.time_format_iso_8601,
			m->boot_offset_ns, app->view);
	ret = saker_app_wire_pipeline(app, err, errlen);
	if (ret)
		return ret;
	if (app->rules.rules)
		saker_rules_set_boot_offset(app->rules.rules, (uint64_t)m->boot_offset_ns);
	{
		const struct saker_outputs_opts oopts = {.log = saker_log_report,
							 .log_ctx = &app->log};
		char why[512];

		ret = saker_outputs_new(&app->outputs, &app->live_cfg, &oopts, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "cannot set up outputs: %s", why);
			return ret;
		}
		app->rules.outputs = app->outputs;
	}
	return 0;
}

#define REPLAY_WATERMARK_LAG_NS 5000000000ull

/* Plays every record; 0 at the end of the file, or the reader's or the dump's error. */
static int play(struct saker_app *app, struct saker_capfile_reader *r,
		struct saker_capture_stats *st, uint64_t *last_ts, char *err, size_t errlen)
{
	struct saker_capfile_item it;
	uint64_t n = 0, max_ts = 0;
	int ret = 0;

	while (!stop_requested && (ret = saker_capfile_next(r, &it, err, errlen)) == 1) {
		st->k[SAKER_CNT_EVTS]++;
		if (saker_pipeline_record(&app->pipe, it.rec, it.rec_len) < 0)
			st->user_drops++;
		else
			st->delivered++;
		*last_ts = it.rec->ts_ns;
		if (it.rec->ts_ns > max_ts)
			max_ts = it.rec->ts_ns;
		if (app->sink_open && dump_wait(app)) {
			snprintf(err, errlen, "dump output closed (%s)",
				 strerror(-saker_pipeline_error(&app->pipe)));
			return saker_pipeline_error(&app->pipe);
		}
		if (++n % OUTPUTS_CHECK_EVERY == 0) {
			outputs_wait(app);
			/*
			 * No rings to watch: records come in the order the live run
			 * delivered them, the bulk lane at most a few seconds behind the
			 * newest; versions kept for it go once that far behind.
			 */
			if (max_ts > REPLAY_WATERMARK_LAG_NS)
				saker_view_set_watermark(app->view,
							 max_ts - REPLAY_WATERMARK_LAG_NS);
		}
	}
	return ret;
}

int saker_replay_run(struct saker_app *app)
{
	const char *path = app->cfg.engine.replay.capture_file;
	struct saker_capfile_reader *r = NULL;
	struct saker_capture_stats st = {0};
	const struct saker_drops_actions act = {
	    .ctx = app,
	    .log = saker_log_report,
	    .log_ctx = &app->log,
	    .alert = saker_app_alert_cb,
	};
	struct sigaction sa = {.sa_handler = on_stop};
	uint64_t t0, last_ts = 0;
	char err[1024];
	int ret;

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	ret = saker_capfile_open(&r, path, err, sizeof(err));
	if (!ret)
		ret = setup(app, r, err, sizeof(err));
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR, "%s", err);
		saker_capfile_close(r);
		return SAKER_EXIT_FATAL;
	}
	saker_drops_init(&app->drops, &app->cfg.drops, &st, saker_clock_ns(CLOCK_MONOTONIC));
	saker_drops_set_parts(&app->drops, NULL, NULL, app->view);
	saker_log(&app->log, SAKER_PRIO_INFO,
		  "saker %s replaying %s (recorded by saker %s), %zu rules", SAKER_VERSION, path,
		  saker_capfile_meta(r)->version, saker_rules_loaded(app->rules.rules));
	t0 = saker_clock_ns(CLOCK_MONOTONIC);
	ret = play(app, r, &st, &last_ts, err, sizeof(err));
	if (stop_requested)
		saker_log(&app->log, SAKER_PRIO_INFO, "replay stopped by a signal at %s:%llu", path,
			  (unsigned long long)saker_capfile_offset(r));
	if (ret < 0) {
		/* The records before the fault went through; the summary counts them. */
		saker_log(&app->log, SAKER_PRIO_ERROR, "%s", err);
		app->exit_status = SAKER_EXIT_FATAL;
	}
	{
		uint64_t dt = saker_clock_ns(CLOCK_MONOTONIC) - t0;

		saker_log(&app->log, SAKER_PRIO_INFO,
			  "replay: %llu records in %.3f s (%.0f records/s)",
			  (unsigned long long)st.k[SAKER_CNT_EVTS], (double)dt / 1e9,
			  dt ? (double)st.k[SAKER_CNT_EVTS] * 1e9 / (double)dt : 0.0);
	}
	/* The final drop check, on the replayed clock. */
	{
		struct saker_drops_now now = {
		    .mono_ns = saker_clock_ns(CLOCK_MONOTONIC),
		    .real_ns = saker_clock_ns(CLOCK_REALTIME),
		    .boot_ns = last_ts,
		};

		if (saker_drops_check_at(&app->drops, &st, &now, &act) == SAKER_DROPS_EXIT &&
		    !app->exit_status)
			app->exit_status = SAKER_EXIT_DROPS;
	}
	if (app->sink_open)
		(void)saker_dump_sink_finish(&app->sink, SHUTDOWN_DUMP_MS);
	(void)saker_outputs_shutdown(app->outputs, SHUTDOWN_FLUSH_MS);
	app->replay_stats = &st;
	saker_app_summarize(app, true);
	app->replay_stats = NULL;
	saker_capfile_close(r);
	return app->exit_status;
}
