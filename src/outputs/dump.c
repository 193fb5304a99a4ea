#include "outputs/dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "lib/clock.h"
#include "lib/sctable.h"
#include "outputs/stdout_line.h"
#include "state/view.h"

void saker_dump_init(struct saker_dump *d, bool json, bool iso8601, int64_t boot_to_real_ns,
		     struct saker_view *view)
{
	memset(d, 0, sizeof(*d));
	d->json = json;
	d->iso8601 = iso8601;
	d->boot_to_real_ns = boot_to_real_ns;
	d->view = view;
	saker_sbuf_init(&d->line);
}

void saker_dump_fini(struct saker_dump *d)
{
	if (d)
		saker_sbuf_free(&d->line);
}

/* ---- pieces ---- */

static void put_time(struct saker_dump *d, uint64_t ts_ns)
{
	struct saker_sbuf *b = &d->line;
	uint64_t real, mag;
	time_t sec;
	unsigned nsec;
	struct tm tm;

	/* ts_ns is whatever the record says: saturate rather than wrap. */
	if (d->boot_to_real_ns >= 0) {
		real = ts_ns + (uint64_t)d->boot_to_real_ns;
		if (real < ts_ns)
			real = UINT64_MAX;
	} else {
		mag = (uint64_t)(-(d->boot_to_real_ns + 1)) + 1;
		real = ts_ns > mag ? ts_ns - mag : 0;
	}
	sec = (time_t)(real / 1000000000);
	nsec = (unsigned)(real % 1000000000);
	/* The calendar part changes once a second: format it then, not per event. */
	if (!d->tcache_valid || sec != d->tcache_sec) {
		memset(&tm, 0, sizeof(tm));
		if (d->json || d->iso8601)
			gmtime_r(&sec, &tm);
		else
			localtime_r(&sec, &tm);
		d->tcache_len =
		    strftime(d->tcache, sizeof(d->tcache),
			     d->json || d->iso8601 ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
		d->tcache_sec = sec;
		d->tcache_valid = true;
	}
	if (d->json)
		saker_sbuf_putc(b, '"');
	saker_sbuf_putn(b, d->tcache, d->tcache_len);
	saker_sbuf_putc(b, '.');
	saker_sbuf_put_dec_fixed(b, nsec, 9);
	if (d->json)
		saker_sbuf_putn(b, "Z\"", 2);
	else if (d->iso8601)
		saker_sbuf_putn(b, "+0000", 5);
}

/* A string value: "..." escaped for the output. */
static void put_str(struct saker_dump *d, const char *s, size_t n)
{
	saker_sbuf_putc(&d->line, '"');
	saker_sbuf_escape(&d->line, s, n, d->json ? SAKER_ESC_JSON : SAKER_ESC_TEXT_QUOTED);
	saker_sbuf_putc(&d->line, '"');
}

static void put_cstr(struct saker_dump *d, const char *s)
{
	put_str(d, s, strlen(s));
}

/*
 * An unquoted text token (the comm): escaped as inside quotes, so a
 * backslash is doubled, and spaces as \x20, so that it stays one token.
 */
static void put_token(struct saker_dump *d, const char *s, size_t n)
{
	struct saker_sbuf *b = &d->line;
	size_t start = b->len;

	saker_sbuf_escape(b, s, n, SAKER_ESC_TEXT_QUOTED);
	for (size_t i = start; !b->oom && i < b->len; i++) {
		if (b->p[i] != ' ')
			continue;
		/* Backslash escaping makes "\x20" unambiguous: a literal one reads "\\x20". */
		saker_sbuf_puts(b, "   ");
		if (b->oom)
			break;
		memmove(b->p + i + 4, b->p + i + 1, b->len - 3 - (i + 1));
		memcpy(b->p + i, "\\x20", 4);
		i += 3;
	}
}

/* Separator and key of the next field: " key=" in text, ",\"key\":" in JSON. */
static void put_key(struct saker_dump *d, bool *first, const char *key, const char *suffix)
{
	struct saker_sbuf *b = &d->line;

	if (d->json) {
		if (*first)
			saker_sbuf_putc(b, '"');
		else
			saker_sbuf_putn(b, ",\"", 2);
		saker_sbuf_puts(b, key);
		saker_sbuf_puts(b, suffix);
		saker_sbuf_putn(b, "\":", 2);
		*first = false;
	} else {
		saker_sbuf_putc(b, ' ');
		saker_sbuf_puts(b, key);
		saker_sbuf_puts(b, suffix);
		saker_sbuf_putc(b, '=');
	}
}

static const char *signal_name(int64_t sig)
{
	return sig > 0 && sig < 65 ? sigabbrev_np((int)sig) : NULL;
}

static const char *family_name(uint64_t af)
{
	switch (af) {
	case AF_UNIX:
		return "AF_UNIX";
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	case AF_PACKET:
		return "AF_PACKET";
	default:
		return NULL;
	}
}

static void put_sockaddr(struct saker_dump *d, const struct saker_param *p)
{
	struct saker_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];
	int err = saker_sockaddr_decode(p, &sa);

	if (err) {
		saker_sbuf_puts(&d->line, d->json ? "null" : "<invalid>");
		return;
	}
	switch (sa.family) {
	case AF_INET:
	case AF_INET6:
		inet_ntop(sa.family, sa.addr, ip, sizeof(ip));
		saker_sbuf_printf(&d->line, "%s%s%s%s:%u", d->json ? "\"" : "",
				  sa.family == AF_INET6 ? "[" : "", ip,
				  sa.family == AF_INET6 ? "]" : "", sa.port);
		if (d->json)
			saker_sbuf_putc(&d->line, '"');
		break;
	case AF_UNIX:
		/* Abstract names start with a NUL; "@name" as ss and Falco show them. */
		saker_sbuf_putc(&d->line, '"');
		if (sa.abstract)
			saker_sbuf_putc(&d->line, '@');
		saker_sbuf_escape(&d->line, sa.path, sa.path_len,
				  d->json ? SAKER_ESC_JSON : SAKER_ESC_TEXT_QUOTED);
		saker_sbuf_putc(&d->line, '"');
		break;
	default:
		saker_sbuf_printf(&d->line, d->json ? "\"<af=%u>\"" : "<af=%u>", sa.family);
		break;
	}
}

