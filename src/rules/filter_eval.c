/* The compiled tree evaluated over one event's fields: comparisons, globs, sets. */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "rules/filter_int.h"

/* ---- compiled tree ----------------------------------------------------- */

static void sset_free(struct sset *s)
{
	if (!s)
		return;
	free(s->e);
	free(s);
}

void fl_enode_free(struct enode *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nkids; i++)
		fl_enode_free(n->kids[i]);
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
	fl_enode_free(f->root);
	free(f);
}

struct sset *fl_sset_build(const struct cval *v, uint32_t n)
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

int fl_lower(int c)
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
		if (icase ? (fl_lower(c) >= fl_lower(lo) && fl_lower(c) <= fl_lower(hi))
			  : (c >= lo && c <= hi))
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
				match = icase ? fl_lower(pat[npi]) == fl_lower(c) : pat[npi] == c;
			} else {
				match = icase ? fl_lower(pat[pi]) == fl_lower(c) : pat[pi] == c;
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

		while (j < nn && fl_lower((unsigned char)h[i + j]) == (unsigned char)n[j])
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
