/*
 * -o key=value: Falco's key syntax (dots, [N], key[]=, \\. escapes) turned
 * into a small YAML document applied through the same walk as a file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "lib/errbuf.h"

/*
 * Key syntax for -o: name(.name)*, names of [A-Za-z0-9_-] (and, as in Falco
 * 0.44, \\. or \\\\ for a dot or a backslash inside a name), each optionally
 * followed by [N] (Falco's list index).
 */
static bool key_ok(const char *k, size_t len)
{
	bool need_name = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)k[i];

		if (ch == '[' && !need_name) {
			size_t j = i + 1;

			while (j < len && isdigit((unsigned char)k[j]))
				j++;
			if (j == i + 1 || j >= len || k[j] != ']')
				return false;
			i = j;
			if (i + 1 < len && k[i + 1] != '.' && k[i + 1] != '[')
				return false;
		} else if (ch == '.') {
			if (need_name)
				return false;
			need_name = true;
		} else if (isalnum(ch) || ch == '_' || ch == '-') {
			need_name = false;
		} else if (ch == '\\' && i + 1 < len && (k[i + 1] == '.' || k[i + 1] == '\\')) {
			/* Falco 0.44: a backslash escapes a dot or a backslash inside a name */
			need_name = false;
			i++;
		} else {
			return false;
		}
	}
	return len && !need_name;
}

/*
 * Copies a flow list value with its plain items that start with '!' quoted:
 * "[read, !close]" as "[read, '!close']". YAML would read !close as a tag,
 * and the README (and Falco's docs) write removals that way. NULL on ENOMEM.
 */
static char *quote_bang_items(const char *v)
{
	size_t len = strlen(v), o = 0;
	char *out = malloc(3 * len + 1);
	char q = 0;
	bool item_start = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = v[i];

		if (q) {
			out[o++] = ch;
			if (ch == '\\' && q == '"' && i + 1 < len)
				out[o++] = v[++i];
			else if (ch == q)
				q = 0;
			continue;
		}
		if (ch == '\'' || ch == '"') {
			q = ch;
			item_start = false;
			out[o++] = ch;
			continue;
		}
		if (item_start && ch == '!') {
			size_t end = i;

			while (end < len && v[end] != ',' && v[end] != ']' && v[end] != '[' &&
			       v[end] != '{' && v[end] != '}')
				end++;
			while (end > i && isspace((unsigned char)v[end - 1]))
				end--;
			out[o++] = '\'';
			for (size_t j = i; j < end; j++) {
				if (v[j] == '\'')
					out[o++] = '\'';
				out[o++] = v[j];
			}
			out[o++] = '\'';
			i = end - 1;
			item_start = false;
			continue;
		}
		if (ch == '[' || ch == ',')
			item_start = true;
		else if (!isspace((unsigned char)ch))
			item_start = false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return out;
}

/* An item's text as a YAML scalar reads it back: ${ escaped as $${. */
static int add_item(yaml_document_t *doc, int seq, const char *text)
{
	char *esc = cfg_escape_env(text);
	int id;

	if (!esc)
		return -ENOMEM;
	id = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)esc, (int)strlen(esc),
				      YAML_SINGLE_QUOTED_SCALAR_STYLE);
	free(esc);
	if (!id || !yaml_document_append_sequence_item(doc, seq, id))
		return -ENOMEM;
	return 0;
}

/*
 * key[N]=v: replaces item N of a list, or appends it when N is the length.
 * The list is rebuilt with v in place and applied as a whole, so an item set
 * this way is checked like any other.
 */
