#include "lib/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Copied strings live in chunks freed together with the collection. */
struct saker_metrics_chunk {
	struct saker_metrics_chunk *next;
	size_t used, cap;
	char data[];
};

#define CHUNK_BYTES 4096

void saker_metrics_init(struct saker_metrics *m)
{
	memset(m, 0, sizeof(*m));
}

void saker_metrics_free(struct saker_metrics *m)
{
	struct saker_metrics_chunk *c, *next;

	if (!m)
		return;
	for (c = m->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(m->v);
	saker_metrics_init(m);
}

void saker_metrics_reset(struct saker_metrics *m)
{
	saker_metrics_free(m);
}

void saker_metrics_move(struct saker_metrics *dst, struct saker_metrics *src)
{
	saker_metrics_free(dst);
	*dst = *src;
	saker_metrics_init(src);
}

static const char *intern(struct saker_metrics *m, const char *s)
{
	size_t len = strlen(s) + 1;
	struct saker_metrics_chunk *c = m->chunks;
	char *p;

	if (!c || c->cap - c->used < len) {
		size_t cap = len > CHUNK_BYTES ? len : CHUNK_BYTES;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = m->chunks;
		m->chunks = c;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	c->used += len;
	return p;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, without ':' for labels. */
static bool valid_name(const char *s, bool label)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (!label && c == ':');

		if (!alpha && (p == s || c < '0' || c > '9'))
			return false;
	}
	return !(label && s[0] == '_' && s[1] == '_'); /* __ is reserved */
}

static const struct saker_metric *family(const struct saker_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}

static int add(struct saker_metrics *m, const char *name, const char *help,
	       enum saker_metric_type type, unsigned flags, bool is_float, uint64_t u, double d,
	       const struct saker_metric_label *labels, size_t n_labels)
{
	const struct saker_metric *fam;
	struct saker_metric s = {
	    .type = type,
	    .flags = flags,
	    .is_float = is_float,
	    .u64 = u,
	    .f64 = d,
	    .n_labels = n_labels,
	};

	if (!valid_name(name, false) || n_labels > SAKER_METRIC_MAX_LABELS ||
	    (type != SAKER_METRIC_COUNTER && type != SAKER_METRIC_GAUGE))
		return -EINVAL;
	for (size_t i = 0; i < n_labels; i++)
		if (!valid_name(labels[i].name, true) || !labels[i].value)
			return -EINVAL;
	fam = family(m, name);
	if (fam && fam->type != type)
		return -EINVAL;
	/* A family's name and help are shared by its samples (taken before v moves). */
	s.name = fam ? fam->name : intern(m, name);
	s.help = fam ? fam->help : intern(m, help ? help : "");
	if (!s.name || !s.help)
		goto oom;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct saker_metric *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			goto oom;
		m->v = v;
		m->cap = cap;
	}
	for (size_t i = 0; i < n_labels; i++) {
		s.labels[i].name = intern(m, labels[i].name);
		s.labels[i].value = intern(m, labels[i].value);
		if (!s.labels[i].name || !s.labels[i].value)
			goto oom;
	}
	m->v[m->n++] = s;
	return 0;
oom:
	m->oom = true;
	return -ENOMEM;
}

int saker_metrics_add_u64(struct saker_metrics *m, const char *name, const char *help,
			  enum saker_metric_type type, unsigned flags, uint64_t value,
			  const struct saker_metric_label *labels, size_t n_labels)
{
	return add(m, name, help, type, flags, false, value, 0, labels, n_labels);
}

int saker_metrics_add_f64(struct saker_metrics *m, const char *name, const char *help,
			  enum saker_metric_type type, unsigned flags, double value,
			  const struct saker_metric_label *labels, size_t n_labels)
{
	return add(m, name, help, type, flags, true, 0, value, labels, n_labels);
}

int saker_metrics_add_copy(struct saker_metrics *m, const struct saker_metric *s)
{
	return add(m, s->name, s->help, s->type, s->flags, s->is_float, s->u64, s->f64, s->labels,
		   s->n_labels);
}

static bool has_label(const struct saker_metric *s, const struct saker_metric_label *l)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].name, l->name) == 0)
			return strcmp(s->labels[i].value, l->value) == 0;
	return false;
}

