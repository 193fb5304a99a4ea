/*
 * libFuzzer harness for the rules loader and the condition compiler:
 * `make fuzz` builds it with clang -fsanitize=fuzzer,address,undefined and
 * runs it for a bounded time over tests/fuzz/corpus (seeded from the unit
 * tests' inputs). The first byte picks the mode: even, the input is a whole
 * rules file; odd, it is one condition (and one output) of a rule wrapped
 * around it, with a few macros and lists to refer to. Whatever compiles is
 * matched against a handful of synthetic events, without a view.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evbuild.h"
#include "event/event.h"
#include "rules/rules.h"

static struct evb B;

static void on_match(void *ctx, const struct saker_rule_info *rule, const struct saker_alert *a)
{
	(void)ctx;
	(void)rule;
	/* touch what an output would read */
	for (size_t i = 0; i < a->n_fields; i++)
		if (a->fields[i].type == SAKER_FIELD_STR && a->fields[i].str)
			(void)strlen(a->fields[i].str);
	(void)strlen(a->output);
}

static void match_some(struct saker_rules *r)
{
	static const char *const argv[] = {"sh", "-c", "id", NULL};
	struct saker_event ev;

	evb_sc(&B, "openat", 10, 10, 3, 1000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "../etc/shadow");
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	evb_end(&B);
	if (!saker_event_parse(&ev, evb_hdr(&B), B.len))
		(void)saker_rules_match(r, &ev, NULL, on_match, NULL);
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, 10, 10, 0, 2000);
	evb_str(&B, SAKER_PN_EXE, "/bin/sh");
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_end(&B);
	if (!saker_event_parse(&ev, evb_hdr(&B), B.len))
		(void)saker_rules_match(r, &ev, NULL, on_match, NULL);
	evb_sc(&B, "connect", 10, 10, 0, 3000);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_sin(&B, SAKER_PN_ADDR, "10.1.2.3", 22);
	evb_end(&B);
	if (!saker_event_parse(&ev, evb_hdr(&B), B.len))
		(void)saker_rules_match(r, &ev, NULL, on_match, NULL);
}

static const char PRELUDE[] = "- list: l1\n  items: [a, b, '\"c d\"']\n"
			      "- list: l2\n  items: [l1, e]\n"
			      "- macro: m1\n  condition: proc.name in (l2)\n"
			      "- macro: m2\n  condition: m1 or evt.type = openat\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saker_rules *r;
	char err[512];
	char *buf;
	size_t n = 0;

	if (size < 1 || size > 65536)
		return 0;
	if (saker_rules_new(&r))
		return 0;
	if (data[0] % 2 == 0) {
		(void)saker_rules_load_buffer(r, "fuzz.yaml", (const char *)data + 1, size - 1, err,
					      sizeof(err), NULL, NULL);
	} else {
		/* one line of condition, the rest (after a newline) as the output */
		const uint8_t *nl = memchr(data + 1, '\n', size - 1);
		size_t cl = nl ? (size_t)(nl - data - 1) : size - 1;
		size_t ol = nl ? size - 2 - cl : 0;

		buf = malloc(sizeof(PRELUDE) + 2 * size + 128);
		if (!buf) {
			saker_rules_free(r);
			return 0;
		}
		n = (size_t)sprintf(
		    buf, "%s- rule: f\n  desc: d\n  priority: INFO\n  condition: |\n    ", PRELUDE);
		for (size_t i = 0; i < cl; i++)
			buf[n++] =
			    data[1 + i] == '\n' || data[1 + i] == '\r' ? ' ' : (char)data[1 + i];
		n += (size_t)sprintf(buf + n, "\n  output: |\n    ");
		for (size_t i = 0; i < ol; i++)
			buf[n++] = nl[1 + i] == '\n' || nl[1 + i] == '\r' ? ' ' : (char)nl[1 + i];
		buf[n++] = '\n';
		(void)saker_rules_load_buffer(r, "fuzz.yaml", buf, n, err, sizeof(err), NULL, NULL);
		free(buf);
	}
	if (!saker_rules_compile(r, err, sizeof(err), NULL, NULL))
		match_some(r);
	saker_rules_free(r);
	return 0;
}
