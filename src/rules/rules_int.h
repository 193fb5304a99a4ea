/*
 * The rules engine's insides (internal to rules/), shared by its files:
 *   rules.c          the ruleset's life, queries, matching and alerts
 *   rules_yaml.c     YAML documents to items (node helpers, keys, overrides)
 *   rules_items.c    items to the ruleset: lists, macros, rules, exceptions,
 *                    override (append/replace) and the older append: true
 *   rules_cond.c     a rule's final condition: its text and its exceptions
 *   rules_compile.c  the ruleset compiled: lists flattened, conditions parsed
 *                    and type-checked, outputs, the per-event-type index
 *   rules_util.c     string vectors, buffers, the name index, positions
 * Functions one file lends another are named rl_*.
 */
#ifndef SAKER_RULES_INT_H
#define SAKER_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "lib/errbuf.h"
#include "lib/report.h"
#include "rules/fields.h"
#include "rules/filter.h"
#include "rules/rules.h"

/* Bounds on what a rules file may make the loader do. */
#define MAX_NESTING	 64
#define MAX_FILE_BYTES	 (64u << 20)
#define MAX_LIST_DEPTH	 64
#define MAX_LIST_ITEMS	 (1u << 20) /* flattened: lists naming lists twice grow exponentially */
#define MAX_OUTPUT_BYTES 16384
#define MAX_ALERT_FIELDS 64

struct strv {
	char **v;
	size_t n, cap;
};

/* A growable string for building conditions. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Names -> index, so that files with many items load in linear time. */
struct nidx {
	struct nent {
		uint64_t h;
		const char *key; /* the item's own name string */
		uint32_t idx;
	} * e;
	size_t cap, n;
};

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
	/* + view_degraded and, in a container, view_degraded_container and _pod */
	struct saker_field afields[2 * MAX_ALERT_FIELDS + 3];
	char degraded_pod[160];
};

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

/* The override mapping: prop -> append/replace. */
struct overrides {
	struct strv append, replace;
};

int rl_strv_push(struct strv *s, const char *str);
void rl_strv_free(struct strv *s);
bool rl_strv_has(const struct strv *s, const char *str);
void rl_buf_putn(struct buf *b, const char *s, size_t n);
void rl_buf_puts(struct buf *b, const char *s);
void rl_buf_quote(struct buf *b, const char *s);
long rl_nidx_get(const struct nidx *x, const char *key);
int rl_nidx_put(struct nidx *x, const char *key, uint32_t idx);
void rl_nidx_free(struct nidx *x);
int rl_grow(void **v, size_t n, size_t *cap, size_t size);
void rl_segs_free(struct segs *s);
void rl_exc_free(struct exception *e);
void rl_rule_clear(struct rule_item *ri);
void rl_where(const struct saker_rules *r, const struct segs *segs, const char *text, size_t off,
	      char *out, size_t outlen);
void rl_pos_str(const struct saker_rules *r, const struct pos *p, char *out, size_t outlen);
struct pos rl_mark_pos(const struct lctx *c, const yaml_node_t *n);
__attribute__((format(printf, 3, 4))) int rl_lfail(struct lctx *c, const yaml_node_t *n,
						   const char *fmt, ...);
int rl_spend(struct lctx *c, const yaml_node_t *n);
yaml_node_t *rl_node_at(struct lctx *c, int id);
const char *rl_scalar(const yaml_node_t *n);
bool rl_is_null_node(const yaml_node_t *n);
yaml_node_t *rl_map_get(struct lctx *c, const yaml_node_t *m, const char *key,
			yaml_node_t **keynode);
int rl_get_str(struct lctx *c, const yaml_node_t *m, const char *key, const char *what,
	       bool required, const char **out, yaml_node_t **vn);
int rl_get_bool(struct lctx *c, const yaml_node_t *v, const char *what, bool *out);
int rl_get_strings(struct lctx *c, const yaml_node_t *n, const char *what, struct strv *v);
int rl_cond_set(struct lctx *c, struct buf *b, struct segs *segs, const yaml_node_t *n,
		bool append);
int rl_set_dup(char **dst, const char *src, bool append);
int rl_get_overrides(struct lctx *c, const yaml_node_t *item, const char *what,
		     const char *const *allowed_append, const char *const *allowed_replace,
		     struct overrides *o, bool *has);
bool rl_keys_only(struct lctx *c, const yaml_node_t *m, const char *const *keys);
void rl_warn_unknown_keys(struct lctx *c, const yaml_node_t *m, const char *what,
			  const char *const *keys);
struct list_item *rl_find_list(struct saker_rules *r, const char *name);
struct macro_item *rl_find_macro(struct saker_rules *r, const char *name);
int rl_load_list(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode);
int rl_load_macro(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode);
int rl_load_rule(struct lctx *c, const yaml_node_t *item, const yaml_node_t *namenode);
int rl_build_condition(struct saker_rules *r, struct rule_item *ri);

#endif
