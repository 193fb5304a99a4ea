/*
 * Falco's condition language: parsing into a syntax tree, compiling the tree
 * (macros expanded, lists resolved, fields and values typed, constants
 * folded) into a tree that evaluates without allocating, and evaluating it.
 *
 * Grammar and precedence as libsinsp's parser has them:
 *   or-expr  := and-expr ("or" and-expr)*
 *   and-expr := not-expr ("and" not-expr)*
 *   not-expr := "not" not-expr | check
 *   check    := "(" or-expr ")" | field ["[" arg "]"] operator [value] | macro-name
 * Values are quoted strings ('...' or "...", with \b \f \n \r \t \\ \/ and the
 * quote escaped) or bare words (no blank, quote, parenthesis, comma or =);
 * lists are "(v1, v2, ...)" or a list's name. Field transformers (tolower(),
 * val(), ...) are recognised and reported as unsupported.
 *
 * A comparison on a field with no value is false (exists too), as in Falco.
 */
#ifndef SAKER_FILTER_H
#define SAKER_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/fields.h"

enum saker_ferr_kind {
	SAKER_FERR_SYNTAX = 1,	/* the text is not a condition */
	SAKER_FERR_UNDEFINED,	/* an identifier that names no macro */
	SAKER_FERR_INVALID,	/* a value that does not fit its field, a macro cycle, ... */
	SAKER_FERR_UNSUPPORTED, /* a field, operator or construct saker does not support */
	SAKER_FERR_NOMEM,
	SAKER_FERR_UNKNOWN, /* a field or operator neither saker nor Falco has (a typo) */
};

struct saker_ferr {
	int kind;	 /* 0 = no error */
	const void *src; /* the text the offset is in (the caller's handle) */
	size_t off;
	char what[128]; /* the unsupported field or operator, for reasons */
	char msg[384];
};

struct saker_ast;

/* Limits: nesting in one condition, and macros inside macros. */
#define SAKER_FILTER_MAX_DEPTH	100
#define SAKER_FILTER_MAX_MACROS 64
/* Nodes of one compiled condition: macros used twice per level would grow it exponentially. */
#define SAKER_FILTER_MAX_NODES (1u << 18)

/* 0, or -EINVAL with e filled (e->src is left to the caller). */
int saker_filter_parse(const char *text, struct saker_ast **out, struct saker_ferr *e);
void saker_ast_free(struct saker_ast *a);

struct saker_filter_env {
	void *ctx;
	/*
	 * The parsed condition of macro name and the handle of its text, NULL
	 * when there is no such macro. On a macro whose text does not parse it
	 * returns NULL with e filled.
	 */
	const struct saker_ast *(*macro)(void *ctx, const char *name, const void **src,
					 struct saker_ferr *e);
	/* The items of the list called name (flattened), or NULL. */
	const char *const *(*list)(void *ctx, const char *name, size_t *n);
	/* The interned instance of field[arg], or NULL with why filled. */
	const struct saker_finst *(*field)(void *ctx, const char *field, const char *arg, int *err,
					   char *why, size_t whylen);
};

struct saker_filter;

/*
 * Compiles a parsed condition whose text is src. 0, or -EINVAL / -ENOMEM
 * with e filled.
 */
int saker_filter_compile(const struct saker_ast *a, const void *src,
			 const struct saker_filter_env *env, struct saker_filter **out,
			 struct saker_ferr *e);
void saker_filter_free(struct saker_filter *f);

bool saker_filter_eval(const struct saker_filter *f, struct saker_fctx *c);

/* After folding: 1 always true, 0 never true, -1 depends on the event. */
int saker_filter_const(const struct saker_filter *f);
/* Event-type slots the condition can match (fields.h SAKER_SLOT_*). */
void saker_filter_slots(const struct saker_filter *f, uint64_t set[SAKER_SLOT_WORDS]);
/* The first field that has no value in saker and was folded away; NULL if none. */
const struct saker_field_info *saker_filter_never_field(const struct saker_filter *f);
/* Nodes in the compiled tree (tests, statistics). */
size_t saker_filter_nodes(const struct saker_filter *f);

/* Glob match as Falco's glob operator does it: * ? [set] [!set], \ escapes. */
bool saker_glob_match(const char *pat, size_t pn, const char *s, size_t sn, bool icase);

/* Unquotes a string written '...' or "..." with Falco's escapes; -EINVAL if malformed. */
int saker_filter_unquote(const char *s, size_t n, char *out, size_t outsize, size_t *outlen);

#endif
