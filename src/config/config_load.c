/*
 * The YAML walk: a document's keys to their rows, sections, Falco's older
 * spellings and unsupported keys. YAML is read with libyaml's document API
 * because every node then carries its line and column, which end up in the
 * error messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "lib/errbuf.h"
#include "lib/yamlguard.h"

const struct opt *cfg_find_opt(const char *key)
{
	for (size_t i = 0; i < cfg_n_opts; i++) {
		if (cfg_opts[i].type != OPT_UNSUPPORTED && strcmp(cfg_opts[i].key, key) == 0)
			return &cfg_opts[i];
	}
	return NULL;
}

/* True when key equals an unsupported Falco key or lies below one. */
bool cfg_is_unsupported(const char *key)
{
	for (size_t i = 0; i < cfg_n_opts; i++) {
		size_t n = strlen(cfg_opts[i].key);

		if (cfg_opts[i].type == OPT_UNSUPPORTED && strncmp(cfg_opts[i].key, key, n) == 0 &&
		    (key[n] == '\0' || key[n] == '.'))
			return true;
	}
	return false;
}

/* True when key names a mapping of known keys ("engine", "engine.modern_ebpf", ...). */
bool cfg_is_section(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < cfg_n_opts; i++) {
		if (cfg_opts[i].type != OPT_UNSUPPORTED && strncmp(cfg_opts[i].key, key, n) == 0 &&
		    cfg_opts[i].key[n] == '.')
			return true;
	}
	return false;
}

/*
 * Falco's older spellings, read as saker's key with a warning. Falco 0.36
 * keys (before the engine section) yield to an engine mapping in the same
 * document, as in Falco 0.37. engine.<kind>.buf_size_preset applies when the
 * document's engine.kind is that kind (which saker runs as modern_ebpf).
 */
struct legacy_key {
	const char *key, *to;
	const char *kind; /* NULL: a Falco 0.36 key */
};

static const struct legacy_key legacy_keys[] = {
    {"syscall_buf_size_preset", "engine.modern_ebpf.buf_size_preset", NULL},
    {"modern_bpf.cpus_for_each_syscall_buffer", "engine.modern_ebpf.cpus_for_each_buffer", NULL},
    {"engine.kmod.buf_size_preset", "engine.modern_ebpf.buf_size_preset", "kmod"},
    {"engine.ebpf.buf_size_preset", "engine.modern_ebpf.buf_size_preset", "ebpf"},
};

#define N_LEGACY (sizeof(legacy_keys) / sizeof(legacy_keys[0]))

/* The engine kinds saker reads as modern_ebpf. */
static bool kind_is_legacy(const char *k)
{
	return strcmp(k, "kmod") == 0 || strcmp(k, "ebpf") == 0;
}

/*
 * True when key names a mapping holding a legacy key that applies to this
 * document ("modern_bpf"; "engine.kmod" only when engine.kind is kmod).
 */
static bool is_legacy_section(const struct load_ctx *c, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < N_LEGACY; i++) {
		const struct legacy_key *lk = &legacy_keys[i];

		if (strncmp(lk->key, key, n) == 0 && lk->key[n] == '.' &&
		    (!lk->kind || strcmp(lk->kind, c->doc_kind) == 0))
			return true;
	}
	return false;
}

/*
 * key is a Falco spelling saker reads otherwise: sets *to to saker's key,
 * or *ignored when the document's own engine section wins. false: not one.
 */