static void put_strlist(struct saker_dump *d, const struct saker_param *p)
{
	const char *s = (const char *)p->val;
	size_t i = 0;

	saker_sbuf_putc(&d->line, '[');
	while (i < p->len) {
		size_t n = strnlen(s + i, p->len - i);

		if (i)
			saker_sbuf_putc(&d->line, ',');
		put_str(d, s + i, n);
		i += n + 1;
	}
	saker_sbuf_putc(&d->line, ']');
}

/* " key=..." of an fd annotation: the name the fd table gives the descriptor. */
static void put_fd_name(struct saker_dump *d, const struct saker_event *ev, int64_t fd, bool *first,
			const char *key)
{
	const struct saker_fd *f;
	char name[PATH_MAX + 128];

	if (!d->view || fd < 0 || fd > INT_MAX)
		return;
	f = saker_view_fd(d->view, ev->hdr.tgid, (int)fd);
	if (!f)
		return;
	saker_fd_format_name(f, name, sizeof(name));
	if (d->json) {
		put_key(d, first, key, "_name");
		put_cstr(d, name);
	} else {
		saker_sbuf_putc(&d->line, '(');
		put_cstr(d, name);
		saker_sbuf_putc(&d->line, ')');
	}
}

static bool is_fd_name(unsigned name)
{
	return name == SAKER_PN_FD || name == SAKER_PN_DIRFD || name == SAKER_PN_NEWDIRFD;
}

