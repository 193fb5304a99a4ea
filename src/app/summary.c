#include "app/summary.h"

#include <inttypes.h>

#include "app/app.h"
#include "outputs/outputs.h"
#include "state/view.h"

static void print_tables(const struct saker_app *app, FILE *f)
{
	struct saker_view_stats v;
	const struct saker_pipeline *p = &app->pipe;

	saker_view_get_stats(app->view, &v);
	fprintf(f, "State tables:\n");
	fprintf(f, "   process table entries: %" PRIu64 "\n", v.procs.entries);
	fprintf(f, "   process table max entries: %" PRIu64 "\n", v.procs.max_entries);
	fprintf(f, "   process table bytes: %" PRIu64 "\n", v.procs.bytes);
	fprintf(f, "   process table evictions: %" PRIu64 "\n", v.procs.evictions);
	fprintf(f, "   process table lookups: %" PRIu64 "\n", v.procs.lookups);
	fprintf(f, "   process table failed lookups: %" PRIu64 "\n", v.procs.failed_lookups);
	fprintf(f, "   threads scanned from proc: %" PRIu64 "\n", v.procs.scanned);
	fprintf(f, "   fd table entries: %" PRIu64 "\n", v.fds.entries);
	fprintf(f, "   fd table max entries: %" PRIu64 "\n", v.fds.max_entries);
	fprintf(f, "   fd table bytes: %" PRIu64 "\n", v.fds.bytes);
	fprintf(f, "   fd table evictions: %" PRIu64 "\n", v.fds.evictions);
	fprintf(f, "   fd table lookups: %" PRIu64 "\n", v.fds.lookups);
	fprintf(f, "   fd table failed lookups: %" PRIu64 "\n", v.fds.failed_lookups);
	fprintf(f, "   fd table unmatched: %" PRIu64 "\n", v.fds.unmatched);
	/* Every record goes through the pipeline once: its counts are the state's. */
	fprintf(f, "   state events: %" PRIu64 "\n", p->records);
	fprintf(f, "   state events malformed: %" PRIu64 "\n", p->rejected);
	fprintf(f, "   state events applied: %" PRIu64 "\n", v.applied);
	fprintf(f, "   state apply failures: %" PRIu64 "\n", p->state_errors);
	fprintf(f, "   late fork events: %" PRIu64 "\n", v.late_forks);
}

void saker_summary_print(const struct saker_app *app, const struct saker_capture_stats *st,
			 bool exact, bool detail, FILE *f)
{
	struct saker_outputs_stats os;

	fprintf(f, "saker summary:\n");
	fprintf(f, "   events seen: %" PRIu64 "\n", st->k[SAKER_CNT_EVTS]);
	fprintf(f, "   events delivered: %" PRIu64 "\n", st->delivered);
	fprintf(f, "   events dropped: %" PRIu64 "\n", saker_stats_drops(st));
	fprintf(f, "   dropped, buffer full: %" PRIu64 "\n", saker_stats_drops_buffer(st));
	for (int c = 0; c < SAKER_CAT_MAX; c++) {
		uint64_t v = st->k[SAKER_CNT_DROPS_BUFFER_FIRST + c];

		if (v)
			fprintf(f, "      %s: %" PRIu64 "\n",
				saker_counter_name(SAKER_CNT_DROPS_BUFFER_FIRST + c), v);
	}
	fprintf(f, "   dropped, oversized: %" PRIu64 "\n", st->k[SAKER_CNT_DROPS_MAX_EVENT_SIZE]);
	fprintf(f, "   dropped, user space: %" PRIu64 "\n", st->user_drops);
	fprintf(f, "   user memory read failures (events kept): %" PRIu64 "\n",
		st->k[SAKER_CNT_PAGE_FAULTS]);
	fprintf(f, "   accounting: %s\n",
		exact ? "exact (seen == delivered + dropped)" : "INCOMPLETE (rings not drained)");
	if (app->opts.dump && app->sink_open) {
		fprintf(f, "   dump lines written: %" PRIu64 "\n", app->sink.lines_written);
		/* Events delivered whose line stdout did not take (full, failed, or stuck at exit).
		 */
		fprintf(f, "   dump lines lost: %" PRIu64 "\n", app->sink.lines_lost);
	}
	if (detail)
		print_tables(app, f);
	fprintf(f, "Syscall event drop monitoring:\n");
	fprintf(f, "   - drop checks: %" PRIu64 "\n", app->drops.n_checks);
	fprintf(f, "   - event drop detected: %" PRIu64 " occurrences\n", app->drops.n_fired);
	fprintf(f, "   - num times actions taken: %" PRIu64 "\n", app->drops.n_actions_taken);
	fprintf(f, "   - suppressed by rate limit: %" PRIu64 "\n", app->drops.n_suppressed);
	saker_outputs_get_stats(app->outputs, &os);
	fprintf(f,
		"Alerts: emitted %" PRIu64 ", below priority %" PRIu64 ", lost in queue %" PRIu64
		", undelivered at exit %" PRIu64 "\n",
		os.emitted, os.filtered, os.queue_drops, os.queued);
	for (int ch = 0; ch < SAKER_CH_MAX; ch++)
		if (os.enabled[ch])
			fprintf(f, "   - %s: delivered %" PRIu64 ", failed %" PRIu64 "\n",
				saker_channel_name(ch), os.delivered[ch], os.failed[ch]);
}