const struct saker_metric *saker_metrics_find(const struct saker_metrics *m, const char *name,
					      const struct saker_metric_label *labels,
					      size_t n_labels)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const struct saker_metric *s = &m->v[i];
		bool match = s->n_labels == n_labels && strcmp(s->name, name) == 0;

		for (size_t j = 0; match && j < n_labels; j++)
			match = has_label(s, &labels[j]);
		if (match)
			return s;
	}
	return NULL;
}

double saker_metric_value(const struct saker_metric *s)
{
	return s->is_float ? s->f64 : (double)s->u64;
}

double saker_metrics_sum(const struct saker_metrics *m, const char *name)
{
	double sum = 0;

	for (size_t i = 0; m && i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			sum += saker_metric_value(&m->v[i]);
	return sum;
}

static void put_value(struct saker_sbuf *b, const struct saker_metric *s)
{
	if (!s->is_float) {
		saker_sbuf_printf(b, "%llu", (unsigned long long)s->u64);
		return;
	}
	if (isnan(s->f64))
		saker_sbuf_puts(b, "NaN");
	else if (isinf(s->f64))
		saker_sbuf_puts(b, s->f64 > 0 ? "+Inf" : "-Inf");
	else
		saker_sbuf_printf(b, "%.17g", s->f64);
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void put_escaped(struct saker_sbuf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			saker_sbuf_puts(b, "\\\\");
		else if (*s == '\n')
			saker_sbuf_puts(b, "\\n");
		else if (quote && *s == '"')
			saker_sbuf_puts(b, "\\\"");
		else
			saker_sbuf_putc(b, *s);
	}
}

static void put_labels(struct saker_sbuf *b, const struct saker_metric *s)
{
	if (!s->n_labels)
		return;
	saker_sbuf_putc(b, '{');
	for (size_t i = 0; i < s->n_labels; i++) {
		if (i)
			saker_sbuf_putc(b, ',');
		saker_sbuf_puts(b, s->labels[i].name);
		saker_sbuf_puts(b, "=\"");
		put_escaped(b, s->labels[i].value, true);
		saker_sbuf_putc(b, '"');
	}
	saker_sbuf_putc(b, '}');
}

int saker_metrics_render_prometheus(const struct saker_metrics *m, struct saker_sbuf *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct saker_metric *f = &m->v[i];
		bool first = true;

		/* Only the first sample of a family opens it; later ones were printed with it. */
		for (size_t k = 0; k < i && first; k++)
			first = m->v[k].name != f->name;
		if (!first)
			continue;
		saker_sbuf_printf(out, "# HELP %s%s ", SAKER_METRICS_PREFIX, f->name);
		put_escaped(out, f->help, false);
		saker_sbuf_printf(out, "\n# TYPE %s%s %s\n", SAKER_METRICS_PREFIX, f->name,
				  f->type == SAKER_METRIC_COUNTER ? "counter" : "gauge");
		for (size_t j = i; j < m->n; j++) {
			const struct saker_metric *s = &m->v[j];

			if (s->name != f->name)
				continue;
			saker_sbuf_printf(out, "%s%s", SAKER_METRICS_PREFIX, s->name);
			put_labels(out, s);
			saker_sbuf_putc(out, ' ');
			put_value(out, s);
			saker_sbuf_putc(out, '\n');
		}
	}
	return out->oom ? -ENOMEM : 0;
}

int saker_metrics_render_json(const struct saker_metrics *m, struct saker_sbuf *out)
{
	saker_sbuf_putc(out, '{');
	for (size_t i = 0; i < m->n; i++) {
		const struct saker_metric *s = &m->v[i];
		struct saker_sbuf key;

		saker_sbuf_init(&key);
		saker_sbuf_puts(&key, s->name);
		put_labels(&key, s);
		if (i)
			saker_sbuf_putc(out, ',');
		saker_sbuf_putc(out, '"');
		saker_sbuf_escape(out, key.p ? key.p : "", key.len, SAKER_ESC_JSON);
		saker_sbuf_puts(out, "\":");
		if (key.oom)
			out->oom = true;
		saker_sbuf_free(&key);
		if (s->is_float && !isfinite(s->f64))
			saker_sbuf_puts(out, "null"); /* JSON has no NaN or infinity */
		else
			put_value(out, s);
	}
	saker_sbuf_putc(out, '}');
	return out->oom ? -ENOMEM : 0;
}