static void put_int(struct saker_dump *d, const struct saker_event *ev, const struct saker_param *p,
		    bool *first, const char *key)
{
	uint64_t u;
	int64_t s;
	const char *sym = NULL;

	saker_param_u64(p, &u);
	s = (int64_t)u;
	switch (p->name) {
	case SAKER_PN_FLAGS:
	case SAKER_PN_TYPE:
	case SAKER_PN_ARG0:
	case SAKER_PN_ARG1:
	case SAKER_PN_ARG2:
		/* Bit sets and raw registers read best in hex; JSON has no hex numbers. */
		if (d->json) {
			saker_sbuf_put_u64(&d->line, u);
		} else {
			saker_sbuf_putn(&d->line, "0x", 2);
			saker_sbuf_put_hex(&d->line, u);
		}
		return;
	case SAKER_PN_MODE:
		if (d->json || !u) {
			saker_sbuf_put_u64(&d->line, u);
		} else {
			saker_sbuf_putc(&d->line, '0');
			saker_sbuf_put_oct(&d->line, u);
		}
		return;
	default:
		break;
	}
	/* As /proc and the process table encode it (Falco's proc.tty), not the kernel's dev_t. */
	if (p->name == SAKER_PN_TTY)
		saker_sbuf_put_u64(&d->line, saker_dev_to_tty_nr(u));
	else if (p->kind == SAKER_PK_S64)
		saker_sbuf_put_s64(&d->line, s);
	else
		saker_sbuf_put_u64(&d->line, u);
	if (d->json) {
		if (is_fd_name(p->name) && s != AT_FDCWD)
			put_fd_name(d, ev, s, first, key);
		return;
	}
	if (is_fd_name(p->name) && s == AT_FDCWD)
		sym = "AT_FDCWD";
	else if (p->name == SAKER_PN_SIG)
		sym = signal_name(s);
	else if (p->name == SAKER_PN_DOMAIN)
		sym = family_name(u);
	if (sym) {
		saker_sbuf_puts(&d->line, p->name == SAKER_PN_SIG ? "(SIG" : "(");
		saker_sbuf_puts(&d->line, sym);
		saker_sbuf_putc(&d->line, ')');
	} else if (is_fd_name(p->name))
		put_fd_name(d, ev, s, first, key);
}

/*
 * The absolute form of a relative PATH or NEWPATH, against its directory fd
 * or the cwd. A symlink's PATH is the link's content, not a file to resolve.
 */
static void put_resolved(struct saker_dump *d, const struct saker_event *ev,
			 const struct saker_param *p, bool *first, const char *key)
{
	char rel[PATH_MAX], abs[PATH_MAX];
	struct saker_param kp;
	unsigned dirname = p->name == SAKER_PN_PATH ? SAKER_PN_DIRFD : SAKER_PN_NEWDIRFD;
	size_t n = strnlen((const char *)p->val, p->len);
	int64_t dirfd;

	if (!d->view || n == 0 || p->val[0] == '/' || n >= sizeof(rel))
		return;
	/* The kernel's own answer (path_abs, from the opened file) is printed as it is. */
	if (p->name == SAKER_PN_PATH && !saker_event_get(ev, SAKER_PN_PATH_ABS, &kp))
		return;
	if (p->name == SAKER_PN_PATH && ev->hdr.type == SAKER_EVT_SYSCALL &&
	    (saker_sctable_flags(ev->hdr.syscall_id) & SAKER_SCF_PATH_IS_LINK))
		return;
	if (saker_event_get_s64(ev, dirname, &dirfd))
		dirfd = AT_FDCWD;
	memcpy(rel, p->val, n);
	rel[n] = '\0';
	if (saker_view_resolve(d->view, ev->hdr.tid, ev->hdr.tgid, dirfd, rel, abs, sizeof(abs)))
		return;
	put_key(d, first, key, "_abs");
	put_cstr(d, abs);
}

static void put_param(struct saker_dump *d, const struct saker_event *ev,
		      const struct saker_param *p, bool *first)
{
	const char *name = saker_param_name_str(p->name);
	char unknown[8];

	if (!name) {
		snprintf(unknown, sizeof(unknown), "p%u", p->name);
		name = unknown;
	}
	put_key(d, first, name, "");
	if (p->flags & SAKER_PF_UNREADABLE) {
		saker_sbuf_puts(&d->line, d->json ? "null" : "<unreadable>");
		return;
	}
	switch (p->kind) {
	case SAKER_PK_U64:
	case SAKER_PK_S64:
		put_int(d, ev, p, first, name);
		break;
	case SAKER_PK_STR:
		put_str(d, (const char *)p->val, strnlen((const char *)p->val, p->len));
		break;
	case SAKER_PK_STRLIST:
		put_strlist(d, p);
		break;
	case SAKER_PK_SOCKADDR:
		put_sockaddr(d, p);
		break;
	default:
		saker_sbuf_puts(&d->line, d->json ? "null" : "<?>");
		break;
	}
	if (!d->json && (p->flags & SAKER_PF_TRUNCATED))
		saker_sbuf_puts(&d->line, "...");
	if (p->kind == SAKER_PK_STR && (p->name == SAKER_PN_PATH || p->name == SAKER_PN_NEWPATH))
		put_resolved(d, ev, p, first, name);
}

