/*
 * The task iterators (bpf/iter.bpf.c): process state read from the kernel,
 * for seeding the view at start and for its repair, instead of /proc's exe,
 * cwd and fd/<n> links, which another user's process shows only to
 * CAP_SYS_PTRACE.
 *
 * saker_taskiter_open loads the programs and creates their links; it must
 * run before the privilege drop (loading needs CAP_BPF and CAP_PERFMON).
 * Reading needs no capability: each read makes a new iterator from a held
 * link (BPF_ITER_CREATE) and reads it to the end. One reader at a time (the
 * target process is a global of the program).
 */
#ifndef SAKER_CAPTURE_TASKITER_H
#define SAKER_CAPTURE_TASKITER_H

#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"

struct saker_taskiter;

/* One decoded record; the strings point into the read buffer (not NUL-terminated). */
struct saker_taskiter_rec {
	uint16_t kind;		     /* enum saker_iter_kind */
	struct saker_iter_task task; /* SAKER_ITER_TASK */
	struct saker_iter_file file; /* SAKER_ITER_FILE */
	const char *exe, *cwd, *path;
	size_t exe_len, cwd_len, path_len;
};

/* Called for each record; a nonzero return stops the walk and is returned. */
typedef int (*saker_taskiter_fn)(void *ctx, const struct saker_taskiter_rec *r);

/*
 * Walks the records of buf (one iterator's output). 0, the callback's
 * nonzero return, or -EBADMSG when a record is cut short or of an unknown
 * kind (nothing after it is trusted).
 */
int saker_taskiter_decode(const void *buf, size_t len, saker_taskiter_fn fn, void *ctx);

/* Loads and attaches both iterators. On failure a one-line reason in err. */
int saker_taskiter_open(struct saker_taskiter **out, char *err, size_t errlen);
/* Detaches and frees. NULL ok. */
void saker_taskiter_free(struct saker_taskiter *it);

/*
 * Reads the task iterator, then the file iterator (tgid 0: every process;
 * else that thread group only) and hands each record to fn: all tasks come
 * before any file. 0 or a negative errno (or fn's nonzero return).
 */
int saker_taskiter_read(struct saker_taskiter *it, uint32_t tgid, saker_taskiter_fn fn, void *ctx);

#endif
