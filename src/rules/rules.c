#include "rules/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "event/event.h"
#include "lib/hash.h"
#include "lib/readfile.h"
#include "lib/yamlguard.h"
#include "rules/fields.h"
#include "rules/filter.h"
#include "state/view.h"

/* Bounds on what a rules file may make the loader do. */
#define MAX_NESTING	 64
#define MAX_FILE_BYTES	 (64u << 20)
#define MAX_LIST_DEPTH	 64
#define MAX_LIST_ITEMS	 (1u << 20) /* flattened: lists naming lists twice grow exponentially */
#define MAX_OUTPUT_BYTES 16384
#define MAX_ALERT_FIELDS 64

/* ---- small helpers ------------------------------------------------------ */

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *s, const char *str)
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

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static bool strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

/* A growable string for building conditions. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_putn(struct buf *b, const char *s, size_t n)
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

static void buf_puts(struct buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

/* A value as a double-quoted condition string. */
static void buf_quote(struct buf *b, const char *s)
{
	buf_putn(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putn(b, "\\", 1);
		buf_putn(b, s, 1);
	}
	buf_putn(b, "\"", 1);
}

/* Names -> index, so that files with many items load in linear time. */
struct nidx {
	struct nent {
		uint64_t h;
		const char *key; /* the item's own name string */
		uint32_t idx;
	} * e;
	size_t cap, n;
};

static long nidx_get(const struct nidx *x, const char *key)
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
static int nidx_put(struct nidx *x, const char *key, uint32_t idx)
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

static void nidx_free(struct nidx *x)
{
	free(x->e);
	memset(x, 0, sizeof(*x));
}

/* Room for one more element in an array grown by doubling. */
static int grow(void **v, size_t n, size_t *cap, size_t size)
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

/* ---- items -------------------------------------------------------------- */

struct sfile {
	char *name;
	char *buf;
	size_t len;
};

/* Where a stretch of a condition came from: a YAML scalar in a file. */
struct seg {
	size_t start;	       /* offset in the item's combined text */
	int file;	       /* index in r->files */
	size_t idx, line, col; /* the scalar's start mark */
	size_t end;	       /* its end mark's index */
	int style;	       /* yaml_scalar_style_t */
	bool generated;	       /* built by saker (exceptions): report the mark itself */
};

struct segs {
	struct seg *v;
	size_t n;
};

struct pos {
	int file;
	size_t line, col;
};

struct list_item {
	char *name;
	struct strv items;
	struct pos pos;
	/* flattened at compile */
	const char **flat;
	size_t nflat;
	int state; /* 0 = not yet, 1 = in progress, 2 = done */
};

struct macro_item {
	char *name;
	struct buf cond;
	struct segs segs;
	struct pos pos;
	struct saker_ast *ast;
};

struct exception {
	char *name;
	bool single; /* fields is one name, values a list of values */
	struct strv fields, comps;
	/* values: rows of n fields; each cell is a list of strings (one unless a sequence) */
	struct cell {
		struct strv v;
		bool seq;
	} * cells;
	size_t nrows;
	size_t ncells; /* cells holding strings (a row that failed half-way included) */
	struct pos pos;
};

struct rule_item {
	struct saker_rule_info info; /* the public view; strings point into the fields below */
	char *name, *desc, *output, *source;
	struct buf cond;
	struct segs segs;
	struct strv tags;
	struct exception *exc;
	size_t nexc;
	bool enabled;
	bool selected;	      /* enabled was last set by saker_rules_select() */
	bool warn_evttypes;   /* false: no warning for a missing event type */
	bool skip_if_unknown; /* skip-if-unknown-filter: skipped without a warning */
	bool quiet_skip;
	bool has_prio;
	enum saker_prio prio;
	struct pos pos;
	struct pos exc_pos;
	/* compiled */
	char *final_cond;
	struct segs final_segs;
	size_t exc_start; /* offset of the generated exception text in final_cond */
	struct saker_filter *filter;
	char *reason;
	struct otok {
		const char *lit;
		size_t litn;
		const struct saker_finst *fi;
	} * otoks;
	size_t notoks;
	const struct saker_finst **ofields; /* distinct output fields */
	size_t nofields;
	char *final_output; /* trimmed, with append_output's extra_output */
	struct xfield {
		const char *key; /* points into the append entry */
		struct otok *toks;
		size_t ntoks;
	} * xf; /* append_output's `key: value` extra_fields (JSON only) */
	size_t nxf;
	const char **tagv;
};

/* One append_output entry (Falco's semantics: every match condition given must hold). */
struct append_item {
	char *source, *rule, *extra_output;
	struct strv tags;
	struct strv fkeys; /* extra_fields: a field name, or the key of a key: value */
	char **fvals;	   /* per fkeys entry: the value's format, NULL for a field name */
};

struct saker_rules {
	struct sfile *files;
	size_t nfiles, cfiles;
	struct list_item *lists;
	size_t nlists, clists;
	struct macro_item *macros;
	size_t nmacros, cmacros;
	struct rule_item *rules;
	size_t nrules, crules;
	struct nidx list_idx, macro_idx, rule_idx, inst_idx;
	struct strv plugins_warned;
	struct append_item *appends;
	size_t nappends, cappends;
	enum saker_prio min_prio;
	bool match_all;
	char *names_root;
	uint64_t boot_offset;
	bool boot_offset_set;
	bool compiled;
	/* field instances, interned */
	struct saker_finst **inst;
	size_t ninst, cinst;
	/* index: per slot, the loaded rules to test */
	uint32_t *slot_rules[SAKER_NSLOTS];
	uint32_t slot_n[SAKER_NSLOTS];
	size_t slot_cap[SAKER_NSLOTS];
	size_t nloaded;
	bool any_catchall;
	uint64_t events, evals, matches;
	struct saker_fctx *fctx;
	/* alert scratch */
	char *out_buf;
	char *val_buf;
	/* output fields, extra key: value fields, view_degraded */
	struct saker_field afields[2 * MAX_ALERT_FIELDS + 1];
};

int saker_rules_new(struct saker_rules **out)
{
	struct saker_rules *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->min_prio = SAKER_PRIO_DEBUG;
	*out = r;
	return 0;
}

static void segs_free(struct segs *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void exc_free(struct exception *e)
{
	for (size_t i = 0; i < e->ncells; i++)
		strv_free(&e->cells[i].v);
	free(e->name);
	strv_free(&e->fields);
	strv_free(&e->comps);
	free(e->cells);
	memset(e, 0, sizeof(*e));
}

static void rule_clear(struct rule_item *ri)
{
	free(ri->name);
	free(ri->desc);
	free(ri->output);
	free(ri->source);
	free(ri->cond.p);
	segs_free(&ri->segs);
	strv_free(&ri->tags);
	for (size_t i = 0; i < ri->nexc; i++)
		exc_free(&ri->exc[i]);
	free(ri->exc);
	free(ri->final_cond);
	segs_free(&ri->final_segs);
	saker_filter_free(ri->filter);
	free(ri->reason);
	free(ri->otoks);
	free(ri->ofields);
	free(ri->final_output);
	for (size_t i = 0; i < ri->nxf; i++)
		free(ri->xf[i].toks);
	free(ri->xf);
	free(ri->tagv);
	memset(ri, 0, sizeof(*ri));
}

void saker_rules_free(struct saker_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].name);
		free(r->files[i].buf);
	}
	free(r->files);
	for (size_t i = 0; i < r->nlists; i++) {
		free(r->lists[i].name);
		strv_free(&r->lists[i].items);
		free(r->lists[i].flat);
	}
	free(r->lists);
	for (size_t i = 0; i < r->nmacros; i++) {
		free(r->macros[i].name);
		free(r->macros[i].cond.p);
		segs_free(&r->macros[i].segs);
		saker_ast_free(r->macros[i].ast);
	}
	free(r->macros);
	for (size_t i = 0; i < r->nrules; i++)
		rule_clear(&r->rules[i]);
	free(r->rules);
	strv_free(&r->plugins_warned);
	for (size_t i = 0; i < r->nappends; i++) {
		struct append_item *a = &r->appends[i];

		free(a->source);
		free(a->rule);
		free(a->extra_output);
		strv_free(&a->tags);
		for (size_t j = 0; j < a->fkeys.n; j++)
			free(a->fvals[j]);
		free(a->fvals);
		strv_free(&a->fkeys);
	}
	free(r->appends);
	nidx_free(&r->list_idx);
	nidx_free(&r->macro_idx);
	nidx_free(&r->rule_idx);
	nidx_free(&r->inst_idx);
	for (size_t i = 0; i < r->ninst; i++) {
		saker_finst_clear(r->inst[i]);
		free(r->inst[i]);
	}
	free(r->inst);
	for (size_t i = 0; i < SAKER_NSLOTS; i++)
		free(r->slot_rules[i]);
	if (r->fctx) {
		saker_fctx_destroy(r->fctx);
		free(r->fctx);
	}
	free(r->names_root);
	free(r->out_buf);
	free(r->val_buf);
	free(r);
}

void saker_rules_set_match_all(struct saker_rules *r, bool all)
{
	r->match_all = all;
}

void saker_rules_set_min_priority(struct saker_rules *r, enum saker_prio min)
{
	r->min_prio = min;
}

int saker_rules_set_names_root(struct saker_rules *r, const char *root)
{
	char *d = root ? strdup(root) : NULL;

	if (root && !d)
		return -ENOMEM;
	free(r->names_root);
	r->names_root = d;
	return 0;
}

