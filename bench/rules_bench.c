/*
 * Rules micro-benchmark: events per second through the rules engine on one
 * core, with a rules file (default: Falco's stable ruleset next to the
 * repository), over synthetic events built in memory and a view holding a
 * small process tree. Three figures:
 *   mixed     a syscall mix where most events have no rule (reads, writes,
 *             futexes), as a busy host produces
 *   rule-hit  only events rules are indexed on (openat, execve, connect,
 *             dup2, ptrace), so every event runs conditions
 *   pipeline  mixed again, but each record decoded and applied to the view
 *             before the rules (decode + state + rules)
 * With --capture FILE (a `saker -w` recording, docs/replay.md), instead: the
 * file's records replayed through app/pipeline.c's saker_pipeline_record
 * (decode, state apply, rules, deferred state: what a live run does per
 * record, less the dump), the view restored from the file's /proc snapshot
 * before each pass (not timed).
 * Build: make rules-bench; run: build/bench/rules_bench [--capture FILE] [rules.yaml...]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/pipeline.h"
#include "capture/capfile.h"
#include "evbuild.h"
#include "event/event.h"
#include "rules/rules.h"
#include "state/view.h"

#define NEV 8192

static struct evb B;
static uint8_t *recs[NEV];
static size_t lens[NEV];
static struct saker_event evs[NEV];
static uint64_t alerts;

static void on_match(void *ctx, const struct saker_rule_info *rule, const struct saker_alert *a)
{
	(void)ctx;
	(void)rule;
	alerts += a->output[0] != 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec_rec(uint32_t pid, uint32_t ppid, const char *exe, const char *comm,
		     const char *const *argv, uint64_t uid)
{
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, pid, pid, 0, 1000000000ull + pid);
	evb_str(&B, SAKER_PN_EXE, exe);
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_str(&B, SAKER_PN_CWD, "/srv");
	evb_u64(&B, SAKER_PN_UID, uid);
	evb_u64(&B, SAKER_PN_GID, uid);
	evb_u64(&B, SAKER_PN_EUID, uid);
	evb_u64(&B, SAKER_PN_LOGINUID, uid);
	evb_s64(&B, SAKER_PN_PPID, ppid);
	evb_str(&B, SAKER_PN_COMM, comm);
	evb_u64(&B, SAKER_PN_TTY, 0);
	evb_u64(&B, SAKER_PN_CGROUP_ID, 0);
	evb_u64(&B, SAKER_PN_START_TS, 1000000000ull + pid);
}

static void keep(size_t i)
{
	evb_end(&B);
	recs[i] = malloc(B.len);
	if (!recs[i])
		exit(1);
	memcpy(recs[i], B.buf, B.len);
	lens[i] = B.len;
}

static const char *const NAMES[] = {"nginx", "python3",	 "java", "bash", "cat",
				    "node",  "postgres", "sshd", "grep", "curl"};
static const char *const PATHS[] = {"/etc/ld.so.cache",	 "/usr/lib/x86_64-linux-gnu/libc.so.6",
				    "/proc/self/status", "/tmp/x",
				    "/etc/passwd",	 "/var/log/app.log",
				    "/srv/data/file",	 "/usr/share/zoneinfo/UTC"};

/* Event i of the stream; rule_hit = only rule-indexed types. */
static void build(size_t i, unsigned seed, bool rule_hit)
{
	uint32_t pid = 1000 + seed % 64;
	unsigned kind = (seed / 64) % 100;
	uint64_t ts = 5000000000ull + i;

	if (rule_hit)
		kind = 60 + kind % 40;
	if (kind < 30) {
		evb_sc(&B, kind < 15 ? "read" : "write", pid, pid, 100, ts);
		evb_s64(&B, SAKER_PN_ARG0, 3);
	} else if (kind < 45) {
		evb_sc(&B, "futex", pid, pid, 0, ts);
	} else if (kind < 52) {
		evb_sc(&B, "close", pid, pid, 0, ts);
		evb_s64(&B, SAKER_PN_FD, 5);
	} else if (kind < 60) {
		evb_sc(&B, "mmap", pid, pid, 0, ts);
	} else if (kind < 85) {
		evb_sc(&B, "openat", pid, pid, seed % 7 ? 3 + (int64_t)(seed % 5) : -ENOENT, ts);
		evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
		/* one open in 64 is of /etc/shadow: an alert from "Read sensitive file untrusted"
		 */
		evb_str(&B, SAKER_PN_PATH, seed % 64 == 1 ? "/etc/shadow" : PATHS[(seed / 7) % 8]);
		evb_u64(&B, SAKER_PN_FLAGS, seed % 3 ? O_RDONLY : O_WRONLY | O_CREAT | O_APPEND);
		evb_u64(&B, SAKER_PN_MODE, 0644);
	} else if (kind < 92) {
		static const char *const argv[] = {"sh", "-c", "ls /tmp", NULL};

		/* a shell started by a shell; one in 16 by a server ("Run shell untrusted") */
		exec_rec(pid, seed % 16 ? 1000 + (seed / 16) % 64 : 100, "/bin/sh", "sh", argv,
			 1000);
	} else if (kind < 96) {
		evb_sc(&B, "connect", pid, pid, 0, ts);
		evb_s64(&B, SAKER_PN_FD, 7);
		evb_sin(&B, SAKER_PN_ADDR, "93.184.216.34", 443);
	} else if (kind < 98) {
		evb_sc(&B, "dup2", pid, pid, 1, ts);
		evb_s64(&B, SAKER_PN_FD, 7);
		evb_s64(&B, SAKER_PN_NEWFD, 1);
	} else {
		evb_sc(&B, "ptrace", pid, pid, 0, ts);
		/* PTRACE_PEEKDATA mostly; one in 16 an attach */
		evb_u64(&B, SAKER_PN_REQUEST, seed % 16 ? 2 : 16);
		evb_s64(&B, SAKER_PN_PID, 1);
	}
	keep(i);
}

