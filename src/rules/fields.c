#include "rules/fields.h"
#include "rules/fields_class.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/unistd_64.h>

#include "saker_syscalls.h"
#include "capture/syscalls.h"
#include "event/event.h"
#include "lib/clock.h"
#include "state/view.h"

/* ---- the registry ---------------------------------------------------- */

/* Every class, in --list order. */
static const struct saker_field_class *const classes[] = {&saker_fclass_evt, &saker_fclass_proc,
							  &saker_fclass_user, &saker_fclass_fd,
							  &saker_fclass_container};

#define NCLASSES_F (sizeof(classes) / sizeof(classes[0]))

size_t saker_fields_count(void)
{
	size_t n = 0;

	for (size_t k = 0; k < NCLASSES_F; k++)
		n += classes[k]->nrows;
	return n;
}

static const struct saker_field_row *row_at(size_t i)
{
	for (size_t k = 0; k < NCLASSES_F; k++) {
		if (i < classes[k]->nrows)
			return &classes[k]->rows[i];
		i -= classes[k]->nrows;
	}
	return NULL;
}

const struct saker_field_info *saker_fields_at(size_t i)
{
	const struct saker_field_row *r = row_at(i);

	return r ? &r->info : NULL;
}

const char *saker_ftype_name(enum saker_ftype t)
{
	static const char *const n[] = {"string", "int64", "uint64",  "bool",
					"ipaddr", "ipnet", "reltime", "abstime"};

	return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

/* ---- instances ------------------------------------------------------- */

static const struct saker_field_row *find_def(const char *name)
{
	for (size_t k = 0; k < NCLASSES_F; k++)
		for (size_t i = 0; i < classes[k]->nrows; i++)
			if (!strcmp(classes[k]->rows[i].info.name, name))
				return &classes[k]->rows[i];
	return NULL;
}

/*
 * Names of the fields Falco's libsinsp has (falcosecurity/libs 0.15 to
 * master) that saker does not, sorted: a rule naming one is written for
 * Falco and is skipped as "not supported by saker"; any other name in these
 * classes is a typo and fails the load.
 */
static const char *const falco_only[] = {"evt.abspath",
					 "evt.asynctype",
					 "evt.buffer",
					 "evt.buflen",
					 "evt.buflen.file",
					 "evt.buflen.file.in",
					 "evt.buflen.file.out",
					 "evt.buflen.in",
					 "evt.buflen.net",
					 "evt.buflen.net.in",
					 "evt.buflen.net.out",
					 "evt.buflen.out",
					 "evt.category",
					 "evt.count",
					 "evt.count.error",
					 "evt.count.error.file",
					 "evt.count.error.memory",
					 "evt.count.error.net",
					 "evt.count.error.other",
					 "evt.count.exit",
					 "evt.count.procinfo",
					 "evt.count.threadinfo",
					 "evt.datetime.s",
					 "evt.deltatime",
					 "evt.deltatime.ns",
					 "evt.deltatime.s",
					 "evt.failed",
					 "evt.info",
					 "evt.infra.docker.container.id",
					 "evt.infra.docker.container.image",
					 "evt.infra.docker.container.name",
					 "evt.infra.docker.name",
					 "evt.io_dir",
					 "evt.is_async",
					 "evt.is_io",
					 "evt.is_io_read",
					 "evt.is_io_write",
					 "evt.is_open_create",
					 "evt.is_syslog",
					 "evt.is_wait",
					 "evt.latency",
					 "evt.latency.human",
					 "evt.latency.ns",
					 "evt.latency.quantized",
					 "evt.latency.s",
					 "evt.outputtime",
					 "evt.plugininfo",
					 "evt.pluginname",
					 "evt.rawtime.ns",
					 "evt.rawtime.s",
					 "evt.reltime",
					 "evt.reltime.ns",
					 "evt.reltime.s",
					 "evt.time.iso8601",
					 "evt.time.s",
					 "evt.type.is",
					 "evt.wait_latency",
					 "evtin.span.arg",
					 "evtin.span.args",
					 "evtin.span.id",
					 "evtin.span.m.arg",
					 "evtin.span.m.args",
					 "evtin.span.m.id",
					 "evtin.span.m.nargs",
					 "evtin.span.m.ntags",
					 "evtin.span.m.tag",
					 "evtin.span.m.tags",
					 "evtin.span.nargs",
					 "evtin.span.ntags",
					 "evtin.span.p.arg",
					 "evtin.span.p.args",
					 "evtin.span.p.id",
					 "evtin.span.p.nargs",
					 "evtin.span.p.ntags",
					 "evtin.span.p.tag",
					 "evtin.span.p.tags",
					 "evtin.span.s.arg",
					 "evtin.span.s.args",
					 "evtin.span.s.id",
					 "evtin.span.s.nargs",
					 "evtin.span.s.ntags",
					 "evtin.span.s.tag",
					 "evtin.span.s.tags",
					 "evtin.span.tag",
					 "evtin.span.tags",
					 "fd.containerdirectory",
					 "fd.containername",
					 "fd.cproto",
					 "fd.dev.major",
					 "fd.dev.minor",
					 "fd.is_lower_layer",
					 "fd.is_upper_layer",
					 "fd.lproto",
					 "fd.proto",
					 "fd.rproto",
					 "fd.sproto",
					 "fd.types",
					 "fd.uid",
					 "fdlist.cips",
					 "fdlist.cports",
					 "fdlist.names",
					 "fdlist.nums",
					 "fdlist.sips",
					 "fdlist.sports",
					 "fs.path.name",
					 "fs.path.nameraw",
					 "fs.path.source",
					 "fs.path.sourceraw",
					 "fs.path.target",
					 "fs.path.targetraw",
					 "marathon.app.id",
					 "marathon.app.label",
					 "marathon.app.labels",
					 "marathon.app.name",
					 "marathon.group.id",
					 "marathon.group.name",
					 "mesos.framework.id",
					 "mesos.framework.name",
					 "mesos.task.id",
					 "mesos.task.label",
					 "mesos.task.labels",
					 "mesos.task.name",
					 "proc.aargs",
					 "proc.aenv",
					 "proc.cmdlenargs",
					 "proc.cmdnargs",
					 "proc.env",
					 "proc.exeline",
					 "proc.fdlimit",
					 "proc.fdopencount",
					 "proc.fdusage",
					 "proc.is_container_healthcheck",
					 "proc.is_container_liveness_probe",
					 "proc.is_container_readiness_probe",
					 "proc.is_pgid_leader",
					 "proc.nchilds",
					 "proc.nthreads",
					 "proc.pgid",
					 "proc.pgid.exe",
					 "proc.pgid.exepath",
					 "proc.pgid.name",
					 "proc.pid.ts",
					 "proc.pidns_init_start_ts",
					 "proc.ppid.duration",
					 "proc.ppid.ts",
					 "proc.pvpid",
					 "proc.sid.exe",
					 "proc.sid.exepath",
					 "proc.stderr.name",
					 "proc.stderr.type",
					 "proc.stdin.name",
					 "proc.stdin.type",
					 "proc.stdout.name",
					 "proc.stdout.type",
					 "proc.vmrss",
					 "proc.vmsize",
					 "proc.vmswap",
					 "proc.vpgid.exepath",
					 "proc.vpid",
					 "span.arg",
					 "span.args",
					 "span.count",
					 "span.duration",
					 "span.duration.human",
					 "span.duration.quantized",
					 "span.enterarg",
					 "span.enterargs",
					 "span.id",
					 "span.nargs",
					 "span.ntags",
					 "span.rawparenttime",
					 "span.rawtime",
					 "span.tag",
					 "span.tags",
					 "span.time",
					 "syscall.type",
					 "syslog.facility",
					 "syslog.facility.str",
					 "syslog.message",
					 "syslog.severity",
					 "syslog.severity.str",
					 "thread.cgroup",
					 "thread.cgroups",
					 "thread.cpu",
					 "thread.cpu.system",
					 "thread.cpu.user",
					 "thread.exectime",
					 "thread.ismain",
					 "thread.nametid",
					 "thread.pfmajor",
					 "thread.pfminor",
					 "thread.totexectime",
					 "thread.vmrss",
					 "thread.vmrss.b",
					 "thread.vmsize",
					 "thread.vmsize.b",
					 "thread.vtid"};

static int cmp_name(const void *k, const void *e)
{
	return strcmp(k, *(const char *const *)e);
}

bool saker_fields_falco_has(const char *field)
{
	return bsearch(field, falco_only, sizeof(falco_only) / sizeof(falco_only[0]),
		       sizeof(falco_only[0]), cmp_name) != NULL;
}

static const char *plugin_of(const char *field)
{
	static const char *const builtin[] = {"evt.",	"proc.",   "thread.",	"user.",   "group.",
					      "fd.",	"fdlist.", "fs.",	"syslog.", "span.",
					      "evtin.", "mesos.",  "marathon.", "syscall."};

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strncmp(field, builtin[i], strlen(builtin[i])))
			return NULL;
	if (!strncmp(field, "container.", 10) || !strncmp(field, "k8s.", 4))
		return "container";
	return "";
}

