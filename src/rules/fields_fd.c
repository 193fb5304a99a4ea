/*
 * The fd field class: the event's descriptor, from the view's fd table (or,
 * for an open the table does not hold, from the path argument), its type,
 * and a socket's addresses and ports by end.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "event/event.h"
#include "rules/fields_class.h"
#include "state/view.h"

#define NEV  SAKER_FF_NEVER
#define MUL  SAKER_FF_MULTI
#define T(x) SAKER_FT_##x

static const char R_INODE[] = "the probe does not report the executable's inode";
static const char R_DNS[] = "saker does not resolve host names";
static const char R_NAMECHG[] = "saker does not track descriptor name changes";

static bool is_open_sc(const struct saker_event *ev)
{
	return saker_fields_sc_flags(ev) & SAKER_SCF_OPEN;
}

static bool returns_fd(const struct saker_event *ev)
{
	return saker_fields_sc_flags(ev) & SAKER_SCF_RETFD;
}

void saker_fctx_fd(struct saker_fctx *c)
{
	const struct saker_event *ev = c->ev;
	int64_t fd;

	if (c->fd_done)
		return;
	c->fd_done = true;
	c->fd = NULL;
	c->fdnum = INT64_MIN;
	c->fd_from_path = false;
	if (ev->hdr.type != SAKER_EVT_SYSCALL)
		return;
	if (returns_fd(ev)) {
		c->fdnum = ev->hdr.ret >= 0 ? ev->hdr.ret : -1;
		c->fd_from_path = is_open_sc(ev);
	} else if (!saker_event_get_s64(ev, SAKER_PN_FD, &fd)) {
		c->fdnum = fd;
	} else {
		return;
	}
	if (c->fdnum >= 0 && c->fdnum <= INT_MAX && c->view)
		c->fd = saker_view_fd(c->view, ev->hdr.tgid, (int)c->fdnum);
}

/* The raw path argument of an open, NUL-terminated in the arena. */
static const char *open_path_raw(struct saker_fctx *c, size_t *len)
{
	struct saker_param p;
	char *b;

	if (saker_event_get(c->ev, SAKER_PN_PATH, &p) || p.kind != SAKER_PK_STR ||
	    p.flags & SAKER_PF_UNREADABLE)
		return NULL;
	*len = strnlen((const char *)p.val, p.len);
	b = saker_fctx_alloc(c, *len + 1);
	if (!b)
		return NULL;
	memcpy(b, p.val, *len);
	b[*len] = '\0';
	return b;
}

/* fd.name for an open the table does not hold (failed, or evicted): the path resolved. */
static int open_path_name(struct saker_fctx *c, struct saker_fval *v)
{
	size_t len;
	const char *raw = open_path_raw(c, &len);
	int64_t dirfd;
	char *out;

	if (!raw)
		return 0;
	if (saker_event_get_s64(c->ev, SAKER_PN_DIRFD, &dirfd))
		dirfd = AT_FDCWD;
	if (raw[0] != '/' && c->view) {
		size_t room;

		out = saker_fctx_tail(c, &room);
		if (room > 1 && !saker_view_resolve(c->view, c->ev->hdr.tid, c->ev->hdr.tgid, dirfd,
						    raw, out, room))
			return saker_fctx_keep_str(c, v, strlen(out));
	}
	return saker_fval_str(v, raw, len);
}

static int name_of(struct saker_fctx *c, struct saker_fval *v)
{
	saker_fctx_fd(c);
	if (c->fd) {
		if (c->fd->type == SAKER_FD_IPV4 || c->fd->type == SAKER_FD_IPV6) {
			size_t room;
			char *out = saker_fctx_tail(c, &room);
			int n = saker_fd_format_name(c->fd, out, room);

			if (n <= 0 || (size_t)n >= room)
				return 0;
			return saker_fctx_keep_str(c, v, (size_t)n);
		}
		return saker_fval_cstr(v, c->fd->name);
	}
	if (c->fd_from_path)
		return open_path_name(c, v);
	return 0;
}

static bool fd_is_file(struct saker_fctx *c)
{
	saker_fctx_fd(c);
	return c->fd ? c->fd->type == SAKER_FD_FILE : c->fd_from_path;
}

static const char *other_type(const char *name, char *tc)
{
	static const struct {
		const char *pfx, *type;
		char c;
	} t[] = {
	    {"pipe:", "pipe", 'p'},
	    {"anon_inode:[eventfd]", "event", 'e'},
	    {"anon_inode:[signalfd]", "signalfd", 's'},
	    {"anon_inode:[eventpoll]", "eventpoll", 'l'},
	    {"anon_inode:inotify", "inotify", 'i'},
	    {"anon_inode:[timerfd]", "timerfd", 't'},
	    {"anon_inode:bpf", "bpf", 'b'},
	    {"anon_inode:[userfaultfd]", "userfaultfd", 'u'},
	    {"anon_inode:[io_uring]", "io_uring", 'r'},
	    {"anon_inode:[pidfd]", "pidfd", 'P'},
	    {"anon_inode:", "anon_inode", '?'},
	    {"netlink", "netlink", 'n'},
	    {"socket:", "socket", '?'},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strncmp(name, t[i].pfx, strlen(t[i].pfx))) {
			*tc = t[i].c;
			return t[i].type;
		}
	*tc = '?';
	return NULL;
}

