#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event/event.h"
#include "evbuild.h"

static struct evb B;

/* An openat exit with one parameter of each kind, and flags. */
static const struct saker_evt_hdr *build_mixed(void)
{
	static const char *const argv[] = {"ls", "-l", "a b", NULL};

	evb_sc(&B, "openat", 100, 99, 3, 5000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "/etc/passwd");
	evb_u64(&B, SAKER_PN_FLAGS, 0x80000);
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_sin(&B, SAKER_PN_ADDR, "10.1.2.3", 8080);
	evb_raw(&B, SAKER_PN_CWD, SAKER_PK_STR | SAKER_PF_UNREADABLE, NULL, 0);
	evb_raw(&B, SAKER_PN_NEWPATH, SAKER_PK_STR | SAKER_PF_TRUNCATED, "/long", 5);
	evb_raw(&B, SAKER_PN_MODE, SAKER_PK_U64 | SAKER_PF_UNREADABLE, NULL, 0);
	return evb_end(&B);
}

static void test_parse_and_get(void **state)
{
	const struct saker_evt_hdr *h = build_mixed();
	struct saker_event ev;
	struct saker_param p;
	char buf[64];
	uint64_t u;
	int64_t s;

	(void)state;
	assert_int_equal(saker_event_parse(&ev, h, B.len), 0);
	assert_int_equal(ev.hdr.tid, 100);
	assert_int_equal(ev.hdr.tgid, 99);
	assert_int_equal(ev.hdr.ret, 3);
	assert_int_equal(ev.nparams, 8);

	assert_int_equal(saker_event_get_s64(&ev, SAKER_PN_DIRFD, &s), 0);
	assert_int_equal(s, -100);
	assert_int_equal(saker_event_get_u64(&ev, SAKER_PN_FLAGS, &u), 0);
	assert_int_equal(u, 0x80000);
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_PATH, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc/passwd");
	/* too small: truncated copy, still NUL-terminated */
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_PATH, buf, 5), -ENAMETOOLONG);
	assert_string_equal(buf, "/etc");
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_PATH, buf, 0), -ENAMETOOLONG);

	assert_int_equal(saker_event_get_u64(&ev, SAKER_PN_UID, &u), -ENOENT);
	assert_int_equal(saker_event_get_u64(&ev, SAKER_PN_PATH, &u), -EINVAL);
	assert_int_equal(saker_event_get_u64(&ev, SAKER_PN_MODE, &u), -ENODATA);
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_FLAGS, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_CWD, buf, sizeof(buf)), -ENODATA);
	assert_int_equal(saker_event_get_str(&ev, SAKER_PN_MAX, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(saker_event_get_str(&ev, 250, buf, sizeof(buf)), -ENOENT);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_NEWPATH, &p), 0);
	assert_int_equal(p.kind, SAKER_PK_STR);
	assert_int_equal(p.flags, SAKER_PF_TRUNCATED);
	assert_int_equal(p.len, 5);
	assert_memory_equal(p.val, "/long", 5);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_ARGS, &p), 0);
	assert_int_equal(p.kind, SAKER_PK_STRLIST);
	assert_int_equal(p.len, sizeof("ls\0-l\0a b"));
	assert_memory_equal(p.val, "ls\0-l\0a b", p.len);
}

static void test_iteration_order(void **state)
{
	static const uint8_t names[] = {SAKER_PN_DIRFD,	  SAKER_PN_PATH, SAKER_PN_FLAGS,
					SAKER_PN_ARGS,	  SAKER_PN_ADDR, SAKER_PN_CWD,
					SAKER_PN_NEWPATH, SAKER_PN_MODE};
	const struct saker_evt_hdr *h = build_mixed();
	struct saker_event ev;
	struct saker_param p;
	size_t pos = 0, n = 0;

	(void)state;
	assert_int_equal(saker_event_parse(&ev, h, B.len), 0);
	while (saker_event_next(&ev, &pos, &p)) {
		assert_true(n < sizeof(names));
		assert_int_equal(p.name, names[n]);
		/* the payload lies inside the record */
		assert_true(p.val >= B.buf + sizeof(struct saker_evt_hdr));
		assert_true(p.val + p.len <= B.buf + B.len);
		n++;
	}
	assert_int_equal(n, sizeof(names));
	assert_int_equal(pos, B.len);
	/* finished iterators stay finished */
	assert_false(saker_event_next(&ev, &pos, &p));
}

static void test_empty_and_padded(void **state)
{
	struct saker_event ev;
	struct saker_param p;
	size_t pos = 0;

	(void)state;
	/* a header alone is a valid record (an exit with no param) */
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 5, 5, 0, 1);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), 0);
	assert_int_equal(ev.nparams, 0);
	assert_false(saker_event_next(&ev, &pos, &p));

	/* the ring may hand over more than hdr.len: the rest is not parsed */
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 5, 5, 0, 1);
	evb_s64(&B, SAKER_PN_EXIT_CODE, 256);
	evb_end(&B);
	memset(B.buf + B.len, 0xff, 8);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len + 8), 0);
	assert_int_equal(ev.nparams, 1);
}

