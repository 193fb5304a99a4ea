#include "rules/filter.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/filter_int.h"

/* ---- compiler ------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) struct enode *fl_cfail(struct comp *c, int kind, size_t off,
							     const char *fmt, ...)
{
	va_list ap;

	if (c->e->kind)
		return NULL;
	c->e->kind = kind;
	c->e->src = c->src;
	c->e->off = off;
	va_start(ap, fmt);
	vsnprintf(c->e->msg, sizeof(c->e->msg), fmt, ap);
	va_end(ap);
	return NULL;
}

struct enode *fl_enew(struct comp *c, enum ekind k)
{
	struct enode *n;

	if (++c->nodes > SAKER_FILTER_MAX_NODES)
		return fl_cfail(c, SAKER_FERR_INVALID, 0,
				"condition too large: more than %u nodes once macros are expanded",
				SAKER_FILTER_MAX_NODES);
	n = calloc(1, sizeof(*n));

	if (!n)
		return fl_cfail(c, SAKER_FERR_NOMEM, 0, "out of memory");
	n->kind = k;
	n->cost = 1;
	return n;
}

/* Kids arrays grow by doubling: flattening long and/or chains must stay linear. */
static int ekid(struct comp *c, struct enode *n, struct enode *k)
{
	if (fl_grows(n->nkids)) {
		uint32_t cap = n->nkids < 4 ? 4 : 2 * n->nkids;
		struct enode **nk = realloc(n->kids, cap * sizeof(*nk));

		if (!nk) {
			fl_enode_free(k);
			fl_cfail(c, SAKER_FERR_NOMEM, 0, "out of memory");
			return -ENOMEM;
		}
		n->kids = nk;
	}
	n->kids[n->nkids++] = k;
	return 0;
}

struct enode *fl_constant(struct comp *c, bool v)
{
	return fl_enew(c, v ? E_TRUE : E_FALSE);
}

struct kidkey {
	struct enode *n;
	uint32_t cost, order;
};

