#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "outputs/dump.h"
#include "event/event.h"
#include "lib/clock.h"
#include "evbuild.h"
#include "state/view.h"

/* ts 1000 ns after boot is 2024-01-02T03:04:05.123456789Z */
#define TS     1000
#define OFFSET (1704164645123456789LL - TS)

static struct evb B;

/* ---- a small strict JSON checker (syntax, no duplicate keys) ---- */

struct jp {
	const char *s;
	int depth;
};

static void jws(struct jp *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
		p->s++;
}

/* A string; its raw (escaped) text goes to key when key is non-NULL. */
static bool jstring(struct jp *p, char *key, size_t keylen)
{
	const char *start;

	if (*p->s != '"')
		return false;
	start = ++p->s;
	while (*p->s != '"') {
		unsigned char c = (unsigned char)*p->s;

		if (c < 0x20 || c == 0x7f)
			return false; /* raw controls are not JSON (DEL is, but we never emit it) */
		if (c == '\\') {
			p->s++;
			if (*p->s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p->s[i]))
						return false;
				p->s += 4;
			} else if (!strchr("\"\\/bfnrt", *p->s) || !*p->s) {
				return false;
			}
		}
		p->s++;
	}
	if (key) {
		size_t n = (size_t)(p->s - start);

		if (n >= keylen)
			n = keylen - 1;
		memcpy(key, start, n);
		key[n] = '\0';
	}
	p->s++;
	return true;
}

static bool jvalue(struct jp *p);

static bool jobject(struct jp *p)
{
	char keys[64][64];
	int n = 0;

	p->s++;
	jws(p);
	if (*p->s == '}') {
		p->s++;
		return true;
	}
	for (;;) {
		jws(p);
		if (n >= 64 || !jstring(p, keys[n], sizeof(keys[n])))
			return false;
		for (int i = 0; i < n; i++)
			if (!strcmp(keys[i], keys[n]))
				return false;
		n++;
		jws(p);
		if (*p->s++ != ':' || !jvalue(p))
			return false;
		jws(p);
		if (*p->s == '}') {
			p->s++;
			return true;
		}
		if (*p->s++ != ',')
			return false;
	}
}

static bool jarray(struct jp *p)
{
	p->s++;
	jws(p);
	if (*p->s == ']') {
		p->s++;
		return true;
	}
	for (;;) {
		if (!jvalue(p))
			return false;
		jws(p);
		if (*p->s == ']') {
			p->s++;
			return true;
		}
		if (*p->s++ != ',')
			return false;
	}
}

static bool jnumber(struct jp *p)
{
	const char *s = p->s;

	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	if (*s == '0' && isdigit((unsigned char)s[1]))
		return false;
	while (isdigit((unsigned char)*s))
		s++;
	p->s = s;
	return true;
}

static bool jvalue(struct jp *p)
{
	bool ok;

	jws(p);
	if (++p->depth > 16)
		return false;
	if (*p->s == '{')
		ok = jobject(p);
	else if (*p->s == '[')
		ok = jarray(p);
	else if (*p->s == '"')
		ok = jstring(p, NULL, 0);
	else if (!strncmp(p->s, "null", 4) || !strncmp(p->s, "true", 4))
		ok = (p->s += 4, true);
	else if (!strncmp(p->s, "false", 5))
		ok = (p->s += 5, true);
	else
		ok = jnumber(p);
	p->depth--;
	return ok;
}

/* One JSON object and nothing after it. */
static bool json_valid(const char *s)
{
	struct jp p = {.s = s};

	jws(&p);
	if (*p.s != '{' || !jvalue(&p))
		return false;
	jws(&p);
	return *p.s == '\0';
}

/* ---- fixture ---- */

struct fixture {
	struct saker_view *v;
	struct saker_dump text, json, iso;
	char *out;
	size_t outlen;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || saker_view_new(&f->v, 0, "/nonexistent-proc-root"))
		return -1;
	saker_dump_init(&f->text, false, false, OFFSET, f->v);
	saker_dump_init(&f->json, true, false, OFFSET, f->v);
	saker_dump_init(&f->iso, false, true, OFFSET, f->v);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	saker_dump_fini(&f->text);
	saker_dump_fini(&f->json);
	saker_dump_fini(&f->iso);
	saker_view_free(f->v);
	free(f->out);
	free(f);
	return 0;
}

