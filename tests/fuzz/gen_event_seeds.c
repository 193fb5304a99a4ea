/*
 * Writes the event harness's seed corpus (tests/fuzz/corpus/event/): short
 * streams of well-formed records as the probe lays them out, built with the
 * unit tests' record builder. `make fuzz-seeds` runs it; its output is
 * committed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../unit/evbuild.h"

static struct evb B;
static unsigned char out[65536];
static size_t outlen;

static void put(void)
{
	(void)evb_end(&B);
	out[outlen++] = (unsigned char)(B.len & 0xff);
	out[outlen++] = (unsigned char)(B.len >> 8);
	memcpy(out + outlen, B.buf, B.len);
	outlen += B.len;
}

static void save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(out, 1, outlen, f) != outlen || fclose(f)) {
		perror(path);
		exit(1);
	}
	outlen = 0;
}

int main(int argc, char **argv)
{
	static const char *const args[] = {"cat", "/etc/hostname", NULL};
	const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/event";

	/* a process's life: fork, exec, open, read through dup, close, exit */
	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, 101, 101, 0, 1000);
	evb_s64(&B, SAKER_PN_PID, 100);
	evb_s64(&B, SAKER_PN_PPID, 100);
	evb_str(&B, SAKER_PN_COMM, "sh");
	put();
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, 101, 101, 0, 1001);
	evb_str(&B, SAKER_PN_EXE, "/usr/bin/cat");
	evb_strlist(&B, SAKER_PN_ARGS, args);
	evb_str(&B, SAKER_PN_CWD, "/tmp");
	evb_str(&B, SAKER_PN_COMM, "cat");
	evb_u64(&B, SAKER_PN_UID, 1000);
	evb_u64(&B, SAKER_PN_CGROUP_ID, 77);
	put();
	evb_sc(&B, "openat", 101, 101, 3, 1002);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "hostname");
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	evb_u64(&B, SAKER_PN_MODE, 0);
	put();
	evb_sc(&B, "dup2", 101, 101, 7, 1003);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_s64(&B, SAKER_PN_NEWFD, 7);
	put();
	evb_sc(&B, "close", 101, 101, 0, 1004);
	evb_s64(&B, SAKER_PN_FD, 3);
	put();
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, 101, 101, 0, 1005);
	evb_s64(&B, SAKER_PN_EXIT_CODE, 0);
	put();
	save(dir, "process_life");

	/* sockets */
	evb_sc(&B, "socket", 5, 5, 4, 2000);
	evb_s64(&B, SAKER_PN_DOMAIN, 2);
	evb_s64(&B, SAKER_PN_TYPE, 1);
	evb_s64(&B, SAKER_PN_PROTO, 0);
	put();
	evb_sc(&B, "connect", 5, 5, 0, 2001);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 8080);
	put();
	evb_sc(&B, "connect", 5, 5, 0, 2002);
	evb_s64(&B, SAKER_PN_FD, 5);
	evb_sin6(&B, SAKER_PN_ADDR, "::1", 443);
	put();
	evb_sc(&B, "connect", 5, 5, 0, 2003);
	evb_s64(&B, SAKER_PN_FD, 6);
	evb_sun(&B, SAKER_PN_ADDR, "/run/x.sock", 11);
	put();
	evb_sc(&B, "close", 5, 5, 0, 2004);
	evb_s64(&B, SAKER_PN_FD, 4);
	put();
	save(dir, "sockets");

	/* files and directories, relative to a dirfd, with odd bytes */
	evb_sc(&B, "openat", 6, 6, 9, 3000);
	evb_s64(&B, SAKER_PN_DIRFD, -100);
	evb_str(&B, SAKER_PN_PATH, "/home/u");
	evb_u64(&B, SAKER_PN_FLAGS, 0x10000);
	put();
	evb_sc(&B, "renameat2", 6, 6, 0, 3001);
	evb_s64(&B, SAKER_PN_DIRFD, 9);
	evb_str(&B, SAKER_PN_PATH, "../a b\n\x1b[31m");
	evb_s64(&B, SAKER_PN_NEWDIRFD, -100);
	evb_str(&B, SAKER_PN_NEWPATH, "c");
	put();
	evb_sc(&B, "unlinkat", 6, 6, -2, 3002);
	evb_s64(&B, SAKER_PN_DIRFD, 9);
	evb_str(&B, SAKER_PN_PATH, "gone");
	put();
	evb_sc(&B, "kill", 6, 6, 0, 3003);
	evb_s64(&B, SAKER_PN_PID, 1);
	evb_s64(&B, SAKER_PN_SIG, 9);
	put();
	evb_sc(&B, "mmap", 6, 6, 4096, 3004);
	evb_u64(&B, SAKER_PN_ARG0, 0);
	evb_u64(&B, SAKER_PN_ARG1, 4096);
	evb_u64(&B, SAKER_PN_ARG2, 3);
	put();
	save(dir, "files");
	return 0;
}
