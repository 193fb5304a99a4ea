#include "observe/collect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "drops/loss.h"
#include "lib/clock.h"

#define S	SAKER_METRIC_F_SUMMARY
#define D	SAKER_METRIC_F_DETAIL
#define COUNTER SAKER_METRIC_COUNTER
#define GAUGE	SAKER_METRIC_GAUGE

/* The first error sticks; later adds still run so a partial snapshot stays usable. */
struct ctx {
	struct saker_metrics *m;
	int err;
};

static void add(struct ctx *c, const char *name, const char *help, enum saker_metric_type type,
		unsigned flags, uint64_t v, const struct saker_metric_label *l, size_t nl)
{
	int ret = saker_metrics_add_u64(c->m, name, help, type, flags, v, l, nl);

	if (ret && !c->err)
		c->err = ret;
}

static void add_f(struct ctx *c, const char *name, const char *help, enum saker_metric_type type,
		  unsigned flags, double v, const struct saker_metric_label *l, size_t nl)
{
	int ret = saker_metrics_add_f64(c->m, name, help, type, flags, v, l, nl);

	if (ret && !c->err)
		c->err = ret;
}

/* Cause, lane and category names are the ledger's (drops/loss.c), so /metrics and the
 * ledger speak one vocabulary. */
static const char *lane_name(unsigned lane)
{
	return saker_loss_lane_name((enum saker_lane)lane);
}

static const char *cause_name(enum saker_loss_cause cause)
{
	return saker_loss_cause_name(cause);
}

/* The causes' help, from their table (include/saker_abi.h SAKER_LOSS_CAUSES). */
#define CAUSE_HELP(id, ring, label, field, summary, help, ...) "; " label ": " help
#define DROPS_HELP                                                                                 \
	"Events lost, by cause, lane and drop category (Falco's)" SAKER_LOSS_CAUSES(CAUSE_HELP) "."

/* Labels: cause, lane[, category]. Causes without a category carry no category label. */
static void add_drop_lane(struct ctx *c, enum saker_loss_cause cause, unsigned lane,
			  const char *category, uint64_t v)
{
	const struct saker_metric_label l[] = {
	    {"cause", cause_name(cause)},
	    {"lane", lane_name(lane)},
	    {"category", category},
	};

	add(c, "drops_total", DROPS_HELP, COUNTER, S, v, l, category ? 3 : 2);
}

/* Every cause's series, lane and category as drops/loss.c counts them. */
static void add_drops(struct ctx *c, const struct saker_capture_stats *st)
{
	for (int cause = 0; cause < SAKER_LOSS_CAUSE_MAX; cause++)
		for (unsigned lane = 0; lane < SAKER_LANE_MAX; lane++) {
			bool ring = saker_loss_cause_is_ring(cause);

			for (int cat = 0; cat < (ring ? SAKER_CAT_MAX : 1); cat++) {
				uint64_t n;

				if (saker_loss_count(st, cause, lane, cat, &n))
					add_drop_lane(c, cause, lane,
						      ring ? saker_loss_category_name(cat) : NULL,
						      n);
			}
		}
}

static void collect_capture(struct ctx *c, const struct saker_capture_stats *st)
{
	add(c, "events_total",
	    "Events the probe tried to emit (Falco's n_evts): delivered plus every drop.", COUNTER,
	    S, st->k[SAKER_CNT_EVTS], NULL, 0);
	add(c, "events_delivered_total", "Events consumed from the ring buffers and handed on.",
	    COUNTER, S, st->delivered, NULL, 0);
	add_drops(c, st);
	add(c, "drops_critical_total",
	    "Events lost in the protected lane (Falco-style n_drops_critical), every cause.",
	    COUNTER, S, saker_stats_drops_critical(st), NULL, 0);
	add(c, "demoted_total",
	    "Critical events over their process's or user's budget, sent in the bulk lane "
	    "(n_demoted; not a loss).",
	    COUNTER, S, st->k[SAKER_CNT_DEMOTED], NULL, 0);
	add(c, "page_faults_total",
	    "User-memory reads that failed (Falco's n_drops_page_faults); the event is delivered "
	    "with the argument marked unreadable, so these are not drops.",
	    COUNTER, S, st->k[SAKER_CNT_PAGE_FAULTS], NULL, 0);
}

