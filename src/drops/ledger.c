#include "drops/ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/safefile.h"

struct saker_ledger {
	char *path;
	int fd;
	struct saker_sbuf line;
	struct saker_ledger_stats st;
};

int saker_ledger_open(struct saker_ledger **out, const char *path, char *err, size_t errlen)
{
	struct saker_ledger *l;
	int fd;

	*out = NULL;
	fd = saker_safefile_open_append(path, err, errlen);
	if (fd < 0)
		return fd;
	l = calloc(1, sizeof(*l));
	if (l)
		l->path = strdup(path);
	if (!l || !l->path) {
		free(l);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->fd = fd;
	saker_sbuf_init(&l->line);
	*out = l;
	return 0;
}

int saker_ledger_reopen(struct saker_ledger *l, char *err, size_t errlen)
{
	int fd;

	if (!l)
		return 0;
	fd = saker_safefile_open_append(l->path, err, errlen);
	if (fd < 0)
		return fd;
	close(l->fd);
	l->fd = fd;
	l->st.reopens++;
	return 0;
}

void saker_ledger_close(struct saker_ledger *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	saker_sbuf_free(&l->line);
	free(l->path);
	free(l);
}

static void put_json_str(struct saker_sbuf *b, const char *s)
{
	saker_sbuf_putc(b, '"');
	saker_sbuf_escape(b, s, strlen(s), SAKER_ESC_JSON);
	saker_sbuf_putc(b, '"');
}

static void put_time(struct saker_sbuf *b, const char *key, uint64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000ull);
	char ts[64];
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm))
		ts[0] = '\0';
	saker_sbuf_printf(b, ",\"%s\":\"%s.%09uZ\"", key, ts, (unsigned)(real_ns % 1000000000ull));
}

void saker_ledger_put_window(struct saker_sbuf *b, const char *prefix,
			     const struct saker_ledger_window *w)
{
	char key[64];

	saker_sbuf_printf(b, ",\"%sstart_boot_ns\":%" PRIu64 ",\"%send_boot_ns\":%" PRIu64, prefix,
			  w->start_boot_ns, prefix, w->end_boot_ns);
	snprintf(key, sizeof(key), "%sstart", prefix);
	put_time(b, key, w->start_real_ns);
	snprintf(key, sizeof(key), "%send", prefix);
	put_time(b, key, w->end_real_ns);
	saker_sbuf_printf(b, ",\"%sseconds\":%.3f", prefix,
			  w->end_boot_ns >= w->start_boot_ns
			      ? (double)(w->end_boot_ns - w->start_boot_ns) / 1e9
			      : 0.0);
}

static void put_str_or_null(struct saker_sbuf *b, const char *key, const char *v)
{
	saker_sbuf_printf(b, ",\"%s\":", key);
	if (v && v[0])
		put_json_str(b, v);
	else
		saker_sbuf_puts(b, "null");
}

static void put_proc(struct saker_sbuf *b, const struct saker_attrib_proc *p, bool lost_known)
{
	saker_sbuf_printf(b, "{\"pid\":%" PRIu32 ",\"comm\":", p->pid);
	if (p->comm[0])
		put_json_str(b, p->comm);
	else
		saker_sbuf_puts(b, "null");
	saker_sbuf_puts(b, ",\"exe\":");
	if (p->exe[0])
		put_json_str(b, p->exe);
	else
		saker_sbuf_puts(b, "null");
	saker_sbuf_puts(b, ",\"uid\":");
	if (p->uid == SAKER_UID_UNSET)
		saker_sbuf_puts(b, "null");
	else
		saker_sbuf_printf(b, "%" PRIu32, p->uid);
	saker_sbuf_printf(
	    b, ",\"start_boot_ns\":%" PRIu64 ",\"received\":%" PRIu64 ",\"produced\":%" PRIu64,
	    p->start_ns, p->received, p->produced);
	/* Unknown is not zero: without the kernel's counts there is no per-process loss. */
	if (lost_known)
		saker_sbuf_printf(b, ",\"lost\":%" PRIu64 ",\"demoted\":%" PRIu64, p->lost,
				  p->demoted);
	put_str_or_null(b, "container_id", p->container_id);
	put_str_or_null(b, "container_name", p->container_name);
	put_str_or_null(b, "pod_name", p->pod_name);
	put_str_or_null(b, "pod_namespace", p->pod_ns);
	saker_sbuf_putc(b, '}');
}

static void put_container(struct saker_sbuf *b, const struct saker_attrib_container *c,
			  bool lost_known)
{
	saker_sbuf_puts(b, "{\"id\":");
	put_json_str(b, c->id[0] ? c->id : "unknown");
	put_str_or_null(b, "name", c->name);
	put_str_or_null(b, "pod_name", c->pod_name);
	put_str_or_null(b, "pod_namespace", c->pod_ns);
	saker_sbuf_printf(b, ",\"processes\":%" PRIu64 ",\"received\":%" PRIu64, c->processes,
			  c->received);
	if (lost_known)
		saker_sbuf_printf(b, ",\"lost\":%" PRIu64 ",\"demoted\":%" PRIu64, c->lost,
				  c->demoted);
	saker_sbuf_putc(b, '}');
}

