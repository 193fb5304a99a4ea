/*
 * A rule's final condition: its own text and its exceptions written into it
 * as Falco does, with where each stretch came from.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static bool list_op(const char *comp)
{
	return !strcmp(comp, "in") || !strcmp(comp, "pmatch") || !strcmp(comp, "intersects");
}

static void put_cell(struct saker_rules *r, struct buf *b, const struct cell *cl, const char *comp)
{
	if (list_op(comp)) {
		rl_buf_puts(b, "(");
		for (size_t i = 0; i < cl->v.n; i++) {
			if (i)
				rl_buf_puts(b, ", ");
			/* a list's name stays bare so that it is expanded */
			if (!cl->seq && cl->v.n == 1 && rl_find_list(r, cl->v.v[i]))
				rl_buf_puts(b, cl->v.v[i]);
			else
				rl_buf_quote(b, cl->v.v[i]);
		}
		rl_buf_puts(b, ")");
		return;
	}
	rl_buf_quote(b, cl->v.n ? cl->v.v[0] : "");
}

/* A single-field exception with a list operator: one check over every row's values. */
static void put_single_list(struct saker_rules *r, struct buf *b, const struct exception *e,
			    const char *comp)
{
	rl_buf_puts(b, e->fields.v[0]);
	rl_buf_puts(b, " ");
	rl_buf_puts(b, comp);
	rl_buf_puts(b, " (");
	for (size_t k = 0; k < e->nrows; k++)
		for (size_t j = 0; j < e->cells[k].v.n; j++) {
			const char *val = e->cells[k].v.v[j];

			if (k || j)
				rl_buf_puts(b, ", ");
			if (rl_find_list(r, val))
				rl_buf_puts(b, val);
			else
				rl_buf_quote(b, val);
		}
	rl_buf_puts(b, ")");
}

/* One row of a multi-field exception: (f1 c1 v1 and f2 c2 v2 ...). */
static void put_row(struct saker_rules *r, struct buf *b, const struct exception *e, size_t row)
{
	size_t width = e->fields.n;

	rl_buf_puts(b, "(");
	for (size_t f = 0; f < width; f++) {
		const char *comp = e->comps.n ? e->comps.v[f] : "=";

		if (f)
			rl_buf_puts(b, " and ");
		rl_buf_puts(b, e->fields.v[f]);
		rl_buf_puts(b, " ");
		rl_buf_puts(b, comp);
		rl_buf_puts(b, " ");
		put_cell(r, b, &e->cells[row * width + f], comp);
	}
	rl_buf_puts(b, ")");
}

/* An exception as Falco writes it into the condition: " and not (row or row ...)". */
static void put_exception(struct saker_rules *r, struct buf *b, const struct exception *e)
{
	if (!e->nrows)
		return;
	rl_buf_puts(b, " and not (");
	for (size_t row = 0; row < e->nrows; row++) {
		const char *comp = e->comps.n ? e->comps.v[0] : "in";

		if (row)
			rl_buf_puts(b, " or ");
		if (!e->single) {
			put_row(r, b, e, row);
			continue;
		}
		/* single field: the values of all rows form one list */
		if (list_op(comp)) {
			put_single_list(r, b, e, comp);
			break;
		}
		rl_buf_puts(b, e->fields.v[0]);
		rl_buf_puts(b, " ");
		rl_buf_puts(b, comp);
		rl_buf_puts(b, " ");
		put_cell(r, b, &e->cells[row], comp);
	}
	rl_buf_puts(b, ")");
}

/*
 * The rule's condition in parentheses, then " and not (...)" per exception
 * with values, as Falco builds it; final_segs map each stretch back to its
 * file, the generated part to the rule's exceptions.
 */
int rl_build_condition(struct saker_rules *r, struct rule_item *ri)
{
	struct buf b = {0};

	rl_segs_free(&ri->final_segs);
	ri->final_segs.v = malloc((ri->segs.n + 1) * sizeof(*ri->final_segs.v));
	if (!ri->final_segs.v)
		return -ENOMEM;
	rl_buf_puts(&b, "(");
	for (size_t i = 0; i < ri->segs.n; i++) {
		ri->final_segs.v[i] = ri->segs.v[i];
		ri->final_segs.v[i].start += 1;
	}
	ri->final_segs.n = ri->segs.n;
	rl_buf_puts(&b, ri->cond.p ? ri->cond.p : "");
	rl_buf_puts(&b, ")");
	ri->exc_start = b.len;
	for (size_t i = 0; i < ri->nexc; i++)
		put_exception(r, &b, &ri->exc[i]);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	if (b.len > ri->exc_start) {
		/* errors in the generated part point at the rule's exceptions */
		struct seg gs = {.start = ri->exc_start,
				 .file = ri->exc_pos.file,
				 .line = ri->exc_pos.line ? ri->exc_pos.line - 1 : 0,
				 .col = ri->exc_pos.col ? ri->exc_pos.col - 1 : 0,
				 .generated = true};
		struct seg *nv = realloc(ri->final_segs.v, (ri->final_segs.n + 1) * sizeof(*nv));

		if (!nv) {
			free(b.p);
			return -ENOMEM;
		}
		ri->final_segs.v = nv;
		ri->final_segs.v[ri->final_segs.n++] = gs;
	}
	free(ri->final_cond);
	ri->final_cond = b.p;
	return 0;
}
