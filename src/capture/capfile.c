#include "capture/capfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/sctable.h"

/* Fixed parts of the payloads (strings follow PROC and FD). */
#define META_BYTES 56u
#define PROC_FIXED 100u
#define FD_FIXED   64u
/* A ring record's length is a u16 (struct saker_evt_hdr.len). */
#define MAX_RECORD 65535u

struct saker_capfile_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	size_t first_block; /* after META */
	bool mapped;
	bool snapshot_done;
	int err;	   /* sticky */
	char errmsg[640];  /* the sticky error's text */
	char name[256];	   /* for messages */
	uint64_t *scratch; /* an aligned copy of a record that was not */
	struct saker_capfile_meta meta;
};

/* ---- identity ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t saker_capfile_table_id(void)
{
	const uint32_t abi[] = {
	    (uint32_t)sizeof(struct saker_evt_hdr),
	    (uint32_t)sizeof(struct saker_param_hdr),
	    SAKER_EVT_TYPE_MAX,
	    SAKER_PK_MAX,
	    SAKER_PN_MAX,
	    SAKER_SYSCALL_MAX,
	    (uint32_t)sizeof(void *),
	};
	uint64_t h = 0xcbf29ce484222325ull;

#if defined(__x86_64__)
	h = fnv(h, "x86_64", 6);
#elif defined(__aarch64__)
	h = fnv(h, "aarch64", 7);
#else
	h = fnv(h, "other", 5);
#endif
	h = fnv(h, abi, sizeof(abi));
	for (size_t i = 0; i < saker_sctable_count(); i++) {
		const struct saker_sc_row *row = saker_sctable_at(i);

		h = fnv(h, row->name, strlen(row->name) + 1);
		h = fnv(h, &row->id, sizeof(row->id));
		h = fnv(h, &row->spec, sizeof(row->spec));
	}
	return h;
}

/* ---- writing ---- */

static void put_u16(struct saker_sbuf *b, uint16_t v)
{
	const char c[2] = {(char)(v & 0xff), (char)(v >> 8)};

	saker_sbuf_putn(b, c, 2);
}

static void put_u32(struct saker_sbuf *b, uint32_t v)
{
	char c[4];

	for (int i = 0; i < 4; i++)
		c[i] = (char)((v >> (8 * i)) & 0xff);
	saker_sbuf_putn(b, c, 4);
}

static void put_u64(struct saker_sbuf *b, uint64_t v)
{
	char c[8];

	for (int i = 0; i < 8; i++)
		c[i] = (char)((v >> (8 * i)) & 0xff);
	saker_sbuf_putn(b, c, 8);
}

static void put_pad(struct saker_sbuf *b, size_t payload)
{
	static const char zeros[8];

	if (payload % 8)
		saker_sbuf_putn(b, zeros, 8 - payload % 8);
}

static void put_block(struct saker_sbuf *b, uint32_t type, size_t payload)
{
	put_u32(b, type);
	put_u32(b, (uint32_t)payload);
}

static uint32_t clamp_len(const char *s, uint32_t n, uint32_t max)
{
	if (!s)
		return 0;
	return n < max ? n : max;
}

void saker_capfile_put_header(struct saker_sbuf *b, const struct saker_capfile_meta *m)
{
	char version[sizeof(m->version)] = {0};

	saker_sbuf_putn(b, SAKER_CAPFILE_MAGIC, 8);
	put_u32(b, SAKER_CAPFILE_VERSION);
	put_u32(b, 0);
	put_block(b, SAKER_CAPFILE_META, META_BYTES);
	put_u64(b, m->table_id);
	put_u64(b, (uint64_t)m->boot_offset_ns);
	put_u64(b, m->start_real_ns);
	snprintf(version, sizeof(version), "%s", m->version);
	saker_sbuf_putn(b, version, sizeof(version));
	put_pad(b, META_BYTES);
}

