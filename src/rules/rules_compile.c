/*
 * The loaded ruleset compiled: lists flattened, macros and conditions with
 * their exceptions parsed and type-checked, outputs, the slot index.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

/* ---- compiling --------------------------------------------------------------- */

struct cctx {
	struct saker_rules *r;
	char *err;
	size_t errlen;
	saker_report_fn warn;
	void *warn_ctx;
};

__attribute__((format(printf, 2, 3))) static void cwarn(struct cctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->warn(c->warn_ctx, SAKER_PRIO_WARNING, line);
}

/* Quoted list items ('"a b"') are unquoted, as Falco reads them. */
static const char *list_value(const char *s, char *tmp, size_t tmplen)
{
	size_t n = strlen(s), out;

	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0] &&
	    !saker_filter_unquote(s, n, tmp, tmplen, &out))
		return tmp;
	return s;
}

static int flatten(struct cctx *c, struct list_item *li, unsigned depth)
{
	struct saker_rules *r = c->r;
	size_t cap = li->items.n + 1, n = 0;
	const char **flat;
	char pos[512];

	if (li->state == 2)
		return 0;
	rl_pos_str(r, &li->pos, pos, sizeof(pos));
	if (li->state == 1 || depth > MAX_LIST_DEPTH) {
		saker_set_err(c->err, c->errlen, "%s: list '%s' refers to itself", pos, li->name);
		return -EINVAL;
	}
	li->state = 1;
	flat = malloc(cap * sizeof(*flat));
	if (!flat)
		return -ENOMEM;
	for (size_t i = 0; i < li->items.n; i++) {
		struct list_item *sub = rl_find_list(r, li->items.v[i]);
		const char *const *add = (const char *const *)&li->items.v[i];
		size_t nadd = 1;

		if (sub && sub != li) {
			int err = flatten(c, sub, depth + 1);

			if (err) {
				free(flat);
				return err;
			}
			add = sub->flat;
			nadd = sub->nflat;
		} else if (sub) {
			free(flat);
			saker_set_err(c->err, c->errlen, "%s: list '%s' refers to itself", pos,
				      li->name);
			return -EINVAL;
		}
		if (n + nadd > MAX_LIST_ITEMS) {
			free(flat);
			saker_set_err(c->err, c->errlen,
				      "%s: list '%s' has more than %u items once expanded", pos,
				      li->name, MAX_LIST_ITEMS);
			return -EINVAL;
		}
		if (n + nadd >= cap) {
			const char **nf;

			cap = 2 * (n + nadd) + 1;
			nf = realloc(flat, cap * sizeof(*nf));
			if (!nf) {
				free(flat);
				return -ENOMEM;
			}
			flat = nf;
		}
		for (size_t j = 0; j < nadd; j++)
			flat[n++] = add[j];
	}
	li->flat = flat;
	li->nflat = n;
	li->state = 2;
	return 0;
}

/* Unquotes the items once flattening is done: they are then owned strings. */
static int unquote_lists(struct saker_rules *r)
{
	char tmp[4096];

	for (size_t i = 0; i < r->nlists; i++) {
		struct strv *it = &r->lists[i].items;

		for (size_t j = 0; j < it->n; j++) {
			const char *u = list_value(it->v[j], tmp, sizeof(tmp));

			if (u == tmp) {
				char *d = strdup(tmp);

				if (!d)
					return -ENOMEM;
				/* flattened arrays point at the old string: repoint them */
				for (size_t a = 0; a < r->nlists; a++)
					for (size_t b = 0; b < r->lists[a].nflat; b++)
						if (r->lists[a].flat[b] == it->v[j])
							r->lists[a].flat[b] = d;
				free(it->v[j]);
				it->v[j] = d;
			}
		}
	}
	return 0;
}

static const struct saker_ast *env_macro(void *ctx, const char *name, const void **src,
					 struct saker_ferr *e)
{
	struct saker_rules *r = ctx;
	struct macro_item *m = rl_find_macro(r, name);

	(void)e;
	if (!m || !m->ast)
		return NULL;
	*src = m;
	return m->ast;
}

static const char *const *env_list(void *ctx, const char *name, size_t *n)
{
	struct list_item *li = rl_find_list(ctx, name);

	if (!li || li->state != 2)
		return NULL;
	*n = li->nflat;
	return li->flat;
}

