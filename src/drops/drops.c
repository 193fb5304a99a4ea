#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "drops/drops_int.h"
#include "drops/loss.h"
#include "state/view.h"

/* Counters only grow; one that went back (a reset we did not cause) yields 0, not 2^64 - n. */
static uint64_t counter_delta(uint64_t cur, uint64_t prev)
{
	return cur >= prev ? cur - prev : 0;
}

static void stats_delta(struct saker_capture_stats *delta, const struct saker_capture_stats *cur,
			const struct saker_capture_stats *prev)
{
	for (int i = 0; i < SAKER_CNT_MAX; i++)
		delta->k[i] = counter_delta(cur->k[i], prev->k[i]);
	delta->delivered = counter_delta(cur->delivered, prev->delivered);
	delta->user_drops = counter_delta(cur->user_drops, prev->user_drops);
}

static bool above_threshold(uint64_t n_drops, uint64_t n_evts, double threshold)
{
	if (n_drops == 0)
		return false;
	/* As Falco: n_evts already counts the drops; no events seen at all is the worst case. */
	if (n_evts == 0)
		return true;
	return (double)n_drops / (double)n_evts > threshold;
}

void saker_drops_set_rings(struct saker_drops *d, const struct saker_drops_rings *rings)
{
	d->rings = *rings;
}

void saker_drops_init(struct saker_drops *d, const struct saker_drops_config *cfg,
		      const struct saker_capture_stats *now_stats, uint64_t now_mono_ns)
{
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	saker_tbucket_init(&d->bucket, cfg->rate, cfg->max_burst, now_mono_ns);
	/* Losses from before we started watching are not this run's to report. */
	if (now_stats)
		d->prev = *now_stats;
	d->prev_mono_ns = now_mono_ns;
}

void saker_drops_set_parts(struct saker_drops *d, struct saker_attrib *attrib,
			   struct saker_ledger *ledger, struct saker_view *view)
{
	d->attrib = attrib;
	d->ledger = ledger;
	d->view = view;
}

void saker_drops_reconfigure(struct saker_drops *d, const struct saker_drops_config *cfg,
			     uint64_t now_mono_ns)
{
	/* A refilled bucket on every SIGHUP would let reloads bypass the rate limit. */
	if (cfg->rate != d->cfg.rate || cfg->max_burst != d->cfg.max_burst)
		saker_tbucket_init(&d->bucket, cfg->rate, cfg->max_burst, now_mono_ns);
	/* Turning simulation off and on again announces it again. */
	if (!cfg->simulate_drops)
		d->simulate_announced = false;
	d->cfg = *cfg;
}

/*
 * Marks the view for a real loss: the processes the kernel named, and every
 * process when some of the loss is not attributed (today: all of it).
 */
struct degrade {
	struct saker_view *view;
	uint64_t since, until;
};

static void mark_one(void *ctx, const struct saker_attrib_proc *p)
{
	const struct degrade *g = ctx;

	saker_view_mark_degraded(g->view, p->pid, g->since, g->until);
}

/*
 * Every process the probe counted a loss for is marked, not only the top
 * ones. The whole view is marked when some loss has no process: the probe's
 * loss map was full (n_drops_unattributed), records lost in user space, or
 * per-process counts unknown (produced only).
 */
static void mark_all_if_unattributed(struct saker_drops *d, const struct saker_capture_stats *delta,
				     const struct saker_loss *real, bool lost_known, uint64_t since,
				     uint64_t until)
{
	if (!d->view || !real->total)
		return;
	if (!d->attrib || !lost_known || delta->k[SAKER_CNT_DROPS_UNATTRIBUTED] ||
	    real->cause[SAKER_LOSS_USER_SPACE])
		saker_view_mark_degraded(d->view, 0, since, until);
}

