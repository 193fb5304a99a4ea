/*
 * One comparison compiled: the field resolved and its operator and values
 * checked against the field's type; values parsed once (numbers, addresses,
 * networks, string sets, regexes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/filter_int.h"

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
	fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
	return -1;
}

static bool is_str_op(enum op op)
{
	return op >= OP_CONTAINS && op <= OP_REGEX;
}

static struct enode *compile_evttype(struct comp *c, const struct saker_ast *a, const char **v,
				     int nv)
{
	struct enode *n = fl_enew(c, E_EVTTYPE);

	if (!n)
		return NULL;
	n->slots = calloc(SAKER_SLOT_WORDS, sizeof(uint64_t));
	if (!n->slots) {
		fl_enode_free(n);
		return fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
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

/* The check's field, resolved by the environment; NULL with c->e set when it has none. */
static const struct saker_finst *check_field(struct comp *c, const struct saker_ast *a)
{
	const struct saker_finst *fi;
	char why[256];
	int err = 0;

	fi = c->env->field(c->env->ctx, a->name, a->arg, &err, why, sizeof(why));
	if (fi) {
		/* the instance is the environment's, not err's: cppcheck cannot see the callback */
		// cppcheck-suppress returnDanglingLifetime
		return fi;
	}
	if (err == -ENOMEM) {
		fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
		return NULL;
	}
	snprintf(c->e->what, sizeof(c->e->what), "%s", a->name);
	fl_cfail(c,
		 err == -ENOENT	 ? SAKER_FERR_UNSUPPORTED
		 : err == -ESRCH ? SAKER_FERR_UNKNOWN
				 : SAKER_FERR_INVALID,
		 a->arg && err == -EINVAL ? a->argpos : a->pos, "%s", why);
	return NULL;
}

/*
 * Checks whose outcome is known at compile time (evt.dir, a never-zero field
 * compared with 0) or that have their own node (evt.type): true with *out set.
 */
static bool check_folds(struct comp *c, const struct saker_ast *a, const struct saker_finst *fi,
			const char **v, int nv, struct enode **out)
{
	bool eq_ne = a->op == OP_EQ || a->op == OP_NE;

	if (!strcmp(fi->info->name, "evt.type") &&
	    (eq_ne || a->op == OP_IN || a->op == OP_INTERSECTS)) {
		*out = compile_evttype(c, a, v, nv);
		return true;
	}
	if (!strcmp(fi->info->name, "evt.dir") && eq_ne) {
		bool eq = !strcmp(v[0], "<");

		*out = fl_constant(c, a->op == OP_EQ ? eq : !eq);
		return true;
	}
	if (fi->info->flags & SAKER_FF_NONZERO && eq_ne && !strcmp(v[0], "0")) {
		*out = fl_constant(c, a->op == OP_NE);
		return true;
	}
	return false;
}

/* Whether the operator applies to the field's type; false with c->e set. */
static bool check_op_type(struct comp *c, const struct saker_ast *a, const struct saker_finst *fi)
{
	bool ordered = a->op >= OP_LT && a->op <= OP_GE;
	bool unordered_type =
	    fi->type == SAKER_FT_IPADDR || fi->type == SAKER_FT_IPNET || fi->type == SAKER_FT_BOOL;

	if (!(fi->type != SAKER_FT_STR && (is_str_op(a->op) || a->op == OP_PMATCH)) &&
	    !(unordered_type && ordered))
		return true;
	snprintf(c->e->what, sizeof(c->e->what), "%s", fl_op_names[a->op]);
	fl_cfail(c, SAKER_FERR_UNSUPPORTED, a->oppos,
		 "operator '%s' is not supported on %s field '%s'", fl_op_names[a->op],
		 saker_ftype_name(fi->type), fi->name);
	return false;
}

