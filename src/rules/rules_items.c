/*
 * Items to the ruleset: lists, macros and rules with their exceptions, by
 * name, with Falco's override (append/replace per key) and append: true.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rules/rules_int.h"

struct list_item *rl_find_list(struct saker_rules *r, const char *name)
{
	long i = rl_nidx_get(&r->list_idx, name);

	return i < 0 ? NULL : &r->lists[i];
}

struct macro_item *rl_find_macro(struct saker_rules *r, const char *name)
{
	long i = rl_nidx_get(&r->macro_idx, name);

	return i < 0 ? NULL : &r->macros[i];
}

static struct rule_item *find_rule(struct saker_rules *r, const char *name)
{
	long i = rl_nidx_get(&r->rule_idx, name);

	return i < 0 ? NULL : &r->rules[i];
}

int rl_load_list(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
{
	static const char *const ap[] = {"items", NULL}, *const rp[] = {"items", NULL};
	static const char *const keys[] = {"list", "items", "append", "override", NULL};
	struct saker_rules *r = c->r;
	struct overrides o = {0};
	const char *name = rl_scalar(namenode);
	struct list_item *li;
	yaml_node_t *items = rl_map_get(c, item, "items", NULL);
	char what[300];
	bool has_ov;
	int err;

	snprintf(what, sizeof(what), "list '%s'", name);
	err = rl_get_overrides(c, item, what, ap, rp, &o, &has_ov);
	if (err)
		goto out;
	if (!items) {
		err = rl_lfail(c, item, "%s has no 'items'", what);
		goto out;
	}
	rl_warn_unknown_keys(c, item, what, keys);
	li = rl_find_list(r, name);
	if (has_ov && !li) {
		err = rl_lfail(c, namenode, "%s: override or append of a list that is not defined",
			       what);
		goto out;
	}
	if (!li) {
		if (rl_grow((void **)&r->lists, r->nlists, &r->clists, sizeof(*r->lists))) {
			err = -ENOMEM;
			goto out;
		}
		li = &r->lists[r->nlists];
		memset(li, 0, sizeof(*li));
		li->name = strdup(name);
		if (!li->name || rl_nidx_put(&r->list_idx, li->name, (uint32_t)r->nlists)) {
			free(li->name);
			err = -ENOMEM;
			goto out;
		}
		r->nlists++;
		li->pos = rl_mark_pos(c, namenode);
	}
	if (!has_ov || rl_strv_has(&o.replace, "items"))
		rl_strv_free(&li->items);
	err = rl_get_strings(c, items, "items", &li->items);
out:
	rl_strv_free(&o.append);
	rl_strv_free(&o.replace);
	return err;
}

int rl_load_macro(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
{
	static const char *const ap[] = {"condition", NULL}, *const rp[] = {"condition", NULL};
	static const char *const keys[] = {"macro",    "condition", "append",
					   "override", "source",    NULL};
	struct saker_rules *r = c->r;
	struct overrides o = {0};
	const char *name = rl_scalar(namenode), *cond;
	struct macro_item *m;
	yaml_node_t *cn;
	char what[300];
	bool has_ov;
	int err;

	snprintf(what, sizeof(what), "macro '%s'", name);
	err = rl_get_overrides(c, item, what, ap, rp, &o, &has_ov);
	if (!err)
		err = rl_get_str(c, item, "condition", what, true, &cond, &cn);
	if (err)
		goto out;
	rl_warn_unknown_keys(c, item, what, keys);
	m = rl_find_macro(r, name);
	if (has_ov && !m) {
		err = rl_lfail(c, namenode, "%s: override or append of a macro that is not defined",
			       what);
		goto out;
	}
	if (!m) {
		if (rl_grow((void **)&r->macros, r->nmacros, &r->cmacros, sizeof(*r->macros))) {
			err = -ENOMEM;
			goto out;
		}
		m = &r->macros[r->nmacros];
		memset(m, 0, sizeof(*m));
		m->name = strdup(name);
		if (!m->name || rl_nidx_put(&r->macro_idx, m->name, (uint32_t)r->nmacros)) {
			free(m->name);
			err = -ENOMEM;
			goto out;
		}
		r->nmacros++;
		m->pos = rl_mark_pos(c, namenode);
	}
	err = rl_cond_set(c, &m->cond, &m->segs, cn, has_ov && rl_strv_has(&o.append, "condition"));
out:
	rl_strv_free(&o.append);
	rl_strv_free(&o.replace);
	return err;
}

static int strv_copy(struct strv *dst, const struct strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (rl_strv_push(dst, src->v[i]))
			return -ENOMEM;
	return 0;
}

/* One value of an exception: a string or, for an 'in' comparison, a sequence. */
static int exception_cell(struct lctx *c, struct exception *e, yaml_node_t *n, size_t k)
{
	e->cells[k].seq = n && n->type == YAML_SEQUENCE_NODE;
	e->ncells = k + 1;
	return rl_get_strings(c, n, "exception value", &e->cells[k].v);
}