static void collect_cpus(struct ctx *c, const struct saker_collect_in *in)
{
	for (size_t cpu = 0; cpu < in->n_cpus; cpu++) {
		const struct saker_kcounters *k = &in->percpu[cpu];
		char id[24];
		const struct saker_metric_label l[] = {{"cpu", id}};
		uint64_t drops = k->c[SAKER_CNT_DROPS_MAX_EVENT_SIZE];

		for (int i = SAKER_CNT_DROPS_BUFFER_FIRST; i <= SAKER_CNT_DROPS_BUFFER_LAST; i++)
			drops += k->c[i];
		snprintf(id, sizeof(id), "%zu", cpu);
		add(c, "cpu_events_total", "Events the probe tried to emit on this CPU (n_evts).",
		    COUNTER, D, k->c[SAKER_CNT_EVTS], l, 1);
		add(c, "cpu_drops_total",
		    "Events lost in the kernel on this CPU (ring full or oversized; user-space "
		    "losses are not per CPU).",
		    COUNTER, D, drops, l, 1);
	}
}

static void collect_rings(struct ctx *c, const struct saker_collect_in *in)
{
	size_t nr_lane = 0;

	/* nr_lane bulk rings, then as many lane-1 ones; cpu_ring names the ring within a lane. */
	for (size_t r = 0; r < in->n_rings; r++)
		if (in->rings[r].lane == SAKER_LANE_NORMAL)
			nr_lane++;
	for (size_t r = 0; r < in->n_rings; r++) {
		const struct saker_collect_ring *ring = &in->rings[r];
		char id[24];
		const struct saker_metric_label l[] = {{"ring", id},
						       {"lane", lane_name(ring->lane)}};
		uint64_t drops = 0;

		snprintf(id, sizeof(id), "%zu", r);
		/* A ring's kernel drops are its lane's, of the CPUs that write to it. */
		for (size_t cpu = 0;
		     in->cpu_ring && ring->lane < SAKER_LANE_MAX && cpu < in->n_cpus; cpu++) {
			const struct saker_kcounters *k = &in->percpu[cpu];
			size_t in_lane = ring->lane == SAKER_LANE_NORMAL ? r : r - nr_lane;

			if (in->cpu_ring[cpu] != in_lane)
				continue;
			for (int cat = 0; cat < SAKER_CAT_MAX; cat++)
				drops += k->c[SAKER_CNT_DROP_RING(SAKER_CAUSE_RING_FULL, ring->lane,
								  cat)];
		}
		add(c, "ring_size_bytes", "Size of the ring buffer.", GAUGE, D, ring->size_bytes, l,
		    2);
		add(c, "ring_events_total",
		    "Events taken from the ring (delivered or lost in user space; a batch counts "
		    "the events it carries).",
		    COUNTER, D, ring->events, l, 2);
		add(c, "ring_consumed_bytes_total",
		    "Ring bytes consumed, the kernel's record headers and padding included.",
		    COUNTER, D, ring->bytes, l, 2);
		if (in->percpu && in->cpu_ring)
			add(c, "ring_drops_total",
			    "Events lost because the ring was full (reservations that failed on "
			    "the CPUs writing to it).",
			    COUNTER, D, drops, l, 2);
		if (ring->has_high_water) {
			add(c, "ring_high_water_bytes",
			    "Most bytes in use in the ring at any moment of the last drop-check "
			    "window "
			    "(sampled before each drain).",
			    GAUGE, D, ring->high_water_bytes, l, 2);
			add(c, "ring_consumer_saturated",
			    "1 when every drain of the last window stopped at its budget: the "
			    "consumer "
			    "never emptied the ring, so a bigger ring would not have helped.",
			    GAUGE, D, ring->saturated ? 1 : 0, l, 2);
		}
	}
}

