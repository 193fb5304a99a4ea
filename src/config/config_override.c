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

/*
 * -o rules[N].disable.rule=* and -o append_output[N].extra_output=...: the
 * value, wrapped in a mapping per name after [N], is applied to item N (or
 * appended when N is the length). at points to "[N]..." in the key.
 */
static int override_record(struct saker_config *cfg, const struct opt *o, const char *at,
			   const char *value, const char *name, char *err, size_t errlen,
			   saker_report_fn warnfn, void *warn_ctx)
{
	struct saker_config tmp;
	struct load_ctx c = {.cfg = &tmp,
			     .name = name,
			     .err = err,
			     .errlen = errlen,
			     .warn = warnfn,
			     .warn_ctx = warn_ctx};
	const char *rest = strchr(at, ']') + 1;
	size_t idx = (size_t)strtoull(at + 1, NULL, 10);
	bool literal =
	    rest[0] && value[0] != '[' && value[0] != '{' && value[0] != '"' && value[0] != '\'';
	yaml_parser_t parser;
	yaml_document_t doc;
	int ret, node = 0;

	if (idx > 1000000 || (rest[0] && (rest[0] != '.' || strchr(rest, '[')))) {
		cfg_set_err(err, errlen, "%s: %s[N] takes names after it, no further index", name,
			    o->key);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser)) {
		cfg_set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (literal) {
		/* rule=* must not read as a YAML alias: names and tags are taken as written */
		if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
			yaml_parser_delete(&parser);
			cfg_set_err(err, errlen, "%s: out of memory", name);
			return -ENOMEM;
		}
		node =
		    yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)value,
					     (int)strlen(value), YAML_SINGLE_QUOTED_SCALAR_STYLE);
	} else {
		ret = cfg_check_nesting(&c, value, strlen(value));
		if (ret) {
			yaml_parser_delete(&parser);
			return ret;
		}
		yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
		if (!yaml_parser_load(&parser, &doc)) {
			ret = cfg_parser_fail(&c, &parser, value, strlen(value));
			yaml_parser_delete(&parser);
			return ret;
		}
		node = yaml_document_get_root_node(&doc) ? 1 : 0;
		if (!node)
			node = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0,
							YAML_PLAIN_SCALAR_STYLE);
	}
	ret = node ? 0 : -ENOMEM;
	/* wrap from the last name to the first: .disable.rule=v is {disable: {rule: v}} */
	for (const char *end = rest + strlen(rest); !ret && end > rest;) {
		const char *dot = end - 1;
		int m, k;

		while (dot > rest && *dot != '.')
			dot--;
		m = yaml_document_add_mapping(&doc, NULL, YAML_FLOW_MAPPING_STYLE);
		k = yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)dot + 1,
					     (int)(end - dot - 1), YAML_PLAIN_SCALAR_STYLE);
		if (!m || !k || !yaml_document_append_mapping_pair(&doc, m, k, node))
			ret = -ENOMEM;
		node = m;
		end = dot;
	}
	if (!ret)
		ret = saker_config_copy(&tmp, cfg);
	if (!ret) {
		c.budget = cfg_walk_budget(&doc);
		ret = cfg_apply_record_at(&c, o, &doc, yaml_document_get_node(&doc, node), idx);
		ret = cfg_commit_or_drop(cfg, &tmp, ret);
	}
	if (ret == -ENOMEM && err && errlen && !err[0])
		cfg_set_err(err, errlen, "%s: out of memory", name);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int saker_config_override(struct saker_config *cfg, const char *key_eq_value, char *err,
			  size_t errlen, saker_report_fn warnfn, void *warn_ctx)
{
	struct saker_config tmp;
	char name[512], qkey[MAX_QUOTED * 5];
	struct load_ctx c = {
	    .cfg = &tmp,
	    .name = name,
	    .positions = false,
	    .err = err,
	    .errlen = errlen,
	    .warn = warnfn,
	    .warn_ctx = warn_ctx,
	};
	const char *eq, *value;
	char *quoted = NULL;
	size_t keylen, idx = 0;
	bool append = false, indexed = false;
	yaml_parser_t parser;
	yaml_document_t doc;
	const struct opt *o;
	char *key = NULL;
	int root_id = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!key_eq_value) {
		cfg_set_err(err, errlen, "-o: expected key=value");
		return -EINVAL;
	}
	/* The override is quoted back whole: keep the message on one line. */
	/* long values are cut so the message itself still fits */
	snprintf(name, sizeof(name), "-o %.200s%s", key_eq_value,
		 strlen(key_eq_value) > 200 ? "..." : "");
	for (char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	eq = strchr(key_eq_value, '=');
	if (!eq) {
		cfg_set_err(err, errlen, "%s: expected key=value", name);
		return -EINVAL;
	}
	keylen = (size_t)(eq - key_eq_value);
	value = eq + 1;
	if (keylen >= 2 && key_eq_value[keylen - 2] == '[' && key_eq_value[keylen - 1] == ']') {
		append = true;
		keylen -= 2;
	}
	if (!key_ok(key_eq_value, keylen)) {
		cfg_quote(qkey, sizeof(qkey), key_eq_value, keylen);
		cfg_set_err(
		    err, errlen,
		    "%s: bad key %s (expected names separated by dots, each with an optional "
		    "[index])",
		    name, qkey);
		return -EINVAL;
	}
	key = strndup(key_eq_value, keylen);
	if (!key) {
		cfg_set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (strchr(key, '\\')) {
		/*
		 * No key saker has holds a dot or a backslash in a name: an escaped one
		 * names a Falco key saker does not implement (a plugin's init_config
		 * most often) or no key at all. Either is a warning, as in a file.
		 */
		char *bs = strchr(key, '\\');

		while (bs > key && bs[-1] != '.' && bs[-1] != ']')
			bs--;
		*bs = '\0';
		if (bs > key && (bs[-1] == '.'))
			bs[-1] = '\0';
		if (strchr(key, '['))
			*strchr(key, '[') = '\0';
		cfg_msg_key(qkey, sizeof(qkey), key_eq_value[0] == '\\' ? "" : key);
		if (warnfn) {
			char line[1100];

			if (key[0] && cfg_is_unsupported(key))
				snprintf(line, sizeof(line),
					 "%s: key %s is not supported by saker, ignored", name,
					 qkey);
			else
				snprintf(line, sizeof(line), "%s: unknown key ignored", name);
			warnfn(warn_ctx, SAKER_PRIO_WARNING, line);
		}
		free(key);
		return 0;
	}
	if (strchr(key, '[')) {
		char base[128];

		snprintf(base, sizeof(base), "%.*s", (int)(strchr(key, '[') - key), key);
		o = cfg_find_opt(base);
		if (o && (o->type == OPT_RULESEL || o->type == OPT_APPEND)) {
			ret = override_record(cfg, o, strchr(key, '['), value, name, err, errlen,
					      warnfn, warn_ctx);
			free(key);
			return ret;
		}
	}
	if (strchr(key, '[')) {
		char *lb = strchr(key, '[');
		char *last = strrchr(key, '[');

		/* Only a trailing [N] on a list is saker's: key[0].name is in a list of mappings.
		 */
		if (lb != last || key[strlen(key) - 1] != ']') {
			*lb = '\0';
			cfg_msg_key(qkey, sizeof(qkey), key);
			ret = 0;
			if (cfg_is_unsupported(key) && warnfn) {
				char line[1100];

				snprintf(line, sizeof(line),
					 "%s: key %s is not supported by saker, ignored", name,
					 qkey);
				warnfn(warn_ctx, SAKER_PRIO_WARNING, line);
			} else if (!cfg_is_unsupported(key)) {
				cfg_set_err(
				    err, errlen,
				    "%s: %s: indexes into lists of mappings are not supported",
				    name, qkey);
				ret = -EINVAL;
			}
			free(key);
			return ret;
		}
		idx = (size_t)strtoull(lb + 1, NULL, 10);
		if (idx > 1000000) {
			cfg_set_err(err, errlen, "%s: index %.20s is too large", name, lb + 1);
			free(key);
			return -EINVAL;
		}
		*lb = '\0';
		indexed = true;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(key);
		cfg_set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	o = cfg_find_opt(key);
	if (indexed &&
	    (cfg_is_section(key) || (o && o->type != OPT_STRLIST && o->type != OPT_ACTIONS))) {
		ret = -EINVAL;
		cfg_set_err(err, errlen, "%s: %s: [index] applies to lists only", name, key);
		goto out_parser;
	}
	if (o && o->type == OPT_STRLIST && strchr(value, '!')) {
		quoted = quote_bang_items(value);
		if (!quoted) {
			ret = -ENOMEM;
			cfg_set_err(err, errlen, "%s: out of memory", name);
			goto out_parser;
		}
		value = quoted;
	}
	if (o && o->type == OPT_STRING && !append && !indexed && value[0] != '"' &&
	    value[0] != '\'') {
		/*
		 * A string key takes the text as written: `program=jq '{text: .output}' | logger`
		 * would otherwise read as a mapping because of its ": ". Quote it to get YAML.
		 */
		if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1)) {
			ret = -ENOMEM;
			cfg_set_err(err, errlen, "%s: out of memory", name);
			goto out_parser;
		}
		root_id =
		    yaml_document_add_scalar(&doc, NULL, (const yaml_char_t *)value,
					     (int)strlen(value), YAML_SINGLE_QUOTED_SCALAR_STYLE);
		if (!root_id) {
			ret = -EINVAL;
			cfg_set_err(err, errlen, "%s: %s: value is not valid UTF-8", name, key);
			goto out_doc;
		}
	} else {
		ret = cfg_check_nesting(&c, value, strlen(value));
		if (ret)
			goto out_parser;
		yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
		if (!yaml_parser_load(&parser, &doc)) {
			ret = cfg_parser_fail(&c, &parser, value, strlen(value));
			goto out_parser;
		}
		/* libyaml numbers nodes from 1, the root first */
		root_id = yaml_document_get_root_node(&doc) ? 1 : 0;
	}
	if (!root_id) {
		/* "key=" is an empty (null) value */
		root_id = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0,
						   YAML_PLAIN_SCALAR_STYLE);
		if (!root_id) {
			ret = -ENOMEM;
			cfg_set_err(err, errlen, "%s: out of memory", name);
			goto out_doc;
		}
	}
	if (append) {
		yaml_node_t *v = yaml_document_get_node(&doc, root_id);

		/* key[]=v appends v; key[]=[a, b] appends a and b */
		if (v && v->type != YAML_SEQUENCE_NODE) {
			int seq = yaml_document_add_sequence(&doc, NULL, YAML_FLOW_SEQUENCE_STYLE);

			if (!seq || !yaml_document_append_sequence_item(&doc, seq, root_id)) {
				ret = -ENOMEM;
				cfg_set_err(err, errlen, "%s: out of memory", name);
				goto out_doc;
			}
			root_id = seq;
		}
	}
	ret = saker_config_copy(&tmp, cfg);
	if (ret) {
		cfg_set_err(err, errlen, "%s: out of memory", name);
		goto out_doc;
	}
	c.budget = cfg_walk_budget(&doc);
	if (indexed && o)
		ret = apply_index(&c, o, &doc, root_id, idx);
	else
		ret = cfg_apply_node(&c, &doc, key, NULL, yaml_document_get_node(&doc, root_id),
				     append);
	if (ret == -ENOMEM && err && errlen && !err[0])
		cfg_set_err(err, errlen, "%s: out of memory", name);
	ret = cfg_commit_or_drop(cfg, &tmp, ret);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	free(quoted);
	free(key);
	return ret;
}
