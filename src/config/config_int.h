/*
 * Shared within config/: the key table's row type, the loader's context and
 * the helpers the files of config/ call in each other. Not for other modules:
 * config/config.h is the interface.
 *
 *   config_keys.c      the key table (one row per key) and each key's check
 *   config.c           defaults, copy, compare, free; checks across keys
 *   config_yaml.c      messages with positions, the alias budget, scalars
 *   config_apply.c     a YAML value onto one row: scalars, lists, records
 *   config_load.c      the walk from a document's keys to rows; load_buffer/file
 *   config_override.c  -o key=value
 *   config_dump.c      --dry-run's YAML
 */
#ifndef SAKER_CONFIG_INT_H
#define SAKER_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config/config.h"
#include "saker_abi.h"

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)
/* Bigger files are certainly not a configuration; refuse before parsing. */
#define MAX_FILE_BYTES (16 * MIB)
/* Longest value quoted back in an error message. */
#define MAX_QUOTED 64
/* Documents nest 4 levels at most; Falco plugin sections a few more. */
#define MAX_NESTING 64
/*
 * The smallest ring that holds the largest record: SAKER_MAX_EVENT_SIZE and
 * the ring's 8-byte record header, rounded up to a power of two. A smaller
 * ring could never carry a long-path event: each would be "buffer full".
 */
#define MIN_RING_BYTES (2 * SAKER_MAX_EVENT_SIZE)
_Static_assert(MIN_RING_BYTES >= SAKER_MAX_EVENT_SIZE + 8, "ring fits the largest record");
/* The drop actions' names (config.c) index by enum saker_drop_action. */
#define CFG_N_ACTIONS (SAKER_DROP_ACT_RESYNC + 1)

enum opt_type {
	OPT_BOOL,
	OPT_U64,
	OPT_DOUBLE,
	OPT_STRING,
	OPT_PRIO,
	OPT_ACTIONS,
	OPT_STRLIST,
	OPT_RULESEL, /* rules: a list of {enable|disable: {rule, tag}} */
	OPT_APPEND,  /* append_output: a list of {match, extra_output, extra_fields} */
	/* A Falco key saker does not implement: the subtree is warned about and skipped. */
	OPT_UNSUPPORTED,
};

/* Double bounds: the lower one may be exclusive, the upper one absent. */
#define OPT_F_MIN_EXCL 0x1u
#define OPT_F_NO_MAX   0x2u
/* A list key that reads a scalar as a one-item list (Falco does so for rules_files). */
#define OPT_F_SCALAR_LIST 0x4u
/*
 * An output channel's `<channel>.enabled` (one must be true), and a string
 * key the enabled channel cannot run without: saker_config_validate checks
 * both from the table, so a new channel adds only its rows.
 */
#define OPT_F_OUTPUT_ON	   0x8u
#define OPT_F_OUTPUT_NEEDS 0x10u

struct opt {
	const char *key;
	enum opt_type type;
	size_t off;
	unsigned flags;
	uint64_t umin, umax;
	double dmin, dmax;
	bool def_b;
	uint64_t def_u;
	double def_d;
	const char *def_s; /* string default; for OPT_ACTIONS a comma-separated list */
	/* Extra check after the type parsed: 0, or -EINVAL with the reason in why. */
	int (*check)(const void *val, const char *raw, char *why, size_t whylen);
	/* When a changed value takes effect: live on SIGHUP (the default) or at the next start. */
	enum saker_config_apply apply;
};

/* The table (config_keys.c). */
extern const struct opt cfg_opts[];
extern const size_t cfg_n_opts;

typedef struct {
	struct saker_rule_sel *v;
	size_t n;
} rulesel_list;
typedef struct {
	struct saker_append *v;
	size_t n;
} append_list;

