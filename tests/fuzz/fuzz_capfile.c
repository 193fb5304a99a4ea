/*
 * libFuzzer harness: capture files (capture/capfile.h) through the reader,
 * the view's restore of their snapshot and the view and dump for their
 * records, as a replay does. Each input runs twice: as it is, and with the
 * header's table identity set to this build's, so mutations get past the
 * identity check to the blocks behind it. The view's proc root is a path
 * nothing can be opened under (as in a replay): no /proc is read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capfile.h"
#include "outputs/dump.h"
#include "state/view.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the table identity sits: file header, META's block header. */
#define ID_OFFSET (SAKER_CAPFILE_HDR_BYTES + SAKER_CAPFILE_BLOCK_BYTES)

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	return 0;
}

static void restore(struct saker_view *v, const struct saker_capfile_item *it)
{
	char a[SAKER_CAPFILE_MAX_STR + 1], b[SAKER_CAPFILE_MAX_STR + 1];
	char c[SAKER_CAPFILE_MAX_STR + 1], d[65];
	struct saker_proctable *pt = saker_view_procs(v);

	if (it->kind == SAKER_CAPFILE_ITEM_PROC) {
		const struct saker_capfile_proc *cp = &it->proc;
		struct saker_proc p = {.tid = cp->tid,
				       .pid = cp->pid,
				       .ppid = cp->ppid,
				       .flags = cp->flags,
				       .exe = a,
				       .args = cp->args,
				       .args_len = cp->args_len,
				       .cwd = b,
				       .cgroup = c,
				       .container_id = d};

		memcpy(a, cp->exe, cp->exe_len);
		a[cp->exe_len] = '\0';
		memcpy(b, cp->cwd, cp->cwd_len);
		b[cp->cwd_len] = '\0';
		memcpy(c, cp->cgroup, cp->cgroup_len);
		c[cp->cgroup_len] = '\0';
		memcpy(d, cp->container_id, cp->container_id_len);
		d[cp->container_id_len] = '\0';
		memcpy(p.comm, cp->comm, sizeof(p.comm));
		(void)saker_proctable_restore(pt, &p);
	} else if (it->kind == SAKER_CAPFILE_ITEM_FD) {
		struct saker_fd f = {.pid = it->fd.pid,
				     .fd = it->fd.fd,
				     .type = (enum saker_fd_type)it->fd.type,
				     .flags = it->fd.flags,
				     .name = a};

		memcpy(a, it->fd.name, it->fd.name_len);
		a[it->fd.name_len] = '\0';
		(void)saker_fdtable_restore(saker_proctable_fds(pt), &f);
	}
}

static void run(const uint8_t *data, size_t size)
{
	struct saker_capfile_reader *r;
	struct saker_capfile_item it;
	struct saker_dump text;
	struct saker_view *v;
	char err[512];
	int ret;

	if (saker_capfile_open_mem(&r, data, size, "fuzz.cap", err, sizeof(err)))
		return;
	if (saker_view_new(&v, 64, "/dev/null/fuzz")) {
		saker_capfile_close(r);
		return;
	}
	saker_dump_init(&text, false, false, saker_capfile_meta(r)->boot_offset_ns, v);
	while ((ret = saker_capfile_next(r, &it, err, sizeof(err))) == 1) {
		if (it.kind != SAKER_CAPFILE_ITEM_RECORD) {
			restore(v, &it);
			continue;
		}
		(void)saker_dump_event(&text, it.rec, it.rec_len, sink);
		(void)saker_view_handle_event(v, it.rec, it.rec_len);
	}
	/* an error names the file and an offset inside it */
	if (ret < 0 && strncmp(err, "fuzz.cap:", 9) != 0)
		abort();
	saker_dump_fini(&text);
	saker_view_free(v);
	saker_capfile_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t id = saker_capfile_table_id();
	uint8_t *copy;

	/* An exact-size copy, so a read past the end is caught. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	run(copy, size);
	if (size >= ID_OFFSET + 8) {
		for (int i = 0; i < 8; i++)
			copy[ID_OFFSET + i] = (uint8_t)(id >> (8 * i));
		run(copy, size);
	}
	free(copy);
	return 0;
}
