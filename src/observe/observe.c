#include "observe/observe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "observe/ringwin.h"
#include "drops/attrib.h"
#include "capture/record.h"
#include "lib/alert.h"
#include "lib/hash.h"
#include "lib/readfile.h"
#include "lib/sbuf.h"
#include "outputs/dump.h"
#include "state/resync.h"
#include "web/web.h"

#define SNAPSHOT_RULE "Saker internal: metrics snapshot"
#define MAX_PEM_BYTES (1024 * 1024)
struct saker_observe {
	const struct saker_log *log;
	char *version;
	struct saker_web *web;

	bool snapshot_on; /* metrics.enabled with an output */
	bool output_rule;
	uint64_t interval_ns, next_ns;
	int fd; /* metrics.output_file, -1 when none */
	char *output_file;
	bool file_failing; /* logged once until a write succeeds again */
	/* families /metrics and the snapshot show (Falco's metrics.* switches) */
	struct saker_collect_select sel;
	bool f_empty; /* the snapshot keeps zero values (/metrics always does) */

	struct saker_collect_capture *cc;
	struct saker_metrics m;	    /* the tick's one collection */
	struct saker_metrics shown; /* ... the families sel shows */

	struct saker_ringwin *win;
};

/* FNV-1a 64 of the effective configuration as --dry-run prints it. */
static int config_hash(const struct saker_config *cfg, char out[17])
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	if (!f)
		return -errno;
	ret = saker_config_dump(cfg, f);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (!ret)
		snprintf(out, 17, "%016" PRIx64, saker_hash_fnv1a(text, len));
	free(text);
	return ret;
}

static char *versions_json(const struct saker_config *cfg, const char *version)
{
	struct saker_sbuf b;
	struct utsname u;
	char hash[17] = "";

	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	(void)config_hash(cfg, hash);
	saker_sbuf_init(&b);
	saker_sbuf_puts(&b, "{\"saker_version\": \"");
	saker_sbuf_escape(&b, version, strlen(version), SAKER_ESC_JSON);
	saker_sbuf_puts(&b, "\", \"kernel_release\": \"");
	saker_sbuf_escape(&b, u.release, strlen(u.release), SAKER_ESC_JSON);
	saker_sbuf_puts(&b, "\", \"libbpf_version\": \"");
	saker_sbuf_escape(&b, libbpf_version_string(), strlen(libbpf_version_string()),
			  SAKER_ESC_JSON);
	saker_sbuf_printf(&b, "\", \"config_hash\": \"%s\"}\n", hash);
	if (b.oom) {
		saker_sbuf_free(&b);
		return NULL;
	}
	return saker_sbuf_take(&b);
}

static int read_pem(const char *path, char **out, char *err, size_t errlen)
{
	size_t len;
	int ret = saker_readfile(path, MAX_PEM_BYTES, out, &len);

	if (!ret && !len) {
		free(*out);
		*out = NULL;
		ret = -EINVAL;
	}
	if (ret)
		snprintf(err, errlen, "webserver.ssl_certificate %s: %s", path,
			 ret == -EFBIG	  ? "larger than 1 MiB"
			 : ret == -EINVAL ? "empty"
					  : strerror(-ret));
	return ret;
}

/* Appends only, never follows a symlink, never blocks on a FIFO, creates 0600. */
static int open_output_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd =
	    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "metrics.output_file %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "metrics.output_file %s: not a regular file", path);
		return -EINVAL;
	}
	return fd;
}