void saker_capfile_put_proc(struct saker_sbuf *b, const struct saker_capfile_proc *p)
{
	uint32_t exe = clamp_len(p->exe, p->exe_len, SAKER_CAPFILE_MAX_STR);
	uint32_t args = clamp_len(p->args, p->args_len, SAKER_CAPFILE_MAX_ARGS);
	uint32_t cwd = clamp_len(p->cwd, p->cwd_len, SAKER_CAPFILE_MAX_STR);
	uint32_t cg = clamp_len(p->cgroup, p->cgroup_len, SAKER_CAPFILE_MAX_STR);
	uint32_t cid = clamp_len(p->container_id, p->container_id_len, 64);
	size_t payload = PROC_FIXED + (size_t)exe + args + cwd + cg + cid;
	const uint32_t ids[] = {p->tid,	 p->pid,  p->ppid,     p->uid, p->gid,
				p->euid, p->egid, p->loginuid, p->tty, p->flags};

	put_block(b, SAKER_CAPFILE_PROC, payload);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		put_u32(b, ids[i]);
	put_u64(b, p->start_ns);
	put_u64(b, p->cgroup_id);
	put_u64(b, p->cap_eff);
	saker_sbuf_putn(b, p->comm, sizeof(p->comm));
	put_u32(b, exe);
	put_u32(b, args);
	put_u32(b, cwd);
	put_u32(b, cg);
	put_u32(b, cid);
	saker_sbuf_putn(b, p->exe ? p->exe : "", exe);
	saker_sbuf_putn(b, p->args ? p->args : "", args);
	saker_sbuf_putn(b, p->cwd ? p->cwd : "", cwd);
	saker_sbuf_putn(b, p->cgroup ? p->cgroup : "", cg);
	saker_sbuf_putn(b, p->container_id ? p->container_id : "", cid);
	put_pad(b, payload);
}

void saker_capfile_put_fd(struct saker_sbuf *b, const struct saker_capfile_fd *f)
{
	uint32_t name = clamp_len(f->name, f->name_len, SAKER_CAPFILE_MAX_STR);
	size_t payload = FD_FIXED + (size_t)name;
	static const char pad3[3];

	put_block(b, SAKER_CAPFILE_FD, payload);
	put_u32(b, f->pid);
	put_u32(b, (uint32_t)f->fd);
	put_u32(b, f->type);
	put_u32(b, f->open_flags);
	put_u32(b, f->flags);
	saker_sbuf_putn(b, (const char *)f->laddr, 16);
	saker_sbuf_putn(b, (const char *)f->raddr, 16);
	put_u16(b, f->lport);
	put_u16(b, f->rport);
	saker_sbuf_putn(b, (const char *)&f->l4proto, 1);
	saker_sbuf_putn(b, pad3, 3);
	put_u32(b, name);
	saker_sbuf_putn(b, f->name ? f->name : "", name);
	put_pad(b, payload);
}

void saker_capfile_put_snapshot_end(struct saker_sbuf *b)
{
	put_block(b, SAKER_CAPFILE_SNAPSHOT_END, 0);
}

size_t saker_capfile_record_bytes(size_t len)
{
	return SAKER_CAPFILE_BLOCK_BYTES + (len + 7) / 8 * 8;
}

void saker_capfile_put_record(struct saker_sbuf *b, const void *rec, size_t len)
{
	if (len > MAX_RECORD)
		len = MAX_RECORD;
	put_block(b, SAKER_CAPFILE_RECORD, len);
	saker_sbuf_putn(b, rec, len);
	put_pad(b, len);
}

/* ---- reading ---- */

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Records the sticky error and its text ("FILE:offset: what"). */
__attribute__((format(printf, 4, 5))) static int fail(struct saker_capfile_reader *r, int err,
						      size_t off, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->errmsg, sizeof(r->errmsg), "%s:%zu: %s", r->name, off, what);
	r->err = err;
	return err;
}

static int report(const struct saker_capfile_reader *r, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", r->errmsg);
	return r->err;
}

