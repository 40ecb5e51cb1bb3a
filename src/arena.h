/* Per-request memory: everything a request allocates comes from one arena
 * and goes when the arena is reset, so request code has no scattered frees.
 * Allocation failure aborts the process (the web server starts another). */
#ifndef LK_ARENA_H
#define LK_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct lk_arena lk_arena;

/* A new, empty arena; never NULL. */
lk_arena *lk_arena_new(void);
/* lk_arena_new with blocks of block bytes (at least 64): for arenas that
 * live long and hold little (a cached answer's decoded object). */
lk_arena *lk_arena_new_sized(size_t block);
/* Runs the deferred cleanups, then releases all memory and the arena. */
void lk_arena_free(lk_arena *a);
/* Runs the deferred cleanups and forgets all allocations; keeps one block. */
void lk_arena_reset(lk_arena *a);
/* n zeroed bytes, aligned for any type. */
void *lk_alloc(lk_arena *a, size_t n);
/* Copies of strings; lk_strndup copies n bytes and adds a NUL. */
char *lk_strdup(lk_arena *a, const char *s);
char *lk_strndup(lk_arena *a, const char *s, size_t n);
char *lk_memdup(lk_arena *a, const void *p, size_t n);
/* A run of bytes, for lk_join. */
typedef struct lk_span {
    const void *p;
    size_t n;
} lk_span;
/* The spans copied one after another into a, NUL-terminated; *len (when
 * not NULL) gets their total length. */
char *lk_join(lk_arena *a, const lk_span *spans, size_t count, size_t *len);
/* printf into the arena. */
char *lk_printf(lk_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *lk_vprintf(lk_arena *a, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Calls fn(p) when the arena is reset or freed (PQclear, json_object_put...). */
void lk_arena_defer(lk_arena *a, void (*fn)(void *), void *p);

#endif
