#include "state/proctable_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ctrmatch.h"
#include "lib/privread.h"
#include "lib/procid.h"
#include "state/tasksnap.h"

/* The cgroup v2 ("0::") line's path, else the first line's. */
static void cgroup_display_path(const char *content, const char **path, size_t *plen)
{
	size_t len = strlen(content), i = 0;
	bool first = true;

	*path = "";
	*plen = 0;
	while (i < len) {
		const char *nl = memchr(content + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - content) : len;

		if (end > i && (first || !strncmp(content + i, "0::", 3))) {
			saker_ctr_line_path(content + i, end - i, path, plen);
			if (!strncmp(content + i, "0::", 3))
				return;
			first = false;
		}
		i = end + 1;
	}
}

/* Up to len - 1 bytes (reads until EOF: /proc hands cmdline out a page at a time). */
static ssize_t read_file(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

/* Through the /proc helper when saker may not read it itself (lib/privread.h). */
static void read_link(int dirfd, const char *name, char *buf, size_t len)
{
	(void)saker_privread_link(dirfd, name, buf, len);
}

/* A decimal number up to the next space or end; false on anything else. */
static bool parse_num(const char **pp, long long *out)
{
	const char *p = *pp;
	bool neg = false;
	unsigned long long v = 0;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (unsigned long long)LLONG_MAX / 10)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > (unsigned long long)LLONG_MAX || (*p && *p != ' ' && *p != '\n'))
		return false;
	*out = neg ? -(long long)v : (long long)v;
	*pp = p;
	return true;
}

struct stat_fields {
	char comm[SAKER_PROC_COMM_LEN];
	char state; /* R, S, D, Z (zombie), X (dead), ... */
	uint32_t ppid;
	uint32_t tty;
	uint64_t kflags; /* the task's PF_* flags */
	uint64_t start_ticks;
};

#define PF_KTHREAD_BIT 0x00200000ull /* include/linux/sched.h's PF_KTHREAD */

/*
 * "tid (comm) state ppid pgrp session tty_nr ... starttime(22) ...". comm
 * may hold spaces and parentheses: it ends at the last ')'.
 */
static int parse_stat(const char *buf, struct stat_fields *sf)
{
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')'), *p;
	size_t clen;

	if (!open || !close || close < open)
		return -EINVAL;
	clen = (size_t)(close - open - 1);
	if (clen > SAKER_PROC_COMM_LEN - 1)
		clen = SAKER_PROC_COMM_LEN - 1;
	memcpy(sf->comm, open + 1, clen);
	sf->comm[clen] = '\0';
	p = close + 1;
	for (int field = 3; field <= 22; field++) {
		long long v;

		while (*p == ' ')
			p++;
		if (field == 3) { /* state: one letter */
			if (!*p || *p == '\n')
				return -EINVAL;
			sf->state = *p;
			while (*p && *p != ' ')
				p++;
			continue;
		}
		if (!parse_num(&p, &v))
			return -EINVAL;
		if (field == 4)
			sf->ppid = (uint32_t)v;
		else if (field == 7)
			sf->tty = (uint32_t)v;
		else if (field == 9)
			sf->kflags = (uint64_t)v;
		else if (field == 22)
			sf->start_ticks = (uint64_t)v;
	}
	return 0;
}