static int read_meta(struct saker_capfile_reader *r)
{
	const uint8_t *p = r->data;
	uint32_t version, type, len;

	if (r->len < SAKER_CAPFILE_HDR_BYTES)
		return fail(r, -EBADMSG, 0, "not a saker capture file (%zu bytes, too short)",
			    r->len);
	if (memcmp(p, SAKER_CAPFILE_MAGIC, 8) != 0)
		return fail(r, -EBADMSG, 0, "not a saker capture file (bad magic)");
	version = get_u32(p + 8);
	if (version != SAKER_CAPFILE_VERSION)
		return fail(r, -EPROTO, 8, "capture format version %u, this saker reads version %u",
			    version, SAKER_CAPFILE_VERSION);
	if (r->len < SAKER_CAPFILE_HDR_BYTES + SAKER_CAPFILE_BLOCK_BYTES + META_BYTES)
		return fail(r, -EBADMSG, SAKER_CAPFILE_HDR_BYTES,
			    "truncated: the header block is cut short");
	p += SAKER_CAPFILE_HDR_BYTES;
	type = get_u32(p);
	len = get_u32(p + 4);
	if (type != SAKER_CAPFILE_META || len != META_BYTES)
		return fail(
		    r, -EBADMSG, SAKER_CAPFILE_HDR_BYTES,
		    "expected the header block (type %u, %u bytes), found type %u, %u bytes",
		    SAKER_CAPFILE_META, META_BYTES, type, len);
	p += SAKER_CAPFILE_BLOCK_BYTES;
	r->meta.table_id = get_u64(p);
	r->meta.boot_offset_ns = (int64_t)get_u64(p + 8);
	r->meta.start_real_ns = get_u64(p + 16);
	memcpy(r->meta.version, p + 24, sizeof(r->meta.version));
	r->meta.version[sizeof(r->meta.version) - 1] = '\0';
	r->first_block = SAKER_CAPFILE_HDR_BYTES + SAKER_CAPFILE_BLOCK_BYTES + META_BYTES;
	r->pos = r->first_block;
	if (r->meta.table_id != saker_capfile_table_id())
		return fail(r, -EPROTO, SAKER_CAPFILE_HDR_BYTES + SAKER_CAPFILE_BLOCK_BYTES,
			    "recorded by saker %s with another syscall table (identity %016llx, "
			    "this build %016llx): its records would decode differently",
			    r->meta.version[0] ? r->meta.version : "?",
			    (unsigned long long)r->meta.table_id,
			    (unsigned long long)saker_capfile_table_id());
	return 0;
}

static int reader_new(struct saker_capfile_reader **out, const char *name)
{
	struct saker_capfile_reader *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "<capture>");
	*out = r;
	return 0;
}