struct load_ctx {
	struct saker_config *cfg;
	const char *name; /* file name, or "-o key=value" */
	bool positions;	  /* overrides are one line: no line:col */
	char *err;
	size_t errlen;
	saker_report_fn warn;
	void *warn_ctx;
	/*
	 * Nodes the walk may still visit. An alias is a reference, not a copy:
	 * thousands of aliases to one long list cost a few bytes each and a
	 * whole list walk each, so a small file could keep the loader busy for
	 * hours. Without aliases the walk visits each node once.
	 */
	size_t budget;
	/* From the document being loaded: its engine.kind, and whether it has an engine mapping. */
	char doc_kind[16];
	bool doc_engine;
};

static inline void *slot(struct saker_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static inline const void *cslot(const struct saker_config *cfg, const struct opt *o)
{
	return (const char *)cfg + o->off;
}

/* config.c: values */
int cfg_action_parse(const char *s, enum saker_drop_action *out);
/* Adds an action unless already present: a repeated action would only run twice in a row. */
void cfg_actions_add(struct saker_drops_config *d, enum saker_drop_action a);
void cfg_strlist_clear(struct saker_strlist *l);
int cfg_strlist_push(struct saker_strlist *l, const char *s);
void cfg_rulesel_clear(void *p);
void cfg_append_clear(void *p);
void cfg_append_entry_free(struct saker_append *a);
/* Frees an append_output item's extra_fields and leaves it with none. */
void cfg_append_fields_clear(struct saker_append *a);
int cfg_append_entry_copy(struct saker_append *o, const struct saker_append *i);

/* config_yaml.c: messages and scalars */
/* Quotes text for a one-line message: escapes quotes and control bytes, truncates. */
void cfg_quote(char *out, size_t outlen, const char *s, size_t len);
/* A key in single quotes, as in Falco's messages. */
void cfg_msg_key(char *buf, size_t len, const char *key);
/* Writes "name:line:col: key: message" for node n and returns -EINVAL. */
__attribute__((format(printf, 4, 5))) int cfg_fail(struct load_ctx *c, const yaml_node_t *n,
						   const char *key, const char *fmt, ...);
__attribute__((format(printf, 3, 4))) int cfg_fail_at(struct load_ctx *c, const yaml_mark_t *m,
						      const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void cfg_warn(struct load_ctx *c, const yaml_node_t *n,
						    const char *fmt, ...);
int cfg_spend(struct load_ctx *c, const yaml_node_t *n);
size_t cfg_walk_budget(const yaml_document_t *doc);
const char *cfg_node_kind(const yaml_node_t *n);
bool cfg_is_null(const yaml_node_t *n);
char *cfg_scalar_value(struct load_ctx *c, const yaml_node_t *n, const char *key, int *ret);
int cfg_parser_fail(struct load_ctx *c, const yaml_parser_t *p, const char *buf, size_t len);
/* The first document of buf, refused when too deep (lib/yamlguard.h); c's name and positions. */
int cfg_load_doc(struct load_ctx *c, const char *buf, size_t len, yaml_parser_t *p,
		 yaml_document_t *doc);
/* "name: out of memory" unless a message is there already; -ENOMEM. */
int cfg_oom(struct load_ctx *c);

/* config_apply.c: a value onto a row */
int cfg_apply_scalar(struct load_ctx *c, const struct opt *o, const yaml_node_t *n);
int cfg_apply_list(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		   const yaml_node_t *n, bool append);
int cfg_apply_records(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
		      const yaml_node_t *n, bool append);
int cfg_apply_record_at(struct load_ctx *c, const struct opt *o, yaml_document_t *doc,
			const yaml_node_t *n, size_t idx);

/* config_load.c: the walk */
const struct opt *cfg_find_opt(const char *key);
bool cfg_is_unsupported(const char *key);
bool cfg_is_section(const char *key);
int cfg_apply_node(struct load_ctx *c, yaml_document_t *doc, const char *key,
		   const yaml_node_t *keynode, const yaml_node_t *n, bool append);
int cfg_commit_or_drop(struct saker_config *cfg, struct saker_config *tmp, int ret);

/* config_dump.c */
/* Escapes ${ as $${ so that loading the text does not expand variables again. */
char *cfg_escape_env(const char *s);

#endif