/* The real and effective ids of a "Uid:" or "Gid:" line. */
static void parse_ids(const char *status, const char *key, uint32_t *real, uint32_t *eff)
{
	size_t klen = strlen(key);
	const char *p = status;

	*real = *eff = SAKER_UID_UNSET;
	while (p && *p) {
		if (!strncmp(p, key, klen)) {
			unsigned long long r, e;
			char *end;

			errno = 0;
			r = strtoull(p + klen, &end, 10);
			if (errno || end == p + klen || r > UINT32_MAX)
				return;
			p = end;
			e = strtoull(p, &end, 10);
			if (errno || end == p || e > UINT32_MAX)
				return;
			*real = (uint32_t)r;
			*eff = (uint32_t)e;
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

/* The hex value of a "CapEff:" line; false when there is none. */
static bool parse_caps(const char *status, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		unsigned long long v;
		char *end;

		if (strncmp(p, key, klen))
			continue;
		errno = 0;
		v = strtoull(p + klen, &end, 16);
		if (errno || end == p + klen)
			return false;
		*out = v;
		return true;
	}
	return false;
}

static uint32_t parse_u32(const char *s, uint32_t dflt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v > UINT32_MAX || s[0] == '-')
		return dflt;
	return (uint32_t)v;
}

static uint64_t ticks_to_ns(const struct saker_proctable *tbl, uint64_t ticks)
{
	uint64_t hz = (uint64_t)tbl->clk_tck;

	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}

/*
 * Whether a start time read from /proc (clock ticks, so up to one tick
 * early) and one the table holds (from a fork record, taken a little after
 * the kernel's) name the same task. 0 is unknown: nothing contradicts it.
 */
static bool same_start(const struct saker_proctable *tbl, uint64_t known_ns, uint64_t proc_ns)
{
	uint64_t tol = 2 * (1000000000ull / (uint64_t)tbl->clk_tck) + 10000000ull;

	if (!known_ns || !proc_ns)
		return true;
	return known_ns > proc_ns ? known_ns - proc_ns <= tol : proc_ns - known_ns <= tol;
}

/* What load_pid() learned of the process, for each of its threads. */
struct load_ctx {
	struct proc_image *img;
	uint32_t loginuid;
	uint32_t extra_flags; /* EXITED, UNCONFIRMED */
};

/* One thread from its /proc directory (task/<tid>, or <pid> itself). */
static int load_thread(struct saker_proctable *tbl, uint32_t pid, uint32_t tid, int tdir,
		       const struct load_ctx *lc)
{
	struct scan_buf *sb = tbl->sb;
	struct stat_fields sf = {0};
	struct pt_entry *e;
	uint64_t start;
	bool status_ok, same;

	if (read_file(tdir, "stat", sb->stat, sizeof(sb->stat)) <= 0 || parse_stat(sb->stat, &sf)) {
		tbl->scan_skipped++;
		return -ENOENT;
	}
	status_ok = read_file(tdir, "status", sb->status, sizeof(sb->status)) > 0;
	if (!status_ok)
		sb->status[0] = '\0';
	start = ticks_to_ns(tbl, sf.start_ticks);
	e = saker_idmap_get(&tbl->map, tid);
	same = e && e->pub.pid == pid && same_start(tbl, e->pub.start_ns, start);
	e = pt_entry_upsert(tbl, tid, pid, lc->img);
	if (!e)
		return -ENOMEM;
	/* The same task whose status cannot be read: what the table knew of it stays. */
	if (status_ok || !same) {
		parse_ids(sb->status, "Uid:", &e->pub.uid, &e->pub.euid);
		parse_ids(sb->status, "Gid:", &e->pub.gid, &e->pub.egid);
		e->pub.flags &= ~(uint32_t)SAKER_PROC_CAPS_KNOWN;
		e->pub.cap_eff = 0;
		if (parse_caps(sb->status, "CapEff:", &e->pub.cap_eff))
			e->pub.flags |= SAKER_PROC_CAPS_KNOWN;
	}
	e->pub.ppid = sf.ppid;
	e->pub.tty = sf.tty;
	e->pub.loginuid = lc->loginuid;
	/* A fork record's time is finer than /proc's ticks: kept for the same task. */
	if (!same || !e->pub.start_ns)
		e->pub.start_ns = start;
	if (!same) {
		e->pub.cgroup_id = 0;
		e->since_ns = 0;
	}
	memcpy(e->pub.comm, sf.comm, sizeof(sf.comm));
	e->pub.flags = SAKER_PROC_FROM_SCAN | (e->pub.flags & SAKER_PROC_CAPS_KNOWN) |
		       (lc->img->args_truncated ? SAKER_PROC_ARGS_TRUNCATED : 0) | lc->extra_flags;
	if (sf.state == 'Z' || sf.state == 'X')
		e->pub.flags |= SAKER_PROC_EXITED;
	tbl->scanned++;
	return 0;
}

static int load_threads(struct saker_proctable *tbl, uint32_t pid, int pdir,
			const struct load_ctx *lc)
{
	char name[16];
	struct dirent *de;
	int tasks, tdir, err;
	DIR *dir;

	tasks = openat(pdir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tasks < 0)
		return load_thread(tbl, pid, pid, pdir, lc);
	dir = fdopendir(tasks);
	if (!dir) {
		close(tasks);
		return -ENOMEM;
	}
	/* The leader first, so that it counts the threads that follow. */
	snprintf(name, sizeof(name), "%u", pid);
	tdir = openat(tasks, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0) {
		tbl->scan_skipped++;
		err = -ENOENT;
	} else {
		err = load_thread(tbl, pid, pid, tdir, lc);
		close(tdir);
	}
	if (err) {
		closedir(dir);
		return err;
	}
	while ((de = readdir(dir))) {
		uint32_t tid;

		if (!saker_procid_parse(de->d_name, &tid) || tid == pid)
			continue;
		tdir = openat(tasks, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tdir < 0) {
			tbl->scan_skipped++;
			continue;
		}
		err = load_thread(tbl, pid, tid, tdir, lc);
		close(tdir);
		if (err == -ENOMEM)
			break;
		err = 0;
	}
	closedir(dir);
	return err;
}

/* A readlink into buf; false when it fails or is empty. */
static bool read_link_ok(int dirfd, const char *name, char *buf, size_t len)
{
	read_link(dirfd, name, buf, len);
	return buf[0] != '\0';
}

/* The iterators' path when they resolved it, else /proc's link. */
static bool path_ok(int dirfd, const char *name, const char *snap, char *buf, size_t len)
{
	if (snap) {
		snprintf(buf, len, "%s", snap);
		return buf[0] != '\0';
	}
	return read_link_ok(dirfd, name, buf, len);
}

/*
 * The iterators' entry for the process /proc shows under pid, NULL when there
 * is none or it is another process (pid reused between the two reads).
 */
static const struct saker_tasksnap_proc *snap_proc(struct saker_proctable *tbl, uint32_t pid,
						   uint64_t start_ns)
{
	const struct saker_tasksnap_proc *sp = saker_tasksnap_get(tbl->snap, pid);

	if (!sp || !same_start(tbl, sp->start_ns, start_ns))
		return NULL;
	tbl->iter_procs++;
	tbl->iter_fds += sp->nfds;
	return sp;
}

/* What load_pid() read of a process's files, or kept of the table's version. */
struct proc_reads {
	const char *exe, *cwd, *args, *cg;
	size_t cglen;
	ssize_t alen;
	bool exe_ok, cwd_ok, args_ok, cg_ok;
	char cid[SAKER_CONTAINER_ID_LEN + 1];
};

/* The process's directory and its leader's stat; -ENOENT when either cannot be read. */
static int open_pid(struct saker_proctable *tbl, int root, uint32_t pid, int *pdir,
		    struct stat_fields *sf)
{
	struct scan_buf *sb = tbl->sb;
	char name[32];

	snprintf(name, sizeof(name), "%u", pid);
	*pdir = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*pdir < 0) {
		tbl->scan_skipped++;
		return -ENOENT;
	}
	/* /proc has <pid>/stat; test trees may only have the leader's task directory. */
	snprintf(name, sizeof(name), "task/%u/stat", pid);
	if ((read_file(*pdir, "stat", sb->stat, sizeof(sb->stat)) <= 0 &&
	     read_file(*pdir, name, sb->stat, sizeof(sb->stat)) <= 0) ||
	    parse_stat(sb->stat, sf)) {
		close(*pdir);
		tbl->scan_skipped++;
		return -ENOENT;
	}
	return 0;
}

