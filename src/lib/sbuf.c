#include "lib/sbuf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char hexdig[] = "0123456789abcdef";

void saker_sbuf_init(struct saker_sbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void saker_sbuf_free(struct saker_sbuf *b)
{
	free(b->p);
	saker_sbuf_init(b);
}

bool saker_sbuf_reserve(struct saker_sbuf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	/* The common case first: already room. */
	if (b->cap && more < b->cap - b->len)
		return true;
	if (more > SIZE_MAX - b->len - 1)
		goto oom;
	need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		goto oom;
	b->p = p;
	b->cap = cap;
	return true;
oom:
	b->oom = true;
	return false;
}

void saker_sbuf_putn_slow(struct saker_sbuf *b, const char *s, size_t n)
{
	if (!saker_sbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void saker_sbuf_printf(struct saker_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !saker_sbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void put_digits(struct saker_sbuf *b, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = hexdig[v % base];
		v /= base;
	} while (v);
	saker_sbuf_putn(b, tmp + n, sizeof(tmp) - n);
}

void saker_sbuf_put_u64(struct saker_sbuf *b, uint64_t v)
{
	/* Two digits per division: half the divides of the digit loop. */
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	char tmp[24];
	size_t n = sizeof(tmp);

	/* 0 and small ids, the most common values, without the loop. */
	if (v < 10) {
		saker_sbuf_putc(b, (char)('0' + v));
		return;
	}
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		tmp[--n] = pairs[2 * r + 1];
		tmp[--n] = pairs[2 * r];
	}
	if (v >= 10) {
		tmp[--n] = pairs[2 * v + 1];
		tmp[--n] = pairs[2 * v];
	} else {
		tmp[--n] = (char)('0' + v);
	}
	saker_sbuf_putn(b, tmp + n, sizeof(tmp) - n);
}

void saker_sbuf_put_s64(struct saker_sbuf *b, int64_t v)
{
	if (v < 0) {
		saker_sbuf_putc(b, '-');
		/* -(v + 1) + 1 does not overflow for INT64_MIN. */
		saker_sbuf_put_u64(b, (uint64_t)(-(v + 1)) + 1);
	} else {
		saker_sbuf_put_u64(b, (uint64_t)v);
	}
}

void saker_sbuf_put_hex(struct saker_sbuf *b, uint64_t v)
{
	put_digits(b, v, 16);
}

void saker_sbuf_put_oct(struct saker_sbuf *b, uint64_t v)
{
	put_digits(b, v, 8);
}

void saker_sbuf_put_dec_fixed(struct saker_sbuf *b, uint64_t v, unsigned width)
{
	char tmp[24];

	if (width > sizeof(tmp))
		width = sizeof(tmp);
	for (unsigned i = width; i > 0; i--) {
		tmp[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	saker_sbuf_putn(b, tmp, width);
}

char *saker_sbuf_take(struct saker_sbuf *b)
{
	char *p;

	if (b->oom) {
		saker_sbuf_free(b);
		return NULL;
	}
	if (!b->p)
		saker_sbuf_putn(b, "", 0);
	p = b->p;
	if (!p) {
		saker_sbuf_free(b);
		return NULL;
	}
	saker_sbuf_init(b);
	return p;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) with its code point, or 0 if the
 * first byte does not start one.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		unsigned char d = s[i];

		if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xbf))
			return 0;
		*cp = (*cp << 6) | (d & 0x3f);
	}
	return len;
}

static void put_u4(struct saker_sbuf *b, uint32_t cp)
{
	char e[6] = {'\\',
		     'u',
		     hexdig[(cp >> 12) & 15],
		     hexdig[(cp >> 8) & 15],
		     hexdig[(cp >> 4) & 15],
		     hexdig[cp & 15]};

	saker_sbuf_putn(b, e, sizeof(e));
}

static void put_x2(struct saker_sbuf *b, unsigned char c)
{
	char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};

	saker_sbuf_putn(b, e, sizeof(e));
}

/*
 * Bytes that need a look: controls, DEL, anything non-ASCII (it may be bad
 * UTF-8 or a C1 control), and inside quotes '"' and '\\'.
 */
static const unsigned char special_text[256] = {
    [0x00 ... 0x1f] = 1,
    [0x7f ... 0xff] = 1,
};
static const unsigned char special_quoted[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x7f ... 0xff] = 1,
};

/*
 * The end of the run of plain bytes from i, eight at a time while it lasts:
 * a word is plain when no byte is below 0x20 or above 0x7e and, quoted, none
 * is '"' or '\\' (the classic has-zero-byte trick on byte ^ c).
 */
static size_t plain_run(const unsigned char *s, size_t i, size_t n, bool quoted,
			const unsigned char *special)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	while (n - i >= 8) {
		uint64_t w, bad;

		memcpy(&w, s + i, 8);
		/* bytes < 0x20, bytes >= 0x80, bytes == 0x7f */
		bad = ((w - 0x20 * ones) | w | ((w ^ (0x7f * ones)) - ones)) & highs;
		if (quoted)
			bad |= (((w ^ ('"' * ones)) - ones) | ((w ^ ('\\' * ones)) - ones)) & highs;
		if (bad)
			break;
		i += 8;
	}
	while (i < n && !special[s[i]])
		i++;
	return i;
}

void saker_sbuf_escape(struct saker_sbuf *b, const char *str, size_t n, enum saker_esc mode)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *special = mode == SAKER_ESC_TEXT ? special_text : special_quoted;
	bool json = mode == SAKER_ESC_JSON;
	size_t i = 0, run = 0;

	/* Reserve for the common case of nothing to escape. */
	if (!saker_sbuf_reserve(b, n))
		return;
	while (i < n) {
		uint32_t cp = 0;
		size_t len;
		const char *esc = NULL;

		/* Printable ASCII, by far the most common, skipped a run at a time. */
		if (!special[s[i]]) {
			size_t start = i;

			i = plain_run(s, i + 1, n, mode != SAKER_ESC_TEXT, special);
			run += i - start;
			continue;
		}
		len = utf8_seq(s + i, n - i, &cp);

		if (len > 0 && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f) &&
		    cp != 0x2028 && cp != 0x2029 &&
		    !(mode != SAKER_ESC_TEXT && (cp == '"' || cp == '\\'))) {
			i += len;
			run += len;
			continue;
		}
		/* Copy the plain run before the character to escape. */
		saker_sbuf_putn(b, (const char *)s + i - run, run);
		run = 0;
		if (len == 0) {
			if (json)
				put_u4(b, 0xfffd);
			else
				put_x2(b, s[i]);
			i++;
			continue;
		}
		switch (cp) {
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = json ? "\\b" : NULL;
			break;
		case '\f':
			esc = json ? "\\f" : NULL;
			break;
		default:
			break;
		}
		if (esc)
			saker_sbuf_puts(b, esc);
		else if (json || cp > 0x7f)
			put_u4(b, cp);
		else
			put_x2(b, (unsigned char)cp);
		i += len;
	}
	saker_sbuf_putn(b, (const char *)s + i - run, run);
}
