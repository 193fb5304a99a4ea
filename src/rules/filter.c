#include "rules/filter.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"

/* ---- syntax tree ------------------------------------------------------- */

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

static const char *const op_names[] = {
    "=",	 "!=",	      "<",	    "<=",	   ">",	       ">=",   "contains",
    "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob",
    "regex",	 "in",	      "intersects", "pmatch",	   "exists",
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

void saker_ast_free(struct saker_ast *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->nkids; i++)
		saker_ast_free(a->kids[i]);
	free(a->kids);
	free(a->name);
	free(a->arg);
	for (uint32_t i = 0; i < a->nvals; i++)
		free(a->vals[i].s);
	free(a->vals);
	free(a);
}

/* ---- lexer and parser ---------------------------------------------------- */

struct parser {
	const char *s;
	size_t len, pos;
	unsigned depth;
	struct saker_ferr *e;
};

__attribute__((format(printf, 4, 5))) static void seterr(struct saker_ferr *e, int kind, size_t off,
							 const char *fmt, ...)
{
	va_list ap;

	if (e->kind)
		return;
	e->kind = kind;
	e->off = off;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

#define PFAIL(p, ...) (seterr((p)->e, SAKER_FERR_SYNTAX, (p)->pos, __VA_ARGS__), (void *)NULL)

static char cur(const struct parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : '\0';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\b' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

static bool lex_blank(struct parser *p)
{
	bool found = false;

	while (p->pos < p->len && is_blank(p->s[p->pos])) {
		p->pos++;
		found = true;
	}
	return found;
}

static bool lex_str(struct parser *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n))
		return false;
	p->pos += n;
	return true;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ident(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* [a-zA-Z]+[a-zA-Z0-9_]* at pos; its length, 0 if none. */
static size_t ident_len(const struct parser *p, size_t at)
{
	size_t i = at;

	if (i >= p->len || !is_alpha(p->s[i]))
		return 0;
	while (i < p->len && is_ident(p->s[i]))
		i++;
	return i - at;
}

/* A field name: identifiers joined by dots, at least one dot. */
static size_t field_len(const struct parser *p)
{
	size_t i = p->pos, n = ident_len(p, i), parts = 1;

	if (!n)
		return 0;
	i += n;
	while (i + 1 < p->len && p->s[i] == '.' && (n = ident_len(p, i + 1))) {
		i += 1 + n;
		parts++;
	}
	return parts > 1 ? i - p->pos : 0;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int saker_filter_unquote(const char *s, size_t n, char *out, size_t outsize, size_t *outlen)
{
	size_t o = 0;
	char q;

	if (n < 2 || (s[0] != '"' && s[0] != '\'') || s[n - 1] != s[0])
		return -EINVAL;
	q = s[0];
	for (size_t i = 1; i + 1 < n; i++) {
		char c = s[i];

		if (c == '\\') {
			if (i + 2 >= n)
				return -EINVAL;
			c = s[++i];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case ' ':
			case '\\':
			case '/':
				break;
			case '"':
			case '\'':
				if (c != q)
					return -EINVAL;
				break;
			default:
				return -EINVAL;
			}
		}
		if (o + 1 >= outsize)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* A quoted string at pos, unquoted into *out; false when there is none. */
static bool lex_quoted(struct parser *p, char **out, size_t *outn)
{
	char q = cur(p);
	size_t i, start = p->pos, n;
	char *buf;

	if (q != '"' && q != '\'')
		return false;
	for (i = p->pos + 1; i < p->len; i++) {
		if (p->s[i] == '\\') {
			i++;
			continue;
		}
		if (p->s[i] == q)
			break;
	}
	if (i >= p->len) {
		seterr(p->e, SAKER_FERR_SYNTAX, start, "unterminated quoted string");
		return false;
	}
	buf = malloc(i - start + 1);
	if (!buf) {
		seterr(p->e, SAKER_FERR_NOMEM, start, "out of memory");
		return false;
	}
	if (saker_filter_unquote(p->s + start, i + 1 - start, buf, i - start + 1, &n)) {
		free(buf);
		seterr(p->e, SAKER_FERR_SYNTAX, start, "invalid escape in quoted string");
		return false;
	}
	p->pos = i + 1;
	*out = buf;
	*outn = n;
	return true;
}

static bool bare_char(char c, bool field_arg)
{
	if (!c || is_blank(c) || c == '"' || c == '\'')
		return false;
	if (field_arg)
		return c != '[' && c != ']';
	return c != '(' && c != ')' && c != ',' && c != '=';
}

static bool lex_bare(struct parser *p, bool field_arg, char **out, size_t *outn)
{
	size_t start = p->pos;

	while (p->pos < p->len && bare_char(p->s[p->pos], field_arg))
		p->pos++;
	if (p->pos == start)
		return false;
	*out = dupn(p->s + start, p->pos - start);
	*outn = p->pos - start;
	if (!*out) {
		seterr(p->e, SAKER_FERR_NOMEM, start, "out of memory");
		return false;
	}
	return true;
}

static struct saker_ast *node(struct parser *p, enum ast_kind k, size_t pos)
{
	struct saker_ast *a = calloc(1, sizeof(*a));

	if (!a) {
		seterr(p->e, SAKER_FERR_NOMEM, pos, "out of memory");
		return NULL;
	}
	a->kind = k;
	a->pos = (uint32_t)pos;
	return a;
}

/* A node of kind k named by the n bytes at the parser's position, which it moves past. */
static struct saker_ast *named_node(struct parser *p, enum ast_kind k, size_t n)
{
	size_t pos = p->pos;
	struct saker_ast *a = node(p, k, pos);

	if (!a)
		return NULL;
	a->name = dupn(p->s + pos, n);
	if (!a->name) {
		saker_ast_free(a);
		seterr(p->e, SAKER_FERR_NOMEM, pos, "out of memory");
		return NULL;
	}
	p->pos += n;
	return a;
}

static bool grows(uint32_t n)
{
	return n == 0 || (n >= 4 && (n & (n - 1)) == 0);
}

static int add_kid(struct parser *p, struct saker_ast *a, struct saker_ast *k)
{
	if (grows(a->nkids)) {
		uint32_t cap = a->nkids < 4 ? 4 : 2 * a->nkids;
		struct saker_ast **nk = realloc(a->kids, cap * sizeof(*nk));

		if (!nk) {
			saker_ast_free(k);
			seterr(p->e, SAKER_FERR_NOMEM, p->pos, "out of memory");
			return -ENOMEM;
		}
		a->kids = nk;
	}
	a->kids[a->nkids++] = k;
	return 0;
}

static int add_val(struct parser *p, struct saker_ast *a, char *s, size_t n, size_t pos,
		   bool quoted)
{
	if (grows(a->nvals)) {
		uint32_t cap = a->nvals < 4 ? 4 : 2 * a->nvals;
		struct aval *nv = realloc(a->vals, cap * sizeof(*nv));

		if (!nv) {
			free(s);
			seterr(p->e, SAKER_FERR_NOMEM, pos, "out of memory");
			return -ENOMEM;
		}
		a->vals = nv;
	}
	a->vals[a->nvals++] = (struct aval){s, (uint32_t)n, (uint32_t)pos, quoted};
	return 0;
}

static struct saker_ast *parse_or(struct parser *p);

static bool enter(struct parser *p)
{
	if (++p->depth > SAKER_FILTER_MAX_DEPTH) {
		seterr(p->e, SAKER_FERR_SYNTAX, p->pos, "nesting deeper than %d levels",
		       SAKER_FILTER_MAX_DEPTH);
		return false;
	}
	return true;
}

static struct saker_ast *parse_embedded(struct parser *p)
{
	struct saker_ast *a;

	if (!enter(p))
		return NULL;
	lex_blank(p);
	a = parse_or(p);
	if (!a)
		return NULL;
	lex_blank(p);
	if (!lex_str(p, ")")) {
		saker_ast_free(a);
		return PFAIL(p, "expected ')'");
	}
	p->depth--;
	return a;
}

static const char *const transformers[] = {"tolower(",	"toupper(", "b64(",
					   "basename(", "val(",	    "len("};

static bool at_transformer(struct parser *p)
{
	for (size_t i = 0; i < sizeof(transformers) / sizeof(transformers[0]); i++) {
		size_t n = strlen(transformers[i]);

		if (p->len - p->pos >= n && !memcmp(p->s + p->pos, transformers[i], n))
			return true;
	}
	return false;
}

static struct saker_ast *unsupported_transformer(struct parser *p)
{
	size_t n = 0;

	while (p->pos + n < p->len && p->s[p->pos + n] != '(')
		n++;
	seterr(p->e, SAKER_FERR_UNSUPPORTED, p->pos, "field transformer '%.*s()' is not supported",
	       (int)n, p->s + p->pos);
	snprintf(p->e->what, sizeof(p->e->what), "%.*s()", (int)n, p->s + p->pos);
	return NULL;
}

static bool lex_number(struct parser *p, char **out, size_t *outn)
{
	size_t i = p->pos, start = p->pos;

	if (i + 1 < p->len && p->s[i] == '0' && (p->s[i + 1] == 'x' || p->s[i + 1] == 'X')) {
		i += 2;
		while (i < p->len && isalnum((unsigned char)p->s[i]))
			i++;
	} else {
		if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
			i++;
		if (i >= p->len || !isdigit((unsigned char)p->s[i]))
			return false;
		while (i < p->len && isdigit((unsigned char)p->s[i]))
			i++;
		if (i < p->len && p->s[i] == '.') {
			i++;
			while (i < p->len && isdigit((unsigned char)p->s[i]))
				i++;
		}
		if (i + 1 < p->len && (p->s[i] == 'e' || p->s[i] == 'E') &&
		    (p->s[i + 1] == '+' || p->s[i + 1] == '-')) {
			i += 2;
			while (i < p->len && isdigit((unsigned char)p->s[i]))
				i++;
		}
	}
	if (i == start)
		return false;
	*out = dupn(p->s + start, i - start);
	*outn = i - start;
	p->pos = i;
	if (!*out) {
		seterr(p->e, SAKER_FERR_NOMEM, start, "out of memory");
		return false;
	}
	return true;
}

struct opdef {
	const char *w;
	enum op op;
	int cls; /* 0 unary, 1 number, 2 string (needs a blank after a word), 3 list */
};

static const struct opdef ops[] = {
    {"exists", OP_EXISTS, 0},
    {"<=", OP_LE, 1},
    {"<", OP_LT, 1},
    {">=", OP_GE, 1},
    {">", OP_GT, 1},
    {"==", OP_EQ, 2},
    {"=", OP_EQ, 2},
    {"!=", OP_NE, 2},
    {"glob", OP_GLOB, 2},
    {"iglob", OP_IGLOB, 2},
    {"contains", OP_CONTAINS, 2},
    {"icontains", OP_ICONTAINS, 2},
    {"bcontains", OP_BCONTAINS, 2},
    {"startswith", OP_STARTSWITH, 2},
    {"bstartswith", OP_BSTARTSWITH, 2},
    {"endswith", OP_ENDSWITH, 2},
    {"regex", OP_REGEX, 2},
    {"intersects", OP_INTERSECTS, 3},
    {"in", OP_IN, 3},
    {"pmatch", OP_PMATCH, 3},
};

static struct saker_ast *parse_condition(struct parser *p, struct saker_ast *a)
{
	const struct opdef *od = NULL;
	char *v;
	size_t vn, vpos;

	lex_blank(p);
	a->oppos = (uint32_t)p->pos;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].w), save = p->pos;

		if (!lex_str(p, ops[i].w))
			continue;
		/* Word operators end at a blank (string ops) or a non-identifier char. */
		if (is_alpha(ops[i].w[0]) &&
		    (ops[i].cls == 2 ? !is_blank(cur(p)) : is_ident(cur(p)))) {
			p->pos = save;
			continue;
		}
		(void)n;
		od = &ops[i];
		break;
	}
	if (!od) {
		size_t n = 0;

		while (p->pos + n < p->len && !is_blank(p->s[p->pos + n]) && n < 32)
			n++;
		if (ident_len(p, p->pos) == n && n) {
			/* saker has every operator Falco has: any other word is a typo */
			seterr(p->e, SAKER_FERR_UNKNOWN, p->pos, "unknown operator '%.*s'", (int)n,
			       p->s + p->pos);
			snprintf(p->e->what, sizeof(p->e->what), "%.*s", (int)n, p->s + p->pos);
		} else {
			(void)PFAIL(p, "expected an operator after '%s'", a->name);
		}
		saker_ast_free(a);
		return NULL;
	}
	a->op = od->op;
	if (od->cls == 0)
		return a;
	lex_blank(p);
	vpos = p->pos;
	if (at_transformer(p)) {
		saker_ast_free(a);
		return unsupported_transformer(p);
	}
	if (od->cls == 1) {
		if (!lex_number(p, &v, &vn)) {
			saker_ast_free(a);
			return PFAIL(p, "expected a number after '%s'", op_names[od->op]);
		}
		return add_val(p, a, v, vn, vpos, false) ? (saker_ast_free(a), NULL) : a;
	}
	if (od->cls == 2) {
		bool q = cur(p) == '"' || cur(p) == '\'';

		if (!(q ? lex_quoted(p, &v, &vn) : lex_bare(p, false, &v, &vn))) {
			saker_ast_free(a);
			return p->e->kind ? NULL : PFAIL(p, "expected a value after '%s'", od->w);
		}
		return add_val(p, a, v, vn, vpos, q) ? (saker_ast_free(a), NULL) : a;
	}
	a->list = true;
	if (lex_str(p, "(")) {
		lex_blank(p);
		if (lex_str(p, ")"))
			return a;
		for (;;) {
			bool q;

			lex_blank(p);
			vpos = p->pos;
			q = cur(p) == '"' || cur(p) == '\'';
			if (!(q ? lex_quoted(p, &v, &vn) : lex_bare(p, false, &v, &vn))) {
				saker_ast_free(a);
				return p->e->kind ? NULL : PFAIL(p, "expected a list value");
			}
			if (add_val(p, a, v, vn, vpos, q)) {
				saker_ast_free(a);
				return NULL;
			}
			lex_blank(p);
			if (lex_str(p, ","))
				continue;
			if (lex_str(p, ")"))
				return a;
			saker_ast_free(a);
			return PFAIL(p, "expected ',' or ')' in a list");
		}
	}
	vn = ident_len(p, p->pos);
	if (!vn) {
		saker_ast_free(a);
		return PFAIL(p, "expected a list or a list name after '%s'", od->w);
	}
	v = dupn(p->s + p->pos, vn);
	if (!v || add_val(p, a, v, vn, p->pos, false)) {
		/* add_val said it already; a failed dupn did not (no syntax error: -ENOMEM) */
		seterr(p->e, SAKER_FERR_NOMEM, p->pos, "out of memory");
		saker_ast_free(a);
		return NULL;
	}
	p->pos += vn;
	a->list_ident = true;
	return a;
}

static struct saker_ast *parse_check(struct parser *p)
{
	struct saker_ast *a;
	size_t n;

	lex_blank(p);
	if (lex_str(p, "("))
		return parse_embedded(p);
	if (at_transformer(p))
		return unsupported_transformer(p);
	n = field_len(p);
	if (n) {
		a = named_node(p, A_CHECK, n);
		if (!a)
			return NULL;
		if (lex_str(p, "[")) {
			size_t an;
			bool q = cur(p) == '"' || cur(p) == '\'';

			a->argpos = (uint32_t)p->pos;
			if (!(q ? lex_quoted(p, &a->arg, &an) : lex_bare(p, true, &a->arg, &an))) {
				saker_ast_free(a);
				return p->e->kind ? NULL : PFAIL(p, "expected a field argument");
			}
			if (!lex_str(p, "]")) {
				saker_ast_free(a);
				return PFAIL(p, "expected ']'");
			}
		}
		return parse_condition(p, a);
	}
	n = ident_len(p, p->pos);
	if (n)
		return named_node(p, A_IDENT, n);
	if (p->pos >= p->len)
		return PFAIL(p, "unexpected end of condition");
	return PFAIL(p, "expected '(', a field check or a macro name");
}

static struct saker_ast *parse_not(struct parser *p)
{
	struct saker_ast *a, *kid;
	size_t pos;
	bool neg = false;

	if (!enter(p))
		return NULL;
	lex_blank(p);
	pos = p->pos;
	for (;;) {
		size_t save = p->pos;

		if (lex_str(p, "not") && lex_blank(p)) {
			neg = !neg;
			continue;
		}
		p->pos = save;
		break;
	}
	if (lex_str(p, "not(")) {
		neg = !neg;
		kid = parse_embedded(p);
	} else {
		kid = parse_check(p);
	}
	if (!kid)
		return NULL;
	p->depth--;
	if (!neg)
		return kid;
	a = node(p, A_NOT, pos);
	if (!a || add_kid(p, a, kid)) {
		if (!a)
			saker_ast_free(kid);
		saker_ast_free(a);
		return NULL;
	}
	return a;
}

/* and/or: a keyword followed by a blank or '('. */
static bool lex_keyword(struct parser *p, const char *kw, bool *paren)
{
	size_t save = p->pos;

	if (!lex_str(p, kw))
		return false;
	if (lex_blank(p)) {
		*paren = false;
		return true;
	}
	if (lex_str(p, "(")) {
		*paren = true;
		return true;
	}
	p->pos = save;
	return false;
}

static struct saker_ast *parse_list_of(struct parser *p, enum ast_kind k, const char *kw,
				       struct saker_ast *(*sub)(struct parser *))
{
	struct saker_ast *first, *a = NULL;
	size_t pos;
	bool paren;

	if (!enter(p))
		return NULL;
	lex_blank(p);
	pos = p->pos;
	first = sub(p);
	if (!first)
		return NULL;
	lex_blank(p);
	while (lex_keyword(p, kw, &paren)) {
		struct saker_ast *kid = paren ? parse_embedded(p) : sub(p);

		if (!kid) {
			saker_ast_free(a ? a : first);
			return NULL;
		}
		if (!a) {
			a = node(p, k, pos);
			if (!a || add_kid(p, a, first)) {
				saker_ast_free(kid);
				if (!a)
					saker_ast_free(first);
				saker_ast_free(a);
				return NULL;
			}
		}
		if (add_kid(p, a, kid)) {
			saker_ast_free(a);
			return NULL;
		}
		lex_blank(p);
	}
	p->depth--;
	return a ? a : first;
}

static struct saker_ast *parse_and(struct parser *p)
{
	return parse_list_of(p, A_AND, "and", parse_not);
}

static struct saker_ast *parse_or(struct parser *p)
{
	return parse_list_of(p, A_OR, "or", parse_and);
}

int saker_filter_parse(const char *text, struct saker_ast **out, struct saker_ferr *e)
{
	struct parser p = {.s = text, .len = strlen(text), .e = e};
	struct saker_ast *a;

	*out = NULL;
	memset(e, 0, sizeof(*e));
	lex_blank(&p);
	if (p.pos == p.len) {
		seterr(e, SAKER_FERR_SYNTAX, 0, "empty condition");
		return -EINVAL;
	}
	a = parse_or(&p);
	if (!a) {
		if (!e->kind)
			seterr(e, SAKER_FERR_SYNTAX, p.pos, "syntax error");
		return e->kind == SAKER_FERR_NOMEM ? -ENOMEM : -EINVAL;
	}
	lex_blank(&p);
	if (p.pos != p.len) {
		saker_ast_free(a);
		seterr(e, SAKER_FERR_SYNTAX, p.pos,
		       "unexpected '%.20s', expected 'and', 'or' or the end", text + p.pos);
		return -EINVAL;
	}
	*out = a;
	return 0;
}

/* ---- compiled tree ----------------------------------------------------- */

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

static void sset_free(struct sset *s)
{
	if (!s)
		return;
	free(s->e);
	free(s);
}

static void enode_free(struct enode *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nkids; i++)
		enode_free(n->kids[i]);
	free(n->kids);
	if (n->type == SAKER_FT_STR)
		for (uint32_t i = 0; i < n->nvals; i++)
			free(n->vals[i].s.p);
	free(n->vals);
	sset_free(n->set);
	if (n->re) {
		regfree(n->re);
		free(n->re);
	}
	free(n->slots);
	free(n);
}