/* A row of values of an exception with several fields: one value per field. */
static int exception_row(struct lctx *c, const yaml_node_t *vn, yaml_node_t *row, const char *what,
			 struct exception *e, size_t *k)
{
	size_t width = e->fields.n, have;
	int err;

	if (!row || row->type != YAML_SEQUENCE_NODE)
		return rl_lfail(c, row ? row : vn,
				"%s: exception '%s': each value must be a sequence of %zu items",
				what, e->name, width);
	have = (size_t)(row->data.sequence.items.top - row->data.sequence.items.start);
	if (have != width)
		return rl_lfail(c, row, "%s: exception '%s': a value has %zu items, fields has %zu",
				what, e->name, have, width);
	for (yaml_node_item_t *ci = row->data.sequence.items.start;
	     ci < row->data.sequence.items.top; ci++) {
		err = exception_cell(c, e, rl_node_at(c, *ci), (*k)++);
		if (err)
			return err;
	}
	return 0;
}

/* The exception's values: one cell a row for a single field, else one a field. */
static int exception_values(struct lctx *c, yaml_node_t *vn, const char *what, struct exception *e)
{
	size_t nrows, k = 0;
	int err;

	if (vn->type != YAML_SEQUENCE_NODE)
		return rl_lfail(c, vn, "%s: exception '%s': values must be a sequence", what,
				e->name);
	if (!e->fields.n)
		return rl_lfail(c, vn, "%s: exception '%s' has values but no fields", what,
				e->name);
	nrows = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
	e->cells = calloc(nrows * (e->single ? 1 : e->fields.n) + 1, sizeof(*e->cells));
	if (!e->cells)
		return -ENOMEM;
	for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
	     it++) {
		yaml_node_t *row = rl_node_at(c, *it);

		if (rl_spend(c, row))
			return -EINVAL;
		if (e->single)
			err = exception_cell(c, e, row, k++);
		else
			err = exception_row(c, vn, row, what, e, &k);
		if (err)
			return err;
		e->nrows++;
	}
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
		return rl_lfail(c, n, "%s: each exception must be a mapping", what);
	err = rl_get_str(c, n, "name", what, true, &name, NULL);
	if (err)
		return err;
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->pos = rl_mark_pos(c, n);
	fn = rl_map_get(c, n, "fields", NULL);
	cn = rl_map_get(c, n, "comps", NULL);
	vn = rl_map_get(c, n, "values", NULL);
	if (fn) {
		e->single = fn->type == YAML_SCALAR_NODE;
		err = rl_get_strings(c, fn, "exception fields", &e->fields);
		if (err)
			return err;
	}
	if (cn) {
		err = rl_get_strings(c, cn, "exception comps", &e->comps);
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
		return rl_lfail(c, cn, "%s: exception '%s' has %zu fields but %zu comps", what,
				e->name, e->fields.n, e->comps.n);
	if (!vn || rl_is_null_node(vn))
		return 0;
	return exception_values(c, vn, what, e);
}