/* Dumps the record under construction with d; the line, without its newline. */
static const char *dump_with(struct fixture *f, struct saker_dump *d)
{
	FILE *mem;
	int err;

	free(f->out);
	f->out = NULL;
	mem = open_memstream(&f->out, &f->outlen);
	assert_non_null(mem);
	evb_end(&B);
	err = saker_dump_event(d, evb_hdr(&B), B.len, mem);
	fclose(mem);
	assert_int_equal(err, 0);
	/* exactly one line */
	assert_true(f->outlen > 0);
	assert_int_equal(f->out[f->outlen - 1], '\n');
	assert_ptr_equal(strchr(f->out, '\n'), f->out + f->outlen - 1);
	f->out[f->outlen - 1] = '\0';
	return f->out;
}

static const char *text(struct fixture *f)
{
	return dump_with(f, &f->text);
}

static const char *json(struct fixture *f)
{
	const char *s = dump_with(f, &f->json);

	if (!json_valid(s))
		fail_msg("invalid JSON: %s", s);
	return s;
}

/* Applies the record under construction to the view (after dumping it, as main does). */
static void apply(struct fixture *f)
{
	evb_end(&B);
	assert_int_equal(saker_view_handle_event(f->v, evb_hdr(&B), B.len), 0);
}

static const char *const ARGV[] = {"cat", "-n", "a \"b\"", NULL};

static void exec_evt(uint32_t pid)
{
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, pid, pid, 0, TS);
	evb_str(&B, SAKER_PN_EXE, "/usr/bin/cat");
	evb_strlist(&B, SAKER_PN_ARGS, ARGV);
	evb_str(&B, SAKER_PN_CWD, "/home/u");
	evb_u64(&B, SAKER_PN_UID, 1000);
	evb_u64(&B, SAKER_PN_GID, 1000);
	evb_u64(&B, SAKER_PN_EUID, 1000);
	evb_u64(&B, SAKER_PN_LOGINUID, 1000);
	evb_s64(&B, SAKER_PN_PPID, 1);
	evb_str(&B, SAKER_PN_COMM, "cat");
	evb_u64(&B, SAKER_PN_TTY, 136ull << 20); /* pts/0 */
	evb_u64(&B, SAKER_PN_CGROUP_ID, 0);
	evb_u64(&B, SAKER_PN_START_TS, 77);
}

static void test_exec_line(void **state)
{
	struct fixture *f = *state;

	exec_evt(1000);
	assert_string_equal(text(f),
			    "03:04:05.123456789 3 cat(1000) 1000 sched_process_exec "
			    "exe=\"/usr/bin/cat\" args=[\"cat\",\"-n\",\"a \\\"b\\\"\"] "
			    "cwd=\"/home/u\" uid=1000 gid=1000 euid=1000 loginuid=1000 ppid=1 "
			    "comm=\"cat\" tty=34816 cgroup_id=0 start_ts=77");
	assert_string_equal(json(f),
			    "{\"time\":\"2024-01-02T03:04:05.123456789Z\",\"cpu\":3,\"pid\":1000,"
			    "\"tid\":1000,\"comm\":\"cat\",\"exe\":\"/usr/bin/cat\","
			    "\"event\":\"sched_process_exec\",\"ret\":null,\"params\":{"
			    "\"exe\":\"/usr/bin/cat\",\"args\":[\"cat\",\"-n\",\"a \\\"b\\\"\"],"
			    "\"cwd\":\"/home/u\",\"uid\":1000,\"gid\":1000,\"euid\":1000,"
			    "\"loginuid\":1000,\"ppid\":1,\"comm\":\"cat\",\"tty\":34816,"
			    "\"cgroup_id\":0,\"start_ts\":77}}");
	assert_string_equal(
	    dump_with(f, &f->iso),
	    "2024-01-02T03:04:05.123456789+0000 3 cat(1000) 1000 sched_process_exec "
	    "exe=\"/usr/bin/cat\" args=[\"cat\",\"-n\",\"a \\\"b\\\"\"] "
	    "cwd=\"/home/u\" uid=1000 gid=1000 euid=1000 loginuid=1000 ppid=1 "
	    "comm=\"cat\" tty=34816 cgroup_id=0 start_ts=77");
}

