/* Arena: a list of blocks plus a list of deferred cleanups. */
#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE 16384
#define ALIGN 16
#define MIN_BLOCK ((size_t)4 * ALIGN)

struct block {
    struct block *next;
    size_t size, used;
    _Alignas(ALIGN) unsigned char data[];
};

struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *p;
};

struct lk_arena {
    struct block *head;
    struct defer *defers;
    size_t block; /* the size of its ordinary blocks */
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("latchkey: out of memory\n", stderr);
        abort();
    }
    return p;
}

lk_arena *lk_arena_new(void)
{
    return lk_arena_new_sized(BLOCK_SIZE);
}

lk_arena *lk_arena_new_sized(size_t block)
{
    lk_arena *a = xmalloc(sizeof(*a));
    a->head = NULL;
    a->defers = NULL;
    a->block = block < MIN_BLOCK ? MIN_BLOCK : block;
    return a;
}

static void run_defers(lk_arena *a)
{
    struct defer *d = a->defers;
    a->defers = NULL;
    while (d) {
        d->fn(d->p);
        d = d->next;
    }
}

void lk_arena_reset(lk_arena *a)
{
    run_defers(a);
    struct block *b = a->head;
    struct block *keep = NULL;
    while (b) {
        struct block *next = b->next;
        if (!keep && b->size == a->block)
            keep = b;
        else
            free(b);
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
}

void lk_arena_free(lk_arena *a)
{
    if (!a)
        return;
    lk_arena_reset(a);
    free(a->head);
    free(a);
}

void *lk_alloc(lk_arena *a, size_t n)
{
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < n) {
        fputs("latchkey: allocation overflow\n", stderr);
        abort();
    }
    struct block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->block / 4 ? need : a->block;
        struct block *nb = xmalloc(sizeof(*nb) + size);
        nb->size = size;
        nb->used = 0;
        if (size == need && b) {
            /* A large one-off: keep the current block on top for small ones. */
            nb->next = b->next;
            b->next = nb;
            b = nb;
        } else {
            nb->next = b;
            a->head = nb;
            b = nb;
        }
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *lk_memdup(lk_arena *a, const void *p, size_t n)
{
    char *s = lk_alloc(a, n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

char *lk_join(lk_arena *a, const lk_span *spans, size_t count, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += spans[i].n;
    char *s = lk_alloc(a, n + 1), *p = s;
    for (size_t i = 0; i < count; i++) {
        if (spans[i].n)
            memcpy(p, spans[i].p, spans[i].n);
        p += spans[i].n;
    }
    *p = '\0';
    if (len)
        *len = n;
    return s;
}

char *lk_strndup(lk_arena *a, const char *s, size_t n)
{
    return lk_memdup(a, s, n);
}

char *lk_strdup(lk_arena *a, const char *s)
{
    return s ? lk_memdup(a, s, strlen(s)) : NULL;
}

char *lk_vprintf(lk_arena *a, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        n = 0;
    char *s = lk_alloc(a, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *lk_printf(lk_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = lk_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

void lk_arena_defer(lk_arena *a, void (*fn)(void *), void *p)
{
    struct defer *d = lk_alloc(a, sizeof(*d));
    d->fn = fn;
    d->p = p;
    d->next = a->defers;
    a->defers = d;
}