static bool legacy_lookup(struct load_ctx *c, const char *key, const yaml_node_t *at,
			  const char **to, bool *ignored)
{
	char qkey[MAX_QUOTED * 5], qto[MAX_QUOTED * 5];

	*ignored = false;
	for (size_t i = 0; i < N_LEGACY; i++) {
		const struct legacy_key *lk = &legacy_keys[i];

		if (strcmp(lk->key, key) != 0)
			continue;
		if (lk->kind && strcmp(lk->kind, c->doc_kind) != 0)
			return false; /* another engine's setting: unsupported, ignored */
		cfg_msg_key(qkey, sizeof(qkey), key);
		cfg_msg_key(qto, sizeof(qto), lk->to);
		if (!lk->kind && c->doc_engine) {
			cfg_warn(c, at, "Falco 0.36 key %s ignored: the engine section sets %s",
				 qkey, qto);
			*ignored = true;
			return true;
		}
		if (lk->kind)
			cfg_warn(c, at, "key %s read as %s (engine.kind %s runs as modern_ebpf)",
				 qkey, qto, lk->kind);
		else
			cfg_warn(c, at, "Falco 0.36 key %s read as %s", qkey, qto);
		*to = lk->to;
		return true;
	}
	/* With kind kmod or ebpf, that engine's preset (mapped above) is the one Falco uses. */
	if (kind_is_legacy(c->doc_kind) && strcmp(key, "engine.modern_ebpf.buf_size_preset") == 0) {
		cfg_msg_key(qkey, sizeof(qkey), key);
		cfg_warn(c, at,
			 "key %s ignored: engine.kind is %s, engine.%s.buf_size_preset applies",
			 qkey, c->doc_kind, c->doc_kind);
		*ignored = true;
		return true;
	}
	return false;
}

/* engine.kind kmod or ebpf: saker has the modern probe only; warn and use it. */
static int apply_legacy_kind(struct load_ctx *c, const struct opt *o, const yaml_node_t *n,
			     bool *done)
{
	const char *v = (const char *)n->data.scalar.value;
	char **p = slot(c->cfg, o);
	char *mod;

	*done = false;
	if (n->type != YAML_SCALAR_NODE || !kind_is_legacy(v))
		return 0;
	mod = strdup("modern_ebpf");
	if (!mod) {
		(void)cfg_fail(c, n, o->key, "out of memory");
		return -ENOMEM;
	}
	cfg_warn(c, n, "engine.kind '%s': saker has no %s driver, using modern_ebpf", v,
		 strcmp(v, "kmod") == 0 ? "kernel module" : "legacy eBPF");
	free(*p);
	*p = mod;
	*done = true;
	return 0;
}

static int apply_mapping(struct load_ctx *c, yaml_document_t *doc, const char *prefix,
			 const yaml_node_t *n)
{
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);
		char *full;
		int ret;

		if (!k || !v)
			return cfg_fail(c, n, prefix[0] ? prefix : NULL, "bad mapping entry");
		if (k->type != YAML_SCALAR_NODE)
			return cfg_fail(c, k, prefix[0] ? prefix : NULL,
					"expected a key name, got %s", cfg_node_kind(k));
		if (memchr(k->data.scalar.value, '\0', k->data.scalar.length))
			return cfg_fail(c, k, prefix[0] ? prefix : NULL,
					"key contains a NUL character");
		if (asprintf(&full, "%s%s%s", prefix, prefix[0] ? "." : "",
			     (const char *)k->data.scalar.value) < 0)
			return -ENOMEM;
		ret = cfg_apply_node(c, doc, full, k, v, false);
		free(full);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The one place a value meets the table, for files and -o alike. keynode
 * (may be NULL) is where unknown-key warnings point.
 */
int cfg_apply_node(struct load_ctx *c, yaml_document_t *doc, const char *key,
		   const yaml_node_t *keynode, const yaml_node_t *n, bool append)
{
	const struct opt *o;
	char qkey[MAX_QUOTED * 5];
	const char *to = NULL;
	bool ignored, done;
	int ret = cfg_spend(c, n);

	if (ret)
		return ret;
	if (legacy_lookup(c, key, keynode ? keynode : n, &to, &ignored)) {
		if (ignored)
			return 0;
		key = to;
	}
	o = cfg_find_opt(key);
	if (o && strcmp(o->key, "engine.kind") == 0 && !append) {
		ret = apply_legacy_kind(c, o, n, &done);
		if (ret || done)
			return ret;
	}
	if (o) {
		if (o->type == OPT_ACTIONS || o->type == OPT_STRLIST)
			return cfg_apply_list(c, o, doc, n, append);
		if (o->type == OPT_RULESEL || o->type == OPT_APPEND)
			return cfg_apply_records(c, o, doc, n, append);
		if (append)
			return cfg_fail(c, n, key, "[] appends to lists only");
		return cfg_apply_scalar(c, o, n);
	}
	cfg_msg_key(qkey, sizeof(qkey), key);
	if (is_legacy_section(c, key) && n->type == YAML_MAPPING_NODE && !append)
		return apply_mapping(c, doc, key, n);
	if (cfg_is_unsupported(key)) {
		cfg_warn(c, keynode ? keynode : n, "key %s is not supported by saker, ignored",
			 qkey);
		return 0;
	}
	if (cfg_is_section(key)) {
		if (append)
			return cfg_fail(c, n, key, "[] appends to lists only");
		if (cfg_is_null(n))
			return 0;
		if (n->type != YAML_MAPPING_NODE)
			return cfg_fail(c, n, key, "expected a mapping, got %s", cfg_node_kind(n));
		return apply_mapping(c, doc, key, n);
	}
	cfg_warn(c, keynode ? keynode : n, "unknown key %s ignored", qkey);
	return 0;
}