double saker_collect_drop_ratio(uint64_t drops, uint64_t evts)
{
	/* As the drop check: n_evts already counts the drops; drops without events is the worst. */
	if (!drops)
		return 0;
	if (!evts || drops >= evts)
		return 1;
	return (double)drops / (double)evts;
}

static void collect_drops(struct ctx *c, const struct saker_drops *d)
{
	add(c, "drop_checks_total", "Drop checks run (one a second).", COUNTER, S, d->n_checks,
	    NULL, 0);
	add(c, "drop_checks_fired_total",
	    "Drop checks that found drops above the threshold (Falco's \"event drop detected\").",
	    COUNTER, S, d->n_fired, NULL, 0);
	add(c, "drop_actions_taken_total",
	    "Fired drop checks whose actions ran (the rate limiter allowed them; Falco's \"num "
	    "times actions taken\").",
	    COUNTER, S, d->n_actions_taken, NULL, 0);
	add(c, "drop_checks_suppressed_total",
	    "Fired drop checks whose actions the rate limiter refused.", COUNTER, S,
	    d->n_suppressed, NULL, 0);
	for (int a = SAKER_DROP_ACT_LOG; a <= SAKER_DROP_ACT_EXIT; a++) {
		const struct saker_metric_label l[] = {{"action", saker_drop_action_name(a)}};

		add(c, "drop_action_runs_total", "Drop actions performed, by action.", COUNTER, D,
		    d->n_action_runs[a], l, 1);
	}
	add(c, "drops_simulated_total", "Drops added by syscall_event_drops.simulate_drops.",
	    COUNTER, D, d->n_simulated, NULL, 0);
	add_f(c, "drop_ratio",
	      "Share of events dropped in the last drop-check window (drops / events; 1 when "
	      "drops came without events; simulated drops included).",
	      GAUGE, 0, saker_collect_drop_ratio(d->last_drops, d->last_evts), NULL, 0);
	add(c, "last_window_events", "Events seen in the last drop-check window.", GAUGE, D,
	    d->last_evts, NULL, 0);
	add(c, "last_window_drops", "Events dropped in the last drop-check window.", GAUGE, D,
	    d->last_drops, NULL, 0);
}

