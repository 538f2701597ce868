/*
 * nn.c — status codes, error records and shapes shared by all of libnn.
 */
#include "nn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void nn_utf8_clean(char *s, int keep_controls)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
              : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
        if (n == 0) {
            if (!keep_controls && (c < 0x20 || c == 0x7F))
                *p = '?';
            p++;
            continue;
        }
        unsigned cp = n < 0 ? 0 : c & (0x3Fu >> n);
        int ok = n > 0;
        for (int i = 1; ok && i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                ok = 0;   /* also stops at the terminating NUL */
            else
                cp = cp << 6 | (p[i] & 0x3Fu);
        }
        if (ok && ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = 0;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}

/* The message, cleaned: it may quote the input's bytes (a CSV field, an NPY
 * dtype), and it is cut at sizeof msg, maybe inside a character. */
static void vset(nn_err *e, const char *fmt, va_list ap)
{
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    nn_utf8_clean(e->msg, 0);
}

int nn_errf(nn_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, fmt, ap);
        va_end(ap);
        e->layer = -1;
        e->field[0] = 0;
    }
    return code;
}

int nn_errf_at(nn_err *e, int code, int layer, const char *field, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vset(e, fmt, ap);
        va_end(ap);
        e->layer = layer;
        snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    }
    return code;
}

void nn_err_clear(nn_err *e)
{
    if (e) {
        e->msg[0] = 0;
        e->layer = -1;
        e->field[0] = 0;
    }
}

const char *nn_strerror(int code)
{
    switch (code) {
    case NN_OK: return "ok";
    case NN_ENOMEM: return "out of memory";
    case NN_EINVAL: return "invalid argument";
    case NN_EFORMAT: return "malformed input";
    case NN_EIO: return "input/output error";
    case NN_ELIMIT: return "size limit exceeded";
    default: return "unknown error";
    }
}

int64_t nn_shape_numel(const nn_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

void nn_shape_str(const nn_shape *s, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0)
        return;
    buf[0] = 0;
    off += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->rank && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ", %d" : "%d", s->dim[i]);
    if (off < len)
        snprintf(buf + off, len - off, "]");
}
