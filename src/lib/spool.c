#include "lib/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/errbuf.h"

#define REC_MAGIC  0x31534b53u /* "SKS1" */
#define ACK_MAGIC  0x314b4353u /* "SCK1" */
#define HDR_LEN	   12u
#define BODY_FIXED 4u
#define SEG_MAX	   (16ull << 20)
#define SEG_MIN	   (16ull << 10)
#define PATH_EXTRA 32

struct seg {
	uint64_t id;
	uint64_t size;
};

/* Where one pending record lies. */
struct idx {
	uint64_t seg;
	uint64_t off;
	uint32_t len; /* header included */
};

struct saker_spool {
	char *dir;
	uint64_t max_bytes;
	uint64_t seg_bytes; /* a segment is closed once it reaches this */

	struct seg *segs; /* oldest first */
	uint64_t next_id; /* never reused: `acked` may name a segment since removed */
	size_t n_segs, cap_segs;

	/* Pending records, oldest first: a ring. */
	struct idx *q;
	size_t q_cap, q_head, q_len;
	size_t q_read; /* handed out: the first q_read pending records */

	int wfd;	/* the newest segment, open for appending; -1 until the first append */
	bool dirty;	/* appended since the last fdatasync */
	bool ack_dirty; /* acknowledged since `acked` was last written */
	int rfd;	/* the segment being read */
	uint64_t rseg;

	char *buf;
	size_t buf_cap;
	struct saker_spool_stats st;
};

static void seg_path(const struct saker_spool *sp, uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/%016" PRIx64 ".spool", sp->dir, id);
}

static size_t path_len(const struct saker_spool *sp)
{
	return strlen(sp->dir) + PATH_EXTRA;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	np = realloc(*p, n * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

static struct idx *q_at(struct saker_spool *sp, size_t i)
{
	return &sp->q[(sp->q_head + i) % sp->q_cap];
}

static int q_push(struct saker_spool *sp, const struct idx *e)
{
	if (sp->q_len == sp->q_cap) {
		size_t ncap = sp->q_cap ? sp->q_cap * 2 : 256;
		struct idx *nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < sp->q_len; i++)
			nq[i] = *q_at(sp, i);
		free(sp->q);
		sp->q = nq;
		sp->q_cap = ncap;
		sp->q_head = 0;
	}
	sp->q[(sp->q_head + sp->q_len) % sp->q_cap] = *e;
	sp->q_len++;
	return 0;
}

static void q_pop(struct saker_spool *sp)
{
	sp->q_head = (sp->q_head + 1) % sp->q_cap;
	sp->q_len--;
}

static uint64_t total_bytes(const struct saker_spool *sp)
{
	uint64_t t = 0;

	for (size_t i = 0; i < sp->n_segs; i++)
		t += sp->segs[i].size;
	return t;
}

static int fsync_dir(const struct saker_spool *sp)
{
	int fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The acknowledged position: the first pending record, else the end of what was written. */
static void ack_pos(struct saker_spool *sp, uint64_t *seg, uint64_t *off)
{
	if (sp->q_len) {
		*seg = q_at(sp, 0)->seg;
		*off = q_at(sp, 0)->off;
	} else if (sp->n_segs) {
		*seg = sp->segs[sp->n_segs - 1].id;
		*off = sp->segs[sp->n_segs - 1].size;
	} else {
		*seg = 0;
		*off = 0;
	}
}

static int write_ack(struct saker_spool *sp)
{
	size_t pl = path_len(sp);
	char tmp[pl], path[pl];
	uint64_t v[2];
	uint32_t w[2];
	int fd, rc = 0;

	ack_pos(sp, &v[0], &v[1]);
	w[0] = ACK_MAGIC;
	w[1] = (uint32_t)crc32(0L, (const Bytef *)v, sizeof(v));
	snprintf(tmp, pl, "%s/acked.tmp", sp->dir);
	snprintf(path, pl, "%s/acked", sp->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, w, sizeof(w)) != (ssize_t)sizeof(w) ||
	    write(fd, v, sizeof(v)) != (ssize_t)sizeof(v))
		rc = errno ? -errno : -EIO;
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	else
		sp->ack_dirty = false;
	return rc;
}

static int read_ack(struct saker_spool *sp, uint64_t *seg, uint64_t *off)
{
	size_t pl = path_len(sp);
	char path[pl];
	uint32_t w[2];
	uint64_t v[2];
	int fd;
	bool ok;

	snprintf(path, pl, "%s/acked", sp->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ok = read(fd, w, sizeof(w)) == (ssize_t)sizeof(w) &&
	     read(fd, v, sizeof(v)) == (ssize_t)sizeof(v) && w[0] == ACK_MAGIC &&
	     w[1] == (uint32_t)crc32(0L, (const Bytef *)v, sizeof(v));
	close(fd);
	if (!ok)
		return -EBADMSG;
	*seg = v[0];
	*off = v[1];
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int list_segs(struct saker_spool *sp)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		uint64_t id;
		struct stat sb;

		if (strlen(de->d_name) != 22 || strcmp(de->d_name + 16, ".spool") != 0)
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 16);
		if (errno || end != de->d_name + 16)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		rc = grow((void **)&sp->segs, &sp->cap_segs, sp->n_segs + 1, sizeof(*sp->segs));
		if (rc)
			break;
		sp->segs[sp->n_segs++] = (struct seg){.id = id, .size = (uint64_t)sb.st_size};
	}
	closedir(d);
	if (!rc && sp->n_segs)
		qsort(sp->segs, sp->n_segs, sizeof(*sp->segs), cmp_seg);
	return rc;
}

