#include "output_format.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outputs.h"

static const char hexdig[] = "0123456789abcdef";

void saker_sbuf_init(struct saker_sbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void saker_sbuf_free(struct saker_sbuf *b)
{
	free(b->p);
	saker_sbuf_init(b);
}

static bool sbuf_reserve(struct saker_sbuf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (more > SIZE_MAX - b->len - 1)
		goto oom;
	need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		goto oom;
	b->p = p;
	b->cap = cap;
	return true;
oom:
	b->oom = true;
	return false;
}

void saker_sbuf_putn(struct saker_sbuf *b, const char *s, size_t n)
{
	if (!sbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void saker_sbuf_puts(struct saker_sbuf *b, const char *s)
{
	saker_sbuf_putn(b, s, strlen(s));
}

void saker_sbuf_putc(struct saker_sbuf *b, char c)
{
	saker_sbuf_putn(b, &c, 1);
}

void saker_sbuf_printf(struct saker_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *saker_sbuf_take(struct saker_sbuf *b)
{
	char *p;

	if (b->oom) {
		saker_sbuf_free(b);
		return NULL;
	}
	if (!b->p)
		saker_sbuf_putn(b, "", 0);
	p = b->p;
	if (!p) {
		saker_sbuf_free(b);
		return NULL;
	}
	saker_sbuf_init(b);
	return p;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) with its code point, or 0 if the
 * first byte does not start one.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		unsigned char d = s[i];

		if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xbf))
			return 0;
		*cp = (*cp << 6) | (d & 0x3f);
	}
	return len;
}

static void put_u4(struct saker_sbuf *b, uint32_t cp)
{
	char e[6] = {'\\',
		     'u',
		     hexdig[(cp >> 12) & 15],
		     hexdig[(cp >> 8) & 15],
		     hexdig[(cp >> 4) & 15],
		     hexdig[cp & 15]};

	saker_sbuf_putn(b, e, sizeof(e));
}

static void put_x2(struct saker_sbuf *b, unsigned char c)
{
	char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};

	saker_sbuf_putn(b, e, sizeof(e));
}

void saker_sbuf_escape(struct saker_sbuf *b, const char *str, size_t n, enum saker_esc mode)
{
	const unsigned char *s = (const unsigned char *)str;
	bool json = mode == SAKER_ESC_JSON;
	size_t i = 0, run = 0;

	/* Reserve for the common case of nothing to escape. */
	if (!sbuf_reserve(b, n))
		return;
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_seq(s + i, n - i, &cp);
		const char *esc = NULL;

		if (len > 0 && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f) &&
		    cp != 0x2028 && cp != 0x2029 &&
		    !(mode != SAKER_ESC_TEXT && (cp == '"' || cp == '\\'))) {
			i += len;
			run += len;
			continue;
		}
		/* Copy the plain run before the character to escape. */
		saker_sbuf_putn(b, (const char *)s + i - run, run);
		run = 0;
		if (len == 0) {
			if (json)
				put_u4(b, 0xfffd);
			else
				put_x2(b, s[i]);
			i++;
			continue;
		}
		switch (cp) {
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = json ? "\\b" : NULL;
			break;
		case '\f':
			esc = json ? "\\f" : NULL;
			break;
		default:
			break;
		}
		if (esc)
			saker_sbuf_puts(b, esc);
		else if (json || cp > 0x7f)
			put_u4(b, cp);
		else
			put_x2(b, (unsigned char)cp);
		i += len;
	}
	saker_sbuf_putn(b, (const char *)s + i - run, run);
}

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