static int apply_index(struct load_ctx *c, const struct opt *o, yaml_document_t *doc, int value_id,
		       size_t idx)
{
	const struct saker_strlist *l = cslot(c->cfg, o);
	const struct saker_drops_config *d = cslot(c->cfg, o);
	size_t n = o->type == OPT_STRLIST ? l->n : d->n_actions;
	yaml_node_t *v = yaml_document_get_node(doc, value_id);
	int seq, ret = 0;

	if (!v || v->type != YAML_SCALAR_NODE)
		return cfg_fail(c, v, o->key,
				"[%zu] sets one list item: expected a scalar value, got %s", idx,
				v ? cfg_node_kind(v) : "nothing");
	if (idx > n)
		return cfg_fail(
		    c, v, o->key,
		    "index %zu is past the end of the list (%zu items; [%zu] or [] appends)", idx,
		    n, n);
	seq = yaml_document_add_sequence(doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
	if (!seq)
		return -ENOMEM;
	for (size_t i = 0; i < n + (idx == n) && !ret; i++) {
		if (i == idx)
			ret = yaml_document_append_sequence_item(doc, seq, value_id) ? 0 : -ENOMEM;
		else if (o->type == OPT_STRLIST)
			ret = add_item(doc, seq, l->v[i]);
		else
			ret = add_item(doc, seq, saker_drop_action_name(d->actions[i]));
	}
	if (ret)
		return ret;
	return cfg_apply_list(c, o, doc, yaml_document_get_node(doc, seq), false);
}

/* One -o being applied: the caller's configuration, the copy it goes to, the parsed key. */
struct ov {
	struct saker_config *cfg;
	struct saker_config tmp;
	struct load_ctx c; /* .cfg is &tmp, .name is name */
	char name[512];
	char *key; /* the key without a trailing [] or [N] */
	const char *value;
	size_t idx;
	bool append, indexed;
};

/* A value as a document: its root id in *root (0: the literal was not valid UTF-8). */
struct vdoc {
	yaml_parser_t parser;
	yaml_document_t doc;
	bool parsed; /* the parser holds state to free */
	int root;
};

static void vdoc_free(struct vdoc *d)
{
	yaml_document_delete(&d->doc);
	if (d->parsed)
		yaml_parser_delete(&d->parser);
}

/*
 * value as one scalar taken as written (literal), or as YAML; "" is a null
 * scalar. On failure nothing is left to free; else vdoc_free.
 */
static int value_doc(struct load_ctx *c, const char *value, bool literal, struct vdoc *d)
{
	size_t len = strlen(value);
	int ret;

	if (literal) {
		if (!yaml_document_initialize(&d->doc, NULL, NULL, NULL, 1, 1))
			return cfg_oom(c);
		d->root = yaml_document_add_scalar(&d->doc, NULL, (const yaml_char_t *)value,
						   (int)len, YAML_SINGLE_QUOTED_SCALAR_STYLE);
		return 0;
	}
	ret = cfg_load_doc(c, value, len, &d->parser, &d->doc);
	if (ret)
		return ret;
	d->parsed = true;
	/* libyaml numbers nodes from 1, the root first */
	d->root = yaml_document_get_root_node(&d->doc) ? 1 : 0;
	if (!d->root)
		d->root = yaml_document_add_scalar(&d->doc, NULL, (yaml_char_t *)"", 0,
						   YAML_PLAIN_SCALAR_STYLE);
	if (!d->root) {
		vdoc_free(d);
		return cfg_oom(c);
	}
	return 0;
}

/* Wraps *node in a mapping per name, the last first: .disable.rule=v is {disable: {rule: v}}. */
static int wrap_names(yaml_document_t *doc, const char *rest, int *node)
{
	for (const char *end = rest + strlen(rest); end > rest;) {
		const char *dot = end - 1;
		int m, k;

		while (dot > rest && *dot != '.')
			dot--;
		m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
		k = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)dot + 1,
					     (int)(end - dot - 1), YAML_PLAIN_SCALAR_STYLE);
		if (!m || !k || !yaml_document_append_mapping_pair(doc, m, k, *node))
			return -ENOMEM;
		*node = m;
		end = dot;
	}
	return 0;
}

/*
 * -o rules[N].disable.rule=* and -o append_output[N].extra_output=...: the
 * value, wrapped in a mapping per name after [N], is applied to item N (or
 * appended when N is the length). at points to "[N]..." in the key.
 */
static int override_record(struct ov *v, const struct opt *o, const char *at)
{
	const char *rest = strchr(at, ']') + 1, *value = v->value;
	size_t idx = (size_t)strtoull(at + 1, NULL, 10);
	/* rule=* must not read as a YAML alias: names and tags are taken as written */
	bool literal =
	    rest[0] && value[0] != '[' && value[0] != '{' && value[0] != '"' && value[0] != '\'';
	struct vdoc d = {0};
	int ret, node;

	if (idx > 1000000 || (rest[0] && (rest[0] != '.' || strchr(rest, '[')))) {
		saker_set_err(v->c.err, v->c.errlen,
			      "%s: %s[N] takes names after it, no further index", v->name, o->key);
		return -EINVAL;
	}
	ret = value_doc(&v->c, value, literal, &d);
	if (ret)
		return ret;
	node = d.root;
	ret = node ? wrap_names(&d.doc, rest, &node) : -ENOMEM;
	if (!ret)
		ret = saker_config_copy(&v->tmp, v->cfg);
	if (!ret) {
		v->c.budget = cfg_walk_budget(&d.doc);
		ret = cfg_apply_record_at(&v->c, o, &d.doc, yaml_document_get_node(&d.doc, node),
					  idx);
		ret = cfg_commit_or_drop(v->cfg, &v->tmp, ret);
	}
	vdoc_free(&d);
	return ret == -ENOMEM ? cfg_oom(&v->c) : ret;
}

