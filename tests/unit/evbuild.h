/*
 * Test helper: builds ring records by hand, in the layout saker_abi.h fixes
 * (header, then param headers and payloads back to back, unaligned), the way
 * the probe lays them out. Shared by test_event.c, test_dump.c, test_view.c.
 */
#ifndef SAKER_TEST_EVBUILD_H
#define SAKER_TEST_EVBUILD_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "saker_abi.h"
#include "capture/syscalls.h"

struct evb {
	/* Room past the largest record, so tests can build oversized ones. */
	uint8_t buf[2 * SAKER_MAX_EVENT_SIZE];
	size_t len;
};

static inline struct saker_evt_hdr *evb_hdr(struct evb *b)
{
	return (struct saker_evt_hdr *)(void *)b->buf;
}

static inline void evb_begin(struct evb *b, uint16_t type, uint16_t sc, uint32_t tid, uint32_t tgid,
			     int64_t ret, uint64_t ts)
{
	struct saker_evt_hdr h = {
	    .ts_ns = ts,
	    .tid = tid,
	    .tgid = tgid,
	    .ret = ret,
	    .type = type,
	    .syscall_id = sc,
	    .cpu = 3,
	};

	memset(b->buf, 0, sizeof(b->buf));
	memcpy(b->buf, &h, sizeof(h));
	b->len = sizeof(h);
}

/* A syscall exit record for the syscall called name. */
static inline void evb_sc(struct evb *b, const char *name, uint32_t tid, uint32_t tgid, int64_t ret,
			  uint64_t ts)
{
	int id = saker_syscall_id(name);

	evb_begin(b, SAKER_EVT_SYSCALL, (uint16_t)(id < 0 ? 0 : id), tid, tgid, ret, ts);
}

static inline void evb_raw(struct evb *b, uint8_t name, uint8_t kind, const void *val, size_t len)
{
	struct saker_param_hdr ph = {.len = (uint16_t)len, .kind = kind, .name = name};

	memcpy(b->buf + b->len, &ph, sizeof(ph));
	if (len)
		memcpy(b->buf + b->len + sizeof(ph), val, len);
	b->len += sizeof(ph) + len;
}

static inline void evb_u64(struct evb *b, uint8_t name, uint64_t v)
{
	evb_raw(b, name, SAKER_PK_U64, &v, 8);
}

static inline void evb_s64(struct evb *b, uint8_t name, int64_t v)
{
	evb_raw(b, name, SAKER_PK_S64, &v, 8);
}

static inline void evb_str(struct evb *b, uint8_t name, const char *s)
{
	evb_raw(b, name, SAKER_PK_STR, s, strlen(s));
}

/* argv as the probe sends it: each string with its NUL. */
static inline void evb_strlist(struct evb *b, uint8_t name, const char *const *argv)
{
	uint8_t tmp[SAKER_MAX_ARGS];
	size_t n = 0;

	for (; *argv; argv++) {
		size_t l = strlen(*argv) + 1;

		memcpy(tmp + n, *argv, l);
		n += l;
	}
	evb_raw(b, name, SAKER_PK_STRLIST, tmp, n);
}

static inline void evb_sin(struct evb *b, uint8_t name, const char *ip, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	inet_pton(AF_INET, ip, &sa.sin_addr);
	evb_raw(b, name, SAKER_PK_SOCKADDR, &sa, sizeof(sa));
}

static inline void evb_sin6(struct evb *b, uint8_t name, const char *ip, uint16_t port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

	inet_pton(AF_INET6, ip, &sa.sin6_addr);
	evb_raw(b, name, SAKER_PK_SOCKADDR, &sa, sizeof(sa));
}

/* A pathname unix address; abstract names start with '\0' (pass their length). */
static inline void evb_sun(struct evb *b, uint8_t name, const char *path, size_t plen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memcpy(sa.sun_path, path, plen);
	evb_raw(b, name, SAKER_PK_SOCKADDR, &sa, 2 + plen + (plen && path[0] ? 1 : 0));
}

/* Sets hdr.len; returns the record. */
static inline const struct saker_evt_hdr *evb_end(struct evb *b)
{
	uint16_t len = (uint16_t)b->len;

	memcpy(b->buf + offsetof(struct saker_evt_hdr, len), &len, sizeof(len));
	return evb_hdr(b);
}

#endif
