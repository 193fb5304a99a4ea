/*
 * The one event loop: epoll over the ring fds, the signalfd and any fd a
 * sink wants watched, with timer objects (lib/timer.h) served by the epoll
 * timeout. Each turn, in this order:
 *   1. wait: not at all while the last drain found records (there may be
 *      more), else until the next timer deadline or DRAIN_IDLE_MS, whichever
 *      is first (the probe submits silently and forces a wake-up only when a
 *      ring is an eighth full, so an idle-looking ring is looked at anyway);
 *   2. the fds that are ready (signals, a writable stdout);
 *   3. the timers that are due, each told how many periods elapsed;
 *   4. the drain, bounded by time (SAKER_LOOP_DRAIN_NS) as well as by count,
 *      so a flood delays the timers by one drain at most.
 * Nothing in a turn blocks: sinks are non-blocking, alerts go to a queue.
 */
#ifndef SAKER_LOOP_H
#define SAKER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/timer.h"

/* At most this much time draining per turn before the timers are looked at again. */
#define SAKER_LOOP_DRAIN_NS (20ull * 1000 * 1000)
/* Longest sleep while the rings look empty (the probe does not wake for every record). */
#define SAKER_LOOP_IDLE_MS 25

struct saker_loop;

/* An fd is ready: events is the epoll mask. */
typedef void (*saker_loop_fd_fn)(void *ctx, uint32_t events);
/*
 * Consumes records until deadline_ns (CLOCK_MONOTONIC) at the latest.
 * Returns how many it consumed (> 0: there may be more, do not sleep), 0 when
 * the rings were empty, or a negative errno (the loop stops with it).
 */
typedef long (*saker_loop_drain_fn)(void *ctx, uint64_t deadline_ns);

int saker_loop_new(struct saker_loop **out);
/* Closes the epoll fd (not the watched fds) and frees; NULL ok. */
void saker_loop_free(struct saker_loop *l);

/* Watches fd for events (EPOLLIN, EPOLLOUT); fn may be NULL (the fd only wakes the loop). */
int saker_loop_add_fd(struct saker_loop *l, int fd, uint32_t events, saker_loop_fd_fn fn,
		      void *ctx);
/* Changes what fd is watched for; events 0 = nothing for now (still registered). */
int saker_loop_mod_fd(struct saker_loop *l, int fd, uint32_t events);
/* A periodic timer from now on; returns its id or a negative errno. */
int saker_loop_add_timer(struct saker_loop *l, uint64_t period_ns, saker_timer_fn fn, void *ctx);
void saker_loop_set_drain(struct saker_loop *l, saker_loop_drain_fn fn, void *ctx);

/* Ends saker_loop_run after the current step; callable from any callback. */
void saker_loop_stop(struct saker_loop *l);
bool saker_loop_stopped(const struct saker_loop *l);
/* Runs until stopped: 0, or the negative errno of a failed wait or drain. */
int saker_loop_run(struct saker_loop *l);

/* CLOCK_MONOTONIC in ns. */
uint64_t saker_loop_now_ns(void);

#endif