static void collect_view(struct ctx *c, const struct saker_view_stats *v)
{
	/* clang-format off */
	add(c, "proc_table_entries", "Threads held in the process table.", GAUGE, D, v->procs.entries, NULL, 0);
	add(c, "proc_table_max_entries", "Bound on the process table's threads.", GAUGE, D, v->procs.max_entries, NULL, 0);
	add(c, "proc_table_images", "Distinct process images held.", GAUGE, D, v->procs.images, NULL, 0);
	add(c, "proc_table_bytes", "Memory held by the process table.", GAUGE, D, v->procs.bytes, NULL, 0);
	add(c, "proc_table_max_bytes", "Bound on the process table's memory.", GAUGE, D, v->procs.max_bytes, NULL, 0);
	add(c, "proc_table_evictions_total", "Process table entries dropped because of a bound.", COUNTER, D, v->procs.evictions, NULL, 0);
	add(c, "proc_table_lookups_total", "Process table lookups.", COUNTER, D, v->procs.lookups, NULL, 0);
	add(c, "proc_table_failed_lookups_total", "Lookups and events naming a thread the process table did not hold.", COUNTER, D, v->procs.failed_lookups, NULL, 0);
	add(c, "proc_table_scanned_total", "Threads read from /proc.", COUNTER, D, v->procs.scanned, NULL, 0);
	add(c, "proc_table_scan_skipped_total", "Threads gone or unreadable during a /proc scan.", COUNTER, D, v->procs.scan_skipped, NULL, 0);
	add(c, "proc_table_load_zombies_total", "Processes read from /proc that had exited, not reaped (their known image kept).", COUNTER, D, v->procs.load_zombies, NULL, 0);
	add(c, "proc_table_load_replaced_total", "Known pids /proc showed as another process (start time differs).", COUNTER, D, v->procs.load_replaced, NULL, 0);
	add(c, "proc_table_load_kept_total", "Fields /proc could not give whose known value was kept.", COUNTER, D, v->procs.load_kept, NULL, 0);
	add(c, "proc_table_load_unconfirmed_total", "Processes read from /proc whose exe, argv or cwd stayed unknown (flagged, view_degraded).", COUNTER, D, v->procs.load_unconfirmed, NULL, 0);
	add(c, "proc_table_iter_procs_total", "Processes whose exe, cwd and descriptors came from the task iterators, not /proc.", COUNTER, D, v->procs.iter_procs, NULL, 0);
	add(c, "proc_table_iter_fds_total", "Descriptors loaded from the task iterators.", COUNTER, D, v->procs.iter_fds, NULL, 0);
	add(c, "proc_table_iter_errors_total", "Task iterator reads that failed (those processes read from /proc instead).", COUNTER, D, v->procs.iter_errors, NULL, 0);
	add(c, "fd_table_entries", "File descriptors held in the fd table.", GAUGE, D, v->fds.entries, NULL, 0);
	add(c, "fd_table_processes", "Processes with at least one descriptor held.", GAUGE, D, v->fds.processes, NULL, 0);
	add(c, "fd_table_max_entries", "Bound on the fd table's descriptors.", GAUGE, D, v->fds.max_entries, NULL, 0);
	add(c, "fd_table_bytes", "Memory held by the fd table.", GAUGE, D, v->fds.bytes, NULL, 0);
	add(c, "fd_table_max_bytes", "Bound on the fd table's memory.", GAUGE, D, v->fds.max_bytes, NULL, 0);
	add(c, "fd_table_evictions_total", "Descriptors dropped or not kept because of a bound.", COUNTER, D, v->fds.evictions, NULL, 0);
	add(c, "fd_table_lookups_total", "Fd table lookups.", COUNTER, D, v->fds.lookups, NULL, 0);
	add(c, "fd_table_failed_lookups_total", "Fd table lookups that found nothing.", COUNTER, D, v->fds.failed_lookups, NULL, 0);
	add(c, "fd_table_unmatched_total", "Close, dup or listen of a descriptor not in the table.", COUNTER, D, v->fds.unmatched, NULL, 0);
	add(c, "state_events_total", "Records handed to the process and fd view.", COUNTER, D, v->events, NULL, 0);
	add(c, "state_events_malformed_total", "Records the decoder rejected.", COUNTER, D, v->malformed, NULL, 0);
	add(c, "state_events_applied_total", "Records that changed (or tried to change) a table.", COUNTER, D, v->applied, NULL, 0);
	add(c, "view_loss_pending_marks_total", "Losses seen between drop checks: every process degraded until a check named who lost.", COUNTER, D, v->loss_pending_marks, NULL, 0);
	add(c, "state_late_forks_total", "Fork records that came after the child's exec (another ring).", COUNTER, D, v->late_forks, NULL, 0);
	add(c, "proc_history_versions", "Process versions kept for bulk records older than a lane-1 change (exit tombstones, pre-exec images).", GAUGE, D, v->procs.history, NULL, 0);
	add(c, "proc_history_bytes", "Memory of the kept process versions (images counted whole).", GAUGE, D, v->procs.history_bytes, NULL, 0);
	add(c, "proc_history_kept_total", "Process versions kept at an exit, exec or id change.", COUNTER, D, v->procs.history_kept, NULL, 0);
	add(c, "proc_history_expired_total", "Kept versions dropped once the bulk lane had passed them.", COUNTER, D, v->procs.history_expired, NULL, 0);
	add(c, "proc_history_evicted_total", "Kept versions dropped early by the bounds (records older may miss them).", COUNTER, D, v->procs.history_evicted, NULL, 0);
	add(c, "proc_history_hits_total", "Lookups answered by a kept version.", COUNTER, D, v->procs.history_hits, NULL, 0);
	add(c, "containers_entries", "Containers whose runtime metadata is cached.", GAUGE, D, v->containers.entries, NULL, 0);
	add(c, "containers_max_entries", "Bound on the cached containers.", GAUGE, D, v->containers.max_entries, NULL, 0);
	add(c, "containers_reads_total", "Containers whose runtime files were read (first exec, repair).", COUNTER, D, v->containers.reads, NULL, 0);
	add(c, "containers_not_found_total", "Reads that found no runtime's files for the container.", COUNTER, D, v->containers.not_found, NULL, 0);
	add(c, "containers_read_errors_total", "Reads of runtime files that failed (unreadable, not JSON).", COUNTER, D, v->containers.read_errors, NULL, 0);
	add(c, "containers_evictions_total", "Cached containers dropped because of the bound.", COUNTER, D, v->containers.evictions, NULL, 0);
	add(c, "containers_forgotten_total", "Cached containers dropped because they were gone.", COUNTER, D, v->containers.forgotten, NULL, 0);
	/* clang-format on */
	{
		static const struct {
			enum saker_proc_ctx ctx;
			const char *name;
		} causes[] = {{SAKER_PROC_CTX_EVICTED, "evicted"},
			      {SAKER_PROC_CTX_LATE, "late"},
			      {SAKER_PROC_CTX_UNKNOWN, "unknown"}};

		for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
			const struct saker_metric_label l[] = {{"cause", causes[i].name}};

			add(c, "events_without_process_total",
			    "Events whose process the view did not know as of their time (their "
			    "alert "
			    "and dump lines carry view_degraded), by cause: its version evicted "
			    "early, "
			    "the event later than the bulk lane's watermark, never known.",
			    COUNTER, 0, v->procs.ctx_missing[causes[i].ctx], l, 1);
		}
	}
}

