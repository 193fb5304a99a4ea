/* The condition language parsed: Falco's syntax to a tree, errors with their offset. */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/filter_int.h"

/* ---- syntax tree ------------------------------------------------------- */

const char *const fl_op_names[] = {
    "=",	 "!=",	      "<",	    "<=",	   ">",	       ">=",   "contains",
    "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob",
    "regex",	 "in",	      "intersects", "pmatch",	   "exists",
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

bool fl_grows(uint32_t n)
{
	return n == 0 || (n >= 4 && (n & (n - 1)) == 0);
}

static int add_kid(struct parser *p, struct saker_ast *a, struct saker_ast *k)
{
	if (fl_grows(a->nkids)) {
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
	if (fl_grows(a->nvals)) {
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

/* The operator after field a; NULL with the error set when there is none. */
static const struct opdef *lex_op(struct parser *p, const struct saker_ast *a)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t save = p->pos;

		if (!lex_str(p, ops[i].w))
			continue;
		/* Word operators end at a blank (string ops) or a non-identifier char. */
		if (is_alpha(ops[i].w[0]) &&
		    (ops[i].cls == 2 ? !is_blank(cur(p)) : is_ident(cur(p)))) {
			p->pos = save;
			continue;
		}
		return &ops[i];
	}
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
	return NULL;
}

/*
 * A quoted or bare value added to a's values: 0; -ENOENT when there is none
 * and no error is set yet (the caller says what was expected); else the error
 * is set.
 */
static int lex_value(struct parser *p, struct saker_ast *a)
{
	size_t vpos = p->pos, vn;
	bool q = cur(p) == '"' || cur(p) == '\'';
	char *v;

	if (!(q ? lex_quoted(p, &v, &vn) : lex_bare(p, false, &v, &vn)))
		return p->e->kind ? -EINVAL : -ENOENT;
	return add_val(p, a, v, vn, vpos, q);
}

/* The values of a list operator: '(a, b, ...)' or the name of a list. */
static struct saker_ast *parse_list(struct parser *p, struct saker_ast *a, const struct opdef *od)
{
	size_t vn;
	char *v;
	int err;

	a->list = true;
	if (lex_str(p, "(")) {
		lex_blank(p);
		if (lex_str(p, ")"))
			return a;
		for (;;) {
			lex_blank(p);
			err = lex_value(p, a);
			if (err) {
				saker_ast_free(a);
				return err == -ENOENT ? PFAIL(p, "expected a list value") : NULL;
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

/* The operator and value(s) after the field of check a; a is freed on an error. */
static struct saker_ast *parse_condition(struct parser *p, struct saker_ast *a)
{
	const struct opdef *od;
	char *v;
	size_t vn, vpos;
	int err;

	lex_blank(p);
	a->oppos = (uint32_t)p->pos;
	od = lex_op(p, a);
	if (!od) {
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
			return PFAIL(p, "expected a number after '%s'", fl_op_names[od->op]);
		}
		return add_val(p, a, v, vn, vpos, false) ? (saker_ast_free(a), NULL) : a;
	}
	if (od->cls == 3)
		return parse_list(p, a, od);
	err = lex_value(p, a);
	if (!err)
		return a;
	saker_ast_free(a);
	return err == -ENOENT ? PFAIL(p, "expected a value after '%s'", od->w) : NULL;
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