/* The override quoted back whole in messages, on one line; long values cut. */
static void ov_name(char *name, size_t len, const char *key_eq_value)
{
	snprintf(name, len, "-o %.200s%s", key_eq_value, strlen(key_eq_value) > 200 ? "..." : "");
	for (char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

/* key=value into v->key (without a trailing []), v->value and v->append. */
static int ov_split(struct ov *v, const char *key_eq_value)
{
	const char *eq = strchr(key_eq_value, '=');
	char qkey[MAX_QUOTED * 5];
	size_t keylen;

	if (!eq) {
		saker_set_err(v->c.err, v->c.errlen, "%s: expected key=value", v->name);
		return -EINVAL;
	}
	keylen = (size_t)(eq - key_eq_value);
	v->value = eq + 1;
	if (keylen >= 2 && key_eq_value[keylen - 2] == '[' && key_eq_value[keylen - 1] == ']') {
		v->append = true;
		keylen -= 2;
	}
	if (!key_ok(key_eq_value, keylen)) {
		cfg_quote(qkey, sizeof(qkey), key_eq_value, keylen);
		saker_set_err(v->c.err, v->c.errlen,
			      "%s: bad key %s (expected names separated by dots, each with an "
			      "optional [index])",
			      v->name, qkey);
		return -EINVAL;
	}
	v->key = strndup(key_eq_value, keylen);
	if (!v->key) {
		saker_set_err(v->c.err, v->c.errlen, "%s: out of memory", v->name);
		return -ENOMEM;
	}
	return 0;
}

/*
 * A name with an escaped dot or backslash: no key saker has holds one, so it
 * names a Falco key saker does not implement (a plugin's init_config most
 * often) or no key at all. Either is a warning, as in a file.
 */
static int ov_escaped(struct ov *v, const char *key_eq_value)
{
	char *key = v->key, *bs = strchr(key, '\\');
	char qkey[MAX_QUOTED * 5];

	while (bs > key && bs[-1] != '.' && bs[-1] != ']')
		bs--;
	*bs = '\0';
	if (bs > key && (bs[-1] == '.'))
		bs[-1] = '\0';
	if (strchr(key, '['))
		*strchr(key, '[') = '\0';
	cfg_msg_key(qkey, sizeof(qkey), key_eq_value[0] == '\\' ? "" : key);
	if (key[0] && cfg_is_unsupported(key))
		cfg_warn(&v->c, NULL, "key %s is not supported by saker, ignored", qkey);
	else
		cfg_warn(&v->c, NULL, "unknown key ignored");
	return 0;
}

/*
 * A key with [N]: an item of rules: or append_output:, a list item (a
 * trailing [N], kept in v->idx), or a list of mappings saker has not (an
 * error, or a warning under an unsupported key). *done: nothing left to apply.
 */
static int ov_index(struct ov *v, bool *done)
{
	char *key = v->key, *lb = strchr(key, '['), *last = strrchr(key, '[');
	char base[128], qkey[MAX_QUOTED * 5];
	const struct opt *o;
	bool trailing;

	snprintf(base, sizeof(base), "%.*s", (int)(lb - key), key);
	o = cfg_find_opt(base);
	*done = true;
	if (o && (o->type == OPT_RULESEL || o->type == OPT_APPEND))
		return override_record(v, o, lb);
	/* Only a trailing [N] on a list is saker's: key[0].name is in a list of mappings. */
	trailing = lb == last && key[strlen(key) - 1] == ']';
	*lb = '\0';
	if (!trailing) {
		cfg_msg_key(qkey, sizeof(qkey), key);
		if (cfg_is_unsupported(key)) {
			cfg_warn(&v->c, NULL, "key %s is not supported by saker, ignored", qkey);
			return 0;
		}
		saker_set_err(v->c.err, v->c.errlen,
			      "%s: %s: indexes into lists of mappings are not supported", v->name,
			      qkey);
		return -EINVAL;
	}
	v->idx = (size_t)strtoull(lb + 1, NULL, 10);
	if (v->idx > 1000000) {
		saker_set_err(v->c.err, v->c.errlen, "%s: index %.20s is too large", v->name,
			      lb + 1);
		return -EINVAL;
	}
	v->indexed = true;
	*done = false;
	return 0;
}

/* key[]=v appends v; key[]=[a, b] appends a and b. */
static int wrap_append(struct vdoc *d)
{
	yaml_node_t *n = yaml_document_get_node(&d->doc, d->root);
	int seq;

	if (!n || n->type == YAML_SEQUENCE_NODE)
		return 0;
	seq = yaml_document_add_sequence(&d->doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
	if (!seq || !yaml_document_append_sequence_item(&d->doc, seq, d->root))
		return -ENOMEM;
	d->root = seq;
	return 0;
}

/* The value onto a copy of the configuration, kept when accepted. */
static int ov_commit(struct ov *v, const struct opt *o, struct vdoc *d)
{
	int ret = saker_config_copy(&v->tmp, v->cfg);

	if (ret)
		return cfg_oom(&v->c);
	v->c.budget = cfg_walk_budget(&d->doc);
	if (v->indexed && o)
		ret = apply_index(&v->c, o, &d->doc, d->root, v->idx);
	else
		ret = cfg_apply_node(&v->c, &d->doc, v->key, NULL,
				     yaml_document_get_node(&d->doc, d->root), v->append);
	if (ret == -ENOMEM)
		(void)cfg_oom(&v->c);
	return cfg_commit_or_drop(v->cfg, &v->tmp, ret);
}

static int ov_apply(struct ov *v)
{
	const struct opt *o = cfg_find_opt(v->key);
	const char *value = v->value;
	struct vdoc d = {0};
	char *quoted = NULL;
	bool literal;
	int ret;

	if (v->indexed &&
	    (cfg_is_section(v->key) || (o && o->type != OPT_STRLIST && o->type != OPT_ACTIONS))) {
		saker_set_err(v->c.err, v->c.errlen, "%s: %s: [index] applies to lists only",
			      v->name, v->key);
		return -EINVAL;
	}
	if (o && o->type == OPT_STRLIST && strchr(value, '!')) {
		quoted = quote_bang_items(value);
		if (!quoted)
			return cfg_oom(&v->c);
		value = quoted;
	}
	/*
	 * A string key takes the text as written: `program=jq '{text: .output}' | logger`
	 * would otherwise read as a mapping because of its ": ". Quote it to get YAML.
	 */
	literal = o && o->type == OPT_STRING && !v->append && !v->indexed && value[0] != '"' &&
		  value[0] != '\'';
	ret = value_doc(&v->c, value, literal, &d);
	if (ret) {
		free(quoted);
		return ret;
	}
	if (!d.root) {
		saker_set_err(v->c.err, v->c.errlen, "%s: %s: value is not valid UTF-8", v->name,
			      v->key);
		ret = -EINVAL;
	} else if (v->append && wrap_append(&d)) {
		ret = cfg_oom(&v->c);
	} else {
		ret = ov_commit(v, o, &d);
	}
	vdoc_free(&d);
	free(quoted);
	return ret;
}

int saker_config_override(struct saker_config *cfg, const char *key_eq_value, char *err,
			  size_t errlen, saker_report_fn warnfn, void *warn_ctx)
{
	struct ov v = {.cfg = cfg};
	bool done = false;
	int ret;

	v.c = (struct load_ctx){.cfg = &v.tmp,
				.name = v.name,
				.positions = false,
				.err = err,
				.errlen = errlen,
				.warn = warnfn,
				.warn_ctx = warn_ctx};
	if (err && errlen)
		err[0] = '\0';
	if (!key_eq_value) {
		saker_set_err(err, errlen, "-o: expected key=value");
		return -EINVAL;
	}
	ov_name(v.name, sizeof(v.name), key_eq_value);
	ret = ov_split(&v, key_eq_value);
	if (ret)
		return ret;
	if (strchr(v.key, '\\')) {
		ret = ov_escaped(&v, key_eq_value);
		done = true;
	} else if (strchr(v.key, '[')) {
		ret = ov_index(&v, &done);
	}
	if (!ret && !done)
		ret = ov_apply(&v);
	free(v.key);
	return ret;
}
