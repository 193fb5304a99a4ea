#include "lib/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"

#define MAX_WATCHES 64

struct watch {
	int fd;
	saker_loop_fd_fn fn;
	void *ctx;
};

struct saker_loop {
	int epfd;
	struct watch w[MAX_WATCHES];
	unsigned n_watches;
	struct saker_timers timers;
	saker_loop_drain_fn drain;
	void *drain_ctx;
	bool stop;
};

uint64_t saker_loop_now_ns(void)
{
	return saker_clock_ns(CLOCK_MONOTONIC);
}

int saker_loop_new(struct saker_loop **out)
{
	struct saker_loop *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	saker_timers_init(&l->timers);
	*out = l;
	return 0;
}

void saker_loop_free(struct saker_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

int saker_loop_add_fd(struct saker_loop *l, int fd, uint32_t events, saker_loop_fd_fn fn, void *ctx)
{
	struct epoll_event ev = {.events = events};
	struct watch *w;

	if (fd < 0)
		return -EBADF;
	if (l->n_watches >= MAX_WATCHES)
		return -ENOSPC;
	w = &l->w[l->n_watches];
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	ev.data.u32 = l->n_watches;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	l->n_watches++;
	return 0;
}

int saker_loop_mod_fd(struct saker_loop *l, int fd, uint32_t events)
{
	for (unsigned i = 0; i < l->n_watches; i++) {
		struct epoll_event ev = {.events = events, .data.u32 = i};

		if (l->w[i].fd != fd)
			continue;
		return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
	}
	return -ENOENT;
}

int saker_loop_add_timer(struct saker_loop *l, uint64_t period_ns, saker_timer_fn fn, void *ctx)
{
	return saker_timers_add(&l->timers, period_ns, saker_loop_now_ns(), fn, ctx);
}

void saker_loop_set_drain(struct saker_loop *l, saker_loop_drain_fn fn, void *ctx)
{
	l->drain = fn;
	l->drain_ctx = ctx;
}

void saker_loop_stop(struct saker_loop *l)
{
	l->stop = true;
}

bool saker_loop_stopped(const struct saker_loop *l)
{
	return l->stop;
}

static int wait_timeout(const struct saker_loop *l, bool busy)
{
	int t;

	if (busy)
		return 0;
	t = saker_timers_timeout_ms(&l->timers, saker_loop_now_ns());
	return t < 0 || t > SAKER_LOOP_IDLE_MS ? SAKER_LOOP_IDLE_MS : t;
}

int saker_loop_run(struct saker_loop *l)
{
	struct epoll_event evs[16];
	bool busy = false;

	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, 16, wait_timeout(l, busy));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			struct watch *w = &l->w[evs[i].data.u32 % MAX_WATCHES];

			if (w->fn)
				w->fn(w->ctx, evs[i].events);
		}
		if (l->stop)
			break;
		/* The timers before the drain: a flood must not push the drop check back. */
		(void)saker_timers_run(&l->timers, saker_loop_now_ns());
		if (l->stop)
			break;
		busy = false;
		if (l->drain) {
			long got =
			    l->drain(l->drain_ctx, saker_loop_now_ns() + SAKER_LOOP_DRAIN_NS);

			if (got < 0)
				return (int)got;
			busy = got > 0;
		}
	}
	return 0;
}