void saker_filter_free(struct saker_filter *f)
{
	if (!f)
		return;
	enode_free(f->root);
	free(f);
}

static struct sset *sset_build(const struct cval *v, uint32_t n)
{
	struct sset *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap = 8;
	while (s->cap < 2 * (size_t)n)
		s->cap *= 2;
	s->e = calloc(s->cap, sizeof(*s->e));
	if (!s->e) {
		free(s);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t h = saker_hash_fnv1a(v[i].s.p, v[i].s.n);
		size_t j = h & (s->cap - 1);

		while (s->e[j].p) {
			if (s->e[j].h == h && s->e[j].n == v[i].s.n &&
			    !memcmp(s->e[j].p, v[i].s.p, v[i].s.n))
				break;
			j = (j + 1) & (s->cap - 1);
		}
		s->e[j] = (struct sent){h, v[i].s.p, v[i].s.n};
	}
	return s;
}

static bool sset_has(const struct sset *s, const char *p, size_t n)
{
	uint64_t h = saker_hash_fnv1a(p, n);
	size_t j = h & (s->cap - 1);

	while (s->e[j].p) {
		if (s->e[j].h == h && s->e[j].n == n && !memcmp(s->e[j].p, p, n))
			return true;
		j = (j + 1) & (s->cap - 1);
	}
	return false;
}

