#include "app/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observe/observe.h"
#include "capture/record.h"
#include "app/summary.h"
#include "capture/capture.h"
#include "drops/attrib.h"
#include "drops/ledger.h"
#include "lib/clock.h"
#include "lib/privread.h"
#include "capture/taskiter.h"
#include "outputs/outputs.h"
#include "outputs/spawner.h"
#include "rules/rules.h"
#include "state/resync.h"
#include "state/view.h"

void saker_app_log_from_config(struct saker_log *log, const struct saker_config *cfg)
{
	saker_log_init(log);
	log->level = cfg->log_level;
	log->to_stderr = cfg->log_stderr;
	log->to_syslog = cfg->log_syslog;
	log->iso8601 = cfg->time_format_iso_8601;
}

void saker_app_alert_cb(void *ctx, const struct saker_alert *alert)
{
	struct saker_app *app = ctx;

	/* A refused alert is counted by the outputs and shows in the summary. */
	(void)saker_outputs_emit(app->outputs, alert);
}

int saker_app_open_ledger(const char *path, struct saker_ledger **out, char *err, size_t errlen)
{
	char why[400];
	int ret;

	*out = NULL;
	if (!path)
		return 0;
	ret = saker_ledger_open(out, path, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "syscall_event_drops.ledger: %s", why);
	return ret;
}

struct saker_observe_src saker_app_observe_src(const struct saker_app *app, uint64_t now_ns,
					       bool exact)
{
	const struct saker_canary_run *c = &app->canary;
	struct saker_observe_src src = {
	    .cap = app->cap,
	    .drops = &app->drops,
	    .view = app->view,
	    .outputs = app->outputs,
	    .ledger = app->ledger,
	    .pipe =
		{
		    .on = true,
		    .sink = app->pipe.sink,
		    .attrib = app->pipe.attrib,
		    .resync = app->pipe.resync,
		    .state_errors = app->pipe.state_errors,
		    .record = app->record,
		},
	    .has_rules = true,
	    .canary =
		{
		    .v = &c->v,
		    .up = c->status != SAKER_CANARY_OFF && c->status != SAKER_CANARY_FAILED,
		    .blind = c->status == SAKER_CANARY_IS_BLIND,
		    .sel_changed = app->guard.changed,
		    .n_sel_changes = app->guard.n_changes,
		    .n_events = c->n_events,
		    .own_lost_total = c->own_lost_total,
		},
	    .stats = app->replay_stats,
	    .exact = exact,
	    .now_mono_ns = now_ns,
	    .now_real_ns = saker_clock_ns(CLOCK_REALTIME),
	};

	saker_ruleset_collect_stats(&app->rules, &src.rules);
	saker_canary_problem(c, &app->guard, now_ns, src.problem, sizeof(src.problem));
	return src;
}

/*
 * --metrics-json: the collection as data, for scripts and tests. Created
 * 0600 and never through a symlink; written whole, then renamed over FILE.
 */
static int write_metrics_json(const char *path, const struct saker_metrics *m)
{
	struct saker_sbuf b;
	char tmp[4096];
	int fd, ret = 0;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	saker_sbuf_init(&b);
	ret = saker_metrics_render_json(m, &b);
	saker_sbuf_putc(&b, '\n');
	if (!ret && b.oom)
		ret = -ENOMEM;
	if (ret) {
		saker_sbuf_free(&b);
		return ret;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		saker_sbuf_free(&b);
		return ret;
	}
	while (off < b.len && !ret) {
		ssize_t w = write(fd, b.p + off, b.len - off);

		if (w < 0 && errno != EINTR)
			ret = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		(void)unlink(tmp);
	saker_sbuf_free(&b);
	return ret;
}

void saker_app_summarize(struct saker_app *app, bool exact)
{
	struct saker_metrics m;
	int ret;

	/* One collection: the last metrics line and the summary show the same figures. */
	saker_metrics_init(&m);
	{
		const struct saker_observe_src src =
		    saker_app_observe_src(app, saker_loop_now_ns(), exact);

		ret = saker_observe_final(app->observe, &src, &m);
	}
	saker_observe_stop(app->observe);
	app->observe = NULL;
	if (ret)
		saker_log(&app->log, SAKER_PRIO_ERROR, "cannot collect the final counters: %s",
			  strerror(-ret));
	else
		saker_summary_print(&m, exact, app->log.level >= SAKER_PRIO_DEBUG, stderr);
	if (!ret && app->opts.metrics_json) {
		ret = write_metrics_json(app->opts.metrics_json, &m);
		if (ret)
			saker_log(&app->log, SAKER_PRIO_ERROR, "cannot write %s: %s",
				  app->opts.metrics_json, strerror(-ret));
	}
	saker_metrics_free(&m);
}

int saker_app_wire_pipeline(struct saker_app *app, char *err, size_t errlen)
{
	if (app->opts.dump) {
		int ret = saker_dump_sink_open(&app->sink, STDOUT_FILENO, 0);

		if (ret) {
			snprintf(err, errlen, "cannot set up the dump: %s", strerror(-ret));
			return ret;
		}
		app->sink_open = true;
	}
	saker_pipeline_init(&app->pipe, app->view, app->opts.dump ? &app->dump : NULL,
			    app->opts.dump ? &app->sink : NULL);
	app->rules.view = app->view;
	app->pipe.rules = saker_ruleset_on_event;
	app->pipe.rules_ctx = &app->rules;
	return 0;
}

void saker_app_free(struct saker_app *app)
{
	if (!app)
		return;
	saker_canary_stop(&app->canary);
	saker_observe_stop(app->observe);
	saker_resync_free(app->resync);
	saker_attrib_free(app->attrib);
	saker_ledger_close(app->ledger);
	saker_capture_close(app->cap);
	saker_record_close(app->record);
	saker_outputs_free(app->outputs);
	saker_spawner_stop();
	saker_privread_stop();
	saker_taskiter_free(app->taskiter);
	saker_loop_free(app->loop);
	if (app->sfd >= 0)
		close(app->sfd);
	/* Only an opened sink: a zeroed one names fd 0, whose flags are not saker's to set. */
	if (app->sink_open)
		saker_dump_sink_close(&app->sink);
	saker_dump_fini(&app->dump);
	saker_ruleset_fini(&app->rules);
	saker_view_free(app->view);
	saker_config_free(&app->live_cfg);
	saker_config_free(&app->cfg);
	free(app);
}