/* A name no class has: Falco's (-ENOENT), a plugin's (-ENOENT) or a typo (-ESRCH). */
static int not_a_field(const char *field, char *why, size_t whylen)
{
	const char *plugin = plugin_of(field);

	if (!plugin && saker_fields_falco_has(field)) {
		snprintf(why, whylen, "field '%s' is not supported by saker (Falco has it)", field);
	} else if (!plugin) {
		snprintf(why, whylen, "unknown field '%s'", field);
		return -ESRCH;
	} else if (*plugin)
		snprintf(why, whylen,
			 "field '%s' comes from Falco's %s plugin (saker has no plugins)", field,
			 plugin);
	else
		snprintf(why, whylen, "field '%s' comes from a plugin (saker has no plugins)",
			 field);
	return -ENOENT;
}

int saker_finst_init(struct saker_finst *fi, const char *field, const char *arg, char *why,
		     size_t whylen)
{
	const struct saker_field_row *d = find_def(field);
	char base[128];
	int err;

	saker_fields_tables_init();
	memset(fi, 0, sizeof(*fi));
	fi->idx = -1;
	if (!d && !strncmp(field, "evt.arg.", 8) && !arg) {
		/* evt.arg.flags is evt.arg[flags] */
		d = find_def("evt.arg");
		arg = field + 8;
	} else if (!d && !strncmp(field, "evt.rawarg.", 11) && !arg) {
		d = find_def("evt.rawarg");
		arg = field + 11;
	}
	if (!d)
		return not_a_field(field, why, whylen);
	fi->row = d;
	fi->info = &d->info;
	fi->sel = d->sel;
	fi->type = d->info.type;
	if (arg && !(d->info.flags & (SAKER_FF_ARG_INDEX | SAKER_FF_ARG_REQUIRED))) {
		snprintf(why, whylen, "field '%s' takes no argument", field);
		return -EINVAL;
	}
	if (!arg && d->info.flags & SAKER_FF_ARG_REQUIRED) {
		snprintf(why, whylen, "field '%s' needs an argument", field);
		return -EINVAL;
	}
	if (arg) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(arg, &end, 10);
		if (*arg && !*end && !errno && v >= 0 && v <= 1000)
			fi->idx = v;
		else if (d->info.flags & SAKER_FF_ARG_INDEX &&
			 !(d->info.flags & SAKER_FF_ARG_REQUIRED)) {
			snprintf(why, whylen, "field '%s' needs a number in [], not '%s'", field,
				 arg);
			return -EINVAL;
		}
		fi->arg = strdup(arg);
		if (!fi->arg)
			return -ENOMEM;
	}
	if (arg)
		snprintf(base, sizeof(base), "%s[%s]", field, arg);
	err = d->extract == saker_fields_evt_arg ? saker_fields_evt_arg_init(fi, why, whylen) : 0;
	if (err) {
		saker_finst_clear(fi);
		return err;
	}
	if (!fi->name)
		fi->name = strdup(arg ? base : field);
	if (!fi->name) {
		saker_finst_clear(fi);
		return -ENOMEM;
	}
	return 0;
}