static int ensure_buf(struct saker_spool *sp, size_t n)
{
	return grow((void **)&sp->buf, &sp->buf_cap, n, 1);
}

/*
 * Checks the record at off in fd (file size fsize): its total length, or 0
 * when it is damaged or cut short. The body is left in sp->buf.
 */
static uint32_t check_rec(struct saker_spool *sp, int fd, uint64_t off, uint64_t fsize)
{
	uint32_t h[3];

	if (fsize - off < HDR_LEN || pread(fd, h, HDR_LEN, (off_t)off) != (ssize_t)HDR_LEN)
		return 0;
	if (h[0] != REC_MAGIC || h[1] < BODY_FIXED || h[1] > SAKER_SPOOL_MAX_RECORD ||
	    fsize - off - HDR_LEN < h[1])
		return 0;
	if (ensure_buf(sp, h[1]) < 0 ||
	    pread(fd, sp->buf, h[1], (off_t)(off + HDR_LEN)) != (ssize_t)h[1])
		return 0;
	if ((uint32_t)crc32(0L, (const Bytef *)sp->buf, h[1]) != h[2])
		return 0;
	{
		uint16_t l[2];

		memcpy(l, sp->buf, sizeof(l));
		if ((uint64_t)l[0] + l[1] + BODY_FIXED > h[1])
			return 0;
	}
	return HDR_LEN + h[1];
}

/* Reads one segment from off, indexing its whole records; damage is counted and cut. */
static int scan_seg(struct saker_spool *sp, size_t si, uint64_t off, bool last)
{
	size_t pl = path_len(sp);
	char path[pl];
	struct seg *s = &sp->segs[si];
	int fd, rc = 0;

	seg_path(sp, s->id, path, pl);
	fd = open(path, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (off < s->size) {
		uint32_t len = check_rec(sp, fd, off, s->size);

		if (!len) {
			sp->st.corrupt++;
			sp->st.corrupt_bytes += s->size - off;
			if (last) {
				/* A torn tail: cut it, so nothing is ever appended after garbage.
				 */
				sp->st.torn_tails++;
				if (ftruncate(fd, (off_t)off) < 0)
					rc = -errno;
				else
					s->size = off;
			}
			break;
		}
		rc = q_push(sp, &(struct idx){.seg = s->id, .off = off, .len = len});
		if (rc)
			break;
		sp->st.recovered++;
		off += len;
	}
	close(fd);
	return rc;
}

static int remove_seg(struct saker_spool *sp, size_t i)
{
	size_t pl = path_len(sp);
	char path[pl];

	seg_path(sp, sp->segs[i].id, path, pl);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (sp->rfd >= 0 && sp->rseg == sp->segs[i].id) {
		close(sp->rfd);
		sp->rfd = -1;
	}
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->n_segs - i - 1) * sizeof(*sp->segs));
	sp->n_segs--;
	return 0;
}

