#include "event/event.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static const char *const param_names[SAKER_PN_MAX] = {
    [SAKER_PN_ARG0] = "arg0",
    [SAKER_PN_ARG1] = "arg1",
    [SAKER_PN_ARG2] = "arg2",
    [SAKER_PN_FD] = "fd",
    [SAKER_PN_NEWFD] = "newfd",
    [SAKER_PN_DIRFD] = "dirfd",
    [SAKER_PN_PATH] = "path",
    [SAKER_PN_NEWDIRFD] = "newdirfd",
    [SAKER_PN_NEWPATH] = "newpath",
    [SAKER_PN_FLAGS] = "flags",
    [SAKER_PN_MODE] = "mode",
    [SAKER_PN_ADDR] = "addr",
    [SAKER_PN_UID] = "uid",
    [SAKER_PN_GID] = "gid",
    [SAKER_PN_EUID] = "euid",
    [SAKER_PN_EGID] = "egid",
    [SAKER_PN_SUID] = "suid",
    [SAKER_PN_SGID] = "sgid",
    [SAKER_PN_PID] = "pid",
    [SAKER_PN_SIG] = "sig",
    [SAKER_PN_REQUEST] = "request",
    [SAKER_PN_SOURCE] = "source",
    [SAKER_PN_FSTYPE] = "fstype",
    [SAKER_PN_NAME] = "name",
    [SAKER_PN_EXE] = "exe",
    [SAKER_PN_ARGS] = "args",
    [SAKER_PN_CWD] = "cwd",
    [SAKER_PN_COMM] = "comm",
    [SAKER_PN_PPID] = "ppid",
    [SAKER_PN_LOGINUID] = "loginuid",
    [SAKER_PN_TTY] = "tty",
    [SAKER_PN_CGROUP_ID] = "cgroup_id",
    [SAKER_PN_DOMAIN] = "domain",
    [SAKER_PN_TYPE] = "type",
    [SAKER_PN_PROTO] = "proto",
    [SAKER_PN_BACKLOG] = "backlog",
    [SAKER_PN_EXIT_CODE] = "exit_code",
    [SAKER_PN_START_TS] = "start_ts",
    [SAKER_PN_PATH_ABS] = "path_abs",
    [SAKER_PN_FDS] = "fds",
    [SAKER_PN_CAP_EFF] = "cap_effective",
    [SAKER_PN_CGROUP] = "cgroup",
    [SAKER_PN_CGROUP_LEVEL] = "cgroup_level",
};

const char *saker_param_name_str(unsigned name)
{
	return name < SAKER_PN_MAX ? param_names[name] : NULL;
}

const char *saker_param_kind_str(unsigned kind)
{
	switch (kind) {
	case SAKER_PK_U64:
		return "u64";
	case SAKER_PK_S64:
		return "s64";
	case SAKER_PK_STR:
		return "str";
	case SAKER_PK_STRLIST:
		return "strlist";
	case SAKER_PK_SOCKADDR:
		return "sockaddr";
	default:
		return NULL;
	}
}

const char *saker_evt_type_str(unsigned type)
{
	switch (type) {
	case SAKER_EVT_SYSCALL:
		return "syscall";
	case SAKER_EVT_PROC_FORK:
		return "sched_process_fork";
	case SAKER_EVT_PROC_EXEC:
		return "sched_process_exec";
	case SAKER_EVT_PROC_EXIT:
		return "sched_process_exit";
	default:
		return NULL;
	}
}

/* The parameter at off; the caller has checked that its header and payload fit. */
static void param_at(const uint8_t *rec, size_t off, struct saker_param *out)
{
	struct saker_param_hdr ph;

	memcpy(&ph, rec + off, sizeof(ph));
	out->name = ph.name;
	out->kind = ph.kind & SAKER_PK_MASK;
	out->flags = ph.kind & (SAKER_PF_UNREADABLE | SAKER_PF_TRUNCATED);
	out->len = ph.len;
	out->val = rec + off + sizeof(ph);
}

