#include "lib/errbuf.h"

#include <stdio.h>

void saker_vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void saker_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	saker_vset_err(err, errlen, fmt, ap);
	va_end(ap);
}