/* Removes the segments that hold nothing pending, except the one being appended to. */
static void collect(struct saker_spool *sp)
{
	uint64_t first = sp->q_len ? q_at(sp, 0)->seg : UINT64_MAX;

	while (sp->n_segs) {
		bool is_write = sp->wfd >= 0 && sp->n_segs == 1;

		if (sp->segs[0].id >= first || is_write)
			break;
		if (remove_seg(sp, 0) < 0)
			break;
	}
}

/* The directory and its missing parents, 0700 (a fresh /var/lib/saker has no spool yet). */
static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; !rc; s++) {
		bool end = *s == '\0';

		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

int saker_spool_open(struct saker_spool **out, const struct saker_spool_opts *o, char *err,
		     size_t errlen)
{
	struct saker_spool *sp;
	uint64_t aseg = 0, aoff = 0;
	bool have_ack;
	int rc;

	*out = NULL;
	if (!o->dir || !*o->dir) {
		saker_set_err(err, errlen, "no spool directory");
		return -EINVAL;
	}
	if (o->max_bytes < SAKER_SPOOL_MIN_BYTES) {
		saker_set_err(err, errlen, "spool size %" PRIu64 " below the minimum %u",
			      o->max_bytes, SAKER_SPOOL_MIN_BYTES);
		return -EINVAL;
	}
	rc = mkdir_p(o->dir);
	if (rc) {
		saker_set_err(err, errlen, "%s: cannot create: %s", o->dir, strerror(-rc));
		return rc;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->wfd = sp->rfd = -1;
	sp->max_bytes = o->max_bytes;
	sp->seg_bytes = o->max_bytes / 8;
	if (sp->seg_bytes > SEG_MAX)
		sp->seg_bytes = SEG_MAX;
	if (sp->seg_bytes < SEG_MIN)
		sp->seg_bytes = SEG_MIN;
	sp->dir = strdup(o->dir);
	if (!sp->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = list_segs(sp);
	if (rc) {
		saker_set_err(err, errlen, "%s: %s", o->dir, strerror(-rc));
		goto fail;
	}
	have_ack = read_ack(sp, &aseg, &aoff) == 0;
	/* Without a valid position, everything present is resent (the server de-duplicates). */
	if (!have_ack && sp->n_segs)
		aseg = sp->segs[0].id, aoff = 0;
	while (sp->n_segs && sp->segs[0].id < aseg) {
		rc = remove_seg(sp, 0);
		if (rc) {
			saker_set_err(err, errlen, "%s: cannot remove an acknowledged segment: %s",
				      o->dir, strerror(-rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < sp->n_segs; i++) {
		uint64_t from = sp->segs[i].id == aseg ? aoff : 0;

		if (from > sp->segs[i].size)
			from = sp->segs[i].size;
		rc = scan_seg(sp, i, from, i + 1 == sp->n_segs);
		if (rc) {
			saker_set_err(err, errlen, "%s: reading segment %016" PRIx64 ": %s", o->dir,
				      sp->segs[i].id, strerror(-rc));
			goto fail;
		}
	}
	sp->st.pending = sp->st.recovered;
	sp->next_id = (sp->n_segs ? sp->segs[sp->n_segs - 1].id : 0) + 1;
	if (have_ack && aseg >= sp->next_id)
		sp->next_id = aseg + 1;
	collect(sp);
	sp->ack_dirty = true;
	*out = sp;
	return 0;
fail:
	saker_spool_close(sp);
	return rc;
}

/* Starts a new segment after the newest (closing the current one, synced). */
static int new_segment(struct saker_spool *sp)
{
	size_t pl = path_len(sp);
	char path[pl];
	uint64_t id = sp->next_id++;
	int fd, rc;

	if (sp->wfd >= 0) {
		if (sp->dirty && fdatasync(sp->wfd) == 0) {
			sp->dirty = false;
			sp->st.syncs++;
		}
		close(sp->wfd);
		sp->wfd = -1;
	}
	rc = grow((void **)&sp->segs, &sp->cap_segs, sp->n_segs + 1, sizeof(*sp->segs));
	if (rc)
		return rc;
	seg_path(sp, id, path, pl);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	sp->segs[sp->n_segs++] = (struct seg){.id = id, .size = 0};
	sp->wfd = fd;
	fsync_dir(sp);
	collect(sp);
	return 0;
}

int saker_spool_append(struct saker_spool *sp, const char *id, const char *subject,
		       const void *data, size_t len)
{
	size_t il = strlen(id), sl = strlen(subject);
	uint64_t body = BODY_FIXED + il + sl + len, reclen = HDR_LEN + body;
	uint32_t h[3];
	uint16_t l[2];
	struct seg *w;
	ssize_t n;
	int rc;

	if (il > SAKER_SPOOL_MAX_ID || sl > SAKER_SPOOL_MAX_SUBJECT ||
	    body > SAKER_SPOOL_MAX_RECORD)
		return -EMSGSIZE;
	if (total_bytes(sp) + reclen > sp->max_bytes) {
		sp->st.dropped_full++;
		return -ENOSPC;
	}
	if (sp->wfd < 0 || sp->segs[sp->n_segs - 1].size + reclen > sp->seg_bytes) {
		/* An empty segment is kept for a record larger than a segment. */
		if (sp->wfd < 0 || sp->segs[sp->n_segs - 1].size > 0) {
			rc = new_segment(sp);
			if (rc) {
				sp->st.write_errors++;
				return rc;
			}
			if (total_bytes(sp) + reclen > sp->max_bytes) {
				sp->st.dropped_full++;
				return -ENOSPC;
			}
		}
	}
	rc = ensure_buf(sp, (size_t)reclen);
	if (rc) {
		sp->st.write_errors++;
		return rc;
	}
	l[0] = (uint16_t)il;
	l[1] = (uint16_t)sl;
	memcpy(sp->buf + HDR_LEN, l, sizeof(l));
	memcpy(sp->buf + HDR_LEN + BODY_FIXED, id, il);
	memcpy(sp->buf + HDR_LEN + BODY_FIXED + il, subject, sl);
	if (len)
		memcpy(sp->buf + HDR_LEN + BODY_FIXED + il + sl, data, len);
	h[0] = REC_MAGIC;
	h[1] = (uint32_t)body;
	h[2] = (uint32_t)crc32(0L, (const Bytef *)sp->buf + HDR_LEN, (uInt)body);
	memcpy(sp->buf, h, HDR_LEN);
	w = &sp->segs[sp->n_segs - 1];
	n = write(sp->wfd, sp->buf, (size_t)reclen);
	if (n != (ssize_t)reclen) {
		rc = n < 0 ? -errno : -ENOSPC;
		/* Cut back to the last whole record: nothing torn is left behind by a live saker.
		 */
		if (ftruncate(sp->wfd, (off_t)w->size) < 0)
			rc = -errno;
		sp->st.write_errors++;
		return rc;
	}
	rc = q_push(sp, &(struct idx){.seg = w->id, .off = w->size, .len = (uint32_t)reclen});
	if (rc) {
		/* Not indexed, so not pending: cut it back out. */
		if (ftruncate(sp->wfd, (off_t)w->size) < 0)
			rc = -errno;
		sp->st.write_errors++;
		return rc;
	}
	w->size += reclen;
	sp->dirty = true;
	sp->st.appended++;
	sp->st.pending++;
	return 0;
}

int saker_spool_sync(struct saker_spool *sp)
{
	int rc = 0;

	if (sp->dirty && sp->wfd >= 0) {
		if (fdatasync(sp->wfd) < 0)
			rc = -errno;
		else
			sp->dirty = false;
		sp->st.syncs++;
	}
	if (sp->ack_dirty) {
		int r = write_ack(sp);

		if (!rc)
			rc = r;
	}
	return rc;
}

static int read_fd(struct saker_spool *sp, uint64_t seg)
{
	size_t pl = path_len(sp);
	char path[pl];

	if (sp->rfd >= 0 && sp->rseg == seg)
		return sp->rfd;
	if (sp->rfd >= 0)
		close(sp->rfd);
	seg_path(sp, seg, path, pl);
	sp->rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	sp->rseg = seg;
	return sp->rfd;
}

static uint64_t seg_size(const struct saker_spool *sp, uint64_t id)
{
	for (size_t i = 0; i < sp->n_segs; i++)
		if (sp->segs[i].id == id)
			return sp->segs[i].size;
	return 0;
}

/* Drops pending record i (damaged on reading): it is counted corrupt, not pending. */
static void drop_at(struct saker_spool *sp, size_t i)
{
	struct idx bad = *q_at(sp, i);

	for (size_t j = i; j > 0; j--)
		*q_at(sp, j) = *q_at(sp, j - 1);
	q_pop(sp);
	sp->st.pending--;
	sp->st.corrupt++;
	sp->st.corrupt_bytes += bad.len;
	sp->ack_dirty = true;
}

int saker_spool_next(struct saker_spool *sp, struct saker_spool_rec *rec)
{
	while (sp->q_read < sp->q_len) {
		struct idx *e = q_at(sp, sp->q_read);
		int fd = read_fd(sp, e->seg);
		uint16_t l[2];
		const char *b;

		if (fd < 0 || check_rec(sp, fd, e->off, seg_size(sp, e->seg)) != e->len) {
			drop_at(sp, sp->q_read);
			continue;
		}
		b = sp->buf;
		memcpy(l, b, sizeof(l));
		rec->id = b + BODY_FIXED;
		rec->id_len = l[0];
		rec->subject = rec->id + l[0];
		rec->subject_len = l[1];
		rec->data = rec->subject + l[1];
		rec->data_len = e->len - HDR_LEN - BODY_FIXED - l[0] - l[1];
		sp->q_read++;
		return 0;
	}
	return -ENODATA;
}

void saker_spool_rewind(struct saker_spool *sp)
{
	sp->q_read = 0;
}

uint64_t saker_spool_outstanding(const struct saker_spool *sp)
{
	return sp->q_read;
}

int saker_spool_ack(struct saker_spool *sp, uint64_t n)
{
	if (n > sp->q_read)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++)
		q_pop(sp);
	sp->q_read -= (size_t)n;
	sp->st.acked += n;
	sp->st.pending -= n;
	if (n) {
		sp->ack_dirty = true;
		collect(sp);
	}
	return 0;
}

void saker_spool_get_stats(const struct saker_spool *sp, struct saker_spool_stats *st)
{
	*st = sp->st;
	st->bytes = total_bytes(sp);
}

void saker_spool_close(struct saker_spool *sp)
{
	if (!sp)
		return;
	if (sp->dir)
		saker_spool_sync(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	free(sp->segs);
	free(sp->q);
	free(sp->buf);
	free(sp->dir);
	free(sp);
}
