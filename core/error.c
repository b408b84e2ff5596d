/* error.c -- the thread-local error message and shape strings. */
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[512];

const char *dm_errmsg(void) { return errbuf; }

void dm_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
}

char *dm_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t pos = 0;
    if (len == 0) return buf;
    buf[pos++] = '[';
    for (int d = 0; d < ndim && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, d ? " x %lld" : "%lld",
                                (long long)shape[d]);
    if (pos < len - 1) { buf[pos++] = ']'; buf[pos] = '\0'; }
    else buf[len - 1] = '\0';
    return buf;
}
