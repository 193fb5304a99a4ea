#include "app/losslog.h"

#include <inttypes.h>
#include <string.h>

static void fold(void *ctx, uint32_t tgid, uint64_t start_ns, const struct saker_proc_loss *l)
{
	struct saker_losslog_window *w = ctx;

	w->procs++;
	w->lost_total += l->lost;
	w->demoted_total += l->demoted;
	if (l->lost > w->lost.loss.lost) {
		w->lost.pid = tgid;
		w->lost.start_ns = start_ns;
		w->lost.loss = *l;
	}
	if (l->demoted > w->demoted.loss.demoted) {
		w->demoted.pid = tgid;
		w->demoted.start_ns = start_ns;
		w->demoted.loss = *l;
	}
}

int saker_losslog_read(struct saker_capture *cap, struct saker_losslog_window *w)
{
	int n;

	memset(w, 0, sizeof(*w));
	n = saker_capture_read_proc_losses(cap, fold, w);
	return n < 0 ? n : 0;
}

void saker_losslog_check(struct saker_capture *cap, const struct saker_log *log)
{
	struct saker_losslog_window w;
	int ret = saker_losslog_read(cap, &w);

	if (ret) {
		saker_log(log, SAKER_PRIO_ERROR, "cannot read per-process losses: %s",
			  strerror(-ret));
		return;
	}
	if (w.lost.pid)
		saker_log(log, SAKER_PRIO_WARNING,
			  "Saker internal: events lost in last second by %" PRIu64
			  " process(es), %" PRIu64 " in all; top: pid %" PRIu32 " (%s) uid %" PRIu32
			  ": %" PRIu64 " lost, %" PRIu64 " demoted",
			  w.procs, w.lost_total, w.lost.pid, w.lost.loss.comm, w.lost.loss.uid,
			  (uint64_t)w.lost.loss.lost, (uint64_t)w.lost.loss.demoted);
	if (w.demoted.pid)
		saker_log(log, SAKER_PRIO_WARNING,
			  "Saker internal: protected lane: %" PRIu64
			  " critical events demoted in last second (over budget); top: pid %" PRIu32
			  " (%s) uid %" PRIu32 ": %" PRIu64 " demoted, %" PRIu64 " lost",
			  w.demoted_total, w.demoted.pid, w.demoted.loss.comm, w.demoted.loss.uid,
			  (uint64_t)w.demoted.loss.demoted, (uint64_t)w.demoted.loss.lost);
}