static const struct saker_finst *env_field(void *ctx, const char *field, const char *arg, int *err,
					   char *why, size_t whylen)
{
	struct saker_rules *r = ctx;
	struct saker_finst tmp, *fi;
	int e = saker_finst_init(&tmp, field, arg, why, whylen);

	if (e) {
		*err = e;
		return NULL;
	}
	long known = rl_nidx_get(&r->inst_idx, tmp.name);

	if (known >= 0) {
		saker_finst_clear(&tmp);
		return r->inst[known];
	}
	fi = malloc(sizeof(*fi));
	if (!fi || rl_grow((void **)&r->inst, r->ninst, &r->cinst, sizeof(*r->inst))) {
		free(fi);
		saker_finst_clear(&tmp);
		*err = -ENOMEM;
		return NULL;
	}
	*fi = tmp;
	fi->id = (unsigned)r->ninst;
	if (rl_nidx_put(&r->inst_idx, fi->name, fi->id)) {
		saker_finst_clear(fi);
		free(fi);
		*err = -ENOMEM;
		return NULL;
	}
	r->inst[r->ninst++] = fi;
	return fi;
}

/* The position of a filter error, whichever text (rule or macro) it is in. */
static void ferr_where(const struct saker_rules *r, const struct rule_item *ri,
		       const struct saker_ferr *e, char *out, size_t outlen)
{
	for (size_t i = 0; i < r->nmacros; i++)
		if (e->src == &r->macros[i]) {
			rl_where(r, &r->macros[i].segs, r->macros[i].cond.p, e->off, out, outlen);
			return;
		}
	rl_where(r, &ri->final_segs, ri->final_cond, e->off, out, outlen);
}

__attribute__((format(printf, 3, 4))) static int skip(struct cctx *c, struct rule_item *ri,
						      const char *fmt, ...)
{
	char msg[768], pos[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(ri->reason);
	ri->reason = strdup(msg);
	ri->info.state = SAKER_RULE_SKIPPED;
	rl_pos_str(c->r, &ri->pos, pos, sizeof(pos));
	if (!ri->quiet_skip)
		cwarn(c, "%s: rule '%s' skipped: %s", pos, ri->name, msg);
	return ri->reason ? 0 : -ENOMEM;
}

static bool field_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.';
}

/* Adds fi to the rule's distinct output fields (JSON output_fields), once. */
static void add_ofield(struct rule_item *ri, const struct saker_finst *fi)
{
	for (size_t i = 0; i < ri->nofields; i++)
		if (ri->ofields[i] == fi)
			return;
	if (ri->nofields < MAX_ALERT_FIELDS)
		ri->ofields[ri->nofields++] = fi;
}

/*
 * A format's literal text and %fields as tokens (pointing into fmt, which
 * must outlive them); each field also goes to ri's output fields when ri is
 * given. 0; -ENOENT/-EINVAL with why for a field saker does not have.
 */
static int compile_fmt(struct saker_rules *r, const char *fmt, struct otok **toks, size_t *ntoks,
		       struct rule_item *ri, char *why, size_t whylen)
{
	size_t cap = 16;

	*ntoks = 0;
	*toks = calloc(cap, sizeof(**toks));
	if (!*toks)
		return -ENOMEM;
	for (const char *p = fmt; *p;) {
		const char *lit = p;
		const struct saker_finst *fi = NULL;

		while (*p && !(p[0] == '%' && (field_char(p[1]) || p[1] == '%')))
			p++;
		if (*ntoks + 2 >= cap) {
			struct otok *nt = realloc(*toks, 2 * cap * sizeof(*nt));

			if (!nt)
				return -ENOMEM;
			*toks = nt;
			cap *= 2;
		}
		if (p > lit)
			(*toks)[(*ntoks)++] = (struct otok){lit, (size_t)(p - lit), NULL};
		if (!*p)
			break;
		if (p[1] == '%') {
			(*toks)[(*ntoks)++] = (struct otok){p, 1, NULL};
			p += 2;
			continue;
		}
		{
			const char *f = ++p, *arg = NULL;
			size_t fn, an = 0;
			char name[256], argbuf[256];
			int err = 0;

			while (field_char(*p))
				p++;
			while (p > f && p[-1] == '.')
				p--;
			fn = (size_t)(p - f);
			if (*p == '[') {
				const char *close = strchr(p, ']');

				if (close) {
					arg = p + 1;
					an = (size_t)(close - arg);
					p = close + 1;
				}
			}
			if (fn >= sizeof(name) || an >= sizeof(argbuf)) {
				snprintf(why, whylen, "output field too long");
				return -EINVAL;
			}
			memcpy(name, f, fn);
			name[fn] = '\0';
			if (arg) {
				memcpy(argbuf, arg, an);
				argbuf[an] = '\0';
			}
			fi = env_field(r, name, arg ? argbuf : NULL, &err, why, whylen);
			if (!fi)
				return err ? err : -EINVAL;
		}
		(*toks)[(*ntoks)++] = (struct otok){NULL, 0, fi};
		if (ri)
			add_ofield(ri, fi);
	}
	return 0;
}