/* Once the view knows the process, JSON lines carry its table fields. */
static void test_enriched_open_close(void **state)
{
	struct fixture *f = *state;

	exec_evt(1000);
	apply(f);

	evb_sc(&B, "openat", 1000, 1000, 3, TS);
	evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_PATH, "../etc/passwd");
	evb_u64(&B, SAKER_PN_FLAGS, O_RDONLY | O_CLOEXEC);
	evb_u64(&B, SAKER_PN_MODE, 0);
	assert_string_equal(text(f), "03:04:05.123456789 3 cat(1000) 1000 openat ret=3 "
				     "dirfd=-100(AT_FDCWD) path=\"../etc/passwd\" "
				     "path_abs=\"/home/etc/passwd\" flags=0x80000 mode=0");
	assert_string_equal(
	    json(f), "{\"time\":\"2024-01-02T03:04:05.123456789Z\",\"cpu\":3,\"pid\":1000,"
		     "\"tid\":1000,\"comm\":\"cat\",\"exe\":\"/usr/bin/cat\","
		     "\"event\":\"openat\",\"ret\":3,\"params\":{\"dirfd\":-100,"
		     "\"path\":\"../etc/passwd\",\"path_abs\":\"/home/etc/passwd\","
		     "\"flags\":524288,\"mode\":0},\"proc\":{\"ppid\":1,"
		     "\"args\":[\"cat\",\"-n\",\"a \\\"b\\\"\"],\"cwd\":\"/home/u\","
		     "\"uid\":1000,\"gid\":1000,\"euid\":1000,\"egid\":1000,"
		     "\"loginuid\":1000,\"tty\":34816,\"container_id\":\"\",\"start_ts\":0}}");
	apply(f);

	evb_sc(&B, "close", 1000, 1000, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 3);
	assert_string_equal(text(f), "03:04:05.123456789 3 cat(1000) 1000 close ret=0 "
				     "fd=3(\"/home/etc/passwd\")");
	assert_non_null(strstr(json(f), "\"params\":{\"fd\":3,\"fd_name\":\"/home/etc/passwd\"}"));
	apply(f);
	/* closed: no name any more */
	assert_string_equal(text(f), "03:04:05.123456789 3 cat(1000) 1000 close ret=0 fd=3");

	/* a path relative to a directory fd */
	evb_sc(&B, "openat", 1000, 1000, 4, TS);
	evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_PATH, "/var/log");
	evb_u64(&B, SAKER_PN_FLAGS, O_DIRECTORY);
	evb_u64(&B, SAKER_PN_MODE, 0);
	apply(f);
	evb_sc(&B, "renameat2", 1000, 1000, 0, TS);
	evb_s64(&B, SAKER_PN_DIRFD, 4);
	evb_str(&B, SAKER_PN_PATH, "a.log");
	evb_s64(&B, SAKER_PN_NEWDIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_NEWPATH, "b.log");
	evb_u64(&B, SAKER_PN_FLAGS, 1);
	assert_string_equal(text(f), "03:04:05.123456789 3 cat(1000) 1000 renameat2 ret=0 "
				     "dirfd=4(\"/var/log\") path=\"a.log\" "
				     "path_abs=\"/var/log/a.log\" newdirfd=-100(AT_FDCWD) "
				     "newpath=\"b.log\" newpath_abs=\"/home/u/b.log\" flags=0x1");
	assert_non_null(strstr(json(f), "\"params\":{\"dirfd\":4,\"dirfd_name\":\"/var/log\","
					"\"path\":\"a.log\",\"path_abs\":\"/var/log/a.log\","
					"\"newdirfd\":-100,\"newpath\":\"b.log\","
					"\"newpath_abs\":\"/home/u/b.log\",\"flags\":1}"));

	/* a symlink's target is its content, not a path to resolve */
	evb_sc(&B, "symlinkat", 1000, 1000, 0, TS);
	evb_str(&B, SAKER_PN_PATH, "target");
	evb_s64(&B, SAKER_PN_NEWDIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_NEWPATH, "link");
	assert_string_equal(text(f), "03:04:05.123456789 3 cat(1000) 1000 symlinkat ret=0 "
				     "path=\"target\" newdirfd=-100(AT_FDCWD) newpath=\"link\" "
				     "newpath_abs=\"/home/u/link\"");
}

