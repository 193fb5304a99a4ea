/*
 * Capture files (`saker -w FILE`, `engine.kind: replay`): the ring records
 * exactly as capture hands them to the pipeline, before decode, after a
 * header that lets another run rebuild what the live run knew at start.
 * Pure format code: encoding into a buffer, decoding from memory (or a
 * mapped file); no threads, no logging (capture/record.c writes, app/replay.c
 * plays).
 *
 * Layout, every integer little-endian (the records themselves are the
 * probe's structs, host order: a file is read on the architecture it was
 * written on, which the syscall-table identity also pins):
 *   "SAKERCAP" (8 bytes), u32 format version, u32 0
 *   blocks, each a u32 type, a u32 payload length, the payload, then zero
 *   padding to a multiple of 8 (so a record's header is 8-byte aligned):
 *     META          once, first: table identity, boot-time offset, saker version
 *     PROC, FD      the view's process and fd tables at start (the /proc scan)
 *     SNAPSHOT_END  once, after the snapshot
 *     RECORD        one ring record, as long as its payload
 *   A file ends after its last whole block; anything else (a block cut
 *   short, an unknown type, a PROC after the snapshot) is an error reported
 *   as "FILE:offset: what is wrong", offset being the block's first byte.
 */
#ifndef SAKER_CAPFILE_H
#define SAKER_CAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "lib/sbuf.h"

#define SAKER_CAPFILE_MAGIC   "SAKERCAP"
#define SAKER_CAPFILE_VERSION 1u
/* File header (magic, version, reserved) and block header sizes. */
#define SAKER_CAPFILE_HDR_BYTES	  16u
#define SAKER_CAPFILE_BLOCK_BYTES 8u
/* Bounds the reader enforces on snapshot strings (what the tables keep). */
#define SAKER_CAPFILE_MAX_STR  4096u
#define SAKER_CAPFILE_MAX_ARGS 4096u

enum saker_capfile_block {
	SAKER_CAPFILE_META = 1,
	SAKER_CAPFILE_PROC = 2,
	SAKER_CAPFILE_FD = 3,
	SAKER_CAPFILE_SNAPSHOT_END = 4,
	SAKER_CAPFILE_RECORD = 5,
};

struct saker_capfile_meta {
	uint64_t table_id; /* saker_capfile_table_id() of the writer */
	/* CLOCK_REALTIME - CLOCK_BOOTTIME at start, ns: record ts_ns + this = wall clock */
	int64_t boot_offset_ns;
	uint64_t start_real_ns; /* when the recording started (CLOCK_REALTIME ns) */
	char version[32];	/* saker's version, NUL-terminated */
};

/*
 * One thread of the process table at start. Strings point into the file
 * (or the caller's memory when writing); lengths exclude any final NUL,
 * except args, which is argv as /proc gives it (NUL-separated).
 */
struct saker_capfile_proc {
	uint32_t tid, pid, ppid;
	uint32_t uid, gid, euid, egid, loginuid, tty, flags;
	uint64_t start_ns, cgroup_id;
	uint64_t cap_eff; /* with SAKER_PROC_CAPS_KNOWN in flags (state/proctable.h) */
	char comm[16];
	const char *exe, *args, *cwd, *cgroup, *container_id;
	uint32_t exe_len, args_len, cwd_len, cgroup_len, container_id_len;
};

/* One descriptor of the fd table at start (fields as state/fdtable.h has them). */
struct saker_capfile_fd {
	uint32_t pid;
	int32_t fd;
	uint32_t type, open_flags, flags;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	uint8_t l4proto;
	const char *name;
	uint32_t name_len;
};

/*
 * Identity of what a record means: the syscall table's rows (names, ids,
 * parameters) and the record ABI's sizes, hashed. A file whose identity is
 * not this build's is refused, since its records would decode differently.
 */
uint64_t saker_capfile_table_id(void);

/* ---- writing: each appends to b (check b->oom once at the end) ---- */

void saker_capfile_put_header(struct saker_sbuf *b, const struct saker_capfile_meta *m);
void saker_capfile_put_proc(struct saker_sbuf *b, const struct saker_capfile_proc *p);
void saker_capfile_put_fd(struct saker_sbuf *b, const struct saker_capfile_fd *f);
void saker_capfile_put_snapshot_end(struct saker_sbuf *b);
/* One record, len bytes (len >= sizeof(struct saker_evt_hdr), < 64 KiB). */
void saker_capfile_put_record(struct saker_sbuf *b, const void *rec, size_t len);
/* Bytes put_record appends for a record of len bytes. */
size_t saker_capfile_record_bytes(size_t len);

/* ---- reading ---- */

struct saker_capfile_reader;

enum saker_capfile_item_kind {
	SAKER_CAPFILE_ITEM_PROC = 1,
	SAKER_CAPFILE_ITEM_FD,
	SAKER_CAPFILE_ITEM_SNAPSHOT_END,
	SAKER_CAPFILE_ITEM_RECORD,
};

struct saker_capfile_item {
	enum saker_capfile_item_kind kind;
	uint64_t offset; /* of the block in the file */
	struct saker_capfile_proc proc;
	struct saker_capfile_fd fd;
	const struct saker_evt_hdr *rec; /* 8-byte aligned; valid until the next call */
	size_t rec_len;
};

/*
 * Opens path (mapped read-only) and reads its header and META; name is what
 * errors call the file. The identity is checked: a file of another build is
 * -EPROTO. Errors: "FILE:offset: what is wrong" in err, a negative errno.
 */
int saker_capfile_open(struct saker_capfile_reader **out, const char *path, char *err,
		       size_t errlen);
/* The same over len bytes at data (kept by the caller while the reader lives). */
int saker_capfile_open_mem(struct saker_capfile_reader **out, const void *data, size_t len,
			   const char *name, char *err, size_t errlen);
void saker_capfile_close(struct saker_capfile_reader *r);

const struct saker_capfile_meta *saker_capfile_meta(const struct saker_capfile_reader *r);
/*
 * The next item: 1 with *it filled, 0 at the end of the file, or a negative
 * errno (-EBADMSG for a corrupt or truncated file) with "FILE:offset: what"
 * in err. After an error every later call returns the same error.
 */
int saker_capfile_next(struct saker_capfile_reader *r, struct saker_capfile_item *it, char *err,
		       size_t errlen);
/* Bytes consumed so far, and the file's size. */
uint64_t saker_capfile_offset(const struct saker_capfile_reader *r);
uint64_t saker_capfile_size(const struct saker_capfile_reader *r);
/* Rewinds to the first block after META (benchmarks replay a file several times). */
void saker_capfile_rewind(struct saker_capfile_reader *r);

#endif
