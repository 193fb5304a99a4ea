#include "app/summary.h"

#include <inttypes.h>
#include <string.h>

#include "capture/stats.h"
#include "drops/loss.h"

static const char *label_of(const struct saker_metric *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

/* Exact sum of a family's integer samples, those with label = value only when label is given. */
static uint64_t sum(const struct saker_metrics *m, const char *name, const char *label,
		    const char *value)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct saker_metric *s = &m->v[i];
		const char *v;

		if (strcmp(s->name, name) != 0)
			continue;
		if (label && (!(v = label_of(s, label)) || strcmp(v, value) != 0))
			continue;
		n += s->is_float ? (uint64_t)s->f64 : s->u64;
	}
	return n;
}

static bool has(const struct saker_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return true;
	return false;
}

/* clang-format off */
static const struct {
	const char *metric;
	const char *line;
} tables[] = {
	{"proc_table_entries", "process table entries"},
	{"proc_table_max_entries", "process table max entries"},
	{"proc_table_bytes", "process table bytes"},
	{"proc_table_evictions_total", "process table evictions"},
	{"proc_table_lookups_total", "process table lookups"},
	{"proc_table_failed_lookups_total", "process table failed lookups"},
	{"proc_table_scanned_total", "threads scanned from proc"},
	{"fd_table_entries", "fd table entries"},
	{"fd_table_max_entries", "fd table max entries"},
	{"fd_table_bytes", "fd table bytes"},
	{"fd_table_evictions_total", "fd table evictions"},
	{"fd_table_lookups_total", "fd table lookups"},
	{"fd_table_failed_lookups_total", "fd table failed lookups"},
	{"fd_table_unmatched_total", "fd table unmatched"},
	{"state_events_total", "state events"},
	{"state_events_malformed_total", "state events malformed"},
	{"state_events_applied_total", "state events applied"},
	{"state_late_forks_total", "late fork events"},
};
/* clang-format on */

static void print_detail(const struct saker_metrics *m, FILE *f)
{
	struct saker_sbuf b;

	fprintf(f, "State tables:\n");
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (has(m, tables[i].metric))
			fprintf(f, "   %s: %" PRIu64 "\n", tables[i].line,
				sum(m, tables[i].metric, NULL, NULL));
	/* Everything else, as the JSON renderer spells it (names and labels). */
	saker_sbuf_init(&b);
	if (saker_metrics_render_json(m, &b) == 0 && b.p)
		fprintf(f, "Metrics: %s\n", b.p);
	saker_sbuf_free(&b);
}

/* A counter's line: always in the long form, only when non-zero in the short one. */
static void counter(FILE *f, bool all, const char *label, uint64_t v)
{
	if (all || v)
		fprintf(f, "%s: %" PRIu64 "\n", label, v);
}

/* Ring-full losses by category, both lanes, under Falco's counter names. */
static void ring_full_by_category(const struct saker_metrics *m, FILE *f)
{
	const char *ring_full = saker_loss_cause_name(SAKER_LOSS_RING_FULL);

	for (int c = 0; c < SAKER_CAT_MAX; c++) {
		const char *name = saker_category_name((enum saker_category)c);
		uint64_t v = 0;

		for (size_t i = 0; i < m->n; i++) {
			const struct saker_metric *s = &m->v[i];
			const char *cause = label_of(s, "cause"), *cat = label_of(s, "category");

			if (!strcmp(s->name, "drops_total") && cause && !strcmp(cause, ring_full) &&
			    cat && !strcmp(cat, name))
				v += s->u64;
		}
		if (v)
			fprintf(f, "      %s: %" PRIu64 "\n",
				saker_counter_name(SAKER_CNT_DROPS_BUFFER_FIRST + c), v);
	}
}