/* ---- matching helpers ----------------------------------------------------- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool glob_class(const char *pat, size_t pn, size_t *pi, int c, bool icase, bool *ok)
{
	size_t i = *pi + 1;
	bool neg = false, hit = false;

	if (i < pn && (pat[i] == '!' || pat[i] == '^')) {
		neg = true;
		i++;
	}
	for (bool first = true; i < pn && (first || pat[i] != ']'); first = false) {
		int lo = (unsigned char)pat[i], hi = lo;

		if (lo == '\\' && i + 1 < pn)
			lo = hi = (unsigned char)pat[++i];
		if (i + 2 < pn && pat[i + 1] == '-' && pat[i + 2] != ']') {
			hi = (unsigned char)pat[i + 2];
			i += 2;
		}
		if (icase ? (lower(c) >= lower(lo) && lower(c) <= lower(hi)) : (c >= lo && c <= hi))
			hit = true;
		i++;
	}
	if (i >= pn) {
		*ok = false; /* no closing bracket: '[' is literal */
		return c == '[';
	}
	*ok = true;
	*pi = i; /* at ']' */
	return hit != neg;
}

bool saker_glob_match(const char *pat, size_t pn, const char *s, size_t sn, bool icase)
{
	size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

	while (si < sn) {
		if (pi < pn && pat[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < pn) {
			int c = (unsigned char)s[si];
			bool match;
			size_t npi = pi;

			if (pat[pi] == '?') {
				match = true;
			} else if (pat[pi] == '[') {
				bool ok;

				match = glob_class(pat, pn, &npi, c, icase, &ok);
				if (!ok)
					npi = pi;
			} else if (pat[pi] == '\\' && pi + 1 < pn) {
				npi = pi + 1;
				match = icase ? lower(pat[npi]) == lower(c) : pat[npi] == c;
			} else {
				match = icase ? lower(pat[pi]) == lower(c) : pat[pi] == c;
			}
			if (match) {
				pi = npi + 1;
				si++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pn && pat[pi] == '*')
		pi++;
	return pi == pn;
}

static bool icontains(const char *h, size_t hn, const char *n, size_t nn)
{
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t j = 0;

		while (j < nn && lower((unsigned char)h[i + j]) == (unsigned char)n[j])
			j++;
		if (j == nn)
			return true;
	}
	return false;
}

static bool ip_match(const struct saker_fval *v, const struct cval *c)
{
	unsigned bits = c->ip.prefix, full = bits / 8, rest = bits % 8;

	if (v->ip.v6 != c->ip.v6)
		return false;
	if (memcmp(v->ip.a, c->ip.a, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (v->ip.a[full] & mask) == (c->ip.a[full] & mask);
	}
	return true;
}

static bool pmatch(const char *p, size_t n, const struct cval *c)
{
	size_t cn = c->s.n;

	if (cn == 1 && c->s.p[0] == '/')
		return n > 0 && p[0] == '/';
	return n >= cn && !memcmp(p, c->s.p, cn) && (n == cn || p[cn] == '/');
}

static bool cmp_str(const struct enode *e, const char *p, size_t n)
{
	const struct cval *c = e->vals;
	int r;

	switch (e->op) {
	case OP_EQ:
		return n == c->s.n && !memcmp(p, c->s.p, n);
	case OP_NE:
		return !(n == c->s.n && !memcmp(p, c->s.p, n));
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		r = memcmp(p, c->s.p, n < c->s.n ? n : c->s.n);
		if (!r)
			r = n < c->s.n ? -1 : n > c->s.n;
		return e->op == OP_LT	? r < 0
		       : e->op == OP_LE ? r <= 0
		       : e->op == OP_GT ? r > 0
					: r >= 0;
	case OP_CONTAINS:
	case OP_BCONTAINS:
		return memmem(p, n, c->s.p, c->s.n) != NULL;
	case OP_ICONTAINS:
		return icontains(p, n, c->s.p, c->s.n);
	case OP_STARTSWITH:
	case OP_BSTARTSWITH:
		return n >= c->s.n && !memcmp(p, c->s.p, c->s.n);
	case OP_ENDSWITH:
		return n >= c->s.n && !memcmp(p + n - c->s.n, c->s.p, c->s.n);
	case OP_GLOB:
	case OP_IGLOB:
		return saker_glob_match(c->s.p, c->s.n, p, n, e->op == OP_IGLOB);
	case OP_REGEX: {
		char buf[4096];

		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		return regexec(e->re, buf, 0, NULL, 0) == 0;
	}
	case OP_IN:
	case OP_INTERSECTS:
		if (e->set)
			return sset_has(e->set, p, n);
		for (uint32_t i = 0; i < e->nvals; i++)
			if (n == c[i].s.n && !memcmp(p, c[i].s.p, n))
				return true;
		return false;
	case OP_PMATCH:
		for (uint32_t i = 0; i < e->nvals; i++)
			if (pmatch(p, n, &c[i]))
				return true;
		return false;
	default:
		return false;
	}
}

static bool cmp_num(const struct enode *e, const struct saker_fval *v)
{
	bool sgn = e->type == SAKER_FT_S64;

	if (e->op == OP_IN || e->op == OP_INTERSECTS) {
		for (uint32_t i = 0; i < e->nvals; i++)
			if (v->u == e->vals[i].u)
				return true;
		return false;
	}
	switch (e->op) {
	case OP_EQ:
		return v->u == e->vals[0].u;
	case OP_NE:
		return v->u != e->vals[0].u;
	case OP_LT:
		return sgn ? v->i < e->vals[0].i : v->u < e->vals[0].u;
	case OP_LE:
		return sgn ? v->i <= e->vals[0].i : v->u <= e->vals[0].u;
	case OP_GT:
		return sgn ? v->i > e->vals[0].i : v->u > e->vals[0].u;
	case OP_GE:
		return sgn ? v->i >= e->vals[0].i : v->u >= e->vals[0].u;
	default:
		return false;
	}
}

static bool cmp_ip(const struct enode *e, const struct saker_fval *v)
{
	bool any = false;

	for (uint32_t i = 0; i < e->nvals && !any; i++)
		any = ip_match(v, &e->vals[i]);
	return e->op == OP_NE ? !any : any;
}

static bool cmp_one(const struct enode *e, const struct saker_fval *v)
{
	switch (e->type) {
	case SAKER_FT_STR:
		return cmp_str(e, v->s.p, v->s.n);
	case SAKER_FT_IPADDR:
	case SAKER_FT_IPNET:
		return cmp_ip(e, v);
	default:
		return cmp_num(e, v);
	}
}

static bool eval(const struct enode *e, struct saker_fctx *c)
{
	switch (e->kind) {
	case E_TRUE:
		return true;
	case E_FALSE:
		return false;
	case E_AND:
		for (uint32_t i = 0; i < e->nkids; i++)
			if (!eval(e->kids[i], c))
				return false;
		return true;
	case E_OR:
		for (uint32_t i = 0; i < e->nkids; i++)
			if (eval(e->kids[i], c))
				return true;
		return false;
	case E_NOT:
		return !eval(e->kids[0], c);
	case E_EVTTYPE:
		return c->slot >= 0 && (e->slots[c->slot / 64] >> (c->slot % 64)) & 1;
	case E_CMP: {
		const struct saker_fval *v;
		int n = saker_fields_extract(c, e->fi, &v);

		if (e->op == OP_EXISTS)
			return n > 0;
		for (int i = 0; i < n; i++)
			if (cmp_one(e, &v[i]))
				return true;
		return false;
	}
	}
	return false;
}

bool saker_filter_eval(const struct saker_filter *f, struct saker_fctx *c)
{
	return eval(f->root, c);
}

/* ---- compiler ------------------------------------------------------------- */

struct comp {
	const struct saker_filter_env *env;
	struct saker_ferr *e;
	const void *src;
	const char *stack[SAKER_FILTER_MAX_MACROS];
	unsigned depth;
	size_t nodes;
	const struct saker_field_info *never;
};

__attribute__((format(printf, 4, 5))) static struct enode *cfail(struct comp *c, int kind,
								 size_t off, const char *fmt, ...)
{
	va_list ap;

	if (c->e->kind)
		return NULL;
	c->e->kind = kind;
	c->e->src = c->src;
	c->e->off = off;
	va_start(ap, fmt);
	vsnprintf(c->e->msg, sizeof(c->e->msg), fmt, ap);
	va_end(ap);
	return NULL;
}

static struct enode *enew(struct comp *c, enum ekind k)
{
	struct enode *n;

	if (++c->nodes > SAKER_FILTER_MAX_NODES)
		return cfail(c, SAKER_FERR_INVALID, 0,
			     "condition too large: more than %u nodes once macros are expanded",
			     SAKER_FILTER_MAX_NODES);
	n = calloc(1, sizeof(*n));

	if (!n)
		return cfail(c, SAKER_FERR_NOMEM, 0, "out of memory");
	n->kind = k;
	n->cost = 1;
	return n;
}

/* Kids arrays grow by doubling: flattening long and/or chains must stay linear. */
static int ekid(struct comp *c, struct enode *n, struct enode *k)
{
	if (grows(n->nkids)) {
		uint32_t cap = n->nkids < 4 ? 4 : 2 * n->nkids;
		struct enode **nk = realloc(n->kids, cap * sizeof(*nk));

		if (!nk) {
			enode_free(k);
			cfail(c, SAKER_FERR_NOMEM, 0, "out of memory");
			return -ENOMEM;
		}
		n->kids = nk;
	}
	n->kids[n->nkids++] = k;
	return 0;
}

static struct enode *constant(struct comp *c, bool v)
{
	return enew(c, v ? E_TRUE : E_FALSE);
}

struct kidkey {
	struct enode *n;
	uint32_t cost, order;
};

static int cmp_kid(const void *a, const void *b)
{
	const struct kidkey *x = a, *y = b;

	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Checks have no side effects, so the kids of an and/or may be tested in any
 * order: cheapest first, written order among equals (stable). The rule
 * authors' order is kept otherwise; Falco's style guide asks for this order
 * by hand, this makes it so.
 */
static void order_kids(struct enode *n)
{
	struct kidkey stack[64], *k = n->nkids <= 64 ? stack : malloc(n->nkids * sizeof(*k));
	uint64_t sum = 0;

	if (!k)
		return; /* unordered is still correct */
	for (uint32_t i = 0; i < n->nkids; i++) {
		k[i] = (struct kidkey){n->kids[i], n->kids[i]->cost, i};
		sum += n->kids[i]->cost;
	}
	qsort(k, n->nkids, sizeof(*k), cmp_kid);
	for (uint32_t i = 0; i < n->nkids; i++)
		n->kids[i] = k[i].n;
	n->cost = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
	if (k != stack)
		free(k);
}

static uint32_t cmp_cost(const struct enode *n)
{
	uint32_t c = saker_finst_cost(n->fi);

	switch (n->op) {
	case OP_REGEX:
		return c + 20;
	case OP_GLOB:
	case OP_IGLOB:
	case OP_ICONTAINS:
		return c + 3;
	case OP_CONTAINS:
	case OP_BCONTAINS:
	case OP_PMATCH:
		return c + 2;
	case OP_IN:
	case OP_INTERSECTS:
		return c + (n->set ? 1 : n->nvals / 2);
	default:
		return c;
	}
}

/* Folds and flattens an and/or node whose kids are compiled. */
static struct enode *fold_bool(struct comp *c, struct enode *n)
{
	enum ekind absorb = n->kind == E_AND ? E_FALSE : E_TRUE;
	enum ekind neutral = n->kind == E_AND ? E_TRUE : E_FALSE;
	struct enode **kids = n->kids;
	uint32_t nk = n->nkids;

	n->kids = NULL;
	n->nkids = 0;
	for (uint32_t i = 0; i < nk; i++) {
		struct enode *k = kids[i];

		if (!k)
			continue;
		if (k->kind == absorb) {
			for (uint32_t j = i; j < nk; j++)
				if (kids[j] != k)
					enode_free(kids[j]);
			free(kids);
			enode_free(n);
			return k;
		}
		if (k->kind == neutral) {
			enode_free(k);
			continue;
		}
		if (k->kind == n->kind) {
			/* (a and (b and c)) is (a and b and c) */
			for (uint32_t j = 0; j < k->nkids; j++)
				if (ekid(c, n, k->kids[j])) {
					k->nkids = 0;
					enode_free(k);
					goto oom;
				}
			k->nkids = 0;
			enode_free(k);
			continue;
		}
		if (ekid(c, n, k))
			goto oom;
	}
	free(kids);
	if (n->nkids == 0) {
		enode_free(n);
		return constant(c, neutral == E_TRUE);
	}
	if (n->nkids == 1) {
		struct enode *only = n->kids[0];

		n->nkids = 0;
		enode_free(n);
		return only;
	}
	order_kids(n);
	return n;
oom:
	free(kids);
	enode_free(n);
	return NULL;
}

static struct enode *compile(struct comp *c, const struct saker_ast *a);

static bool num_parse(const char *s, enum saker_ftype t, struct cval *out)
{
	char *end;

	errno = 0;
	if (t == SAKER_FT_BOOL) {
		if (!strcmp(s, "true") || !strcmp(s, "1"))
			out->u = 1;
		else if (!strcmp(s, "false") || !strcmp(s, "0"))
			out->u = 0;
		else
			return false;
		return true;
	}
	if (t == SAKER_FT_S64 || s[0] == '-') {
		out->i = strtoll(s, &end, 0);
	} else {
		out->u = strtoull(s, &end, 0);
	}
	return !errno && *s && !*end;
}

static bool ip_parse(const char *s, struct cval *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long prefix;
	char *end;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->ip.a) == 1) {
		out->ip.v6 = 0;
		prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->ip.a) == 1) {
		out->ip.v6 = 1;
		prefix = 128;
	} else {
		return false;
	}
	if (slash) {
		long max = prefix;

		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || prefix < 0 || prefix > max)
			return false;
	}
	out->ip.prefix = (uint8_t)prefix;
	return true;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The values a check compares with, lists spliced in; count, or -1 on error (c->e set). */
static int collect_values(struct comp *c, const struct saker_ast *a, const char ***out,
			  uint32_t **pos)
{
	size_t cap = 16, n = 0;
	const char **v = malloc(cap * sizeof(*v));
	uint32_t *p = malloc(cap * sizeof(*p));

	if (!v || !p)
		goto oom;
	for (uint32_t i = 0; i < a->nvals; i++) {
		const char *const *items = NULL;
		size_t ni = 1;

		if (a->list && !a->vals[i].quoted && c->env->list)
			items = c->env->list(c->env->ctx, a->vals[i].s, &ni);
		if (!items)
			ni = 1;
		for (size_t j = 0; j < ni; j++) {
			if (n == cap) {
				const char **nv;
				uint32_t *np;

				cap *= 2;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto oom;
				v = nv;
				np = realloc(p, cap * sizeof(*p));
				if (!np)
					goto oom;
				p = np;
			}
			v[n] = items ? items[j] : a->vals[i].s;
			p[n] = a->vals[i].pos;
			n++;
		}
	}
	*out = v;
	*pos = p;
	return (int)n;
oom:
	free(v);
	free(p);
	cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
	return -1;
}

static bool is_str_op(enum op op)
{
	return op >= OP_CONTAINS && op <= OP_REGEX;
}

static struct enode *compile_evttype(struct comp *c, const struct saker_ast *a, const char **v,
				     int nv)
{
	struct enode *n = enew(c, E_EVTTYPE);

	if (!n)
		return NULL;
	n->slots = calloc(SAKER_SLOT_WORDS, sizeof(uint64_t));
	if (!n->slots) {
		enode_free(n);
		return cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
	}
	for (int i = 0; i < nv; i++) {
		int s = saker_fields_evttype_slot(v[i]);

		if (s >= 0)
			n->slots[s / 64] |= 1ull << (s % 64);
	}
	if (a->op == OP_NE)
		for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
			n->slots[w] = ~n->slots[w];
	return n;
}

static struct enode *compile_check(struct comp *c, const struct saker_ast *a)
{
	const struct saker_finst *fi;
	char why[256];
	const char **v = NULL;
	uint32_t *vpos = NULL;
	struct enode *n = NULL;
	int nv, err = 0;

	fi = c->env->field(c->env->ctx, a->name, a->arg, &err, why, sizeof(why));
	if (!fi) {
		if (err == -ENOMEM)
			return cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
		snprintf(c->e->what, sizeof(c->e->what), "%s", a->name);
		return cfail(c,
			     err == -ENOENT  ? SAKER_FERR_UNSUPPORTED
			     : err == -ESRCH ? SAKER_FERR_UNKNOWN
					     : SAKER_FERR_INVALID,
			     a->arg && err == -EINVAL ? a->argpos : a->pos, "%s", why);
	}
	if ((a->op == OP_IN || a->op == OP_INTERSECTS || a->op == OP_PMATCH) && !a->list)
		return cfail(c, SAKER_FERR_SYNTAX, a->oppos, "'%s' needs a list", op_names[a->op]);
	if (fi->info->flags & SAKER_FF_NEVER) {
		if (!c->never)
			c->never = fi->info;
		return constant(c, false);
	}
	if (a->op == OP_EXISTS) {
		n = enew(c, E_CMP);
		if (n) {
			n->op = OP_EXISTS;
			n->fi = fi;
			n->type = fi->type;
			n->cost = cmp_cost(n);
		}
		return n;
	}
	nv = collect_values(c, a, &v, &vpos);
	if (nv < 0)
		return NULL;
	if (nv == 0) {
		/* x in () is never true */
		free(v);
		free(vpos);
		return constant(c, false);
	}
	if (!strcmp(fi->info->name, "evt.type") &&
	    (a->op == OP_EQ || a->op == OP_NE || a->op == OP_IN || a->op == OP_INTERSECTS)) {
		n = compile_evttype(c, a, v, nv);
		goto out;
	}
	if (!strcmp(fi->info->name, "evt.dir") && (a->op == OP_EQ || a->op == OP_NE)) {
		bool eq = !strcmp(v[0], "<");

		n = constant(c, a->op == OP_EQ ? eq : !eq);
		goto out;
	}
	if (fi->info->flags & SAKER_FF_NONZERO && (a->op == OP_EQ || a->op == OP_NE) &&
	    !strcmp(v[0], "0")) {
		n = constant(c, a->op == OP_NE);
		goto out;
	}
	if (fi->type != SAKER_FT_STR && (is_str_op(a->op) || a->op == OP_PMATCH)) {
		snprintf(c->e->what, sizeof(c->e->what), "%s", op_names[a->op]);
		n = cfail(c, SAKER_FERR_UNSUPPORTED, a->oppos,
			  "operator '%s' is not supported on %s field '%s'", op_names[a->op],
			  saker_ftype_name(fi->type), fi->name);
		goto out;
	}
	if ((fi->type == SAKER_FT_IPADDR || fi->type == SAKER_FT_IPNET ||
	     fi->type == SAKER_FT_BOOL) &&
	    a->op >= OP_LT && a->op <= OP_GE) {
		snprintf(c->e->what, sizeof(c->e->what), "%s", op_names[a->op]);
		n = cfail(c, SAKER_FERR_UNSUPPORTED, a->oppos,
			  "operator '%s' is not supported on %s field '%s'", op_names[a->op],
			  saker_ftype_name(fi->type), fi->name);
		goto out;
	}
	n = enew(c, E_CMP);
	if (!n)
		goto out;
	n->op = a->op;
	n->fi = fi;
	n->type = fi->type;
	n->vals = calloc((size_t)nv, sizeof(*n->vals));
	if (!n->vals) {
		enode_free(n);
		n = cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
		goto out;
	}
	n->nvals = (uint32_t)nv;
	for (int i = 0; i < nv; i++) {
		struct cval *cv = &n->vals[i];
		bool ok = true;

		if (fi->type == SAKER_FT_STR) {
			size_t len = strlen(v[i]);

			cv->s.p = malloc(len + 1);
			if (!cv->s.p) {
				enode_free(n);
				n = cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
				goto out;
			}
			if (a->op == OP_BCONTAINS || a->op == OP_BSTARTSWITH) {
				/* the value is hex bytes */
				size_t o = 0;

				if (len % 2)
					ok = false;
				for (size_t k = 0; ok && k < len; k += 2) {
					int hi = hexval(v[i][k]), lo = hexval(v[i][k + 1]);

					if (hi < 0 || lo < 0)
						ok = false;
					else
						cv->s.p[o++] = (char)(hi * 16 + lo);
				}
				len = o;
			} else if (a->op == OP_ICONTAINS) {
				for (size_t k = 0; k < len; k++)
					cv->s.p[k] = (char)lower((unsigned char)v[i][k]);
			} else {
				memcpy(cv->s.p, v[i], len);
			}
			cv->s.p[len] = '\0';
			if (a->op == OP_PMATCH)
				while (len > 1 && cv->s.p[len - 1] == '/')
					cv->s.p[--len] = '\0';
			cv->s.n = (uint32_t)len;
		} else if (fi->type == SAKER_FT_IPADDR || fi->type == SAKER_FT_IPNET) {
			ok = ip_parse(v[i], cv);
		} else {
			ok = num_parse(v[i], fi->type, cv);
		}
		if (!ok) {
			enode_free(n);
			n = cfail(c, SAKER_FERR_INVALID, vpos[i],
				  "'%s' is not a valid %s value for '%s'", v[i],
				  a->op == OP_BCONTAINS || a->op == OP_BSTARTSWITH
				      ? "hex"
				      : saker_ftype_name(fi->type),
				  fi->name);
			goto out;
		}
	}
	if (fi->type == SAKER_FT_STR && (a->op == OP_IN || a->op == OP_INTERSECTS) && nv > 4) {
		n->set = sset_build(n->vals, n->nvals);
		if (!n->set) {
			enode_free(n);
			n = cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
			goto out;
		}
	}
	if (a->op == OP_REGEX) {
		int rc;

		n->re = malloc(sizeof(*n->re));
		if (!n->re) {
			enode_free(n);
			n = cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
			goto out;
		}
		rc = regcomp(n->re, n->vals[0].s.p, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];

			regerror(rc, n->re, msg, sizeof(msg));
			free(n->re);
			n->re = NULL;
			enode_free(n);
			n = cfail(c, SAKER_FERR_INVALID, vpos[0], "invalid regular expression: %s",
				  msg);
			goto out;
		}
	}
out:
	free(v);
	free(vpos);
	if (n && n->kind == E_CMP)
		n->cost = cmp_cost(n);
	return n;
}