/*
 * cmdline, exe, cwd, cgroup and loginuid (known: the same process as the table holds, or NULL;
 * sp: the task iterators' entry, whose exe and cwd stand in for /proc's links).
 */
static void read_pid_files(struct saker_proctable *tbl, int pdir, const struct pt_entry *known,
			   const struct saker_tasksnap_proc *sp, struct load_ctx *lc,
			   struct proc_reads *r)
{
	struct scan_buf *sb = tbl->sb;
	char loginuid_buf[32];

	/* Kernel threads have no cmdline, exe or cwd: empty strings, not errors. */
	r->alen = read_file(pdir, "cmdline", sb->args, sizeof(sb->args));
	r->args_ok = r->alen > 0;
	if (r->alen < 0)
		r->alen = 0;
	r->exe_ok = path_ok(pdir, "exe", sp ? sp->exe : NULL, sb->exe, sizeof(sb->exe));
	r->cwd_ok = path_ok(pdir, "cwd", sp ? sp->cwd : NULL, sb->cwd, sizeof(sb->cwd));
	r->cg_ok = read_file(pdir, "cgroup", sb->cgroup, sizeof(sb->cgroup)) > 0;
	if (!r->cg_ok)
		sb->cgroup[0] = '\0';
	if (read_file(pdir, "loginuid", loginuid_buf, sizeof(loginuid_buf)) > 0)
		lc->loginuid = parse_u32(loginuid_buf, SAKER_UID_UNSET);
	else if (known)
		lc->loginuid = known->pub.loginuid;