int saker_capfile_open_mem(struct saker_capfile_reader **out, const void *data, size_t len,
			   const char *name, char *err, size_t errlen)
{
	struct saker_capfile_reader *r;
	int ret = reader_new(&r, name);

	*out = NULL;
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", name ? name : "<capture>");
		return ret;
	}
	r->data = data;
	r->len = data ? len : 0;
	ret = read_meta(r);
	if (ret) {
		report(r, err, errlen);
		saker_capfile_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

int saker_capfile_open(struct saker_capfile_reader **out, const char *path, char *err,
		       size_t errlen)
{
	struct saker_capfile_reader *r = NULL;
	struct stat st;
	void *map = NULL;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			ret = -errno;
			snprintf(err, errlen, "%s: cannot map: %s", path, strerror(-ret));
			close(fd);
			return ret;
		}
	}
	close(fd);
	ret = reader_new(&r, path);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", path);
		if (map)
			munmap(map, (size_t)st.st_size);
		return ret;
	}
	r->data = map;
	r->len = map ? (size_t)st.st_size : 0;
	r->mapped = map != NULL;
	if (r->mapped)
		(void)madvise(map, r->len, MADV_SEQUENTIAL);
	ret = read_meta(r);
	if (ret) {
		report(r, err, errlen);
		saker_capfile_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void saker_capfile_close(struct saker_capfile_reader *r)
{
	if (!r)
		return;
	if (r->mapped)
		munmap((void *)r->data, r->len);
	free(r->scratch);
	free(r);
}

const struct saker_capfile_meta *saker_capfile_meta(const struct saker_capfile_reader *r)
{
	return &r->meta;
}

uint64_t saker_capfile_offset(const struct saker_capfile_reader *r)
{
	return r->pos;
}

uint64_t saker_capfile_size(const struct saker_capfile_reader *r)
{
	return r->len;
}

void saker_capfile_rewind(struct saker_capfile_reader *r)
{
	if (r->err)
		return;
	r->pos = r->first_block;
	r->snapshot_done = false;
}

/* A string of n bytes at *p within end; NULs inside are refused, except in argv. */
static bool take_str(const uint8_t **p, const uint8_t *end, uint32_t n, bool nul_ok, const char **s)
{
	if ((size_t)(end - *p) < n)
		return false;
	if (!nul_ok && memchr(*p, '\0', n))
		return false;
	*s = (const char *)*p;
	*p += n;
	return true;
}

static int parse_proc(struct saker_capfile_reader *r, size_t off, const uint8_t *p, uint32_t len,
		      struct saker_capfile_proc *pr)
{
	const uint8_t *end = p + len;
	uint32_t *ids[] = {&pr->tid,  &pr->pid,	 &pr->ppid,	&pr->uid, &pr->gid,
			   &pr->euid, &pr->egid, &pr->loginuid, &pr->tty, &pr->flags};
	uint64_t total;

	if (len < PROC_FIXED)
		return fail(r, -EBADMSG, off, "process entry of %u bytes, at least %u expected",
			    len, PROC_FIXED);
	memset(pr, 0, sizeof(*pr));
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++, p += 4)
		*ids[i] = get_u32(p);
	pr->start_ns = get_u64(p);
	pr->cgroup_id = get_u64(p + 8);
	pr->cap_eff = get_u64(p + 16);
	p += 24;
	memcpy(pr->comm, p, sizeof(pr->comm));
	pr->comm[sizeof(pr->comm) - 1] = '\0';
	p += sizeof(pr->comm);
	pr->exe_len = get_u32(p);
	pr->args_len = get_u32(p + 4);
	pr->cwd_len = get_u32(p + 8);
	pr->cgroup_len = get_u32(p + 12);
	pr->container_id_len = get_u32(p + 16);
	p += 20;
	total = (uint64_t)pr->exe_len + pr->args_len + pr->cwd_len + pr->cgroup_len +
		pr->container_id_len;
	if (total != len - PROC_FIXED)
		return fail(r, -EBADMSG, off,
			    "process entry: its strings take %llu bytes, the entry has %u",
			    (unsigned long long)total, len - PROC_FIXED);
	if (pr->exe_len > SAKER_CAPFILE_MAX_STR || pr->cwd_len > SAKER_CAPFILE_MAX_STR ||
	    pr->cgroup_len > SAKER_CAPFILE_MAX_STR || pr->args_len > SAKER_CAPFILE_MAX_ARGS ||
	    pr->container_id_len > 64)
		return fail(r, -EBADMSG, off, "process entry: a string longer than its bound");
	if (!pr->tid || !pr->pid)
		return fail(r, -EBADMSG, off, "process entry with tid %u, pid %u", pr->tid,
			    pr->pid);
	if (!take_str(&p, end, pr->exe_len, false, &pr->exe) ||
	    !take_str(&p, end, pr->args_len, true, &pr->args) ||
	    !take_str(&p, end, pr->cwd_len, false, &pr->cwd) ||
	    !take_str(&p, end, pr->cgroup_len, false, &pr->cgroup) ||
	    !take_str(&p, end, pr->container_id_len, false, &pr->container_id))
		return fail(r, -EBADMSG, off, "process entry: a string holds a NUL byte");
	return 0;
}

static int parse_fd(struct saker_capfile_reader *r, size_t off, const uint8_t *p, uint32_t len,
		    struct saker_capfile_fd *f)
{
	const uint8_t *end = p + len;

	if (len < FD_FIXED)
		return fail(r, -EBADMSG, off, "descriptor entry of %u bytes, at least %u expected",
			    len, FD_FIXED);
	memset(f, 0, sizeof(*f));
	f->pid = get_u32(p);
	f->fd = (int32_t)get_u32(p + 4);
	f->type = get_u32(p + 8);
	f->open_flags = get_u32(p + 12);
	f->flags = get_u32(p + 16);
	memcpy(f->laddr, p + 20, 16);
	memcpy(f->raddr, p + 36, 16);
	f->lport = get_u16(p + 52);
	f->rport = get_u16(p + 54);
	f->l4proto = p[56];
	f->name_len = get_u32(p + 60);
	p += FD_FIXED;
	if (f->name_len != len - FD_FIXED || f->name_len > SAKER_CAPFILE_MAX_STR)
		return fail(r, -EBADMSG, off, "descriptor entry: a name of %u bytes in %u",
			    f->name_len, len - FD_FIXED);
	if (f->fd < 0 || !f->pid)
		return fail(r, -EBADMSG, off, "descriptor entry for pid %u, fd %d", f->pid, f->fd);
	if (f->type < 1 || f->type > 5)
		return fail(r, -EBADMSG, off, "descriptor entry of unknown type %u", f->type);
	if (!take_str(&p, end, f->name_len, false, &f->name))
		return fail(r, -EBADMSG, off, "descriptor entry: its name holds a NUL byte");
	return 0;
}