void saker_rules_set_boot_offset(struct saker_rules *r, uint64_t ns)
{
	r->boot_offset = ns;
	r->boot_offset_set = true;
	if (r->fctx)
		r->fctx->boot_offset_ns = ns;
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
static void where(const struct saker_rules *r, const struct segs *segs, const char *text,
		  size_t off, char *out, size_t outlen)
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

static void pos_str(const struct saker_rules *r, const struct pos *p, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:%zu:%zu", p->file >= 0 ? r->files[p->file].name : "<rules>",
		 p->line, p->col);
}

/* ---- loading ---------------------------------------------------------------- */

struct lctx {
	struct saker_rules *r;
	int file;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	saker_report_fn warn;
	void *warn_ctx;
	size_t budget;
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static struct pos mark_pos(const struct lctx *c, const yaml_node_t *n)
{
	struct pos p = {c->file, n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0};

	return p;
}

__attribute__((format(printf, 3, 4))) static int lfail(struct lctx *c, const yaml_node_t *n,
						       const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		set_err(c->err, c->errlen, "%s:%zu:%zu: %s", c->r->files[c->file].name,
			n->start_mark.line + 1, n->start_mark.column + 1, msg);
	else
		set_err(c->err, c->errlen, "%s: %s", c->r->files[c->file].name, msg);
	return -EINVAL;
}

__attribute__((format(printf, 3, 4))) static void lwarn(struct lctx *c, const yaml_node_t *n,
							const char *fmt, ...)
{
	char msg[768], line[1024];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%zu:%zu: %s", c->r->files[c->file].name,
		 n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0, msg);
	c->warn(c->warn_ctx, SAKER_PRIO_WARNING, line);
}

static int spend(struct lctx *c, const yaml_node_t *n)
{
	if (c->budget == 0)
		return lfail(c, n, "aliases expand the document too much");
	c->budget--;
	return 0;
}

static yaml_node_t *node_at(struct lctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_null_node(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return !n || (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		      (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		       !strcmp(s, "NULL")));
}

static const char *kind_name(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* Value of key in a mapping node, NULL when absent. */
static yaml_node_t *map_get(struct lctx *c, const yaml_node_t *m, const char *key,
			    yaml_node_t **keynode)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key);
		const char *ks = scalar(k);

		if (ks && !strcmp(ks, key)) {
			if (keynode)
				*keynode = k;
			return node_at(c, p->value);
		}
	}
	return NULL;
}

static int get_str(struct lctx *c, const yaml_node_t *m, const char *key, const char *what,
		   bool required, const char **out, yaml_node_t **vn)
{
	yaml_node_t *v = map_get(c, m, key, NULL);

	*out = NULL;
	if (vn)
		*vn = v;
	if (!v) {
		if (required)
			return lfail(c, m, "%s has no '%s'", what, key);
		return 0;
	}
	if (spend(c, v))
		return -EINVAL;
	if (v->type != YAML_SCALAR_NODE)
		return lfail(c, v, "%s: '%s' must be a scalar, not %s", what, key, kind_name(v));
	*out = scalar(v);
	return 0;
}

static int get_bool(struct lctx *c, const yaml_node_t *v, const char *what, bool *out)
{
	const char *s = scalar(v);

	if (!s)
		return lfail(c, v, "%s must be true or false", what);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE") ||
		 !strcmp(s, "no"))
		*out = false;
	else
		return lfail(c, v, "%s must be true or false, not '%s'", what, s);
	return 0;
}

/* A sequence of scalars (or one scalar) into v. */
static int get_strings(struct lctx *c, const yaml_node_t *n, const char *what, struct strv *v)
{
	if (!n || is_null_node(n))
		return 0;
	if (spend(c, n))
		return -EINVAL;
	if (n->type == YAML_SCALAR_NODE)
		return strv_push(v, scalar(n)) ? -ENOMEM : 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return lfail(c, n, "%s must be a sequence, not %s", what, kind_name(n));
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = node_at(c, *it);

		if (spend(c, e))
			return -EINVAL;
		if (!e || e->type != YAML_SCALAR_NODE)
			return lfail(c, e ? e : n, "%s: items must be scalars, not %s", what,
				     kind_name(e));
		if (strv_push(v, scalar(e)))
			return -ENOMEM;
	}
	return 0;
}

static int segs_add(struct segs *s, size_t start, int file, const yaml_node_t *n, bool generated)
{
	struct seg *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	s->v = nv;
	s->v[s->n++] = (struct seg){
	    .start = start,
	    .file = file,
	    .idx = n->start_mark.index,
	    .line = n->start_mark.line,
	    .col = n->start_mark.column,
	    .end = n->end_mark.index,
	    .style = n->type == YAML_SCALAR_NODE ? (int)n->data.scalar.style : 0,
	    .generated = generated,
	};
	return 0;
}

/* Sets (replace) or extends (append, joined with a space) a condition. */
static int cond_set(struct lctx *c, struct buf *b, struct segs *segs, const yaml_node_t *n,
		    bool append)
{
	if (!append) {
		b->len = 0;
		if (b->p)
			b->p[0] = '\0';
		segs->n = 0;
	} else if (b->len) {
		buf_puts(b, " ");
	}
	if (segs_add(segs, b->len, c->file, n, false))
		return -ENOMEM;
	buf_puts(b, scalar(n));
	return b->oom ? -ENOMEM : 0;
}

static int set_dup(char **dst, const char *src, bool append)
{
	char *d;

	if (append && *dst && src) {
		size_t a = strlen(*dst), b = strlen(src);

		d = malloc(a + b + 2);
		if (!d)
			return -ENOMEM;
		memcpy(d, *dst, a);
		d[a] = ' ';
		memcpy(d + a + 1, src, b + 1);
	} else {
		d = src ? strdup(src) : NULL;
		if (src && !d)
			return -ENOMEM;
	}
	free(*dst);
	*dst = d;
	return 0;
}

/* The override mapping: prop -> append/replace. */
struct overrides {
	struct strv append, replace;
};

static int get_overrides(struct lctx *c, const yaml_node_t *item, const char *what,
			 const char *const *allowed_append, const char *const *allowed_replace,
			 struct overrides *o, bool *has)
{
	yaml_node_t *ov = map_get(c, item, "override", NULL),
		    *av = map_get(c, item, "append", NULL);
	bool append = false;

	*has = false;
	if (av) {
		if (get_bool(c, av, "append", &append))
			return -EINVAL;
	}
	if (ov && av)
		return lfail(c, ov, "%s: 'override' and 'append' cannot be used together", what);
	if (append) {
		*has = true;
		for (const char *const *p = allowed_append; *p; p++)
			if (map_get(c, item, *p, NULL) && strv_push(&o->append, *p))
				return -ENOMEM;
		return 0;
	}
	if (!ov)
		return 0;
	if (ov->type != YAML_MAPPING_NODE)
		return lfail(c, ov, "%s: 'override' must be a mapping of key: append|replace",
			     what);
	*has = true;
	for (yaml_node_pair_t *p = ov->data.mapping.pairs.start; p < ov->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		const char *ks = scalar(k), *vs = scalar(v);
		const char *const *allowed;
		bool ok = false;

		if (spend(c, k))
			return -EINVAL;
		if (!ks || !vs || (strcmp(vs, "append") && strcmp(vs, "replace")))
			return lfail(c, v ? v : ov, "%s: override values are append or replace",
				     what);
		allowed = !strcmp(vs, "append") ? allowed_append : allowed_replace;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, ks);
		if (!ok)
			return lfail(c, k, "%s: '%s' cannot be overridden with %s", what, ks, vs);
		if (!map_get(c, item, ks, NULL))
			return lfail(c, k, "%s: override of '%s' but the item has no '%s'", what,
				     ks, ks);
		if (strv_push(!strcmp(vs, "append") ? &o->append : &o->replace, ks))
			return -ENOMEM;
	}
	return 0;
}

static bool keys_only(struct lctx *c, const yaml_node_t *m, const char *const *keys)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *ks = scalar(node_at(c, p->key));
		bool ok = false;

		for (const char *const *k = keys; *k && ks; k++)
			ok |= !strcmp(*k, ks);
		if (!ok)
			return false;
	}
	return true;
}

static void warn_unknown_keys(struct lctx *c, const yaml_node_t *m, const char *what,
			      const char *const *keys)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key);
		const char *ks = scalar(k);
		bool ok = false;

		for (const char *const *kk = keys; *kk && ks; kk++)
			ok |= !strcmp(*kk, ks);
		if (!ok)
			lwarn(c, k, "%s: unknown key '%s' ignored", what, ks ? ks : "?");
	}
}

static struct list_item *find_list(struct saker_rules *r, const char *name)
{
	long i = nidx_get(&r->list_idx, name);

	return i < 0 ? NULL : &r->lists[i];
}

static struct macro_item *find_macro(struct saker_rules *r, const char *name)
{
	long i = nidx_get(&r->macro_idx, name);

	return i < 0 ? NULL : &r->macros[i];
}

static struct rule_item *find_rule(struct saker_rules *r, const char *name)
{
	long i = nidx_get(&r->rule_idx, name);

	return i < 0 ? NULL : &r->rules[i];
}