static void test_sockets_and_symbols(void **state)
{
	struct fixture *f = *state;

	evb_sc(&B, "connect", 7, 7, -ECONNREFUSED, TS);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 8080);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 connect "
				     "ret=-111(ECONNREFUSED) fd=4 addr=127.0.0.1:8080");
	assert_string_equal(json(f),
			    "{\"time\":\"2024-01-02T03:04:05.123456789Z\",\"cpu\":3,\"pid\":7,"
			    "\"tid\":7,\"comm\":null,\"exe\":null,\"event\":\"connect\","
			    "\"ret\":-111,\"params\":{\"fd\":4,\"addr\":\"127.0.0.1:8080\"}}");

	evb_sc(&B, "bind", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin6(&B, SAKER_PN_ADDR, "::1", 443);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 bind ret=0 fd=4 "
				     "addr=[::1]:443");
	apply(f);

	evb_sc(&B, "connect", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 5);
	evb_sun(&B, SAKER_PN_ADDR, "/run/a b\n.sock", 14);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 connect ret=0 fd=5 "
				     "addr=\"/run/a b\\n.sock\"");
	assert_non_null(strstr(json(f), "\"addr\":\"/run/a b\\n.sock\""));
	apply(f);
	evb_sc(&B, "close", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 5);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 close ret=0 "
				     "fd=5(\"/run/a b\\n.sock\")");

	evb_sc(&B, "accept4", 7, 7, 9, TS);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sun(&B, SAKER_PN_ADDR, "\0abs", 4);
	evb_u64(&B, SAKER_PN_FLAGS, 0x80800);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 accept4 ret=9 "
				     "fd=4(\"::1:443->:::0\") addr=\"@abs\" flags=0x80800");

	evb_sc(&B, "connect", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 6);
	evb_raw(&B, SAKER_PN_ADDR, SAKER_PK_SOCKADDR, "\x10\0\0\0\0\0\0\0", 8);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 connect ret=0 fd=6 "
				     "addr=<af=16>");
	evb_sc(&B, "connect", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 6);
	evb_raw(&B, SAKER_PN_ADDR, SAKER_PK_SOCKADDR, "\2\0\0", 3);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 connect ret=0 fd=6 "
				     "addr=<invalid>");
	assert_non_null(strstr(json(f), "\"addr\":null"));

	evb_sc(&B, "socket", 7, 7, 3, TS);
	evb_u64(&B, SAKER_PN_DOMAIN, 10);
	evb_u64(&B, SAKER_PN_TYPE, 0x80001);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 socket ret=3 "
				     "domain=10(AF_INET6) type=0x80001 proto=0");

	evb_sc(&B, "kill", 7, 7, 0, TS);
	evb_s64(&B, SAKER_PN_PID, 1);
	evb_s64(&B, SAKER_PN_SIG, 9);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(7) 7 kill ret=0 pid=1 "
				     "sig=9(SIGKILL)");
	assert_non_null(strstr(json(f), "\"params\":{\"pid\":1,\"sig\":9}"));
}

static void test_process_events(void **state)
{
	struct fixture *f = *state;

	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, 1001, 1001, 0, TS);
	evb_s64(&B, SAKER_PN_PID, 1000);
	evb_s64(&B, SAKER_PN_PPID, 1000);
	evb_str(&B, SAKER_PN_COMM, "my prog");
	assert_string_equal(text(f), "03:04:05.123456789 3 my\\x20prog(1001) 1001 "
				     "sched_process_fork pid=1000 ppid=1000 comm=\"my prog\"");
	assert_string_equal(json(f),
			    "{\"time\":\"2024-01-02T03:04:05.123456789Z\",\"cpu\":3,\"pid\":1001,"
			    "\"tid\":1001,\"comm\":\"my prog\",\"exe\":null,"
			    "\"event\":\"sched_process_fork\",\"ret\":null,\"params\":{"
			    "\"pid\":1000,\"ppid\":1000,\"comm\":\"my prog\"}}");

	/* an empty comm (prctl(PR_SET_NAME, "")) is no value: <NA>, not an empty token */
	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, 1002, 1002, 0, TS);
	evb_s64(&B, SAKER_PN_PID, 1000);
	evb_s64(&B, SAKER_PN_PPID, 1000);
	evb_str(&B, SAKER_PN_COMM, "");
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(1002) 1002 "
				     "sched_process_fork pid=1000 ppid=1000 comm=\"\"");
	assert_non_null(strstr(json(f), "\"tid\":1002,\"comm\":null,"));

	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 1001, 1001, 0, TS);
	evb_s64(&B, SAKER_PN_EXIT_CODE, 256);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(1001) 1001 sched_process_exit "
				     "exit_code=256");
}

/* A loss marks the view: the lines of events inside its window say their enrichment may be stale.
 */
