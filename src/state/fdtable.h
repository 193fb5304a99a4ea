/*
 * Per-process file descriptor table: (pid, fd) -> what the descriptor names
 * (a path, a socket tuple), fed by open/connect/accept/close/dup events and
 * seeded from /proc/<pid>/fd. Keyed by thread group id, so the threads of a
 * process share it, as they share the kernel's files_struct.
 *
 * Bounded three ways: entries per process, entries overall, and bytes of
 * entries plus names; past a bound the least recently used entry goes and is
 * counted. Single-threaded: the event loop owns it.
 *
 * Pointers returned by lookups stay valid until the next event, copy, drop
 * or scan call (lookups reorder, they never free).

 */
#ifndef SAKER_FDTABLE_H
#define SAKER_FDTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/idmap.h"

#define SAKER_FDTABLE_DEFAULT_MAX	   131072
#define SAKER_FDTABLE_DEFAULT_MAX_PER_PROC 1024
#define SAKER_FDTABLE_DEFAULT_MAX_BYTES	   (64u << 20)

enum saker_fd_type {
	SAKER_FD_FILE = 1, /* name = path as the kernel gave it */
	SAKER_FD_IPV4,	   /* tuple */
	SAKER_FD_IPV6,	   /* tuple */
	SAKER_FD_UNIX,	   /* name = socket path ("" when unnamed) */
	SAKER_FD_OTHER, /* name = /proc's link text: "socket:[123]", "pipe:[4]", "anon_inode:..." */
};

/* saker_fd.flags */
enum saker_fd_flags {
	SAKER_FD_F_FROM_SCAN = 1u << 0, /* seeded from /proc */
	SAKER_FD_F_CONNECTED = 1u << 1, /* connect(): this side is the client */
	SAKER_FD_F_ACCEPTED = 1u << 2,	/* accept(): this side is the server */
	SAKER_FD_F_BOUND = 1u << 3,
	SAKER_FD_F_LISTENING = 1u << 4,
};

/*
 * Addresses in network byte order (IPv4 in the first 4 bytes), ports in host
 * order. local is this process's end of the socket, remote the peer.
 */
struct saker_fd_tuple {
	uint8_t laddr[16];
	uint8_t raddr[16];
	uint16_t lport;
	uint16_t rport;
	uint8_t l4proto; /* IPPROTO_TCP, IPPROTO_UDP, 0 = unknown */
	uint8_t pad[3];
};

struct saker_fd {
	uint32_t pid; /* thread group id */
	int32_t fd;
	enum saker_fd_type type;
	uint32_t open_flags; /* O_* from open(), fdinfo or dup3; O_CLOEXEC matters at exec */
	uint32_t flags;	     /* enum saker_fd_flags */
	const char *name;    /* never NULL */
	struct saker_fd_tuple tuple;
};

struct saker_fdtable_stats {
	uint64_t entries;   /* descriptors held now */
	uint64_t processes; /* processes with at least one */
	uint64_t max_entries;
	uint64_t bytes; /* held now: entries, names and index */
	/* bound on entries and names; the indexes add at most 128 B per allowed entry */
	uint64_t max_bytes;
	uint64_t evictions; /* dropped or not kept because of a bound, scan included */
	uint64_t lookups;
	uint64_t failed_lookups; /* saker_fdtable_lookup() found nothing */
	uint64_t unmatched;	 /* close, dup or listen of a descriptor not in the table */
};

struct saker_fdtable;

/* 0 = default for each bound. max_per_proc is capped at max_fds / 2. */
int saker_fdtable_new(struct saker_fdtable **out, size_t max_fds, size_t max_per_proc,
		      size_t max_bytes);
void saker_fdtable_free(struct saker_fdtable *t);

/*
 * Events. fd < 0 is -EINVAL. A descriptor already in the table is replaced
 * (its close was missed). Strings are copied, bounded to PATH_MAX - 1 bytes.
 */
int saker_fdtable_on_open(struct saker_fdtable *t, uint32_t pid, int fd, const char *path,
			  uint32_t open_flags);
