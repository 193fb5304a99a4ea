#include "app/pipeline.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "drops/attrib.h"
#include "state/resync.h"
#include "event/event.h"
#include "outputs/dump.h"
#include "state/view.h"

void saker_pipeline_init(struct saker_pipeline *p, struct saker_view *view, struct saker_dump *dump,
			 struct saker_dump_sink *sink)
{
	memset(p, 0, sizeof(*p));
	p->view = view;
	p->dump = dump;
	p->sink = sink;
}

void saker_pipeline_set_critical(struct saker_pipeline *p, const uint8_t table[SAKER_SYSCALL_MAX])
{
	for (unsigned i = 0; i < SAKER_SYSCALL_MAX; i++)
		p->critical[i] = table[i] & SAKER_SC_CRITICAL;
}

bool saker_pipeline_is_critical(const struct saker_pipeline *p, const struct saker_evt_hdr *e)
{
	/* A demoted critical event arrives in lane 0 but matters as much: the table decides. */
	if (e->type != SAKER_EVT_SYSCALL)
		return true;
	return e->syscall_id < SAKER_SYSCALL_MAX && p->critical[e->syscall_id];
}

static void dump_event(struct saker_pipeline *p, const struct saker_event *ev)
{
	struct saker_dump *d = p->dump;
	bool critical = saker_pipeline_is_critical(p, &ev->hdr);
	int err;

	/* A stalled reader: the line would be lost anyway, so it costs no formatting. */
	if (saker_dump_sink_full(p->sink, critical)) {
		saker_dump_sink_skip(p->sink, critical);
		if (p->sink->err && !p->sink_err)
			p->sink_err = p->sink->err;
		return;
	}
	if (saker_dump_format(d, ev)) {
		p->dump_errors++;
		return;
	}
	saker_sbuf_putc(&d->line, '\n');
	if (d->line.oom) {
		p->dump_errors++;
		return;
	}
	d->lines++;
	err = saker_dump_sink_put(p->sink, d->line.p, d->line.len, critical);
	/* A full sink loses the line (counted there); a failed one stops the run. */
	if (err && err != -ENOBUFS && !p->sink_err)
		p->sink_err = err;
}

/* The canary's markers are saker's own business: no rule may alert on them. */
static void run_rules(struct saker_pipeline *p, const struct saker_event *ev)
{
	if (p->canary_tgid && ev->hdr.tgid == p->canary_tgid) {
		if (p->canary)
			(void)p->canary(p->canary_ctx, ev);
		return;
	}
	if (p->rules && p->rules(p->rules_ctx, ev))
		p->rules_errors++;
}

void saker_pipeline_poll_loss(struct saker_pipeline *p)
{
	struct timespec ts;
	uint64_t seq, now;

	if (!p->loss_seq || clock_gettime(CLOCK_BOOTTIME, &ts))
		return;
	/* The time first: a loss the count shows happened after the previous poll's time. */
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	seq = p->loss_seq(p->loss_ctx);
	if (p->loss_init && seq != p->loss_last)
		saker_view_mark_loss_pending(p->view, p->loss_polled_ns, now);
	p->loss_init = true;
	p->loss_last = seq;
	p->loss_polled_ns = now;
}

int saker_pipeline_record(void *ctx, const struct saker_evt_hdr *e, size_t len)
{
	struct saker_pipeline *p = ctx;
	struct saker_event ev;
	bool deferred;

	if (p->loss_seq && p->records % SAKER_PIPELINE_LOSS_POLL == 0)
		saker_pipeline_poll_loss(p);
	p->records++;
	if (p->tap)
		(void)p->tap(p->tap_ctx, e, len);
	if (saker_event_parse(&ev, e, len)) {
		p->rejected++;
		saker_view_count_malformed(p->view);
		return -EBADMSG;
	}
	/* Whether the record's process is known as of its time: counted, flagged if not. */
	(void)saker_view_context(p->view, &ev);
	deferred = saker_view_defers(p->view, &ev);
	if (!deferred && saker_view_apply(p->view, &ev))
		p->state_errors++;
	/*
	 * An exec replaces the image: its dump line names the process as it was,
	 * but rules see the new image (Falco's execve exit event), so for an exec
	 * the dump comes first, then the replacement, then the rules. connect,
	 * bind and listen alike: rules see the socket as the call left it.
	 */
	if (deferred && saker_view_rules_see_result(p->view, &ev)) {
		if (p->dump && p->sink)
			dump_event(p, &ev);
		if (saker_view_apply(p->view, &ev))
			p->state_errors++;
		run_rules(p, &ev);
	} else {
		run_rules(p, &ev);
		if (p->dump && p->sink)
			dump_event(p, &ev);
		if (deferred && saker_view_apply(p->view, &ev))
			p->state_errors++;
	}
	/* Every record, whichever order it took: who produced it, and whether the view of its
	 * process needs repair. */
	saker_attrib_note(p->attrib, e);
	saker_resync_note(p->resync, e);
	return 0;
}

int saker_pipeline_flush(struct saker_pipeline *p)
{
	int err;

	if (!p->dump || !p->sink)
		return 0;
	err = saker_dump_sink_flush(p->sink);
	if (err && err != -EAGAIN && !p->sink_err)
		p->sink_err = err;
	return err;
}

int saker_pipeline_error(const struct saker_pipeline *p)
{
	return p->sink_err;
}