static struct enode *compile_ident(struct comp *c, const struct saker_ast *a)
{
	const struct saker_ast *m;
	const void *msrc = NULL, *saved = c->src;
	struct enode *n;
	struct saker_ferr me = {0};

	for (unsigned i = 0; i < c->depth; i++)
		if (!strcmp(c->stack[i], a->name))
			return cfail(c, SAKER_FERR_INVALID, a->pos, "macro '%s' refers to itself",
				     a->name);
	if (c->depth >= SAKER_FILTER_MAX_MACROS)
		return cfail(c, SAKER_FERR_INVALID, a->pos, "macros nested deeper than %d",
			     SAKER_FILTER_MAX_MACROS);
	m = c->env->macro ? c->env->macro(c->env->ctx, a->name, &msrc, &me) : NULL;
	if (!m) {
		if (me.kind) {
			*c->e = me;
			return NULL;
		}
		return cfail(c, SAKER_FERR_UNDEFINED, a->pos, "undefined macro '%s'", a->name);
	}
	c->stack[c->depth++] = a->name;
	c->src = msrc;
	n = compile(c, m);
	c->src = saved;
	c->depth--;
	return n;
}

static struct enode *compile(struct comp *c, const struct saker_ast *a)
{
	struct enode *n, *k;

	switch (a->kind) {
	case A_CHECK:
		return compile_check(c, a);
	case A_IDENT:
		return compile_ident(c, a);
	case A_NOT:
		k = compile(c, a->kids[0]);
		if (!k)
			return NULL;
		if (k->kind == E_TRUE || k->kind == E_FALSE) {
			k->kind = k->kind == E_TRUE ? E_FALSE : E_TRUE;
			return k;
		}
		if (k->kind == E_NOT) {
			n = k->kids[0];
			k->nkids = 0;
			enode_free(k);
			return n;
		}
		n = enew(c, E_NOT);
		if (!n) {
			enode_free(k);
			return NULL;
		}
		if (ekid(c, n, k)) {
			enode_free(n);
			return NULL;
		}
		n->cost = k->cost;
		return n;
	case A_AND:
	case A_OR:
		n = enew(c, a->kind == A_AND ? E_AND : E_OR);
		if (!n)
			return NULL;
		for (uint32_t i = 0; i < a->nkids; i++) {
			k = compile(c, a->kids[i]);
			if (!k || ekid(c, n, k)) {
				enode_free(n);
				return NULL;
			}
		}
		return fold_bool(c, n);
	default:
		return cfail(c, SAKER_FERR_UNSUPPORTED, a->pos, "unsupported construct");
	}
}