/* Exceptions of an override: new names are added, known names get more values. */
static int merge_exceptions(struct rule_item *ri, struct exception *add, size_t nadd, bool replace)
{
	if (replace) {
		for (size_t i = 0; i < ri->nexc; i++)
			rl_exc_free(&ri->exc[i]);
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
			rl_exc_free(e);
			continue;
		}
		if (known) {
			rl_exc_free(known);
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

/* A rule item being applied: what it is, where, and how its override treats each key. */
struct rload {
	struct lctx *c;
	const yaml_node_t *item;
	const char *what;
	struct rule_item *ri;
	bool has_ov;
	struct overrides o;
};

/* Each property is replaced unless the override appends it; untouched without one. */
static bool appends(const struct rload *l, const char *k)
{
	return l->has_ov && rl_strv_has(&l->o.append, k);
}

static bool touches(const struct rload *l, const char *k)
{
	return !l->has_ov || rl_strv_has(&l->o.append, k) || rl_strv_has(&l->o.replace, k);
}

/* The item's exceptions, each checked against ri's fields when it overrides ri. */
static int rule_exceptions(struct rload *l, struct exception **out, size_t *nout)
{
	yaml_node_t *v = rl_map_get(l->c, l->item, "exceptions", NULL);
	struct exception *exc;
	size_t n;

	*out = NULL;
	*nout = 0;
	if (!v || rl_is_null_node(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return rl_lfail(l->c, v, "%s: exceptions must be a sequence", l->what);
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	exc = calloc(n + 1, sizeof(*exc));
	if (!exc)
		return -ENOMEM;
	*out = exc;
	*nout = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *en = rl_node_at(l->c, v->data.sequence.items.start[i]);
		int err;

		if (rl_spend(l->c, en))
			return -EINVAL;
		err = load_exception(l->c, en ? en : v, l->what, &exc[i], l->has_ov ? l->ri : NULL);
		if (err)
			return err;
	}
	return 0;
}

/*
 * A full definition: its required keys, then its slot, a new one or, for a
 * second definition, the first one's place (the index keeps the name).
 */
static int rule_define(struct rload *l, const char *name, const yaml_node_t *namenode,
		       yaml_node_t **cn)
{
	struct saker_rules *r = l->c->r;
	const char *cond, *out, *prio;
	struct rule_item *ri = l->ri;
	int err;

	err = rl_get_str(l->c, l->item, "condition", l->what, true, &cond, cn);
	if (!err)
		err = rl_get_str(l->c, l->item, "output", l->what, true, &out, NULL);
	if (!err)
		err = rl_get_str(l->c, l->item, "priority", l->what, true, &prio, NULL);
	if (err)
		return err;
	if (ri) {
		char *keep = ri->name;

		ri->name = NULL;
		rl_rule_clear(ri);
		ri->name = keep;
	} else {
		if (rl_grow((void **)&r->rules, r->nrules, &r->crules, sizeof(*r->rules)))
			return -ENOMEM;
		ri = &r->rules[r->nrules];
		memset(ri, 0, sizeof(*ri));
		ri->name = strdup(name);
		if (!ri->name || rl_nidx_put(&r->rule_idx, ri->name, (uint32_t)r->nrules)) {
			free(ri->name);
			ri->name = NULL;
			return -ENOMEM;
		}
		r->nrules++;
	}
	ri->enabled = true;
	ri->pos = rl_mark_pos(l->c, namenode);
	l->ri = ri;
	return 0;
}

/* condition, output, desc, priority */
static int rule_texts(struct rload *l, yaml_node_t *cn)
{
	struct rule_item *ri = l->ri;
	yaml_node_t *v;
	const char *s;
	int err;

	if (touches(l, "condition")) {
		if (!cn && (err = rl_get_str(l->c, l->item, "condition", l->what, true, &s, &cn)))
			return err;
		if ((err = rl_cond_set(l->c, &ri->cond, &ri->segs, cn, appends(l, "condition"))))
			return err;
	}
	if (touches(l, "output") &&
	    ((err = rl_get_str(l->c, l->item, "output", l->what, !l->has_ov, &s, NULL)) ||
	     (err = rl_set_dup(&ri->output, s, appends(l, "output")))))
		return err;
	if (touches(l, "desc") &&
	    ((err = rl_get_str(l->c, l->item, "desc", l->what, false, &s, NULL)) ||
	     (s && (err = rl_set_dup(&ri->desc, s, appends(l, "desc"))))))
		return err;
	if (touches(l, "priority")) {
		if ((err = rl_get_str(l->c, l->item, "priority", l->what, !l->has_ov, &s, &v)))
			return err;
		if (s) {
			if (saker_prio_parse(s, &ri->prio))
				return rl_lfail(l->c, v, "%s: unknown priority '%s'", l->what, s);
			ri->has_prio = true;
		}
	}
	return 0;
}

/* A boolean key, when present. */
static int rule_bool(struct rload *l, const char *key, bool *out)
{
	yaml_node_t *v;

	if (!touches(l, key) || !(v = rl_map_get(l->c, l->item, key, NULL)))
		return 0;
	return rl_get_bool(l->c, v, key, out);
}

/* tags, enabled, exceptions, source and the flags */
static int rule_others(struct rload *l, struct exception *exc, size_t nexc)
{
	struct rule_item *ri = l->ri;
	const char *s;
	int err;

	if (touches(l, "tags")) {
		if (!appends(l, "tags"))
			rl_strv_free(&ri->tags);
		if ((err = rl_get_strings(l->c, rl_map_get(l->c, l->item, "tags", NULL), "tags",
					  &ri->tags)))
			return err;
	}
	if ((err = rule_bool(l, "enabled", &ri->enabled)))
		return err;
	if (touches(l, "exceptions") && exc) {
		err = merge_exceptions(ri, exc, nexc,
				       l->has_ov && rl_strv_has(&l->o.replace, "exceptions"));
		if (err)
			return err;
		if (!ri->exc_pos.line)
			ri->exc_pos =
			    rl_mark_pos(l->c, rl_map_get(l->c, l->item, "exceptions", NULL));
	}
	if (!l->has_ov) {
		if ((err = rl_get_str(l->c, l->item, "source", l->what, false, &s, NULL)) ||
		    (err = rl_set_dup(&ri->source, s, false)))
			return err;
		ri->warn_evttypes = true;
	}
	if ((err = rule_bool(l, "warn_evttypes", &ri->warn_evttypes)))
		return err;
	return rule_bool(l, "skip-if-unknown-filter", &ri->skip_if_unknown);
}

/*
 * A rule item: a definition, a second definition (replaces the first), an
 * override/append of a defined rule, or the old enabled-only toggle.
 */
int rl_load_rule(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode)
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
	const char *name = rl_scalar(namenode);
	struct rload l = {.c = c, .item = item};
	struct exception *exc = NULL;
	size_t nexc = 0;
	yaml_node_t *cn = NULL, *en;
	char what[300];
	int err;

	snprintf(what, sizeof(what), "rule '%s'", name);
	l.what = what;
	err = rl_get_overrides(c, item, what, ap, rp, &l.o, &l.has_ov);
	if (err)
		goto out;
	rl_warn_unknown_keys(c, item, what, keys);
	l.ri = find_rule(c->r, name);
	en = rl_map_get(c, item, "enabled", NULL);
	if (!l.has_ov && l.ri && en && rl_keys_only(c, item, enabled_only)) {
		/* the old way to enable or disable a rule defined earlier */
		err = rl_get_bool(c, en, "enabled", &l.ri->enabled);
		goto out;
	}
	if (l.has_ov && !l.ri) {
		err = rl_lfail(c, namenode, "%s: override or append of a rule that is not defined",
			       what);
		goto out;
	}
	err = rule_exceptions(&l, &exc, &nexc);
	if (!err && !l.has_ov)
		err = rule_define(&l, name, namenode, &cn);
	if (!err)
		err = rule_texts(&l, cn);
	if (!err)
		err = rule_others(&l, exc, nexc);
out:
	for (size_t i = 0; i < nexc; i++)
		rl_exc_free(&exc[i]);
	free(exc);
	rl_strv_free(&l.o.append);
	rl_strv_free(&l.o.replace);
	return err;
}
