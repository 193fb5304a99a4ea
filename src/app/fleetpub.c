#include "app/fleetpub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "app/run.h"
#include "drops/coverage.h"
#include "lib/sbuf.h"

static void init(struct saker_fleetpub *p)
{
	const char *env = getenv("SAKER_HOSTNAME");
	uint64_t run = 0;

	/* The alerts' hostname rule (outputs.c), so a host's records and alerts name it alike. */
	if (env && *env)
		snprintf(p->host, sizeof(p->host), "%s", env);
	else if (gethostname(p->host, sizeof(p->host) - 1) < 0)
		snprintf(p->host, sizeof(p->host), "localhost");
	p->host[sizeof(p->host) - 1] = '\0';
	if (getrandom(&run, sizeof(run), 0) != (ssize_t)sizeof(run)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		run =
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
	}
	snprintf(p->run_id, sizeof(p->run_id), "%016" PRIx64, run);
}

static uint64_t alerts_lost(struct saker_outputs *o)
{
	struct saker_outputs_stats st;
	uint64_t n;

	saker_outputs_get_stats(o, &st);
	n = st.queue_drops;
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		n += st.lost[ch] + st.failed[ch];
	return n;
}

void saker_app_fleet_window(void *ctx, const struct saker_drops_window *w)
{
	struct saker_app *app = ctx;
	struct saker_fleetpub *p = &app->fleetpub;
	struct saker_coverage_health h = {0};
	struct saker_coverage_id id;
	struct saker_sbuf b;
	char problem[256];
	uint64_t now = saker_loop_now_ns(), drained;

	if (!app->cfg.nats_output.enabled || !app->outputs)
		return;
	if (!p->seq)
		init(p);
	id = (struct saker_coverage_id){.host = p->host, .run_id = p->run_id, .seq = ++p->seq};
	saker_canary_problem(&app->canary, &app->guard, now, problem, sizeof(problem));
	drained = app->cap ? saker_capture_last_drain_ns(app->cap) : 0;
	h.problem = problem;
	h.drain_age_ms = drained && now > drained ? (now - drained) / 1000000 : 0;
	h.alerts_lost = alerts_lost(app->outputs);
	h.dump_lost = app->pipe.sink ? app->pipe.sink->lines_lost : 0;
	h.ledger_errors = app->drops.n_ledger_errors;
	saker_sbuf_init(&b);
	saker_coverage_format(&b, &id, w, &h);
	if (b.oom || saker_outputs_publish(app->outputs, "coverage", b.p, b.len))
		p->refused++;
	saker_sbuf_free(&b);
	if (w->ledger_line) {
		saker_sbuf_init(&b);
		saker_ledger_format(&b, w->rec);
		if (b.oom || saker_outputs_publish(app->outputs, "ledger", b.p, b.len))
			p->refused++;
		else
			p->ledger_lines++;
		saker_sbuf_free(&b);
	}
}
