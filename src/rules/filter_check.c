/*
 * One comparison compiled: the field resolved and its operator and values
 * checked against the field's type; values parsed once (numbers, addresses,
 * networks, string sets, regexes).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
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

struct enode *fl_compile_check(struct comp *c, const struct saker_ast *a)
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
			return fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
		snprintf(c->e->what, sizeof(c->e->what), "%s", a->name);
		return fl_cfail(c,
				err == -ENOENT	? SAKER_FERR_UNSUPPORTED
				: err == -ESRCH ? SAKER_FERR_UNKNOWN
						: SAKER_FERR_INVALID,
				a->arg && err == -EINVAL ? a->argpos : a->pos, "%s", why);
	}
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
	if (nv == 0) {
		/* x in () is never true */
		free(v);
		free(vpos);
		return fl_constant(c, false);
	}
	if (!strcmp(fi->info->name, "evt.type") &&
	    (a->op == OP_EQ || a->op == OP_NE || a->op == OP_IN || a->op == OP_INTERSECTS)) {
		n = compile_evttype(c, a, v, nv);
		goto out;
	}
	if (!strcmp(fi->info->name, "evt.dir") && (a->op == OP_EQ || a->op == OP_NE)) {
		bool eq = !strcmp(v[0], "<");

		n = fl_constant(c, a->op == OP_EQ ? eq : !eq);
		goto out;
	}
	if (fi->info->flags & SAKER_FF_NONZERO && (a->op == OP_EQ || a->op == OP_NE) &&
	    !strcmp(v[0], "0")) {
		n = fl_constant(c, a->op == OP_NE);
		goto out;
	}
	if (fi->type != SAKER_FT_STR && (is_str_op(a->op) || a->op == OP_PMATCH)) {
		snprintf(c->e->what, sizeof(c->e->what), "%s", fl_op_names[a->op]);
		n = fl_cfail(c, SAKER_FERR_UNSUPPORTED, a->oppos,
			     "operator '%s' is not supported on %s field '%s'", fl_op_names[a->op],
			     saker_ftype_name(fi->type), fi->name);
		goto out;
	}
	if ((fi->type == SAKER_FT_IPADDR || fi->type == SAKER_FT_IPNET ||
	     fi->type == SAKER_FT_BOOL) &&
	    a->op >= OP_LT && a->op <= OP_GE) {
		snprintf(c->e->what, sizeof(c->e->what), "%s", fl_op_names[a->op]);
		n = fl_cfail(c, SAKER_FERR_UNSUPPORTED, a->oppos,
			     "operator '%s' is not supported on %s field '%s'", fl_op_names[a->op],
			     saker_ftype_name(fi->type), fi->name);
		goto out;
	}
	n = fl_enew(c, E_CMP);
	if (!n)
		goto out;
	n->op = a->op;
	n->fi = fi;
	n->type = fi->type;
	n->vals = calloc((size_t)nv, sizeof(*n->vals));
	if (!n->vals) {
		fl_enode_free(n);
		n = fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
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
				fl_enode_free(n);
				n = fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
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
					cv->s.p[k] = (char)fl_lower((unsigned char)v[i][k]);
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
			fl_enode_free(n);
			n = fl_cfail(c, SAKER_FERR_INVALID, vpos[i],
				     "'%s' is not a valid %s value for '%s'", v[i],
				     a->op == OP_BCONTAINS || a->op == OP_BSTARTSWITH
					 ? "hex"
					 : saker_ftype_name(fi->type),
				     fi->name);
			goto out;
		}
	}
	if (fi->type == SAKER_FT_STR && (a->op == OP_IN || a->op == OP_INTERSECTS) && nv > 4) {
		n->set = fl_sset_build(n->vals, n->nvals);
		if (!n->set) {
			fl_enode_free(n);
			n = fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
			goto out;
		}
	}
	if (a->op == OP_REGEX) {
		int rc;

		n->re = malloc(sizeof(*n->re));
		if (!n->re) {
			fl_enode_free(n);
			n = fl_cfail(c, SAKER_FERR_NOMEM, a->pos, "out of memory");
			goto out;
		}
		rc = regcomp(n->re, n->vals[0].s.p, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];

			regerror(rc, n->re, msg, sizeof(msg));
			free(n->re);
			n->re = NULL;
			fl_enode_free(n);
			n = fl_cfail(c, SAKER_FERR_INVALID, vpos[0],
				     "invalid regular expression: %s", msg);
			goto out;
		}
	}
out:
	free(v);
	free(vpos);
	if (n && n->kind == E_CMP)
		n->cost = fl_cmp_cost(n);
	return n;
}