static struct saker_view *make_view(const char *root)
{
	struct saker_view *v;
	static const char *const argv[] = {"x", "-c", "/etc/app.conf", NULL};

	if (saker_view_new(&v, 0, root))
		exit(1);
	for (uint32_t p = 100; p < 108; p++) {
		exec_rec(p, 1, "/usr/sbin/nginx", "nginx", argv, 0);
		evb_end(&B);
		(void)saker_view_handle_event(v, evb_hdr(&B), B.len);
	}
	for (uint32_t p = 1000; p < 1064; p++) {
		exec_rec(p, 100 + p % 8, "/usr/bin/python3", p % 2 ? "bash" : NAMES[p % 10], argv,
			 1000);
		evb_end(&B);
		(void)saker_view_handle_event(v, evb_hdr(&B), B.len);
		evb_sc(&B, "connect", p, p, 0, 2000000000ull);
		evb_s64(&B, SAKER_PN_FD, 7);
		evb_sin(&B, SAKER_PN_ADDR, "93.184.216.34", 443);
		evb_end(&B);
		(void)saker_view_handle_event(v, evb_hdr(&B), B.len);
	}
	return v;
}

static void print_matches(struct saker_rules *r)
{
	uint64_t events, evals, matches;

	saker_rules_stats(r, &events, &evals, &matches);
	printf("rule evaluations per event: %.2f, matches: %llu, alerts formatted: %llu\n",
	       events ? (double)evals / (double)events : 0.0, (unsigned long long)matches,
	       (unsigned long long)alerts);
	for (size_t i = 0; i < saker_rules_count(r); i++)
		if (saker_rules_get(r, i)->matches)
			printf("  %-50s %llu\n", saker_rules_get(r, i)->name,
			       (unsigned long long)saker_rules_get(r, i)->matches);
}

static double run_rules(struct saker_rules *r, struct saker_view *v, double secs, uint64_t *n)
{
	double t0 = now(), t;

	*n = 0;
	do {
		for (size_t i = 0; i < NEV; i++)
			(void)saker_rules_match(r, &evs[i], v, on_match, NULL);
		*n += NEV;
		t = now() - t0;
	} while (t < secs);
	return t;
}