/* ,"key":["name",...] for the parameters carrying flag; nothing when none does. */
static void put_flagged(struct saker_dump *d, const struct saker_event *ev, uint8_t flag,
			const char *key)
{
	struct saker_param p;
	size_t pos = 0;
	bool any = false;

	while (saker_event_next(ev, &pos, &p)) {
		const char *name = saker_param_name_str(p.name);

		if (!(p.flags & flag) || !name)
			continue;
		if (!any) {
			saker_sbuf_putn(&d->line, ",\"", 2);
			saker_sbuf_puts(&d->line, key);
			saker_sbuf_putn(&d->line, "\":[", 3);
		}
		saker_sbuf_puts(&d->line, any ? ",\"" : "\"");
		saker_sbuf_puts(&d->line, name);
		saker_sbuf_putc(&d->line, '"');
		any = true;
	}
	if (any)
		saker_sbuf_putc(&d->line, ']');
}

static void put_event_name(struct saker_dump *d, const struct saker_event *ev)
{
	const char *n = NULL;

	if (ev->hdr.type == SAKER_EVT_SYSCALL)
		n = saker_syscall_name(ev->hdr.syscall_id);
	else
		n = saker_evt_type_str(ev->hdr.type);
	if (d->json)
		saker_sbuf_putc(&d->line, '"');
	if (n) {
		saker_sbuf_puts(&d->line, n);
	} else {
		saker_sbuf_putn(&d->line, "syscall_", 8);
		saker_sbuf_put_u64(&d->line, ev->hdr.syscall_id);
	}
	if (d->json)
		saker_sbuf_putc(&d->line, '"');
}

static void put_ret(struct saker_dump *d, int64_t ret)
{
	const char *e = ret < 0 && ret >= -4095 ? strerrorname_np((int)-ret) : NULL;

	saker_sbuf_put_s64(&d->line, ret);
	if (e && !d->json) {
		saker_sbuf_putc(&d->line, '(');
		saker_sbuf_puts(&d->line, e);
		saker_sbuf_putc(&d->line, ')');
	}
}

static void put_proc_json(struct saker_dump *d, const struct saker_proc *p)
{
	struct saker_param args = {
	    .kind = SAKER_PK_STRLIST,
	    .len = (uint16_t)(p->args_len > UINT16_MAX ? UINT16_MAX : p->args_len),
	    .val = (const uint8_t *)p->args,
	};

	struct saker_sbuf *b = &d->line;

	saker_sbuf_puts(b, ",\"proc\":{\"ppid\":");
	saker_sbuf_put_u64(b, p->ppid);
	saker_sbuf_puts(b, ",\"args\":");
	put_strlist(d, &args);
	saker_sbuf_puts(b, ",\"cwd\":");
	put_cstr(d, p->cwd);
	saker_sbuf_puts(b, ",\"uid\":");
	saker_sbuf_put_u64(b, p->uid);
	saker_sbuf_puts(b, ",\"gid\":");
	saker_sbuf_put_u64(b, p->gid);
	saker_sbuf_puts(b, ",\"euid\":");
	saker_sbuf_put_u64(b, p->euid);
	saker_sbuf_puts(b, ",\"egid\":");
	saker_sbuf_put_u64(b, p->egid);
	saker_sbuf_puts(b, ",\"loginuid\":");
	saker_sbuf_put_u64(b, p->loginuid);
	saker_sbuf_puts(b, ",\"tty\":");
	saker_sbuf_put_u64(b, p->tty);
	saker_sbuf_puts(b, ",\"container_id\":");
	put_cstr(d, p->container_id);
	saker_sbuf_puts(b, ",\"start_ts\":");
	saker_sbuf_put_u64(b, p->start_ns);
	saker_sbuf_putc(b, '}');
}

/* What names the event's process: the record's own fields first, then the view's. */
struct dump_who {
	const struct saker_proc *proc;
	char comm[SAKER_PROC_COMM_LEN], exe[PATH_MAX];
	const char *commp, *exep;
};