static void test_view_degraded(void **state)
{
	struct fixture *f = *state;

	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 1001, 1001, 0, TS);
	evb_s64(&B, SAKER_PN_EXIT_CODE, 0);
	assert_null(strstr(text(f), "view_degraded"));
	assert_null(strstr(json(f), "view_degraded"));
	saker_view_mark_degraded(f->v, 1001, TS - 10, TS);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(1001) 1001 sched_process_exit "
				     "exit_code=0 view_degraded=true");
	assert_string_equal(json(f),
			    "{\"time\":\"2024-01-02T03:04:05.123456789Z\",\"cpu\":3,\"pid\":1001,"
			    "\"tid\":1001,\"comm\":null,\"exe\":null,"
			    "\"event\":\"sched_process_exit\",\"ret\":null,\"params\":{"
			    "\"exit_code\":0},\"view_degraded\":true}");
	/* another process, or an event after the window, is not */
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 1002, 1002, 0, TS);
	assert_null(strstr(text(f), "view_degraded"));
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 1001, 1001, 0, TS + 1);
	assert_null(strstr(json(f), "view_degraded"));
	/* a loss nobody can attribute marks everyone */
	saker_view_mark_degraded(f->v, 0, TS, TS + 1);
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 1002, 1002, 0, TS + 1);
	assert_non_null(strstr(json(f), ",\"view_degraded\":true}"));
}

static void test_generic_and_odd(void **state)
{
	struct fixture *f = *state;

	evb_sc(&B, "mmap", 5, 6, 0x7f0000001000, TS);
	evb_u64(&B, SAKER_PN_ARG0, 0);
	evb_u64(&B, SAKER_PN_ARG1, 4096);
	evb_u64(&B, SAKER_PN_ARG2, 3);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(6) 5 mmap ret=139637976731648 "
				     "arg0=0x0 arg1=0x1000 arg2=0x3");
	assert_non_null(strstr(json(f), "\"params\":{\"arg0\":0,\"arg1\":4096,\"arg2\":3}"));

	/* a syscall id with no name, a param name this build does not know, a duplicate */
	evb_begin(&B, SAKER_EVT_SYSCALL, 511, 5, 5, -4096, TS);
	evb_u64(&B, 200, 1);
	evb_s64(&B, SAKER_PN_FD, 1);
	evb_s64(&B, SAKER_PN_FD, 2);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(5) 5 syscall_511 ret=-4096 "
				     "p200=1 fd=1");
	assert_non_null(strstr(json(f), "\"event\":\"syscall_511\",\"ret\":-4096,\"params\":{"
					"\"p200\":1,\"fd\":1}"));

	/* unreadable and truncated values */
	evb_sc(&B, "openat2", 5, 5, -EFAULT, TS);
	evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
	evb_raw(&B, SAKER_PN_PATH, SAKER_PK_STR | SAKER_PF_UNREADABLE, NULL, 0);
	evb_raw(&B, SAKER_PN_FLAGS, SAKER_PK_U64 | SAKER_PF_UNREADABLE, NULL, 0);
	evb_raw(&B, SAKER_PN_NEWPATH, SAKER_PK_STR | SAKER_PF_TRUNCATED, "/aaaa", 5);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(5) 5 openat2 ret=-14(EFAULT) "
				     "dirfd=-100(AT_FDCWD) path=<unreadable> flags=<unreadable> "
				     "newpath=\"/aaaa\"...");
	assert_non_null(strstr(json(f), "\"params\":{\"dirfd\":-100,\"path\":null,\"flags\":null,"
					"\"newpath\":\"/aaaa\"},\"truncated\":[\"newpath\"],"
					"\"unreadable\":[\"path\",\"flags\"]}"));
	/* an empty argv, a mode */
	evb_sc(&B, "mkdir", 5, 5, 0, TS);
	evb_str(&B, SAKER_PN_PATH, "/d");
	evb_u64(&B, SAKER_PN_MODE, 0755);
	evb_raw(&B, SAKER_PN_ARGS, SAKER_PK_STRLIST, NULL, 0);
	assert_string_equal(text(f), "03:04:05.123456789 3 <NA>(5) 5 mkdir ret=0 path=\"/d\" "
				     "mode=0755 args=[]");
}

