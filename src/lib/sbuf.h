/*
 * Building blocks of the alert formatters (outputs.h declares the two
 * formatters themselves): a growable string and the escaping rules that keep
 * one alert on one line.
 *
 * Escaping, in text and JSON alike, covers C0 controls and DEL, C1 controls
 * (U+0080..U+009F) and U+2028/U+2029 (line breaks to some readers), and bytes
 * that are not well-formed UTF-8:
 *   text:  \n \r \t, other C0/DEL as \xNN, C1/U+2028/U+2029 as \uXXXX, each
 *          invalid byte as \xNN (so the original bytes can be recovered);
 *          backslashes are left alone unless quoted (see SAKER_ESC_TEXT_QUOTED).
 *   JSON:  \" \\ \n \r \t \b \f, other controls as \u00XX (and \u2028,
 *          \u2029), each invalid byte as \ufffd (JSON strings are Unicode).
 */
#ifndef SAKER_SBUF_H
#define SAKER_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct saker_sbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom; /* sticky: once set, every append is a no-op */
};

enum saker_esc {
	SAKER_ESC_TEXT,	       /* free text: controls and bad UTF-8 only */
	SAKER_ESC_TEXT_QUOTED, /* inside "...": also \" and \\ */
	SAKER_ESC_JSON,	       /* inside a JSON string */
};

void saker_sbuf_init(struct saker_sbuf *b);
/* Room for more bytes and the NUL; false (and oom set) when it cannot be made. */
bool saker_sbuf_reserve(struct saker_sbuf *b, size_t more);
void saker_sbuf_free(struct saker_sbuf *b);
/* The slow path of the inline appends below (growth, out of memory). */
void saker_sbuf_putn_slow(struct saker_sbuf *b, const char *s, size_t n);

/* Appends are inline: the dump makes dozens per event, nearly all of a few bytes. */
static inline void saker_sbuf_putn(struct saker_sbuf *b, const char *s, size_t n)
{
	if (__builtin_expect(!b->oom && b->cap && n < b->cap - b->len, 1)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
		b->p[b->len] = '\0';
		return;
	}
	saker_sbuf_putn_slow(b, s, n);
}

static inline void saker_sbuf_puts(struct saker_sbuf *b, const char *s)
{
	saker_sbuf_putn(b, s, strlen(s));
}

static inline void saker_sbuf_putc(struct saker_sbuf *b, char c)
{
	if (__builtin_expect(!b->oom && b->cap && 1 < b->cap - b->len, 1)) {
		b->p[b->len++] = c;
		b->p[b->len] = '\0';
		return;
	}
	saker_sbuf_putn_slow(b, &c, 1);
}
void saker_sbuf_printf(struct saker_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Integers written by hand, without the printf machinery (the dump formats
 * millions of them a second): decimal, signed decimal, lower-case hex and
 * octal, no prefix, no padding.
 */
void saker_sbuf_put_u64(struct saker_sbuf *b, uint64_t v);
void saker_sbuf_put_s64(struct saker_sbuf *b, int64_t v);
void saker_sbuf_put_hex(struct saker_sbuf *b, uint64_t v);
void saker_sbuf_put_oct(struct saker_sbuf *b, uint64_t v);
/* v in exactly width decimal digits, zero-padded (the low digits when v is wider). */
void saker_sbuf_put_dec_fixed(struct saker_sbuf *b, uint64_t v, unsigned width);
/* Appends s (n bytes, may hold NULs) escaped for mode. */
void saker_sbuf_escape(struct saker_sbuf *b, const char *s, size_t n, enum saker_esc mode);
/* Hands over the NUL-terminated string (caller frees), or NULL after an allocation failure. */
char *saker_sbuf_take(struct saker_sbuf *b);

#endif