const char *saker_fields_fd_type(const struct saker_fd *f, char *tc)
{
	switch (f->type) {
	case SAKER_FD_FILE:
	case SAKER_FD_IPV4:
	case SAKER_FD_IPV6:
	case SAKER_FD_UNIX:
		*tc = "f46u"[f->type - SAKER_FD_FILE];
		return saker_fd_type_name(f->type);
	default:
		return other_type(f->name, tc);
	}
}

/* fd.type (sel 0) and fd.typechar (sel 1). */
static int fd_type(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const char *type = "file";
	char tc = 'f';

	saker_fctx_fd(c);
	if (c->fd)
		type = saker_fields_fd_type(c->fd, &tc);
	else if (!c->fd_from_path)
		return 0;
	if (fi->sel) {
		char *b = saker_fctx_alloc(c, 2);

		if (!b)
			return 0;
		b[0] = tc;
		b[1] = '\0';
		return saker_fval_str(v, b, 1);
	}
	return saker_fval_cstr(v, type);
}

static bool fd_is_ip(struct saker_fctx *c)
{
	saker_fctx_fd(c);
	return c->fd && (c->fd->type == SAKER_FD_IPV4 || c->fd->type == SAKER_FD_IPV6);
}

/* Whether this process holds the server end (accepted, bound or listening, not connected). */
static bool fd_server_local(const struct saker_fd *f)
{
	return !(f->flags & SAKER_FD_F_CONNECTED) &&
	       (f->flags & (SAKER_FD_F_ACCEPTED | SAKER_FD_F_BOUND | SAKER_FD_F_LISTENING));
}

static int set_ip(struct saker_fval *v, const struct saker_fd *f, bool local)
{
	memcpy(v->ip.a, local ? f->tuple.laddr : f->tuple.raddr, 16);
	v->ip.v6 = f->type == SAKER_FD_IPV6;
	return 1;
}

enum { END_SERVER, END_CLIENT, END_LOCAL, END_REMOTE };

static bool end_is_local(const struct saker_fd *f, int end)
{
	switch (end) {
	case END_SERVER:
		return fd_server_local(f);
	case END_CLIENT:
		return !fd_server_local(f);
	case END_LOCAL:
		return true;
	default:
		return false;
	}
}

static int fd_num(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	saker_fctx_fd(c);
	if (c->fdnum == INT64_MIN)
		return 0;
	v->i = c->fdnum;
	return 1;
}

static int fd_name(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	return name_of(c, v);
}

static int fd_nameraw(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	size_t len;
	const char *raw;

	(void)fi;
	saker_fctx_fd(c);
	if (!c->fd_from_path)
		return name_of(c, v);
	raw = open_path_raw(c, &len);
	return raw ? saker_fval_str(v, raw, len) : 0;
}

/* fd.directory (sel 0) and fd.filename (sel 1) of a file's path. */
static int fd_path_part(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const char *slash;

	if (!fd_is_file(c) || !name_of(c, v) || !v->s.n)
		return 0;
	slash = memrchr(v->s.p, '/', v->s.n);
	if (!slash)
		return fi->sel ? 1 : 0;
	if (fi->sel)
		return saker_fval_str(v, slash + 1, v->s.n - (size_t)(slash + 1 - v->s.p));
	return saker_fval_str(v, v->s.p, slash == v->s.p ? 1 : (size_t)(slash - v->s.p));
}

static int fd_l4proto(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (!fd_is_ip(c))
		return 0;
	switch (c->fd->tuple.l4proto) {
	case 6:
		return saker_fval_str(v, "tcp", 3);
	case 17:
		return saker_fval_str(v, "udp", 3);
	case 1:
	case 58:
		return saker_fval_str(v, "icmp", 4);
	case 255:
		return saker_fval_str(v, "raw", 3);
	default:
		return 0;
	}
}

static int fd_sockfamily(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	saker_fctx_fd(c);
	if (!c->fd)
		return 0;
	if (fd_is_ip(c))
		return saker_fval_str(v, "ip", 2);
	return c->fd->type == SAKER_FD_UNIX ? saker_fval_str(v, "unix", 4) : 0;
}

/* One end's address (sel: END_*). */
static int fd_addr(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	if (!fd_is_ip(c))
		return 0;
	return set_ip(v, c->fd, end_is_local(c->fd, fi->sel));
}

/* One end's port (sel: END_*). */
static int fd_port(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	if (!fd_is_ip(c))
		return 0;
	v->u = end_is_local(c->fd, fi->sel) ? c->fd->tuple.lport : c->fd->tuple.rport;
	return 1;
}

static int fd_both_addrs(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (!fd_is_ip(c))
		return 0;
	set_ip(&v[0], c->fd, true);
	set_ip(&v[1], c->fd, false);
	return 2;
}