/* Nothing a process puts in a string can break the line or the JSON. */
static void test_escaping(void **state)
{
	static const char evil[] = "/tmp/x\ny\r\x1b[31mred\x1b[0m \"q\" \\ \xc2\x85 \xe2\x80\xa8 "
				   "\xff\x7f\t end";
	static const char *const argv[] = {"sh", "-c", "echo \"hi\"\n03:04:05 forged line", NULL};
	struct fixture *f = *state;
	const char *s;

	evb_sc(&B, "unlink", 5, 5, 0, TS);
	evb_str(&B, SAKER_PN_PATH, evil);
	s = text(f);
	assert_string_equal(s, "03:04:05.123456789 3 <NA>(5) 5 unlink ret=0 "
			       "path=\"/tmp/x\\ny\\r\\x1b[31mred\\x1b[0m \\\"q\\\" \\\\ \\u0085 "
			       "\\u2028 \\xff\\x7f\\t end\"");
	s = json(f);
	assert_non_null(strstr(s, "\"path\":\"/tmp/x\\ny\\r\\u001b[31mred\\u001b[0m \\\"q\\\" "
				  "\\\\ \\u0085 \\u2028 \\ufffd\\u007f\\t end\""));

	/* comm and argv too */
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, 5, 5, 0, TS);
	evb_str(&B, SAKER_PN_EXE, "/bin/sh");
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_str(&B, SAKER_PN_COMM, "a\nb c(1) \\");
	s = text(f);
	assert_string_equal(s, "03:04:05.123456789 3 a\\nb\\x20c(1)\\x20\\\\(5) 5 "
			       "sched_process_exec exe=\"/bin/sh\" "
			       "args=[\"sh\",\"-c\",\"echo \\\"hi\\\"\\n03:04:05 forged line\"] "
			       "comm=\"a\\nb c(1) \\\\\"");
	s = json(f);
	assert_non_null(strstr(s, "\"comm\":\"a\\nb c(1) \\\\\""));
	assert_non_null(strstr(s, "\"args\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\\n03:04:05 forged "
				  "line\"]"));
}