static bool append_applies(const struct append_item *a, const struct rule_item *ri)
{
	if (a->source && strcmp(a->source, ri->source ? ri->source : "syscall"))
		return false;
	if (a->rule && strcmp(a->rule, ri->name))
		return false;
	for (size_t i = 0; i < a->tags.n; i++)
		if (!rl_strv_has(&ri->tags, a->tags.v[i]))
			return false;
	return true;
}

/*
 * The output as Falco builds it: the rule's text trimmed (rule_loader_reader),
 * then " " and each matching append_output entry's extra_output, in order.
 * Its %fields, then the entries' extra_fields, make the JSON output_fields.
 */
static int compile_output(struct saker_rules *r, struct rule_item *ri, char *why, size_t whylen)
{
	const char *o = ri->output ? ri->output : "";
	size_t n = strlen(o);
	struct buf b = {0};
	int err;

	while (n && isspace((unsigned char)o[n - 1]))
		n--;
	while (n && isspace((unsigned char)*o)) {
		o++;
		n--;
	}
	rl_buf_putn(&b, o, n);
	for (size_t i = 0; i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];

		if (!a->extra_output || !append_applies(a, ri))
			continue;
		rl_buf_putn(&b, " ", 1);
		rl_buf_puts(&b, a->extra_output);
	}
	rl_buf_putn(&b, "", 0);
	if (b.oom || !b.p) {
		free(b.p);
		return -ENOMEM;
	}
	ri->final_output = b.p;
	ri->ofields = calloc(MAX_ALERT_FIELDS, sizeof(*ri->ofields));
	if (!ri->ofields)
		return -ENOMEM;
	err = compile_fmt(r, ri->final_output, &ri->otoks, &ri->notoks, ri, why, whylen);
	for (size_t i = 0; !err && i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];

		if (!append_applies(a, ri))
			continue;
		for (size_t j = 0; !err && j < a->fkeys.n; j++) {
			struct xfield *x;

			if (!a->fvals[j]) {
				const struct saker_finst *fi =
				    env_field(r, a->fkeys.v[j], NULL, &err, why, whylen);

				if (fi)
					add_ofield(ri, fi);
				else if (!err)
					err = -EINVAL;
				continue;
			}
			if (ri->nxf >= MAX_ALERT_FIELDS)
				continue;
			x = realloc(ri->xf, (ri->nxf + 1) * sizeof(*x));
			if (!x)
				return -ENOMEM;
			ri->xf = x;
			x = &ri->xf[ri->nxf++];
			x->key = a->fkeys.v[j];
			err = compile_fmt(r, a->fvals[j], &x->toks, &x->ntoks, NULL, why, whylen);
		}
	}
	return err;
}

/*
 * The condition parsed and type-checked into ri->filter. A rule that cannot
 * be compiled here is skipped (0, state SKIPPED) or fails the load (-EINVAL).
 */
static int compile_condition(struct cctx *c, struct rule_item *ri)
{
	struct saker_rules *r = c->r;
	struct saker_filter_env env = {r, env_macro, env_list, env_field};
	struct saker_ast *ast = NULL;
	struct saker_ferr fe;
	char pos[512];
	int err;

	err = rl_build_condition(r, ri);
	if (err)
		return err;
	err = saker_filter_parse(ri->final_cond, &ast, &fe);
	if (!err) {
		err = saker_filter_compile(ast, ri, &env, &ri->filter, &fe);
	} else {
		fe.src = ri;
	}
	saker_ast_free(ast);
	if (err == -ENOMEM)
		return err;
	if (!err)
		return 0;
	ferr_where(r, ri, &fe, pos, sizeof(pos));
	if (fe.kind == SAKER_FERR_UNSUPPORTED) {
		ri->quiet_skip = ri->skip_if_unknown;
		return skip(c, ri, "%s (at %s)", fe.msg, pos);
	}
	/* Falco's LOAD_ERR_COMPILE_CONDITION, which skip-if-unknown-filter turns into a skip */
	if (fe.kind == SAKER_FERR_UNKNOWN && ri->skip_if_unknown) {
		ri->quiet_skip = true;
		return skip(c, ri, "%s (at %s; skip-if-unknown-filter: true)", fe.msg, pos);
	}
	saker_set_err(c->err, c->errlen, "%s: rule '%s': %s", pos, ri->name, fe.msg);
	return -EINVAL;
}

