/*
 * saker's helper processes (the /proc helper, the program spawner, the
 * capture canary): what their start and their end share.
 */
#ifndef SAKER_LIB_CHILD_H
#define SAKER_LIB_CHILD_H

#include <stdint.h>
#include <sys/types.h>

/*
 * In a child just forked (async-signal-safe): every signal back to its
 * default and none blocked (saker's handlers and its signalfd's mask are
 * not the child's), then only stdio and s open, moved to fd. 0 or a
 * negative errno (the caller exits).
 */
int saker_child_setup(int s, int fd);

/*
 * The bounding set cut to keep (best effort: it needs CAP_SETPCAP), the
 * ambient set cleared, then saker_caps_keep(keep). 0 or a negative errno.
 */
int saker_child_confine(uint64_t keep);

/* Reaps pid, waiting at most wait_ms for it to exit (a stuck child dies with saker). */
void saker_child_reap(pid_t pid, unsigned wait_ms);

#endif
