/*
 * Thread/process table: one entry per thread (tid), seeded from /proc and
 * kept current by fork/exec/exit/setuid events. What the kernel shares
 * between the threads of a process and copies at fork (exe, argv, cwd,
 * cgroup) lives in a reference-counted image shared by every entry that
 * inherited it, so threads and fork storms cost an entry each, not a copy
 * of argv; an exec or chdir gives the entry a new image.
 *
 * The table owns the per-process fd table (fdtable.h) and keeps it in step:
 * fork copies the parent's descriptors, exec drops the O_CLOEXEC ones, the
 * exit of a process's last thread drops them all.
 *
 * Bounded: at most max_procs entries and max_bytes of entries and images;
 * past either bound the least recently used entry is evicted and counted.
 * Single-threaded, independent of the kernel event format. Pointers
 * returned by lookups stay valid until the next event, scan or load call
 * (lookups reorder, they never free).
 */
#ifndef SAKER_PROCTABLE_H
#define SAKER_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/fdtable.h"
#include "saker_abi.h" /* SAKER_EXIT_GROUP_* */

#define SAKER_PROCTABLE_DEFAULT_MAX	  65536
#define SAKER_PROCTABLE_DEFAULT_MAX_BYTES (128u << 20)
/* Versions kept for bulk records older than a lane-1 change (lookup_at), and their bytes. */
#define SAKER_PROCTABLE_DEFAULT_MAX_HISTORY	  8192
#define SAKER_PROCTABLE_DEFAULT_MAX_HISTORY_BYTES (16u << 20)
/* A generic record's time is its CPU's cached clock: up to a tick (10 ms at HZ=100) early. */
#define SAKER_PROC_CLOCK_SLACK_NS 12000000ull
#define SAKER_PROC_COMM_LEN	  16   /* TASK_COMM_LEN, NUL included */
#define SAKER_PROC_ARGS_MAX	  4096 /* argv bytes kept, NULs included */
#define SAKER_CONTAINER_ID_LEN	  12   /* short docker/containerd/cri-o id */
/* loginuid when never set (and uids /proc could not tell) */
#define SAKER_UID_UNSET 0xffffffffu
/* saker_proctable_on_setids(): leave this id as it is, as setresuid(-1) does */
#define SAKER_ID_KEEP 0xffffffffu

enum saker_proc_flags {
	SAKER_PROC_FROM_SCAN = 1u << 0,	     /* entry created by a /proc scan or load */
	SAKER_PROC_EXEC_SEEN = 1u << 1,	     /* image from an exec event (here or before a fork) */
	SAKER_PROC_FORKED = 1u << 2,	     /* entry created by a fork/clone event */
	SAKER_PROC_INCOMPLETE = 1u << 3,     /* forked from a parent the table did not know */
	SAKER_PROC_EXITED = 1u << 4,	     /* the leader exited, other threads still run */
	SAKER_PROC_ARGS_TRUNCATED = 1u << 5, /* argv longer than SAKER_PROC_ARGS_MAX */
	SAKER_PROC_CAPS_KNOWN = 1u << 6,     /* cap_eff holds the thread's effective capabilities */
	/* a load from /proc could not read exe, argv or cwd and knew no value to keep */
	SAKER_PROC_UNCONFIRMED = 1u << 7,
};

struct saker_proc {
	uint32_t tid;
	uint32_t pid;  /* thread group id */
	uint32_t ppid; /* pid of the parent process, 0 when unknown */
	uint32_t uid, gid, euid, egid;
	uint32_t loginuid;  /* SAKER_UID_UNSET when never set */
	uint32_t tty;	    /* tty_nr as /proc/<pid>/stat encodes it; 0 = none */
	uint32_t flags;	    /* enum saker_proc_flags */
	uint64_t start_ns;  /* thread start, CLOCK_BOOTTIME ns; 0 when unknown */
	uint64_t cgroup_id; /* cgroup v2 id (inode) when an event gave it, else 0 */
	/*
	 * Effective capabilities (bit n = capability n) with SAKER_PROC_CAPS_KNOWN:
	 * from the exec record or /proc's CapEff, inherited at fork, cleared when
	 * the effective uid leaves 0 (the kernel does so); unknown after a change
	 * saker cannot follow (capset, the effective uid becoming 0).
	 */
	uint64_t cap_eff;
	char comm[SAKER_PROC_COMM_LEN];
	/* From the shared image; never NULL, "" when unknown. */
	const char *exe;
	const char *args; /* argv: argc strings, each NUL-terminated, args_len bytes in all */
	size_t args_len;
	uint32_t argc;
	const char *cwd;
	/* the probe's path (exec; a suffix "b/c" when deeper than it sends), else /proc's v2 path
	 */
	const char *cgroup;
	/* SAKER_CONTAINER_ID_LEN hex digits, "host", or "" when nothing told (INCOMPLETE) */
	const char *container_id;
};