/* The accounting, always shown, zeros included: seen == delivered + dropped; then by cause. */
static void print_accounting(const struct saker_metrics *m, bool exact, bool detail, FILE *f)
{
	fprintf(f, "saker summary:\n");
	fprintf(f, "   events seen: %" PRIu64 "\n", sum(m, "events_total", NULL, NULL));
	fprintf(f, "   events delivered: %" PRIu64 "\n",
		sum(m, "events_delivered_total", NULL, NULL));
	fprintf(f, "   events dropped: %" PRIu64 "\n", sum(m, "drops_total", NULL, NULL));
	fprintf(f, "   accounting: %s\n",
		exact ? "exact (seen == delivered + dropped)" : "INCOMPLETE (rings not drained)");
	/* One line per cause the table gives a summary label (SAKER_LOSS_CAUSES). */
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++) {
		const char *label = saker_loss_cause_summary(c);
		char line[80];

		if (!label)
			continue;
		snprintf(line, sizeof(line), "   dropped, %s", label);
		counter(f, detail, line, sum(m, "drops_total", "cause", saker_loss_cause_name(c)));
		if (c == SAKER_LOSS_RING_FULL)
			ring_full_by_category(m, f);
	}
}

/* What else happened to events: the protected lane, reads, the view, the dump, -w. */
static void print_events(const struct saker_metrics *m, bool detail, FILE *f)
{
	counter(f, detail, "   dropped, protected lane (n_drops_critical)",
		sum(m, "drops_critical_total", NULL, NULL));
	counter(f, detail, "   demoted from the protected lane (n_demoted)",
		sum(m, "demoted_total", NULL, NULL));
	counter(f, detail, "   user memory read failures (events kept)",
		sum(m, "page_faults_total", NULL, NULL));
	/* Delivered, but the view did not know their process: their lines say view_degraded. */
	if (detail || sum(m, "events_without_process_total", NULL, NULL))
		fprintf(f,
			"   events without process context: %" PRIu64 " (evicted %" PRIu64
			", late %" PRIu64 ", unknown %" PRIu64 ")\n",
			sum(m, "events_without_process_total", NULL, NULL),
			sum(m, "events_without_process_total", "cause", "evicted"),
			sum(m, "events_without_process_total", "cause", "late"),
			sum(m, "events_without_process_total", "cause", "unknown"));
	if (has(m, "dump_lines_written_total")) {
		counter(f, detail, "   dump lines written",
			sum(m, "dump_lines_written_total", NULL, NULL));
		/* Events delivered whose line stdout did not take (full, failed, or stuck at exit).
		 */
		if (detail || sum(m, "dump_lines_lost_total", NULL, NULL))
			fprintf(f, "   dump lines lost: %" PRIu64 " (critical: %" PRIu64 ")\n",
				sum(m, "dump_lines_lost_total", NULL, NULL),
				sum(m, "dump_lines_lost_critical_total", NULL, NULL));
	}
	if (has(m, "capture_file_records_written_total")) {
		counter(f, detail, "   capture file records written",
			sum(m, "capture_file_records_written_total", NULL, NULL));
		counter(f, detail, "   capture file records not written",
			sum(m, "capture_file_records_not_written_total", NULL, NULL));
	}
}

static void print_drop_checks(const struct saker_metrics *m, bool detail, FILE *f)
{
	fprintf(f, "Syscall event drop monitoring:\n");
	fprintf(f, "   - drop checks: %" PRIu64 "\n", sum(m, "drop_checks_total", NULL, NULL));
	if (detail || sum(m, "drop_checks_fired_total", NULL, NULL))
		fprintf(f, "   - event drop detected: %" PRIu64 " occurrences\n",
			sum(m, "drop_checks_fired_total", NULL, NULL));
	counter(f, detail, "   - num times actions taken",
		sum(m, "drop_actions_taken_total", NULL, NULL));
	counter(f, detail, "   - suppressed by rate limit",
		sum(m, "drop_checks_suppressed_total", NULL, NULL));
	/* Blindness resistance: attribution, the ledger and the repair (resync). */
	{
		static const struct {
			const char *label, *metric;
		} lines[] = {
		    {"   - attribution evictions", "attribution_evictions_total"},
		    {"   - ledger lines", "ledger_lines_total"},
		    {"   - ledger write errors", "ledger_write_errors_total"},
		    {"   - resync requests", "resync_requests_total"},
		    {"   - resync processes reloaded", "resync_loaded_total"},
		    {"   - resync processes gone", "resync_gone_total"},
		    {"   - resync threads pruned", "resync_pruned_total"},
		    {"   - resync full rescans", "resync_full_scans_total"},
		    {"   - resync queue overflows", "resync_overflows_total"},
		};

		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
			counter(f, detail, lines[i].label, sum(m, lines[i].metric, NULL, NULL));
	}
}

