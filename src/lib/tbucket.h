/*
 * Token bucket (as libsinsp's): starts full with max_burst tokens; each
 * claim first adds rate * elapsed seconds, capped at max_burst; a claim
 * fails below one token, else takes one. Time is a caller-supplied monotonic
 * clock in ns, so tests drive it.
 */
#ifndef SAKER_TBUCKET_H
#define SAKER_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct saker_tbucket {
	double rate;	  /* tokens per second */
	double max_burst; /* capacity */
	double tokens;
	uint64_t last_ns;
};

void saker_tbucket_init(struct saker_tbucket *tb, double rate, double max_burst, uint64_t now_ns);
bool saker_tbucket_claim(struct saker_tbucket *tb, uint64_t now_ns);

#endif