/* A successful execve/execveat, as the probe reports it. */
struct saker_exec_info {
	uint32_t tid; /* the thread that called exec; becomes the leader */
	uint32_t pid;
	uint32_t ppid;	  /* 0 = keep the known one */
	const char *comm; /* NULL = the exe's basename, as the kernel does */
	const char *exe;
	const char *args; /* argv as in /proc/<pid>/cmdline; need not end in NUL */
	size_t args_len;
	const char *cwd; /* NULL = keep */
	/* the probe's path (whole or its last components); NULL = keep, unless cgroup_id changed */
	const char *cgroup;
	uint64_t cgroup_id; /* 0 = unknown; a new id with no path rereads /proc/<pid>/cgroup */
	uint32_t uid, gid, euid, egid, loginuid, tty;
	uint64_t cap_eff; /* with caps_known */
	bool caps_known;
	uint64_t ts_ns; /* the exec's time: the old image stays for older records; 0 = none */
};

/*
 * What saker_proctable_lookup_at() found for a record: the live version, a
 * version kept in the history, or nothing, and then why.
 */
enum saker_proc_ctx {
	SAKER_PROC_CTX_LIVE = 0,
	SAKER_PROC_CTX_HISTORY,
	SAKER_PROC_CTX_EVICTED, /* its version was evicted (bounds) before the bulk lane passed it
				 */
	SAKER_PROC_CTX_LATE,	/* older than the watermark: its version had expired */
	SAKER_PROC_CTX_UNKNOWN, /* never held (fork lost, evicted from the live table, ...) */
	SAKER_PROC_CTX_CAUSES,
};

/* saker_proctable_on_exit() flags: what the probe knows of the thread group. */

struct saker_proctable_opts {
	size_t max_procs; /* 0 = SAKER_PROCTABLE_DEFAULT_MAX; at least 2 */
	size_t max_bytes; /* entries and images; 0 = default */
	size_t max_fds;	  /* fdtable.h bounds; 0 = defaults */
	size_t max_fds_per_proc;
	size_t max_fd_bytes;
	size_t max_history;    /* history versions; 0 = SAKER_PROCTABLE_DEFAULT_MAX_HISTORY */
	const char *proc_root; /* NULL = "/proc"; a test directory laid out like it */
};

struct saker_proctable_stats {
	uint64_t entries; /* threads held now */
	uint64_t max_entries;
	uint64_t images; /* distinct images held now */
	uint64_t bytes;	 /* held now: entries, images and index (fd table apart) */
	/* bound on entries and images; the index adds at most 64 B per allowed entry */
	uint64_t max_bytes;
	uint64_t evictions;
	uint64_t lookups;
	uint64_t failed_lookups; /* lookups and events naming a tid the table did not hold */
	uint64_t scanned;	 /* threads read from /proc */
	uint64_t scan_skipped;	 /* threads gone or unreadable during a scan */
	/* loads (scan, saker_proctable_load) that found: */
	uint64_t load_zombies;	   /* an exited, unreaped leader */
	uint64_t load_replaced;	   /* another process under a known pid (start time differs) */
	uint64_t load_kept;	   /* a field unreadable whose known value was kept (per field) */
	uint64_t load_unconfirmed; /* exe, argv or cwd neither readable nor known (flagged) */
	/* processes and descriptors loaded from the task iterators; their reads that failed */
	uint64_t iter_procs, iter_fds, iter_errors;
	uint64_t history; /* versions held now for older records */
	uint64_t history_bytes;
	uint64_t history_kept;	  /* versions put in the history */
	uint64_t history_expired; /* dropped once the bulk lane's watermark passed them */
	uint64_t history_evicted; /* dropped early (bounds): records may miss them */
	uint64_t history_hits;	  /* lookups answered from the history */
	/* events without process context, by cause (saker_proctable_count_missing()) */
	uint64_t ctx_missing[SAKER_PROC_CTX_CAUSES];
};