/* The output compiled; an unknown field fails the load, an unsupported one skips. */
static int compile_rule_output(struct cctx *c, struct rule_item *ri)
{
	char pos[512], why[384];
	int err;

	err = compile_output(c->r, ri, why, sizeof(why));
	if (err == -ENOMEM)
		return err;
	if (err == -ESRCH) {
		/* a typo in the output fails the load in Falco too (LOAD_ERR_COMPILE_OUTPUT) */
		rl_pos_str(c->r, &ri->pos, pos, sizeof(pos));
		saker_set_err(c->err, c->errlen, "%s: rule '%s': output: %s", pos, ri->name, why);
		return -EINVAL;
	}
	if (err)
		return skip(c, ri, "output: %s", why);
	return 0;
}

/*
 * The event types the compiled rule can match, in slots; a rule that can
 * match none is skipped. *all: it is tested on every event type.
 */
static int rule_reach(struct cctx *c, struct rule_item *ri, uint64_t *slots, bool *all)
{
	char pos[512];
	bool any = false;

	if (saker_filter_const(ri->filter) == 0) {
		const struct saker_field_info *nf = saker_filter_never_field(ri->filter);

		if (nf)
			return skip(c, ri,
				    "it can never match: it needs '%s', which is not supported "
				    "by saker (%s)",
				    nf->name, nf->never_reason ? nf->never_reason : "no value");
		return skip(c, ri, "its condition is never true");
	}
	saker_filter_slots(ri->filter, slots);
	*all = true;
	for (unsigned s = 0; s < SAKER_NSLOTS; s++) {
		bool in = (slots[s / 64] >> (s % 64)) & 1;

		/* unnamed syscall ids do not count against "every event type" */
		if (!saker_fields_slot_name(s))
			continue;
		any |= in;
		*all &= in;
	}
	if (!any)
		return skip(c, ri, "it matches no event type saker can see");
	ri->info.catchall = *all;
	if (*all && ri->enabled && ri->warn_evttypes) {
		rl_pos_str(c->r, &ri->pos, pos, sizeof(pos));
		cwarn(c,
		      "%s: rule '%s' has no event-type restriction (evt.type): it is tested on "
		      "every event",
		      pos, ri->name);
	}
	return 0;
}

/* The enabled rule listed under each event type it can match. */
static int index_rule(struct saker_rules *r, const struct rule_item *ri, const uint64_t *slots,
		      bool all)
{
	for (unsigned s = 0; s < SAKER_NSLOTS; s++) {
		if (!((slots[s / 64] >> (s % 64)) & 1))
			continue;
		if (rl_grow((void **)&r->slot_rules[s], r->slot_n[s], &r->slot_cap[s],
			    sizeof(*r->slot_rules[s])))
			return -ENOMEM;
		r->slot_rules[s][r->slot_n[s]++] = (uint32_t)(ri - r->rules);
	}
	r->any_catchall |= all;
	r->nloaded++;
	return 0;
}

/* Each step either goes on, skips the rule (0, state SKIPPED) or fails the load. */
static int compile_rule(struct cctx *c, struct rule_item *ri)
{
	struct saker_rules *r = c->r;
	uint64_t slots[SAKER_SLOT_WORDS];
	bool all = false;
	int err;

	ri->info.state = ri->enabled ? SAKER_RULE_LOADED : SAKER_RULE_DISABLED;
	if (ri->source && strcmp(ri->source, "syscall"))
		return skip(c, ri, "source '%s' is not supported (saker has syscall rules only)",
			    ri->source);
	if (ri->prio > r->min_prio)
		return skip(c, ri, "priority %s is below the minimum (%s)",
			    saker_prio_name(ri->prio), saker_prio_name(r->min_prio));
	err = compile_condition(c, ri);
	if (!err && ri->info.state != SAKER_RULE_SKIPPED)
		err = compile_rule_output(c, ri);
	if (!err && ri->info.state != SAKER_RULE_SKIPPED)
		err = rule_reach(c, ri, slots, &all);
	if (err || ri->info.state == SAKER_RULE_SKIPPED || !ri->enabled)
		return err;
	return index_rule(r, ri, slots, all);
}

