/*
 * saker's picture of the host: the process and fd tables (proctable.h,
 * fdtable.h) kept current by decoded ring records. This module is the only
 * place that knows which event changes which table; the tables themselves do
 * not know the record format.
 *
 * What changes state (a failed syscall, ret < 0, changes nothing, except
 * where the kernel changes state anyway), by the syscall table's view-op
 * column (include/saker_syscalls.def, SAKER_VOP_*):
 *   sched_process_fork/exec/exit     the process table (exec also drops O_CLOEXEC fds)
 *   OPEN, CREAT                      fd = ret names the path, resolved to an absolute one
 *   SOCKET, SOCKETPAIR               ret (the FDS pair) is a new socket: family, fd.l4proto
 *   CONNECT (also -EINPROGRESS)      fd is a socket to addr; BIND, LISTEN, ACCEPT alike
 *   CLOSE (any ret but -EBADF)       fd gone; DUP, DUP3: ret names what fd names
 *   CHDIR, FCHDIR                    the cwd
 *   SETUID, SETREUID, SETRESUID, SETGID, SETREGID, SETRESGID   the ids (and capabilities)
 *   CAPSET                           the capabilities are unknown from here on
 *   FORK, EXEC, EXIT                 nothing at syscall exit (the sched records do it)
 * Everything else is dumped, not applied.
 *
 * Single-threaded, like the tables.
 */
#ifndef SAKER_VIEW_H
#define SAKER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "saker_abi.h"
#include "state/containers.h"
#include "state/fdtable.h"
#include "state/proctable.h"

struct saker_view;
struct saker_event;

/* Bounds; 0 = the tables' defaults. */
struct saker_view_opts {
	size_t max_procs;
	size_t max_history; /* proctable.h: versions kept for older records */
	size_t max_proc_bytes;
	size_t max_fds;
	size_t max_fds_per_proc;
	size_t max_fd_bytes;
	const char *proc_root; /* NULL = "/proc" */
	/* container metadata (containers.h): NULL = defaults; no_containers: none read */
	const struct saker_containers_opts *containers;
	bool no_containers;
};

struct saker_view_stats {
	struct saker_proctable_stats procs;
	struct saker_fdtable_stats fds;
	struct saker_containers_stats containers;
	uint64_t events;     /* records handed to saker_view_handle_event() or _apply() */
	uint64_t malformed;  /* of which rejected by the decoder */
	uint64_t applied;    /* of which changed (or tried to change) a table */
	uint64_t late_forks; /* fork records that came after the child's exec (another ring) */
	uint64_t loss_pending_marks; /* losses seen between drop checks (every process marked) */
};

int saker_view_new(struct saker_view **out, size_t max_procs, const char *proc_root);
int saker_view_new_opts(struct saker_view **out, const struct saker_view_opts *o);
void saker_view_free(struct saker_view *v);

/* Seeds the tables from /proc (proc_root). -errno only if proc_root cannot be read. */
int saker_view_scan(struct saker_view *v);

/*
 * Applies one ring record. 0 also when the event changes nothing or names a
 * process the tables do not hold (counted in their failed lookups);
 * -EBADMSG for a malformed record; -ENOMEM.
 */
int saker_view_handle_event(struct saker_view *v, const struct saker_evt_hdr *e, size_t len);
/* Same, on a record already decoded (counted in events). */
int saker_view_apply(struct saker_view *v, const struct saker_event *ev);
/* A record the caller's decoder rejected: counted in events and malformed. */
void saker_view_count_malformed(struct saker_view *v);
/*
 * Whether applying ev removes or replaces what the event's own fields name
 * (a close its fd, an exit or exec the process entry, a chdir the cwd its
 * relative path resolves against, connect/bind/listen the entry of their
 * fd, the setid family the ids). The pipeline applies such events after
 * the consumers that render the event (the removals are deferred), the
 * others before, so a dump line shows the state the event found.
 */
bool saker_view_defers(const struct saker_view *v, const struct saker_event *ev);
/*
 * Of the deferred events, those rules must see after they are applied, as
 * Falco's parser updates its state before filters run: an exec (the new
 * image), connect, bind, listen (fd.sip, fd.lport, fd.connected of the
 * socket as the call left it). The dump still shows the state they found.
 */
bool saker_view_rules_see_result(const struct saker_view *v, const struct saker_event *ev);