void saker_ledger_put_loss(struct saker_sbuf *b, const struct saker_loss *loss)
{
	saker_sbuf_printf(b, ",\"lost\":%" PRIu64 ",\"lost_by_cause\":{", loss->total);
	for (int c = 0; c < SAKER_LOSS_CAUSE_MAX; c++)
		saker_sbuf_printf(b, "%s\"%s\":%" PRIu64, c ? "," : "",
				  saker_loss_cause_name((enum saker_loss_cause)c), loss->cause[c]);
	saker_sbuf_puts(b, "},\"lost_by_lane\":{");
	for (int l = 0; l < SAKER_LANE_MAX; l++)
		saker_sbuf_printf(b, "%s\"%s\":%" PRIu64, l ? "," : "",
				  saker_loss_lane_name((enum saker_lane)l), loss->lane[l]);
	saker_sbuf_puts(b, "},\"lost_by_category\":{");
	for (int c = 0; c < SAKER_CAT_MAX; c++)
		saker_sbuf_printf(b, "%s\"%s\":%" PRIu64, c ? "," : "",
				  saker_loss_category_name((enum saker_category)c),
				  loss->category[c]);
	saker_sbuf_putc(b, '}');
}

void saker_ledger_put_attrib(struct saker_sbuf *b, const struct saker_attrib_window *a)
{
	saker_sbuf_printf(b, ",\"demoted\":%" PRIu64, a ? a->demoted : 0);
	saker_sbuf_printf(b, ",\"attribution\":\"%s\"",
			  !a		  ? "none"
			  : a->lost_known ? "kernel"
					  : "produced_only");
	saker_sbuf_printf(b, ",\"processes\":%zu,\"top\":[", a ? a->n_procs : (size_t)0);
	for (size_t i = 0; a && i < a->n_top; i++) {
		if (i)
			saker_sbuf_putc(b, ',');
		put_proc(b, &a->top[i], a->lost_known);
	}
	saker_sbuf_puts(b, "],\"top_containers\":[");
	for (size_t i = 0; a && i < a->n_top_containers; i++) {
		if (i)
			saker_sbuf_putc(b, ',');
		put_container(b, &a->top_containers[i], a->lost_known);
	}
	saker_sbuf_putc(b, ']');
}

void saker_ledger_format(struct saker_sbuf *b, const struct saker_ledger_record *r)
{
	const struct saker_attrib_window *a = r->attrib;
	static const struct saker_loss none;
	const struct saker_loss *loss = r->loss ? r->loss : &none;

	saker_sbuf_printf(b, "{\"type\":\"%s\"", r->kind == SAKER_LEDGER_END ? "loss_end" : "loss");
	saker_ledger_put_window(b, "", &r->win);
	saker_sbuf_printf(b, ",\"seen\":%" PRIu64 ",\"delivered\":%" PRIu64, r->seen, r->delivered);
	if (r->kind == SAKER_LEDGER_END) {
		saker_sbuf_printf(b, ",\"lost\":%" PRIu64, loss->total);
		saker_ledger_put_window(b, "episode_", &r->episode);
		saker_sbuf_printf(b,
				  ",\"episode_windows\":%" PRIu64 ",\"episode_seen\":%" PRIu64
				  ",\"episode_lost\":%" PRIu64 "}",
				  r->episode_windows, r->episode_seen, r->episode_lost);
		return;
	}
	saker_ledger_put_loss(b, loss);
	saker_sbuf_printf(b, ",\"simulated\":%" PRIu64, r->simulated);
	saker_ledger_put_attrib(b, a);
	saker_sbuf_printf(b, ",\"fired\":%s,\"suppressed\":%s,\"resync\":%s}",
			  r->fired ? "true" : "false", r->suppressed ? "true" : "false",
			  r->resync ? "true" : "false");
}

int saker_ledger_write(struct saker_ledger *l, const struct saker_ledger_record *r)
{
	ssize_t n;

	if (!l || !r)
		return 0;
	if (l->line.oom) {
		saker_sbuf_free(&l->line);
		saker_sbuf_init(&l->line);
	}
	l->line.len = 0;
	saker_ledger_format(&l->line, r);
	saker_sbuf_putc(&l->line, '\n');
	if (l->line.oom) {
		l->st.write_errors++;
		return -ENOMEM;
	}
	/* One write per line: O_APPEND keeps lines whole even with another writer. */
	do
		n = write(l->fd, l->line.p, l->line.len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)l->line.len) {
		l->st.write_errors++;
		return n < 0 ? -errno : -EIO;
	}
	l->st.lines++;
	return 0;
}

void saker_ledger_add_metrics(const struct saker_ledger *l, struct saker_metrics *m)
{
	struct saker_ledger_stats st;

	saker_ledger_get_stats(l, &st);
	(void)saker_metrics_add_u64(m, "ledger_lines_total", "Lines written to the loss ledger.",
				    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, st.lines, NULL, 0);
	(void)saker_metrics_add_u64(
	    m, "ledger_write_errors_total", "Loss ledger lines that could not be written.",
	    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, st.write_errors, NULL, 0);
	(void)saker_metrics_add_u64(m, "ledger_reopens_total", "Loss ledger reopens (SIGUSR1).",
				    SAKER_METRIC_COUNTER, SAKER_METRIC_F_DETAIL, st.reopens, NULL,
				    0);
}

void saker_ledger_get_stats(const struct saker_ledger *l, struct saker_ledger_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (l)
		*st = l->st;
}
