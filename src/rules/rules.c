#include "rules/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "state/view.h"
#include "rules/rules_int.h"

int saker_rules_new(struct saker_rules **out)
{
	struct saker_rules *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->min_prio = SAKER_PRIO_DEBUG;
	*out = r;
	return 0;
}

void rl_segs_free(struct segs *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void rl_exc_free(struct exception *e)
{
	for (size_t i = 0; i < e->ncells; i++)
		rl_strv_free(&e->cells[i].v);
	free(e->name);
	rl_strv_free(&e->fields);
	rl_strv_free(&e->comps);
	free(e->cells);
	memset(e, 0, sizeof(*e));
}

void rl_rule_clear(struct rule_item *ri)
{
	free(ri->name);
	free(ri->desc);
	free(ri->output);
	free(ri->source);
	free(ri->cond.p);
	rl_segs_free(&ri->segs);
	rl_strv_free(&ri->tags);
	for (size_t i = 0; i < ri->nexc; i++)
		rl_exc_free(&ri->exc[i]);
	free(ri->exc);
	free(ri->final_cond);
	rl_segs_free(&ri->final_segs);
	saker_filter_free(ri->filter);
	free(ri->reason);
	free(ri->otoks);
	free(ri->ofields);
	free(ri->final_output);
	for (size_t i = 0; i < ri->nxf; i++)
		free(ri->xf[i].toks);
	free(ri->xf);
	free(ri->tagv);
	memset(ri, 0, sizeof(*ri));
}

void saker_rules_free(struct saker_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].name);
		free(r->files[i].buf);
	}
	free(r->files);
	for (size_t i = 0; i < r->nlists; i++) {
		free(r->lists[i].name);
		rl_strv_free(&r->lists[i].items);
		free(r->lists[i].flat);
	}
	free(r->lists);
	for (size_t i = 0; i < r->nmacros; i++) {
		free(r->macros[i].name);
		free(r->macros[i].cond.p);
		rl_segs_free(&r->macros[i].segs);
		saker_ast_free(r->macros[i].ast);
	}
	free(r->macros);
	for (size_t i = 0; i < r->nrules; i++)
		rl_rule_clear(&r->rules[i]);
	free(r->rules);
	rl_strv_free(&r->plugins_warned);
	for (size_t i = 0; i < r->nappends; i++) {
		struct append_item *a = &r->appends[i];

		free(a->source);
		free(a->rule);
		free(a->extra_output);
		rl_strv_free(&a->tags);
		for (size_t j = 0; j < a->fkeys.n; j++)
			free(a->fvals[j]);
		free(a->fvals);
		rl_strv_free(&a->fkeys);
	}
	free(r->appends);
	rl_nidx_free(&r->list_idx);
	rl_nidx_free(&r->macro_idx);
	rl_nidx_free(&r->rule_idx);
	rl_nidx_free(&r->inst_idx);
	for (size_t i = 0; i < r->ninst; i++) {
		saker_finst_clear(r->inst[i]);
		free(r->inst[i]);
	}
	free(r->inst);
	for (size_t i = 0; i < SAKER_NSLOTS; i++)
		free(r->slot_rules[i]);
	if (r->fctx) {
		saker_fctx_destroy(r->fctx);
		free(r->fctx);
	}
	free(r->names_root);
	free(r->out_buf);
	free(r->val_buf);
	free(r);
}

void saker_rules_set_match_all(struct saker_rules *r, bool all)
{
	r->match_all = all;
}

void saker_rules_set_min_priority(struct saker_rules *r, enum saker_prio min)
{
	r->min_prio = min;
}

int saker_rules_set_names_root(struct saker_rules *r, const char *root)
{
	char *d = root ? strdup(root) : NULL;

	if (root && !d)
		return -ENOMEM;
	free(r->names_root);
	r->names_root = d;
	return 0;
}

void saker_rules_set_boot_offset(struct saker_rules *r, uint64_t ns)
{
	r->boot_offset = ns;
	r->boot_offset_set = true;
	if (r->fctx)
		r->fctx->boot_offset_ns = ns;
}

/* ---- queries -------------------------------------------------------------------- */

size_t saker_rules_count(const struct saker_rules *r)
{
	return r->nrules;
}

const struct saker_rule_info *saker_rules_get(const struct saker_rules *r, size_t i)
{
	return i < r->nrules ? &r->rules[i].info : NULL;
}

size_t saker_rules_loaded(const struct saker_rules *r)
{
	return r->nloaded;
}

size_t saker_rules_macros(const struct saker_rules *r)
{
	return r->nmacros;
}

