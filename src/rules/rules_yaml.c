/*
 * Rules files as YAML documents: node helpers with positions and a budget,
 * typed keys, overrides; each top-level item to rules_items.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/yamlguard.h"
#include "rules/rules_int.h"

/* ---- loading ---------------------------------------------------------------- */

struct pos rl_mark_pos(const struct lctx *c, const yaml_node_t *n)
{
	struct pos p = {c->file, n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0};

	return p;
}

__attribute__((format(printf, 3, 4))) int rl_lfail(struct lctx *c, const yaml_node_t *n,
						   const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		saker_set_err(c->err, c->errlen, "%s:%zu:%zu: %s", c->r->files[c->file].name,
			      n->start_mark.line + 1, n->start_mark.column + 1, msg);
	else
		saker_set_err(c->err, c->errlen, "%s: %s", c->r->files[c->file].name, msg);
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

int rl_spend(struct lctx *c, const yaml_node_t *n)
{
	if (c->budget == 0)
		return rl_lfail(c, n, "aliases expand the document too much");
	c->budget--;
	return 0;
}

yaml_node_t *rl_node_at(struct lctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

const char *rl_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool rl_is_null_node(const yaml_node_t *n)
{
	const char *s = rl_scalar(n);

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
yaml_node_t *rl_map_get(struct lctx *c, const yaml_node_t *m, const char *key,
			yaml_node_t **keynode)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = rl_node_at(c, p->key);
		const char *ks = rl_scalar(k);

		if (ks && !strcmp(ks, key)) {
			if (keynode)
				*keynode = k;
			return rl_node_at(c, p->value);
		}
	}
	return NULL;
}

int rl_get_str(struct lctx *c, const yaml_node_t *m, const char *key, const char *what,
	       bool required, const char **out, yaml_node_t **vn)
{
	yaml_node_t *v = rl_map_get(c, m, key, NULL);

	*out = NULL;
	if (vn)
		*vn = v;
	if (!v) {
		if (required)
			return rl_lfail(c, m, "%s has no '%s'", what, key);
		return 0;
	}
	if (rl_spend(c, v))
		return -EINVAL;
	if (v->type != YAML_SCALAR_NODE)
		return rl_lfail(c, v, "%s: '%s' must be a rl_scalar, not %s", what, key,
				kind_name(v));
	*out = rl_scalar(v);
	return 0;
}

int rl_get_bool(struct lctx *c, const yaml_node_t *v, const char *what, bool *out)
{
	const char *s = rl_scalar(v);

	if (!s)
		return rl_lfail(c, v, "%s must be true or false", what);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE") ||
		 !strcmp(s, "no"))
		*out = false;
	else
		return rl_lfail(c, v, "%s must be true or false, not '%s'", what, s);
	return 0;
}

/* A sequence of scalars (or one rl_scalar) into v. */
int rl_get_strings(struct lctx *c, const yaml_node_t *n, const char *what, struct strv *v)
{
	if (!n || rl_is_null_node(n))
		return 0;
	if (rl_spend(c, n))
		return -EINVAL;
	if (n->type == YAML_SCALAR_NODE)
		return rl_strv_push(v, rl_scalar(n)) ? -ENOMEM : 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return rl_lfail(c, n, "%s must be a sequence, not %s", what, kind_name(n));
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = rl_node_at(c, *it);

		if (rl_spend(c, e))
			return -EINVAL;
		if (!e || e->type != YAML_SCALAR_NODE)
			return rl_lfail(c, e ? e : n, "%s: items must be scalars, not %s", what,
					kind_name(e));
		if (rl_strv_push(v, rl_scalar(e)))
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
int rl_cond_set(struct lctx *c, struct buf *b, struct segs *segs, const yaml_node_t *n, bool append)
{
	if (!append) {
		b->len = 0;
		if (b->p)
			b->p[0] = '\0';
		segs->n = 0;
	} else if (b->len) {
		rl_buf_puts(b, " ");
	}
	if (segs_add(segs, b->len, c->file, n, false))
		return -ENOMEM;
	rl_buf_puts(b, rl_scalar(n));
	return b->oom ? -ENOMEM : 0;
}

int rl_set_dup(char **dst, const char *src, bool append)
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

/* ks (NULL: not a scalar, never) is one of the NULL-terminated keys. */
static bool key_in(const char *const *keys, const char *ks)
{
	for (const char *const *k = keys; *k && ks; k++)
		if (!strcmp(*k, ks))
			return true;
	return false;
}

int rl_get_overrides(struct lctx *c, const yaml_node_t *item, const char *what,
		     const char *const *allowed_append, const char *const *allowed_replace,
		     struct overrides *o, bool *has)
{
	yaml_node_t *ov = rl_map_get(c, item, "override", NULL),
		    *av = rl_map_get(c, item, "append", NULL);
	bool append = false;

	*has = false;
	if (av) {
		if (rl_get_bool(c, av, "append", &append))
			return -EINVAL;
	}
	if (ov && av)
		return rl_lfail(c, ov, "%s: 'override' and 'append' cannot be used together", what);
	if (append) {
		*has = true;
		for (const char *const *p = allowed_append; *p; p++)
			if (rl_map_get(c, item, *p, NULL) && rl_strv_push(&o->append, *p))
				return -ENOMEM;
		return 0;
	}
	if (!ov)
		return 0;
	if (ov->type != YAML_MAPPING_NODE)
		return rl_lfail(c, ov, "%s: 'override' must be a mapping of key: append|replace",
				what);
	*has = true;
	for (yaml_node_pair_t *p = ov->data.mapping.pairs.start; p < ov->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = rl_node_at(c, p->key), *v = rl_node_at(c, p->value);
		const char *ks = rl_scalar(k), *vs = rl_scalar(v);
		const char *const *allowed;

		if (rl_spend(c, k))
			return -EINVAL;
		if (!ks || !vs || (strcmp(vs, "append") && strcmp(vs, "replace")))
			return rl_lfail(c, v ? v : ov, "%s: override values are append or replace",
					what);
		allowed = !strcmp(vs, "append") ? allowed_append : allowed_replace;
		if (!key_in(allowed, ks))
			return rl_lfail(c, k, "%s: '%s' cannot be overridden with %s", what, ks,
					vs);
		if (!rl_map_get(c, item, ks, NULL))
			return rl_lfail(c, k, "%s: override of '%s' but the item has no '%s'", what,
					ks, ks);
		if (rl_strv_push(!strcmp(vs, "append") ? &o->append : &o->replace, ks))
			return -ENOMEM;
	}
	return 0;
}

bool rl_keys_only(struct lctx *c, const yaml_node_t *m, const char *const *keys)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (!key_in(keys, rl_scalar(rl_node_at(c, p->key))))
			return false;
	return true;
}