static void test_unknown_name_tolerated(void **state)
{
	struct saker_event ev;
	struct saker_param p;
	size_t pos = 0;
	uint64_t u;

	(void)state;
	evb_sc(&B, "close", 1, 1, 0, 1);
	evb_u64(&B, 200, 7);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_s64(&B, SAKER_PN_FD, 5); /* a duplicate: lookups see the first */
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), 0);
	assert_int_equal(ev.nparams, 3);
	assert_true(saker_event_next(&ev, &pos, &p));
	assert_int_equal(p.name, 200);
	assert_null(saker_param_name_str(200));
	assert_int_equal(saker_event_get_u64(&ev, SAKER_PN_FD, &u), 0);
	assert_int_equal(u, 4);
}

/* Each malformation on its own must be refused. */
static void test_malformed(void **state)
{
	struct saker_event ev;
	struct saker_evt_hdr h;
	uint16_t v16;

	(void)state;
	assert_int_equal(saker_event_parse(&ev, NULL, 100), -EBADMSG);
	build_mixed();
	assert_int_equal(saker_event_parse(&ev, B.buf, 31), -EBADMSG);
	/* hdr.len past what the ring gave */
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len - 1), -EBADMSG);
	/* hdr.len below the header */
	v16 = 31;
	memcpy(B.buf + offsetof(struct saker_evt_hdr, len), &v16, 2);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/*
	 * hdr.len cutting a param in its payload or its header. The last two
	 * params are MODE (4 bytes, unreadable) and NEWPATH (4 + 5): cutting 4
	 * drops MODE whole, which is a valid shorter record.
	 */
	build_mixed();
	for (size_t cut = 1; cut < 12; cut++) {
		v16 = (uint16_t)(B.len - cut);
		memcpy(B.buf + offsetof(struct saker_evt_hdr, len), &v16, 2);
		assert_int_equal(saker_event_parse(&ev, B.buf, B.len), cut == 4 ? 0 : -EBADMSG);
	}
	/* bad types */
	for (uint16_t t = 0; t < 8; t++) {
		build_mixed();
		memcpy(&h, B.buf, sizeof(h));
		h.type = t;
		memcpy(B.buf, &h, sizeof(h));
		if (t == SAKER_EVT_SYSCALL)
			assert_int_equal(saker_event_parse(&ev, B.buf, B.len), 0);
		else
			assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	}
	/* a process event with a syscall id, a syscall event without */
	evb_begin(&B, SAKER_EVT_PROC_EXIT, 3, 1, 1, 0, 0);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	evb_begin(&B, SAKER_EVT_SYSCALL, SAKER_SYSCALL_NONE, 1, 1, 0, 0);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);

	/* integer of the wrong size */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_FD, SAKER_PK_S64, "\1\0\0\0", 4);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/* unknown kinds */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_FD, 0, "x", 1);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_FD, SAKER_PK_MAX, "x", 1);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/* unknown flag bit */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_PATH, SAKER_PK_STR | 0x40, "x", 1);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/* unreadable with a payload */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_PATH, SAKER_PK_STR | SAKER_PF_UNREADABLE, "x", 1);
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/* trailing bytes too short for a param header */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_s64(&B, SAKER_PN_FD, 3);
	B.len += 3;
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
	/* a param length running past the record */
	evb_sc(&B, "close", 1, 1, 0, 0);
	evb_raw(&B, SAKER_PN_PATH, SAKER_PK_STR, "abc", 3);
	evb_end(&B);
	v16 = 4;
	memcpy(B.buf + sizeof(struct saker_evt_hdr), &v16, 2);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), -EBADMSG);
}

/* Consumes a parsed event the way the dump and the view do. */
static size_t touch_all(const struct saker_event *ev)
{
	struct saker_sockaddr sa;
	struct saker_param p;
	size_t pos = 0, sum = 0;
	char buf[32];
	uint64_t u;

	while (saker_event_next(ev, &pos, &p)) {
		for (size_t i = 0; i < p.len; i++)
			sum += p.val[i];
		saker_param_u64(&p, &u);
		saker_sockaddr_decode(&p, &sa);
		assert_true(sa.path_len < sizeof(sa.path));
	}
	for (unsigned n = 0; n < SAKER_PN_MAX; n++)
		saker_event_get_str(ev, n, buf, sizeof(buf));
	return sum;
}

/*
 * Random records and random corruptions of a valid one: the parser either
 * refuses or yields params that lie inside the record (ASan checks reads).
 */