static double run_pipeline(struct saker_rules *r, struct saker_view *v, double secs, uint64_t *n)
{
	double t0 = now(), t;
	struct saker_event ev;

	*n = 0;
	do {
		for (size_t i = 0; i < NEV; i++) {
			if (saker_event_parse(&ev, recs[i], lens[i]))
				continue;
			(void)saker_view_apply(v, &ev);
			(void)saker_rules_match(r, &ev, v, on_match, NULL);
		}
		*n += NEV;
		t = now() - t0;
	} while (t < secs);
	return t;
}

static void report(const char *what, double t, uint64_t n)
{
	printf("%-9s %10.0f events/s  %7.1f ns/event  (%llu events, %.2f s CPU)\n", what,
	       (double)n / t, t * 1e9 / (double)n, (unsigned long long)n, t);
}

/* ---- --capture FILE ---- */

struct bench_rules {
	struct saker_rules *r;
	struct saker_view *v;
};

static int bench_rules_fn(void *ctx, const struct saker_event *ev)
{
	struct bench_rules *b = ctx;

	return saker_rules_match(b->r, ev, b->v, on_match, NULL);
}

static int restore_item(struct saker_view *v, const struct saker_capfile_item *it)
{
	static char a[SAKER_CAPFILE_MAX_STR + 1], b[SAKER_CAPFILE_MAX_STR + 1],
	    c[SAKER_CAPFILE_MAX_STR + 1], d[65];
	struct saker_proctable *pt = saker_view_procs(v);

	if (it->kind == SAKER_CAPFILE_ITEM_PROC) {
		const struct saker_capfile_proc *cp = &it->proc;
		struct saker_proc p = {
		    .tid = cp->tid,
		    .pid = cp->pid,
		    .ppid = cp->ppid,
		    .uid = cp->uid,
		    .gid = cp->gid,
		    .euid = cp->euid,
		    .egid = cp->egid,
		    .loginuid = cp->loginuid,
		    .tty = cp->tty,
		    .flags = cp->flags,
		    .start_ns = cp->start_ns,
		    .cgroup_id = cp->cgroup_id,
		    .exe = a,
		    .args = cp->args,
		    .args_len = cp->args_len,
		    .cwd = b,
		    .cgroup = c,
		    .container_id = d,
		};

		memcpy(a, cp->exe, cp->exe_len);
		a[cp->exe_len] = '\0';
		memcpy(b, cp->cwd, cp->cwd_len);
		b[cp->cwd_len] = '\0';
		memcpy(c, cp->cgroup, cp->cgroup_len);
		c[cp->cgroup_len] = '\0';
		memcpy(d, cp->container_id, cp->container_id_len);
		d[cp->container_id_len] = '\0';
		memcpy(p.comm, cp->comm, sizeof(p.comm));
		return saker_proctable_restore(pt, &p);
	}
	if (it->kind == SAKER_CAPFILE_ITEM_FD) {
		struct saker_fd f = {
		    .pid = it->fd.pid,
		    .fd = it->fd.fd,
		    .type = (enum saker_fd_type)it->fd.type,
		    .open_flags = it->fd.open_flags,
		    .flags = it->fd.flags,
		    .name = a,
		};

		memcpy(a, it->fd.name, it->fd.name_len);
		a[it->fd.name_len] = '\0';
		memcpy(f.tuple.laddr, it->fd.laddr, 16);
		memcpy(f.tuple.raddr, it->fd.raddr, 16);
		f.tuple.lport = it->fd.lport;
		f.tuple.rport = it->fd.rport;
		f.tuple.l4proto = it->fd.l4proto;
		return saker_fdtable_restore(saker_proctable_fds(pt), &f);
	}
	return 0;
}

