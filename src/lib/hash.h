/*
 * FNV-1a, 64 bits: the hash of the rules' name index and value sets and of
 * the configuration hash /versions reports. Inline, because the rules
 * engine hashes event strings with it on the event path.
 */
#ifndef SAKER_HASH_H
#define SAKER_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SAKER_HASH_FNV1A_BASIS 0xcbf29ce484222325ull
#define SAKER_HASH_FNV1A_PRIME 0x100000001b3ull

/* n bytes from p (p may be NULL when n is 0). */
static inline uint64_t saker_hash_fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = SAKER_HASH_FNV1A_BASIS;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= SAKER_HASH_FNV1A_PRIME;
	}
	return h;
}

/* A NUL-terminated string, without its NUL (the same value as over its bytes). */
static inline uint64_t saker_hash_fnv1a_str(const char *s)
{
	uint64_t h = SAKER_HASH_FNV1A_BASIS;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= SAKER_HASH_FNV1A_PRIME;
	}
	return h;
}

#endif
