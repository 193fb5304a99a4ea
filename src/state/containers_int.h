/*
 * The container cache's insides (internal to state/), shared by its files:
 *   containers.c       the cache: entries, hashing, LRU, learn, refresh,
 *                      forget, sweep, stats
 *   containers_read.c  the runtimes' files read into an entry, one reader
 *                      per runtime; a short id resolved to its full one
 * Functions one file lends another are named ctr_*.
 */
#ifndef SAKER_CONTAINERS_INT_H
#define SAKER_CONTAINERS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/list.h"
#include "state/containers.h"

#define MAX_OWNED 24

struct entry {
	struct saker_container pub;
	struct saker_list_node lru;
	struct entry *hnext;
	enum saker_ctr_runtime want_rt; /* what learn() was told, kept for refresh */
	char *want_ns;
	char *cg_type, *cg_pod_uid; /* what the cgroup told */
	char *own[MAX_OWNED];
	unsigned nown;
	struct saker_ctr_label *labels;
	bool retried; /* a not-found entry the sweep already read again */
};

struct saker_containers {
	struct entry **buckets;
	size_t nbuckets; /* power of two */
	size_t n, max;
	struct saker_list lru;
	char *root[SAKER_CTR_RT_COUNT];
	bool disabled[SAKER_CTR_RT_COUNT];
	unsigned cap_last;
	struct saker_containers_stats st;
};

/*
 * Fills e from runtime rt's files (ns: containerd's namespace, or NULL for
 * any). 0, -ENOENT (or -ENOTDIR) when rt has no files for it, else what
 * reading or parsing them failed with.
 */
int ctr_read_rt(struct saker_containers *c, struct entry *e, enum saker_ctr_runtime rt,
		const char *ns);
/* The one full id a short one begins, in the runtimes' roots; false when none or several. */
bool ctr_resolve_short(struct saker_containers *c, const char *shortid, char *out, size_t size);

#endif