size_t saker_rules_lists(const struct saker_rules *r)
{
	return r->nlists;
}

void saker_rules_syscalls(const struct saker_rules *r, uint8_t sel[SAKER_SYSCALL_MAX], bool *all)
{
	memset(sel, 0, SAKER_SYSCALL_MAX);
	for (unsigned s = 0; s < SAKER_SYSCALL_MAX; s++)
		sel[s] = r->slot_n[s] && saker_fields_slot_name(s) ? 1 : 0;
	/* the exec record comes from sched_process_exec; a failed exec from the syscall */
	*all = r->any_catchall;
}

void saker_rules_stats(const struct saker_rules *r, uint64_t *events, uint64_t *evals,
		       uint64_t *matches)
{
	*events = r->events;
	*evals = r->evals;
	*matches = r->matches;
}

/* ---- matching -------------------------------------------------------------------- */

/* Renders a format's tokens at buf + o (up to MAX_OUTPUT_BYTES in all); returns the new end. */
static size_t render(struct saker_fctx *c, const struct otok *toks, size_t ntoks, char *buf,
		     size_t o)
{
	char tmp[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < ntoks; i++) {
		const struct otok *t = &toks[i];
		const char *s;
		size_t n;

		if (t->lit) {
			s = t->lit;
			n = t->litn;
		} else {
			const struct saker_fval *v;
			int nv = saker_fields_extract(c, t->fi, &v);

			if (nv <= 0) {
				s = "<NA>";
				n = 4;
			} else if (t->fi->type == SAKER_FT_STR) {
				s = v[0].s.p;
				n = v[0].s.n;
			} else {
				saker_fval_format(t->fi->type, &v[0], tmp, sizeof(tmp));
				s = tmp;
				n = strlen(tmp);
			}
		}
		if (o + n >= MAX_OUTPUT_BYTES)
			n = MAX_OUTPUT_BYTES - 1 - o;
		memcpy(buf + o, s, n);
		o += n;
	}
	buf[o] = '\0';
	return o;
}

/* A copy of p[0..n) in the alert's value buffer, or NULL when it is full. */
static const char *val_copy(struct saker_rules *r, const char *p, size_t n, size_t *vo)
{
	char *d = r->val_buf + *vo;

	if (*vo + n + 1 > MAX_OUTPUT_BYTES)
		return NULL;
	memcpy(d, p, n);
	d[n] = '\0';
	*vo += n + 1;
	return d;
}

/* One output field's value in the alert, typed; a missing value is a NULL string. */
static void alert_field(struct saker_rules *r, const struct saker_finst *fi, struct saker_field *f,
			size_t *vo)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const struct saker_fval *v;
	int nv = saker_fields_extract(r->fctx, fi, &v);

	f->name = fi->name;
	f->type = SAKER_FIELD_STR;
	f->str = NULL;
	if (nv <= 0)
		return;
	switch (fi->type) {
	case SAKER_FT_S64:
		f->type = SAKER_FIELD_S64;
		f->s64 = v[0].i;
		break;
	case SAKER_FT_BOOL:
		f->type = SAKER_FIELD_BOOL;
		f->b = v[0].u != 0;
		break;
	case SAKER_FT_U64:
	case SAKER_FT_RELTIME:
	case SAKER_FT_ABSTIME:
		f->type = SAKER_FIELD_U64;
		f->u64 = v[0].u;
		break;
	case SAKER_FT_STR:
		f->str = val_copy(r, v[0].s.p, v[0].s.n, vo);
		break;
	default:
		saker_fval_format(fi->type, &v[0], tmp, sizeof(tmp));
		f->str = val_copy(r, tmp, strlen(tmp), vo);
		break;
	}
}

/* Whose view is degraded: the container (and pod) the process runs in, when not the host's;
 * appended to the output after view_degraded=true. */
static const char *degraded_whose(struct saker_rules *r, struct saker_view *view,
				  const struct saker_event *ev, size_t *o)
{
	const struct saker_proc *p = saker_view_proc_at(view, ev->hdr.tid, ev->hdr.ts_ns);
	const struct saker_container *m = saker_view_container(view, p);
	const char *dctr =
	    p && p->container_id[0] && strcmp(p->container_id, "host") ? p->container_id : NULL;

	r->degraded_pod[0] = '\0';
	if (!dctr)
		return NULL;
	if (m && m->pod_name)
		snprintf(r->degraded_pod, sizeof(r->degraded_pod), "%s/%s",
			 m->pod_ns ? m->pod_ns : "", m->pod_name);
	if (*o < MAX_OUTPUT_BYTES)
		*o += (size_t)snprintf(r->out_buf + *o, MAX_OUTPUT_BYTES - *o,
				       " view_degraded_container=%s", dctr);
	if (r->degraded_pod[0] && *o < MAX_OUTPUT_BYTES)
		*o += (size_t)snprintf(r->out_buf + *o, MAX_OUTPUT_BYTES - *o,
				       " view_degraded_pod=%s", r->degraded_pod);
	if (*o >= MAX_OUTPUT_BYTES)
		*o = MAX_OUTPUT_BYTES - 1;
	return dctr;
}