static void collect_outputs(struct ctx *c, const struct saker_outputs_stats *o)
{
	add(c, "alerts_emitted_total", "Alerts accepted by the outputs.", COUNTER, S, o->emitted,
	    NULL, 0);
	add(c, "alerts_filtered_total", "Alerts below the `priority` minimum, not sent.", COUNTER,
	    S, o->filtered, NULL, 0);
	add(c, "alerts_queue_drops_total", "Alerts no channel accepted (every queue full).",
	    COUNTER, S, o->queue_drops, NULL, 0);
	add(c, "alerts_queued", "Alerts still held by a channel (queue, in flight).", GAUGE, S,
	    o->queued, NULL, 0);
	add(c, "alerts_undelivered_total", "Alerts some channel still held when saker stopped.",
	    COUNTER, S, o->undelivered_alerts, NULL, 0);
	/* Each alert a channel was offered is in exactly one of its buckets. */
	for (int ch = 0; ch < SAKER_CH_MAX; ch++) {
		const struct saker_metric_label l[] = {{"channel", saker_channel_name(ch)}};

		if (!o->enabled[ch] && !o->offered[ch])
			continue;
		add(c, "alerts_offered_total", "Alerts handed to the output channel.", COUNTER, S,
		    o->offered[ch], l, 1);
		add(c, "alerts_delivered_total", "Alerts delivered, by output channel.", COUNTER, S,
		    o->delivered[ch], l, 1);
		add(c, "alerts_failed_total",
		    "Alerts that could not be delivered after retries, by output channel.", COUNTER,
		    S, o->failed[ch], l, 1);
		add(c, "alerts_lost_total", "Alerts lost because the channel's queue was full.",
		    COUNTER, S, o->lost[ch], l, 1);
		add(c, "alerts_dropped_reload_total",
		    "Alerts dropped from the queue of a channel a SIGHUP disabled.", COUNTER, S,
		    o->dropped_reload[ch], l, 1);
		add(c, "alerts_channel_undelivered", "Alerts the channel holds, or held at exit.",
		    GAUGE, S, o->undelivered[ch] + o->pending[ch], l, 1);
	}
	/* The series a channel counts itself (outputs/channel.h's own kind: nats), as it names
	 * them. */
	for (size_t i = 0; i < o->n_series; i++) {
		const struct saker_chan_series *s = &o->series[i];
		const struct saker_metric_label l[] = {{s->label, s->value}};

		add(c, s->name, s->help, s->type, S, s->v, s->label ? l : NULL, s->label ? 1 : 0);
	}
}