static void fill_info(struct rule_item *ri, const struct saker_rules *r)
{
	struct saker_rule_info *in = &ri->info;

	in->name = ri->name;
	in->desc = ri->desc ? ri->desc : "";
	in->condition = ri->final_cond ? ri->final_cond : (ri->cond.p ? ri->cond.p : "");
	in->output = ri->final_output ? ri->final_output : (ri->output ? ri->output : "");
	in->priority = ri->prio;
	in->tags = (const char *const *)ri->tagv;
	in->n_tags = ri->tags.n;
	in->file = ri->pos.file >= 0 ? r->files[ri->pos.file].name : "";
	in->line = (unsigned)ri->pos.line;
	in->col = (unsigned)ri->pos.col;
	in->reason = in->state == SAKER_RULE_DISABLED && !ri->reason
			 ? (ri->selected ? "disabled by the rules selection (rules:, -D, -T, -t)"
					 : "enabled: false")
			 : ri->reason;
}

int saker_rules_select(struct saker_rules *r, bool enable, const char *rule, const char *tag)
{
	int n = 0;

	if (r->compiled)
		return -EBUSY;
	for (size_t i = 0; i < r->nrules; i++) {
		struct rule_item *ri = &r->rules[i];

		if ((rule && fnmatch(rule, ri->name, 0) == 0) ||
		    (tag && rl_strv_has(&ri->tags, tag))) {
			ri->enabled = enable;
			ri->selected = true;
			n++;
		}
	}
	return n;
}

static int dup_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (!s || !s[0])
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

