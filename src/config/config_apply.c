/*
 * A YAML value onto one key of the table: scalars, lists (drop actions
 * included), and the records of rules: and append_output:.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would accept blanks, a sign, and wrap "-1" around */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	double v;
	char *end;

	if (!s[0] || isspace((unsigned char)s[0]))
		return -EINVAL;
	/* ERANGE also flags subnormals, which are fine; overflow shows as infinity */
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static void double_bounds(const struct opt *o, char *buf, size_t len)
{
	if (!(o->flags & OPT_F_NO_MAX))
		snprintf(buf, len, "in [%g, %g]", o->dmin, o->dmax);
	else
		snprintf(buf, len, "%s %g", (o->flags & OPT_F_MIN_EXCL) ? ">" : ">=", o->dmin);
}

static int set_u64(struct load_ctx *c, const struct opt *o, const yaml_node_t *n, const char *v,
		   const char *got, uint64_t *p)
{
	char why[160];
	uint64_t u;

	if (parse_u64(v, &u) || u < o->umin || u > o->umax)
		return cfg_fail(c, n, o->key,
				"expected an integer in [%" PRIu64 ", %" PRIu64 "], got %s",
				o->umin, o->umax, got);
	if (o->check && o->check(&u, v, why, sizeof(why)))
		return cfg_fail(c, n, o->key, "%s, got %s", why, got);
	*p = u;
	return 0;
}

static int set_double(struct load_ctx *c, const struct opt *o, const yaml_node_t *n, const char *v,
		      const char *got, double *p)
{
	char why[160];
	double d;
	bool ok = parse_double(v, &d) == 0;

	if (ok)
		ok = (o->flags & OPT_F_MIN_EXCL) ? d > o->dmin : d >= o->dmin;
	if (ok && !(o->flags & OPT_F_NO_MAX))
		ok = d <= o->dmax;
	if (!ok) {
		double_bounds(o, why, sizeof(why));
		return cfg_fail(c, n, o->key, "expected a number %s, got %s", why, got);
	}
	*p = d;
	return 0;
}

/* A string key's value (an empty string means unset); takes *v when it keeps it. */
static int set_string(struct load_ctx *c, const struct opt *o, const yaml_node_t *n, char **v,
		      char **p)
{
	char why[160];
	char *s = (*v)[0] ? *v : NULL;

	if (o->check && o->check(&s, *v, why, sizeof(why)))
		return cfg_fail(c, n, o->key, "%s", why);
	free(*p);
	*p = s;
	if (s)
		*v = NULL; /* ownership moved */
	return 0;
}

int cfg_apply_scalar(struct load_ctx *c, const struct opt *o, const yaml_node_t *n)
{
	char got[MAX_QUOTED * 5], why[160];
	void *p = slot(c->cfg, o);
	int ret = 0;
	char *v;

	if (n->type != YAML_SCALAR_NODE)
		return cfg_fail(c, n, o->key, "expected a scalar value, got %s", cfg_node_kind(n));
	if (o->type == OPT_STRING && cfg_is_null(n)) {
		char *unset = NULL;

		/* unset must pass the key's check too, as "" does (found by fuzz_config) */
		if (o->check && o->check(&unset, "", why, sizeof(why)))
			return cfg_fail(c, n, o->key, "%s", why);
		free(*(char **)p);
		*(char **)p = NULL;
		return 0;
	}
	v = cfg_scalar_value(c, n, o->key, &ret);
	if (!v)
		return ret;
	cfg_quote(got, sizeof(got), v, strlen(v));

	switch (o->type) {
	case OPT_BOOL:
		if (parse_bool(v, p))
			ret =
			    cfg_fail(c, n, o->key,
				     "expected a boolean (true/false/yes/no/on/off), got %s", got);
		break;
	case OPT_U64:
		ret = set_u64(c, o, n, v, got, p);
		break;
	case OPT_DOUBLE:
		ret = set_double(c, o, n, v, got, p);
		break;
	case OPT_PRIO:
		if (saker_prio_parse(v, p))
			ret = cfg_fail(
			    c, n, o->key,
			    "expected a priority (emergency, alert, critical, error, warning, "
			    "notice, info, debug), got %s",
			    got);
		break;
	case OPT_STRING:
		ret = set_string(c, o, n, &v, p);
		break;
	default:
		ret = cfg_fail(c, n, o->key, "internal error: not a scalar key");
		break;
	}
	free(v);
	return ret;
}