static void collect_rules(struct ctx *c, const struct saker_collect_rules *r)
{
	add(c, "rules_loaded", "Rules compiled and matched.", GAUGE, S, r->loaded, NULL, 0);
	add(c, "rules_not_loaded", "Rules skipped (unsupported, below priority) or disabled.",
	    GAUGE, S, r->not_loaded, NULL, 0);
	add(c, "rules_events_total", "Events tested against the rules of their type.", COUNTER, D,
	    r->events, NULL, 0);
	add(c, "rules_evaluations_total", "Rule conditions evaluated.", COUNTER, D, r->evals, NULL,
	    0);
	add(c, "rules_matches_total", "Events a rule matched.", COUNTER, S, r->matches, NULL, 0);
	add(c, "rules_alerts_total",
	    "Rule alerts the outputs took (sent, or below the `priority` minimum).", COUNTER, S,
	    r->alerts, NULL, 0);
	add(c, "rules_alerts_refused_total", "Rule alerts no output channel took.", COUNTER, S,
	    r->alerts_refused, NULL, 0);
	add(c, "rules_errors_total", "Rule evaluations that failed.", COUNTER, S, r->errors, NULL,
	    0);
	add(c, "rules_alerts_degraded_total",
	    "Rule matches raised on a process whose view may be stale because events were lost "
	    "(the alert carries view_degraded).",
	    COUNTER, D, r->alerts_degraded, NULL, 0);
	add(c, "rules_reloads_total", "SIGHUP rule reloads that took effect.", COUNTER, D,
	    r->reloads, NULL, 0);
	add(c, "rules_reload_failures_total",
	    "SIGHUP rule reloads that failed; the rules running before were kept.", COUNTER, D,
	    r->reload_failures, NULL, 0);
}

static void collect_self(struct ctx *c, const struct saker_collect_self *s)
{
	add_f(c, "process_cpu_seconds_total", "CPU time saker used, user and system.", COUNTER, D,
	      s->cpu_user_seconds + s->cpu_system_seconds, NULL, 0);
	add(c, "process_resident_memory_bytes", "saker's resident memory.", GAUGE, D, s->rss_bytes,
	    NULL, 0);
	add_f(c, "process_start_time_seconds", "When saker started, seconds since the Unix epoch.",
	      GAUGE, 0, s->start_time_seconds, NULL, 0);
}

static void collect_progs(struct ctx *c, const struct saker_collect_in *in)
{
	/* The HELP says which case this is: the kernel counts only with bpf_stats enabled. */
	const char *on_runs = "Runs of the BPF program (kernel bpf_stats are enabled).";
	const char *off_runs = "Runs of the BPF program; always 0: kernel.bpf_stats_enabled is 0.";
	const char *on_time = "Time spent in the BPF program (kernel bpf_stats are enabled).";
	const char *off_time =
	    "Time spent in the BPF program; always 0: kernel.bpf_stats_enabled is 0.";

	add(c, "bpf_stats_enabled", "1 when the kernel counts BPF program runs (bpf_stats).", GAUGE,
	    D, in->bpf_stats_enabled ? 1 : 0, NULL, 0);
	for (size_t i = 0; i < in->n_progs; i++) {
		const struct saker_metric_label l[] = {{"program", in->progs[i].name}};

		add(c, "bpf_program_runs_total", in->bpf_stats_enabled ? on_runs : off_runs,
		    COUNTER, D, in->progs[i].run_cnt, l, 1);
		add_f(c, "bpf_program_run_seconds_total",
		      in->bpf_stats_enabled ? on_time : off_time, COUNTER, D,
		      (double)in->progs[i].run_time_ns / 1e9, l, 1);
	}
}