int saker_observe_start(struct saker_observe **out, const struct saker_config *cfg,
			const char *version, const struct saker_log *log, char *err, size_t errlen)
{
	struct saker_observe *o;
	int ret = -ENOMEM;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o->fd = -1;
	o->log = log;
	saker_metrics_init(&o->m);
	saker_metrics_init(&o->shown);
	saker_collect_select_init(&o->sel, cfg);
	o->version = strdup(version);
	o->cc = malloc(sizeof(*o->cc));
	if (!o->version || !o->cc || saker_ringwin_new(&o->win)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	if (cfg->metrics.enabled) {
		uint64_t ms = 3600000;

		(void)saker_config_duration_ms(cfg->metrics.interval, &ms);
		o->interval_ns = ms * 1000000ull;
		o->output_rule = cfg->metrics.output_rule;
		o->f_empty = cfg->metrics.include_empty_values;
		if (cfg->metrics.output_file) {
			o->output_file = strdup(cfg->metrics.output_file);
			if (!o->output_file) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			o->fd = open_output_file(o->output_file, err, errlen);
			if (o->fd < 0) {
				ret = o->fd;
				goto fail;
			}
		}
		o->snapshot_on = o->output_rule || o->fd >= 0;
	}

	if (cfg->webserver.enabled) {
		char *pem = NULL;
		char *versions = versions_json(cfg, version);
		struct saker_web_opts wo = {
		    .listen_address = cfg->webserver.listen_address,
		    .port = (uint16_t)cfg->webserver.listen_port,
		    .healthz_path = cfg->webserver.k8s_healthz_endpoint,
		    .metrics_enabled = cfg->webserver.prometheus_metrics_enabled,
		    .threads = (unsigned)cfg->webserver.threadiness,
		    .versions_json = versions,
		};

		ret = 0;
		if (cfg->webserver.ssl_enabled)
			ret = read_pem(cfg->webserver.ssl_certificate, &pem, err, errlen);
		wo.tls_pem = pem;
		if (!ret)
			ret = saker_web_start(&o->web, &wo, err, errlen);
		free(pem);
		free(versions);
		if (ret)
			goto fail;
	}
	*out = o;
	return 0;
fail:
	saker_observe_stop(o);
	return ret;
}

uint16_t saker_observe_web_port(const struct saker_observe *o)
{
	return o && o->web ? saker_web_port(o->web) : 0;
}

void saker_observe_window(struct saker_observe *o, struct saker_capture *cap,
			  struct saker_drops *drops)
{
	if (o)
		saker_ringwin_close(o->win, cap, drops);
}

/* What only app/ knows: the dump sink, the pipeline, the repair and loss records. */
/* The capture canary (drops/canary_child.h): whether capture is proven to still see. */
static int collect_canary(const struct saker_observe_canary *r, struct saker_metrics *m)
{
	static const char *const results[] = {"sent", "seen", "lost", "blind", "stuck"};
	const uint64_t n[] = {r->v->n_sent, r->v->n_seen, r->v->n_lost, r->v->n_blind,
			      r->v->n_stuck};
	int ret;

	ret = saker_metrics_add_u64(m, "capture_canary_up",
				    "1 while the capture canary's process runs and answers.",
				    SAKER_METRIC_GAUGE, 0, r->up, NULL, 0);
	if (!ret)
		ret = saker_metrics_add_u64(
		    m, "capture_canary_blind",
		    "1 while capture is blind: a canary marker vanished without a counted drop "
		    "and none has arrived since.",
		    SAKER_METRIC_GAUGE, 0, r->blind, NULL, 0);
	for (size_t i = 0; !ret && i < sizeof(results) / sizeof(results[0]); i++) {
		const struct saker_metric_label l[] = {{"result", results[i]}};

		ret = saker_metrics_add_u64(
		    m, "capture_canary_markers_total",
		    "Canary markers requested (sent), and their verdicts: seen, lost (a counted "
		    "drop of the canary's own), blind (vanished uncounted), stuck (no answer).",
		    SAKER_METRIC_COUNTER, 0, n[i], l, 1);
	}
	if (!ret)
		ret = saker_metrics_add_u64(m, "capture_canary_events_total",
					    "Events of the canary's process handed to the pipeline "
					    "(kept from the rules).",
					    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL,
					    r->n_events, NULL, 0);
	if (!ret)
		ret = saker_metrics_add_u64(
		    m, "capture_selection_changed",
		    "1 while the probe's syscall selection (or lane-1 budget) was found changed "
		    "from "
		    "outside saker in the last 10 s (each change is restored).",
		    SAKER_METRIC_GAUGE, 0, r->sel_changed, NULL, 0);
	if (!ret)
		ret = saker_metrics_add_u64(m, "capture_selection_changes_total",
					    "Drop checks that found the probe's syscall selection "
					    "(or lane-1 budget) changed "
					    "from outside saker, and restored it.",
					    SAKER_METRIC_COUNTER, 0, r->n_sel_changes, NULL, 0);
	if (!ret)
		ret = saker_metrics_add_u64(
		    m, "capture_canary_lost_events_total",
		    "Events of the canary's process the probe counted lost.", SAKER_METRIC_COUNTER,
		    SAKER_METRIC_F_DETAIL, r->own_lost_total, NULL, 0);
	return ret;
}

static int collect_app(const struct saker_observe_src *src, struct saker_metrics *m)
{
	const struct saker_observe_pipe *pipe = &src->pipe;
	int ret;

	ret =
	    saker_metrics_add_u64(m, "accounting_exact",
				  "1 when the rings were drained after detach, so events_total == "
				  "events_delivered_total + drops_total holds exactly.",
				  SAKER_METRIC_GAUGE, 0, src->exact, NULL, 0);
	if (!ret && src->canary.v)
		ret = collect_canary(&src->canary, m);
	if (ret || !pipe->on)
		return ret;
	if (pipe->sink) {
		ret = saker_metrics_add_u64(m, "dump_lines_written_total",
					    "--dump lines written to stdout.", SAKER_METRIC_COUNTER,
					    SAKER_METRIC_F_SUMMARY, pipe->sink->lines_written, NULL,
					    0);
		if (!ret)
			ret = saker_metrics_add_u64(
			    m, "dump_lines_lost_total",
			    "--dump lines of delivered events that stdout did not take (full, "
			    "failed, or stuck at exit).",
			    SAKER_METRIC_COUNTER, SAKER_METRIC_F_SUMMARY, pipe->sink->lines_lost,
			    NULL, 0);
		if (!ret)
			ret = saker_metrics_add_u64(
			    m, "dump_lines_lost_critical_total",
			    "Of dump_lines_lost_total, lines of critical events (lifecycle, "
			    "protected-lane syscalls) shed for lack of room: only once bulk lines "
			    "were shed and the critical reserve was full too.",
			    SAKER_METRIC_COUNTER, SAKER_METRIC_F_SUMMARY,
			    pipe->sink->lines_lost_critical, NULL, 0);
	}
	if (!ret)
		ret = saker_metrics_add_u64(
		    m, "state_apply_failures_total",
		    "Events the process and fd view could not apply (out of "
		    "memory); they went on to the other consumers.",
		    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, pipe->state_errors, NULL, 0);
	/* Blindness resistance: who (attribution), the record (ledger), the repair (resync). */
	saker_attrib_add_metrics(pipe->attrib, m);
	saker_ledger_add_metrics(src->ledger, m);
	saker_resync_add_metrics(pipe->resync, m);
	saker_record_add_metrics(pipe->record, m);
	if (!ret && m->oom)
		ret = -ENOMEM;
	return ret;
}

int saker_observe_collect(struct saker_observe *o, const struct saker_observe_src *src,
			  struct saker_metrics *m)
{
	struct saker_collect_in in = {.version = o ? o->version : NULL};
	struct saker_collect_capture *cc = o ? o->cc : NULL;
	struct saker_view_stats vs;
	struct saker_outputs_stats os;
	struct saker_collect_self self;
	int ret = 0, r;

	saker_metrics_reset(m);
	if (src->stats) {
		if (!cc)
			cc = malloc(sizeof(*cc));
		if (!cc)
			return -ENOMEM;
		memset(cc, 0, sizeof(*cc));
		cc->stats = *src->stats;
		saker_collect_in_capture(&in, cc);
	} else if (src->cap) {
		if (!cc)
			cc = malloc(sizeof(*cc));
		if (!cc)
			return -ENOMEM;
		ret = saker_collect_read_capture(cc, src->cap);
		/* What could be read is kept; only a read that got nothing is a failure. */
		if (ret && (cc->stats.k[SAKER_CNT_EVTS] || cc->stats.delivered))
			ret = 0;
		saker_collect_in_capture(&in, cc);
	}
	in.drops = src->drops;
	if (src->view) {
		saker_view_get_stats(src->view, &vs);
		in.view = &vs;
	}
	if (src->outputs) {
		saker_outputs_get_stats(src->outputs, &os);
		in.outputs = &os;
	}
	if (src->has_rules)
		in.rules = &src->rules;
	if (saker_collect_self_read(&self) == 0)
		in.self = &self;
	r = saker_collect(m, &in);
	if (!ret)
		ret = r;
	r = collect_app(src, m);
	if (!ret)
		ret = r;
	if (!o || cc != o->cc)
		free(cc);
	return ret;
}

/* The snapshot leaves zero values out unless include_empty_values (families: o->sel). */
static bool in_snapshot(const struct saker_observe *o, const struct saker_metric *s)
{
	return o->f_empty || saker_metric_value(s) != 0;
}

static void put_key(struct saker_sbuf *b, const struct saker_metric *s)
{
	saker_sbuf_puts(b, s->name);
	if (!s->n_labels)
		return;
	saker_sbuf_putc(b, '{');
	for (size_t i = 0; i < s->n_labels; i++)
		saker_sbuf_printf(b, "%s%s=%s", i ? "," : "", s->labels[i].name,
				  s->labels[i].value);
	saker_sbuf_putc(b, '}');
}

static void emit_alert(struct saker_observe *o, struct saker_outputs *outputs,
		       const struct saker_metrics *m, uint64_t now_real_ns)
{
	struct saker_field *fields = calloc(m->n ? m->n : 1, sizeof(*fields));
	size_t *key_off = calloc(m->n ? m->n : 1, sizeof(*key_off));
	size_t *val_off = calloc(m->n ? m->n : 1, sizeof(*val_off));
	struct saker_sbuf names;
	size_t n = 0;

	saker_sbuf_init(&names);
	if (!fields || !key_off || !val_off)
		goto out;
	/* Names (and float values) first, pointers after: the buffer moves while it grows. */
	for (size_t i = 0; i < m->n; i++) {
		const struct saker_metric *s = &m->v[i];

		if (!in_snapshot(o, s))
			continue;
		key_off[n] = names.len;
		put_key(&names, s);
		saker_sbuf_putc(&names, '\0');
		val_off[n] = names.len;
		if (s->is_float) {
			saker_sbuf_printf(&names, "%.6f", s->f64);
			saker_sbuf_putc(&names, '\0');
		}
		fields[n].type = s->is_float ? SAKER_FIELD_STR : SAKER_FIELD_U64;
		fields[n].u64 = s->u64;
		n++;
	}
	if (names.oom || !names.p)
		goto out;
	for (size_t i = 0; i < n; i++) {
		fields[i].name = names.p + key_off[i];
		if (fields[i].type == SAKER_FIELD_STR)
			fields[i].str = names.p + val_off[i];
	}
	{
		const struct saker_alert a = {
		    .time_ns = now_real_ns,
		    .priority = SAKER_PRIO_INFO,
		    .rule = SNAPSHOT_RULE,
		    .source = "internal",
		    .output = SNAPSHOT_RULE,
		    .fields = fields,
		    .n_fields = n,
		};

		/* A refused alert is counted by the outputs. */
		(void)saker_outputs_emit(outputs, &a);
	}
out:
	saker_sbuf_free(&names);
	free(fields);
	free(key_off);
	free(val_off);
}

static void write_line(struct saker_observe *o, const struct saker_metrics *m, uint64_t now_real_ns)
{
	struct saker_metrics sel;
	struct saker_sbuf b;
	struct tm tm;
	time_t t = (time_t)(now_real_ns / 1000000000ull);
	char date[32];
	ssize_t w;

	saker_metrics_init(&sel);
	for (size_t i = 0; i < m->n; i++)
		if (in_snapshot(o, &m->v[i]))
			(void)saker_metrics_add_copy(&sel, &m->v[i]);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	saker_sbuf_init(&b);
	saker_sbuf_printf(&b, "{\"time\":\"%s.%09lluZ\",\"rule\":\"%s\",\"metrics\":", date,
			  (unsigned long long)(now_real_ns % 1000000000ull), SNAPSHOT_RULE);
	(void)saker_metrics_render_json(&sel, &b);
	saker_sbuf_puts(&b, "}\n");
	saker_metrics_free(&sel);
	/* One write of the whole line (O_APPEND): a reader never sees half of one. */
	w = b.oom ? -1 : write(o->fd, b.p, b.len);
	if (w != (ssize_t)b.len) {
		if (!o->file_failing)
			saker_log(o->log, SAKER_PRIO_WARNING,
				  "metrics.output_file %s: snapshot not written (%s)",
				  o->output_file, w < 0 ? strerror(errno) : "short write");
		o->file_failing = true;
	} else {
		o->file_failing = false;
	}
	saker_sbuf_free(&b);
}

/* o->shown: the families of o->m that o->sel shows. */
static void select_shown(struct saker_observe *o, const struct saker_metrics *m)
{
	saker_metrics_reset(&o->shown);
	if (saker_collect_select_copy(&o->shown, m, &o->sel))
		saker_log(o->log, SAKER_PRIO_DEBUG, "metrics selection incomplete: out of memory");
}

void saker_observe_tick(struct saker_observe *o, const struct saker_observe_src *src)
{
	bool snapshot;
	int ret;

	if (!o || (!o->web && !o->snapshot_on))
		return;
	snapshot = o->snapshot_on && o->next_ns && src->now_mono_ns >= o->next_ns;
	if (o->snapshot_on && !o->next_ns)
		o->next_ns = src->now_mono_ns + o->interval_ns;
	/* One collection a tick: /metrics and the snapshot show the same samples. */
	ret = saker_observe_collect(o, src, &o->m);
	if (ret && ret != -ENOMEM)
		saker_log(o->log, SAKER_PRIO_DEBUG, "metrics collection incomplete: %s",
			  strerror(-ret));
	select_shown(o, &o->m);
	if (o->web) {
		struct saker_web_health h = {
		    .now_mono_ns = src->now_mono_ns,
		    .drain_mono_ns = src->cap ? saker_capture_last_drain_ns(src->cap) : 0,
		};

		snprintf(h.problem, sizeof(h.problem), "%s", src->problem);
		(void)saker_web_publish(o->web, &o->shown, &h);
	}
	if (snapshot) {
		/* The next one an interval later, not a burst to catch up after a stall. */
		o->next_ns += o->interval_ns;
		if (o->next_ns <= src->now_mono_ns)
			o->next_ns = src->now_mono_ns + o->interval_ns;
		if (o->output_rule && src->outputs)
			emit_alert(o, src->outputs, &o->shown, src->now_real_ns);
		if (o->fd >= 0)
			write_line(o, &o->shown, src->now_real_ns);
	}
}

int saker_observe_final(struct saker_observe *o, const struct saker_observe_src *src,
			struct saker_metrics *m)
{
	int ret = saker_observe_collect(o, src, m);

	if (o && o->fd >= 0) {
		select_shown(o, m);
		write_line(o, &o->shown, src->now_real_ns);
	}
	return ret;
}

void saker_observe_stop(struct saker_observe *o)
{
	if (!o)
		return;
	saker_web_stop(o->web);
	if (o->fd >= 0)
		close(o->fd);
	saker_metrics_free(&o->m);
	saker_metrics_free(&o->shown);
	free(o->output_file);
	free(o->version);
	free(o->cc);
	saker_ringwin_free(o->win);
	free(o);
}