int saker_filter_compile(const struct saker_ast *a, const void *src,
			 const struct saker_filter_env *env, struct saker_filter **out,
			 struct saker_ferr *e)
{
	struct comp c = {.env = env, .e = e, .src = src};
	struct saker_filter *f;
	struct enode *root;

	*out = NULL;
	memset(e, 0, sizeof(*e));
	root = compile(&c, a);
	if (!root) {
		if (!e->kind)
			cfail(&c, SAKER_FERR_NOMEM, 0, "out of memory");
		return e->kind == SAKER_FERR_NOMEM ? -ENOMEM : -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		enode_free(root);
		cfail(&c, SAKER_FERR_NOMEM, 0, "out of memory");
		return -ENOMEM;
	}
	f->root = root;
	f->never = c.never;
	*out = f;
	return 0;
}

int saker_filter_const(const struct saker_filter *f)
{
	return f->root->kind == E_TRUE ? 1 : f->root->kind == E_FALSE ? 0 : -1;
}

static void slots_of(const struct enode *e, uint64_t *set)
{
	uint64_t tmp[SAKER_SLOT_WORDS];

	switch (e->kind) {
	case E_FALSE:
		memset(set, 0, SAKER_SLOT_WORDS * sizeof(*set));
		return;
	case E_EVTTYPE:
		memcpy(set, e->slots, SAKER_SLOT_WORDS * sizeof(*set));
		return;
	case E_NOT:
		if (e->kids[0]->kind == E_EVTTYPE) {
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] = ~e->kids[0]->slots[w];
			return;
		}
		break;
	case E_AND:
		memset(set, 0xff, SAKER_SLOT_WORDS * sizeof(*set));
		for (uint32_t i = 0; i < e->nkids; i++) {
			slots_of(e->kids[i], tmp);
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] &= tmp[w];
		}
		return;
	case E_OR:
		memset(set, 0, SAKER_SLOT_WORDS * sizeof(*set));
		for (uint32_t i = 0; i < e->nkids; i++) {
			slots_of(e->kids[i], tmp);
			for (unsigned w = 0; w < SAKER_SLOT_WORDS; w++)
				set[w] |= tmp[w];
		}
		return;
	default:
		break;
	}
	memset(set, 0xff, SAKER_SLOT_WORDS * sizeof(*set));
}

void saker_filter_slots(const struct saker_filter *f, uint64_t set[SAKER_SLOT_WORDS])
{
	slots_of(f->root, set);
	/* bits past the last slot mean nothing */
	if (SAKER_NSLOTS % 64)
		set[SAKER_SLOT_WORDS - 1] &= (1ull << (SAKER_NSLOTS % 64)) - 1;
}

const struct saker_field_info *saker_filter_never_field(const struct saker_filter *f)
{
	return f->never;
}

static size_t count_nodes(const struct enode *e)
{
	size_t n = 1;

	for (uint32_t i = 0; i < e->nkids; i++)
		n += count_nodes(e->kids[i]);
	return n;
}

size_t saker_filter_nodes(const struct saker_filter *f)
{
	return count_nodes(f->root);
}