struct saker_proctable;

int saker_proctable_new(struct saker_proctable **out, size_t max_procs, const char *proc_root);
/* o NULL = every default. -EINVAL for max_procs 1. */
int saker_proctable_new_opts(struct saker_proctable **out, const struct saker_proctable_opts *o);
void saker_proctable_free(struct saker_proctable *tbl);

/* The fd table the process table keeps in step; events on descriptors go to it directly. */
struct saker_fdtable *saker_proctable_fds(struct saker_proctable *tbl);

/*
 * Seeds every thread of every process under proc_root, with its descriptors.
 * Processes that vanish meanwhile are skipped and counted. -errno only when
 * proc_root itself cannot be read.
 */
int saker_proctable_scan(struct saker_proctable *tbl);
/*
 * Reads one process (all its threads) from proc_root, e.g. after a miss or a
 * loss. It only improves what the table holds: the leader's start time must
 * match the known entry's for it to be the same process (else it is
 * replaced); for the same one, an exe, argv, cwd, cgroup, loginuid or status
 * that /proc cannot give (a zombie has none) keeps the known value; what is
 * neither read nor known is flagged SAKER_PROC_UNCONFIRMED. An exited,
 * unreaped leader is flagged EXITED. -ENOENT when gone.
 */
int saker_proctable_load(struct saker_proctable *tbl, uint32_t pid);
/*
 * Scans and loads take exe, cwd and the descriptors from the task iterators
 * (state/tasksnap.h) instead of /proc's links, for the processes the
 * iterators saw with /proc's start time; the rest (and everything when a
 * read fails, counted in iter_errors) from /proc. it NULL: /proc only.
 */
struct saker_taskiter;
void saker_proctable_set_taskiter(struct saker_proctable *tbl, struct saker_taskiter *it);

/*
 * fork/vfork/clone/clone3 in the parent (or the child's first event).
 * clone_flags: CLONE_THREAD makes a thread of the parent's process,
 * CLONE_PARENT gives the child the parent's parent. The child inherits the
 * parent's image, ids, comm and (new process) descriptors. An unknown parent
 * still yields a child, flagged INCOMPLETE, and counts a failed lookup.
 */
int saker_proctable_on_fork(struct saker_proctable *tbl, uint32_t parent_tid, uint32_t child_tid,
			    uint32_t child_pid, uint64_t clone_flags, uint64_t ts_ns);
/*
 * Successful exec: the calling thread becomes the leader (tid == pid) with a
 * new image; with info->ts_ns the replaced versions stay in the history.
 */
int saker_proctable_on_exec(struct saker_proctable *tbl, const struct saker_exec_info *info);
/*
 * A fork whose child was born in another cgroup than its parent's (clone3
 * CLONE_INTO_CGROUP): the child's cgroup path (as the probe sends it, see
 * lib/ctrmatch.h) and container; cgroup_id 0 = keep. -ENOENT when unknown.
 */
int saker_proctable_set_cgroup(struct saker_proctable *tbl, uint32_t tid, uint64_t cgroup_id,
			       const char *cgroup);
/* sched_process_exit. flags: SAKER_EXIT_GROUP_* or 0 to infer from the threads the table knows. */
int saker_proctable_on_exit(struct saker_proctable *tbl, uint32_t tid, unsigned flags);
/* The same at ts_ns: what goes stays in the history (a tombstone) for older records. */
int saker_proctable_on_exit_at(struct saker_proctable *tbl, uint32_t tid, unsigned flags,
			       uint64_t ts_ns);