unsigned saker_finst_cost(const struct saker_finst *fi)
{
	if (fi->row->cost != SAKER_FCOST_WALK)
		return fi->row->cost;
	/* [n] walks n parents; without an index, every ancestor */
	return fi->idx >= 0 ? 2 + 2 * (unsigned)fi->idx : 40;
}

void saker_finst_clear(struct saker_finst *fi)
{
	if (!fi)
		return;
	free(fi->arg);
	free(fi->name);
	free(fi->argmap);
	fi->arg = fi->name = NULL;
	fi->argmap = NULL;
}

/* ---- context ---------------------------------------------------------- */

int saker_fctx_init(struct saker_fctx *c, size_t ninst)
{
	saker_fields_tables_init();
	memset(c, 0, offsetof(struct saker_fctx, arena));
	c->cache = calloc(ninst ? ninst : 1, sizeof(*c->cache));
	if (!c->cache)
		return -ENOMEM;
	c->ncache = ninst;
	c->gen = 1;
	c->boot_offset_ns = (uint64_t)saker_clock_boot_offset_ns();
	if (gethostname(c->hostname, sizeof(c->hostname) - 1))
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	return 0;
}

void saker_fctx_destroy(struct saker_fctx *c)
{
	if (!c)
		return;
	free(c->cache);
	saker_fctx_names_free(c->names);
	c->cache = NULL;
	c->names = NULL;
}

void saker_fctx_begin(struct saker_fctx *c, const struct saker_event *ev, struct saker_view *view)
{
	c->ev = ev;
	c->view = view;
	c->slot = saker_fields_event_slot(ev);
	c->gen++;
	c->evtnum++;
	c->proc_done = c->fd_done = c->anc_done = false;
	c->proc = NULL;
	c->fd = NULL;
	c->nanc = 0;
	c->used = 0;
}

