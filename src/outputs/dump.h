/*
 * `saker --dump`: one line per captured event, text or JSON lines, in the
 * format docs/dump.md documents (tests and users parse it: keep it stable).
 *
 * Events are enriched from the view (comm, exe, fd names, paths resolved
 * against the cwd or a directory fd). Dump an event BEFORE the view applies
 * it, so that a close still shows what it closed; the table fields are the
 * state the event found.
 *
 * Every string that comes from the kernel or a process is escaped
 * (output_format.h rules): a process cannot forge a line or a field.
 */
#ifndef SAKER_DUMP_H
#define SAKER_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "saker_abi.h"
#include "lib/sbuf.h"
#include "capture/syscalls.h"

struct saker_view;
struct saker_event;

struct saker_dump {
	bool json;
	bool iso8601;		 /* text time as UTC ISO 8601 (JSON time always is) */
	int64_t boot_to_real_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, see saker_dump_boot_offset() */
	struct saker_view *view; /* NULL = no enrichment */
	struct saker_sbuf line;
	uint8_t sc_symlink[SAKER_SYSCALL_MAX]; /* syscalls whose PATH is a link target */
	/* The formatted calendar part of the last second seen (time_t tcache_sec). */
	bool tcache_valid;
	long long tcache_sec;
	char tcache[40];
	size_t tcache_len;
	uint64_t lines;
	uint64_t malformed;
	uint64_t write_errors;
};

void saker_dump_init(struct saker_dump *d, bool json, bool iso8601, int64_t boot_to_real_ns,
		     struct saker_view *view);
/* Frees the line buffer; NULL ok. */
void saker_dump_fini(struct saker_dump *d);

/*
 * Formats one ring record and writes it as one line (a single fwrite).
 * -EBADMSG (counted, nothing written) for a malformed record, -ENOMEM,
 * -EIO when out refused the line.
 */
int saker_dump_event(struct saker_dump *d, const struct saker_evt_hdr *e, size_t len, FILE *out);

/*
 * The line for an already decoded event, without the newline, in d->line
 * (valid until the next call). -ENOMEM.
 */
int saker_dump_format(struct saker_dump *d, const struct saker_event *ev);

/* CLOCK_REALTIME - CLOCK_BOOTTIME now, in ns (event ts_ns + this = wall clock). */
int64_t saker_dump_boot_offset(void);

#endif
