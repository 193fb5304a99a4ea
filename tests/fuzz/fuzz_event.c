/*
 * libFuzzer harness: ring records through the decoder, the process/fd view
 * and the dump (text and JSON), as the loop feeds them. The input is a
 * stream of records, each preceded by its length (2 bytes, little endian);
 * each record is copied into a buffer of exactly its size, so a read past
 * its end is caught. The view reads a fake proc root made at start, never
 * the real /proc.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event/event.h"
#include "outputs/dump.h"
#include "state/view.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char proc_root[] = "/tmp/saker-fuzz-proc-XXXXXX";
static FILE *sink;

/* A /proc with one process, enough for the cgroup re-read an exec may do. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[128];
	FILE *f;

	(void)argc;
	(void)argv;
	if (!mkdtemp(proc_root))
		abort();
	snprintf(path, sizeof(path), "%s/1", proc_root);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/1/cgroup", proc_root);
	f = fopen(path, "w");
	if (f) {
		fputs("0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef"
		      "0123456789abcdef.scope\n",
		      f);
		fclose(f);
	}
	sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saker_dump text, json;
	struct saker_view *v;
	size_t off = 0;

	if (saker_view_new(&v, 64, proc_root))
		return 0;
	saker_dump_init(&text, false, false, 0, v);
	saker_dump_init(&json, true, true, 0, v);
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		struct saker_event ev;
		void *rec;

		off += 2;
		if (len > size - off)
			len = size - off;
		rec = malloc(len ? len : 1);
		if (!rec)
			break;
		memcpy(rec, data + off, len);
		off += len;
		/* dump first, as the loop does: the line shows the state the event found */
		(void)saker_dump_event(&text, rec, len, sink);
		(void)saker_dump_event(&json, rec, len, sink);
		(void)saker_view_handle_event(v, rec, len);
		if (saker_event_parse(&ev, rec, len) == 0) {
			size_t pos = 0;
			struct saker_param p;
			char s[64];

			while (saker_event_next(&ev, &pos, &p))
				;
			(void)saker_event_get_str(&ev, SAKER_PN_COMM, s, sizeof(s));
		}
		free(rec);
	}
	saker_dump_fini(&text);
	saker_dump_fini(&json);
	saker_view_free(v);
	return 0;
}
