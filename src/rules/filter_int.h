/*
 * The condition language's insides (internal to rules/), shared by its files:
 *   filter_parse.c    the lexer and parser: text to a syntax tree
 *   filter_check.c    a comparison checked against its field's type, its
 *                     values parsed (numbers, addresses, networks, sets)
 *   filter.c          the tree compiled: macros expanded, and/or folded and
 *                     ordered by cost, event types found
 *   filter_eval.c     the compiled tree evaluated on an event (globs, sets)
 * Functions one file lends another are named fl_*.
 */
#ifndef SAKER_FILTER_INT_H
#define SAKER_FILTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/fields.h"
#include "rules/filter.h"

enum ast_kind { A_AND, A_OR, A_NOT, A_CHECK, A_IDENT, A_UNSUPPORTED };

enum op {
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_CONTAINS,
	OP_ICONTAINS,
	OP_BCONTAINS,
	OP_STARTSWITH,
	OP_BSTARTSWITH,
	OP_ENDSWITH,
	OP_GLOB,
	OP_IGLOB,
	OP_REGEX,
	OP_IN,
	OP_INTERSECTS,
	OP_PMATCH,
	OP_EXISTS,
};

struct aval {
	char *s;
	uint32_t n;
	uint32_t pos;
	bool quoted;
};

struct saker_ast {
	enum ast_kind kind;
	uint32_t pos;
	struct saker_ast **kids;
	uint32_t nkids;
	char *name; /* field or identifier */
	char *arg;
	uint32_t argpos;
	enum op op;
	uint32_t oppos;
	struct aval *vals;
	uint32_t nvals;
	bool list;	 /* the value is a list */
	bool list_ident; /* ... given by name */
};

enum ekind { E_TRUE, E_FALSE, E_AND, E_OR, E_NOT, E_CMP, E_EVTTYPE };

struct cval {
	union {
		int64_t i;
		uint64_t u;
		struct {
			char *p;
			uint32_t n;
		} s;
		struct {
			uint8_t a[16];
			uint8_t v6;
			uint8_t prefix;
		} ip;
	};
};

struct sset {
	size_t cap; /* power of two */
	struct sent {
		uint64_t h;
		const char *p;
		uint32_t n;
	} * e;
};

struct enode {
	enum ekind kind;
	enum op op;
	uint32_t cost; /* estimated; kids of and/or are tested cheapest first */
	uint32_t nkids;
	struct enode **kids;
	const struct saker_finst *fi;
	enum saker_ftype type;
	struct cval *vals;
	uint32_t nvals;
	struct sset *set;
	regex_t *re;
	uint64_t *slots;
};

struct saker_filter {
	struct enode *root;
	const struct saker_field_info *never;
};

struct comp {
	const struct saker_filter_env *env;
	struct saker_ferr *e;
	const void *src;
	const char *stack[SAKER_FILTER_MAX_MACROS];
	unsigned depth;
	size_t nodes;
	const struct saker_field_info *never;
};

/* Operator names, as written, by enum op. */
extern const char *const fl_op_names[];

bool fl_grows(uint32_t n);
void fl_enode_free(struct enode *n);
struct sset *fl_sset_build(const struct cval *v, uint32_t n);
int fl_lower(int c);
__attribute__((format(printf, 4, 5))) struct enode *fl_cfail(struct comp *c, int kind, size_t off,
							     const char *fmt, ...);
struct enode *fl_enew(struct comp *c, enum ekind k);
struct enode *fl_constant(struct comp *c, bool v);
uint32_t fl_cmp_cost(const struct enode *n);
struct enode *fl_compile_check(struct comp *c, const struct saker_ast *a);

#endif