/* A block of the snapshot (a process, a descriptor, its end). */
static int next_snapshot(struct saker_capfile_reader *r, size_t off, uint32_t type,
			 const uint8_t *p, uint32_t len, struct saker_capfile_item *it)
{
	if (r->snapshot_done)
		return fail(r, -EBADMSG, off, "a snapshot block (type %u) after the snapshot",
			    type);
	if (type == SAKER_CAPFILE_PROC) {
		it->kind = SAKER_CAPFILE_ITEM_PROC;
		return parse_proc(r, off, p, len, &it->proc);
	}
	if (type == SAKER_CAPFILE_FD) {
		it->kind = SAKER_CAPFILE_ITEM_FD;
		return parse_fd(r, off, p, len, &it->fd);
	}
	if (len)
		return fail(r, -EBADMSG, off, "end of snapshot block of %u bytes, 0 expected", len);
	it->kind = SAKER_CAPFILE_ITEM_SNAPSHOT_END;
	r->snapshot_done = true;
	return 0;
}

static int next_record(struct saker_capfile_reader *r, size_t off, const uint8_t *p, uint32_t len,
		       struct saker_capfile_item *it)
{
	if (!r->snapshot_done)
		return fail(r, -EBADMSG, off, "a record before the end of the snapshot");
	if (len < sizeof(struct saker_evt_hdr) || len > MAX_RECORD)
		return fail(r, -EBADMSG, off, "record of %u bytes (expected %zu to %u)", len,
			    sizeof(struct saker_evt_hdr), MAX_RECORD);
	it->kind = SAKER_CAPFILE_ITEM_RECORD;
	it->rec_len = len;
	if (((uintptr_t)p & 7) == 0) {
		it->rec = (const struct saker_evt_hdr *)(const void *)p;
		return 0;
	}
	/* Memory a caller handed in need not be aligned; the decoder wants it. */
	if (!r->scratch)
		r->scratch = malloc(MAX_RECORD + 1);
	if (!r->scratch)
		return fail(r, -ENOMEM, off, "out of memory");
	memcpy(r->scratch, p, len);
	it->rec = (const struct saker_evt_hdr *)(const void *)r->scratch;
	return 0;
}

int saker_capfile_next(struct saker_capfile_reader *r, struct saker_capfile_item *it, char *err,
		       size_t errlen)
{
	const uint8_t *p;
	uint32_t type, len;
	size_t off = r->pos, padded, left;
	int ret = 0;

	if (r->err)
		return report(r, err, errlen);
	if (off == r->len)
		return 0;
	left = r->len - off;
	if (left < SAKER_CAPFILE_BLOCK_BYTES) {
		(void)fail(r, -EBADMSG, off, "truncated: %zu bytes left, a block header is %u",
			   left, SAKER_CAPFILE_BLOCK_BYTES);
		return report(r, err, errlen);
	}
	p = r->data + off;
	type = get_u32(p);
	len = get_u32(p + 4);
	padded = ((size_t)len + 7) / 8 * 8;
	if (padded > left - SAKER_CAPFILE_BLOCK_BYTES) {
		(void)fail(r, -EBADMSG, off,
			   "truncated: a block of %u bytes with %zu bytes left in the file", len,
			   left - SAKER_CAPFILE_BLOCK_BYTES);
		return report(r, err, errlen);
	}
	p += SAKER_CAPFILE_BLOCK_BYTES;
	memset(it, 0, sizeof(*it));
	it->offset = off;
	if (type == SAKER_CAPFILE_PROC || type == SAKER_CAPFILE_FD ||
	    type == SAKER_CAPFILE_SNAPSHOT_END)
		ret = next_snapshot(r, off, type, p, len, it);
	else if (type == SAKER_CAPFILE_RECORD)
		ret = next_record(r, off, p, len, it);
	else if (type == SAKER_CAPFILE_META)
		ret = fail(r, -EBADMSG, off, "a second header block");
	else
		ret = fail(r, -EBADMSG, off, "unknown block type %u", type);
	if (ret)
		return report(r, err, errlen);
	r->pos = off + SAKER_CAPFILE_BLOCK_BYTES + padded;
	return 1;
}