/* A local tag ("!close") on an empty plain scalar, not a standard one ("!!str"). */
static bool is_bang_tag(const yaml_node_t *n)
{
	const char *t = (const char *)n->tag;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       t && t[0] == '!' && t[1] && t[1] != '!';
}

/* A drop action onto d; seen: the actions the list has so far. */
static int add_action(struct load_ctx *c, const struct opt *o, const yaml_node_t *item,
		      const char *v, bool seen[CFG_N_ACTIONS])
{
	struct saker_drops_config *d = slot(c->cfg, o);
	const char *other = NULL;
	char got[MAX_QUOTED * 5];
	enum saker_drop_action a;
	int ret = 0;

	cfg_quote(got, sizeof(got), v, strlen(v));
	if (cfg_action_parse(v, &a))
		return cfg_fail(c, item, o->key,
				"unknown action %s (expected ignore, log, alert, exit or resync)",
				got);
	/* Falco's rule: doing nothing and logging/alerting contradict each other. */
	if (a == SAKER_DROP_ACT_IGNORE && seen[SAKER_DROP_ACT_LOG])
		other = "log";
	else if (a == SAKER_DROP_ACT_IGNORE && seen[SAKER_DROP_ACT_ALERT])
		other = "alert";
	else if ((a == SAKER_DROP_ACT_LOG || a == SAKER_DROP_ACT_ALERT) &&
		 seen[SAKER_DROP_ACT_IGNORE])
		other = "ignore";
	if (other)
		ret = cfg_fail(c, item, o->key, "action %s cannot be combined with \"%s\"", got,
			       other);
	seen[a] = true;
	cfg_actions_add(d, a);
	return ret;
}

typedef int (*item_fn)(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		       const yaml_node_t *item, void *arg);

/* Each item of the sequence n, charged to the walk's budget, through fn. */
static int each_item(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		     const yaml_node_t *n, item_fn fn, void *arg)
{
	int ret = 0;

	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);

		if (!item)
			return cfg_fail(c, n, o->key, "bad list item");
		ret = cfg_spend(c, item);
		if (!ret)
			ret = fn(c, o, doc, item, arg);
	}
	return ret;
}

/* One item of a string list or of the drop actions (seen: the actions so far). */
static int add_list_item(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			 const yaml_node_t *item, void *seen)
{
	struct saker_strlist *l = slot(c->cfg, o);
	char why[MAX_QUOTED * 5 + 64];
	int ret = 0;
	char *v;

	(void)doc;
	if (item->type != YAML_SCALAR_NODE)
		return cfg_fail(c, item, o->key, "expected a list of strings, got %s in the list",
				cfg_node_kind(item));
	v = cfg_scalar_value(c, item, o->key, &ret);
	if (!v)
		return ret;
	if (!v[0] && is_bang_tag(item)) {
		/* `- !close` unquoted: YAML reads "!close" as a tag on an empty value */
		free(v);
		v = strdup((const char *)item->tag);
		if (!v) {
			(void)cfg_fail(c, item, o->key, "out of memory");
			return -ENOMEM;
		}
	}
	if (o->type != OPT_STRLIST)
		ret = add_action(c, o, item, v, seen);
	else if (!v[0])
		ret = cfg_fail(c, item, o->key, "expected a non-empty string in the list");
	else if (o->check && o->check(&v, v, why, sizeof(why)))
		ret = cfg_fail(c, item, o->key, "%s", why);
	else if (cfg_strlist_push(l, v) && cfg_fail(c, item, o->key, "out of memory"))
		ret = -ENOMEM;
	free(v);
	return ret;
}

