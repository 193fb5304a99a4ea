/*
 * The reason a library call failed, for its caller: written into the
 * caller's buffer (err, errlen; NULL or 0 writes nothing), one line without
 * a trailing newline, cut to fit.
 */
#ifndef SAKER_ERRBUF_H
#define SAKER_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

__attribute__((format(printf, 3, 4))) void saker_set_err(char *err, size_t errlen, const char *fmt,
							 ...);
__attribute__((format(printf, 3, 0))) void saker_vset_err(char *err, size_t errlen, const char *fmt,
							  va_list ap);

#endif
