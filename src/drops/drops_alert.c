#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "drops/drops_int.h"
#include "drops/loss.h"

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
 * top.attribution, top.processes, with the kernel's counts top.lost_sum,
 * then per top process pid, comm, exe and uid (each when known), produced,
 * and lost and demoted only when the kernel counts them: unknown is not zero.
 *
 * The processes' losses and n_drops come from one generation of the probe's
 * counters and loss map, read after no run held it any more (capture.h), so
 * top.lost_sum is at most n_drops; "kernel" is claimed only then (app.c).
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

static size_t build_top_fields(struct saker_field *f, const struct saker_attrib_window *w)
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

/* protected_lane.buf_size: a power of two, at most this (config/config_keys.c). */
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
#define MSG_LEN	   256
#define LOGMSG_LEN 2048

/*
 * Falco's sentence in msg (the alert's output); the log line in logmsg: the
 * sentence, who, what the bucket suppressed, and the sizing advice.
 */
static void compose_lines(const struct saker_drops *d, const struct saker_capture_stats *delta,
			  const struct saker_attrib_window *w, uint64_t n_drops, uint64_t window_s,
			  const struct saker_drops_rings *rings, char *msg, char *logmsg)
{
	char who[1024] = "", advice[320] = "";

	if (d->attrib)
		top_sentence(who, sizeof(who), w);
	/* Falco's wording for the usual one-second window; a late check says what it covered. */
	if (window_s <= 1)
		snprintf(msg, MSG_LEN,
			 "Saker internal: syscall event drop. %" PRIu64
			 " system calls dropped in last second.",
			 n_drops);
	else
		snprintf(msg, MSG_LEN,
			 "Saker internal: syscall event drop. %" PRIu64
			 " system calls dropped in last %" PRIu64 " seconds.",
			 n_drops, window_s);
	if (d->suppressed_checks > 0)
		snprintf(logmsg, LOGMSG_LEN,
			 "%s%s %" PRIu64 " drop-seconds with %" PRIu64
			 " dropped events suppressed since last report.",
			 msg, who, d->suppressed_checks, d->suppressed_drops);
	else
		snprintf(logmsg, LOGMSG_LEN, "%s%s", msg, who);
	/*
	 * Sizing advice only for ring-full drops (the others do not depend on the
	 * size), for each lane that had them: each lane has its own size.
	 */
	if (rings->known && saker_stats_drops_buffer_lane(delta, SAKER_LANE_NORMAL) > 0) {
		size_t used = strlen(logmsg);

		(void)saker_drops_advice(rings, advice, sizeof(advice));
		snprintf(logmsg + used, LOGMSG_LEN - used, "%s", advice);
	}
	if (rings->critical.known &&
	    saker_stats_drops_buffer_lane(delta, SAKER_LANE_CRITICAL) > 0) {
		size_t used = strlen(logmsg);

		(void)saker_drops_advice_critical(rings, advice, sizeof(advice));
		snprintf(logmsg + used, LOGMSG_LEN - used, "%s", advice);
	}
}

static void emit_alert(const struct saker_drops *d, const struct saker_capture_stats *delta,
		       const struct saker_attrib_window *w, const struct saker_drops_rings *rings,
		       uint64_t now_real_ns, const char *msg, const struct saker_drops_actions *act)
{
	struct saker_field fields[SAKER_DROPS_MAX_FIELDS];
	struct saker_alert alert = {
	    .time_ns = now_real_ns,
	    .priority = d->cfg.priority,
	    .rule = SAKER_DROP_RULE,
	    .source = "internal",
	    .output = msg,
	    .fields = fields,
	};

	alert.n_fields = build_fields(fields, delta, d->suppressed_checks, d->suppressed_drops);
	if (rings->known) {
		fields[alert.n_fields++] = (struct saker_field){.name = "ring_high_water_bytes",
								.type = SAKER_FIELD_U64,
								.u64 = rings->high_water_bytes};
		fields[alert.n_fields++] = (struct saker_field){
		    .name = "ring_size_bytes", .type = SAKER_FIELD_U64, .u64 = rings->size_bytes};
	}
	if (d->attrib)
		alert.n_fields += build_top_fields(fields + alert.n_fields, w);
	act->alert(act->ctx, &alert);
}

bool dr_run_actions(struct saker_drops *d, const struct saker_capture_stats *delta,
		    const struct saker_attrib_window *w, uint64_t n_drops, uint64_t window_s,
		    const struct saker_drops_rings *rings, uint64_t now_real_ns,
		    const struct saker_drops_actions *act)
{
	size_t n_act =
	    d->cfg.n_actions < SAKER_MAX_DROP_ACTIONS ? d->cfg.n_actions : SAKER_MAX_DROP_ACTIONS;
	bool done[SAKER_DROP_ACT_EXIT + 1] = {false};
	char msg[MSG_LEN], logmsg[LOGMSG_LEN];

	compose_lines(d, delta, w, n_drops, window_s, rings, msg, logmsg);
	/* Actions run in list order, each once; exit waits until the others are done. */
	/* cppcheck-suppress knownConditionTrueFalse ; n_act comes from the configuration */
	for (size_t i = 0; i < n_act; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a == SAKER_DROP_ACT_IGNORE || a >= SAKER_DROP_ACT_EXIT || done[a])
			continue;
		done[a] = true;
		d->n_action_runs[a]++;
		if (a == SAKER_DROP_ACT_LOG)
			dr_log(act, SAKER_PRIO_CRITICAL, logmsg);
		else if (a == SAKER_DROP_ACT_ALERT && act && act->alert)
			emit_alert(d, delta, w, rings, now_real_ns, msg, act);
	}
	d->suppressed_checks = 0;
	d->suppressed_drops = 0;
	if (!dr_has_action(d, SAKER_DROP_ACT_EXIT))
		return false;
	d->n_action_runs[SAKER_DROP_ACT_EXIT]++;
	dr_log(act, SAKER_PRIO_CRITICAL, logmsg);
	dr_log(act, SAKER_PRIO_CRITICAL, "Exiting.");
	return true;
}