/* The ledger's line for this window: a lossy one, or the end of an episode. True: it has one. */
static bool record(struct saker_drops *d, struct saker_ledger_record *r)
{
	uint64_t lost = r->loss->total;

	if (lost) {
		if (!d->episode) {
			d->episode = true;
			d->episode_win = r->win;
			d->episode_windows = d->episode_seen = d->episode_lost = 0;
		}
		d->episode_win.end_boot_ns = r->win.end_boot_ns;
		d->episode_win.end_real_ns = r->win.end_real_ns;
		d->episode_windows++;
		d->episode_seen += r->seen;
		d->episode_lost += lost;
	} else if (d->episode) {
		d->episode = false;
		r->kind = SAKER_LEDGER_END;
		r->episode = d->episode_win;
		r->episode_windows = d->episode_windows;
		r->episode_seen = d->episode_seen;
		r->episode_lost = d->episode_lost;
	} else {
		return false;
	}
	if (d->ledger) {
		int err = saker_ledger_write(d->ledger, r);

		if (err) {
			d->n_ledger_errors++;
			d->ledger_unreported++;
			d->ledger_errno = -err;
		}
	}
	return true;
}

/*
 * A ledger line that could not be written is logged with its reason: the
 * first at once, then at most every SAKER_DROPS_DEMOTE_NOTICE_S seconds with
 * the count since the last report and the last reason, and what is still
 * held back at shutdown.
 */
static void ledger_notice(struct saker_drops *d, uint64_t now_mono_ns,
			  const struct saker_drops_actions *act, bool now_or_never)
{
	const uint64_t period = (uint64_t)SAKER_DROPS_DEMOTE_NOTICE_S * 1000000000ull;
	char msg[256];

	if (!d->ledger_unreported)
		return;
	if (!now_or_never && d->ledger_notice_mono_ns &&
	    now_mono_ns - d->ledger_notice_mono_ns < period)
		return;
	snprintf(msg, sizeof(msg),
		 "syscall_event_drops.ledger: %" PRIu64
		 " line(s) could not be written since the last report: %s",
		 d->ledger_unreported, strerror(d->ledger_errno));
	dr_log(act, SAKER_PRIO_ERROR, msg);
	d->ledger_unreported = 0;
	d->ledger_notice_mono_ns = now_mono_ns ? now_mono_ns : 1;
}

/*
 * The most demoted process, and its container as the view knows it now
 * (the process is usually still flooding): the budgets are per container,
 * so the container is what the notice must name.
 */
static void demote_top_set(struct saker_drops *d, const struct saker_attrib_proc *p)
{
	const struct saker_proc *v = d->view ? saker_view_proc(d->view, p->pid) : NULL;
	const struct saker_container *c;

	d->demote_top = *p;
	d->demote_ctr[0] = '\0';
	/* A host process stays named as before: no container is what "host" means. */
	if (!v || !v->container_id[0] || !strcmp(v->container_id, "host"))
		return;
	c = saker_view_container(d->view, v);
	if (c && c->name && c->name[0])
		snprintf(d->demote_ctr, sizeof(d->demote_ctr), " container %s (%s)",
			 v->container_id, c->name);
	else
		snprintf(d->demote_ctr, sizeof(d->demote_ctr), " container %s", v->container_id);
}

/*
 * Demotion is not loss (the event went on in the bulk lane) but must never
 * be silent: one warning naming the most demoted process, at most every
 * SAKER_DROPS_DEMOTE_NOTICE_S seconds (a connect storm would otherwise log
 * every second), saying how many accumulated since the last one.
 */