/* type: IPV4, IPV6 (tuple used) or UNIX (unix_path used); tuple/unix_path may be NULL. */
int saker_fdtable_on_connect(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			     const struct saker_fd_tuple *tuple, const char *unix_path);
int saker_fdtable_on_accept(struct saker_fdtable *t, uint32_t pid, int newfd,
			    enum saker_fd_type type, const struct saker_fd_tuple *tuple,
			    const char *unix_path);
int saker_fdtable_on_bind(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			  const struct saker_fd_tuple *tuple, const char *unix_path);
/*
 * socket(), socketpair(): a new socket with no address yet. type IPV4/IPV6
 * (l4proto kept for connect, bind and accept to inherit), UNIX or OTHER
 * (name: "netlink", ...); open_flags O_CLOEXEC from SOCK_CLOEXEC.
 */
int saker_fdtable_on_socket(struct saker_fdtable *t, uint32_t pid, int fd, enum saker_fd_type type,
			    uint8_t l4proto, uint32_t open_flags, const char *name);
/* Marks a known socket listening; -ENOENT (counted unmatched) when unknown. */
int saker_fdtable_on_listen(struct saker_fdtable *t, uint32_t pid, int fd);
/* -ENOENT (counted unmatched) when the descriptor was not in the table. */
int saker_fdtable_on_close(struct saker_fdtable *t, uint32_t pid, int fd);
/*
 * dup/dup2/dup3: newfd describes what oldfd does, with O_CLOEXEC only if
 * cloexec_flag has it (dup3). newfd's previous entry goes, as the kernel
 * closes it. -ENOENT (counted unmatched) when oldfd is unknown.
 */
int saker_fdtable_on_dup(struct saker_fdtable *t, uint32_t pid, int oldfd, int newfd,
			 uint32_t cloexec_flag);

/* Marks the entry most recently used. NULL (counted) when absent. */
const struct saker_fd *saker_fdtable_lookup(struct saker_fdtable *t, uint32_t pid, int fd);

/* fork: to_pid gets a copy of from_pid's descriptors (its previous ones are dropped). */
int saker_fdtable_copy_process(struct saker_fdtable *t, uint32_t from_pid, uint32_t to_pid);
/* Process exit. */
void saker_fdtable_drop_process(struct saker_fdtable *t, uint32_t pid);
/* Successful exec: the kernel closes O_CLOEXEC descriptors. */
void saker_fdtable_drop_cloexec(struct saker_fdtable *t, uint32_t pid);

/*
 * Seeds pid's descriptors from an open /proc/<pid> directory (its fd/ links
 * and fdinfo/ flags); the previous ones are dropped. Stops at the per-process
 * bound, counting the rest as evictions. A process gone meanwhile is -ENOENT.
 */
int saker_fdtable_scan_pid(struct saker_fdtable *t, uint32_t pid, int pid_dirfd);
/* The same from the task iterators' list (state/tasksnap.h) instead of /proc/<pid>/fd. */
struct saker_tasksnap_fd;
int saker_fdtable_load_list(struct saker_fdtable *t, uint32_t pid,
			    const struct saker_tasksnap_fd *fds, size_t n);

void saker_fdtable_get_stats(const struct saker_fdtable *t, struct saker_fdtable_stats *st);

/*
 * Record and replay: every descriptor, least recently used first, without
 * touching or counting (fn returns 0 to go on, else the walk ends with that
 * value); and a descriptor put back as it was (f->pid, f->fd, every field,
 * the name copied).
 */
typedef int (*saker_fdtable_each_fn)(void *ctx, const struct saker_fd *f);
int saker_fdtable_foreach(const struct saker_fdtable *t, saker_fdtable_each_fn fn, void *ctx);
int saker_fdtable_restore(struct saker_fdtable *t, const struct saker_fd *f);

/*
 * Falco's fd.name: the path for files and unix sockets, "cip:cport->sip:sport"
 * (client first) for IPv4/IPv6. snprintf semantics.
 */
int saker_fd_format_name(const struct saker_fd *f, char *buf, size_t len);
const char *saker_fd_type_name(enum saker_fd_type type);

#endif