static void test_fuzz(void **state)
{
	unsigned seed = 4242;
	size_t ok = 0, bad = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		struct saker_event ev;
		size_t len;
		uint8_t *rec;

		if (round % 2) {
			len = (size_t)rand_r(&seed) % 300;
			rec = malloc(len ? len : 1);
			assert_non_null(rec);
			for (size_t i = 0; i < len; i++)
				rec[i] = (uint8_t)rand_r(&seed);
			/* plausible headers half of the time, so params get parsed */
			if (len >= 32 && rand_r(&seed) % 2) {
				uint16_t l = (uint16_t)(32 + (size_t)rand_r(&seed) % (len - 31));
				uint16_t t = (uint16_t)(1 + rand_r(&seed) % 4);
				uint16_t sc = t == 1 ? 257 : SAKER_SYSCALL_NONE;

				memcpy(rec + offsetof(struct saker_evt_hdr, len), &l, 2);
				memcpy(rec + offsetof(struct saker_evt_hdr, type), &t, 2);
				memcpy(rec + offsetof(struct saker_evt_hdr, syscall_id), &sc, 2);
			}
		} else {
			build_mixed();
			len = B.len;
			rec = malloc(len);
			assert_non_null(rec);
			memcpy(rec, B.buf, len);
			for (int k = 0; k < 1 + rand_r(&seed) % 4; k++)
				rec[32 + (size_t)rand_r(&seed) % (len - 32)] =
				    (uint8_t)rand_r(&seed);
			if (rand_r(&seed) % 4 == 0)
				len -= (size_t)rand_r(&seed) % 40;
		}
		if (saker_event_parse(&ev, rec, len) == 0) {
			ok++;
			touch_all(&ev);
		} else {
			bad++;
		}
		free(rec);
	}
	/* both paths were exercised */
	assert_true(ok > 100);
	assert_true(bad > 100);
}

static void test_sockaddr_decode(void **state)
{
	struct saker_event ev;
	struct saker_sockaddr sa;
	struct saker_param p;
	const uint8_t lo6[16] = {[15] = 1};

	(void)state;
	evb_sc(&B, "connect", 1, 1, 0, 0);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 80);
	evb_sin6(&B, SAKER_PN_ARG0, "::1", 443);
	evb_sun(&B, SAKER_PN_ARG1, "/run/x.sock", 11);
	evb_sun(&B, SAKER_PN_ARG2, "\0abs\0x", 6);
	evb_raw(&B, SAKER_PN_PATH, SAKER_PK_SOCKADDR, "\2\0\0", 3);	  /* AF_INET, too short */
	evb_sun(&B, SAKER_PN_NEWPATH, "", 0);				  /* unnamed */
	evb_raw(&B, SAKER_PN_NAME, SAKER_PK_SOCKADDR, "\x10\0abcdef", 8); /* AF_NETLINK */
	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, B.buf, B.len), 0);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_ADDR, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_int_equal(sa.family, AF_INET);
	assert_int_equal(sa.port, 80);
	assert_memory_equal(sa.addr, "\x7f\0\0\1", 4);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_ARG0, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_int_equal(sa.family, AF_INET6);
	assert_int_equal(sa.port, 443);
	assert_memory_equal(sa.addr, lo6, 16);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_ARG1, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_int_equal(sa.family, AF_UNIX);
	assert_false(sa.abstract);
	assert_string_equal(sa.path, "/run/x.sock");
	assert_int_equal(sa.path_len, 11);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_ARG2, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_true(sa.abstract);
	assert_int_equal(sa.path_len, 5);
	assert_memory_equal(sa.path, "abs\0x", 5);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_PATH, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), -ENODATA);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_NEWPATH, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_int_equal(sa.family, AF_UNIX);
	assert_int_equal(sa.path_len, 0);

	assert_int_equal(saker_event_get(&ev, SAKER_PN_NAME, &p), 0);
	assert_int_equal(saker_sockaddr_decode(&p, &sa), 0);
	assert_int_equal(sa.family, 16);

	/* not a sockaddr */
	p.kind = SAKER_PK_STR;
	assert_int_equal(saker_sockaddr_decode(&p, &sa), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	for (unsigned i = 0; i < SAKER_PN_MAX; i++) {
		const char *n = saker_param_name_str(i);

		assert_non_null(n);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(n, saker_param_name_str(j));
	}
	assert_null(saker_param_name_str(SAKER_PN_MAX));
	assert_string_equal(saker_param_name_str(SAKER_PN_CGROUP_ID), "cgroup_id");
	assert_string_equal(saker_param_kind_str(SAKER_PK_SOCKADDR), "sockaddr");
	assert_null(saker_param_kind_str(0));
	assert_string_equal(saker_evt_type_str(SAKER_EVT_PROC_EXEC), "sched_process_exec");
	assert_null(saker_evt_type_str(SAKER_EVT_TYPE_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_get),    cmocka_unit_test(test_iteration_order),
	    cmocka_unit_test(test_empty_and_padded), cmocka_unit_test(test_unknown_name_tolerated),
	    cmocka_unit_test(test_malformed),	     cmocka_unit_test(test_fuzz),
	    cmocka_unit_test(test_sockaddr_decode),  cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
