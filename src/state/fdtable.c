#include "state/fdtable.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/list.h"
#include "lib/privread.h"
#include "state/tasksnap.h"
#include "lib/procid.h"

/* ---- fd table ---- */

struct fd_owner;

struct fd_entry {
	struct saker_fd pub;
	struct saker_list_node lru; /* the whole table's LRU */
	struct saker_list_node own; /* its owner's, head = most recent */
	struct fd_owner *owner;
	size_t bytes;
};

struct fd_owner {
	uint32_t pid;
	size_t n;
	struct saker_list fds; /* head = most recent */
};

#define LRU_ENTRY(n) saker_list_entry(n, struct fd_entry, lru)
#define OWN_ENTRY(n) saker_list_entry(n, struct fd_entry, own)

struct saker_fdtable {
	struct saker_idmap fds;	   /* pid << 32 | fd -> fd_entry */
	struct saker_idmap owners; /* pid -> fd_owner */
	struct saker_list lru;
	size_t n;
	size_t max_fds, max_per_proc, max_bytes;
	size_t data_bytes; /* entries, names, owners */
	/* copy_process reads this process's entries while inserting: never evict them then */
	bool pinned;
	uint32_t pinned_pid;
	uint64_t evictions, lookups, failed_lookups, unmatched;
};

static uint64_t fd_key(uint32_t pid, int fd)
{
	return (uint64_t)pid << 32 | (uint32_t)fd;
}

int saker_fdtable_new(struct saker_fdtable **out, size_t max_fds, size_t max_per_proc,
		      size_t max_bytes)
{
	struct saker_fdtable *t;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->max_fds = max_fds ? max_fds : SAKER_FDTABLE_DEFAULT_MAX;
	if (t->max_fds < 2)
		t->max_fds = 2;
	t->max_per_proc = max_per_proc ? max_per_proc : SAKER_FDTABLE_DEFAULT_MAX_PER_PROC;
	/* A fork copies one process's descriptors while both are held. */
	if (t->max_per_proc > t->max_fds / 2)
		t->max_per_proc = t->max_fds / 2;
	t->max_bytes = max_bytes ? max_bytes : SAKER_FDTABLE_DEFAULT_MAX_BYTES;
	saker_idmap_init(&t->fds);
	saker_idmap_init(&t->owners);
	*out = t;
	return 0;
}

void saker_fdtable_free(struct saker_fdtable *t)
{
	struct fd_entry *e, *next;

	if (!t)
		return;
	for (e = LRU_ENTRY(t->lru.head); e; e = next) {
		next = LRU_ENTRY(e->lru.next);
		free((char *)e->pub.name);
		free(e);
	}
	for (size_t i = 0; i < t->owners.cap; i++)
		free(t->owners.slots[i].val);
	saker_idmap_free(&t->fds);
	saker_idmap_free(&t->owners);
	free(t);
}

static void touch(struct saker_fdtable *t, struct fd_entry *e)
{
	saker_list_touch(&t->lru, &e->lru);
	saker_list_touch(&e->owner->fds, &e->own);
}

static void owner_release(struct saker_fdtable *t, struct fd_owner *o)
{
	if (o->n)
		return;
	saker_idmap_del(&t->owners, o->pid);
	t->data_bytes -= sizeof(*o);
	free(o);
}

static void entry_remove(struct saker_fdtable *t, struct fd_entry *e)
{
	struct fd_owner *o = e->owner;

	saker_idmap_del(&t->fds, fd_key(e->pub.pid, e->pub.fd));
	saker_list_unlink(&t->lru, &e->lru);
	saker_list_unlink(&o->fds, &e->own);
	o->n--;
	t->n--;
	t->data_bytes -= e->bytes;
	free((char *)e->pub.name);
	free(e);
	owner_release(t, o);
}

/* Least recently used entry that may go: not `keep`, not the pinned process's. */
static struct fd_entry *pick_victim(struct saker_fdtable *t, const struct fd_entry *keep)
{
	struct fd_entry *v = LRU_ENTRY(t->lru.tail);

	while (v && (v == keep || (t->pinned && v->pub.pid == t->pinned_pid)))
		v = LRU_ENTRY(v->lru.prev);
	return v;
}

static void enforce_bounds(struct saker_fdtable *t, const struct fd_entry *keep)
{
	while (t->n > t->max_fds || t->data_bytes > t->max_bytes) {
		struct fd_entry *v = pick_victim(t, keep);

		if (!v)
			break;
		entry_remove(t, v);
		t->evictions++;
	}
}

static char *bounded_strdup(const char *s, size_t *len)
{
	size_t n = s ? strnlen(s, PATH_MAX - 1) : 0;
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	*len = n + 1;
	return d;
}