static void demotion_notice(struct saker_drops *d, const struct saker_attrib_window *w,
			    const struct saker_drops_now *now,
			    const struct saker_drops_actions *act, bool now_or_never)
{
	const uint64_t period = (uint64_t)SAKER_DROPS_DEMOTE_NOTICE_S * 1000000000ull;
	const struct saker_attrib_proc *p = &d->demote_top;
	uint64_t secs;
	char msg[384];

	if (w && w->demoted) {
		d->demoted_pending += w->demoted;
		if (w->top_demoted.demoted > d->demote_top.demoted)
			demote_top_set(d, &w->top_demoted);
	}
	if (!d->demoted_pending)
		return;
	if (!now_or_never && d->demote_notice_mono_ns &&
	    now->mono_ns - d->demote_notice_mono_ns < period)
		return;
	secs = d->demote_notice_mono_ns ? (now->mono_ns - d->demote_notice_mono_ns) / 1000000000ull
					: (now->window_s ? now->window_s : 1);
	if (p->uid == SAKER_UID_UNSET)
		snprintf(msg, sizeof(msg),
			 "Saker internal: protected lane: %" PRIu64
			 " critical events demoted in last %" PRIu64
			 " second(s) (over budget); top: pid %" PRIu32 " (%s) uid <NA>%s: %" PRIu64
			 " demoted",
			 d->demoted_pending, secs, p->pid, p->comm[0] ? p->comm : "<NA>",
			 d->demote_ctr, p->demoted);
	else
		snprintf(msg, sizeof(msg),
			 "Saker internal: protected lane: %" PRIu64
			 " critical events demoted in last %" PRIu64
			 " second(s) (over budget); top: pid %" PRIu32 " (%s) uid %" PRIu32
			 "%s: %" PRIu64 " demoted",
			 d->demoted_pending, secs, p->pid, p->comm[0] ? p->comm : "<NA>", p->uid,
			 d->demote_ctr, p->demoted);
	dr_log(act, SAKER_PRIO_WARNING, msg);
	d->n_demote_notices++;
	d->demote_notice_mono_ns = now->mono_ns;
	d->demoted_pending = 0;
	memset(&d->demote_top, 0, sizeof(d->demote_top));
	d->demote_ctr[0] = '\0';
}

/*
 * Opens the check's window: the deltas since the previous sample, which this
 * one replaces, and where the window starts and ends.
 */
static void window_open(struct saker_drops *d, const struct saker_capture_stats *cur,
			const struct saker_drops_now *now, struct saker_capture_stats *delta,
			struct saker_ledger_record *rec)
{
	uint64_t elapsed = now->mono_ns >= d->prev_mono_ns ? now->mono_ns - d->prev_mono_ns : 0;

	stats_delta(delta, cur, &d->prev);
	d->prev = *cur;
	rec->win.end_boot_ns = now->boot_ns;
	rec->win.end_real_ns = now->real_ns;
	/* One window ends where the next begins; the first begins at init, by the monotonic clock.
	 */
	rec->win.start_boot_ns = d->prev_boot_ns	  ? d->prev_boot_ns
				 : now->boot_ns > elapsed ? now->boot_ns - elapsed
							  : 0;
	rec->win.start_real_ns = d->prev_real_ns	  ? d->prev_real_ns
				 : now->real_ns > elapsed ? now->real_ns - elapsed
							  : 0;
	d->prev_mono_ns = now->mono_ns;
	d->prev_boot_ns = now->boot_ns;
	d->prev_real_ns = now->real_ns;
}

/* Closes the attribution window and marks the view for the window's real loss. */
static void mark_view(struct saker_drops *d, const struct saker_capture_stats *delta,
		      const struct saker_loss *real_loss, uint64_t since, uint64_t until,
		      struct saker_attrib_window *w)
{
	struct degrade g = {.view = d->view, .since = since, .until = until};

	saker_attrib_close_each(d->attrib, w, d->view && real_loss->total ? mark_one : NULL, &g);
	mark_all_if_unattributed(d, delta, real_loss, w->lost_known, since, until);
}

/* simulate_drops: one more drop in this window, and the threshold taken as 0. */
static void simulate(struct saker_drops *d, struct saker_capture_stats *delta,
		     struct saker_ledger_record *rec, double *threshold,
		     const struct saker_drops_actions *act)
{
	if (!d->simulate_announced) {
		dr_log(act, SAKER_PRIO_WARNING,
		       "syscall_event_drops.simulate_drops is on: adding one simulated "
		       "drop per check");
		d->simulate_announced = true;
	}
	/* A ring-full drop of an uncategorised syscall, so the fields stay consistent. */
	delta->k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER]++;
	d->n_simulated++;
	rec->simulated = 1;
	*threshold = 0;
}

