/*
 * The process table's insides (internal to state/), shared by its files:
 *   proctable.c         the table: images, entries, eviction, the history of
 *                       versions, lookups, stats, record and replay
 *   proctable_events.c  what the kernel's records change: fork, exec, exit,
 *                       setuid/setgid, chdir, cgroup moves
 *   proctable_scan.c    seeding and repair from /proc (saker_proctable_load,
 *                       saker_proctable_scan)
 * Functions one file lends another are named pt_*.
 */
#ifndef SAKER_PROCTABLE_INT_H
#define SAKER_PROCTABLE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/list.h"
#include "state/proctable.h"

#define CGROUP_FILE_MAX 8192
#define STAT_MAX	1024
#define STATUS_MAX	4096

/*
 * What fork copies and exec replaces. Immutable once built: a change (exec,
 * chdir) builds a new image, so sharing needs no copy-on-write bookkeeping.
 */
struct proc_image {
	uint32_t refs;
	uint32_t argc;
	size_t args_len;
	size_t bytes; /* accounted in data_bytes while alive */
	bool args_truncated;
	const char *exe, *args, *cwd, *cgroup;
	char container_id[SAKER_CONTAINER_ID_LEN + 1];
	char data[];
};

struct pt_entry {
	struct saker_proc pub;
	struct saker_list_node lru; /* live: head = most recent; history: head = newest */
	struct proc_image *img;
	uint32_t nthreads;	/* leaders: entries of the group held, itself included */
	uint64_t since_ns;	/* this version holds from (fork, exec, setid time); 0 = unknown */
	uint64_t until_ns;	/* history: held until (exit, exec, setid time) */
	struct pt_entry *older; /* history: the tid's next older version */
};

/* Reads of one process during a scan; on the heap, too big for the stack. */
struct scan_buf {
	char args[SAKER_PROC_ARGS_MAX + 2]; /* one byte more than kept tells truncation */
	char exe[PATH_MAX];
	char cwd[PATH_MAX];
	char cgroup[CGROUP_FILE_MAX];
	char stat[STAT_MAX];
	char status[STATUS_MAX];
};

struct saker_proctable {
	struct saker_idmap map; /* tid -> pt_entry */
	struct saker_list lru;
	size_t n, max, max_bytes;
	size_t data_bytes; /* entries and images */
	size_t images;
	struct saker_fdtable *fds;
	char *proc_root;
	long clk_tck;
	struct scan_buf *sb;
	uint64_t evictions, lookups, failed_lookups, scanned, scan_skipped;
	uint64_t load_zombies, load_replaced, load_kept, load_unconfirmed;
	/* The task iterators, when saker has them: exe, cwd and fds without CAP_SYS_PTRACE. */
	struct saker_taskiter *iter;
	struct saker_tasksnap *snap; /* during a scan or a load */
	uint64_t iter_procs, iter_fds, iter_errors;
	/*
	 * History (see saker_proctable_lookup_at()): versions replaced or removed
	 * by lane-1 records, kept for records of the bulk lane older than them.
	 */
	struct saker_idmap hist; /* tid -> newest version; ->older chains the rest */
	struct saker_list hist_fifo;
	size_t hist_n, hist_max, hist_bytes, hist_max_bytes;
	uint64_t watermark;	    /* no bulk record older than this is to come */
	struct saker_idmap evicted; /* tid -> (until_ns | 1) of its latest early-evicted version */
	uint64_t hist_kept, hist_expired, hist_evicted, hist_hits;
	uint64_t ctx_missing[SAKER_PROC_CTX_CAUSES];
};

/* ---- proctable.c (each described where it is defined) ---- */

struct proc_image *pt_image_new(struct saker_proctable *tbl, const char *exe, const char *args,
				size_t args_len, const char *cwd, const char *cgroup,
				size_t cgroup_len, const char *container_id);
void pt_image_put(struct saker_proctable *tbl, struct proc_image *img);
void pt_set_image(struct saker_proctable *tbl, struct pt_entry *e, struct proc_image *img);
void pt_touch(struct saker_proctable *tbl, struct pt_entry *e);
void pt_enforce_bounds(struct saker_proctable *tbl, const struct pt_entry *keep);
struct pt_entry *pt_entry_upsert(struct saker_proctable *tbl, uint32_t tid, uint32_t pid,
				 struct proc_image *img);
void pt_version(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts);
void pt_bury(struct saker_proctable *tbl, struct pt_entry *e, uint64_t ts);

/* ---- proctable_scan.c ---- */

/*
 * The cgroup of pid as /proc shows it now: its display path (in the table's
 * scan buffer, valid until the next read) and container id. False when it
 * cannot be read; *path, *plen and cid are then untouched.
 */
bool pt_read_cgroup(struct saker_proctable *tbl, uint32_t pid, const char **path, size_t *plen,
		    char cid[SAKER_CONTAINER_ID_LEN + 1]);

#endif
