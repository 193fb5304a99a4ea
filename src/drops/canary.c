#include "drops/canary.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void saker_canary_init(struct saker_canary *c)
{
	memset(c, 0, sizeof(*c));
}

uint64_t saker_canary_send(struct saker_canary *c, uint64_t now_ns, uint64_t counted)
{
	c->seq++;
	c->outstanding = true;
	c->acked = false;
	c->arrived = false;
	c->sent_ns = now_ns;
	c->ack_ns = 0;
	c->counted_at_send = counted;
	c->own_lost = 0;
	c->attrib_unknown = false;
	c->n_sent++;
	return c->seq;
}

void saker_canary_ack(struct saker_canary *c, uint64_t seq, uint64_t ack_ns)
{
	if (!c->outstanding || seq != c->seq || c->acked)
		return;
	c->acked = true;
	c->ack_ns = ack_ns;
}

void saker_canary_arrived(struct saker_canary *c, uint64_t seq)
{
	/* A late marker whose verdict was given already (or a replayed one) changes nothing. */
	if (!c->outstanding || seq != c->seq || c->arrived) {
		c->n_stray++;
		return;
	}
	c->arrived = true;
}

void saker_canary_losses(struct saker_canary *c, uint64_t now_ns, uint64_t own_lost, bool complete)
{
	c->loss_read_ns = now_ns;
	if (!c->outstanding)
		return;
	c->own_lost += own_lost;
	if (!complete)
		c->attrib_unknown = true;
}

static enum saker_canary_verdict end(struct saker_canary *c, enum saker_canary_verdict v,
				     uint64_t now_ns)
{
	c->outstanding = false;
	switch (v) {
	case SAKER_CANARY_SEEN:
		c->n_seen++;
		c->blind = false;
		c->last_seen_ns = now_ns;
		break;
	case SAKER_CANARY_LOST:
		c->n_lost++;
		break;
	case SAKER_CANARY_BLIND:
		c->n_blind++;
		if (!c->blind)
			c->blind_since_ns = now_ns;
		c->blind = true;
		break;
	case SAKER_CANARY_STUCK:
		c->n_stuck++;
		break;
	default:
		break;
	}
	return v;
}

enum saker_canary_verdict saker_canary_decide(struct saker_canary *c,
					      const struct saker_canary_now *now)
{
	if (!c->outstanding)
		return SAKER_CANARY_NONE;
	/* Arrival is proof whatever else happened (the ack may still be in its pipe). */
	if (c->arrived)
		return end(c, SAKER_CANARY_SEEN, now->now_ns);
	if (!c->acked) {
		if (now->ack_timeout_ns && now->now_ns - c->sent_ns > now->ack_timeout_ns)
			return end(c, SAKER_CANARY_STUCK, now->now_ns);
		return SAKER_CANARY_NONE;
	}
	/* The canary's process makes nothing but markers: a loss of its own is the marker's. */
	if (c->own_lost)
		return end(c, SAKER_CANARY_LOST, now->now_ns);
	/* Still possibly in a ring: nothing proves every record up to the ack was handed on. */
	if (now->caught_up_ns <= c->ack_ns + SAKER_CANARY_SLACK_NS)
		return SAKER_CANARY_NONE;
	/* Nothing lost anywhere since the request: the probe never saw the syscall. */
	if (now->counted == c->counted_at_send)
		return end(c, SAKER_CANARY_BLIND, now->now_ns);
	/* Some loss: whose it was is known only from a per-process read after the syscall. */
	if (c->loss_read_ns <= c->ack_ns)
		return SAKER_CANARY_NONE;
	return end(c, c->attrib_unknown ? SAKER_CANARY_LOST : SAKER_CANARY_BLIND, now->now_ns);
}

int saker_canary_marker(char *buf, size_t len, uint64_t nonce, uint64_t seq)
{
	return snprintf(buf, len, SAKER_CANARY_PREFIX "%016" PRIx64 "-%" PRIu64, nonce, seq);
}

bool saker_canary_parse(const char *path, size_t len, uint64_t nonce, uint64_t *seq)
{
	char want[SAKER_CANARY_MAX_LEN];
	uint64_t v = 0;
	size_t n, i;

	/* The prefix and the nonce: "/dev/null/saker-canary-<16 hex>-". */
	n = (size_t)snprintf(want, sizeof(want), SAKER_CANARY_PREFIX "%016" PRIx64 "-", nonce);
	if (len <= n || len > SAKER_CANARY_MAX_LEN || memcmp(path, want, n) != 0)
		return false;
	for (i = n; i < len; i++) {
		uint64_t d = (uint64_t)(path[i] - '0');

		if (path[i] < '0' || path[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return true;
}

const char *saker_canary_verdict_name(enum saker_canary_verdict v)
{
	switch (v) {
	case SAKER_CANARY_SEEN:
		return "seen";
	case SAKER_CANARY_LOST:
		return "lost";
	case SAKER_CANARY_BLIND:
		return "blind";
	case SAKER_CANARY_STUCK:
		return "stuck";
	default:
		return "none";
	}
}