/* A string value as the operator compares it: hex bytes, lower case, a path. -errno. */
static int str_value(enum op op, const char *s, struct cval *cv)
{
	size_t len = strlen(s), o = 0;

	cv->s.p = malloc(len + 1);
	if (!cv->s.p)
		return -ENOMEM;
	if (op == OP_BCONTAINS || op == OP_BSTARTSWITH) {
		/* the value is hex bytes */
		if (len % 2)
			return -EINVAL;
		for (size_t k = 0; k < len; k += 2) {
			int hi = hexval(s[k]), lo = hexval(s[k + 1]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			cv->s.p[o++] = (char)(hi * 16 + lo);
		}
		len = o;
	} else if (op == OP_ICONTAINS) {
		for (size_t k = 0; k < len; k++)
			cv->s.p[k] = (char)fl_lower((unsigned char)s[k]);
	} else {
		memcpy(cv->s.p, s, len);
	}
	cv->s.p[len] = '\0';
	if (op == OP_PMATCH)
		while (len > 1 && cv->s.p[len - 1] == '/')
			cv->s.p[--len] = '\0';
	cv->s.n = (uint32_t)len;
	return 0;
}

/* The node's values parsed by the field's type; 0, or -errno with c->e set. */
static int check_values(struct comp *c, const struct saker_ast *a, struct enode *n, const char **v,
			const uint32_t *vpos)
{
	const struct saker_finst *fi = n->fi;

	for (uint32_t i = 0; i < n->nvals; i++) {
		struct cval *cv = &n->vals[i];
		int err = 0;

		if (fi->type == SAKER_FT_STR)
			err = str_value(a->op, v[i], cv);
		else if (fi->type == SAKER_FT_IPADDR || fi->type == SAKER_FT_IPNET)
			err = ip_parse(v[i], cv) ? 0 : -EINVAL;
		else
			err = num_parse(v[i], fi->type, cv) ? 0 : -EINVAL;
		if (err == -ENOMEM) {
			fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
			return err;
		}
		if (err) {
			fl_cfail(c, SAKER_FERR_INVALID, vpos[i],
				 "'%s' is not a valid %s value for '%s'", v[i],
				 a->op == OP_BCONTAINS || a->op == OP_BSTARTSWITH
				     ? "hex"
				     : saker_ftype_name(fi->type),
				 fi->name);
			return err;
		}
	}
	return 0;
}

/* A string set for long in-lists, the regex compiled; 0, or -errno with c->e set. */
static int check_prepare(struct comp *c, const struct saker_ast *a, struct enode *n, uint32_t vpos0)
{
	char msg[128];
	int rc;

	if (n->type == SAKER_FT_STR && (a->op == OP_IN || a->op == OP_INTERSECTS) && n->nvals > 4) {
		n->set = fl_sset_build(n->vals, n->nvals);
		if (!n->set)
			goto nomem;
	}
	if (a->op != OP_REGEX)
		return 0;
	n->re = malloc(sizeof(*n->re));
	if (!n->re)
		goto nomem;
	rc = regcomp(n->re, n->vals[0].s.p, REG_EXTENDED | REG_NOSUB);
	if (!rc)
		return 0;
	regerror(rc, n->re, msg, sizeof(msg));
	free(n->re);
	n->re = NULL;
	fl_cfail(c, SAKER_FERR_INVALID, vpos0, "invalid regular expression: %s", msg);
	return -EINVAL;
nomem:
	fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
	return -ENOMEM;
}

/* A comparison node over the values; NULL with c->e set. */
static struct enode *check_node(struct comp *c, const struct saker_ast *a,
				const struct saker_finst *fi, const char **v, const uint32_t *vpos,
				int nv)
{
	struct enode *n = fl_enew(c, E_CMP);

	if (!n)
		return NULL;
	n->op = a->op;
	n->fi = fi;
	n->type = fi->type;
	n->vals = calloc((size_t)nv, sizeof(*n->vals));
	if (!n->vals) {
		fl_enode_free(n);
		return fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
	}
	n->nvals = (uint32_t)nv;
	if (check_values(c, a, n, v, vpos) || check_prepare(c, a, n, vpos[0])) {
		fl_enode_free(n);
		return NULL;
	}
	return n;
}

struct enode *fl_compile_check(struct comp *c, const struct saker_ast *a)
{
	const struct saker_finst *fi = check_field(c, a);
	const char **v = NULL;
	uint32_t *vpos = NULL;
	struct enode *n = NULL;
	int nv;

	if (!fi)
		return NULL;
	if ((a->op == OP_IN || a->op == OP_INTERSECTS || a->op == OP_PMATCH) && !a->list)
		return fl_cfail(c, SAKER_FERR_SYNTAX, a->oppos, "'%s' needs a list",
				fl_op_names[a->op]);
	if (fi->info->flags & SAKER_FF_NEVER) {
		if (!c->never)
			c->never = fi->info;
		return fl_constant(c, false);
	}
	if (a->op == OP_EXISTS) {
		n = fl_enew(c, E_CMP);
		if (n) {
			n->op = OP_EXISTS;
			n->fi = fi;
			n->type = fi->type;
			n->cost = fl_cmp_cost(n);
		}
		return n;
	}
	nv = collect_values(c, a, &v, &vpos);
	if (nv < 0)
		return NULL;
	/* x in () is never true */
	if (nv == 0)
		n = fl_constant(c, false);
	else if (!check_folds(c, a, fi, v, nv, &n) && check_op_type(c, a, fi))
		n = check_node(c, a, fi, v, vpos, nv);
	free(v);
	free(vpos);
	if (n && n->kind == E_CMP)
		n->cost = fl_cmp_cost(n);
	return n;
}