/* Passes over the file until secs of CPU time; each pass from a freshly restored view. */
static int run_capture(struct saker_rules *r, const char *path, double secs, bool with_rules)
{
	struct saker_capfile_reader *rd;
	struct saker_capfile_item it;
	uint64_t n = 0, per_pass = 0, rejected = 0;
	double t = 0;
	char err[1024];
	int passes = 0, ret;

	if (saker_capfile_open(&rd, path, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	saker_rules_set_boot_offset(r, (uint64_t)saker_capfile_meta(rd)->boot_offset_ns);
	do {
		struct saker_pipeline p;
		struct bench_rules br = {.r = r};
		struct saker_view *v;
		double t0;

		if (saker_view_new(&v, 0, "/dev/null/saker-bench"))
			return 1;
		saker_capfile_rewind(rd);
		while ((ret = saker_capfile_next(rd, &it, err, sizeof(err))) == 1 &&
		       it.kind != SAKER_CAPFILE_ITEM_SNAPSHOT_END)
			(void)restore_item(v, &it);
		if (ret != 1) {
			fprintf(stderr, "%s\n", ret ? err : "the file ends inside its snapshot");
			return 1;
		}
		saker_pipeline_init(&p, v, NULL, NULL);
		br.v = v;
		p.rules = with_rules ? bench_rules_fn : NULL;
		p.rules_ctx = &br;
		t0 = now();
		while ((ret = saker_capfile_next(rd, &it, err, sizeof(err))) == 1)
			(void)saker_pipeline_record(&p, it.rec, it.rec_len);
		t += now() - t0;
		if (ret) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		per_pass = p.records;
		rejected = p.rejected;
		n += p.records;
		passes++;
		saker_view_free(v);
	} while (t < secs && per_pass);
	printf("capture: %s: %llu records a pass (%llu rejected by the decoder), %d passes%s\n",
	       path, (unsigned long long)per_pass, (unsigned long long)rejected, passes,
	       with_rules ? "" : ", rules off");
	if (n)
		report(with_rules ? "capture" : "no-rules", t, n);
	saker_capfile_close(rd);
	return 0;
}

int main(int argc, char **argv)
{
	char root[] = "/tmp/saker-rules-bench-XXXXXX", err[1024];
	const char *def = "../shared/reference/falco_rules.yaml";
	struct saker_rules *r;
	struct saker_view *v;
	uint64_t n;
	double t;

	const char *capture = NULL;
	int first = 1;

	if (argc > 2 && strcmp(argv[1], "--capture") == 0) {
		capture = argv[2];
		first = 3;
	}
	if (!mkdtemp(root))
		return 1;
	if (saker_rules_new(&r))
		return 1;
	for (int i = first; i < argc || i == first; i++) {
		const char *path = i < argc ? argv[i] : def;

		if (saker_rules_load_file(r, path, err, sizeof(err), NULL, NULL)) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		if (i >= argc)
			break;
	}
	if (saker_rules_compile(r, err, sizeof(err), NULL, NULL)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("rules loaded: %zu of %zu\n", saker_rules_loaded(r), saker_rules_count(r));
	if (capture) {
		/* decode + state alone first: what the rules add is the difference */
		int ret = run_capture(r, capture, 1.0, false);

		if (!ret)
			ret = run_capture(r, capture, 2.0, true);

		if (!ret)
			print_matches(r);
		saker_rules_free(r);
		rmdir(root);
		return ret;
	}
	v = make_view(root);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < NEV; i++) {
			free(recs[i]);
			build(i, (unsigned)(i * 2654435761u), pass == 1);
			if (saker_event_parse(&evs[i], recs[i], lens[i]))
				return 1;
			(void)saker_view_apply(v, &evs[i]);
		}
		t = run_rules(r, v, 1.0, &n);
		report(pass ? "rule-hit" : "mixed", t, n);
	}
	for (size_t i = 0; i < NEV; i++) {
		free(recs[i]);
		build(i, (unsigned)(i * 2654435761u), false);
	}
	t = run_pipeline(r, v, 1.0, &n);
	report("pipeline", t, n);
	print_matches(r);
	for (size_t i = 0; i < NEV; i++)
		free(recs[i]);
	saker_view_free(v);
	saker_rules_free(r);
	rmdir(root);
	return 0;
}