static int cmp_kid(const void *a, const void *b)
{
	const struct kidkey *x = a, *y = b;

	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Checks have no side effects, so the kids of an and/or may be tested in any
 * order: cheapest first, written order among equals (stable). The rule
 * authors' order is kept otherwise; Falco's style guide asks for this order
 * by hand, this makes it so.
 */
static void order_kids(struct enode *n)
{
	struct kidkey stack[64], *k = n->nkids <= 64 ? stack : malloc(n->nkids * sizeof(*k));
	uint64_t sum = 0;

	if (!k)
		return; /* unordered is still correct */
	for (uint32_t i = 0; i < n->nkids; i++) {
		k[i] = (struct kidkey){n->kids[i], n->kids[i]->cost, i};
		sum += n->kids[i]->cost;
	}
	qsort(k, n->nkids, sizeof(*k), cmp_kid);
	for (uint32_t i = 0; i < n->nkids; i++)
		n->kids[i] = k[i].n;
	n->cost = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
	if (k != stack)
		free(k);
}

uint32_t fl_cmp_cost(const struct enode *n)
{
	uint32_t c = saker_finst_cost(n->fi);

	switch (n->op) {
	case OP_REGEX:
		return c + 20;
	case OP_GLOB:
	case OP_IGLOB:
	case OP_ICONTAINS:
		return c + 3;
	case OP_CONTAINS:
	case OP_BCONTAINS:
	case OP_PMATCH:
		return c + 2;
	case OP_IN:
	case OP_INTERSECTS:
		return c + (n->set ? 1 : n->nvals / 2);
	default:
		return c;
	}
}

/* Folds and flattens an and/or node whose kids are compiled. */
static struct enode *fold_bool(struct comp *c, struct enode *n)
{
	enum ekind absorb = n->kind == E_AND ? E_FALSE : E_TRUE;
	enum ekind neutral = n->kind == E_AND ? E_TRUE : E_FALSE;
	struct enode **kids = n->kids;
	uint32_t nk = n->nkids;

	n->kids = NULL;
	n->nkids = 0;
	for (uint32_t i = 0; i < nk; i++) {
		struct enode *k = kids[i];

		if (!k)
			continue;
		if (k->kind == absorb) {
			for (uint32_t j = i; j < nk; j++)
				if (kids[j] != k)
					fl_enode_free(kids[j]);
			free(kids);
			fl_enode_free(n);
			return k;
		}
		if (k->kind == neutral) {
			fl_enode_free(k);
			continue;
		}
		if (k->kind == n->kind) {
			/* (a and (b and c)) is (a and b and c) */
			for (uint32_t j = 0; j < k->nkids; j++)
				if (ekid(c, n, k->kids[j])) {
					k->nkids = 0;
					fl_enode_free(k);
					goto oom;
				}
			k->nkids = 0;
			fl_enode_free(k);
			continue;
		}
		if (ekid(c, n, k))
			goto oom;
	}
	free(kids);
	if (n->nkids == 0) {
		fl_enode_free(n);
		return fl_constant(c, neutral == E_TRUE);
	}
	if (n->nkids == 1) {
		struct enode *only = n->kids[0];

		n->nkids = 0;
		fl_enode_free(n);
		return only;
	}
	order_kids(n);
	return n;
oom:
	free(kids);
	fl_enode_free(n);
	return NULL;
}

static struct enode *compile(struct comp *c, const struct saker_ast *a);

static struct enode *compile_ident(struct comp *c, const struct saker_ast *a)
{
	const struct saker_ast *m;
	const void *msrc = NULL, *saved = c->src;
	struct enode *n;
	struct saker_ferr me = {0};

	for (unsigned i = 0; i < c->depth; i++)
		if (!strcmp(c->stack[i], a->name))
			return fl_cfail(c, SAKER_FERR_INVALID, a->pos,
					"macro '%s' refers to itself", a->name);
	if (c->depth >= SAKER_FILTER_MAX_MACROS)
		return fl_cfail(c, SAKER_FERR_INVALID, a->pos, "macros nested deeper than %d",
				SAKER_FILTER_MAX_MACROS);
	m = c->env->macro ? c->env->macro(c->env->ctx, a->name, &msrc, &me) : NULL;
	if (!m) {
		if (me.kind) {
			*c->e = me;
			return NULL;
		}
		return fl_cfail(c, SAKER_FERR_UNDEFINED, a->pos, "undefined macro '%s'", a->name);
	}
	c->stack[c->depth++] = a->name;
	c->src = msrc;
	n = compile(c, m);
	c->src = saved;
	c->depth--;
	return n;
}

static struct enode *compile(struct comp *c, const struct saker_ast *a)
{
	struct enode *n, *k;

	switch (a->kind) {
	case A_CHECK:
		return fl_compile_check(c, a);
	case A_IDENT:
		return compile_ident(c, a);
	case A_NOT:
		k = compile(c, a->kids[0]);
		if (!k)
			return NULL;
		if (k->kind == E_TRUE || k->kind == E_FALSE) {
			k->kind = k->kind == E_TRUE ? E_FALSE : E_TRUE;
			return k;
		}
		if (k->kind == E_NOT) {
			n = k->kids[0];
			k->nkids = 0;
			fl_enode_free(k);
			return n;
		}
		n = fl_enew(c, E_NOT);
		if (!n) {
			fl_enode_free(k);
			return NULL;
		}
		if (ekid(c, n, k)) {
			fl_enode_free(n);
			return NULL;
		}
		n->cost = k->cost;
		return n;
	case A_AND:
	case A_OR:
		n = fl_enew(c, a->kind == A_AND ? E_AND : E_OR);
		if (!n)
			return NULL;
		for (uint32_t i = 0; i < a->nkids; i++) {
			k = compile(c, a->kids[i]);
			if (!k || ekid(c, n, k)) {
				fl_enode_free(n);
				return NULL;
			}
		}
		return fold_bool(c, n);
	default:
		return fl_cfail(c, SAKER_FERR_UNSUPPORTED, a->pos, "unsupported construct");
	}
}

int saker_filter_compile(const struct saker_ast *a, const void *src,
			 const struct saker_filter_env *env, struct saker_filter **out,
			 struct saker_ferr *e)
{
	struct comp c = {.env = env, .e = e, .src = src};
	struct saker_filter *f;
	struct enode *root;

	*out = NULL;
	memset(e, 0, sizeof(*e));
	root = compile(&c, a);
	if (!root) {
		if (!e->kind)
			fl_cfail(&c, SAKER_FERR_NOMEM, 0, "out of memory");
		return e->kind == SAKER_FERR_NOMEM ? -ENOMEM : -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		fl_enode_free(root);
		fl_cfail(&c, SAKER_FERR_NOMEM, 0, "out of memory");
		return -ENOMEM;
	}
	f->root = root;
	f->never = c.never;
	*out = f;
	return 0;
}

int saker_filter_const(const struct saker_filter *f)
{
	return f->root->kind == E_TRUE ? 1 : f->root->kind == E_FALSE ? 0 : -1;
}

static void slots_of(const struct enode *e, uint64_t *set)
{
	uint64_t tmp[SAKER_SLOT_WORDS];

	switch (e->kind) {
	case E_FALSE:
		memset(set, 0, SAKER_SLOT_WORDS * sizeof(*set));
		return;
	case E_EVTTYPE:
		memcpy(set, e->slots, SAKER_SLOT_WORDS * sizeof(*set));
		return;
	case E_NOT:
		if (e->kids[0]->kind == E_EVTTYPE) {
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] = ~e->kids[0]->slots[w];
			return;
		}
		break;
	case E_AND:
		memset(set, 0xff, SAKER_SLOT_WORDS * sizeof(*set));
		for (uint32_t i = 0; i < e->nkids; i++) {
			slots_of(e->kids[i], tmp);
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] &= tmp[w];
		}
		return;
	case E_OR:
		memset(set, 0, SAKER_SLOT_WORDS * sizeof(*set));
		for (uint32_t i = 0; i < e->nkids; i++) {
			slots_of(e->kids[i], tmp);
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] |= tmp[w];
		}
		return;
	default:
		break;
	}
	memset(set, 0xff, SAKER_SLOT_WORDS * sizeof(*set));
}

void saker_filter_slots(const struct saker_filter *f, uint64_t set[SAKER_SLOT_WORDS])
{
	slots_of(f->root, set);
	/* bits past the last slot mean nothing */
	if (SAKER_NSLOTS % 64)
		set[SAKER_SLOT_WORDS - 1] &= (1ull << (SAKER_NSLOTS % 64)) - 1;
}

const struct saker_field_info *saker_filter_never_field(const struct saker_filter *f)
{
	return f->never;
}

static size_t count_nodes(const struct enode *e)
{
	size_t n = 1;

	for (uint32_t i = 0; i < e->nkids; i++)
		n += count_nodes(e->kids[i]);
	return n;
}

size_t saker_filter_nodes(const struct saker_filter *f)
{
	return count_nodes(f->root);
}
