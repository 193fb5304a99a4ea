/* Small tools of the rules engine: string vectors, buffers, the name index, positions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "rules/rules_int.h"

/* ---- small helpers ------------------------------------------------------ */

int rl_strv_push(struct strv *s, const char *str)
{
	char *d;

	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 8;
		char **nv = realloc(s->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	d = strdup(str);
	if (!d)
		return -ENOMEM;
	s->v[s->n++] = d;
	return 0;
}

void rl_strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

bool rl_strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

void rl_buf_putn(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->len + n + 1)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void rl_buf_puts(struct buf *b, const char *s)
{
	rl_buf_putn(b, s, strlen(s));
}

/* A value as a double-quoted condition string. */
void rl_buf_quote(struct buf *b, const char *s)
{
	rl_buf_putn(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			rl_buf_putn(b, "\\", 1);
		rl_buf_putn(b, s, 1);
	}
	rl_buf_putn(b, "\"", 1);
}

long rl_nidx_get(const struct nidx *x, const char *key)
{
	uint64_t h;

	if (!x->cap)
		return -1;
	h = saker_hash_fnv1a_str(key);
	for (size_t j = h & (x->cap - 1); x->e[j].key; j = (j + 1) & (x->cap - 1))
		if (x->e[j].h == h && !strcmp(x->e[j].key, key))
			return x->e[j].idx;
	return -1;
}

/* Inserts key, or points an existing entry of the same name at key (a renewed string). */
int rl_nidx_put(struct nidx *x, const char *key, uint32_t idx)
{
	uint64_t h = saker_hash_fnv1a_str(key);
	size_t j;

	if (2 * (x->n + 1) > x->cap) {
		struct nidx bigger = {.cap = x->cap ? 2 * x->cap : 64};

		bigger.e = calloc(bigger.cap, sizeof(*bigger.e));
		if (!bigger.e)
			return -ENOMEM;
		for (size_t i = 0; i < x->cap; i++) {
			if (!x->e[i].key)
				continue;
			for (j = x->e[i].h & (bigger.cap - 1); bigger.e[j].key;
			     j = (j + 1) & (bigger.cap - 1))
				;
			bigger.e[j] = x->e[i];
		}
		bigger.n = x->n;
		free(x->e);
		*x = bigger;
	}
	for (j = h & (x->cap - 1); x->e[j].key; j = (j + 1) & (x->cap - 1))
		if (x->e[j].h == h && !strcmp(x->e[j].key, key)) {
			x->e[j].key = key;
			x->e[j].idx = idx;
			return 0;
		}
	x->e[j] = (struct nent){h, key, idx};
	x->n++;
	return 0;
}

void rl_nidx_free(struct nidx *x)
{
	free(x->e);
	memset(x, 0, sizeof(*x));
}

/* Room for one more element in an array grown by doubling. */
int rl_grow(void **v, size_t n, size_t *cap, size_t size)
{
	void *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : 16;
	nv = realloc(*v, nc * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

/* ---- positions ------------------------------------------------------------ */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The line and column (1-based) of offset off of a condition: the k-th
 * non-blank character of its segment is the k-th non-blank character of the
 * scalar in the file (folding, block indentation and quoting change blanks
 * only; a quoted scalar's escapes shift the column by their length).
 */
static void seg_where(const struct saker_rules *r, const struct seg *s, const char *text,
		      size_t off, size_t *line, size_t *col)
{
	const struct sfile *f = &r->files[s->file];
	size_t k = 0, i = s->idx, l = s->line, c = s->col;

	*line = l + 1;
	*col = c + 1;
	if (s->generated || s->idx >= f->len)
		return;
	for (size_t j = s->start; j < off && text[j]; j++)
		if (!blank(text[j]))
			k++;
	/* skip the block header line, or the opening quote */
	if (s->style == YAML_LITERAL_SCALAR_STYLE || s->style == YAML_FOLDED_SCALAR_STYLE) {
		while (i < f->len && f->buf[i] != '\n')
			i++, c++;
	} else if (s->style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		   s->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
		i++, c++;
	}
	for (; i < f->len && i < s->end; i++) {
		char ch = f->buf[i];

		if (ch == '\n') {
			l++;
			c = 0;
			continue;
		}
		if (!blank(ch)) {
			if (k == 0)
				break;
			k--;
			if (s->style == YAML_SINGLE_QUOTED_SCALAR_STYLE && ch == '\'' &&
			    i + 1 < f->len && f->buf[i + 1] == '\'')
				i++, c++;
			else if (s->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE && ch == '\\' &&
				 i + 1 < f->len)
				i++, c++;
		}
		c++;
	}
	*line = l + 1;
	*col = c + 1;
}

/* "file:line:col" of offset off in a text made of segs. */
void rl_where(const struct saker_rules *r, const struct segs *segs, const char *text, size_t off,
	      char *out, size_t outlen)
{
	const struct seg *s = NULL;
	size_t line, col;

	for (size_t i = 0; i < segs->n; i++)
		if (segs->v[i].start <= off)
			s = &segs->v[i];
	if (!s) {
		snprintf(out, outlen, "<rules>");
		return;
	}
	seg_where(r, s, text, off, &line, &col);
	snprintf(out, outlen, "%s:%zu:%zu", r->files[s->file].name, line, col);
}

void rl_pos_str(const struct saker_rules *r, const struct pos *p, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:%zu:%zu", p->file >= 0 ? r->files[p->file].name : "<rules>",
		 p->line, p->col);
}
