#include "capture/taskiter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "saker_iter.skel.h"

struct saker_taskiter {
	struct saker_iter_bpf *skel;
	char *buf;
	size_t cap;
};

int saker_taskiter_decode(const void *buf, size_t len, saker_taskiter_fn fn, void *ctx)
{
	const char *p = buf;
	size_t o = 0;

	while (o < len) {
		struct saker_taskiter_rec r = {0};
		size_t left = len - o, fixed, var;
		uint16_t kind;
		int ret;

		if (left < sizeof(kind))
			return -EBADMSG;
		memcpy(&kind, p + o, sizeof(kind));
		r.kind = kind;
		if (kind == SAKER_ITER_TASK) {
			fixed = sizeof(r.task);
			if (left < fixed)
				return -EBADMSG;
			memcpy(&r.task, p + o, fixed);
			r.exe_len = r.task.exe_len;
			r.cwd_len = r.task.cwd_len;
			var = r.exe_len + r.cwd_len;
			r.exe = p + o + fixed;
			r.cwd = r.exe + r.exe_len;
		} else if (kind == SAKER_ITER_FILE) {
			fixed = sizeof(r.file);
			if (left < fixed)
				return -EBADMSG;
			memcpy(&r.file, p + o, fixed);
			r.path_len = r.file.path_len;
			var = r.path_len;
			r.path = p + o + fixed;
		} else {
			return -EBADMSG;
		}
		if (left - fixed < var)
			return -EBADMSG;
		o += fixed + var;
		ret = fn(ctx, &r);
		if (ret)
			return ret;
	}
	return 0;
}

int saker_taskiter_open(struct saker_taskiter **out, char *err, size_t errlen)
{
	struct saker_taskiter *it = calloc(1, sizeof(*it));
	int ret;

	*out = NULL;
	if (!it) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	it->skel = saker_iter_bpf__open_and_load();
	if (!it->skel) {
		ret = errno ? -errno : -EINVAL;
		snprintf(err, errlen, "cannot load the task iterators: %s", strerror(-ret));
		saker_taskiter_free(it);
		return ret;
	}
	ret = saker_iter_bpf__attach(it->skel);
	if (ret) {
		snprintf(err, errlen, "cannot attach the task iterators: %s", strerror(-ret));
		saker_taskiter_free(it);
		return ret;
	}
	*out = it;
	return 0;
}

void saker_taskiter_free(struct saker_taskiter *it)
{
	if (!it)
		return;
	saker_iter_bpf__destroy(it->skel);
	free(it->buf);
	free(it);
}

/* One iterator's whole output into it->buf; its length or a negative errno. */
static ssize_t read_all(struct saker_taskiter *it, struct bpf_link *link)
{
	size_t got = 0;
	int fd = bpf_iter_create(bpf_link__fd(link));
	ssize_t n;

	if (fd < 0)
		return -errno;
	for (;;) {
		if (it->cap - got < 64 * 1024) {
			size_t cap = it->cap ? it->cap * 2 : 256 * 1024;
			char *nb = realloc(it->buf, cap);

			if (!nb) {
				close(fd);
				return -ENOMEM;
			}
			it->buf = nb;
			it->cap = cap;
		}
		n = read(fd, it->buf + got, it->cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

int saker_taskiter_read(struct saker_taskiter *it, uint32_t tgid, saker_taskiter_fn fn, void *ctx)
{
	struct bpf_link *links[2] = {it->skel->links.saker_iter_task,
				     it->skel->links.saker_iter_file};
	int ret = 0;

	it->skel->bss->target_tgid = tgid;
	for (size_t i = 0; i < 2 && !ret; i++) {
		ssize_t n = read_all(it, links[i]);

		ret = n < 0 ? (int)n : saker_taskiter_decode(it->buf, (size_t)n, fn, ctx);
	}
	it->skel->bss->target_tgid = 0;
	return ret;
}
