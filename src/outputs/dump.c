#include "outputs/dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "event/event.h"
#include "lib/sctable.h"
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

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t saker_dump_boot_offset(void)
{
	/* The realtime read sits between two boottime reads: their mean is its instant. */
	uint64_t b1 = clock_ns(CLOCK_BOOTTIME), r = clock_ns(CLOCK_REALTIME);
	uint64_t b2 = clock_ns(CLOCK_BOOTTIME);

	return (int64_t)(r - (b1 + (b2 - b1) / 2));
}

/* ---- pieces ---- */

static void put_time(struct saker_dump *d, uint64_t ts_ns)
{
	uint64_t real, mag;
	time_t sec;
	unsigned nsec;
	struct tm tm;
	char buf[64];

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
	memset(&tm, 0, sizeof(tm));
	if (d->json) {
		gmtime_r(&sec, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		saker_sbuf_printf(&d->line, "\"%s.%09uZ\"", buf, nsec);
	} else if (d->iso8601) {
		gmtime_r(&sec, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		saker_sbuf_printf(&d->line, "%s.%09u+0000", buf, nsec);
	} else {
		localtime_r(&sec, &tm);
		strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
		saker_sbuf_printf(&d->line, "%s.%09u", buf, nsec);
	}
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
	if (d->json) {
		saker_sbuf_printf(&d->line, "%s\"%s%s\":", *first ? "" : ",", key, suffix);
		*first = false;
	} else {
		saker_sbuf_printf(&d->line, " %s%s=", key, suffix);
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
		saker_sbuf_printf(&d->line, d->json ? "%" PRIu64 : "0x%" PRIx64, u);
		return;
	case SAKER_PN_MODE:
		saker_sbuf_printf(&d->line, d->json || !u ? "%" PRIu64 : "0%" PRIo64, u);
		return;
	default:
		break;
	}
	/* As /proc and the process table encode it (Falco's proc.tty), not the kernel's dev_t. */
	if (p->name == SAKER_PN_TTY)
		saker_sbuf_printf(&d->line, "%" PRIu32, saker_dev_to_tty_nr(u));
	else if (p->kind == SAKER_PK_S64)
		saker_sbuf_printf(&d->line, "%" PRId64, s);
	else
		saker_sbuf_printf(&d->line, "%" PRIu64, u);
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
	if (sym)
		saker_sbuf_printf(&d->line, "(%s%s)", p->name == SAKER_PN_SIG ? "SIG" : "", sym);
	else if (is_fd_name(p->name))
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
		if (!any)
			saker_sbuf_printf(&d->line, ",\"%s\":[", key);
		saker_sbuf_printf(&d->line, "%s\"%s\"", any ? "," : "", name);
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
	if (n)
		saker_sbuf_printf(&d->line, d->json ? "\"%s\"" : "%s", n);
	else
		saker_sbuf_printf(&d->line, d->json ? "\"syscall_%u\"" : "syscall_%u",
				  ev->hdr.syscall_id);
}

static void put_ret(struct saker_dump *d, int64_t ret)
{
	const char *e = ret < 0 && ret >= -4095 ? strerrorname_np((int)-ret) : NULL;

	saker_sbuf_printf(&d->line, "%" PRId64, ret);
	if (e && !d->json)
		saker_sbuf_printf(&d->line, "(%s)", e);
}

static void put_proc_json(struct saker_dump *d, const struct saker_proc *p)
{
	struct saker_param args = {
	    .kind = SAKER_PK_STRLIST,
	    .len = (uint16_t)(p->args_len > UINT16_MAX ? UINT16_MAX : p->args_len),
	    .val = (const uint8_t *)p->args,
	};

	saker_sbuf_printf(&d->line, ",\"proc\":{\"ppid\":%u,\"args\":", p->ppid);
	put_strlist(d, &args);
	saker_sbuf_puts(&d->line, ",\"cwd\":");
	put_cstr(d, p->cwd);
	saker_sbuf_printf(&d->line,
			  ",\"uid\":%u,\"gid\":%u,\"euid\":%u,\"egid\":%u,\"loginuid\":%u,"
			  "\"tty\":%u,\"container_id\":",
			  p->uid, p->gid, p->euid, p->egid, p->loginuid, p->tty);
	put_cstr(d, p->container_id);
	saker_sbuf_printf(&d->line, ",\"start_ts\":%" PRIu64 "}", p->start_ns);
}

int saker_dump_format(struct saker_dump *d, const struct saker_event *ev)
{
	const struct saker_proc *proc = NULL;
	char comm[SAKER_PROC_COMM_LEN], exe[PATH_MAX];
	const char *commp = NULL, *exep = NULL;
	uint8_t seen[256 / 8] = {0};
	struct saker_param p;
	size_t pos = 0;
	bool first = true;
	int err;

	if (d->line.oom) {
		saker_sbuf_free(&d->line);
		saker_sbuf_init(&d->line);
	}
	d->line.len = 0;
	if (d->line.p)
		d->line.p[0] = '\0';

	/* A fork record names the child, which the table learns from this very record. */
	if (d->view && ev->hdr.type != SAKER_EVT_PROC_FORK)
		proc = saker_view_proc(d->view, ev->hdr.tid);
	err = saker_event_get_str(ev, SAKER_PN_COMM, comm, sizeof(comm));
	if (!err || err == -ENAMETOOLONG)
		commp = comm;
	else if (proc)
		commp = proc->comm;
	if (commp && !commp[0])
		commp = NULL; /* an empty comm is no value: <NA> in text, null in JSON */
	if (ev->hdr.type == SAKER_EVT_PROC_EXEC &&
	    saker_event_get_str(ev, SAKER_PN_EXE, exe, sizeof(exe)) == 0)
		exep = exe;
	else if (proc && proc->exe[0])
		exep = proc->exe;

	if (d->json) {
		saker_sbuf_puts(&d->line, "{\"time\":");
		put_time(d, ev->hdr.ts_ns);
		saker_sbuf_printf(&d->line,
				  ",\"cpu\":%u,\"pid\":%u,\"tid\":%u,\"comm\":", ev->hdr.cpu,
				  ev->hdr.tgid, ev->hdr.tid);
		if (commp)
			put_cstr(d, commp);
		else
			saker_sbuf_puts(&d->line, "null");
		saker_sbuf_puts(&d->line, ",\"exe\":");
		if (exep)
			put_cstr(d, exep);
		else
			saker_sbuf_puts(&d->line, "null");
		saker_sbuf_puts(&d->line, ",\"event\":");
		put_event_name(d, ev);
		saker_sbuf_puts(&d->line, ",\"ret\":");
		if (ev->hdr.type == SAKER_EVT_SYSCALL)
			put_ret(d, ev->hdr.ret);
		else
			saker_sbuf_puts(&d->line, "null");
		saker_sbuf_puts(&d->line, ",\"params\":{");
	} else {
		put_time(d, ev->hdr.ts_ns);
		saker_sbuf_printf(&d->line, " %u ", ev->hdr.cpu);
		if (commp)
			put_token(d, commp, strlen(commp));
		else
			saker_sbuf_puts(&d->line, "<NA>");
		saker_sbuf_printf(&d->line, "(%u) %u ", ev->hdr.tgid, ev->hdr.tid);
		put_event_name(d, ev);
		if (ev->hdr.type == SAKER_EVT_SYSCALL) {
			saker_sbuf_puts(&d->line, " ret=");
			put_ret(d, ev->hdr.ret);
		}
	}
	while (saker_event_next(ev, &pos, &p)) {
		/* JSON objects must not repeat a key; the first one is the one lookups see. */
		if (seen[p.name / 8] & (1u << (p.name % 8)))
			continue;
		seen[p.name / 8] |= (uint8_t)(1u << (p.name % 8));
		put_param(d, ev, &p, &first);
	}
	if (d->json) {
		saker_sbuf_putc(&d->line, '}');
		put_flagged(d, ev, SAKER_PF_TRUNCATED, "truncated");
		put_flagged(d, ev, SAKER_PF_UNREADABLE, "unreadable");
		if (proc)
			put_proc_json(d, proc);
		saker_sbuf_putc(&d->line, '}');
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