static void dump_who(struct saker_dump *d, const struct saker_event *ev, struct dump_who *w)
{
	int err;

	w->proc = NULL;
	w->commp = w->exep = NULL;
	/* A fork record names the child, which the table learns from this very record. */
	if (d->view && ev->hdr.type != SAKER_EVT_PROC_FORK)
		w->proc = saker_view_proc_at(d->view, ev->hdr.tid, ev->hdr.ts_ns);
	err = saker_event_get_str(ev, SAKER_PN_COMM, w->comm, sizeof(w->comm));
	if (!err || err == -ENAMETOOLONG)
		w->commp = w->comm;
	else if (w->proc)
		w->commp = w->proc->comm;
	if (w->commp && !w->commp[0])
		w->commp = NULL; /* an empty comm is no value: <NA> in text, null in JSON */
	if (ev->hdr.type == SAKER_EVT_PROC_EXEC &&
	    saker_event_get_str(ev, SAKER_PN_EXE, w->exe, sizeof(w->exe)) == 0)
		w->exep = w->exe;
	else if (w->proc && w->proc->exe[0])
		w->exep = w->proc->exe;
}

static void put_cstr_or_null(struct saker_dump *d, const char *s)
{
	if (s)
		put_cstr(d, s);
	else
		saker_sbuf_puts(&d->line, "null");
}

/* Everything before the parameters, JSON: the object opened up to "params":{. */
static void put_head_json(struct saker_dump *d, const struct saker_event *ev,
			  const struct dump_who *w)
{
	saker_sbuf_puts(&d->line, "{\"time\":");
	put_time(d, ev->hdr.ts_ns);
	saker_sbuf_puts(&d->line, ",\"cpu\":");
	saker_sbuf_put_u64(&d->line, ev->hdr.cpu);
	saker_sbuf_puts(&d->line, ",\"pid\":");
	saker_sbuf_put_u64(&d->line, ev->hdr.tgid);
	saker_sbuf_puts(&d->line, ",\"tid\":");
	saker_sbuf_put_u64(&d->line, ev->hdr.tid);
	saker_sbuf_puts(&d->line, ",\"comm\":");
	put_cstr_or_null(d, w->commp);
	saker_sbuf_puts(&d->line, ",\"exe\":");
	put_cstr_or_null(d, w->exep);
	saker_sbuf_puts(&d->line, ",\"event\":");
	put_event_name(d, ev);
	saker_sbuf_puts(&d->line, ",\"ret\":");
	if (ev->hdr.type == SAKER_EVT_SYSCALL)
		put_ret(d, ev->hdr.ret);
	else
		saker_sbuf_puts(&d->line, "null");
	saker_sbuf_puts(&d->line, ",\"params\":{");
}

/* Everything before the parameters, text. */
static void put_head_text(struct saker_dump *d, const struct saker_event *ev,
			  const struct dump_who *w)
{
	put_time(d, ev->hdr.ts_ns);
	saker_sbuf_putc(&d->line, ' ');
	saker_sbuf_put_u64(&d->line, ev->hdr.cpu);
	saker_sbuf_putc(&d->line, ' ');
	if (w->commp)
		put_token(d, w->commp, strlen(w->commp));
	else
		saker_sbuf_puts(&d->line, "<NA>");
	saker_sbuf_putc(&d->line, '(');
	saker_sbuf_put_u64(&d->line, ev->hdr.tgid);
	saker_sbuf_putn(&d->line, ") ", 2);
	saker_sbuf_put_u64(&d->line, ev->hdr.tid);
	saker_sbuf_putc(&d->line, ' ');
	put_event_name(d, ev);
	if (ev->hdr.type == SAKER_EVT_SYSCALL) {
		saker_sbuf_puts(&d->line, " ret=");
		put_ret(d, ev->hdr.ret);
	}
}

/* Every parameter once; returns the union of their flags. */
static unsigned put_params(struct saker_dump *d, const struct saker_event *ev)
{
	uint8_t seen[256 / 8] = {0};
	struct saker_param p;
	size_t pos = 0;
	bool first = true;
	unsigned flags = 0;

	while (saker_event_next(ev, &pos, &p)) {
		flags |= p.flags;
		/* JSON objects must not repeat a key; the first one is the one lookups see. */
		if (seen[p.name / 8] & (1u << (p.name % 8)))
			continue;
		seen[p.name / 8] |= (uint8_t)(1u << (p.name % 8));
		put_param(d, ev, &p, &first);
	}
	return flags;
}

