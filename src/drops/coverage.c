#include "drops/coverage.h"

#include <inttypes.h>
#include <string.h>

static void put_str(struct saker_sbuf *b, const char *key, const char *s)
{
	saker_sbuf_printf(b, ",\"%s\":\"", key);
	saker_sbuf_escape(b, s ? s : "", s ? strlen(s) : 0, SAKER_ESC_JSON);
	saker_sbuf_putc(b, '"');
}

static void put_lane(struct saker_sbuf *b, const char *name, bool known, uint64_t size,
		     uint64_t high_water, bool saturated)
{
	saker_sbuf_printf(b, "\"%s\":", name);
	if (!known) {
		saker_sbuf_puts(b, "null");
		return;
	}
	saker_sbuf_printf(
	    b, "{\"size_bytes\":%" PRIu64 ",\"high_water_bytes\":%" PRIu64 ",\"saturated\":%s}",
	    size, high_water, saturated ? "true" : "false");
}

void saker_coverage_format(struct saker_sbuf *b, const struct saker_coverage_id *id,
			   const struct saker_drops_window *w,
			   const struct saker_coverage_health *h)
{
	static const struct saker_loss none;
	static const struct saker_coverage_health no_health;
	const struct saker_ledger_record *r = w->rec;
	const struct saker_drops_rings *rg = w->rings;
	const struct saker_loss *loss = r->loss ? r->loss : &none;

	if (!h)
		h = &no_health;
	saker_sbuf_printf(b, "{\"type\":\"coverage\",\"version\":%d", SAKER_COVERAGE_VERSION);
	put_str(b, "host", id->host);
	put_str(b, "run_id", id->run_id);
	saker_sbuf_printf(b, ",\"seq\":%" PRIu64, id->seq);
	saker_ledger_put_window(b, "", &r->win);
	/* Numbers beside the text times: a reader sorts and ages without parsing dates. */
	saker_sbuf_printf(
	    b, ",\"start_real_ns\":%" PRIu64 ",\"end_real_ns\":%" PRIu64 ",\"window_s\":%" PRIu64,
	    r->win.start_real_ns, r->win.end_real_ns, w->window_s ? w->window_s : 1);
	saker_sbuf_printf(b, ",\"seen\":%" PRIu64 ",\"delivered\":%" PRIu64, r->seen, r->delivered);
	saker_ledger_put_loss(b, loss);
	saker_sbuf_printf(b, ",\"simulated\":%" PRIu64, r->simulated);
	saker_ledger_put_attrib(b, r->attrib);
	saker_sbuf_printf(b, ",\"fired\":%s,\"suppressed\":%s,\"ledger_line\":%s",
			  r->fired ? "true" : "false", r->suppressed ? "true" : "false",
			  w->ledger_line ? "true" : "false");
	/* The run's totals at the window's end: the shutdown summary's figures in the final one. */
	if (w->cur)
		saker_sbuf_printf(b,
				  ",\"totals\":{\"seen\":%" PRIu64 ",\"delivered\":%" PRIu64
				  ",\"lost\":%" PRIu64 ",\"simulated\":%" PRIu64 "}",
				  w->cur->k[SAKER_CNT_EVTS], w->cur->delivered,
				  saker_stats_drops(w->cur), w->simulated_total);
	else
		saker_sbuf_puts(b, ",\"totals\":null");
	saker_sbuf_printf(b, ",\"final\":%s", w->final ? "true" : "false");
	saker_sbuf_puts(b, ",\"ring\":{");
	if (rg)
		put_lane(b, "normal", rg->known, rg->size_bytes, rg->high_water_bytes,
			 rg->saturated);
	else
		put_lane(b, "normal", false, 0, 0, false);
	saker_sbuf_putc(b, ',');
	if (rg)
		put_lane(b, "critical", rg->critical.known, rg->critical.size_bytes,
			 rg->critical.high_water_bytes, rg->critical.saturated);
	else
		put_lane(b, "critical", false, 0, 0, false);
	saker_sbuf_puts(b, "},\"health\":{");
	saker_sbuf_printf(b, "\"healthy\":%s", h->problem && h->problem[0] ? "false" : "true");
	put_str(b, "problem", h->problem);
	saker_sbuf_printf(b,
			  ",\"drain_age_ms\":%" PRIu64 ",\"late_windows\":%" PRIu64
			  ",\"alerts_lost_total\":%" PRIu64 ",\"dump_lost_total\":%" PRIu64
			  ",\"ledger_errors_total\":%" PRIu64 "}}",
			  h->drain_age_ms, w->window_s > 1 ? w->window_s - 1 : 0, h->alerts_lost,
			  h->dump_lost, h->ledger_errors);
}