int saker_rules_add_append(struct saker_rules *r, const struct saker_rules_append *in)
{
	struct append_item *a;
	int err;

	if (r->compiled)
		return -EBUSY;
	if (rl_grow((void **)&r->appends, r->nappends, &r->cappends, sizeof(*r->appends)))
		return -ENOMEM;
	a = &r->appends[r->nappends++];
	memset(a, 0, sizeof(*a));
	err = dup_opt(&a->source, in->source);
	if (!err)
		err = dup_opt(&a->rule, in->rule);
	if (!err)
		err = dup_opt(&a->extra_output, in->extra_output);
	for (size_t i = 0; !err && i < in->n_tags; i++)
		err = rl_strv_push(&a->tags, in->tags[i]);
	if (!err && in->n_fields && !(a->fvals = calloc(in->n_fields, sizeof(*a->fvals))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < in->n_fields; i++) {
		err = rl_strv_push(&a->fkeys, in->field_keys[i]);
		if (!err && in->field_values && in->field_values[i] &&
		    !(a->fvals[i] = strdup(in->field_values[i])))
			err = -ENOMEM;
	}
	return err;
}

/* An append_output entry naming a field saker does not have fails the compile, once. */
static int check_appends(struct cctx *c)
{
	struct saker_rules *r = c->r;
	char why[384];
	int err = 0;

	for (size_t i = 0; !err && i < r->nappends; i++) {
		const struct append_item *a = &r->appends[i];
		struct otok *toks = NULL;
		size_t n;

		if (a->extra_output) {
			err = compile_fmt(r, a->extra_output, &toks, &n, NULL, why, sizeof(why));
			free(toks);
			toks = NULL;
		}
		for (size_t j = 0; !err && j < a->fkeys.n; j++) {
			if (a->fvals[j]) {
				err =
				    compile_fmt(r, a->fvals[j], &toks, &n, NULL, why, sizeof(why));
				free(toks);
				toks = NULL;
			} else if (!env_field(r, a->fkeys.v[j], NULL, &err, why, sizeof(why)) &&
				   !err) {
				err = -EINVAL;
			}
		}
		if (err && err != -ENOMEM)
			saker_set_err(c->err, c->errlen, "append_output[%zu]: %s", i, why);
	}
	return err == -ENOMEM ? err : (err ? -EINVAL : 0);
}

/*
 * Loaded rules whose condition names a field saker never has a value for
 * (container.image.repository in an exception, ...): the comparison is
 * false, so the rule may match where Falco's would not, or never take an
 * exception. One warning for all of them, naming the fields.
 */
static void warn_never_fields(struct cctx *c)
{
	const struct saker_field_info *seen[16];
	size_t counts[16], nseen = 0, nrules = 0;
	char list[512];
	size_t used = 0;

	for (size_t i = 0; i < c->r->nrules; i++) {
		const struct rule_item *ri = &c->r->rules[i];
		const struct saker_field_info *nf[MAX_ALERT_FIELDS + 1];
		size_t n = 0;

		if (ri->info.state != SAKER_RULE_LOADED || !ri->filter)
			continue;
		if ((nf[0] = saker_filter_never_field(ri->filter)) != NULL)
			n++;
		/* and in the output, where it prints <NA> */
		for (size_t j = 0; j < ri->nofields; j++)
			if (ri->ofields[j]->info->flags & SAKER_FF_NEVER)
				nf[n++] = ri->ofields[j]->info;
		nrules += n > 0;
		for (size_t j = 0; j < n; j++) {
			size_t k;

			for (k = 0; k < nseen && seen[k] != nf[j]; k++)
				;
			if (k == nseen && nseen < 16) {
				seen[nseen] = nf[j];
				counts[nseen++] = 0;
			}
			if (k < nseen)
				counts[k]++;
		}
	}
	if (!nrules)
		return;
	list[0] = '\0';
	for (size_t k = 0; k < nseen; k++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s (%zu)", k ? ", " : "",
				 seen[k]->name, counts[k]);

		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	cwarn(c,
	      "%zu loaded rule%s use%s a field saker never has a value for (a comparison on it "
	      "is false, so exceptions on it never apply; an output prints <NA>): %s; "
	      "saker --list says why",
	      nrules, nrules == 1 ? "" : "s", nrules == 1 ? "s" : "", list);
}

int saker_rules_compile(struct saker_rules *r, char *err, size_t errlen, saker_report_fn warn,
			void *warn_ctx)
{
	struct cctx c = {r, err, errlen, warn, warn_ctx};
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (r->compiled) {
		saker_set_err(err, errlen, "rules are already compiled");
		return -EBUSY;
	}
	r->compiled = true;
	ret = check_appends(&c);
	for (size_t i = 0; i < r->nlists && !ret; i++)
		ret = flatten(&c, &r->lists[i], 0);
	if (!ret)
		ret = unquote_lists(r);
	for (size_t i = 0; i < r->nmacros && !ret; i++) {
		struct macro_item *m = &r->macros[i];
		struct saker_ferr fe;
		char pos[512];

		ret = saker_filter_parse(m->cond.p ? m->cond.p : "", &m->ast, &fe);
		if (ret == -EINVAL) {
			rl_where(r, &m->segs, m->cond.p ? m->cond.p : "", fe.off, pos, sizeof(pos));
			saker_set_err(err, errlen, "%s: macro '%s': %s", pos, m->name, fe.msg);
		}
	}
	for (size_t i = 0; i < r->nrules && !ret; i++) {
		struct rule_item *ri = &r->rules[i];

		ri->tagv = calloc(ri->tags.n + 1, sizeof(*ri->tagv));
		if (!ri->tagv) {
			ret = -ENOMEM;
			break;
		}
		for (size_t t = 0; t < ri->tags.n; t++)
			ri->tagv[t] = ri->tags.v[t];
		ret = compile_rule(&c, ri);
	}
	for (size_t i = 0; i < r->nrules; i++)
		fill_info(&r->rules[i], r);
	if (!ret) {
		warn_never_fields(&c);
		r->fctx = malloc(sizeof(*r->fctx));
		r->out_buf = malloc(MAX_OUTPUT_BYTES);
		r->val_buf = malloc(MAX_OUTPUT_BYTES);
		if (!r->fctx || !r->out_buf || !r->val_buf)
			ret = -ENOMEM;
		else if (!(ret = saker_fctx_init(r->fctx, r->ninst))) {
			if (r->boot_offset_set)
				r->fctx->boot_offset_ns = r->boot_offset;
			ret = saker_fctx_load_names(r->fctx, r->names_root);
		} else {
			free(r->fctx);
			r->fctx = NULL;
		}
	}
	if (ret == -ENOMEM)
		saker_set_err(err, errlen, "out of memory compiling rules");
	return ret;
}