/* Empties a string list or the drop actions. */
static void list_clear(struct load_ctx *c, const struct opt *o)
{
	if (o->type == OPT_STRLIST)
		cfg_strlist_clear(slot(c->cfg, o));
	else
		((struct saker_drops_config *)slot(c->cfg, o))->n_actions = 0;
}

int cfg_apply_list(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		   const yaml_node_t *n, bool append)
{
	struct saker_drops_config *d = slot(c->cfg, o);
	bool seen[CFG_N_ACTIONS] = {false};
	int ret = 0;

	if (cfg_is_null(n)) {
		if (!append)
			list_clear(c, o);
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE && (o->flags & OPT_F_SCALAR_LIST)) {
		char *v = cfg_scalar_value(c, n, o->key, &ret);

		if (!v)
			return ret;
		if (!append)
			list_clear(c, o);
		if (v[0] && cfg_strlist_push(slot(c->cfg, o), v))
			ret = -ENOMEM;
		free(v);
		return ret;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_fail(c, n, o->key, "expected a list, got %s", cfg_node_kind(n));
	if (!append)
		list_clear(c, o);
	for (size_t i = 0; o->type == OPT_ACTIONS && i < d->n_actions; i++)
		seen[d->actions[i]] = true;
	return each_item(c, o, doc, n, add_list_item, seen);
}

/* Iterates a mapping's pairs: key text and value node; false at the end. */
static const yaml_node_t *pair_at(yaml_document_t *doc, const yaml_node_t *m, size_t i,
				  const yaml_node_t **keynode)
{
	const yaml_node_pair_t *pr = m->data.mapping.pairs.start + i;
	const yaml_node_t *k;

	if (pr >= m->data.mapping.pairs.top)
		return NULL;
	k = yaml_document_get_node(doc, pr->key);
	*keynode = k;
	return yaml_document_get_node(doc, pr->value);
}

static bool key_is(const yaml_node_t *k, const char *name)
{
	return k && k->type == YAML_SCALAR_NODE &&
	       strcmp((const char *)k->data.scalar.value, name) == 0;
}

/* A scalar setting (NULL for null or ""), replacing *dst. */
static int set_scalar_str(struct load_ctx *c, const yaml_node_t *v, const char *key, char **dst)
{
	char *s;
	int ret = 0;

	if (cfg_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE)
		return cfg_fail(c, v, key, "expected a scalar value, got %s", cfg_node_kind(v));
	s = cfg_scalar_value(c, v, key, &ret);
	if (!s)
		return ret;
	free(*dst);
	*dst = s[0] ? s : NULL;
	if (!s[0])
		free(s);
	return 0;
}

/*
 * One `rules:` item, Falco's shape: {enable: {rule: NAME, tag: TAG}} or
 * {disable: ...}; rule and tag each optional, at least one.
 */
static int apply_rulesel_item(struct load_ctx *c, yaml_document_t *doc, const char *key,
			      const yaml_node_t *n, struct saker_rule_sel *out)
{
	const yaml_node_t *k, *v, *sub = NULL;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return cfg_fail(c, n, key,
				"expected {enable: {rule: NAME}} or {disable: {tag: TAG}}, "
				"got %s",
				cfg_node_kind(n));
	for (size_t i = 0; (v = pair_at(doc, n, i, &k)) != NULL; i++) {
		bool en = key_is(k, "enable");

		if (!en && !key_is(k, "disable"))
			return cfg_fail(c, k ? k : n, key, "expected enable or disable");
		if (sub)
			return cfg_fail(c, k, key, "one of enable or disable per item");
		sub = v;
		out->enable = en;
	}
	if (!sub || sub->type != YAML_MAPPING_NODE)
		return cfg_fail(c, sub ? sub : n, key,
				"expected enable or disable with a mapping of rule and/or tag");
	free(out->rule);
	free(out->tag);
	out->rule = out->tag = NULL;
	for (size_t i = 0; !ret && (v = pair_at(doc, sub, i, &k)) != NULL; i++) {
		if (key_is(k, "rule"))
			ret = set_scalar_str(c, v, key, &out->rule);
		else if (key_is(k, "tag"))
			ret = set_scalar_str(c, v, key, &out->tag);
		else
			ret = cfg_fail(c, k ? k : sub, key, "expected rule or tag");
	}
	if (!ret && !out->rule && !out->tag)
		ret = cfg_fail(c, sub, key, "expected rule or tag");
	return ret;
}

static int push_tags(struct load_ctx *c, yaml_document_t *doc, const char *key,
		     const yaml_node_t *v, struct saker_strlist *tags)
{
	int ret = 0;

	cfg_strlist_clear(tags);
	if (cfg_is_null(v))
		return 0;
	if (v->type == YAML_SCALAR_NODE) {
		char *t = cfg_scalar_value(c, v, key, &ret);

		if (t && t[0] && cfg_strlist_push(tags, t))
			ret = -ENOMEM;
		free(t);
		return ret;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(c, v, key, "match.tags: expected a list of tags");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		char *t;

		if (!item || item->type != YAML_SCALAR_NODE)
			return cfg_fail(c, item ? item : v, key,
					"match.tags: expected a list of tags");
		t = cfg_scalar_value(c, item, key, &ret);
		if (t && t[0] && cfg_strlist_push(tags, t))
			ret = -ENOMEM;
		free(t);
	}
	return ret;
}

static int push_field(struct saker_append *a, char *k, char *v)
{
	struct saker_append_field *f = realloc(a->fields, (a->n_fields + 1) * sizeof(*f));

	if (!f) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	a->fields = f;
	a->fields[a->n_fields++] = (struct saker_append_field){k, v};
	return 0;
}

static int apply_extra_fields(struct load_ctx *c, yaml_document_t *doc, const char *key,
			      const yaml_node_t *v, struct saker_append *a)
{
	int ret = 0;

	cfg_append_fields_clear(a);
	if (cfg_is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(c, v, key,
				"extra_fields: expected a list of field names or key: value");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		const yaml_node_t *ik, *iv;
		char *fk, *fv = NULL;

		if (item && item->type == YAML_SCALAR_NODE && !cfg_is_null(item)) {
			fk = cfg_scalar_value(c, item, key, &ret);
			if (fk)
				ret = push_field(a, fk, NULL);
			continue;
		}
		if (!item || item->type != YAML_MAPPING_NODE ||
		    item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1 ||
		    !(iv = pair_at(doc, item, 0, &ik)) || !ik || ik->type != YAML_SCALAR_NODE ||
		    iv->type != YAML_SCALAR_NODE)
			return cfg_fail(c, item ? item : v, key,
					"extra_fields: expected a field name or one key: value");
		fk = cfg_scalar_value(c, ik, key, &ret);
		if (fk)
			fv = cfg_scalar_value(c, iv, key, &ret);
		if (!fk || !fv) {
			free(fk);
			return ret;
		}
		ret = push_field(a, fk, fv);
	}
	return ret;
}

/* One append_output item onto *a: the keys it has replace a's (an -o item[N].key merges). */
static int apply_append_item(struct load_ctx *c, yaml_document_t *doc, const char *key,
			     const yaml_node_t *n, struct saker_append *a)
{
	const yaml_node_t *k, *v;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return cfg_fail(
		    c, n, key, "expected a mapping of match, extra_output and extra_fields, got %s",
		    cfg_node_kind(n));
	for (size_t i = 0; !ret && (v = pair_at(doc, n, i, &k)) != NULL; i++) {
		if (key_is(k, "match")) {
			const yaml_node_t *mk, *mv;

			if (cfg_is_null(v)) {
				free(a->source);
				free(a->rule);
				a->source = a->rule = NULL;
				cfg_strlist_clear(&a->tags);
				continue;
			}
			if (v->type != YAML_MAPPING_NODE)
				return cfg_fail(c, v, key, "match: expected a mapping, got %s",
						cfg_node_kind(v));
			for (size_t j = 0; !ret && (mv = pair_at(doc, v, j, &mk)) != NULL; j++) {
				if (key_is(mk, "source"))
					ret = set_scalar_str(c, mv, key, &a->source);
				else if (key_is(mk, "rule"))
					ret = set_scalar_str(c, mv, key, &a->rule);
				else if (key_is(mk, "tags"))
					ret = push_tags(c, doc, key, mv, &a->tags);
				else
					ret = cfg_fail(c, mk ? mk : v, key,
						       "match: expected source, rule or tags");
			}
		} else if (key_is(k, "extra_output")) {
			ret = set_scalar_str(c, v, key, &a->extra_output);
		} else if (key_is(k, "extra_fields")) {
			ret = apply_extra_fields(c, doc, key, v, a);
		} else if (key_is(k, "suggested_output")) {
			char *sv;

			if (v->type != YAML_SCALAR_NODE)
				return cfg_fail(c, v, key,
						"suggested_output: expected true or false");
			sv = cfg_scalar_value(c, v, key, &ret);
			if (!sv)
				return ret;
			if (parse_bool(sv, &a->suggested_output))
				ret =
				    cfg_fail(c, v, key, "suggested_output: expected true or false");
			free(sv);
		} else {
			ret = cfg_fail(
			    c, k ? k : n, key,
			    "expected match, extra_output, extra_fields or suggested_output");
		}
	}
	return ret;
}

/*
 * Item idx of rules: / append_output: from node n: an existing item is
 * updated (append_output merges the keys n has; a rules item is replaced),
 * idx == length (or SIZE_MAX) appends one. Atomic per item.
 */
int cfg_apply_record_at(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			const yaml_node_t *n, size_t idx)
{
	int ret;

	if (o->type == OPT_RULESEL) {
		rulesel_list *l = slot(c->cfg, o);
		struct saker_rule_sel sel = {0}, *nv;

		if (idx == SIZE_MAX)
			idx = l->n;
		if (idx > l->n)
			return cfg_fail(c, n, o->key,
					"index %zu is past the end of the list (%zu items)", idx,
					l->n);
		ret = apply_rulesel_item(c, doc, o->key, n, &sel);
		if (ret) {
			free(sel.rule);
			free(sel.tag);
			return ret;
		}
		if (idx < l->n) {
			free(l->v[idx].rule);
			free(l->v[idx].tag);
			l->v[idx] = sel;
			return 0;
		}
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv) {
			free(sel.rule);
			free(sel.tag);
			return -ENOMEM;
		}
		l->v = nv;
		l->v[l->n++] = sel;
		return 0;
	} else {
		append_list *l = slot(c->cfg, o);
		struct saker_append a, *nv;

		if (idx == SIZE_MAX)
			idx = l->n;
		if (idx > l->n)
			return cfg_fail(c, n, o->key,
					"index %zu is past the end of the list (%zu items)", idx,
					l->n);
		if (idx < l->n)
			ret = cfg_append_entry_copy(&a, &l->v[idx]);
		else
			ret = (memset(&a, 0, sizeof(a)), 0);
		if (!ret)
			ret = apply_append_item(c, doc, o->key, n, &a);
		if (ret) {
			cfg_append_entry_free(&a);
			return ret;
		}
		if (idx < l->n) {
			cfg_append_entry_free(&l->v[idx]);
			l->v[idx] = a;
			return 0;
		}
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!nv) {
			cfg_append_entry_free(&a);
			return -ENOMEM;
		}
		l->v = nv;
		l->v[l->n++] = a;
		return 0;
	}
}

static int append_record(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			 const yaml_node_t *item, void *arg)
{
	(void)arg;
	return cfg_apply_record_at(c, o, doc, item, SIZE_MAX);
}

/* rules: and append_output: as a whole list (null clears it); append adds to it. */
int cfg_apply_records(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		      const yaml_node_t *n, bool append)
{
	void *p = slot(c->cfg, o);

	if (!append) {
		if (o->type == OPT_RULESEL)
			cfg_rulesel_clear(p);
		else
			cfg_append_clear(p);
	}
	if (cfg_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_fail(c, n, o->key, "expected a list, got %s", cfg_node_kind(n));
	return each_item(c, o, doc, n, append_record, NULL);
}
