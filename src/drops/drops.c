#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "drops/drops.h"

static void drops_log(const struct saker_drops_actions *act, enum saker_prio prio, const char *msg)
{
	if (act && act->log)
		act->log(act->ctx, prio, msg);
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
 * n_evts, n_drops, n_drops_buffer_total, one per category, max_event_size,
 * page_faults, user, critical (lane 1), demoted, suppressed checks and drops,
 * ebpf_enabled.
 */
_Static_assert(SAKER_DROPS_N_FIELDS == 3 + SAKER_CAT_MAX + 8, "update build_fields");

static size_t build_fields(struct saker_field *f, const struct saker_capture_stats *delta,
			   uint64_t suppressed_checks, uint64_t suppressed_drops)
{
	size_t n = 0;

#define ADD_U64(nm, v)                                                                             \
	do {                                                                                       \
		f[n].name = (nm);                                                                  \
		f[n].type = SAKER_FIELD_U64;                                                       \
		f[n].u64 = (v);                                                                    \
		n++;                                                                               \
	} while (0)

	ADD_U64("n_evts", delta->k[SAKER_CNT_EVTS]);
	ADD_U64("n_drops", saker_stats_drops(delta));
	ADD_U64("n_drops_buffer_total", saker_stats_drops_buffer(delta));
	/* Falco lists "other" last; the formatters sort by name anyway. */
	for (int c = SAKER_CAT_OTHER + 1; c <= SAKER_CAT_MAX; c++) {
		int cat = c == SAKER_CAT_MAX ? SAKER_CAT_OTHER : c;
		enum saker_counter k = SAKER_CNT_DROPS_BUFFER_FIRST + cat;

		ADD_U64(saker_counter_name(k), delta->k[k]);
	}
	ADD_U64(saker_counter_name(SAKER_CNT_DROPS_MAX_EVENT_SIZE),
		delta->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE]);
	ADD_U64(saker_counter_name(SAKER_CNT_PAGE_FAULTS), delta->k[SAKER_CNT_PAGE_FAULTS]);
	ADD_U64("n_drops_user", delta->user_drops);
	ADD_U64("n_drops_critical", saker_stats_drops_critical(delta));
	ADD_U64(saker_counter_name(SAKER_CNT_DEMOTED), delta->k[SAKER_CNT_DEMOTED]);
	ADD_U64("n_suppressed_checks", suppressed_checks);
	ADD_U64("n_suppressed_drops", suppressed_drops);
	/* Always 1: Falco consumers key on it to tell the driver kind. */
	ADD_U64("ebpf_enabled", 1);
#undef ADD_U64
	return n;
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

enum saker_drops_result saker_drops_check(struct saker_drops *d,
					  const struct saker_capture_stats *cur,
					  uint64_t now_mono_ns, uint64_t now_real_ns,
					  const struct saker_drops_actions *act)
{
	struct saker_capture_stats delta;
	double threshold = d->cfg.threshold;
	bool do_exit = false;
	bool any_action = false;

	d->n_checks++;
	stats_delta(&delta, cur, &d->prev);
	d->prev = *cur;

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
		threshold = 0;
	}

	uint64_t n_drops = saker_stats_drops(&delta);
	uint64_t n_evts = delta.k[SAKER_CNT_EVTS];

	/* Any loss in the protected lane is worth an alert, whatever the ratio. */
	if (saker_stats_drops_critical(&delta))
		threshold = 0;
	if (!above_threshold(n_drops, n_evts, threshold))
		return SAKER_DROPS_OK;
	d->n_fired++;

	size_t n_act =
	    d->cfg.n_actions < SAKER_MAX_DROP_ACTIONS ? d->cfg.n_actions : SAKER_MAX_DROP_ACTIONS;
	for (size_t i = 0; i < n_act; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a > SAKER_DROP_ACT_IGNORE && a <= SAKER_DROP_ACT_EXIT)
			any_action = true;
		if (a == SAKER_DROP_ACT_EXIT)
			do_exit = true;
	}
	/* Nothing to do: do not spend tokens, nor count refusals nobody would hear of. */
	if (!any_action)
		return SAKER_DROPS_OK;

	if (!saker_tbucket_claim(&d->bucket, now_mono_ns)) {
		d->suppressed_checks++;
		d->suppressed_drops += n_drops;
		d->n_suppressed++;
		return SAKER_DROPS_OK;
	}
	d->n_actions_taken++;

	char msg[128];
	char logmsg[256];

	snprintf(msg, sizeof(msg),
		 "Saker internal: syscall event drop. %" PRIu64
		 " system calls dropped in last second.",
		 n_drops);
	if (d->suppressed_checks > 0)
		snprintf(logmsg, sizeof(logmsg),
			 "%s (%" PRIu64 " drop-seconds with %" PRIu64
			 " dropped events suppressed since last report)",
			 msg, d->suppressed_checks, d->suppressed_drops);
	else
		snprintf(logmsg, sizeof(logmsg), "%s", msg);

	/* Actions run in list order, each once; exit waits until the others are done. */
	bool done[SAKER_DROP_ACT_EXIT + 1] = {false};

	for (size_t i = 0; i < n_act; i++) {
		enum saker_drop_action a = d->cfg.actions[i];

		if (a == SAKER_DROP_ACT_IGNORE || a >= SAKER_DROP_ACT_EXIT || done[a])
			continue;
		done[a] = true;
		if (a == SAKER_DROP_ACT_LOG) {
			drops_log(act, SAKER_PRIO_CRITICAL, logmsg);
		} else if (a == SAKER_DROP_ACT_ALERT && act && act->alert) {
			struct saker_field fields[SAKER_DROPS_N_FIELDS];
			struct saker_alert alert = {
			    .time_ns = now_real_ns,
			    .priority = d->cfg.priority,
			    .rule = SAKER_DROP_RULE,
			    .source = "internal",
			    .output = msg,
			    .fields = fields,
			};

			alert.n_fields =
			    build_fields(fields, &delta, d->suppressed_checks, d->suppressed_drops);
			act->alert(act->ctx, &alert);
		}
	}
	d->suppressed_checks = 0;
	d->suppressed_drops = 0;

	if (!do_exit)
		return SAKER_DROPS_OK;
	drops_log(act, SAKER_PRIO_CRITICAL, logmsg);
	drops_log(act, SAKER_PRIO_CRITICAL, "Exiting.");
	return SAKER_DROPS_EXIT;
}
