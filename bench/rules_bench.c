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
 * Build: make rules-bench; run: build/bench/rules_bench [rules.yaml...]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	char root[] = "/tmp/saker-rules-bench-XXXXXX", err[1024];
	const char *def = "../shared/reference/falco_rules.yaml";
	struct saker_rules *r;
	struct saker_view *v;
	uint64_t n, events, evals, matches;
	double t;

	if (!mkdtemp(root))
		return 1;
	if (saker_rules_new(&r))
		return 1;
	for (int i = 1; i < argc || i == 1; i++) {
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
	saker_rules_stats(r, &events, &evals, &matches);
	printf("rule evaluations per event: %.2f, matches: %llu, alerts formatted: %llu\n",
	       (double)evals / (double)events, (unsigned long long)matches,
	       (unsigned long long)alerts);
	for (size_t i = 0; i < saker_rules_count(r); i++)
		if (saker_rules_get(r, i)->matches)
			printf("  %-50s %llu\n", saker_rules_get(r, i)->name,
			       (unsigned long long)saker_rules_get(r, i)->matches);
	for (size_t i = 0; i < NEV; i++)
		free(recs[i]);
	saker_view_free(v);
	saker_rules_free(r);
	rmdir(root);
	return 0;
}