int saker_dump_format(struct saker_dump *d, const struct saker_event *ev)
{
	struct dump_who w;
	unsigned flags;
	bool degraded;

	if (d->line.oom) {
		saker_sbuf_free(&d->line);
		saker_sbuf_init(&d->line);
	}
	d->line.len = 0;
	if (d->line.p)
		d->line.p[0] = '\0';

	dump_who(d, ev, &w);
	if (d->json)
		put_head_json(d, ev, &w);
	else
		put_head_text(d, ev, &w);
	flags = put_params(d, ev);
	degraded = saker_view_degraded(d->view, ev->hdr.tgid, ev->hdr.ts_ns);
	if (d->json) {
		saker_sbuf_putc(&d->line, '}');
		/* Another pass over the parameters only when one carries the flag. */
		if (flags & SAKER_PF_TRUNCATED)
			put_flagged(d, ev, SAKER_PF_TRUNCATED, "truncated");
		if (flags & SAKER_PF_UNREADABLE)
			put_flagged(d, ev, SAKER_PF_UNREADABLE, "unreadable");
		if (w.proc)
			put_proc_json(d, w.proc);
		if (degraded)
			saker_sbuf_puts(&d->line, ",\"view_degraded\":true");
		saker_sbuf_putc(&d->line, '}');
	} else if (degraded) {
		saker_sbuf_puts(&d->line, " view_degraded=true");
	}
	return d->line.oom ? -ENOMEM : 0;
}

int saker_dump_event(struct saker_dump *d, const struct saker_evt_hdr *e, size_t len, FILE *out)
{
	struct saker_event ev;
	int err = saker_event_parse(&ev, e, len);

	if (err) {
		d->malformed++;
		return err;
	}
	err = saker_dump_format(d, &ev);
	if (err)
		return err;
	saker_sbuf_putc(&d->line, '\n');
	if (d->line.oom)
		return -ENOMEM;
	if (fwrite(d->line.p, 1, d->line.len, out) != d->line.len) {
		d->write_errors++;
		return -EIO;
	}
	d->lines++;
	return 0;
}

void saker_dump_set_format(struct saker_dump *d, bool json, bool iso8601)
{
	d->json = json;
	d->iso8601 = iso8601;
	d->tcache_valid = false;
}

/* ---- the non-blocking sink ---- */

#define SINK_DEFAULT_CAP (8u << 20)
/* Below this many pending bytes a put does not try to write: one write per many lines. */
#define SINK_WRITE_AT (64u << 10)

int saker_dump_sink_open(struct saker_dump_sink *s, int fd, size_t cap)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->saved_flags = -1;
	s->cap = cap ? cap : SINK_DEFAULT_CAP;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return -ENOMEM;
	/* Regular files and ttys are left as they are: a tty is shared with the shell. */
	if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		int fl = fcntl(fd, F_GETFL);

		s->pipe = true;
		if (fl >= 0 && !(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
			s->saved_flags = fl;
	}
	return 0;
}

void saker_dump_sink_close(struct saker_dump_sink *s)
{
	if (!s)
		return;
	/* A stuck reader keeps the fd non-blocking, so no exit-time flush can hang on it. */
	if (s->saved_flags >= 0 && !s->stuck)
		(void)fcntl(s->fd, F_SETFL, s->saved_flags);
	if (s->holds_line)
		saker_stdout_line_unlock();
	s->holds_line = false;
	free(s->buf);
	s->buf = NULL;
	s->cap = s->off = s->len = 0;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t lines = 0;
	const char *end = p + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		lines++;
		p++;
	}
	return lines;
}

/* Counts what is pending as lost and forgets it. */
static void sink_discard(struct saker_dump_sink *s)
{
	s->lines_lost += count_lines(s->buf + s->off, s->len);
	s->off = s->len = 0;
}

static void sink_fail(struct saker_dump_sink *s, int err)
{
	if (!s->err)
		s->err = err;
	sink_discard(s);
}