int saker_event_parse(struct saker_event *ev, const void *rec, size_t len)
{
	size_t off, end;

	memset(ev, 0, sizeof(*ev));
	if (!rec || len < sizeof(ev->hdr))
		return -EBADMSG;
	memcpy(&ev->hdr, rec, sizeof(ev->hdr));
	ev->rec = rec;
	end = ev->hdr.len;
	if (end < sizeof(ev->hdr) || end > len)
		return -EBADMSG;
	if (ev->hdr.type < SAKER_EVT_SYSCALL || ev->hdr.type >= SAKER_EVT_TYPE_MAX)
		return -EBADMSG;
	/* Process events are not syscalls; a syscall event names one. */
	if ((ev->hdr.type == SAKER_EVT_SYSCALL) != (ev->hdr.syscall_id != SAKER_SYSCALL_NONE))
		return -EBADMSG;
	for (off = sizeof(ev->hdr); off < end;) {
		struct saker_param p;

		if (end - off < sizeof(struct saker_param_hdr))
			return -EBADMSG;
		param_at(rec, off, &p);
		if (p.len > end - off - sizeof(struct saker_param_hdr))
			return -EBADMSG;
		/* Flag bits outside the known ones mean the kind byte is garbage. */
		if (!saker_param_kind_str(p.kind) ||
		    (((const uint8_t *)rec)[off + 2] &
		     ~(SAKER_PK_MASK | SAKER_PF_UNREADABLE | SAKER_PF_TRUNCATED)))
			return -EBADMSG;
		if ((p.kind == SAKER_PK_U64 || p.kind == SAKER_PK_S64) &&
		    p.len != ((p.flags & SAKER_PF_UNREADABLE) ? 0 : 8))
			return -EBADMSG;
		if ((p.flags & SAKER_PF_UNREADABLE) && p.len)
			return -EBADMSG;
		if (p.name < SAKER_PN_MAX && !ev->idx[p.name])
			ev->idx[p.name] = (uint16_t)off;
		ev->nparams++;
		off += sizeof(struct saker_param_hdr) + p.len;
	}
	return 0;
}

bool saker_event_next(const struct saker_event *ev, size_t *pos, struct saker_param *out)
{
	size_t off = *pos ? *pos : sizeof(ev->hdr);

	if (!ev->rec || off + sizeof(struct saker_param_hdr) > ev->hdr.len)
		return false;
	param_at(ev->rec, off, out);
	*pos = off + sizeof(struct saker_param_hdr) + out->len;
	return true;
}

int saker_event_get(const struct saker_event *ev, unsigned name, struct saker_param *out)
{
	if (name >= SAKER_PN_MAX || !ev->idx[name])
		return -ENOENT;
	param_at(ev->rec, ev->idx[name], out);
	return 0;
}

int saker_param_u64(const struct saker_param *p, uint64_t *out)
{
	if (p->kind != SAKER_PK_U64 && p->kind != SAKER_PK_S64)
		return -EINVAL;
	if ((p->flags & SAKER_PF_UNREADABLE) || p->len != 8)
		return -ENODATA;
	memcpy(out, p->val, 8);
	return 0;
}

int saker_event_get_u64(const struct saker_event *ev, unsigned name, uint64_t *out)
{
	struct saker_param p;
	int err = saker_event_get(ev, name, &p);

	return err ? err : saker_param_u64(&p, out);
}

int saker_event_get_s64(const struct saker_event *ev, unsigned name, int64_t *out)
{
	uint64_t v;
	int err = saker_event_get_u64(ev, name, &v);

	if (!err)
		*out = (int64_t)v;
	return err;
}

int saker_event_get_str(const struct saker_event *ev, unsigned name, char *buf, size_t size)
{
	struct saker_param p;
	size_t n;
	int err = saker_event_get(ev, name, &p);

	if (err)
		return err;
	if (p.kind != SAKER_PK_STR)
		return -EINVAL;
	if (p.flags & SAKER_PF_UNREADABLE)
		return -ENODATA;
	if (!size)
		return -ENAMETOOLONG;
	n = strnlen((const char *)p.val, p.len);
	if (n >= size) {
		memcpy(buf, p.val, size - 1);
		buf[size - 1] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(buf, p.val, n);
	buf[n] = '\0';
	return 0;
}

int saker_sockaddr_decode(const struct saker_param *p, struct saker_sockaddr *out)
{
	uint16_t port;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (p->kind != SAKER_PK_SOCKADDR)
		return -EINVAL;
	if ((p->flags & SAKER_PF_UNREADABLE) || p->len < 2)
		return -ENODATA;
	/* sa_family is host order, ports and addresses network order. */
	memcpy(&out->family, p->val, 2);
	switch (out->family) {
	case AF_INET:
		if (p->len < 8)
			return -ENODATA;
		memcpy(&port, p->val + 2, 2);
		out->port = ntohs(port);
		memcpy(out->addr, p->val + 4, 4);
		break;
	case AF_INET6:
		if (p->len < 24)
			return -ENODATA;
		memcpy(&port, p->val + 2, 2);
		out->port = ntohs(port);
		memcpy(out->addr, p->val + 8, 16);
		break;
	case AF_UNIX:
		n = p->len - 2;
		if (n > sizeof(out->path) - 1)
			n = sizeof(out->path) - 1;
		if (n && p->val[2] == '\0') {
			out->abstract = true;
			memcpy(out->path, p->val + 3, n - 1);
			out->path_len = (uint8_t)(n - 1);
		} else {
			n = strnlen((const char *)p->val + 2, n);
			memcpy(out->path, p->val + 2, n);
			out->path_len = (uint8_t)n;
		}
		break;
	default:
		break;
	}
	return 0;
}
