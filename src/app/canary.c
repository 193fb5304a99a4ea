#include "app/canary.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "app/run.h"
#include "lib/clock.h"
#include "outputs/outputs.h"

void saker_canary_problem(const struct saker_canary_run *r, const struct saker_selection_guard *g,
			  uint64_t now_mono_ns, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (g && g->changed)
		n = (size_t)snprintf(
		    buf, len, "selection changed from outside saker %.0f s ago (restored)%s",
		    (double)(now_mono_ns - g->last_ns) / 1e9,
		    r && (r->status == SAKER_CANARY_IS_BLIND || r->status == SAKER_CANARY_FAILED)
			? "; "
			: "");
	if (n >= len)
		n = len - 1;
	if (r && r->status == SAKER_CANARY_IS_BLIND)
		snprintf(buf + n, len - n,
			 "capture blind: the canary's marker %llu was not captured and no "
			 "drop was counted",
			 (unsigned long long)r->v.seq);
	else if (r && r->status == SAKER_CANARY_FAILED)
		snprintf(buf + n, len - n, "capture canary failed: %s", r->failed_why);
}

/* An internal alert at CRITICAL: logged, and to the outputs like a rule's. */
static void internal_alert(struct saker_app *app, const char *rule, const char *msg,
			   const struct saker_field *fields, size_t n_fields)
{
	const struct saker_alert alert = {
	    .time_ns = saker_clock_ns(CLOCK_REALTIME),
	    .priority = SAKER_PRIO_CRITICAL,
	    .rule = rule,
	    .source = "internal",
	    .output = msg,
	    .fields = fields,
	    .n_fields = n_fields,
	};

	saker_log(&app->log, SAKER_PRIO_CRITICAL, "%s", msg);
	/* A refused alert is counted by the outputs. */
	(void)saker_outputs_emit(app->outputs, &alert);
}

static void blind(struct saker_app *app, const struct saker_canary_run *r, uint64_t now_ns)
{
	char msg[256];
	const struct saker_field fields[] = {
	    {.name = "canary_pid", .type = SAKER_FIELD_U64, .u64 = (uint64_t)r->pid},
	    {.name = "canary_seq", .type = SAKER_FIELD_U64, .u64 = r->v.seq},
	    {.name = "markers_seen", .type = SAKER_FIELD_U64, .u64 = r->v.n_seen},
	    {.name = "markers_blind", .type = SAKER_FIELD_U64, .u64 = r->v.n_blind},
	    {.name = "last_seen_s_ago",
	     .type = SAKER_FIELD_U64,
	     .u64 = r->v.last_seen_ns ? (now_ns - r->v.last_seen_ns) / 1000000000ull : 0},
	};

	snprintf(msg, sizeof(msg),
		 "Saker internal: capture blind. The canary's syscall (openat, marker %" PRIu64
		 ") was not captured and no drop was counted.",
		 r->v.seq);
	internal_alert(app, SAKER_CANARY_RULE, msg, fields, sizeof(fields) / sizeof(fields[0]));
}

static void news(void *ctx, const struct saker_canary_run *r, enum saker_canary_news what,
		 uint64_t now_ns)
{
	struct saker_app *app = ctx;

	switch (what) {
	case SAKER_CANARY_NEWS_BLIND:
		blind(app, r, now_ns);
		break;
	case SAKER_CANARY_NEWS_SEEN:
		saker_log(&app->log, SAKER_PRIO_WARNING,
			  "capture canary: markers are captured again (blind for %.1f s)",
			  (double)(now_ns - r->v.blind_since_ns) / 1e9);
		break;
	case SAKER_CANARY_NEWS_PAUSED:
		saker_log(&app->log, SAKER_PRIO_WARNING,
			  "capture canary: openat is not in the syscall selection; nothing "
			  "proves that capture still sees");
		break;
	case SAKER_CANARY_NEWS_FAILED:
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "capture canary: %s; whether capture still sees can no longer be proven",
			  r->failed_why);
		break;
	}
}

void saker_canary_tick(void *ctx, uint64_t periods, uint64_t now_ns)
{
	struct saker_app *app = ctx;

	(void)periods;
	saker_canary_run_tick(&app->canary, app->cap, now_ns, news, app);
}

static void selection_alert(struct saker_app *app, const struct saker_capture_tamper *t)
{
	char msg[320];
	const struct saker_field fields[] = {
	    {.name = "entries_changed", .type = SAKER_FIELD_U64, .u64 = t->changed},
	    {.name = "deselected", .type = SAKER_FIELD_U64, .u64 = t->deselected},
	    {.name = "selected", .type = SAKER_FIELD_U64, .u64 = t->added},
	    {.name = "lane_budget_changed", .type = SAKER_FIELD_U64, .u64 = t->budget},
	    {.name = "loss_gen_changed", .type = SAKER_FIELD_U64, .u64 = t->loss_gen},
	    {.name = "restored", .type = SAKER_FIELD_U64, .u64 = t->restored},
	};

	snprintf(msg, sizeof(msg),
		 "Saker internal: selection changed. The probe's settings were changed from "
		 "outside saker: %u syscall table entries (%u deselected, %u selected)%s%s; %s.",
		 t->changed, t->deselected, t->added, t->budget ? ", the lane-1 budget" : "",
		 t->loss_gen ? ", the loss map generation" : "",
		 t->restored ? "restored" : "not restored");
	internal_alert(app, SAKER_SELECTION_RULE, msg, fields, sizeof(fields) / sizeof(fields[0]));
}

void saker_canary_check_selection(struct saker_app *app, uint64_t now_ns)
{
	const struct saker_selection_guard *g = &app->guard;

	if (!app->cap)
		return;
	switch (saker_capture_guard_check(app->cap, &app->guard, now_ns)) {
	case SAKER_GUARD_CHANGED:
		selection_alert(app, &g->last);
		break;
	case SAKER_GUARD_HELD:
		saker_log(
		    &app->log, SAKER_PRIO_WARNING,
		    "selection guard: the probe's settings stayed as saker set them for %.0f s "
		    "(checks that found them changed from outside: %" PRIu64 ", over %.1f s)",
		    (double)SAKER_SELECTION_HOLD_NS / 1e9, g->n_changes,
		    (double)(g->last_ns - g->since_ns) / 1e9);
		break;
	default:
		break;
	}
}
