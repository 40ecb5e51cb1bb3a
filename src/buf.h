/* A growing byte buffer with a hard cap (curl's dynbuf "toobig"), backed by
 * an arena. The content is always NUL-terminated for convenience. */
#ifndef LK_BUF_H
#define LK_BUF_H

#include "arena.h"
#include "lk.h"

typedef struct lk_buf {
    lk_arena *a;
    char *p;
    size_t len, alloc, cap;
} lk_buf;

/* An empty buffer that refuses to grow past cap bytes. */
void lk_buf_init(lk_buf *b, lk_arena *a, size_t cap);
/* Appends n bytes; LK_ETOOBIG (and no change) past the cap. Buffers fail
 * closed: every caller handles the result, never sending a shorter text. */
#define LK_MUST_CHECK __attribute__((warn_unused_result))
LK_MUST_CHECK lk_err lk_buf_add(lk_buf *b, const void *p, size_t n);
LK_MUST_CHECK lk_err lk_buf_adds(lk_buf *b, const char *s);
LK_MUST_CHECK lk_err lk_buf_addc(lk_buf *b, char c);
LK_MUST_CHECK lk_err lk_buf_printf(lk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The content (never NULL). */
const char *lk_buf_str(const lk_buf *b);

#endif
