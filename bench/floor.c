// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark floor driver: loads one floor program (floor.bpf.c), attaches it
 * to tp_btf/sys_exit, prints "attached" on stdout, drains the ring until
 * SIGTERM or SIGINT, then detaches and prints what it consumed on stderr.
 *
 *   floor empty         the empty exit hook
 *   floor ring          one 32-byte record per syscall, BPF_RB_NO_WAKEUP,
 *                       drained every millisecond (the strict floor: no
 *                       wakeup is ever paid in the hooked syscall)
 *   floor ring-wakeup   the same with adaptive wakeup (flags 0): the consumer
 *                       sleeps in epoll and the kernel wakes it
 *
 * The ring is 8 MiB; drained every millisecond it holds ~70 ms of records at
 * 3 M syscalls/s, so the "ring full" count stays 0 and is reported anyway.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "floor.skel.h"

struct drain {
	unsigned long long records;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct drain *d = ctx;

	(void)data;
	(void)size;
	d->records++;
	return 0;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Waits for a signal while draining; returns 0 or a negative errno. */
static int drain_until_signal(struct ring_buffer *rb, int sfd, int timeout_ms)
{
	struct epoll_event ev = {.events = EPOLLIN}, out[2];
	int ep, n, ret = 0;
	bool stop = false;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	ev.data.fd = sfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev)) {
		ret = -errno;
		goto out;
	}
	if (rb) {
		ev.data.fd = ring_buffer__epoll_fd(rb);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev)) {
			ret = -errno;
			goto out;
		}
	}
	while (!stop) {
		n = epoll_wait(ep, out, 2, rb ? timeout_ms : -1);
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			goto out;
		}
		for (int i = 0; i < n; i++)
			if (out[i].data.fd == sfd)
				stop = true;
		if (rb) {
			n = ring_buffer__consume(rb);
			if (n < 0) {
				ret = n;
				goto out;
			}
		}
	}
out:
	close(ep);
	return ret;
}

int main(int argc, char **argv)
{
	struct floor_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct drain d = {0};
	bool ring, wakeup;
	sigset_t mask;
	int sfd = -1, ret = 1, err;

	if (argc != 2 || (strcmp(argv[1], "empty") && strcmp(argv[1], "ring") &&
			  strcmp(argv[1], "ring-wakeup"))) {
		fprintf(stderr, "usage: floor empty|ring|ring-wakeup\n");
		return 2;
	}
	ring = strcmp(argv[1], "empty") != 0;
	wakeup = !strcmp(argv[1], "ring-wakeup");
	libbpf_set_print(quiet_print);

	/* Signals arrive through a signalfd, so there is no handler state. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return 1;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "floor: signalfd: %s\n", strerror(errno));
		return 1;
	}

	skel = floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "floor: cannot open the BPF object: %s\n", strerror(errno));
		goto out;
	}
	skel->rodata->submit_flags = wakeup ? 0 : BPF_RB_NO_WAKEUP;
	bpf_program__set_autoload(skel->progs.floor_empty, !ring);
	bpf_program__set_autoload(skel->progs.floor_ring, ring);
	err = floor_bpf__load(skel);
	if (err) {
		fprintf(stderr, "floor: cannot load the %s program: %s\n", argv[1], strerror(-err));
		goto out;
	}
	err = floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "floor: cannot attach to tp_btf/sys_exit: %s\n", strerror(-err));
		goto out;
	}
	if (ring) {
		rb = ring_buffer__new(bpf_map__fd(skel->maps.floor_rb), on_record, &d, NULL);
		if (!rb) {
			fprintf(stderr, "floor: ring_buffer__new: %s\n", strerror(errno));
			goto out;
		}
	}
	printf("attached %s\n", argv[1]);
	fflush(stdout);

	err = drain_until_signal(rb, sfd, wakeup ? 100 : 1);
	if (err) {
		fprintf(stderr, "floor: drain: %s\n", strerror(-err));
		goto out;
	}
	/* Detach first, so the last drain sees everything that was written. */
	floor_bpf__detach(skel);
	if (rb)
		ring_buffer__consume(rb);
	fprintf(stderr, "floor %s: records %llu ring_full %llu\n", argv[1], d.records,
		(unsigned long long)skel->bss->ring_full);
	ret = 0;
out:
	ring_buffer__free(rb);
	floor_bpf__destroy(skel);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