	r->exe = sb->exe;
	r->cwd = sb->cwd;
	r->args = sb->args;
	cgroup_display_path(sb->cgroup, &r->cg, &r->cglen);
	saker_container_id_from_cgroup(sb->cgroup, sizeof(sb->cgroup), r->cid);
}

/* What could not be read keeps the value the table knew of the same process (kimg). */
static void keep_known(struct saker_proctable *tbl, const struct proc_image *kimg,
		       struct proc_reads *r)
{
	if (!r->exe_ok && kimg->exe[0]) {
		r->exe = kimg->exe;
		r->exe_ok = true;
		tbl->load_kept++;
	}
	if (!r->cwd_ok && kimg->cwd[0]) {
		r->cwd = kimg->cwd;
		r->cwd_ok = true;
		tbl->load_kept++;
	}
	if (!r->args_ok && kimg->args_len) {
		r->args = kimg->args;
		r->alen = (ssize_t)kimg->args_len;
		r->args_ok = true;
		tbl->load_kept++;
	}
	if (!r->cg_ok) {
		r->cg = kimg->cgroup;
		r->cglen = strlen(r->cg);
		snprintf(r->cid, sizeof(r->cid), "%s", kimg->container_id);
	}
}

/*
 * One process. /proc can only improve what the table knows: a process that
 * exited but is not reaped yet (a zombie) has no exe, cmdline or cwd left to
 * read, and a process whose reads fail (gone meanwhile, not ours to read)
 * tells nothing either. So the leader's stat comes first: its start time says
 * whether /proc's process is the one the table holds (a pid reused is not);
 * for the same one, what cannot be read keeps the known value; whatever
 * stays unconfirmed (nothing known, nothing read) is flagged
 * SAKER_PROC_UNCONFIRMED, which the view reports as degraded.
 */