/* Notes the document's engine mapping and engine.kind (legacy_lookup reads them). */
static void doc_engine_kind(struct load_ctx *c, yaml_document_t *doc, const yaml_node_t *root)
{
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);

		if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_MAPPING_NODE ||
		    strcmp((const char *)k->data.scalar.value, "engine") != 0)
			continue;
		c->doc_engine = true;
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			yaml_node_t *kk = yaml_document_get_node(doc, q->key);
			yaml_node_t *vv = yaml_document_get_node(doc, q->value);

			if (kk && vv && kk->type == YAML_SCALAR_NODE &&
			    vv->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)kk->data.scalar.value, "kind") == 0)
				snprintf(c->doc_kind, sizeof(c->doc_kind), "%s",
					 (const char *)vv->data.scalar.value);
		}
	}
}

/* Applies ctx to a copy of *cfg and swaps it in only on success. */
int cfg_commit_or_drop(struct saker_config *cfg, struct saker_config *tmp, int ret)
{
	if (ret) {
		saker_config_free(tmp);
		return ret;
	}
	saker_config_free(cfg);
	*cfg = *tmp;
	return 0;
}

/* A second document would be silently ignored otherwise. */
static int check_rest(struct load_ctx *c, yaml_parser_t *p, const char *yaml, size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;

	if (!yaml_parser_load(p, &next))
		return cfg_parser_fail(c, p, yaml, len);
	root = yaml_document_get_root_node(&next);
	if (root)
		cfg_warn(c, root, "only the first YAML document is read, the rest is ignored");
	yaml_document_delete(&next);
	return 0;
}

int saker_config_load_buffer(struct saker_config *cfg, const char *name, const char *yaml,
			     size_t len, char *err, size_t errlen, saker_report_fn warnfn,
			     void *warn_ctx)
{
	struct saker_config tmp;
	struct load_ctx c = {
	    .cfg = &tmp,
	    .name = name ? name : "<config>",
	    .positions = true,
	    .err = err,
	    .errlen = errlen,
	    .warn = warnfn,
	    .warn_ctx = warn_ctx,
	};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret = cfg_load_doc(&c, yaml, len, &parser, &doc);

	if (ret)
		return ret;
	root = yaml_document_get_root_node(&doc);
	if (!root || cfg_is_null(root)) {
		/* an empty file (or only comments, or a bare ---) changes nothing */
		ret = 0;
	} else if (root->type != YAML_MAPPING_NODE) {
		ret =
		    cfg_fail(&c, root, NULL, "expected a mapping of keys at the top level, got %s",
			     cfg_node_kind(root));
	} else if (saker_config_copy(&tmp, cfg)) {
		ret = cfg_oom(&c);
	} else {
		c.budget = cfg_walk_budget(&doc);
		doc_engine_kind(&c, &doc, root);
		ret = apply_mapping(&c, &doc, "", root);
		if (ret == -ENOMEM)
			(void)cfg_oom(&c);
		if (!ret)
			ret = check_rest(&c, &parser, yaml, len);
		ret = cfg_commit_or_drop(cfg, &tmp, ret);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int saker_config_load_file(struct saker_config *cfg, const char *path, char *err, size_t errlen,
			   saker_report_fn warnfn, void *warn_ctx)
{
	char *buf;
	size_t len;
	int ret = saker_yaml_read_file(path, MAX_FILE_BYTES, &buf, &len, err, errlen);

	if (ret)
		return ret;
	ret = saker_config_load_buffer(cfg, path, buf, len, err, errlen, warnfn, warn_ctx);
	free(buf);
	return ret;
}