/* Above the threshold, with an action to take, and granted a token: the actions run. */
static bool granted(struct saker_drops *d, uint64_t n_drops, uint64_t n_evts, double threshold,
		    struct saker_ledger_record *rec, uint64_t now_mono_ns)
{
	bool any_action = false;

	if (!above_threshold(n_drops, n_evts, threshold))
		return false;
	d->n_fired++;
	rec->fired = true;

	for (size_t i = 0; i < d->cfg.n_actions && i < SAKER_MAX_DROP_ACTIONS; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a > SAKER_DROP_ACT_IGNORE && a <= SAKER_DROP_ACT_EXIT)
			any_action = true;
	}
	/* Nothing to do: do not spend tokens, nor count refusals nobody would hear of. */
	if (!any_action)
		return false;

	if (!saker_tbucket_claim(&d->bucket, now_mono_ns)) {
		d->suppressed_checks++;
		d->suppressed_drops += n_drops;
		d->n_suppressed++;
		rec->suppressed = true;
		return false;
	}
	d->n_actions_taken++;
	return true;
}

/* What every check does whatever was decided: notices, the window's report, its ledger line. */
static void window_close(struct saker_drops *d, struct saker_ledger_record *rec,
			 const struct saker_drops_rings *rings,
			 const struct saker_capture_stats *cur, const struct saker_attrib_window *w,
			 const struct saker_drops_now *now, const struct saker_drops_actions *act)
{
	demotion_notice(d, d->attrib ? w : NULL, now, act, false);
	{
		const struct saker_drops_window cw = {
		    .rec = rec,
		    .rings = rings,
		    .cur = cur,
		    .window_s = now->window_s,
		    .simulated_total = d->n_simulated,
		    .ledger_line = record(d, rec),
		};

		if (act && act->window)
			act->window(act->ctx, &cw);
	}
	ledger_notice(d, now->mono_ns, act, false);
}

enum saker_drops_result saker_drops_check_at(struct saker_drops *d,
					     const struct saker_capture_stats *cur,
					     const struct saker_drops_now *now,
					     const struct saker_drops_actions *act)
{
	struct saker_capture_stats delta;
	struct saker_attrib_window w = {0};
	struct saker_loss loss, real_loss;
	struct saker_ledger_record rec = {0};
	double threshold = d->cfg.threshold;
	uint64_t until;
	bool do_exit = false;

	/* The occupancy given describes this window only. */
	struct saker_drops_rings rings = d->rings;

	d->rings.known = false;
	d->rings.critical.known = false;
	d->n_checks++;
	window_open(d, cur, now, &delta, &rec);
	/* What the loss did to the view: real losses only, never throttled. */
	saker_loss_split(&delta, &real_loss);
	until = now->boot_ns + (uint64_t)(d->cfg.degraded_window * 1e9);
	mark_view(d, &delta, &real_loss, rec.win.start_boot_ns, until, &w);
	if (d->cfg.simulate_drops)
		simulate(d, &delta, &rec, &threshold, act);
	saker_loss_split(&delta, &loss);

	uint64_t n_drops = saker_stats_drops(&delta);
	uint64_t n_evts = delta.k[SAKER_CNT_EVTS];

	d->last_evts = n_evts;
	d->last_drops = n_drops;
	rec.seen = n_evts;
	rec.delivered = delta.delivered;
	rec.loss = &loss;
	rec.attrib = d->attrib ? &w : NULL;

	/* What the loss did to the view, and its repair: real losses only, never throttled. */
	if (real_loss.lifecycle && dr_has_action(d, SAKER_DROP_ACT_RESYNC) && act && act->resync) {
		act->resync(act->ctx, rec.win.start_boot_ns, until,
			    real_loss.lifecycle >= SAKER_DROPS_RESYNC_FULL_MIN);
		d->n_resyncs++;
		rec.resync = true;
	}

	/* Any loss in the protected lane is worth an alert, whatever the ratio. */
	if (real_loss.critical)
		threshold = 0;
	if (granted(d, n_drops, n_evts, threshold, &rec, now->mono_ns))
		do_exit = dr_run_actions(d, &delta, &w, n_drops, now->window_s, &rings,
					 now->real_ns, act);
	window_close(d, &rec, &rings, cur, &w, now, act);
	return do_exit ? SAKER_DROPS_EXIT : SAKER_DROPS_OK;
}