/*
 * Inserts or replaces (pid, fd) with a copy of tmpl and name. The name is
 * copied before anything is evicted, since it may belong to a victim.
 */
static int fd_store(struct saker_fdtable *t, uint32_t pid, int fd, const struct saker_fd *tmpl,
		    const char *name)
{
	struct saker_fd val = *tmpl;
	struct fd_entry *e;
	struct fd_owner *o;
	size_t name_bytes;
	char *copy;
	int err;

	if (fd < 0)
		return -EINVAL;
	copy = bounded_strdup(name, &name_bytes);
	if (!copy)
		return -ENOMEM;
	val.pid = pid;
	val.fd = fd;
	val.name = copy;

	e = saker_idmap_get(&t->fds, fd_key(pid, fd));
	if (e) {
		free((char *)e->pub.name);
		t->data_bytes -= e->bytes;
		e->pub = val;
		e->bytes = sizeof(*e) + name_bytes;
		t->data_bytes += e->bytes;
		touch(t, e);
		enforce_bounds(t, e);
		return 0;
	}

	o = saker_idmap_get(&t->owners, pid);
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o) {
			err = -ENOMEM;
			goto err_copy;
		}
		o->pid = pid;
		err = saker_idmap_put(&t->owners, pid, o);
		if (err) {
			free(o);
			goto err_copy;
		}
		t->data_bytes += sizeof(*o);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto err_owner;
	}
	err = saker_idmap_put(&t->fds, fd_key(pid, fd), e);
	if (err)
		goto err_entry;

	e->pub = val;
	e->owner = o;
	e->bytes = sizeof(*e) + name_bytes;
	saker_list_push_front(&t->lru, &e->lru);
	saker_list_push_front(&o->fds, &e->own);
	o->n++;
	t->n++;
	t->data_bytes += e->bytes;
	/* This process's own least recently used descriptor goes first (never e: it is the head).
	 */
	if (o->n > t->max_per_proc) {
		entry_remove(t, OWN_ENTRY(o->fds.tail));
		t->evictions++;
	}
	enforce_bounds(t, e);
	return 0;

err_entry:
	free(e);
err_owner:
	owner_release(t, o);
err_copy:
	free(copy);
	return err;
}

int saker_fdtable_on_open(struct saker_fdtable *t, uint32_t pid, int fd, const char *path,
			  uint32_t open_flags)
{
	struct saker_fd f = {.type = SAKER_FD_FILE, .open_flags = open_flags};

	return fd_store(t, pid, fd, &f, path);
}

static int sock_set(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
		    const struct saker_fd_tuple *tuple, const char *unix_path, uint32_t flag)
{
	struct saker_fd f = {.type = type, .flags = flag};
	const struct fd_entry *e = flag == SAKER_FD_F_ACCEPTED || fd < 0
				       ? NULL
				       : saker_idmap_get(&t->fds, fd_key(pid, fd));

	if (type != SAKER_FD_IPV4 && type != SAKER_FD_IPV6 && type != SAKER_FD_UNIX)
		f.type = SAKER_FD_OTHER;
	if (tuple && (type == SAKER_FD_IPV4 || type == SAKER_FD_IPV6))
		f.tuple = *tuple;
	/*
	 * connect or bind on the socket socket() made: it keeps its O_CLOEXEC and
	 * what bind/listen said of it (an entry of another type is a missed close).
	 */
	if (e && e->pub.type == f.type) {
		f.open_flags = e->pub.open_flags;
		f.flags |= e->pub.flags & (SAKER_FD_F_BOUND | SAKER_FD_F_LISTENING);
	}
	return fd_store(t, pid, fd, &f, type == SAKER_FD_UNIX ? unix_path : NULL);
}

int saker_fdtable_on_socket(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			    uint8_t l4proto, uint32_t open_flags, const char *name)
{
	struct saker_fd f = {.type = type, .open_flags = open_flags};

	if (type != SAKER_FD_IPV4 && type != SAKER_FD_IPV6 && type != SAKER_FD_UNIX)
		f.type = SAKER_FD_OTHER;
	if (f.type == SAKER_FD_IPV4 || f.type == SAKER_FD_IPV6)
		f.tuple.l4proto = l4proto;
	return fd_store(t, pid, fd, &f, name);
}

int saker_fdtable_on_connect(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			     const struct saker_fd_tuple *tuple, const char *unix_path)
{
	return sock_set(t, pid, fd, type, tuple, unix_path, SAKER_FD_F_CONNECTED);
}

int saker_fdtable_on_accept(struct saker_fdtable *t, uint32_t pid, int newfd,
			    enum saker_fd_type type, const struct saker_fd_tuple *tuple,
			    const char *unix_path)
{
	return sock_set(t, pid, newfd, type, tuple, unix_path, SAKER_FD_F_ACCEPTED);
}

