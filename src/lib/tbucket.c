#include <math.h>

#include "lib/tbucket.h"

/*
 * Non-finite or negative settings would make the comparisons below lie (NaN
 * compares false, so a NaN bucket would grant forever); treat them as an empty,
 * never-refilling bucket instead. The configuration validates them anyway.
 */
static double sane(double v)
{
	return isfinite(v) && v > 0 ? v : 0;
}

void saker_tbucket_init(struct saker_tbucket *tb, double rate, double max_burst, uint64_t now_ns)
{
	tb->rate = sane(rate);
	tb->max_burst = sane(max_burst);
	tb->tokens = tb->max_burst;
	tb->last_ns = now_ns;
}

bool saker_tbucket_claim(struct saker_tbucket *tb, uint64_t now_ns)
{
	/*
	 * A clock that stands still or steps back earns nothing, and last_ns
	 * stays put so the time is not credited twice once it moves on.
	 */
	if (now_ns > tb->last_ns) {
		tb->tokens += tb->rate * ((double)(now_ns - tb->last_ns) / 1e9);
		tb->last_ns = now_ns;
	}
	if (tb->tokens > tb->max_burst)
		tb->tokens = tb->max_burst;
	if (!(tb->tokens >= 1))
		return false;
	tb->tokens -= 1;
	return true;
}
