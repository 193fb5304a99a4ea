/* The small integer-keyed hash both state tables use. */
#ifndef SAKER_IDMAP_H
#define SAKER_IDMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Open addressing with linear probing and backward-shift deletion, so no
 * tombstones accumulate under churn. Values are non-NULL pointers.
 */
struct saker_idmap_slot {
	uint64_t key;
	void *val; /* NULL = empty */
};

struct saker_idmap {
	struct saker_idmap_slot *slots;
	size_t cap; /* power of two, 0 before the first insert */
	size_t n;
};

void saker_idmap_init(struct saker_idmap *m);
void saker_idmap_free(struct saker_idmap *m); /* the slots only; NULL ok */
void *saker_idmap_get(const struct saker_idmap *m, uint64_t key);
/* Inserts or replaces. 0, -EINVAL (NULL val), or -ENOMEM with the map unchanged. */
int saker_idmap_put(struct saker_idmap *m, uint64_t key, void *val);
/* Removes and returns the value, NULL when absent. */
void *saker_idmap_del(struct saker_idmap *m, uint64_t key);
size_t saker_idmap_bytes(const struct saker_idmap *m);

#endif
