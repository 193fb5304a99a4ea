#include "lib/clock.h"

uint64_t saker_clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t saker_clock_boot_offset_ns(void)
{
	uint64_t b1 = saker_clock_ns(CLOCK_BOOTTIME), r = saker_clock_ns(CLOCK_REALTIME);
	uint64_t b2 = saker_clock_ns(CLOCK_BOOTTIME);

	return (int64_t)(r - (b1 + (b2 - b1) / 2));
}
