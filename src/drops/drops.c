#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "drops/drops.h"
#include "drops/loss.h"
#include "state/view.h"

static void drops_log(const struct saker_drops_actions *act, enum saker_prio prio, const char *msg)
{
	if (act && act->log)
		act->log(act->log_ctx, prio, msg);
}

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

/*
 * n_evts, n_drops, one per cause that has a field (SAKER_LOSS_CAUSES), one per
 * category, page_faults, critical (lane 1), demoted, suppressed checks and
 * drops, ebpf_enabled.
 */
_Static_assert(SAKER_DROPS_N_COUNTER_FIELDS == 2 + SAKER_LOSS_N_FIELDS + SAKER_CAT_MAX + 6,
	       "update build_fields");

static size_t build_fields(struct saker_field *f, const struct saker_capture_stats *delta,
			   uint64_t suppressed_checks, uint64_t suppressed_drops)
{
	struct saker_loss loss;
	size_t n = 0;

#define ADD_U64(nm, v)                                                                             \
	do {                                                                                       \
		f[n].name = (nm);                                                                  \
		f[n].type = SAKER_FIELD_U64;                                                       \
		f[n].u64 = (v);                                                                    \
		n++;                                                                               \
	} while (0)

	saker_loss_split(delta, &loss);
	ADD_U64("n_evts", delta->k[SAKER_CNT_EVTS]);
	ADD_U64("n_drops", saker_stats_drops(delta));
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++)
		if (saker_loss_cause_field(c))
			ADD_U64(saker_loss_cause_field(c), loss.cause[c]);
	/* Falco lists "other" last; the formatters sort by name anyway. */
	for (int c = SAKER_CAT_OTHER + 1; c <= SAKER_CAT_MAX; c++) {
		int cat = c == SAKER_CAT_MAX ? SAKER_CAT_OTHER : c;
		enum saker_counter k = SAKER_CNT_DROPS_BUFFER_FIRST + cat;

		ADD_U64(saker_counter_name(k), delta->k[k]);
	}
	ADD_U64(saker_counter_name(SAKER_CNT_PAGE_FAULTS), delta->k[SAKER_CNT_PAGE_FAULTS]);
	ADD_U64("n_drops_critical", saker_stats_drops_critical(delta));
	ADD_U64(saker_counter_name(SAKER_CNT_DEMOTED), delta->k[SAKER_CNT_DEMOTED]);
	ADD_U64("n_suppressed_checks", suppressed_checks);
	ADD_U64("n_suppressed_drops", suppressed_drops);
	/* Always 1: Falco consumers key on it to tell the driver kind. */
	ADD_U64("ebpf_enabled", 1);
#undef ADD_U64
	return n;
}