char *saker_fctx_alloc(struct saker_fctx *c, size_t n)
{
	char *p;

	if (n > sizeof(c->arena) - c->used)
		return NULL;
	p = c->arena + c->used;
	c->used += n;
	return p;
}

/* ---- value helpers ----------------------------------------------------- */

char *saker_fctx_tail(struct saker_fctx *c, size_t *room)
{
	*room = sizeof(c->arena) - c->used;
	return c->arena + c->used;
}

int saker_fctx_keep_str(struct saker_fctx *c, struct saker_fval *v, size_t n)
{
	const char *s = c->arena + c->used;

	c->used += n + 1;
	return saker_fval_str(v, s, n);
}

/* A printf into the arena as a string value; 0 (missing) when it does not fit. */
int saker_fctx_printf(struct saker_fctx *c, struct saker_fval *v, const char *fmt, ...)
{
	size_t room;
	char *out = saker_fctx_tail(c, &room);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return 0;
	return saker_fctx_keep_str(c, v, (size_t)n);
}

const struct saker_proc *saker_fctx_proc(struct saker_fctx *c)
{
	if (!c->proc_done) {
		c->proc_done = true;
		c->proc =
		    c->view ? saker_view_proc_at(c->view, c->ev->hdr.tid, c->ev->hdr.ts_ns) : NULL;
	}
	return c->proc;
}

/* Ancestors up to depth (anc[0] = the process); how many are known. */
unsigned saker_fctx_ancestors(struct saker_fctx *c, unsigned depth)
{
	if (depth > SAKER_FIELD_MAX_VALUES)
		depth = SAKER_FIELD_MAX_VALUES;
	if (!c->anc_done) {
		c->anc_done = true;
		c->nanc = 0;
		if (saker_fctx_proc(c))
			c->anc[c->nanc++] = c->proc;
	}
	while (c->nanc > 0 && c->nanc <= depth) {
		const struct saker_proc *last = c->anc[c->nanc - 1], *p;
		uint32_t ppid = last->ppid;

		/* Beyond pid 1 (or a lost parent) there is nothing; a loop ends the walk. */
		if (ppid == 0 || ppid == last->pid || !c->view)
			break;
		p = saker_view_proc_at(c->view, ppid, c->ev->hdr.ts_ns);
		if (!p)
			break;
		for (unsigned i = 0; i < c->nanc; i++)
			if (c->anc[i]->pid == p->pid)
				return c->nanc;
		c->anc[c->nanc++] = p;
	}
	return c->nanc;
}

int saker_fields_extract(struct saker_fctx *c, const struct saker_finst *fi,
			 const struct saker_fval **out)
{
	struct saker_fcache *e = &c->cache[fi->id];

	if (e->gen == c->gen) {
		*out = e->vals;
		return e->n;
	}
	e->gen = c->gen;
	e->vals = &e->v1;
	if (fi->info->flags & SAKER_FF_NEVER || !fi->row->extract) {
		e->n = 0;
	} else if (fi->info->flags & SAKER_FF_MULTI) {
		struct saker_fval tmp[SAKER_FIELD_MAX_VALUES];
		int n = fi->row->extract(c, fi, tmp);
		struct saker_fval *keep = n > 1 ? (struct saker_fval *)(void *)saker_fctx_alloc(
						      c, (size_t)n * sizeof(*keep) + 8)
						: NULL;

		if (n > 1 && keep) {
			/* the arena is byte-aligned: align the array */
			keep = (struct saker_fval *)(void *)(((uintptr_t)keep + 7) & ~(uintptr_t)7);
			memcpy(keep, tmp, (size_t)n * sizeof(*keep));
			e->vals = keep;
		} else if (n >= 1) {
			e->v1 = tmp[0];
			n = 1;
		}
		e->n = n;
	} else {
		e->n = fi->row->extract(c, fi, &e->v1);
	}
	*out = e->vals;
	return e->n;
}

void saker_fval_format(enum saker_ftype t, const struct saker_fval *v, char *buf, size_t size)
{
	if (!size)
		return;
	switch (t) {
	case SAKER_FT_STR: {
		size_t n = v->s.n < size - 1 ? v->s.n : size - 1;

		memcpy(buf, v->s.p, n);
		buf[n] = '\0';
		break;
	}
	case SAKER_FT_S64:
		snprintf(buf, size, "%" PRId64, v->i);
		break;
	case SAKER_FT_BOOL:
		snprintf(buf, size, "%s", v->u ? "true" : "false");
		break;
	case SAKER_FT_IPADDR:
	case SAKER_FT_IPNET:
		if (!inet_ntop(v->ip.v6 ? AF_INET6 : AF_INET, v->ip.a, buf, (socklen_t)size))
			buf[0] = '\0';
		break;
	default:
		snprintf(buf, size, "%" PRIu64, v->u);
		break;
	}
}
