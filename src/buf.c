#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lk_buf_init(lk_buf *b, lk_arena *a, size_t cap)
{
    b->a = a;
    b->p = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

lk_err lk_buf_add(lk_buf *b, const void *p, size_t n)
{
    if (n > b->cap || b->len > b->cap - n)
        return LK_ETOOBIG;
    if (b->len + n + 1 > b->alloc) {
        size_t na = b->alloc ? b->alloc : 256;
        while (na < b->len + n + 1)
            na *= 2;
        if (na > b->cap + 1)
            na = b->cap + 1;
        char *np = lk_alloc(b->a, na);
        if (b->len)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->alloc = na;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return LK_OK;
}

lk_err lk_buf_adds(lk_buf *b, const char *s)
{
    return lk_buf_add(b, s, strlen(s));
}

lk_err lk_buf_addc(lk_buf *b, char c)
{
    return lk_buf_add(b, &c, 1);
}

lk_err lk_buf_printf(lk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = lk_vprintf(b->a, fmt, ap);
    va_end(ap);
    return lk_buf_adds(b, s);
}

const char *lk_buf_str(const lk_buf *b)
{
    return b->p ? b->p : "";
}