int saker_fdtable_on_bind(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			  const struct saker_fd_tuple *tuple, const char *unix_path)
{
	return sock_set(t, pid, fd, type, tuple, unix_path, SAKER_FD_F_BOUND);
}

int saker_fdtable_on_listen(struct saker_fdtable *t, uint32_t pid, int fd)
{
	struct fd_entry *e = fd < 0 ? NULL : saker_idmap_get(&t->fds, fd_key(pid, fd));

	if (!e) {
		t->unmatched++;
		return -ENOENT;
	}
	e->pub.flags |= SAKER_FD_F_LISTENING;
	touch(t, e);
	return 0;
}

int saker_fdtable_on_close(struct saker_fdtable *t, uint32_t pid, int fd)
{
	struct fd_entry *e = fd < 0 ? NULL : saker_idmap_get(&t->fds, fd_key(pid, fd));

	if (!e) {
		t->unmatched++;
		return -ENOENT;
	}
	entry_remove(t, e);
	return 0;
}

int saker_fdtable_on_dup(struct saker_fdtable *t, uint32_t pid, int oldfd, int newfd,
			 uint32_t cloexec_flag)
{
	struct fd_entry *src;
	struct saker_fd f;

	if (oldfd < 0 || newfd < 0)
		return -EINVAL;
	src = saker_idmap_get(&t->fds, fd_key(pid, oldfd));
	if (!src) {
		struct fd_entry *stale = saker_idmap_get(&t->fds, fd_key(pid, newfd));

		/* dup2 closed newfd even though we cannot say what replaced it. */
		if (stale)
			entry_remove(t, stale);
		t->unmatched++;
		return -ENOENT;
	}
	if (oldfd == newfd)
		return 0;
	f = src->pub;
	f.open_flags = (f.open_flags & ~(uint32_t)O_CLOEXEC) | (cloexec_flag & O_CLOEXEC);
	return fd_store(t, pid, newfd, &f, src->pub.name);
}

const struct saker_fd *saker_fdtable_lookup(struct saker_fdtable *t, uint32_t pid, int fd)
{
	struct fd_entry *e = fd < 0 ? NULL : saker_idmap_get(&t->fds, fd_key(pid, fd));

	t->lookups++;
	if (!e) {
		t->failed_lookups++;
		return NULL;
	}
	touch(t, e);
	return &e->pub;
}

void saker_fdtable_drop_process(struct saker_fdtable *t, uint32_t pid)
{
	struct fd_owner *o = saker_idmap_get(&t->owners, pid);
	size_t n = o ? o->n : 0;

	/* The owner is freed with its last entry: count down rather than test o. */
	while (n--)
		entry_remove(t, OWN_ENTRY(o->fds.head));
}

void saker_fdtable_drop_cloexec(struct saker_fdtable *t, uint32_t pid)
{
	struct fd_owner *o = saker_idmap_get(&t->owners, pid);
	struct fd_entry *e, *next;

	for (e = o ? OWN_ENTRY(o->fds.head) : NULL; e; e = next) {
		next = OWN_ENTRY(e->own.next);
		if (e->pub.open_flags & O_CLOEXEC)
			entry_remove(t, e);
	}
}

int saker_fdtable_copy_process(struct saker_fdtable *t, uint32_t from_pid, uint32_t to_pid)
{
	struct fd_owner *o;
	struct fd_entry *e;
	int err = 0;

	if (from_pid == to_pid)
		return -EINVAL;
	saker_fdtable_drop_process(t, to_pid);
	o = saker_idmap_get(&t->owners, from_pid);
	if (!o)
		return 0;
	t->pinned = true;
	t->pinned_pid = from_pid;
	/* Oldest first, so the child's recency order matches the parent's. */
	for (e = OWN_ENTRY(o->fds.tail); e; e = OWN_ENTRY(e->own.prev)) {
		err = fd_store(t, to_pid, e->pub.fd, &e->pub, e->pub.name);
		if (err)
			break;
	}
	t->pinned = false;
	/* Evictions deferred while the parent was pinned. */
	enforce_bounds(t, NULL);
	return err;
}