static void add_str_field(struct saker_alert *a, struct saker_field *fields, const char *name,
			  const char *val)
{
	struct saker_field *f = &fields[a->n_fields++];

	f->name = name;
	f->type = SAKER_FIELD_STR;
	f->str = val;
}

static void format_alert(struct saker_rules *r, struct rule_item *ri, const struct saker_event *ev,
			 struct saker_view *view, struct saker_alert *a)
{
	static const char degraded[] = " view_degraded=true";
	struct saker_fctx *c = r->fctx;
	size_t o, vo = 0;
	bool is_degraded = saker_view_degraded(view, ev->hdr.tgid, ev->hdr.ts_ns);
	const char *dctr = NULL;

	o = render(c, ri->otoks, ri->notoks, r->out_buf, 0);
	/*
	 * The process the event belongs to may have lost events (its fork, exec,
	 * opens): what the alert says of it may be stale. Appended where Falco's
	 * append_output appends, so text and JSON output say so alike.
	 */
	if (is_degraded && o + sizeof(degraded) <= MAX_OUTPUT_BYTES) {
		memcpy(r->out_buf + o, degraded, sizeof(degraded));
		o += sizeof(degraded) - 1;
	}
	if (is_degraded)
		dctr = degraded_whose(r, view, ev, &o);
	for (size_t i = 0; i < ri->nofields; i++)
		alert_field(r, ri->ofields[i], &r->afields[i], &vo);
	memset(a, 0, sizeof(*a));
	a->time_ns = ev->hdr.ts_ns + c->boot_offset_ns;
	a->priority = ri->prio;
	a->rule = ri->name;
	a->source = "syscall";
	a->output = r->out_buf;
	a->fields = r->afields;
	a->n_fields = ri->nofields;
	a->tags = (const char *const *)ri->tagv;
	a->n_tags = ri->tags.n;
	for (size_t i = 0; i < ri->nxf && vo < MAX_OUTPUT_BYTES - 1; i++) {
		struct saker_field *f = &r->afields[a->n_fields++];
		size_t end = render(c, ri->xf[i].toks, ri->xf[i].ntoks, r->val_buf, vo);

		f->name = ri->xf[i].key;
		f->type = SAKER_FIELD_STR;
		f->str = r->val_buf + vo;
		vo = end + 1;
	}
	/* Flagged only when so; absent otherwise, as the dump does. */
	if (is_degraded) {
		struct saker_field *f = &r->afields[a->n_fields++];

		f->name = "view_degraded";
		f->type = SAKER_FIELD_BOOL;
		f->b = true;
		a->view_degraded = true;
		if (dctr)
			add_str_field(a, r->afields, "view_degraded_container", dctr);
		if (dctr && r->degraded_pod[0])
			add_str_field(a, r->afields, "view_degraded_pod", r->degraded_pod);
	}
}

int saker_rules_match(struct saker_rules *r, const struct saker_event *ev, struct saker_view *view,
		      saker_rules_match_fn cb, void *cb_ctx)
{
	int slot, n = 0;
	uint32_t nr;
	const uint32_t *list;

	if (!r->fctx)
		return 0;
	r->events++;
	slot = saker_fields_event_slot(ev);
	if (slot < 0 || !(nr = r->slot_n[slot])) {
		r->fctx->evtnum++;
		return 0;
	}
	list = r->slot_rules[slot];
	saker_fctx_begin(r->fctx, ev, view);
	for (uint32_t i = 0; i < nr; i++) {
		struct rule_item *ri = &r->rules[list[i]];

		r->evals++;
		if (!saker_filter_eval(ri->filter, r->fctx))
			continue;
		n++;
		ri->info.matches++;
		r->matches++;
		if (cb) {
			struct saker_alert a;

			format_alert(r, ri, ev, view, &a);
			cb(cb_ctx, &ri->info, &a);
		}
		if (!r->match_all)
			break;
	}
	return n;
}
