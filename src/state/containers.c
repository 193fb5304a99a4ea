/*
 * Container metadata from the runtimes' files (containers.h): the cache
 * (hashed by short id, LRU-bounded, swept when the files are gone). The
 * readers of each runtime's files are in containers_read.c.
 */
#include "state/containers_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hash.h"
#include "lib/list.h"

static const char *const rt_names[SAKER_CTR_RT_COUNT] = {
    [SAKER_CTR_RT_DOCKER] = "docker",
    [SAKER_CTR_RT_CONTAINERD] = "containerd",
    [SAKER_CTR_RT_CRIO] = "cri-o",
    [SAKER_CTR_RT_PODMAN] = "podman",
};

static const char *const rt_roots[SAKER_CTR_RT_COUNT] = {
    [SAKER_CTR_RT_DOCKER] = "/var/lib/docker/containers",
    [SAKER_CTR_RT_CONTAINERD] = "/run/containerd/io.containerd.runtime.v2.task",
    [SAKER_CTR_RT_CRIO] = "/run/containers/storage/overlay-containers",
    [SAKER_CTR_RT_PODMAN] = "/var/lib/containers/storage/overlay-containers",
};

const char *saker_ctr_runtime_name(enum saker_ctr_runtime rt)
{
	return (unsigned)rt < SAKER_CTR_RT_COUNT ? rt_names[rt] : NULL;
}

enum saker_ctr_runtime saker_ctr_runtime_parse(const char *name)
{
	if (!name)
		return SAKER_CTR_RT_UNKNOWN;
	if (!strcmp(name, "crio") || !strcmp(name, "cri"))
		return SAKER_CTR_RT_CRIO;
	for (unsigned i = 1; i < SAKER_CTR_RT_COUNT; i++)
		if (!strcmp(name, rt_names[i]))
			return (enum saker_ctr_runtime)i;
	return SAKER_CTR_RT_UNKNOWN;
}

const char *saker_ctr_default_root(enum saker_ctr_runtime rt)
{
	return (unsigned)rt < SAKER_CTR_RT_COUNT ? rt_roots[rt] : NULL;
}

static unsigned read_cap_last(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long v;

	if (fd < 0)
		return 40;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 40;
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 0 && v < 256 ? (unsigned)v : 40;
}

int saker_containers_new(struct saker_containers **out, const struct saker_containers_opts *o)
{
	struct saker_containers *c;
	size_t max = o && o->max ? o->max : SAKER_CTR_DEFAULT_MAX;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->max = max;
	c->nbuckets = 16;
	while (c->nbuckets < 2 * max && c->nbuckets < (1u << 20))
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	saker_list_init(&c->lru);
	for (unsigned i = 1; i < SAKER_CTR_RT_COUNT; i++) {
		const char *r = o && o->root[i] && *o->root[i] ? o->root[i] : rt_roots[i];

		c->root[i] = strdup(r);
		if (!c->root[i]) {
			saker_containers_free(c);
			return -ENOMEM;
		}
		c->disabled[i] = o ? o->disabled[i] : false;
	}
	c->cap_last = o && o->cap_last ? o->cap_last : read_cap_last();
	c->st.max_entries = max;
	*out = c;
	return 0;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->nown; i++)
		free(e->own[i]);
	free(e->labels);
	free(e->want_ns);
	free(e->cg_type);
	free(e->cg_pod_uid);
	free(e);
}

void saker_containers_free(struct saker_containers *c)
{
	if (!c)
		return;
	for (size_t b = 0; c->buckets && b < c->nbuckets; b++) {
		struct entry *e = c->buckets[b], *nx;

		for (; e; e = nx) {
			nx = e->hnext;
			entry_free(e);
		}
	}
	free(c->buckets);
	for (unsigned i = 0; i < SAKER_CTR_RT_COUNT; i++)
		free(c->root[i]);
	free(c);
}

/* Entries are hashed by their short id, so a full id and its first 12 characters find the same. */
static size_t bucket_of(const struct saker_containers *c, const char *id)
{
	size_t n = strnlen(id, SAKER_CTR_SHORT_ID_LEN);

	return (size_t)saker_hash_fnv1a(id, n) & (c->nbuckets - 1);
}