/* capset: the thread's effective capabilities are no longer known. -ENOENT when unknown. */
int saker_proctable_caps_unknown(struct saker_proctable *tbl, uint32_t tid);
/* setuid/setreuid/setresuid/setgid/...: the new ids, SAKER_ID_KEEP for unchanged ones. */
int saker_proctable_on_setids(struct saker_proctable *tbl, uint32_t tid, uint32_t uid,
			      uint32_t euid, uint32_t gid, uint32_t egid);
/* The same at ts_ns: the ids before it stay in the history for older records. */
int saker_proctable_on_setids_at(struct saker_proctable *tbl, uint32_t tid, uint32_t uid,
				 uint32_t euid, uint32_t gid, uint32_t egid, uint64_t ts_ns);
/* chdir/fchdir: the calling thread's entry and, if it is another, its leader's. */
int saker_proctable_on_chdir(struct saker_proctable *tbl, uint32_t tid, const char *cwd);

/*
 * The thread's entry, marked most recently used. A process is its leader:
 * lookup(pid). NULL (counted) when unknown.
 */
const struct saker_proc *saker_proctable_lookup(struct saker_proctable *tbl, uint32_t tid);

/*
 * Lanes: lane-1 records (exec, exit, setid, ...) are applied up to the
 * capture's hold time ahead of the bulk lane's records of the same process
 * (docs/architecture.md). So what they replace or remove is kept as a
 * version with its time span, and a record is looked up as of its own time:
 * the live version if it began at or before ts_ns (ts_ns 0: the live one),
 * else the history's version that spanned ts_ns. Versions expire when the
 * bulk lane's watermark (no bulk record older is still to come) passes
 * them; the history is bounded (count, bytes, HIST_PER_TID per tid) and a
 * version evicted before the watermark passed it is counted. NULL with
 * *ctx saying why (ctx may be NULL); misses count as failed lookups.
 */
const struct saker_proc *saker_proctable_lookup_at(struct saker_proctable *tbl, uint32_t tid,
						   uint64_t ts_ns, enum saker_proc_ctx *ctx);
/* Versions ending before ts_ns are no longer needed (monotonic; lower values are ignored). */
void saker_proctable_set_watermark(struct saker_proctable *tbl, uint64_t ts_ns);
/* One event without process context, of cause ctx (EVICTED, LATE, UNKNOWN); others ignored. */
void saker_proctable_count_missing(struct saker_proctable *tbl, enum saker_proc_ctx ctx);

/* The same without counting or reordering anything (for const readers). */
const struct saker_proc *saker_proctable_peek(const struct saker_proctable *tbl, uint32_t tid);

/* Up to max tids the table holds, most recently used first; how many were written. */
size_t saker_proctable_tids(const struct saker_proctable *tbl, uint32_t *out, size_t max);

void saker_proctable_get_stats(const struct saker_proctable *tbl, struct saker_proctable_stats *st);

/*
 * Record and replay (capture/record.c and state/snapshot.c, app/replay.c): every entry, least
 * recently used first, without touching or counting them (fn returns 0 to go on, else that value
 * ends the walk and is returned); and an entry put back as it was (every field of p, its strings
 * copied), in place of a /proc scan. Restoring in walk order gives back the same LRU order.
 */
typedef int (*saker_proctable_each_fn)(void *ctx, const struct saker_proc *p);
int saker_proctable_foreach(const struct saker_proctable *tbl, saker_proctable_each_fn fn,
			    void *ctx);
int saker_proctable_restore(struct saker_proctable *tbl, const struct saker_proc *p);

/* argv[first..] joined with single spaces (Falco's proc.args is first = 1). snprintf semantics. */
int saker_proc_args_join(const struct saker_proc *p, unsigned first, char *buf, size_t len);

/*
 * container.id from the content of /proc/<pid>/cgroup (one or more
 * "hierarchy:controllers:path" lines) or a bare cgroup path, by the runtime
 * matchers (lib/ctrmatch.h): 12 characters of the container's id, else
 * "host". out has room for SAKER_CONTAINER_ID_LEN + 1 bytes.
 */
void saker_container_id_from_cgroup(const char *cgroup, size_t len,
				    char out[SAKER_CONTAINER_ID_LEN + 1]);

#endif