static int load_pid(struct saker_proctable *tbl, int root, uint32_t pid)
{
	struct stat_fields sf = {0};
	struct load_ctx lc = {.loginuid = SAKER_UID_UNSET};
	const struct saker_tasksnap_proc *sp;
	struct proc_reads r;
	struct pt_entry *known;
	bool kthread;
	int pdir, err;

	if (!tbl->sb) {
		tbl->sb = malloc(sizeof(*tbl->sb));
		if (!tbl->sb)
			return -ENOMEM;
	}
	err = open_pid(tbl, root, pid, &pdir, &sf);
	if (err)
		return err;
	kthread = sf.kflags & PF_KTHREAD_BIT;
	known = saker_idmap_get(&tbl->map, pid);
	if (known && (known->pub.pid != pid ||
		      !same_start(tbl, known->pub.start_ns, ticks_to_ns(tbl, sf.start_ticks)))) {
		tbl->load_replaced++;
		known = NULL;
	}
	if (sf.state == 'Z' || sf.state == 'X')
		tbl->load_zombies++;

	sp = snap_proc(tbl, pid, ticks_to_ns(tbl, sf.start_ticks));
	read_pid_files(tbl, pdir, known, sp, &lc, &r);
	if (!kthread && known)
		keep_known(tbl, known->img, &r);
	if (!kthread && (!r.exe_ok || !r.cwd_ok || !r.args_ok)) {
		lc.extra_flags |= SAKER_PROC_UNCONFIRMED;
		tbl->load_unconfirmed++;
	}
	lc.img = pt_image_new(tbl, r.exe, r.args, (size_t)r.alen, r.cwd, r.cg, r.cglen, r.cid);
	if (!lc.img) {
		close(pdir);
		return -ENOMEM;
	}
	err = load_threads(tbl, pid, pdir, &lc);
	pt_image_put(tbl, lc.img);
	if (!err) {
		err = sp ? saker_fdtable_load_list(tbl->fds, pid, sp->fds, sp->nfds)
			 : saker_fdtable_scan_pid(tbl->fds, pid, pdir);
		/* No fd directory, or not ours to read: the process is still known. */
		if (err && err != -ENOMEM)
			err = 0;
	}
	close(pdir);
	return err;
}

void saker_proctable_set_taskiter(struct saker_proctable *tbl, struct saker_taskiter *it)
{
	tbl->iter = it;
}

/* The iterators read for one process (pid) or all (0); without them /proc's links are read. */
static void snap_read(struct saker_proctable *tbl, uint32_t pid)
{
	if (tbl->iter && saker_tasksnap_read(&tbl->snap, tbl->iter, pid))
		tbl->iter_errors++;
}

static void snap_done(struct saker_proctable *tbl)
{
	saker_tasksnap_free(tbl->snap);
	tbl->snap = NULL;
}

int saker_proctable_load(struct saker_proctable *tbl, uint32_t pid)
{
	int root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (root < 0)
		return -errno;
	snap_read(tbl, pid);
	err = load_pid(tbl, root, pid);
	snap_done(tbl);
	close(root);
	return err;
}

int saker_proctable_scan(struct saker_proctable *tbl)
{
	struct dirent *de;
	int root, err = 0;
	DIR *dir;

	root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	dir = fdopendir(root);
	if (!dir) {
		err = -errno;
		close(root);
		return err;
	}
	snap_read(tbl, 0);
	while ((de = readdir(dir))) {
		uint32_t pid;

		if (!saker_procid_parse(de->d_name, &pid))
			continue;
		err = load_pid(tbl, dirfd(dir), pid);
		if (err == -ENOMEM)
			break;
		err = 0;
	}
	snap_done(tbl);
	closedir(dir);
	return err;
}

bool pt_read_cgroup(struct saker_proctable *tbl, uint32_t pid, const char **path, size_t *plen,
		    char cid[SAKER_CONTAINER_ID_LEN + 1])
{
	char name[32];
	int root = open(tbl->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok;

	snprintf(name, sizeof(name), "%u/cgroup", pid);
	if (!tbl->sb)
		tbl->sb = malloc(sizeof(*tbl->sb));
	ok = root >= 0 && tbl->sb &&
	     read_file(root, name, tbl->sb->cgroup, sizeof(tbl->sb->cgroup)) >= 0;
	if (ok) {
		cgroup_display_path(tbl->sb->cgroup, path, plen);
		saker_container_id_from_cgroup(tbl->sb->cgroup, sizeof(tbl->sb->cgroup), cid);
	}
	if (root >= 0)
		close(root);
	return ok;
}