static struct entry *find(const struct saker_containers *c, const char *id)
{
	size_t len = strlen(id);
	struct entry *e = c->buckets[bucket_of(c, id)];

	for (; e; e = e->hnext) {
		if (len == SAKER_CTR_SHORT_ID_LEN ? !strcmp(e->pub.id, id)
						  : !strcmp(e->pub.full_id, id))
			return e;
	}
	return NULL;
}

/* The cached entry of id, unchanged; NULL when there is none (or no c, or no id). */
static struct entry *cached(const struct saker_containers *c, const char *id)
{
	return c && id && *id ? find(c, id) : NULL;
}

static void unlink_entry(struct saker_containers *c, struct entry *e)
{
	struct entry **pp = &c->buckets[bucket_of(c, e->pub.full_id)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	saker_list_unlink(&c->lru, &e->lru);
	c->n--;
}

const struct saker_container *saker_containers_peek(const struct saker_containers *c,
						    const char *id)
{
	struct entry *e = cached(c, id);

	return e ? &e->pub : NULL;
}

const struct saker_container *saker_containers_get(struct saker_containers *c, const char *id)
{
	struct entry *e;

	if (!c || !id || !*id)
		return NULL;
	c->st.lookups++;
	e = find(c, id);
	if (!e) {
		c->st.misses++;
		return NULL;
	}
	saker_list_touch(&c->lru, &e->lru);
	return &e->pub;
}

/* Forgets what a read filled: the ids stay, privileged is unknown. */
static void entry_clear(struct entry *e)
{
	char full[SAKER_CTR_ID_MAX + 1], shortid[SAKER_CTR_SHORT_ID_LEN + 1];

	memcpy(full, e->pub.full_id, sizeof(full));
	memcpy(shortid, e->pub.id, sizeof(shortid));
	for (unsigned i = 0; i < e->nown; i++)
		free(e->own[i]);
	e->nown = 0;
	free(e->labels);
	e->labels = NULL;
	memset(&e->pub, 0, sizeof(e->pub));
	memcpy(e->pub.full_id, full, sizeof(full));
	memcpy(e->pub.id, shortid, sizeof(shortid));
	e->pub.privileged = -1;
}

/* Clears what a read filled and reads again. */
static void entry_read(struct saker_containers *c, struct entry *e)
{
	static const enum saker_ctr_runtime order[] = {SAKER_CTR_RT_CONTAINERD, SAKER_CTR_RT_CRIO,
						       SAKER_CTR_RT_DOCKER, SAKER_CTR_RT_PODMAN};
	int rc = -ENOENT, bad = 0;

	entry_clear(e);
	c->st.reads++;
	if (e->want_rt != SAKER_CTR_RT_UNKNOWN) {
		rc = ctr_read_rt(c, e, e->want_rt, e->want_ns);
		if (rc == 0)
			e->pub.runtime = e->want_rt;
		else if (rc != -ENOENT && rc != -ENOTDIR)
			bad = rc;
	}
	/* a cgroup layout several runtimes use (kubepods folders): the others are tried too */
	for (size_t i = 0; rc < 0 && i < 4; i++) {
		if (order[i] == e->want_rt)
			continue;
		rc = ctr_read_rt(c, e, order[i], e->want_ns);
		if (rc == 0)
			e->pub.runtime = order[i];
		else if (rc != -ENOENT && rc != -ENOTDIR)
			bad = rc;
	}
	if (rc == 0) {
		e->pub.found = true;
		e->pub.type = rt_names[e->pub.runtime];
		if (!e->pub.pod_uid)
			e->pub.pod_uid = e->cg_pod_uid;
		return;
	}
	if (rc != -ENOENT && rc != -ENOTDIR)
		bad = rc;
	entry_clear(e);
	e->pub.type = e->cg_type;
	e->pub.pod_uid = e->cg_pod_uid;
	if (bad)
		c->st.read_errors++;
	else
		c->st.not_found++;
}

const struct saker_container *saker_containers_learn(struct saker_containers *c,
						     enum saker_ctr_runtime rt, const char *ns,
						     const char *full_id, int *err)
{
	return saker_containers_learn_as(c, rt, ns, full_id, NULL, NULL, err);
}

const struct saker_container *saker_containers_learn_as(struct saker_containers *c,
							enum saker_ctr_runtime rt, const char *ns,
							const char *full_id, const char *type,
							const char *pod_uid, int *err)
{
	struct entry *e;
	size_t len;
	int dummy;
	char resolved[SAKER_CTR_ID_MAX + 1];

	if (!err)
		err = &dummy;
	*err = 0;
	if (!c || !full_id || !(len = strlen(full_id)) || len > SAKER_CTR_ID_MAX ||
	    strchr(full_id, '/') || !strcmp(full_id, ".") || !strcmp(full_id, "..")) {
		*err = -EINVAL;
		return NULL;
	}
	if ((unsigned)rt >= SAKER_CTR_RT_COUNT)
		rt = SAKER_CTR_RT_UNKNOWN;
	e = find(c, full_id);
	if (e && (len == SAKER_CTR_SHORT_ID_LEN || !strcmp(e->pub.full_id, full_id))) {
		saker_list_touch(&c->lru, &e->lru);
		return &e->pub;
	}
	if (len == SAKER_CTR_SHORT_ID_LEN &&
	    ctr_resolve_short(c, full_id, resolved, sizeof(resolved))) {
		full_id = resolved;
		len = strlen(full_id);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((type && *type && !(e->cg_type = strdup(type))) ||
	    (pod_uid && *pod_uid && !(e->cg_pod_uid = strdup(pod_uid)))) {
		entry_free(e);
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(e->pub.full_id, full_id, len + 1);
	memcpy(e->pub.id, full_id, len < SAKER_CTR_SHORT_ID_LEN ? len : SAKER_CTR_SHORT_ID_LEN);
	e->want_rt = rt;
	if (ns && !(e->want_ns = strdup(ns))) {
		entry_free(e);
		*err = -ENOMEM;
		return NULL;
	}
	while (c->n >= c->max && c->lru.tail) {
		struct entry *old = saker_list_entry(c->lru.tail, struct entry, lru);

		unlink_entry(c, old);
		entry_free(old);
		c->st.evictions++;
	}
	entry_read(c, e);
	{
		size_t b = bucket_of(c, e->pub.full_id);

		e->hnext = c->buckets[b];
		c->buckets[b] = e;
	}
	saker_list_push_front(&c->lru, &e->lru);
	c->n++;
	return &e->pub;
}

int saker_containers_refresh(struct saker_containers *c, const char *id)
{
	struct entry *e = cached(c, id);

	if (!e)
		return -ENOENT;
	entry_read(c, e);
	return 0;
}

int saker_containers_forget(struct saker_containers *c, const char *id)
{
	struct entry *e = cached(c, id);

	if (!e)
		return -ENOENT;
	unlink_entry(c, e);
	entry_free(e);
	c->st.forgotten++;
	return 0;
}

size_t saker_containers_sweep(struct saker_containers *c)
{
	size_t gone = 0;
	struct saker_list_node *n, *prev;

	if (!c)
		return 0;
	for (n = c->lru.tail; n; n = prev) {
		struct entry *e = saker_list_entry(n, struct entry, lru);

		prev = n->prev;
		if (!e)
			break;
		if (!e->pub.found) {
			/* files written after the first exec (rare): one more look, then forgotten
			 */
			if (!e->retried) {
				e->retried = true;
				entry_read(c, e);
				continue;
			}
		} else if (access(e->pub.source, F_OK) == 0 || errno != ENOENT) {
			continue;
		}
		unlink_entry(c, e);
		entry_free(e);
		c->st.forgotten++;
		gone++;
	}
	return gone;
}

void saker_containers_get_stats(const struct saker_containers *c, struct saker_containers_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!c)
		return;
	*st = c->st;
	st->entries = c->n;
}