static int load_list(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
{
	static const char *const ap[] = {"items", NULL}, *const rp[] = {"items", NULL};
	static const char *const keys[] = {"list", "items", "append", "override", NULL};
	struct saker_rules *r = c->r;
	struct overrides o = {0};
	const char *name = scalar(namenode);
	struct list_item *li;
	yaml_node_t *items = map_get(c, item, "items", NULL);
	char what[300];
	bool has_ov;
	int err;

	snprintf(what, sizeof(what), "list '%s'", name);
	err = get_overrides(c, item, what, ap, rp, &o, &has_ov);
	if (err)
		goto out;
	if (!items) {
		err = lfail(c, item, "%s has no 'items'", what);
		goto out;
	}
	warn_unknown_keys(c, item, what, keys);
	li = find_list(r, name);
	if (has_ov && !li) {
		err = lfail(c, namenode, "%s: override or append of a list that is not defined",
			    what);
		goto out;
	}
	if (!li) {
		if (grow((void **)&r->lists, r->nlists, &r->clists, sizeof(*r->lists))) {
			err = -ENOMEM;
			goto out;
		}
		li = &r->lists[r->nlists];
		memset(li, 0, sizeof(*li));
		li->name = strdup(name);
		if (!li->name || nidx_put(&r->list_idx, li->name, (uint32_t)r->nlists)) {
			free(li->name);
			err = -ENOMEM;
			goto out;
		}
		r->nlists++;
		li->pos = mark_pos(c, namenode);
	}
	if (!has_ov || strv_has(&o.replace, "items"))
		strv_free(&li->items);
	err = get_strings(c, items, "items", &li->items);
out:
	strv_free(&o.append);
	strv_free(&o.replace);
	return err;
}

static int load_macro(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
{
	static const char *const ap[] = {"condition", NULL}, *const rp[] = {"condition", NULL};
	static const char *const keys[] = {"macro",    "condition", "append",
					   "override", "source",    NULL};
	struct saker_rules *r = c->r;
	struct overrides o = {0};
	const char *name = scalar(namenode), *cond;
	struct macro_item *m;
	yaml_node_t *cn;
	char what[300];
	bool has_ov;
	int err;

	snprintf(what, sizeof(what), "macro '%s'", name);
	err = get_overrides(c, item, what, ap, rp, &o, &has_ov);
	if (!err)
		err = get_str(c, item, "condition", what, true, &cond, &cn);
	if (err)
		goto out;
	warn_unknown_keys(c, item, what, keys);
	m = find_macro(r, name);
	if (has_ov && !m) {
		err = lfail(c, namenode, "%s: override or append of a macro that is not defined",
			    what);
		goto out;
	}
	if (!m) {
		if (grow((void **)&r->macros, r->nmacros, &r->cmacros, sizeof(*r->macros))) {
			err = -ENOMEM;
			goto out;
		}
		m = &r->macros[r->nmacros];
		memset(m, 0, sizeof(*m));
		m->name = strdup(name);
		if (!m->name || nidx_put(&r->macro_idx, m->name, (uint32_t)r->nmacros)) {
			free(m->name);
			err = -ENOMEM;
			goto out;
		}
		r->nmacros++;
		m->pos = mark_pos(c, namenode);
	}
	err = cond_set(c, &m->cond, &m->segs, cn, has_ov && strv_has(&o.append, "condition"));
out:
	strv_free(&o.append);
	strv_free(&o.replace);
	return err;
}

static int strv_copy(struct strv *dst, const struct strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (strv_push(dst, src->v[i]))
			return -ENOMEM;
	return 0;
}

/* known: the rule an override applies to; its exception of the same name lends its fields. */
static int load_exception(struct lctx *c, const yaml_node_t *n, const char *what,
			  struct exception *e, const struct rule_item *known)
{
	yaml_node_t *fn, *cn, *vn;
	const char *name;
	int err;

	if (n->type != YAML_MAPPING_NODE)
		return lfail(c, n, "%s: each exception must be a mapping", what);
	err = get_str(c, n, "name", what, true, &name, NULL);
	if (err)
		return err;
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->pos = mark_pos(c, n);
	fn = map_get(c, n, "fields", NULL);
	cn = map_get(c, n, "comps", NULL);
	vn = map_get(c, n, "values", NULL);
	if (fn) {
		e->single = fn->type == YAML_SCALAR_NODE;
		err = get_strings(c, fn, "exception fields", &e->fields);
		if (err)
			return err;
	}
	if (cn) {
		err = get_strings(c, cn, "exception comps", &e->comps);
		if (err)
			return err;
	}
	if (!fn && known) {
		for (size_t i = 0; i < known->nexc; i++) {
			const struct exception *k = &known->exc[i];

			if (strcmp(k->name, e->name))
				continue;
			e->single = k->single;
			if (strv_copy(&e->fields, &k->fields) ||
			    (!cn && strv_copy(&e->comps, &k->comps)))
				return -ENOMEM;
		}
	}
	if (e->fields.n && !e->single && e->comps.n && e->comps.n != e->fields.n)
		return lfail(c, cn, "%s: exception '%s' has %zu fields but %zu comps", what,
			     e->name, e->fields.n, e->comps.n);
	if (!vn || is_null_node(vn))
		return 0;
	if (vn->type != YAML_SEQUENCE_NODE)
		return lfail(c, vn, "%s: exception '%s': values must be a sequence", what, e->name);
	if (!e->fields.n)
		return lfail(c, vn, "%s: exception '%s' has values but no fields", what, e->name);
	{
		size_t nrows =
		    (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
		size_t width = e->single ? 1 : e->fields.n, k = 0;

		e->cells = calloc(nrows * width + 1, sizeof(*e->cells));
		if (!e->cells)
			return -ENOMEM;
		for (yaml_node_item_t *it = vn->data.sequence.items.start;
		     it < vn->data.sequence.items.top; it++) {
			yaml_node_t *row = node_at(c, *it);

			if (spend(c, row))
				return -EINVAL;
			if (e->single) {
				e->cells[k].seq = row && row->type == YAML_SEQUENCE_NODE;
				e->ncells = k + 1;
				err = get_strings(c, row, "exception value", &e->cells[k].v);
				if (err)
					return err;
				k++;
				e->nrows++;
				continue;
			}
			if (!row || row->type != YAML_SEQUENCE_NODE)
				return lfail(
				    c, row ? row : vn,
				    "%s: exception '%s': each value must be a sequence of %zu "
				    "items",
				    what, e->name, width);
			if ((size_t)(row->data.sequence.items.top -
				     row->data.sequence.items.start) != width)
				return lfail(
				    c, row,
				    "%s: exception '%s': a value has %zu items, fields has "
				    "%zu",
				    what, e->name,
				    (size_t)(row->data.sequence.items.top -
					     row->data.sequence.items.start),
				    width);
			for (yaml_node_item_t *ci = row->data.sequence.items.start;
			     ci < row->data.sequence.items.top; ci++) {
				yaml_node_t *cell = node_at(c, *ci);

				e->cells[k].seq = cell && cell->type == YAML_SEQUENCE_NODE;
				e->ncells = k + 1;
				err = get_strings(c, cell, "exception value", &e->cells[k].v);
				if (err)
					return err;
				k++;
			}
			e->nrows++;
		}
	}
	return 0;
}

/* Exceptions of an override: new names are added, known names get more values. */
static int merge_exceptions(struct rule_item *ri, struct exception *add, size_t nadd, bool replace)
{
	if (replace) {
		for (size_t i = 0; i < ri->nexc; i++)
			exc_free(&ri->exc[i]);
		ri->nexc = 0;
	}
	for (size_t i = 0; i < nadd; i++) {
		struct exception *e = &add[i], *known = NULL;
		struct exception *nv;

		for (size_t j = 0; j < ri->nexc; j++)
			if (!strcmp(ri->exc[j].name, e->name))
				known = &ri->exc[j];
		if (known && e->nrows && e->single == known->single &&
		    e->fields.n == known->fields.n) {
			/* more values for the known exception */
			size_t have, more;
			struct cell *nc;

			have = known->nrows * (known->single ? 1 : known->fields.n);
			more = e->nrows * (known->single ? 1 : known->fields.n);
			nc = realloc(known->cells, (have + more + 1) * sizeof(*nc));
			if (!nc)
				return -ENOMEM;
			known->cells = nc;
			memcpy(known->cells + have, e->cells, more * sizeof(*nc));
			known->nrows += e->nrows;
			known->ncells = have + more;
			free(e->cells);
			e->cells = NULL;
			e->nrows = e->ncells = 0;
			exc_free(e);
			continue;
		}
		if (known) {
			exc_free(known);
			*known = *e;
			memset(e, 0, sizeof(*e));
			continue;
		}
		nv = realloc(ri->exc, (ri->nexc + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		ri->exc = nv;
		ri->exc[ri->nexc++] = *e;
		memset(e, 0, sizeof(*e));
	}
	return 0;
}

static int load_rule(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
{
	static const char *const ap[] = {"condition", "output", "desc", "tags", "exceptions", NULL};
	static const char *const rp[] = {"condition", "output",	       "desc",
					 "priority",  "tags",	       "exceptions",
					 "enabled",   "warn_evttypes", "skip-if-unknown-filter",
					 NULL};
	static const char *const keys[] = {"rule",
					   "desc",
					   "condition",
					   "output",
					   "priority",
					   "tags",
					   "enabled",
					   "exceptions",
					   "append",
					   "override",
					   "source",
					   "warn_evttypes",
					   "skip-if-unknown-filter",
					   "capture",
					   "capture_duration",
					   NULL};
	static const char *const enabled_only[] = {"rule", "enabled", NULL};
	struct saker_rules *r = c->r;
	struct overrides o = {0};
	const char *name = scalar(namenode), *s;
	struct rule_item *ri;
	struct exception *exc = NULL;
	size_t nexc = 0;
	yaml_node_t *v, *cn = NULL, *en;
	char what[300];
	bool has_ov, fresh = false;
	int err;

	snprintf(what, sizeof(what), "rule '%s'", name);
	err = get_overrides(c, item, what, ap, rp, &o, &has_ov);
	if (err)
		goto out;
	warn_unknown_keys(c, item, what, keys);
	ri = find_rule(r, name);
	en = map_get(c, item, "enabled", NULL);
	if (!has_ov && ri && en && keys_only(c, item, enabled_only)) {
		/* the old way to enable or disable a rule defined earlier */
		err = get_bool(c, en, "enabled", &ri->enabled);
		goto out;
	}
	if (has_ov && !ri) {
		err = lfail(c, namenode, "%s: override or append of a rule that is not defined",
			    what);
		goto out;
	}
	v = map_get(c, item, "exceptions", NULL);
	if (v && !is_null_node(v)) {
		if (v->type != YAML_SEQUENCE_NODE) {
			err = lfail(c, v, "%s: exceptions must be a sequence", what);
			goto out;
		}
		nexc = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		exc = calloc(nexc + 1, sizeof(*exc));
		if (!exc) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nexc; i++) {
			yaml_node_t *en2 = node_at(c, v->data.sequence.items.start[i]);

			if (spend(c, en2)) {
				err = -EINVAL;
				goto out;
			}
			err = load_exception(c, en2 ? en2 : v, what, &exc[i], has_ov ? ri : NULL);
			if (err)
				goto out;
		}
	}
	if (!has_ov) {
		const char *cond, *out, *prio;

		err = get_str(c, item, "condition", what, true, &cond, &cn);
		if (!err)
			err = get_str(c, item, "output", what, true, &out, NULL);
		if (!err)
			err = get_str(c, item, "priority", what, true, &prio, &v);
		if (err)
			goto out;
		if (!ri) {
			if (grow((void **)&r->rules, r->nrules, &r->crules, sizeof(*r->rules))) {
				err = -ENOMEM;
				goto out;
			}
			ri = &r->rules[r->nrules];
			memset(ri, 0, sizeof(*ri));
			fresh = true;
		} else {
			/* a second definition replaces the first, in its place (the index keeps the
			 * name) */
			char *keep = ri->name;

			ri->name = NULL;
			rule_clear(ri);
			ri->name = keep;
		}
		ri->enabled = true;
		if (fresh) {
			ri->name = strdup(name);
			if (!ri->name || nidx_put(&r->rule_idx, ri->name, (uint32_t)r->nrules)) {
				free(ri->name);
				ri->name = NULL;
				err = -ENOMEM;
				goto out;
			}
			r->nrules++;
		}
		ri->pos = mark_pos(c, namenode);
	}
	/* each property, replaced unless the override appends it */
#define APPENDS(k) (has_ov && strv_has(&o.append, k))
#define TOUCH(k)   (!has_ov || strv_has(&o.append, k) || strv_has(&o.replace, k))
	if (TOUCH("condition")) {
		if (!cn && (err = get_str(c, item, "condition", what, true, &s, &cn)))
			goto out;
		if ((err = cond_set(c, &ri->cond, &ri->segs, cn, APPENDS("condition"))))
			goto out;
	}
	if (TOUCH("output")) {
		if ((err = get_str(c, item, "output", what, !has_ov, &s, NULL)) ||
		    (err = set_dup(&ri->output, s, APPENDS("output"))))
			goto out;
	}
	if (TOUCH("desc")) {
		if ((err = get_str(c, item, "desc", what, false, &s, NULL)) ||
		    (s && (err = set_dup(&ri->desc, s, APPENDS("desc")))))
			goto out;
	}
	if (TOUCH("priority")) {
		if ((err = get_str(c, item, "priority", what, !has_ov, &s, &v)))
			goto out;
		if (s) {
			if (saker_prio_parse(s, &ri->prio)) {
				err = lfail(c, v, "%s: unknown priority '%s'", what, s);
				goto out;
			}
			ri->has_prio = true;
		}
	}
	if (TOUCH("tags")) {
		if (!APPENDS("tags"))
			strv_free(&ri->tags);
		v = map_get(c, item, "tags", NULL);
		if ((err = get_strings(c, v, "tags", &ri->tags)))
			goto out;
	}
	if (TOUCH("enabled") && en) {
		if ((err = get_bool(c, en, "enabled", &ri->enabled)))
			goto out;
	}
	if (TOUCH("exceptions") && exc) {
		err = merge_exceptions(ri, exc, nexc, has_ov && strv_has(&o.replace, "exceptions"));
		if (err)
			goto out;
		if (!ri->exc_pos.line)
			ri->exc_pos = mark_pos(c, map_get(c, item, "exceptions", NULL));
	}
	if (!has_ov) {
		if ((err = get_str(c, item, "source", what, false, &s, NULL)) ||
		    (err = set_dup(&ri->source, s, false)))
			goto out;
		ri->warn_evttypes = true;
	}
	if (TOUCH("warn_evttypes") && (v = map_get(c, item, "warn_evttypes", NULL)) &&
	    (err = get_bool(c, v, "warn_evttypes", &ri->warn_evttypes)))
		goto out;
	if (TOUCH("skip-if-unknown-filter") &&
	    (v = map_get(c, item, "skip-if-unknown-filter", NULL)) &&
	    (err = get_bool(c, v, "skip-if-unknown-filter", &ri->skip_if_unknown)))
		goto out;
#undef APPENDS
#undef TOUCH
out:
	for (size_t i = 0; i < nexc; i++)
		exc_free(&exc[i]);
	free(exc);
	strv_free(&o.append);
	strv_free(&o.replace);
	return err;
}

/* "0.57.0" or an old integer version, as three numbers. */
static void parse_version(const char *s, unsigned v[3])
{
	v[0] = v[1] = v[2] = 0;
	if (!strchr(s, '.')) {
		v[1] = (unsigned)strtoul(s, NULL, 10);
		return;
	}
	(void)sscanf(s, "%u.%u.%u", &v[0], &v[1], &v[2]);
}

static int load_engine_version(struct lctx *c, const yaml_node_t *vn)
{
	unsigned want[3], have[3];
	const char *s = scalar(vn);

	if (!s)
		return lfail(c, vn, "required_engine_version must be a version");
	parse_version(s, want);
	parse_version(SAKER_RULES_ENGINE_VERSION, have);
	for (int i = 0; i < 3; i++) {
		if (want[i] < have[i])
			return 0;
		if (want[i] > have[i]) {
			lwarn(c, vn,
			      "requires engine version %s; saker implements the rule language of "
			      "%s, so some rules may be skipped",
			      s, SAKER_RULES_ENGINE_VERSION);
			return 0;
		}
	}
	return 0;
}

static int load_plugins(struct lctx *c, const yaml_node_t *vn)
{
	if (vn->type != YAML_SEQUENCE_NODE)
		return lfail(c, vn, "required_plugin_versions must be a sequence");
	for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
	     it++) {
		yaml_node_t *p = node_at(c, *it);
		const char *name = NULL, *ver = NULL;

		if (spend(c, p))
			return -EINVAL;
		if (!p || p->type != YAML_MAPPING_NODE)
			return lfail(c, p ? p : vn, "required_plugin_versions: items are mappings");
		if (get_str(c, p, "name", "required plugin", true, &name, NULL) ||
		    get_str(c, p, "version", "required plugin", false, &ver, NULL))
			return -EINVAL;
		if (strv_has(&c->r->plugins_warned, name))
			continue;
		if (strv_push(&c->r->plugins_warned, name))
			return -ENOMEM;
		/* the container plugin's fields are built in (rules/fields_container.c) */
		if (!strcmp(name, "container"))
			continue;
		lwarn(c, p,
		      "requires plugin '%s' %s: saker has no plugins; rules that need its "
		      "fields are skipped",
		      name, ver ? ver : "");
	}
	return 0;
}

static int load_item(struct lctx *c, const yaml_node_t *item)
{
	static const char *const kinds[] = {"rule", "macro", "list", "required_engine_version",
					    "required_plugin_versions"};
	yaml_node_t *kn = NULL, *vn = NULL;
	size_t kind = 0;

	if (item->type != YAML_MAPPING_NODE)
		return lfail(c, item,
			     "each item must be a mapping (rule, macro, list, ...), not %s",
			     kind_name(item));
	for (kind = 0; kind < sizeof(kinds) / sizeof(kinds[0]); kind++) {
		vn = map_get(c, item, kinds[kind], &kn);
		if (vn)
			break;
	}
	if (!vn) {
		lwarn(c, item, "unknown item ignored (not a rule, macro or list)");
		return 0;
	}
	if (kind <= 2) {
		const char *name = scalar(vn);

		if (!name || !*name)
			return lfail(c, vn, "%s: the name must be a non-empty scalar", kinds[kind]);
	}
	switch (kind) {
	case 0:
		return load_rule(c, item, vn);
	case 1:
		return load_macro(c, item, vn);
	case 2:
		return load_list(c, item, vn);
	case 3:
		return load_engine_version(c, vn);
	default:
		return load_plugins(c, vn);
	}
}

int saker_rules_load_buffer(struct saker_rules *r, const char *name, const char *buf, size_t len,
			    char *err, size_t errlen, saker_report_fn warn, void *warn_ctx)
{
	struct lctx c = {.r = r, .err = err, .errlen = errlen, .warn = warn, .warn_ctx = warn_ctx};
	struct saker_yaml_src src = {.positions = true};
	struct sfile *nf;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (r->compiled) {
		set_err(err, errlen, "%s: rules are already compiled", name ? name : "<rules>");
		return -EBUSY;
	}
	if (!buf && len)
		return -EINVAL;
	if (grow((void **)&r->files, r->nfiles, &r->cfiles, sizeof(*r->files)))
		return -ENOMEM;
	nf = &r->files[r->nfiles];
	nf->name = strdup(name ? name : "<rules>");
	nf->buf = malloc(len + 1);
	if (!nf->name || !nf->buf) {
		free(nf->name);
		free(nf->buf);
		return -ENOMEM;
	}
	if (len)
		memcpy(nf->buf, buf, len);
	nf->buf[len] = '\0';
	nf->len = len;
	c.file = (int)r->nfiles++;
	src.name = nf->name;
	src.buf = nf->buf;
	src.len = len;
	/* Deep documents are refused before libyaml builds them (lib/yamlguard.h says why). */
	ret = saker_yaml_check_depth(&src, MAX_NESTING, err, errlen);
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)nf->buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = saker_yaml_parser_error(&src, &parser, err, errlen);
		yaml_parser_delete(&parser);
		return ret;
	}
	c.doc = &doc;
	c.budget = 4 * (size_t)(doc.nodes.top - doc.nodes.start) + 4096;
	root = yaml_document_get_root_node(&doc);
	if (!root || is_null_node(root))
		goto out;
	if (root->type != YAML_SEQUENCE_NODE) {
		ret =
		    lfail(&c, root, "a rules file is a sequence of items, not %s", kind_name(root));
		goto out;
	}
	for (yaml_node_item_t *it = root->data.sequence.items.start;
	     it < root->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = node_at(&c, *it);

		if (!item)
			continue;
		ret = spend(&c, item);
		if (!ret)
			ret = load_item(&c, item);
		if (ret == -ENOMEM)
			set_err(err, errlen, "%s: out of memory", nf->name);
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int saker_rules_load_file(struct saker_rules *r, const char *path, char *err, size_t errlen,
			  saker_report_fn warn, void *warn_ctx)
{
	char *buf;
	size_t len;
	int ret = saker_readfile(path, MAX_FILE_BYTES, &buf, &len);

	if (ret) {
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		return ret;
	}
	ret = saker_rules_load_buffer(r, path, buf, len, err, errlen, warn, warn_ctx);
	free(buf);
	return ret;
}

/* ---- compiling --------------------------------------------------------------- */

struct cctx {
	struct saker_rules *r;
	char *err;
	size_t errlen;
	saker_report_fn warn;
	void *warn_ctx;
};

__attribute__((format(printf, 2, 3))) static void cwarn(struct cctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->warn(c->warn_ctx, SAKER_PRIO_WARNING, line);
}

/* Quoted list items ('"a b"') are unquoted, as Falco reads them. */
static const char *list_value(const char *s, char *tmp, size_t tmplen)
{
	size_t n = strlen(s), out;

	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0] &&
	    !saker_filter_unquote(s, n, tmp, tmplen, &out))
		return tmp;
	return s;
}

static int flatten(struct cctx *c, struct list_item *li, unsigned depth)
{
	struct saker_rules *r = c->r;
	size_t cap = li->items.n + 1, n = 0;
	const char **flat;
	char pos[512];

	if (li->state == 2)
		return 0;
	pos_str(r, &li->pos, pos, sizeof(pos));
	if (li->state == 1 || depth > MAX_LIST_DEPTH) {
		set_err(c->err, c->errlen, "%s: list '%s' refers to itself", pos, li->name);
		return -EINVAL;
	}
	li->state = 1;
	flat = malloc(cap * sizeof(*flat));
	if (!flat)
		return -ENOMEM;
	for (size_t i = 0; i < li->items.n; i++) {
		struct list_item *sub = find_list(r, li->items.v[i]);
		const char *const *add = (const char *const *)&li->items.v[i];
		size_t nadd = 1;

		if (sub && sub != li) {
			int err = flatten(c, sub, depth + 1);

			if (err) {
				free(flat);
				return err;
			}
			add = sub->flat;
			nadd = sub->nflat;
		} else if (sub) {
			free(flat);
			set_err(c->err, c->errlen, "%s: list '%s' refers to itself", pos, li->name);
			return -EINVAL;
		}
		if (n + nadd > MAX_LIST_ITEMS) {
			free(flat);
			set_err(c->err, c->errlen,
				"%s: list '%s' has more than %u items once expanded", pos, li->name,
				MAX_LIST_ITEMS);
			return -EINVAL;
		}
		if (n + nadd >= cap) {
			const char **nf;

			cap = 2 * (n + nadd) + 1;
			nf = realloc(flat, cap * sizeof(*nf));
			if (!nf) {
				free(flat);
				return -ENOMEM;
			}
			flat = nf;
		}
		for (size_t j = 0; j < nadd; j++)
			flat[n++] = add[j];
	}
	li->flat = flat;
	li->nflat = n;
	li->state = 2;
	return 0;
}

/* Unquotes the items once flattening is done: they are then owned strings. */
static int unquote_lists(struct saker_rules *r)
{
	char tmp[4096];

	for (size_t i = 0; i < r->nlists; i++) {
		struct strv *it = &r->lists[i].items;

		for (size_t j = 0; j < it->n; j++) {
			const char *u = list_value(it->v[j], tmp, sizeof(tmp));

			if (u == tmp) {
				char *d = strdup(tmp);

				if (!d)
					return -ENOMEM;
				/* flattened arrays point at the old string: repoint them */
				for (size_t a = 0; a < r->nlists; a++)
					for (size_t b = 0; b < r->lists[a].nflat; b++)
						if (r->lists[a].flat[b] == it->v[j])
							r->lists[a].flat[b] = d;
				free(it->v[j]);
				it->v[j] = d;
			}
		}
	}
	return 0;
}

static const struct saker_ast *env_macro(void *ctx, const char *name, const void **src,
					 struct saker_ferr *e)
{
	struct saker_rules *r = ctx;
	struct macro_item *m = find_macro(r, name);

	(void)e;
	if (!m || !m->ast)
		return NULL;
	*src = m;
	return m->ast;
}

static const char *const *env_list(void *ctx, const char *name, size_t *n)
{
	struct list_item *li = find_list(ctx, name);

	if (!li || li->state != 2)
		return NULL;
	*n = li->nflat;
	return li->flat;
}

static const struct saker_finst *env_field(void *ctx, const char *field, const char *arg, int *err,
					   char *why, size_t whylen)
{
	struct saker_rules *r = ctx;
	struct saker_finst tmp, *fi;
	int e = saker_finst_init(&tmp, field, arg, why, whylen);

	if (e) {
		*err = e;
		return NULL;
	}
	long known = nidx_get(&r->inst_idx, tmp.name);

	if (known >= 0) {
		saker_finst_clear(&tmp);
		return r->inst[known];
	}
	fi = malloc(sizeof(*fi));
	if (!fi || grow((void **)&r->inst, r->ninst, &r->cinst, sizeof(*r->inst))) {
		free(fi);
		saker_finst_clear(&tmp);
		*err = -ENOMEM;
		return NULL;
	}
	*fi = tmp;
	fi->id = (unsigned)r->ninst;
	if (nidx_put(&r->inst_idx, fi->name, fi->id)) {
		saker_finst_clear(fi);
		free(fi);
		*err = -ENOMEM;
		return NULL;
	}
	r->inst[r->ninst++] = fi;
	return fi;
}

/* The position of a filter error, whichever text (rule or macro) it is in. */
static void ferr_where(const struct saker_rules *r, const struct rule_item *ri,
		       const struct saker_ferr *e, char *out, size_t outlen)
{
	for (size_t i = 0; i < r->nmacros; i++)
		if (e->src == &r->macros[i]) {
			where(r, &r->macros[i].segs, r->macros[i].cond.p, e->off, out, outlen);
			return;
		}
	where(r, &ri->final_segs, ri->final_cond, e->off, out, outlen);
}

static bool list_op(const char *comp)
{
	return !strcmp(comp, "in") || !strcmp(comp, "pmatch") || !strcmp(comp, "intersects");
}

static void put_cell(struct saker_rules *r, struct buf *b, const struct cell *cl, const char *comp)
{
	if (list_op(comp)) {
		buf_puts(b, "(");
		for (size_t i = 0; i < cl->v.n; i++) {
			if (i)
				buf_puts(b, ", ");
			/* a list's name stays bare so that it is expanded */
			if (!cl->seq && cl->v.n == 1 && find_list(r, cl->v.v[i]))
				buf_puts(b, cl->v.v[i]);
			else
				buf_quote(b, cl->v.v[i]);
		}
		buf_puts(b, ")");
		return;
	}
	buf_quote(b, cl->v.n ? cl->v.v[0] : "");
}

/* condition, then " and not (...)" per exception with values, as Falco builds it. */
static int build_condition(struct saker_rules *r, struct rule_item *ri)
{
	struct buf b = {0};

	segs_free(&ri->final_segs);
	ri->final_segs.v = malloc((ri->segs.n + 1) * sizeof(*ri->final_segs.v));
	if (!ri->final_segs.v)
		return -ENOMEM;
	buf_puts(&b, "(");
	for (size_t i = 0; i < ri->segs.n; i++) {
		ri->final_segs.v[i] = ri->segs.v[i];
		ri->final_segs.v[i].start += 1;
	}
	ri->final_segs.n = ri->segs.n;
	buf_puts(&b, ri->cond.p ? ri->cond.p : "");
	buf_puts(&b, ")");
	ri->exc_start = b.len;
	for (size_t i = 0; i < ri->nexc; i++) {
		const struct exception *e = &ri->exc[i];
		size_t width = e->single ? 1 : e->fields.n;

		if (!e->nrows)
			continue;
		buf_puts(&b, " and not (");
		for (size_t row = 0; row < e->nrows; row++) {
			if (row)
				buf_puts(&b, " or ");
			if (e->single) {
				const char *comp = e->comps.n ? e->comps.v[0] : "in";
				struct cell all = {.seq = true};

				/* single field: the values of all rows form one list */
				if (list_op(comp)) {
					buf_puts(&b, e->fields.v[0]);
					buf_puts(&b, " ");
					buf_puts(&b, comp);
					buf_puts(&b, " (");
					for (size_t k = 0; k < e->nrows; k++)
						for (size_t j = 0; j < e->cells[k].v.n; j++) {
							const char *val = e->cells[k].v.v[j];

							if (k || j)
								buf_puts(&b, ", ");
							if (find_list(r, val))
								buf_puts(&b, val);
							else
								buf_quote(&b, val);
						}
					buf_puts(&b, ")");
					(void)all;
					break;
				}
				buf_puts(&b, e->fields.v[0]);
				buf_puts(&b, " ");
				buf_puts(&b, comp);
				buf_puts(&b, " ");
				put_cell(r, &b, &e->cells[row], comp);
				continue;
			}
			buf_puts(&b, "(");
			for (size_t f = 0; f < width; f++) {
				const char *comp = e->comps.n ? e->comps.v[f] : "=";

				if (f)
					buf_puts(&b, " and ");
				buf_puts(&b, e->fields.v[f]);
				buf_puts(&b, " ");
				buf_puts(&b, comp);
				buf_puts(&b, " ");
				put_cell(r, &b, &e->cells[row * width + f], comp);
			}
			buf_puts(&b, ")");
		}
		buf_puts(&b, ")");
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	if (b.len > ri->exc_start) {
		/* errors in the generated part point at the rule's exceptions */
		struct seg gs = {.start = ri->exc_start,
				 .file = ri->exc_pos.file,
				 .line = ri->exc_pos.line ? ri->exc_pos.line - 1 : 0,
				 .col = ri->exc_pos.col ? ri->exc_pos.col - 1 : 0,
				 .generated = true};
		struct seg *nv = realloc(ri->final_segs.v, (ri->final_segs.n + 1) * sizeof(*nv));

		if (!nv) {
			free(b.p);
			return -ENOMEM;
		}
		ri->final_segs.v = nv;
		ri->final_segs.v[ri->final_segs.n++] = gs;
	}
	free(ri->final_cond);
	ri->final_cond = b.p;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int skip(struct cctx *c, struct rule_item *ri,
						      const char *fmt, ...)
{
	char msg[768], pos[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(ri->reason);
	ri->reason = strdup(msg);
	ri->info.state = SAKER_RULE_SKIPPED;
	pos_str(c->r, &ri->pos, pos, sizeof(pos));
	if (!ri->quiet_skip)
		cwarn(c, "%s: rule '%s' skipped: %s", pos, ri->name, msg);
	return ri->reason ? 0 : -ENOMEM;
}

static bool field_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.';
}

/* Adds fi to the rule's distinct output fields (JSON output_fields), once. */
static void add_ofield(struct rule_item *ri, const struct saker_finst *fi)
{
	for (size_t i = 0; i < ri->nofields; i++)
		if (ri->ofields[i] == fi)
			return;
	if (ri->nofields < MAX_ALERT_FIELDS)
		ri->ofields[ri->nofields++] = fi;
}

/*
 * A format's literal text and %fields as tokens (pointing into fmt, which
 * must outlive them); each field also goes to ri's output fields when ri is
 * given. 0; -ENOENT/-EINVAL with why for a field saker does not have.
 */
static int compile_fmt(struct saker_rules *r, const char *fmt, struct otok **toks, size_t *ntoks,
		       struct rule_item *ri, char *why, size_t whylen)
{
	size_t cap = 16;

	*ntoks = 0;
	*toks = calloc(cap, sizeof(**toks));
	if (!*toks)
		return -ENOMEM;
	for (const char *p = fmt; *p;) {
		const char *lit = p;
		const struct saker_finst *fi = NULL;

		while (*p && !(p[0] == '%' && (field_char(p[1]) || p[1] == '%')))
			p++;
		if (*ntoks + 2 >= cap) {
			struct otok *nt = realloc(*toks, 2 * cap * sizeof(*nt));

			if (!nt)
				return -ENOMEM;
			*toks = nt;
			cap *= 2;
		}
		if (p > lit)
			(*toks)[(*ntoks)++] = (struct otok){lit, (size_t)(p - lit), NULL};
		if (!*p)
			break;
		if (p[1] == '%') {
			(*toks)[(*ntoks)++] = (struct otok){p, 1, NULL};
			p += 2;
			continue;
		}
		{
			const char *f = ++p, *arg = NULL;
			size_t fn, an = 0;
			char name[256], argbuf[256];
			int err = 0;

			while (field_char(*p))
				p++;
			while (p > f && p[-1] == '.')
				p--;
			fn = (size_t)(p - f);
			if (*p == '[') {
				const char *close = strchr(p, ']');

				if (close) {
					arg = p + 1;
					an = (size_t)(close - arg);
					p = close + 1;
				}
			}
			if (fn >= sizeof(name) || an >= sizeof(argbuf)) {
				snprintf(why, whylen, "output field too long");
				return -EINVAL;
			}
			memcpy(name, f, fn);
			name[fn] = '\0';
			if (arg) {
				memcpy(argbuf, arg, an);
				argbuf[an] = '\0';
			}
			fi = env_field(r, name, arg ? argbuf : NULL, &err, why, whylen);
			if (!fi)
				return err ? err : -EINVAL;
		}
		(*toks)[(*ntoks)++] = (struct otok){NULL, 0, fi};
		if (ri)
			add_ofield(ri, fi);
	}
	return 0;
}

static bool append_applies(const struct append_item *a, const struct rule_item *ri)
{
	if (a->source && strcmp(a->source, ri->source ? ri->source : "syscall"))
		return false;
	if (a->rule && strcmp(a->rule, ri->name))
		return false;
	for (size_t i = 0; i < a->tags.n; i++)
		if (!strv_has(&ri->tags, a->tags.v[i]))
			return false;
	return true;
}

/*
 * The output as Falco builds it: the rule's text trimmed (rule_loader_reader),
 * then " " and each matching append_output entry's extra_output, in order.
 * Its %fields, then the entries' extra_fields, make the JSON output_fields.
 */
static int compile_output(struct saker_rules *r, struct rule_item *ri, char *why, size_t whylen)
{
	const char *o = ri->output ? ri->output : "";
	size_t n = strlen(o);
	struct buf b = {0};
	int err;

	while (n && isspace((unsigned char)o[n - 1]))
		n--;
	while (n && isspace((unsigned char)*o)) {
		o++;
		n--;
	}
	buf_putn(&b, o, n);
	for (size_t i = 0; i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];

		if (!a->extra_output || !append_applies(a, ri))
			continue;
		buf_putn(&b, " ", 1);
		buf_puts(&b, a->extra_output);
	}
	buf_putn(&b, "", 0);
	if (b.oom || !b.p) {
		free(b.p);
		return -ENOMEM;
	}
	ri->final_output = b.p;
	ri->ofields = calloc(MAX_ALERT_FIELDS, sizeof(*ri->ofields));
	if (!ri->ofields)
		return -ENOMEM;
	err = compile_fmt(r, ri->final_output, &ri->otoks, &ri->notoks, ri, why, whylen);
	for (size_t i = 0; !err && i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];

		if (!append_applies(a, ri))
			continue;
		for (size_t j = 0; !err && j < a->fkeys.n; j++) {
			struct xfield *x;

			if (!a->fvals[j]) {
				const struct saker_finst *fi =
				    env_field(r, a->fkeys.v[j], NULL, &err, why, whylen);

				if (fi)
					add_ofield(ri, fi);
				else if (!err)
					err = -EINVAL;
				continue;
			}
			if (ri->nxf >= MAX_ALERT_FIELDS)
				continue;
			x = realloc(ri->xf, (ri->nxf + 1) * sizeof(*x));
			if (!x)
				return -ENOMEM;
			ri->xf = x;
			x = &ri->xf[ri->nxf++];
			x->key = a->fkeys.v[j];
			err = compile_fmt(r, a->fvals[j], &x->toks, &x->ntoks, NULL, why, whylen);
		}
	}
	return err;
}

static int compile_rule(struct cctx *c, struct rule_item *ri)
{
	struct saker_rules *r = c->r;
	struct saker_filter_env env = {r, env_macro, env_list, env_field};
	struct saker_ast *ast = NULL;
	struct saker_ferr fe;
	char pos[512], why[384];
	uint64_t slots[SAKER_SLOT_WORDS];
	bool any = false, all = true;
	int err;

	ri->info.state = ri->enabled ? SAKER_RULE_LOADED : SAKER_RULE_DISABLED;
	if (ri->source && strcmp(ri->source, "syscall"))
		return skip(c, ri, "source '%s' is not supported (saker has syscall rules only)",
			    ri->source);
	if (ri->prio > r->min_prio)
		return skip(c, ri, "priority %s is below the minimum (%s)",
			    saker_prio_name(ri->prio), saker_prio_name(r->min_prio));
	err = build_condition(r, ri);
	if (err)
		return err;
	err = saker_filter_parse(ri->final_cond, &ast, &fe);
	if (!err) {
		err = saker_filter_compile(ast, ri, &env, &ri->filter, &fe);
	} else {
		fe.src = ri;
	}
	saker_ast_free(ast);
	if (err == -ENOMEM)
		return err;
	if (err) {
		ferr_where(r, ri, &fe, pos, sizeof(pos));
		if (fe.kind == SAKER_FERR_UNSUPPORTED) {
			ri->quiet_skip = ri->skip_if_unknown;
			return skip(c, ri, "%s (at %s)", fe.msg, pos);
		}
		/* Falco's LOAD_ERR_COMPILE_CONDITION, which skip-if-unknown-filter turns into a
		 * skip */
		if (fe.kind == SAKER_FERR_UNKNOWN && ri->skip_if_unknown) {
			ri->quiet_skip = true;
			return skip(c, ri, "%s (at %s; skip-if-unknown-filter: true)", fe.msg, pos);
		}
		set_err(c->err, c->errlen, "%s: rule '%s': %s", pos, ri->name, fe.msg);
		return -EINVAL;
	}
	err = compile_output(r, ri, why, sizeof(why));
	if (err == -ENOMEM)
		return err;
	if (err == -ESRCH) {
		/* a typo in the output fails the load in Falco too (LOAD_ERR_COMPILE_OUTPUT) */
		pos_str(r, &ri->pos, pos, sizeof(pos));
		set_err(c->err, c->errlen, "%s: rule '%s': output: %s", pos, ri->name, why);
		return -EINVAL;
	}
	if (err)
		return skip(c, ri, "output: %s", why);
	if (saker_filter_const(ri->filter) == 0) {
		const struct saker_field_info *nf = saker_filter_never_field(ri->filter);

		if (nf)
			return skip(c, ri,
				    "it can never match: it needs '%s', which is not supported "
				    "by saker (%s)",
				    nf->name, nf->never_reason ? nf->never_reason : "no value");
		return skip(c, ri, "its condition is never true");
	}
	saker_filter_slots(ri->filter, slots);
	for (unsigned s = 0; s < SAKER_NSLOTS; s++) {
		bool in = (slots[s / 64] >> (s % 64)) & 1;

		/* unnamed syscall ids do not count against "every event type" */
		if (!saker_fields_slot_name(s))
			continue;
		any |= in;
		all &= in;
	}
	if (!any)
		return skip(c, ri, "it matches no event type saker can see");
	ri->info.catchall = all;
	if (all && ri->enabled && ri->warn_evttypes) {
		pos_str(r, &ri->pos, pos, sizeof(pos));
		cwarn(c,
		      "%s: rule '%s' has no event-type restriction (evt.type): it is tested on "
		      "every event",
		      pos, ri->name);
	}
	if (!ri->enabled)
		return 0;
	for (unsigned s = 0; s < SAKER_NSLOTS; s++) {
		if (!((slots[s / 64] >> (s % 64)) & 1))
			continue;
		if (grow((void **)&r->slot_rules[s], r->slot_n[s], &r->slot_cap[s],
			 sizeof(*r->slot_rules[s])))
			return -ENOMEM;
		r->slot_rules[s][r->slot_n[s]++] = (uint32_t)(ri - r->rules);
	}
	r->any_catchall |= all;
	r->nloaded++;
	return 0;
}

static void fill_info(struct rule_item *ri, const struct saker_rules *r)
{
	struct saker_rule_info *in = &ri->info;

	in->name = ri->name;
	in->desc = ri->desc ? ri->desc : "";
	in->condition = ri->final_cond ? ri->final_cond : (ri->cond.p ? ri->cond.p : "");
	in->output = ri->final_output ? ri->final_output : (ri->output ? ri->output : "");
	in->priority = ri->prio;
	in->tags = (const char *const *)ri->tagv;
	in->n_tags = ri->tags.n;
	in->file = ri->pos.file >= 0 ? r->files[ri->pos.file].name : "";
	in->line = (unsigned)ri->pos.line;
	in->col = (unsigned)ri->pos.col;
	in->reason = in->state == SAKER_RULE_DISABLED && !ri->reason
			 ? (ri->selected ? "disabled by the rules selection (rules:, -D, -T, -t)"
					 : "enabled: false")
			 : ri->reason;
}

int saker_rules_select(struct saker_rules *r, bool enable, const char *rule, const char *tag)
{
	int n = 0;

	if (r->compiled)
		return -EBUSY;
	for (size_t i = 0; i < r->nrules; i++) {
		struct rule_item *ri = &r->rules[i];

		if ((rule && fnmatch(rule, ri->name, 0) == 0) ||
		    (tag && strv_has(&ri->tags, tag))) {
			ri->enabled = enable;
			ri->selected = true;
			n++;
		}
	}
	return n;
}

static int dup_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (!s || !s[0])
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

int saker_rules_add_append(struct saker_rules *r, const struct saker_rules_append *in)
{
	struct append_item *a;
	int err;

	if (r->compiled)
		return -EBUSY;
	if (grow((void **)&r->appends, r->nappends, &r->cappends, sizeof(*r->appends)))
		return -ENOMEM;
	a = &r->appends[r->nappends++];
	memset(a, 0, sizeof(*a));
	err = dup_opt(&a->source, in->source);
	if (!err)
		err = dup_opt(&a->rule, in->rule);
	if (!err)
		err = dup_opt(&a->extra_output, in->extra_output);
	for (size_t i = 0; !err && i < in->n_tags; i++)
		err = strv_push(&a->tags, in->tags[i]);
	if (!err && in->n_fields && !(a->fvals = calloc(in->n_fields, sizeof(*a->fvals))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < in->n_fields; i++) {
		err = strv_push(&a->fkeys, in->field_keys[i]);
		if (!err && in->field_values && in->field_values[i] &&
		    !(a->fvals[i] = strdup(in->field_values[i])))
			err = -ENOMEM;
	}
	return err;
}

/* An append_output entry naming a field saker does not have fails the compile, once. */
static int check_appends(struct cctx *c)
{
	struct saker_rules *r = c->r;
	char why[384];
	int err = 0;

	for (size_t i = 0; !err && i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];
		struct otok *toks = NULL;
		size_t n;

		if (a->extra_output) {
			err = compile_fmt(r, a->extra_output, &toks, &n, NULL, why, sizeof(why));
			free(toks);
			toks = NULL;
		}
		for (size_t j = 0; !err && j < a->fkeys.n; j++) {
			if (a->fvals[j]) {
				err =
				    compile_fmt(r, a->fvals[j], &toks, &n, NULL, why, sizeof(why));
				free(toks);
				toks = NULL;
			} else if (!env_field(r, a->fkeys.v[j], NULL, &err, why, sizeof(why)) &&
				   !err) {
				err = -EINVAL;
			}
		}
		if (err && err != -ENOMEM)
			set_err(c->err, c->errlen, "append_output[%zu]: %s", i, why);
	}
	return err == -ENOMEM ? err : (err ? -EINVAL : 0);
}

/*
 * Loaded rules whose condition names a field saker never has a value for
 * (container.image.repository in an exception, ...): the comparison is
 * false, so the rule may match where Falco's would not, or never take an
 * exception. One warning for all of them, naming the fields.
 */
static void warn_never_fields(struct cctx *c)
{
	const struct saker_field_info *seen[16];
	size_t counts[16], nseen = 0, nrules = 0;
	char list[512];
	size_t used = 0;

	for (size_t i = 0; i < c->r->nrules; i++) {
		const struct rule_item *ri = &c->r->rules[i];
		const struct saker_field_info *nf[MAX_ALERT_FIELDS + 1];
		size_t n = 0;

		if (ri->info.state != SAKER_RULE_LOADED || !ri->filter)
			continue;
		if ((nf[0] = saker_filter_never_field(ri->filter)) != NULL)
			n++;
		/* and in the output, where it prints <NA> */
		for (size_t j = 0; j < ri->nofields; j++)
			if (ri->ofields[j]->info->flags & SAKER_FF_NEVER)
				nf[n++] = ri->ofields[j]->info;
		nrules += n > 0;
		for (size_t j = 0; j < n; j++) {
			size_t k;

			for (k = 0; k < nseen && seen[k] != nf[j]; k++)
				;
			if (k == nseen && nseen < 16) {
				seen[nseen] = nf[j];
				counts[nseen++] = 0;
			}
			if (k < nseen)
				counts[k]++;
		}
	}
	if (!nrules)
		return;
	list[0] = '\0';
	for (size_t k = 0; k < nseen; k++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s (%zu)", k ? ", " : "",
				 seen[k]->name, counts[k]);

		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	cwarn(c,
	      "%zu loaded rule%s use%s a field saker never has a value for (a comparison on it "
	      "is false, so exceptions on it never apply; an output prints <NA>): %s; "
	      "saker --list says why",
	      nrules, nrules == 1 ? "" : "s", nrules == 1 ? "s" : "", list);
}

int saker_rules_compile(struct saker_rules *r, char *err, size_t errlen, saker_report_fn warn,
			void *warn_ctx)
{
	struct cctx c = {r, err, errlen, warn, warn_ctx};
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (r->compiled) {
		set_err(err, errlen, "rules are already compiled");
		return -EBUSY;
	}
	r->compiled = true;
	ret = check_appends(&c);
	for (size_t i = 0; i < r->nlists && !ret; i++)
		ret = flatten(&c, &r->lists[i], 0);
	if (!ret)
		ret = unquote_lists(r);
	for (size_t i = 0; i < r->nmacros && !ret; i++) {
		struct macro_item *m = &r->macros[i];
		struct saker_ferr fe;
		char pos[512];

		ret = saker_filter_parse(m->cond.p ? m->cond.p : "", &m->ast, &fe);
		if (ret == -EINVAL) {
			where(r, &m->segs, m->cond.p ? m->cond.p : "", fe.off, pos, sizeof(pos));
			set_err(err, errlen, "%s: macro '%s': %s", pos, m->name, fe.msg);
		}
	}
	for (size_t i = 0; i < r->nrules && !ret; i++) {
		struct rule_item *ri = &r->rules[i];

		ri->tagv = calloc(ri->tags.n + 1, sizeof(*ri->tagv));
		if (!ri->tagv) {
			ret = -ENOMEM;
			break;
		}
		for (size_t t = 0; t < ri->tags.n; t++)
			ri->tagv[t] = ri->tags.v[t];
		ret = compile_rule(&c, ri);
	}
	for (size_t i = 0; i < r->nrules; i++)
		fill_info(&r->rules[i], r);
	if (!ret) {
		warn_never_fields(&c);
		r->fctx = malloc(sizeof(*r->fctx));
		r->out_buf = malloc(MAX_OUTPUT_BYTES);
		r->val_buf = malloc(MAX_OUTPUT_BYTES);
		if (!r->fctx || !r->out_buf || !r->val_buf)
			ret = -ENOMEM;
		else if (!(ret = saker_fctx_init(r->fctx, r->ninst))) {
			if (r->boot_offset_set)
				r->fctx->boot_offset_ns = r->boot_offset;
			ret = saker_fctx_load_names(r->fctx, r->names_root);
		} else {
			free(r->fctx);
			r->fctx = NULL;
		}
	}
	if (ret == -ENOMEM)
		set_err(err, errlen, "out of memory compiling rules");
	return ret;
}

/* ---- queries -------------------------------------------------------------------- */

size_t saker_rules_count(const struct saker_rules *r)
{
	return r->nrules;
}

const struct saker_rule_info *saker_rules_get(const struct saker_rules *r, size_t i)
{
	return i < r->nrules ? &r->rules[i].info : NULL;
}

size_t saker_rules_loaded(const struct saker_rules *r)
{
	return r->nloaded;
}

size_t saker_rules_macros(const struct saker_rules *r)
{
	return r->nmacros;
}

size_t saker_rules_lists(const struct saker_rules *r)
{
	return r->nlists;
}

void saker_rules_syscalls(const struct saker_rules *r, uint8_t sel[SAKER_SYSCALL_MAX], bool *all)
{
	memset(sel, 0, SAKER_SYSCALL_MAX);
	for (unsigned s = 0; s < SAKER_SYSCALL_MAX; s++)
		sel[s] = r->slot_n[s] && saker_fields_slot_name(s) ? 1 : 0;
	/* the exec record comes from sched_process_exec; a failed exec from the syscall */
	*all = r->any_catchall;
}

void saker_rules_stats(const struct saker_rules *r, uint64_t *events, uint64_t *evals,
		       uint64_t *matches)
{
	*events = r->events;
	*evals = r->evals;
	*matches = r->matches;
}

/* ---- matching -------------------------------------------------------------------- */

/* Renders a format's tokens at buf + o (up to MAX_OUTPUT_BYTES in all); returns the new end. */
static size_t render(struct saker_fctx *c, const struct otok *toks, size_t ntoks, char *buf,
		     size_t o)
{
	char tmp[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < ntoks; i++) {
		const struct otok *t = &toks[i];
		const char *s;
		size_t n;

		if (t->lit) {
			s = t->lit;
			n = t->litn;
		} else {
			const struct saker_fval *v;
			int nv = saker_fields_extract(c, t->fi, &v);

			if (nv <= 0) {
				s = "<NA>";
				n = 4;
			} else if (t->fi->type == SAKER_FT_STR) {
				s = v[0].s.p;
				n = v[0].s.n;
			} else {
				saker_fval_format(t->fi->type, &v[0], tmp, sizeof(tmp));
				s = tmp;
				n = strlen(tmp);
			}
		}
		if (o + n >= MAX_OUTPUT_BYTES)
			n = MAX_OUTPUT_BYTES - 1 - o;
		memcpy(buf + o, s, n);
		o += n;
	}
	buf[o] = '\0';
	return o;
}

static void format_alert(struct saker_rules *r, struct rule_item *ri, const struct saker_event *ev,
			 struct saker_view *view, struct saker_alert *a)
{
	static const char degraded[] = " view_degraded=true";
	struct saker_fctx *c = r->fctx;
	size_t o, vo = 0;
	char tmp[INET6_ADDRSTRLEN + 8];
	bool is_degraded = saker_view_degraded(view, ev->hdr.tgid, ev->hdr.ts_ns);

	o = render(c, ri->otoks, ri->notoks, r->out_buf, 0);
	/*
	 * The process the event belongs to may have lost events (its fork, exec,
	 * opens): what the alert says of it may be stale. Appended where Falco's
	 * append_output appends, so text and JSON output say so alike.
	 */
	if (is_degraded && o + sizeof(degraded) <= MAX_OUTPUT_BYTES) {
		memcpy(r->out_buf + o, degraded, sizeof(degraded));
		o += sizeof(degraded) - 1;
	}
	for (size_t i = 0; i < ri->nofields; i++) {
		const struct saker_finst *fi = ri->ofields[i];
		struct saker_field *f = &r->afields[i];
		const struct saker_fval *v;
		int nv = saker_fields_extract(c, fi, &v);

		f->name = fi->name;
		if (nv <= 0) {
			f->type = SAKER_FIELD_STR;
			f->str = NULL;
			continue;
		}
		switch (fi->type) {
		case SAKER_FT_S64:
			f->type = SAKER_FIELD_S64;
			f->s64 = v[0].i;
			break;
		case SAKER_FT_BOOL:
			f->type = SAKER_FIELD_BOOL;
			f->b = v[0].u != 0;
			break;
		case SAKER_FT_U64:
		case SAKER_FT_RELTIME:
		case SAKER_FT_ABSTIME:
			f->type = SAKER_FIELD_U64;
			f->u64 = v[0].u;
			break;
		default: {
			size_t n;

			f->type = SAKER_FIELD_STR;
			if (fi->type == SAKER_FT_STR) {
				n = v[0].s.n;
				if (vo + n + 1 > MAX_OUTPUT_BYTES) {
					f->str = NULL;
					break;
				}
				memcpy(r->val_buf + vo, v[0].s.p, n);
			} else {
				saker_fval_format(fi->type, &v[0], tmp, sizeof(tmp));
				n = strlen(tmp);
				if (vo + n + 1 > MAX_OUTPUT_BYTES) {
					f->str = NULL;
					break;
				}
				memcpy(r->val_buf + vo, tmp, n);
			}
			r->val_buf[vo + n] = '\0';
			f->str = r->val_buf + vo;
			vo += n + 1;
			break;
		}
		}
	}
	memset(a, 0, sizeof(*a));
	a->time_ns = ev->hdr.ts_ns + c->boot_offset_ns;
	a->priority = ri->prio;
	a->rule = ri->name;
	a->source = "syscall";
	a->output = r->out_buf;
	a->fields = r->afields;
	a->n_fields = ri->nofields;
	a->tags = (const char *const *)ri->tagv;
	a->n_tags = ri->tags.n;
	for (size_t i = 0; i < ri->nxf && vo < MAX_OUTPUT_BYTES - 1; i++) {
		struct saker_field *f = &r->afields[a->n_fields++];
		size_t end = render(c, ri->xf[i].toks, ri->xf[i].ntoks, r->val_buf, vo);

		f->name = ri->xf[i].key;
		f->type = SAKER_FIELD_STR;
		f->str = r->val_buf + vo;
		vo = end + 1;
	}
	/* Flagged only when so; absent otherwise, as the dump does. */
	if (is_degraded) {
		struct saker_field *f = &r->afields[a->n_fields++];

		f->name = "view_degraded";
		f->type = SAKER_FIELD_BOOL;
		f->b = true;
		a->view_degraded = true;
	}
}

int saker_rules_match(struct saker_rules *r, const struct saker_event *ev, struct saker_view *view,
		      saker_rules_match_fn cb, void *cb_ctx)
{
	int slot, n = 0;
	uint32_t nr;
	const uint32_t *list;

	if (!r->fctx)
		return 0;
	r->events++;
	slot = saker_fields_event_slot(ev);
	if (slot < 0 || !(nr = r->slot_n[slot])) {
		r->fctx->evtnum++;
		return 0;
	}
	list = r->slot_rules[slot];
	saker_fctx_begin(r->fctx, ev, view);
	for (uint32_t i = 0; i < nr; i++) {
		struct rule_item *ri = &r->rules[list[i]];

		r->evals++;
		if (!saker_filter_eval(ri->filter, r->fctx))
			continue;
		n++;
		ri->info.matches++;
		r->matches++;
		if (cb) {
			struct saker_alert a;

			format_alert(r, ri, ev, view, &a);
			cb(cb_ctx, &ri->info, &a);
		}
		if (!r->match_all)
			break;
	}
	return n;
}