void rl_warn_unknown_keys(struct lctx *c, const yaml_node_t *m, const char *what,
			  const char *const *keys)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = rl_node_at(c, p->key);
		const char *ks = rl_scalar(k);

		if (!key_in(keys, ks))
			lwarn(c, k, "%s: unknown key '%s' ignored", what, ks ? ks : "?");
	}
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
	const char *s = rl_scalar(vn);

	if (!s)
		return rl_lfail(c, vn, "required_engine_version must be a version");
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
		return rl_lfail(c, vn, "required_plugin_versions must be a sequence");
	for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
	     it++) {
		yaml_node_t *p = rl_node_at(c, *it);
		const char *name = NULL, *ver = NULL;

		if (rl_spend(c, p))
			return -EINVAL;
		if (!p || p->type != YAML_MAPPING_NODE)
			return rl_lfail(c, p ? p : vn,
					"required_plugin_versions: items are mappings");
		if (rl_get_str(c, p, "name", "required plugin", true, &name, NULL) ||
		    rl_get_str(c, p, "version", "required plugin", false, &ver, NULL))
			return -EINVAL;
		if (rl_strv_has(&c->r->plugins_warned, name))
			continue;
		if (rl_strv_push(&c->r->plugins_warned, name))
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
		return rl_lfail(c, item,
				"each item must be a mapping (rule, macro, list, ...), not %s",
				kind_name(item));
	for (kind = 0; kind < sizeof(kinds) / sizeof(kinds[0]); kind++) {
		vn = rl_map_get(c, item, kinds[kind], &kn);
		if (vn)
			break;
	}
	if (!vn) {
		lwarn(c, item, "unknown item ignored (not a rule, macro or list)");
		return 0;
	}
	if (kind <= 2) {
		const char *name = rl_scalar(vn);

		if (!name || !*name)
			return rl_lfail(c, vn, "%s: the name must be a non-empty scalar",
					kinds[kind]);
	}
	switch (kind) {
	case 0:
		return rl_load_rule(c, item, vn);
	case 1:
		return rl_load_macro(c, item, vn);
	case 2:
		return rl_load_list(c, item, vn);
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
		saker_set_err(err, errlen, "%s: rules are already compiled",
			      name ? name : "<rules>");
		return -EBUSY;
	}
	if (!buf && len)
		return -EINVAL;
	if (rl_grow((void **)&r->files, r->nfiles, &r->cfiles, sizeof(*r->files)))
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
	ret = saker_yaml_load(&src, MAX_NESTING, &parser, &doc, err, errlen);
	if (ret)
		return ret;
	c.doc = &doc;
	c.budget = 4 * (size_t)(doc.nodes.top - doc.nodes.start) + 4096;
	root = yaml_document_get_root_node(&doc);
	if (!root || rl_is_null_node(root))
		goto out;
	if (root->type != YAML_SEQUENCE_NODE) {
		ret = rl_lfail(&c, root, "a rules file is a sequence of items, not %s",
			       kind_name(root));
		goto out;
	}
	for (yaml_node_item_t *it = root->data.sequence.items.start;
	     it < root->data.sequence.items.top && !ret; it++) {
		yaml_node_t *item = rl_node_at(&c, *it);

		if (!item)
			continue;
		ret = rl_spend(&c, item);
		if (!ret)
			ret = load_item(&c, item);
		if (ret == -ENOMEM)
			saker_set_err(err, errlen, "%s: out of memory", nf->name);
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
	int ret = saker_yaml_read_file(path, MAX_FILE_BYTES, &buf, &len, err, errlen);

	if (ret)
		return ret;
	ret = saker_rules_load_buffer(r, path, buf, len, err, errlen, warn, warn_ctx);
	free(buf);
	return ret;
}