/* How many pending bytes one write may take: whole lines up to PIPE_BUF on a pipe. */
static size_t sink_chunk(const struct saker_dump_sink *s)
{
	const char *p = s->buf + s->off;
	const char *nl;

	if (!s->pipe || s->len <= PIPE_BUF)
		return s->len;
	nl = memrchr(p, '\n', PIPE_BUF);
	/* A line longer than PIPE_BUF goes alone (the kernel may split it). */
	if (!nl)
		nl = memchr(p, '\n', s->len);
	return nl ? (size_t)(nl - p) + 1 : s->len;
}

/* Writes what is pending, in line-aligned chunks; -EAGAIN when some is left. */
static int sink_write(struct saker_dump_sink *s)
{
	while (s->len) {
		size_t n = sink_chunk(s);
		ssize_t w = write(s->fd, s->buf + s->off, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return -EAGAIN;
			sink_fail(s, -errno);
			return s->err;
		}
		s->lines_written += count_lines(s->buf + s->off, (size_t)w);
		s->line_open = w > 0 && s->buf[s->off + (size_t)w - 1] != '\n';
		s->off += (size_t)w;
		s->len -= (size_t)w;
		if ((size_t)w < n)
			return -EAGAIN;
	}
	s->off = 0;
	return 0;
}

/*
 * On stdout the alert channel writes too: the sink holds the line lock from a
 * chunk's first byte until it has written up to a newline, across calls when
 * a full pipe cut a line, and never waits for it (lock_busy: try again later).
 */
int saker_dump_sink_flush(struct saker_dump_sink *s)
{
	bool shared = s->fd == STDOUT_FILENO;
	int err;

	if (s->err)
		return s->err;
	if (!s->len)
		return 0;
	if (shared && !s->holds_line) {
		s->lock_busy = !saker_stdout_line_trylock();
		if (s->lock_busy)
			return -EAGAIN;
		s->holds_line = true;
	}
	err = sink_write(s);
	if (s->holds_line && (s->err || !s->line_open)) {
		saker_stdout_line_unlock();
		s->holds_line = false;
	}
	return err;
}

static void sink_lost(struct saker_dump_sink *s, bool critical)
{
	s->lines_lost++;
	if (critical)
		s->lines_lost_critical++;
}

/* Free bytes a line of this class may use: bulk lines leave the reserve to critical ones. */
static size_t sink_room(const struct saker_dump_sink *s, bool critical)
{
	size_t free_b = s->cap - s->off - s->len, reserve = SAKER_DUMP_SINK_RESERVE(s->cap);

	if (critical)
		return free_b;
	return free_b > reserve ? free_b - reserve : 0;
}

int saker_dump_sink_put(struct saker_dump_sink *s, const char *line, size_t len, bool critical)
{
	s->lines_put++;
	if (s->err) {
		sink_lost(s, critical);
		return s->err;
	}
	if (s->len >= SINK_WRITE_AT || len > sink_room(s, critical)) {
		int err = saker_dump_sink_flush(s);

		if (err && err != -EAGAIN) {
			sink_lost(s, critical);
			return err;
		}
	}
	if (len > sink_room(s, critical) && s->off) {
		memmove(s->buf, s->buf + s->off, s->len);
		s->off = 0;
	}
	if (len > sink_room(s, critical)) {
		sink_lost(s, critical);
		return -ENOBUFS;
	}
	memcpy(s->buf + s->off + s->len, line, len);
	s->len += len;
	return 0;
}

bool saker_dump_sink_full(const struct saker_dump_sink *s, bool critical)
{
	size_t free_b = s->cap - s->len, reserve = critical ? 0 : SAKER_DUMP_SINK_RESERVE(s->cap);

	/* No write here: a stalled fd would cost a failing syscall per event. */
	return s->err || free_b < SAKER_DUMP_SINK_SLACK + reserve;
}

static uint64_t mono_ms(void)
{
	return saker_clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int saker_dump_sink_finish(struct saker_dump_sink *s, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int err;

	for (;;) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
		uint64_t now;

		err = saker_dump_sink_flush(s);
		if (err != -EAGAIN)
			break;
		now = mono_ms();
		if (now >= deadline)
			break;
		/* The alert channel is inside a line: the pipe may well be writable. */
		(void)poll(&pfd, s->lock_busy ? 0 : 1, (int)(s->lock_busy ? 1 : deadline - now));
	}
	if (s->len) {
		s->stuck = true;
		sink_discard(s);
	}
	return err == -EAGAIN ? 0 : err;
}
