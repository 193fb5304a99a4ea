/*
 * Test helper: a strict checker of one JSON value (RFC 8259 grammar, no
 * extensions), so tests can assert that a line is well-formed JSON without
 * a JSON library. Returns true when s[0..len) is exactly one value with
 * optional surrounding whitespace.
 */
#ifndef SAKER_TEST_JSONCHECK_H
#define SAKER_TEST_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct jc {
	const char *p, *end;
	int depth;
};

static inline void jc_ws(struct jc *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static inline bool jc_lit(struct jc *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return false;
	c->p += n;
	return true;
}

static inline bool jc_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static inline bool jc_string(struct jc *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p;

		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			c->p++;
			if (c->p >= c->end)
				return false;
			if (*c->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (c->p + i >= c->end || !jc_hex(c->p[i]))
						return false;
				c->p += 4;
			} else if (!strchr("\"\\/bfnrt", *c->p)) {
				return false;
			}
		}
		c->p++;
	}
	if (c->p >= c->end)
		return false;
	c->p++;
	return true;
}

static inline bool jc_digits(struct jc *c)
{
	const char *s = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static inline bool jc_number(struct jc *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!jc_digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!jc_digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!jc_digits(c))
			return false;
	}
	return true;
}

static inline bool jc_value(struct jc *c);

static inline bool jc_seq(struct jc *c, char close, bool object)
{
	c->p++;
	jc_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		jc_ws(c);
		if (object) {
			if (!jc_string(c))
				return false;
			jc_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return false;
			c->p++;
		}
		if (!jc_value(c))
			return false;
		jc_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return true;
		}
		return false;
	}
}

static inline bool jc_value(struct jc *c)
{
	bool ok;

	jc_ws(c);
	if (c->p >= c->end || ++c->depth > 64)
		return false;
	switch (*c->p) {
	case '{':
		ok = jc_seq(c, '}', true);
		break;
	case '[':
		ok = jc_seq(c, ']', false);
		break;
	case '"':
		ok = jc_string(c);
		break;
	case 't':
		ok = jc_lit(c, "true");
		break;
	case 'f':
		ok = jc_lit(c, "false");
		break;
	case 'n':
		ok = jc_lit(c, "null");
		break;
	default:
		ok = jc_number(c);
		break;
	}
	c->depth--;
	return ok;
}

static inline bool json_valid(const char *s, size_t len)
{
	struct jc c = {.p = s, .end = s + len, .depth = 0};

	if (!jc_value(&c))
		return false;
	jc_ws(&c);
	return c.p == c.end;
}

#endif