/* Lookups (counted by the tables; pointers valid until the next change). */
const struct saker_proc *saker_view_proc(struct saker_view *v, uint32_t tid);
const struct saker_fd *saker_view_fd(struct saker_view *v, uint32_t pid, int fd);
/*
 * The thread's process as it was at ts_ns (boot time), for a record of that
 * time: lane-1 records (exit, exec, setids) are applied ahead of the bulk
 * lane's older ones, so what they replaced stays until the bulk lane's
 * watermark passes it (saker_proctable_lookup_at()).
 */
const struct saker_proc *saker_view_proc_at(struct saker_view *v, uint32_t tid, uint64_t ts_ns);
/*
 * Once per record, before any consumer: whether its process is known as of
 * its time (enum saker_proc_ctx). One that is not is counted ("events
 * without process context", by cause) and saker_view_degraded() is true
 * for it.
 */
int saker_view_context(struct saker_view *v, const struct saker_event *ev);
/* No bulk record older than ts_ns is still to come: versions kept for older ones may go. */
void saker_view_set_watermark(struct saker_view *v, uint64_t ts_ns);
/*
 * The metadata of the container process p runs in, from the cache alone (no
 * file is read: a container's files are read at its first exec or at the
 * scan); NULL on the host, when unknown, or without container metadata.
 */
const struct saker_container *saker_view_container(struct saker_view *v,
						   const struct saker_proc *p);
/*
 * Learns p's container (reads its runtime's files when not cached): what an
 * exec does; the scan does it for every process, resync for a loss.
 */
const struct saker_container *saker_view_learn_container(struct saker_view *v,
							 const struct saker_proc *p);
/* The container cache (NULL without one), for its repair (state/resync.c) and sweeps. */
struct saker_containers *saker_view_containers(struct saker_view *v);
/* The process table itself, for its repair (state/resync.c). */
struct saker_proctable *saker_view_procs(struct saker_view *v);

/*
 * A path as the kernel resolves it: absolute paths as they are; a relative
 * one against the directory fd dirfd of process pid (or, with AT_FDCWD, the
 * thread tid's cwd). "." and ".." are folded lexically, as Falco does.
 * 0, -ENOENT when the base is unknown, -ENAMETOOLONG past out's size.
 */
int saker_view_resolve(struct saker_view *v, uint32_t tid, uint32_t pid, int64_t dirfd,
		       const char *path, char *out, size_t size);
/* base + "/" + rel (rel absolute: rel alone), folded. snprintf-like bound, 0 or -ENAMETOOLONG. */
int saker_path_join(const char *base, const char *rel, char *out, size_t size);

/* A kernel dev_t (major << 20 | minor, as the probe sends TTY) in /proc's tty_nr encoding. */
uint32_t saker_dev_to_tty_nr(uint64_t dev);

/*
 * Loss: events in [since_ns, until_ns] (boot time; until includes the
 * degraded window) may have been lost for process pid, 0 = for any process
 * (attribution unknown). See state/degraded.h.
 */
void saker_view_mark_degraded(struct saker_view *v, uint32_t pid, uint64_t since_ns,
			      uint64_t until_ns);
/*
 * Loss known at once: the probe's loss count moved between a poll at
 * since_ns, when it had not, and one at seen_ns (boot time). Until a drop
 * check has counted it (saker_view_settle_pending()), nobody can say whose
 * events were lost: every event at or after since_ns is degraded.
 */
void saker_view_mark_loss_pending(struct saker_view *v, uint64_t since_ns, uint64_t seen_ns);
/*
 * A drop check read the probe's counters at counted_ns and marked the
 * processes its per-process losses name (saker_view_mark_degraded()): a
 * pending mark of losses seen by then is settled (their marks replace it).
 */
void saker_view_settle_pending(struct saker_view *v, uint64_t counted_ns);
/*
 * The one place that decides whether what the view says of process pid, for
 * an event at ts_ns (boot time), may be stale because of a loss: the dump's
 * `view_degraded` and, later, rule alerts. False for a NULL view.
 */
bool saker_view_degraded(const struct saker_view *v, uint32_t pid, uint64_t ts_ns);

void saker_view_get_stats(const struct saker_view *v, struct saker_view_stats *st);
/* The summary lines main prints at shutdown ("   process table: ..."). */
void saker_view_print_stats(const struct saker_view *v, FILE *out);

#endif
