/*
 * The evt field class: the event itself (type, result, time, where it ran)
 * and its arguments by Falco's names (evt.arg.*, whose tables and rendering
 * are in fields_evtarg.c beside the event classes they are indexed by).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "event/event.h"
#include "rules/fields_class.h"

#define REQ  SAKER_FF_ARG_REQUIRED
#define NZ   SAKER_FF_NONZERO
#define T(x) SAKER_FT_##x

/* What an evt.is_open_* row asks of an open's flags. */
enum { OPEN_READ, OPEN_WRITE, OPEN_EXEC };

static bool lifecycle(const struct saker_event *ev)
{
	return ev->hdr.type == SAKER_EVT_PROC_EXIT || ev->hdr.type == SAKER_EVT_PROC_FORK;
}

static int evt_type(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	return saker_fval_cstr(v, c->slot >= 0 ? saker_fields_slot_name((unsigned)c->slot) : NULL);
}

static int evt_res(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	int64_t ret = c->ev->hdr.ret;
	const char *s;

	(void)fi;
	if (lifecycle(c->ev))
		return 0;
	if (ret >= 0)
		return saker_fval_str(v, "SUCCESS", 7);
	s = -ret < 4096 ? strerrorname_np((int)-ret) : NULL;
	return s ? saker_fval_cstr(v, s) : saker_fctx_printf(c, v, "%" PRId64, ret);
}

static int evt_rawres(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (lifecycle(c->ev))
		return 0;
	v->i = c->ev->hdr.ret;
	return 1;
}

static int evt_num(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->u = c->evtnum;
	return 1;
}

/* evt.time (sel 0) and evt.datetime (sel 1), in UTC. */
static int evt_time(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	uint64_t ns = c->ev->hdr.ts_ns + c->boot_offset_ns;
	time_t sec = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!gmtime_r(&sec, &tm))
		return 0;
	if (fi->sel)
		return saker_fctx_printf(c, v, "%04d-%02d-%02d %02d:%02d:%02d.%09u",
					 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
					 tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000ull));
	return saker_fctx_printf(c, v, "%02d:%02d:%02d.%09u", tm.tm_hour, tm.tm_min, tm.tm_sec,
				 (unsigned)(ns % 1000000000ull));
}

static int evt_rawtime(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->u = c->ev->hdr.ts_ns + c->boot_offset_ns;
	return 1;
}

static int evt_dir(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)c;
	(void)fi;
	return saker_fval_str(v, "<", 1);
}

static int evt_cpu(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->u = c->ev->hdr.cpu;
	return 1;
}

static int evt_hostname(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	return saker_fval_cstr(v, c->hostname);
}

static int evt_source(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)c;
	(void)fi;
	return saker_fval_str(v, "syscall", 7);
}

/* An open's flags; creat() opens O_CREAT | O_WRONLY | O_TRUNC. */
static bool open_flags(struct saker_fctx *c, uint64_t *flags)
{
	unsigned scf = saker_fields_sc_flags(c->ev);

	if (!(scf & SAKER_SCF_OPEN))
		return false;
	if (scf & SAKER_SCF_CREAT) {
		*flags = O_CREAT | O_WRONLY | O_TRUNC;
		return true;
	}
	return !saker_event_get_u64(c->ev, SAKER_PN_FLAGS, flags);
}

/* False for any event that is not an open; exec access is never seen by saker. */
static int evt_is_open(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	uint64_t u, mode;

	if (fi->sel == OPEN_EXEC || !open_flags(c, &u)) {
		v->u = 0;
		return 1;
	}
	mode = u & O_ACCMODE;
	v->u = mode == O_RDWR || mode == (fi->sel == OPEN_READ ? O_RDONLY : O_WRONLY);
	return 1;
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"evt.type", T(STR), 0, "Event type: the syscall name, or procexit", NULL}, evt_type, 0, 1},
	{{"evt.res", T(STR), 0, "Result: SUCCESS, or the error code name (ENOENT, ...)", NULL}, evt_res, 0, 2},
	{{"evt.rawres", T(S64), 0, "Result as a number (negative errno on failure)", NULL}, evt_rawres, 0, 1},
	{{"evt.num", T(U64), NZ, "Event number (events the rules engine saw, from 1)", NULL}, evt_num, 0, 1},
	{{"evt.time", T(STR), 0, "Event time, HH:MM:SS.nnnnnnnnn (UTC)", NULL}, evt_time, 0, 4},
	{{"evt.rawtime", T(ABSTIME), 0, "Event time, ns since the epoch", NULL}, evt_rawtime, 0, 2},
	{{"evt.datetime", T(STR), 0, "Event time, YYYY-MM-DD HH:MM:SS.nnnnnnnnn (UTC)", NULL}, evt_time, 1, 4},
	{{"evt.dir", T(STR), 0, "Direction: always < (saker sees syscall exits)", NULL}, evt_dir, 0, 1},
	{{"evt.cpu", T(U64), 0, "CPU the event happened on", NULL}, evt_cpu, 0, 1},
	{{"evt.hostname", T(STR), 0, "Host name", NULL}, evt_hostname, 0, 2},
	{{"evt.source", T(STR), 0, "Event source: syscall", NULL}, evt_source, 0, 1},
	{{"evt.is_open_read", T(BOOL), 0, "An open with read access", NULL}, evt_is_open, OPEN_READ, 2},
	{{"evt.is_open_write", T(BOOL), 0, "An open with write access", NULL}, evt_is_open, OPEN_WRITE, 2},
	{{"evt.is_open_exec", T(BOOL), 0, "An open for execution (never, in saker)", NULL}, evt_is_open, OPEN_EXEC, 2},
	{{"evt.arg", T(STR), REQ, "An argument by Falco's name (evt.arg.flags) or position (evt.arg[0]), rendered", NULL}, saker_fields_evt_arg, 0, 3},
	{{"evt.rawarg", T(STR), REQ, "An argument by Falco's name, raw (numbers as numbers)", NULL}, saker_fields_evt_arg, 1, 3},
	{{"evt.args", T(STR), 0, "All arguments, name=value", NULL}, saker_fields_evt_args, 0, 6},
};
/* clang-format on */

const struct saker_field_class saker_fclass_evt = SAKER_FIELD_CLASS("evt", rows);