static void print_alerts(const struct saker_metrics *m, bool detail, FILE *f)
{
	uint64_t alerts = sum(m, "alerts_emitted_total", NULL, NULL) +
			  sum(m, "alerts_filtered_total", NULL, NULL) +
			  sum(m, "alerts_queue_drops_total", NULL, NULL) +
			  sum(m, "alerts_queued", NULL, NULL);

	if (has(m, "rules_loaded"))
		fprintf(f,
			"rules: %" PRIu64 " loaded, %" PRIu64 " skipped, %" PRIu64
			" matches (%" PRIu64 " alerts refused, %" PRIu64 " errors)\n",
			sum(m, "rules_loaded", NULL, NULL), sum(m, "rules_not_loaded", NULL, NULL),
			sum(m, "rules_matches_total", NULL, NULL),
			sum(m, "rules_alerts_refused_total", NULL, NULL),
			sum(m, "rules_errors_total", NULL, NULL));
	fprintf(
	    f,
	    "Alerts: emitted %" PRIu64 ", below priority %" PRIu64 ", lost in queue %" PRIu64
	    ", undelivered at exit %" PRIu64 "\n",
	    sum(m, "alerts_emitted_total", NULL, NULL), sum(m, "alerts_filtered_total", NULL, NULL),
	    sum(m, "alerts_queue_drops_total", NULL, NULL),
	    sum(m, "alerts_undelivered_total", NULL, NULL) + sum(m, "alerts_queued", NULL, NULL));
	/* The channels' buckets are all zero when no alert was raised. */
	for (size_t i = 0; (detail || alerts) && i < m->n; i++) {
		const struct saker_metric *s = &m->v[i];
		const char *ch = label_of(s, "channel");

		/* One line per enabled channel: collect adds the pair only for those. */
		if (strcmp(s->name, "alerts_delivered_total") != 0 || !ch)
			continue;
		fprintf(f,
			"   - %s: delivered %" PRIu64 ", failed %" PRIu64 ", lost in queue %" PRIu64
			", undelivered at exit %" PRIu64,
			ch, s->u64, sum(m, "alerts_failed_total", "channel", ch),
			sum(m, "alerts_lost_total", "channel", ch),
			sum(m, "alerts_channel_undelivered", "channel", ch));
		if (sum(m, "alerts_dropped_reload_total", "channel", ch))
			fprintf(f, ", dropped by reload %" PRIu64,
				sum(m, "alerts_dropped_reload_total", "channel", ch));
		fprintf(f, "\n");
	}
	if (has(m, "nats_acked_total"))
		fprintf(f,
			"NATS: offered %" PRIu64 ", recovered from the spool %" PRIu64
			", acknowledged %" PRIu64 " (duplicates %" PRIu64 ", resent %" PRIu64
			"), pending in the spool %" PRIu64 ", lost: queue full %" PRIu64
			", spool full %" PRIu64 ", write error %" PRIu64 ", corrupt %" PRIu64 "\n",
			sum(m, "nats_offered_total", NULL, NULL),
			sum(m, "nats_recovered_total", NULL, NULL),
			sum(m, "nats_acked_total", NULL, NULL),
			sum(m, "nats_dedup_total", NULL, NULL),
			sum(m, "nats_resent_total", NULL, NULL), sum(m, "nats_pending", NULL, NULL),
			sum(m, "nats_lost_total", "cause", "queue_full"),
			sum(m, "nats_lost_total", "cause", "spool_full"),
			sum(m, "nats_lost_total", "cause", "write_error"),
			sum(m, "nats_lost_total", "cause", "corrupt"));
}

void saker_summary_print(const struct saker_metrics *m, bool exact, bool detail, FILE *f)
{
	print_accounting(m, exact, detail, f);
	print_events(m, detail, f);
	if (detail)
		print_detail(m, f);
	print_drop_checks(m, detail, f);
	print_alerts(m, detail, f);
}