/* clang-format off */
#define PROC_NAMES(i)                                                                              \
	{"top." #i ".pid", "top." #i ".comm", "top." #i ".exe", "top." #i ".uid",                  \
	 "top." #i ".produced", "top." #i ".lost", "top." #i ".demoted",                           \
	 "top." #i ".container.id", "top." #i ".container.name", "top." #i ".k8s.pod.name",         \
	 "top." #i ".k8s.ns.name"}
static const char *const proc_field_names[][SAKER_DROPS_N_PROC_FIELDS] = {
	PROC_NAMES(0), PROC_NAMES(1), PROC_NAMES(2),
};
#define CTR_NAMES(i)                                                                               \
	{"top_containers." #i ".id", "top_containers." #i ".name",                                 \
	 "top_containers." #i ".k8s.pod.name", "top_containers." #i ".k8s.ns.name",                \
	 "top_containers." #i ".processes", "top_containers." #i ".lost",                          \
	 "top_containers." #i ".demoted"}
static const char *const ctr_field_names[][SAKER_DROPS_N_CTR_FIELDS] = {
	CTR_NAMES(0), CTR_NAMES(1), CTR_NAMES(2),
};
/* clang-format on */
_Static_assert(sizeof(proc_field_names) / sizeof(proc_field_names[0]) == SAKER_ATTRIB_TOP,
	       "one row of names per top process");

/*
 * top.attribution, top.processes, with the kernel's counts top.lost_sum (and
 * top.lost_previous_window when that sum exceeds n_drops), then per top
 * process pid, comm, exe and uid (each when known), produced, and lost and
 * demoted only when the kernel counts them: unknown is not zero.
 *
 * The sum of the processes' losses and n_drops are cut at one instant (the
 * probe's loss map is switched, then the counters read, app.c), so the sum
 * exceeds n_drops only by losses of probe runs in flight across the
 * previous check: counted in that window's n_drops, named in this one's
 * processes. The excess is then said, never hidden.
 */
/* The non-empty strings of vals as string fields named names: how many. */
static size_t put_strs(struct saker_field *f, const char *const *names, const char *const *vals,
		       size_t k)
{
	size_t n = 0;

	for (size_t i = 0; i < k; i++)
		if (vals[i] && vals[i][0])
			f[n++] = (struct saker_field){
			    .name = names[i], .type = SAKER_FIELD_STR, .str = vals[i]};
	return n;
}

static size_t build_top_fields(struct saker_field *f, const struct saker_attrib_window *w,
			       uint64_t n_drops)
{
	size_t n = 0;

	f[n].name = "top.attribution";
	f[n].type = SAKER_FIELD_STR;
	f[n++].str = w->lost_known ? "kernel" : "produced_only";
	f[n].name = "top.processes";
	f[n].type = SAKER_FIELD_U64;
	f[n++].u64 = w->n_procs;
	if (w->lost_known) {
		f[n].name = "top.lost_sum";
		f[n].type = SAKER_FIELD_U64;
		f[n++].u64 = w->lost;
		if (w->lost > n_drops) {
			f[n].name = "top.lost_previous_window";
			f[n].type = SAKER_FIELD_U64;
			f[n++].u64 = w->lost - n_drops;
		}
	}
	for (size_t i = 0; i < w->n_top; i++) {
		const struct saker_attrib_proc *p = &w->top[i];
		const char *const *nm = proc_field_names[i];

		f[n] = (struct saker_field){.name = nm[0], .type = SAKER_FIELD_U64, .u64 = p->pid};
		n++;
		if (p->comm[0]) {
			f[n] = (struct saker_field){
			    .name = nm[1], .type = SAKER_FIELD_STR, .str = p->comm};
			n++;
		}
		if (p->exe[0]) {
			f[n] = (struct saker_field){
			    .name = nm[2], .type = SAKER_FIELD_STR, .str = p->exe};
			n++;
		}
		if (p->uid != SAKER_UID_UNSET) {
			f[n] = (struct saker_field){
			    .name = nm[3], .type = SAKER_FIELD_U64, .u64 = p->uid};
			n++;
		}
		f[n] = (struct saker_field){
		    .name = nm[4], .type = SAKER_FIELD_U64, .u64 = p->produced};
		n++;
		if (w->lost_known) {
			f[n] = (struct saker_field){
			    .name = nm[5], .type = SAKER_FIELD_U64, .u64 = p->lost};
			n++;
			f[n] = (struct saker_field){
			    .name = nm[6], .type = SAKER_FIELD_U64, .u64 = p->demoted};
			n++;
		}
		n += put_strs(f + n, nm + 7,
			      (const char *const[]){p->container_id, p->container_name, p->pod_name,
						    p->pod_ns},
			      4);
	}
	for (size_t i = 0; i < w->n_top_containers; i++) {
		const struct saker_attrib_container *c = &w->top_containers[i];
		const char *const *nm = ctr_field_names[i];

		n += put_strs(f + n, nm,
			      (const char *const[]){c->id[0] ? c->id : "unknown", c->name,
						    c->pod_name, c->pod_ns},
			      4);
		f[n++] = (struct saker_field){
		    .name = nm[4], .type = SAKER_FIELD_U64, .u64 = c->processes};
		if (w->lost_known) {
			f[n++] = (struct saker_field){
			    .name = nm[5], .type = SAKER_FIELD_U64, .u64 = c->lost};
			f[n++] = (struct saker_field){
			    .name = nm[6], .type = SAKER_FIELD_U64, .u64 = c->demoted};
		}
	}
	return n;
}

/*
 * " Top: pid 4242 (flood), 1.2M events, 990k lost.": the log line's second
 * sentence, after Falco's. The alert's output stays Falco's sentence alone
 * (a parser of Falco's drop alert reads the fields right after it); the
 * alert carries who in its top.* fields.
 */
/* " in container 0123abcd4567 (web, pod shop/web-0)", " on the host", or "" (unknown). */
static void ctr_words(char *buf, size_t len, const char *id, const char *name, const char *ns,
		      const char *pod)
{
	if (!id[0]) {
		snprintf(buf, len, "%s", "");
		return;
	}
	if (!strcmp(id, "host")) {
		snprintf(buf, len, " in host");
		return;
	}
	if (!strcmp(id, "other")) {
		snprintf(buf, len, " in other containers");
		return;
	}
	snprintf(buf, len, " in container %s%s%s%s%s%s%s%s", id, name[0] || pod[0] ? " (" : "",
		 name, name[0] && pod[0] ? ", " : "", pod[0] ? "pod " : "", ns,
		 ns[0] && pod[0] ? "/" : "", pod);
	if (name[0] || pod[0])
		snprintf(buf + strlen(buf), len - strlen(buf), ")");
}

static void top_sentence(char *buf, size_t len, const struct saker_attrib_window *w)
{
	const struct saker_attrib_proc *p = &w->top[0];
	char prod[16], lost[16], where[3 * SAKER_ATTRIB_NAME_LEN + 64];
	size_t used;

	if (!w->n_top) {
		snprintf(buf, len, " Top: nobody (no events received).");
		return;
	}
	saker_attrib_human(p->produced, prod, sizeof(prod));
	saker_attrib_human(p->lost, lost, sizeof(lost));
	/* a host process reads as before containers were known */
	ctr_words(where, sizeof(where), strcmp(p->container_id, "host") ? p->container_id : "",
		  p->container_name, p->pod_ns, p->pod_name);
	/* A process the view never knew (its fork lost, gone since): <NA>, as Falco shows it. */
	if (w->lost_known && p->demoted) {
		char dem[16];

		saker_attrib_human(p->demoted, dem, sizeof(dem));
		snprintf(buf, len, " Top: pid %u (%s)%s, %s events, %s lost, %s demoted.", p->pid,
			 p->comm[0] ? p->comm : "<NA>", where, prod, lost, dem);
	} else if (w->lost_known)
		snprintf(buf, len, " Top: pid %u (%s)%s, %s events, %s lost.", p->pid,
			 p->comm[0] ? p->comm : "<NA>", where, prod, lost);
	else
		snprintf(buf, len, " Top (produced only): pid %u (%s)%s, %s events.", p->pid,
			 p->comm[0] ? p->comm : "<NA>", where, prod);
	/* the containers, when any of them is one (a host-only loss says nothing more) */
	used = strlen(buf);
	for (size_t i = 0; w->lost_known && i < w->n_top_containers && used + 1 < len; i++) {
		const struct saker_attrib_container *c = &w->top_containers[i];

		if (!c->id[0] || !strcmp(c->id, "host")) {
			if (w->n_top_containers == 1)
				break;
		}
		saker_attrib_human(c->lost, lost, sizeof(lost));
		ctr_words(where, sizeof(where), c->id, c->name, c->pod_ns, c->pod_name);
		snprintf(buf + used, len - used, "%s%s %s lost", i ? "," : " Top containers:",
			 where[0] ? where + strlen(" in") : " unknown", lost);
		used = strlen(buf);
		if (i + 1 == w->n_top_containers && used + 1 < len)
			snprintf(buf + used, len - used, ".");
		used = strlen(buf);
	}
}

void saker_drops_set_rings(struct saker_drops *d, const struct saker_drops_rings *rings)
{
	d->rings = *rings;
}

int saker_drops_advice(const struct saker_drops_rings *r, char *buf, size_t len)
{
	const uint64_t mib = 1024 * 1024;
	unsigned preset;

	/*
	 * A window whose demand the rings held (the drops were another lane's, or
	 * fell in the neighbouring sample) gives no evidence for a bigger ring:
	 * advising one could name the preset already in use.
	 */
	if (!r->known || (!r->saturated && r->peak_demand_bytes <= r->size_bytes))
		return snprintf(buf, len, "%s", "");
	/* A bigger ring only postpones the loss when the consumer never caught up. */
	if (r->saturated)
		return snprintf(buf, len,
				" Ring high water %" PRIu64 " of %" PRIu64
				" bytes; no buffer size would have held this window: the consumer "
				"was the bottleneck (the ring was never emptied).",
				r->high_water_bytes, r->size_bytes);
	/* The demand is above the size here, so the preset found is always a bigger ring. */
	for (preset = 1; preset <= 10; preset++)
		if (saker_config_preset_bytes(preset) >= r->peak_demand_bytes)
			break;
	if (preset > 10)
		return snprintf(
		    buf, len,
		    " Ring high water %" PRIu64 " of %" PRIu64 " bytes, peak demand about %" PRIu64
		    " bytes: no buf_size_preset would have held it (the largest is %" PRIu64
		    " MiB).",
		    r->high_water_bytes, r->size_bytes, r->peak_demand_bytes,
		    saker_config_preset_bytes(10) / mib);
	return snprintf(buf, len,
			" Ring high water %" PRIu64 " of %" PRIu64
			" bytes, peak demand about %" PRIu64 " bytes: buf_size_preset %u (%" PRIu64
			" MiB per ring) would have held it.",
			r->high_water_bytes, r->size_bytes, r->peak_demand_bytes, preset,
			saker_config_preset_bytes(preset) / mib);
}

/* protected_lane.buf_size: a power of two, at most this (config.c). */
#define CRIT_RING_MAX_BYTES (1024ull * 1024 * 1024)

int saker_drops_advice_critical(const struct saker_drops_rings *r, char *buf, size_t len)
{
	const struct saker_drops_lane_rings *c = &r->critical;
	uint64_t want;

	if (!c->known || (!c->saturated && c->peak_demand_bytes <= c->size_bytes))
		return snprintf(buf, len, "%s", "");
	if (c->saturated)
		return snprintf(buf, len,
				" Protected lane ring high water %" PRIu64 " of %" PRIu64
				" bytes; no protected_lane.buf_size would have held this window: "
				"the consumer was the bottleneck (the ring was never emptied).",
				c->high_water_bytes, c->size_bytes);
	for (want = c->size_bytes ? c->size_bytes * 2 : 4096;
	     want < c->peak_demand_bytes && want <= CRIT_RING_MAX_BYTES; want *= 2)
		;
	if (want > CRIT_RING_MAX_BYTES)
		return snprintf(
		    buf, len,
		    " Protected lane ring high water %" PRIu64 " of %" PRIu64
		    " bytes, peak demand about %" PRIu64
		    " bytes: no protected_lane.buf_size would have held it (the largest "
		    "is %llu).",
		    c->high_water_bytes, c->size_bytes, c->peak_demand_bytes, CRIT_RING_MAX_BYTES);
	return snprintf(buf, len,
			" Protected lane ring high water %" PRIu64 " of %" PRIu64
			" bytes, peak demand about %" PRIu64
			" bytes: protected_lane.buf_size %" PRIu64 " would have held it.",
			c->high_water_bytes, c->size_bytes, c->peak_demand_bytes, want);
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

static bool has_action(const struct saker_drops *d, enum saker_drop_action a)
{
	size_t n =
	    d->cfg.n_actions < SAKER_MAX_DROP_ACTIONS ? d->cfg.n_actions : SAKER_MAX_DROP_ACTIONS;

	/* cppcheck-suppress knownConditionTrueFalse ; n comes from the configuration */
	for (size_t i = 0; i < n; i++)
		if (d->cfg.actions[i] == a)
			return true;
	return false;
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
 * per-process counts unknown (produced only). The per-process counts and the
 * window's counters are cut at one instant, but probe runs in flight across
 * the cut may fall in the neighbouring window of one of them, so the sums do
 * not decide the marks.
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
	drops_log(act, SAKER_PRIO_ERROR, msg);
	d->ledger_unreported = 0;
	d->ledger_notice_mono_ns = now_mono_ns ? now_mono_ns : 1;
}

/* Runs the granted actions; true when `exit` is among them. */
static bool run_actions(struct saker_drops *d, const struct saker_capture_stats *delta,
			const struct saker_attrib_window *w, uint64_t n_drops, uint64_t window_s,
			const struct saker_drops_rings *rings, uint64_t now_real_ns,
			const struct saker_drops_actions *act)
{
	size_t n_act =
	    d->cfg.n_actions < SAKER_MAX_DROP_ACTIONS ? d->cfg.n_actions : SAKER_MAX_DROP_ACTIONS;
	bool done[SAKER_DROP_ACT_EXIT + 1] = {false};
	char msg[256], logmsg[2048], who[1024] = "", advice[320] = "";

	if (d->attrib)
		top_sentence(who, sizeof(who), w);
	/* Falco's wording for the usual one-second window; a late check says what it covered. */
	if (window_s <= 1)
		snprintf(msg, sizeof(msg),
			 "Saker internal: syscall event drop. %" PRIu64
			 " system calls dropped in last second.",
			 n_drops);
	else
		snprintf(msg, sizeof(msg),
			 "Saker internal: syscall event drop. %" PRIu64
			 " system calls dropped in last %" PRIu64 " seconds.",
			 n_drops, window_s);
	if (d->suppressed_checks > 0)
		snprintf(logmsg, sizeof(logmsg),
			 "%s%s %" PRIu64 " drop-seconds with %" PRIu64
			 " dropped events suppressed since last report.",
			 msg, who, d->suppressed_checks, d->suppressed_drops);
	else
		snprintf(logmsg, sizeof(logmsg), "%s%s", msg, who);
	/*
	 * Sizing advice only for ring-full drops (the others do not depend on the
	 * size), for each lane that had them: each lane has its own size.
	 */
	if (rings->known && saker_stats_drops_buffer_lane(delta, SAKER_LANE_NORMAL) > 0) {
		size_t used = strlen(logmsg);

		(void)saker_drops_advice(rings, advice, sizeof(advice));
		snprintf(logmsg + used, sizeof(logmsg) - used, "%s", advice);
	}
	if (rings->critical.known &&
	    saker_stats_drops_buffer_lane(delta, SAKER_LANE_CRITICAL) > 0) {
		size_t used = strlen(logmsg);

		(void)saker_drops_advice_critical(rings, advice, sizeof(advice));
		snprintf(logmsg + used, sizeof(logmsg) - used, "%s", advice);
	}

	/* Actions run in list order, each once; exit waits until the others are done. */
	/* cppcheck-suppress knownConditionTrueFalse ; n_act comes from the configuration */
	for (size_t i = 0; i < n_act; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a == SAKER_DROP_ACT_IGNORE || a >= SAKER_DROP_ACT_EXIT || done[a])
			continue;
		done[a] = true;
		d->n_action_runs[a]++;
		if (a == SAKER_DROP_ACT_LOG) {
			drops_log(act, SAKER_PRIO_CRITICAL, logmsg);
		} else if (a == SAKER_DROP_ACT_ALERT && act && act->alert) {
			struct saker_field fields[SAKER_DROPS_MAX_FIELDS];
			struct saker_alert alert = {
			    .time_ns = now_real_ns,
			    .priority = d->cfg.priority,
			    .rule = SAKER_DROP_RULE,
			    .source = "internal",
			    .output = msg,
			    .fields = fields,
			};

			alert.n_fields =
			    build_fields(fields, delta, d->suppressed_checks, d->suppressed_drops);
			if (rings->known) {
				fields[alert.n_fields++] =
				    (struct saker_field){.name = "ring_high_water_bytes",
							 .type = SAKER_FIELD_U64,
							 .u64 = rings->high_water_bytes};
				fields[alert.n_fields++] =
				    (struct saker_field){.name = "ring_size_bytes",
							 .type = SAKER_FIELD_U64,
							 .u64 = rings->size_bytes};
			}
			if (d->attrib)
				alert.n_fields +=
				    build_top_fields(fields + alert.n_fields, w, n_drops);
			act->alert(act->ctx, &alert);
		}
	}
	d->suppressed_checks = 0;
	d->suppressed_drops = 0;
	if (!has_action(d, SAKER_DROP_ACT_EXIT))
		return false;
	d->n_action_runs[SAKER_DROP_ACT_EXIT]++;
	drops_log(act, SAKER_PRIO_CRITICAL, logmsg);
	drops_log(act, SAKER_PRIO_CRITICAL, "Exiting.");
	return true;
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
	drops_log(act, SAKER_PRIO_WARNING, msg);
	d->n_demote_notices++;
	d->demote_notice_mono_ns = now->mono_ns;
	d->demoted_pending = 0;
	memset(&d->demote_top, 0, sizeof(d->demote_top));
	d->demote_ctr[0] = '\0';
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
	uint64_t elapsed = now->mono_ns >= d->prev_mono_ns ? now->mono_ns - d->prev_mono_ns : 0;
	uint64_t until;
	bool do_exit = false;
	bool any_action = false;

	/* The occupancy given describes this window only. */
	struct saker_drops_rings rings = d->rings;

	d->rings.known = false;
	d->rings.critical.known = false;
	d->n_checks++;
	stats_delta(&delta, cur, &d->prev);
	d->prev = *cur;
	rec.win.end_boot_ns = now->boot_ns;
	rec.win.end_real_ns = now->real_ns;
	/* One window ends where the next begins; the first begins at init, by the monotonic clock.
	 */
	rec.win.start_boot_ns = d->prev_boot_ns		 ? d->prev_boot_ns
				: now->boot_ns > elapsed ? now->boot_ns - elapsed
							 : 0;
	rec.win.start_real_ns = d->prev_real_ns		 ? d->prev_real_ns
				: now->real_ns > elapsed ? now->real_ns - elapsed
							 : 0;
	d->prev_mono_ns = now->mono_ns;
	d->prev_boot_ns = now->boot_ns;
	d->prev_real_ns = now->real_ns;
	/* What the loss did to the view: real losses only, never throttled. */
	saker_loss_split(&delta, &real_loss);
	until = now->boot_ns + (uint64_t)(d->cfg.degraded_window * 1e9);
	{
		struct degrade g = {
		    .view = d->view, .since = rec.win.start_boot_ns, .until = until};

		saker_attrib_close_each(d->attrib, &w, d->view && real_loss.total ? mark_one : NULL,
					&g);
	}
	mark_all_if_unattributed(d, &delta, &real_loss, w.lost_known, rec.win.start_boot_ns, until);

	if (d->cfg.simulate_drops) {
		if (!d->simulate_announced) {
			drops_log(act, SAKER_PRIO_WARNING,
				  "syscall_event_drops.simulate_drops is on: adding one simulated "
				  "drop per check");
			d->simulate_announced = true;
		}
		/* A ring-full drop of an uncategorised syscall, so the fields stay consistent. */
		delta.k[SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_OTHER]++;
		d->n_simulated++;
		rec.simulated = 1;
		threshold = 0;
	}
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
	if (real_loss.lifecycle && has_action(d, SAKER_DROP_ACT_RESYNC) && act && act->resync) {
		act->resync(act->ctx, rec.win.start_boot_ns, until,
			    real_loss.lifecycle >= SAKER_DROPS_RESYNC_FULL_MIN);
		d->n_resyncs++;
		rec.resync = true;
	}

	/* Any loss in the protected lane is worth an alert, whatever the ratio. */
	if (real_loss.critical)
		threshold = 0;
	if (!above_threshold(n_drops, n_evts, threshold))
		goto out;
	d->n_fired++;
	rec.fired = true;

	for (size_t i = 0; i < d->cfg.n_actions && i < SAKER_MAX_DROP_ACTIONS; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a > SAKER_DROP_ACT_IGNORE && a <= SAKER_DROP_ACT_EXIT)
			any_action = true;
	}
	/* Nothing to do: do not spend tokens, nor count refusals nobody would hear of. */
	if (!any_action)
		goto out;

	if (!saker_tbucket_claim(&d->bucket, now->mono_ns)) {
		d->suppressed_checks++;
		d->suppressed_drops += n_drops;
		d->n_suppressed++;
		rec.suppressed = true;
		goto out;
	}
	d->n_actions_taken++;
	do_exit = run_actions(d, &delta, &w, n_drops, now->window_s, &rings, now->real_ns, act);
out:
	demotion_notice(d, d->attrib ? &w : NULL, now, act, false);
	{
		const struct saker_drops_window cw = {
		    .rec = &rec,
		    .rings = &rings,
		    .cur = cur,
		    .window_s = now->window_s,
		    .simulated_total = d->n_simulated,
		    .ledger_line = record(d, &rec),
		};

		if (act && act->window)
			act->window(act->ctx, &cw);
	}
	ledger_notice(d, now->mono_ns, act, false);
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
