/*
 * How a field class is written (internal to rules/).
 *
 * Rule fields are one table split by class, as Falco's libsinsp splits them:
 * every class (evt, proc/thread, user/group, fd, container/k8s) is one file,
 * fields_<class>.c, holding its rows and their extractors. A new field is a
 * row of its class file; a new class is a file plus one line in the class
 * list of fields.c (the list's order, then each class's row order, is the
 * order `saker --list` prints).
 *
 * A class file declares
 *
 *	static int my_extract(struct saker_fctx *c, const struct saker_finst *fi,
 *			      struct saker_fval *v) { ... }
 *	static const struct saker_field_row rows[] = {
 *		{{"my.field", SAKER_FT_STR, 0, "What it is", NULL}, my_extract, 0, 2},
 *		{{"my.never", SAKER_FT_STR, SAKER_FF_NEVER, "What", "why not"}, NULL, 0, 1},
 *	};
 *	const struct saker_field_class saker_fclass_my = SAKER_FIELD_CLASS("my", rows);
 *
 * and fields.c lists &saker_fclass_my. An extractor reaches the event and
 * the process/fd view only through the context: c->ev (the decoded event),
 * c->view, and the lazily resolved, per-event cached helpers below
 * (saker_fctx_proc, saker_fctx_ancestors, saker_fctx_fd). Values it returns
 * must live until the next saker_fctx_begin: point into the event, the view's
 * entries, constant strings, or the context's arena (saker_fctx_alloc,
 * saker_fctx_printf); it never allocates otherwise.
 */
#ifndef SAKER_FIELDS_CLASS_H
#define SAKER_FIELDS_CLASS_H

#include <stddef.h>
#include <string.h>

#include "rules/fields.h"

/*
 * The instance's values for c's current event into v[]: how many (0 =
 * missing). A SAKER_FF_MULTI row may write up to SAKER_FIELD_MAX_VALUES,
 * any other exactly one. fi->sel is the row's sel (one extractor serving
 * several rows tells them apart by it), fi->idx and fi->arg its argument.
 */
typedef int (*saker_field_extract_fn)(struct saker_fctx *c, const struct saker_finst *fi,
				      struct saker_fval *v);

/* Cost of a row that walks ancestors: 2 + 2 per [n], 40 without an index. */
#define SAKER_FCOST_WALK 0u

struct saker_field_row {
	struct saker_field_info info;
	saker_field_extract_fn extract; /* NULL for SAKER_FF_NEVER rows */
	int sel;			/* handed to the extractor as fi->sel */
	unsigned cost; /* relative extraction cost, 1 = a header field (orders checks) */
};

struct saker_field_class {
	const char *name;
	const struct saker_field_row *rows;
	size_t nrows;
};

#define SAKER_FIELD_CLASS(name_, rows_)                                                            \
	{                                                                                          \
		.name = (name_), .rows = (rows_), .nrows = sizeof(rows_) / sizeof((rows_)[0])      \
	}

/* The classes, in --list order (each defined in its fields_<class>.c). */
extern const struct saker_field_class saker_fclass_evt;
extern const struct saker_field_class saker_fclass_proc;
extern const struct saker_field_class saker_fclass_user;
extern const struct saker_field_class saker_fclass_fd;
extern const struct saker_field_class saker_fclass_container;

/* The event's process (thread), or NULL when the view has none. */
const struct saker_proc *saker_fctx_proc(struct saker_fctx *c);
/* Resolves ancestors up to depth into c->anc[] (anc[0] = the process): how many are known. */
unsigned saker_fctx_ancestors(struct saker_fctx *c, unsigned depth);
/*
 * Resolves the event's descriptor: c->fdnum (INT64_MIN = the event has none),
 * c->fd (the view's entry, or NULL), c->fd_from_path (an open whose path
 * argument names the file).
 */
void saker_fctx_fd(struct saker_fctx *c);

/* n bytes of the context's arena, or NULL when it is full. */
char *saker_fctx_alloc(struct saker_fctx *c, size_t n);
/*
 * The arena's free end, *room bytes long: an extractor writes a string there
 * and keeps it with saker_fctx_keep_str (what it does not keep is reused).
 */
char *saker_fctx_tail(struct saker_fctx *c, size_t *room);
/* The n bytes at the free end, NUL-terminated after them, as a string value: 1. */
int saker_fctx_keep_str(struct saker_fctx *c, struct saker_fval *v, size_t n);
/* A printf into the arena as a string value: 1, or 0 (missing) when it does not fit. */
__attribute__((format(printf, 3, 4))) int
saker_fctx_printf(struct saker_fctx *c, struct saker_fval *v, const char *fmt, ...);

/* A descriptor's fd.type name (NULL when saker has none) and fd.typechar in *tc. */
const char *saker_fields_fd_type(const struct saker_fd *f, char *tc);

/* Read by the user class; freed with the context. */
void saker_fctx_names_free(struct saker_fctx_names *nm);

/* What kind of syscall the event is: an open, a creat, one that returns a descriptor. */
enum { SAKER_SCF_OPEN = 1, SAKER_SCF_CREAT = 2, SAKER_SCF_RETFD = 4 };
unsigned saker_fields_sc_flags(const struct saker_event *ev);

/* Builds the argument tables once (fields_evtarg.c); instances and contexts call it. */
void saker_fields_tables_init(void);

/*
 * evt.arg / evt.rawarg (sel 1: raw) and evt.args over the argument tables
 * of fields_evtarg.c (Falco's argument names per event). An instance of a row whose
 * extractor is saker_fields_evt_arg is resolved by saker_fields_evt_arg_init
 * once its argument is parsed: the argument per event class, the raw type,
 * the name as Falco users write it (evt.arg.flags, evt.arg[0]).
 */
int saker_fields_evt_arg_init(struct saker_finst *fi, char *why, size_t whylen);
int saker_fields_evt_arg(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v);
int saker_fields_evt_args(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v);

static inline int saker_fval_str(struct saker_fval *v, const char *p, size_t n)
{
	v->s.p = p;
	v->s.n = (uint32_t)n;
	return 1;
}

/* A NUL-terminated string as a value; NULL is missing. */
static inline int saker_fval_cstr(struct saker_fval *v, const char *p)
{
	return p ? saker_fval_str(v, p, strlen(p)) : 0;
}

#endif
