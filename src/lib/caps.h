/*
 * Capabilities of the calling thread, by raw system calls: they change this
 * one thread, without glibc's all-threads machinery, and are safe in a
 * signal handler or a forked child.
 */
#ifndef SAKER_CAPS_H
#define SAKER_CAPS_H

#include <stdint.h>

/*
 * The thread's permitted and effective sets cut to keep (bit n is
 * capability n), its inheritable set emptied. 0 or a negative errno.
 */
int saker_caps_keep(uint64_t keep);

#endif