void saker_drops_finish_window(struct saker_drops *d, const struct saker_capture_stats *cur,
			       const struct saker_drops_now *now,
			       const struct saker_drops_actions *act)
{
	struct saker_capture_stats delta;
	struct saker_attrib_window w = {0};
	struct saker_ledger_record rec = {0};
	const struct saker_drops_rings none = {.known = false};
	struct saker_loss loss;

	if (!act || !act->window || !cur)
		return;
	stats_delta(&delta, cur, &d->prev);
	d->prev = *cur;
	rec.win.start_boot_ns = d->prev_boot_ns ? d->prev_boot_ns : now->boot_ns;
	rec.win.start_real_ns = d->prev_real_ns ? d->prev_real_ns : now->real_ns;
	rec.win.end_boot_ns = now->boot_ns;
	rec.win.end_real_ns = now->real_ns;
	d->prev_mono_ns = now->mono_ns;
	d->prev_boot_ns = now->boot_ns;
	d->prev_real_ns = now->real_ns;
	/* Its demotions are reported by saker_drops_finish, as the partial window's always were. */
	if (d->attrib) {
		saker_attrib_close(d->attrib, &w);
		if (w.demoted) {
			d->demoted_pending += w.demoted;
			if (w.top_demoted.demoted > d->demote_top.demoted)
				demote_top_set(d, &w.top_demoted);
		}
	}
	saker_loss_split(&delta, &loss);
	rec.seen = delta.k[SAKER_CNT_EVTS];
	rec.delivered = delta.delivered;
	rec.loss = &loss;
	rec.attrib = d->attrib ? &w : NULL;
	{
		const struct saker_drops_window cw = {
		    .rec = &rec,
		    .rings = &none,
		    .cur = cur,
		    .window_s = 1,
		    .simulated_total = d->n_simulated,
		    .final = true,
		};

		act->window(act->ctx, &cw);
	}
}

void saker_drops_finish(struct saker_drops *d, const struct saker_drops_now *now,
			const struct saker_drops_actions *act)
{
	struct saker_attrib_window w = {0};

	/* The last, partial window: its demotions were counted but no check will see them. */
	if (d->attrib)
		saker_attrib_close(d->attrib, &w);
	demotion_notice(d, d->attrib ? &w : NULL, now, act, true);
	ledger_notice(d, now->mono_ns, act, true);
}

enum saker_drops_result saker_drops_check(struct saker_drops *d,
					  const struct saker_capture_stats *cur,
					  uint64_t now_mono_ns, uint64_t now_real_ns,
					  const struct saker_drops_actions *act)
{
	const struct saker_drops_now now = {
	    .mono_ns = now_mono_ns, .real_ns = now_real_ns, .boot_ns = now_mono_ns};

	return saker_drops_check_at(d, cur, &now, act);
}

enum saker_drops_result saker_drops_check_window(struct saker_drops *d,
						 const struct saker_capture_stats *cur,
						 uint64_t window_s, uint64_t now_mono_ns,
						 uint64_t now_real_ns,
						 const struct saker_drops_actions *act)
{
	const struct saker_drops_now now = {
	    .mono_ns = now_mono_ns,
	    .real_ns = now_real_ns,
	    .boot_ns = now_mono_ns,
	    .window_s = window_s,
	};

	return saker_drops_check_at(d, cur, &now, act);
}