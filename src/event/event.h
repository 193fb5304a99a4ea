/*
 * Decoding of one ring record (saker_abi.h): the header, then
 * self-describing parameters back to back. saker_event_parse() checks the
 * whole record once (every length inside hdr.len, every kind known, integer
 * payloads exactly 8 bytes), so the accessors below never fail on a parsed
 * event except for "absent", "unreadable" or "not that kind".
 *
 * A parsed event points into the record: it is valid while the record is.
 */
#ifndef SAKER_EVENT_H
#define SAKER_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"

/* One parameter, as found in the record. */
struct saker_param {
	uint8_t name;	    /* enum saker_param_name; may be >= SAKER_PN_MAX (newer probe) */
	uint8_t kind;	    /* enum saker_param_kind, flags removed */
	uint8_t flags;	    /* SAKER_PF_UNREADABLE, SAKER_PF_TRUNCATED */
	uint16_t len;	    /* payload bytes */
	const uint8_t *val; /* len bytes inside the record, unaligned */
};

struct saker_event {
	struct saker_evt_hdr hdr; /* a copy: the record need not be aligned */
	const uint8_t *rec;	  /* the record; params from offset sizeof(hdr) to hdr.len */
	unsigned nparams;
	/* Offset in rec of the first parameter of each known name, 0 = absent. */
	uint16_t idx[SAKER_PN_MAX];
};

/*
 * Validates rec (len bytes as the ring handed it over; hdr.len may be
 * shorter, never longer) and fills ev. -EBADMSG on any malformation: short
 * record, hdr.len out of [32, len], unknown event type, a parameter that
 * runs past hdr.len, an unknown kind, an integer whose payload is not 8
 * bytes (0 when unreadable), or trailing bytes too short for a parameter.
 * Unknown parameter names are accepted (the ABI lets the probe add some).
 */
int saker_event_parse(struct saker_event *ev, const void *rec, size_t len);

/*
 * Iteration in record order: *pos starts at 0; false at the end. Only on a
 * parsed event (the bounds were checked by the parse).
 */
bool saker_event_next(const struct saker_event *ev, size_t *pos, struct saker_param *out);

/* The first parameter with that name: 0, or -ENOENT. */
int saker_event_get(const struct saker_event *ev, unsigned name, struct saker_param *out);

/*
 * Integer parameters. U64 and S64 are both accepted (the value's 64 bits as
 * they are). -ENOENT absent, -ENODATA unreadable, -EINVAL not an integer.
 */
int saker_event_get_u64(const struct saker_event *ev, unsigned name, uint64_t *out);
int saker_event_get_s64(const struct saker_event *ev, unsigned name, int64_t *out);
/* Same on a parameter already found. */
int saker_param_u64(const struct saker_param *p, uint64_t *out);

/*
 * A STR parameter copied NUL-terminated into buf (cut at the first NUL of
 * the payload, if any). -ENOENT, -ENODATA (unreadable), -EINVAL (not a
 * string), -ENAMETOOLONG when it did not fit (buf then holds the start).
 */
int saker_event_get_str(const struct saker_event *ev, unsigned name, char *buf, size_t size);

/* A decoded SOCKADDR parameter. */
struct saker_sockaddr {
	uint16_t family;  /* AF_INET, AF_INET6, AF_UNIX, or another (nothing else decoded) */
	uint16_t port;	  /* host order */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	bool abstract;	  /* AF_UNIX in the abstract namespace (path is the name after the NUL) */
	uint8_t path_len; /* AF_UNIX: bytes in path, 0 = unnamed */
	char path[109];	  /* AF_UNIX: NUL-terminated; may hold NULs before path_len when abstract */
};

/*
 * Decodes a SOCKADDR parameter: -EINVAL not a sockaddr, -ENODATA unreadable
 * or shorter than the family needs (2 bytes; 8 for AF_INET, 24 for AF_INET6).
 */
int saker_sockaddr_decode(const struct saker_param *p, struct saker_sockaddr *out);

/* "path", "dirfd", ...; NULL for names this build does not know. */
const char *saker_param_name_str(unsigned name);
/* "u64", "s64", "str", "strlist", "sockaddr"; NULL when unknown. */
const char *saker_param_kind_str(unsigned kind);
/* "syscall", "sched_process_fork", "sched_process_exec", "sched_process_exit"; NULL when unknown.
 */
const char *saker_evt_type_str(unsigned type);

#endif