static void test_malformed_and_fuzz(void **state)
{
	struct fixture *f = *state;
	char *buf = NULL;
	size_t len = 0;
	unsigned seed = 99;
	size_t ok = 0;
	FILE *mem;

	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	evb_sc(&B, "close", 5, 5, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_end(&B);
	assert_int_equal(saker_dump_event(&f->text, evb_hdr(&B), 31, mem), -EBADMSG);
	B.buf[32] = 200; /* param length past the end */
	assert_int_equal(saker_dump_event(&f->json, evb_hdr(&B), B.len, mem), -EBADMSG);
	fflush(mem);
	assert_int_equal(len, 0);
	assert_int_equal(f->text.malformed, 1);
	assert_int_equal(f->json.malformed, 1);

	/* random params after a sane header: every accepted record is one clean line */
	for (int i = 0; i < 6000; i++) {
		struct saker_dump *d = i % 2 ? &f->json : &f->text;
		uint8_t rec[160];
		uint16_t rlen = (uint16_t)(32 + rand_r(&seed) % 129);
		uint16_t type = (uint16_t)(1 + rand_r(&seed) % 4);
		uint16_t sc = (uint16_t)(type == SAKER_EVT_SYSCALL ? rand_r(&seed) % 512
								   : SAKER_SYSCALL_NONE);
		size_t before;
		int err;

		for (size_t k = 0; k < sizeof(rec); k++)
			rec[k] = (uint8_t)rand_r(&seed);
		memcpy(rec + offsetof(struct saker_evt_hdr, len), &rlen, 2);
		memcpy(rec + offsetof(struct saker_evt_hdr, type), &type, 2);
		memcpy(rec + offsetof(struct saker_evt_hdr, syscall_id), &sc, 2);
		/* lay out plausible params most of the time, random payloads */
		for (size_t off = 32; i % 4 && off + 4 <= rlen;) {
			struct saker_param_hdr ph;
			size_t room = rlen - off - 4;

			ph.kind = (uint8_t)(1 + rand_r(&seed) % 5);
			ph.kind |= (uint8_t)(rand_r(&seed) % 8 == 0 ? SAKER_PF_TRUNCATED : 0);
			ph.name = (uint8_t)(rand_r(&seed) % (SAKER_PN_MAX + 2));
			ph.len = (uint16_t)((ph.kind & SAKER_PK_MASK) <= SAKER_PK_S64
						? 8
						: (room ? (size_t)rand_r(&seed) % (room + 1) : 0));
			if (ph.len > room)
				break;
			memcpy(rec + off, &ph, sizeof(ph));
			off += 4 + ph.len;
			if (rlen - off < 4)
				rlen = (uint16_t)off;
		}
		memcpy(rec + offsetof(struct saker_evt_hdr, len), &rlen, 2);
		fflush(mem);
		before = len;
		err = saker_dump_event(d, (const void *)rec, rlen, mem);
		fflush(mem);
		if (err) {
			assert_int_equal(err, -EBADMSG);
			assert_int_equal(len, before);
			continue;
		}
		ok++;
		/* one line, no raw control character in it */
		assert_true(len > before);
		assert_int_equal(buf[len - 1], '\n');
		for (size_t k = before; k < len - 1; k++)
			assert_true((unsigned char)buf[k] >= 0x20 && buf[k] != 0x7f);
		if (d == &f->json) {
			buf[len - 1] = '\0';
			if (!json_valid(buf + before))
				fail_msg("invalid JSON: %s", buf + before);
			buf[len - 1] = '\n';
		}
	}
	fclose(mem);
	free(buf);
	assert_true(ok > 1000);
}

static void test_no_view_and_write_errors(void **state)
{
	struct saker_dump d;
	FILE *full;

	(void)state;
	saker_dump_init(&d, false, false, OFFSET, NULL);
	evb_sc(&B, "close", 5, 5, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_end(&B);
	full = fopen("/dev/full", "w");
	assert_non_null(full);
	setvbuf(full, NULL, _IONBF, 0);
	assert_int_equal(saker_dump_event(&d, evb_hdr(&B), B.len, full), -EIO);
	assert_int_equal(d.write_errors, 1);
	fclose(full);
	saker_dump_fini(&d);
	saker_dump_fini(NULL);
}

static void test_time(void **state)
{
	struct saker_dump d;
	int64_t off = saker_clock_boot_offset_ns();
	struct timespec r, b;
	const char *s;
	struct fixture *f = *state;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	/* realtime - boottime, to well within a second */
	assert_true(llabs(off - ((int64_t)(r.tv_sec - b.tv_sec) * 1000000000 +
				 (r.tv_nsec - b.tv_nsec))) < 100000000);
	/* an offset sending the time before 1970 is clamped, not a garbage date */
	saker_dump_init(&d, true, false, -(int64_t)TS - 5, NULL);
	evb_sc(&B, "close", 5, 5, 0, TS);
	evb_s64(&B, SAKER_PN_FD, 3);
	s = dump_with(f, &d);
	assert_non_null(strstr(s, "\"time\":\"1970-01-01T00:00:00.000000000Z\""));
	saker_dump_fini(&d);
	/* and one sending it past the end of u64 ns saturates */
	saker_dump_init(&d, true, false, INT64_MAX, NULL);
	evb_sc(&B, "close", 5, 5, 0, UINT64_MAX - 3);
	evb_s64(&B, SAKER_PN_FD, 3);
	s = dump_with(f, &d);
	assert_non_null(strstr(s, "\"time\":\"2554-07-21T23:34:33.709551615Z\""));
	saker_dump_fini(&d);
}

/* A reader that never reads: the sink never blocks, loses and counts, and finish is bounded. */
static void test_sink_stalled_reader(void **state)
{
	struct saker_dump_sink sk;
	char line[100];
	int fds[2], fl, err;
	uint64_t lost_full = 0;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(saker_dump_sink_open(&sk, fds[1], 16384), 0);
	fl = fcntl(fds[1], F_GETFL);
	assert_true(fl & O_NONBLOCK);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	/* a pipe holds 64 KiB, the buffer 16 KiB: ~800 lines fit, the rest is lost */
	for (int i = 0; i < 5000; i++) {
		err = saker_dump_sink_put(&sk, line, sizeof(line), false);
		assert_true(err == 0 || err == -ENOBUFS);
		lost_full += err == -ENOBUFS;
	}
	assert_true(lost_full > 0);
	assert_int_equal(saker_dump_sink_flush(&sk), -EAGAIN);
	assert_true(saker_dump_sink_pending(&sk));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(saker_dump_sink_finish(&sk, 100), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_false(saker_dump_sink_pending(&sk));
	assert_int_equal(sk.lines_put, 5000);
	assert_int_equal(sk.lines_written + sk.lines_lost, 5000);
	assert_true(sk.lines_lost > lost_full);
	/* every byte in the pipe is whole lines, none torn */
	{
		static char got[1 << 17];
		ssize_t n;

		(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
		n = read(fds[0], got, sizeof(got));
		assert_true(n > 0);
		assert_int_equal((uint64_t)n, sk.lines_written * sizeof(line));
		assert_int_equal(got[n - 1], '\n');
	}
	assert_true(sk.stuck);
	saker_dump_sink_close(&sk);
	/* a stuck reader keeps the fd non-blocking: no exit-time flush may hang on it */
	assert_true(fcntl(fds[1], F_GETFL) & O_NONBLOCK);
	close(fds[0]);
	close(fds[1]);
}

/* Under a stalled reader bulk lines are shed first: critical ones still fit, until the reserve is
 * full. */
static void test_sink_critical_lines_shed_last(void **state)
{
	struct saker_dump_sink sk;
	char line[100];
	int fds[2], err;
	uint64_t bulk_lost = 0, crit_ok = 0, crit_lost = 0;
	const size_t cap = 1u << 20;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(saker_dump_sink_open(&sk, fds[1], cap), 0);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	/* the pipe takes 64 KiB, then bulk lines fill the buffer up to the reserve */
	for (int i = 0; i < 20000; i++) {
		err = saker_dump_sink_put(&sk, line, sizeof(line), false);
		assert_true(err == 0 || err == -ENOBUFS);
		bulk_lost += err == -ENOBUFS;
	}
	assert_true(bulk_lost > 0);
	assert_true(saker_dump_sink_full(&sk, false));
	assert_false(saker_dump_sink_full(&sk, true));
	assert_int_equal(sk.lines_lost_critical, 0);
	/* the reserve (cap/8) holds about 1300 lines of 100 bytes: all of these fit */
	for (int i = 0; i < 1000; i++)
		crit_ok += saker_dump_sink_put(&sk, line, sizeof(line), true) == 0;
	assert_int_equal(crit_ok, 1000);
	assert_int_equal(sk.lines_lost_critical, 0);
	/* a bulk line still finds no room: the reserve is not for it */
	assert_int_equal(saker_dump_sink_put(&sk, line, sizeof(line), false), -ENOBUFS);
	/* past the reserve critical lines are lost too, and counted apart */
	for (int i = 0; i < 1000; i++)
		crit_lost += saker_dump_sink_put(&sk, line, sizeof(line), true) == -ENOBUFS;
	assert_true(crit_lost > 0);
	assert_int_equal(sk.lines_lost_critical, crit_lost);
	saker_dump_sink_skip(&sk, true);
	assert_int_equal(sk.lines_lost_critical, crit_lost + 1);
	assert_int_equal(sk.lines_lost, bulk_lost + 1 + crit_lost + 1);
	(void)saker_dump_sink_finish(&sk, 10);
	assert_int_equal(sk.lines_put, sk.lines_written + sk.lines_lost);
	saker_dump_sink_close(&sk);
	close(fds[0]);
	close(fds[1]);
}

/* The reader went away: EPIPE reaches the caller as a return value, and stays. */
static void test_sink_reader_gone(void **state)
{
	struct saker_dump_sink sk;
	int fds[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(saker_dump_sink_open(&sk, fds[1], 0), 0);
	close(fds[0]);
	assert_int_equal(saker_dump_sink_put(&sk, "a\n", 2, false), 0);
	assert_int_equal(saker_dump_sink_flush(&sk), -EPIPE);
	assert_int_equal(saker_dump_sink_put(&sk, "b\n", 2, false), -EPIPE);
	assert_int_equal(saker_dump_sink_finish(&sk, 10), -EPIPE);
	assert_int_equal(sk.lines_put, 2);
	assert_int_equal(sk.lines_lost, 2);
	assert_int_equal(sk.lines_written, 0);
	assert_false(sk.stuck);
	saker_dump_sink_close(&sk);
	/* the fd's flags are given back */
	assert_false(fcntl(fds[1], F_GETFL) & O_NONBLOCK);
	saker_dump_sink_close(NULL);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enriched_open_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sockets_and_symbols, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_degraded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generic_and_odd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_and_fuzz, setup, teardown),
	    cmocka_unit_test(test_no_view_and_write_errors),
	    cmocka_unit_test_setup_teardown(test_time, setup, teardown),
	    cmocka_unit_test(test_sink_stalled_reader),
	    cmocka_unit_test(test_sink_critical_lines_shed_last),
	    cmocka_unit_test(test_sink_reader_gone),
	};

	/* Text times are local: pin the zone so the expected lines hold anywhere. */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
