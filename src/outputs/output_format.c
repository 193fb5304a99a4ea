#include "outputs/output_format.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_esc(struct saker_sbuf *b, const char *s, enum saker_esc mode)
{
	saker_sbuf_escape(b, s, strlen(s), mode);
}

static void put_json_str(struct saker_sbuf *b, const char *s)
{
	if (!s) {
		saker_sbuf_puts(b, "null");
		return;
	}
	saker_sbuf_putc(b, '"');
	put_esc(b, s, SAKER_ESC_JSON);
	saker_sbuf_putc(b, '"');
}

static int field_cmp(const void *pa, const void *pb)
{
	const struct saker_field *a = *(const struct saker_field *const *)pa;
	const struct saker_field *b = *(const struct saker_field *const *)pb;
	int c = strcmp(a->name, b->name);

	/* The fields sit in one array: address order keeps the sort stable. */
	if (c == 0)
		c = (a > b) - (a < b);
	return c;
}

/*
 * Fields in name order, without nameless ones and without later duplicates
 * of a name (a JSON object must not repeat keys). *out is NULL when there is
 * nothing to print; returns -1 on allocation failure.
 */
static int sorted_fields(const struct saker_alert *a, const struct saker_field ***out,
			 size_t *n_out)
{
	const struct saker_field **v;
	size_t n = 0, k = 0;

	*out = NULL;
	*n_out = 0;
	if (!a->fields || a->n_fields == 0)
		return 0;
	v = calloc(a->n_fields, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < a->n_fields; i++)
		if (a->fields[i].name)
			v[n++] = &a->fields[i];
	qsort(v, n, sizeof(*v), field_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || strcmp(v[k - 1]->name, v[i]->name) != 0)
			v[k++] = v[i];
	if (k == 0) {
		free(v);
		return 0;
	}
	*out = v;
	*n_out = k;
	return 0;
}

static bool is_internal(const struct saker_alert *a)
{
	return a->source && strcmp(a->source, "internal") == 0;
}

static void split_time(uint64_t time_ns, time_t *sec, unsigned *nsec)
{
	*sec = (time_t)(time_ns / 1000000000ULL);
	*nsec = (unsigned)(time_ns % 1000000000ULL);
}

/* Numbers and booleans print the same in text and JSON; false for strings. */
static bool put_scalar(struct saker_sbuf *b, const struct saker_field *f)
{
	switch (f->type) {
	case SAKER_FIELD_U64:
		saker_sbuf_printf(b, "%" PRIu64, f->u64);
		return true;
	case SAKER_FIELD_S64:
		saker_sbuf_printf(b, "%" PRId64, f->s64);
		return true;
	case SAKER_FIELD_BOOL:
		saker_sbuf_puts(b, f->b ? "true" : "false");
		return true;
	case SAKER_FIELD_STR:
	default:
		return false;
	}
}

char *saker_alert_format_text(const struct saker_alert *a, bool iso8601)
{
	const struct saker_field **fv = NULL;
	struct saker_sbuf b;
	char ts[64];
	unsigned nsec;
	size_t nf = 0;
	struct tm tm;
	time_t sec;

	if (!a)
		return NULL;
	saker_sbuf_init(&b);
	split_time(a->time_ns, &sec, &nsec);
	if (iso8601) {
		if (!gmtime_r(&sec, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm))
			ts[0] = '\0';
		saker_sbuf_printf(&b, "%s.%09u+0000: ", ts, nsec);
	} else {
		if (!localtime_r(&sec, &tm) || !strftime(ts, sizeof(ts), "%H:%M:%S", &tm))
			ts[0] = '\0';
		saker_sbuf_printf(&b, "%s.%09u: ", ts, nsec);
	}
	saker_sbuf_puts(&b, saker_prio_name(a->priority));
	saker_sbuf_putc(&b, ' ');
	put_esc(&b, a->output ? a->output : "", SAKER_ESC_TEXT);

	if (is_internal(a)) {
		if (sorted_fields(a, &fv, &nf) < 0)
			goto oom;
		for (size_t i = 0; i < nf; i++) {
			const struct saker_field *f = fv[i];

			saker_sbuf_puts(&b, i == 0 ? " (" : " ");
			put_esc(&b, f->name, SAKER_ESC_TEXT);
			saker_sbuf_putc(&b, '=');
			if (put_scalar(&b, f))
				continue;
			if (!f->str) {
				saker_sbuf_puts(&b, "<NA>");
				continue;
			}
			saker_sbuf_putc(&b, '"');
			put_esc(&b, f->str, SAKER_ESC_TEXT_QUOTED);
			saker_sbuf_putc(&b, '"');
		}
		if (nf > 0)
			saker_sbuf_putc(&b, ')');
		free(fv);
	}
	return saker_sbuf_take(&b);
oom:
	saker_sbuf_free(&b);
	return NULL;
}

char *saker_alert_format_json(const struct saker_alert *a, const char *hostname,
			      bool include_output, bool include_tags)
{
	const struct saker_field **fv = NULL;
	struct saker_sbuf b;
	char ts[64];
	unsigned nsec;
	size_t nf = 0;
	struct tm tm;
	time_t sec;

	if (!a)
		return NULL;
	if (sorted_fields(a, &fv, &nf) < 0)
		return NULL;
	saker_sbuf_init(&b);

	saker_sbuf_puts(&b, "{\"hostname\":");
	put_json_str(&b, hostname ? hostname : "");
	if (include_output) {
		saker_sbuf_puts(&b, ",\"output\":");
		put_json_str(&b, a->output ? a->output : "");
	}
	saker_sbuf_puts(&b, ",\"output_fields\":{");
	for (size_t i = 0; i < nf; i++) {
		const struct saker_field *f = fv[i];

		if (i > 0)
			saker_sbuf_putc(&b, ',');
		put_json_str(&b, f->name);
		saker_sbuf_putc(&b, ':');
		if (!put_scalar(&b, f))
			put_json_str(&b, f->str);
	}
	free(fv);
	saker_sbuf_puts(&b, "},\"priority\":");
	put_json_str(&b, saker_prio_name(a->priority));
	saker_sbuf_puts(&b, ",\"rule\":");
	put_json_str(&b, a->rule ? a->rule : "");
	saker_sbuf_puts(&b, ",\"source\":");
	put_json_str(&b, a->source ? a->source : "");
	if (include_tags && !is_internal(a)) {
		saker_sbuf_puts(&b, ",\"tags\":[");
		for (size_t i = 0, k = 0; a->tags && i < a->n_tags; i++) {
			if (!a->tags[i])
				continue;
			if (k++ > 0)
				saker_sbuf_putc(&b, ',');
			put_json_str(&b, a->tags[i]);
		}
		saker_sbuf_putc(&b, ']');
	}
	split_time(a->time_ns, &sec, &nsec);
	if (!gmtime_r(&sec, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm))
		ts[0] = '\0';
	saker_sbuf_printf(&b, ",\"time\":\"%s.%09uZ\"}", ts, nsec);
	return saker_sbuf_take(&b);
}