int saker_collect(struct saker_metrics *m, const struct saker_collect_in *in)
{
	struct ctx c = {.m = m};

	if (in->capture)
		collect_capture(&c, in->capture);
	if (in->percpu)
		collect_cpus(&c, in);
	if (in->rings)
		collect_rings(&c, in);
	if (in->drops)
		collect_drops(&c, in->drops);
	if (in->view)
		collect_view(&c, in->view);
	if (in->outputs)
		collect_outputs(&c, in->outputs);
	if (in->rules)
		collect_rules(&c, in->rules);
	if (in->self)
		collect_self(&c, in->self);
	if (in->progs || in->n_progs)
		collect_progs(&c, in);
	if (in->version) {
		const struct saker_metric_label l[] = {{"version", in->version}};

		add(&c, "build_info", "Always 1; the labels say which saker this is.", GAUGE, 0, 1,
		    l, 1);
	}
	return c.err;
}

int saker_collect_read_capture(struct saker_collect_capture *cc, struct saker_capture *cap)
{
	int ret, first = 0;

	memset(cc, 0, sizeof(*cc));
	first = saker_capture_stats(cap, &cc->stats);
	ret = saker_capture_cpu_stats(cap, cc->percpu, cc->cpu_ring, SAKER_MAX_CPUS);
	if (ret >= 0)
		cc->n_cpus = (size_t)ret;
	else if (!first)
		first = ret;
	for (unsigned r = 0; r < saker_capture_nr_rings(cap) && r < SAKER_MAX_RINGS; r++) {
		struct saker_capture_ring_stats rs;
		struct saker_collect_ring *out = &cc->rings[cc->n_rings];

		if (saker_capture_ring_stats(cap, r, &rs))
			break;
		out->lane = rs.lane;
		out->size_bytes = rs.size_bytes;
		out->events = rs.events;
		out->bytes = rs.bytes;
		out->has_high_water = rs.has_high_water;
		out->high_water_bytes = rs.high_water_bytes;
		out->saturated = rs.saturated;
		cc->n_rings++;
	}
	ret = saker_capture_prog_stats(cap, cc->prog_stats, SAKER_COLLECT_MAX_PROGS);
	if (ret >= 0)
		cc->n_progs = (size_t)ret;
	else if (!first)
		first = ret;
	for (size_t i = 0; i < cc->n_progs; i++) {
		cc->progs[i].name = cc->prog_stats[i].name;
		cc->progs[i].run_cnt = cc->prog_stats[i].run_cnt;
		cc->progs[i].run_time_ns = cc->prog_stats[i].run_time_ns;
	}
	cc->bpf_stats_enabled = saker_capture_bpf_stats_enabled() == 1;
	return first;
}

