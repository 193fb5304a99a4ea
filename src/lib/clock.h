/*
 * Clocks as nanoseconds: the loop, the outputs' deadlines and the web
 * server's health rule run on CLOCK_MONOTONIC; event timestamps are
 * CLOCK_BOOTTIME (bpf_ktime_get_boot_ns), shown as wall time through the
 * boot offset.
 */
#ifndef SAKER_CLOCK_H
#define SAKER_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clk's time in ns (0 if the clock cannot be read: never for the clocks saker uses). */
uint64_t saker_clock_ns(clockid_t clk);

/*
 * CLOCK_REALTIME - CLOCK_BOOTTIME in ns: add it to a boot timestamp for
 * wall time. The realtime read sits between two boottime reads and is set
 * against their mean, so the pair's own gap does not skew it.
 */
int64_t saker_clock_boot_offset_ns(void);

#endif