/* The "flags:" line of /proc/<pid>/fdinfo/<fd>, octal. */
static uint32_t fdinfo_flags(int pid_dirfd, int fd)
{
	char path[32], buf[512];
	const char *p;
	unsigned long v;
	char *end;

	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	/* Another user's: through the /proc helper (lib/privread.h). */
	if (saker_privread_file(pid_dirfd, path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, "flags:");
	if (!p)
		return 0;
	errno = 0;
	v = strtoul(p + 6, &end, 8);
	if (errno || end == p + 6 || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

int saker_fdtable_scan_pid(struct saker_fdtable *t, uint32_t pid, int pid_dirfd)
{
	char target[PATH_MAX], name[32];
	struct dirent *de;
	size_t kept = 0;
	int dfd, err = 0;
	DIR *dir;

	saker_fdtable_drop_process(t, pid);
	dfd = openat(pid_dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	dir = fdopendir(dfd);
	if (!dir) {
		err = -errno;
		close(dfd);
		return err;
	}
	while ((de = readdir(dir))) {
		struct saker_fd f = {.flags = SAKER_FD_F_FROM_SCAN};
		ssize_t n;
		uint32_t id;
		int fd;

		if (!saker_procid_parse(de->d_name, &id))
			continue;
		fd = (int)id;
		if (kept >= t->max_per_proc) {
			t->evictions++;
			continue;
		}
		/* Relative to /proc/<pid>, as the /proc helper checks (lib/privread.h). */
		snprintf(name, sizeof(name), "fd/%d", fd);
		n = saker_privread_link(pid_dirfd, name, target, sizeof(target));
		if (n < 0)
			continue; /* closed meanwhile */
		f.type = target[0] == '/' ? SAKER_FD_FILE : SAKER_FD_OTHER;
		f.open_flags = fdinfo_flags(pid_dirfd, fd);
		err = fd_store(t, pid, fd, &f, target);
		if (err)
			break;
		kept++;
	}
	closedir(dir);
	return err;
}

int saker_fdtable_load_list(struct saker_fdtable *t, uint32_t pid,
			    const struct saker_tasksnap_fd *fds, size_t n)
{
	size_t kept = 0;
	int err = 0;

	saker_fdtable_drop_process(t, pid);
	for (size_t i = 0; i < n && !err; i++) {
		struct saker_fd f = {.flags = SAKER_FD_F_FROM_SCAN};

		if (kept >= t->max_per_proc) {
			t->evictions++;
			continue;
		}
		/* As the /proc scan types them: a path or another kind of file. */
		f.type = fds[i].name[0] == '/' ? SAKER_FD_FILE : SAKER_FD_OTHER;
		f.open_flags = fds[i].open_flags;
		err = fd_store(t, pid, (int)fds[i].fd, &f, fds[i].name);
		kept++;
	}
	return err;
}

void saker_fdtable_get_stats(const struct saker_fdtable *t, struct saker_fdtable_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->entries = t->n;
	st->processes = t->owners.n;
	st->max_entries = t->max_fds;
	st->bytes =
	    sizeof(*t) + t->data_bytes + saker_idmap_bytes(&t->fds) + saker_idmap_bytes(&t->owners);
	st->max_bytes = t->max_bytes;
	st->evictions = t->evictions;
	st->lookups = t->lookups;
	st->failed_lookups = t->failed_lookups;
	st->unmatched = t->unmatched;
}

int saker_fd_format_name(const struct saker_fd *f, char *buf, size_t len)
{
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	int af;

	if (f->type != SAKER_FD_IPV4 && f->type != SAKER_FD_IPV6)
		return snprintf(buf, len, "%s", f->name);
	af = f->type == SAKER_FD_IPV4 ? AF_INET : AF_INET6;
	if (!inet_ntop(af, f->tuple.laddr, l, sizeof(l)) ||
	    !inet_ntop(af, f->tuple.raddr, r, sizeof(r)))
		return snprintf(buf, len, "%s", "");
	/* The server's end last, whichever end this process holds. */
	if (f->flags & SAKER_FD_F_ACCEPTED)
		return snprintf(buf, len, "%s:%u->%s:%u", r, f->tuple.rport, l, f->tuple.lport);
	return snprintf(buf, len, "%s:%u->%s:%u", l, f->tuple.lport, r, f->tuple.rport);
}

const char *saker_fd_type_name(enum saker_fd_type type)
{
	switch (type) {
	case SAKER_FD_FILE:
		return "file";
	case SAKER_FD_IPV4:
		return "ipv4";
	case SAKER_FD_IPV6:
		return "ipv6";
	case SAKER_FD_UNIX:
		return "unix";
	case SAKER_FD_OTHER:
		return "other";
	}
	return "unknown";
}

int saker_fdtable_foreach(const struct saker_fdtable *t, saker_fdtable_each_fn fn, void *ctx)
{
	for (struct saker_list_node *n = t->lru.tail; n; n = n->prev) {
		int ret = fn(ctx, &LRU_ENTRY(n)->pub);

		if (ret)
			return ret;
	}
	return 0;
}

int saker_fdtable_restore(struct saker_fdtable *t, const struct saker_fd *f)
{
	return fd_store(t, f->pid, f->fd, f, f->name);
}