void saker_collect_in_capture(struct saker_collect_in *in, const struct saker_collect_capture *cc)
{
	in->capture = &cc->stats;
	in->percpu = cc->percpu;
	in->cpu_ring = cc->cpu_ring;
	in->n_cpus = cc->n_cpus;
	in->rings = cc->rings;
	in->n_rings = cc->n_rings;
	in->progs = cc->progs;
	in->n_progs = cc->n_progs;
	in->bpf_stats_enabled = cc->bpf_stats_enabled;
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double ts_seconds(clockid_t clk)
{
	return (double)saker_clock_ns(clk) / 1e9;
}

int saker_collect_self_read(struct saker_collect_self *s)
{
	struct rusage ru;
	unsigned long long pages = 0, start_ticks = 0;
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	char buf[1024];
	size_t n;
	FILE *f;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (getrusage(RUSAGE_SELF, &ru))
		return -errno;
	s->cpu_user_seconds = tv_seconds(ru.ru_utime);
	s->cpu_system_seconds = tv_seconds(ru.ru_stime);

	f = fopen("/proc/self/statm", "re");
	if (!f || fscanf(f, "%*u %llu", &pages) != 1)
		ret = -EIO;
	if (f)
		fclose(f);
	s->rss_bytes = pages * (unsigned long long)(page > 0 ? page : 4096);

	/* Field 22 of /proc/self/stat, after the parenthesised comm (which may hold spaces). */
	f = fopen("/proc/self/stat", "re");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	{
		const char *p = strrchr(buf, ')');

		if (!p || hz <= 0 ||
		    sscanf(p + 1,
			   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			   "%*d %*d %*d %llu",
			   &start_ticks) != 1)
			return -EIO;
	}
	/* starttime is in ticks since boot; boot time on the wall clock is realtime - boottime. */
	s->start_time_seconds = ts_seconds(CLOCK_REALTIME) - ts_seconds(CLOCK_BOOTTIME) +
				(double)start_ticks / (double)hz;
	return ret;
}

void saker_collect_select_init(struct saker_collect_select *sel, const struct saker_config *cfg)
{
	sel->kernel = cfg->metrics.kernel_event_counters_enabled;
	sel->per_cpu = cfg->metrics.kernel_event_counters_per_cpu_enabled;
	sel->bpf = cfg->metrics.libbpf_stats_enabled;
	sel->state = cfg->metrics.state_counters_enabled;
	sel->resource = cfg->metrics.resource_utilization_enabled;
	sel->rules = cfg->metrics.rules_counters_enabled;
}

enum family_group { G_ALWAYS, G_KERNEL, G_PER_CPU, G_BPF, G_STATE, G_RESOURCE, G_RULES };

/* Family name prefixes of each switch; the names are the ones collect adds above. */
/* clang-format off */
static const struct {
	const char *prefix;
	enum family_group group;
} groups[] = {
	{"events_",	 G_KERNEL},
	{"drops_total",	 G_KERNEL},
	{"page_faults_", G_KERNEL},
	{"ring_",	 G_KERNEL},
	{"cpu_",	 G_PER_CPU},
	{"bpf_",	 G_BPF},
	{"proc_table_",	 G_STATE},
	{"fd_table_",	 G_STATE},
	{"state_",	 G_STATE},
	{"process_",	 G_RESOURCE},
	{"rules_",	 G_RULES},
};
/* clang-format on */

static enum family_group group_of(const char *name)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		size_t n = strlen(groups[i].prefix);

		/* "drops_total" is a whole name: drops_simulated_total is the drop check's */
		if (strncmp(name, groups[i].prefix, n) == 0 &&
		    (groups[i].prefix[n - 1] == '_' || name[n] == '\0'))
			return groups[i].group;
	}
	return G_ALWAYS;
}

bool saker_collect_selected(const struct saker_collect_select *sel, const struct saker_metric *s)
{
	switch (group_of(s->name)) {
	case G_KERNEL:
		return sel->kernel;
	case G_PER_CPU:
		return sel->per_cpu;
	case G_BPF:
		return sel->bpf;
	case G_STATE:
		return sel->state;
	case G_RESOURCE:
		return sel->resource;
	case G_RULES:
		return sel->rules;
	default:
		return true;
	}
}

int saker_collect_select_copy(struct saker_metrics *dst, const struct saker_metrics *src,
			      const struct saker_collect_select *sel)
{
	for (size_t i = 0; i < src->n; i++)
		if (saker_collect_selected(sel, &src->v[i]) &&
		    saker_metrics_add_copy(dst, &src->v[i]) == -ENOMEM)
			return -ENOMEM;
	return 0;
}