static int fd_both_ports(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (!fd_is_ip(c))
		return 0;
	v[0].u = c->fd->tuple.lport;
	v[1].u = c->fd->tuple.rport;
	return 2;
}

static bool fd_is_socket(struct saker_fctx *c)
{
	return fd_is_ip(c) || (c->fd && c->fd->type == SAKER_FD_UNIX);
}

static int fd_connected(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (!fd_is_socket(c))
		return 0;
	v->u = !!(c->fd->flags & (SAKER_FD_F_CONNECTED | SAKER_FD_F_ACCEPTED));
	return 1;
}

static int fd_is_server(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	if (!fd_is_socket(c))
		return 0;
	v->u = fd_server_local(c->fd);
	return 1;
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"fd.num", T(S64), 0, "The event's descriptor; -1 for a failed open", NULL}, fd_num, 0, 3},
	{{"fd.name", T(STR), 0, "Path, unix socket path, or client:port->server:port", NULL}, fd_name, 0, 4},
	{{"fd.nameraw", T(STR), 0, "The path as the process passed it (opens)", NULL}, fd_nameraw, 0, 4},
	{{"fd.directory", T(STR), 0, "Directory of a file descriptor's path", NULL}, fd_path_part, 0, 4},
	{{"fd.filename", T(STR), 0, "Base name of a file descriptor's path", NULL}, fd_path_part, 1, 4},
	{{"fd.type", T(STR), 0, "file, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, ...", NULL}, fd_type, 0, 3},
	{{"fd.typechar", T(STR), 0, "Type as one character: f 4 6 u p e s l i t n b ...", NULL}, fd_type, 1, 3},
	{{"fd.l4proto", T(STR), 0, "tcp, udp, icmp or raw", NULL}, fd_l4proto, 0, 4},
	{{"fd.sockfamily", T(STR), 0, "ip or unix", NULL}, fd_sockfamily, 0, 4},
	{{"fd.sip", T(IPADDR), 0, "Server address", NULL}, fd_addr, END_SERVER, 4},
	{{"fd.cip", T(IPADDR), 0, "Client address", NULL}, fd_addr, END_CLIENT, 4},
	{{"fd.lip", T(IPADDR), 0, "Local address", NULL}, fd_addr, END_LOCAL, 4},
	{{"fd.rip", T(IPADDR), 0, "Remote address", NULL}, fd_addr, END_REMOTE, 4},
	{{"fd.sport", T(U64), 0, "Server port", NULL}, fd_port, END_SERVER, 4},
	{{"fd.cport", T(U64), 0, "Client port", NULL}, fd_port, END_CLIENT, 4},
	{{"fd.lport", T(U64), 0, "Local port", NULL}, fd_port, END_LOCAL, 4},
	{{"fd.rport", T(U64), 0, "Remote port", NULL}, fd_port, END_REMOTE, 4},
	{{"fd.ip", T(IPADDR), MUL, "Client or server address", NULL}, fd_both_addrs, 0, 4},
	{{"fd.port", T(U64), MUL, "Client or server port", NULL}, fd_both_ports, 0, 4},
	{{"fd.net", T(IPNET), MUL, "Client or server address, compared with networks", NULL}, fd_both_addrs, 0, 4},
	{{"fd.snet", T(IPNET), 0, "Server address, compared with networks", NULL}, fd_addr, END_SERVER, 4},
	{{"fd.cnet", T(IPNET), 0, "Client address, compared with networks", NULL}, fd_addr, END_CLIENT, 4},
	{{"fd.lnet", T(IPNET), 0, "Local address, compared with networks", NULL}, fd_addr, END_LOCAL, 4},
	{{"fd.rnet", T(IPNET), 0, "Remote address, compared with networks", NULL}, fd_addr, END_REMOTE, 4},
	{{"fd.connected", T(BOOL), 0, "A socket that is connected (or accepted)", NULL}, fd_connected, 0, 4},
	{{"fd.is_server", T(BOOL), 0, "This process holds the server end of the socket", NULL}, fd_is_server, 0, 4},
	{{"fd.name_changed", T(BOOL), NEV, "The descriptor's name changed with this event", R_NAMECHG}, NULL, 0, 1},
	{{"fd.sip.name", T(STR), NEV, "Server host name", R_DNS}, NULL, 0, 1},
	{{"fd.cip.name", T(STR), NEV, "Client host name", R_DNS}, NULL, 0, 1},
	{{"fd.lip.name", T(STR), NEV, "Local host name", R_DNS}, NULL, 0, 1},
	{{"fd.rip.name", T(STR), NEV, "Remote host name", R_DNS}, NULL, 0, 1},
	{{"fd.dev", T(U64), NEV, "Device of the file", R_INODE}, NULL, 0, 1},
	{{"fd.ino", T(U64), NEV, "Inode of the file", R_INODE}, NULL, 0, 1},
};
/* clang-format on */

const struct saker_field_class saker_fclass_fd = SAKER_FIELD_CLASS("fd", rows);
