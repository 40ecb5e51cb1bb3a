/* The mcp process's last conversions: storage to Markdown, and a tool's
 * provider answer to its result. Agents read the same pages again and
 * again (a page's version never changes once written), and both are pure
 * functions of their input (lk_storage_to_md costs about 13 µs a KB;
 * parsing, trimming and writing a 50 KB answer as much again): each is
 * kept, keyed by its input bytes themselves (compared in full on a hit,
 * so that a hit is exactly what converting would give), the least
 * recently used dropped first to stay within one byte budget
 * (markdown_cache_mb). One per process: the FastCGI programs serve one
 * request at a time. */
#ifndef LK_MDCACHE_H
#define LK_MDCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "lk.h"

/* The entries kept at most, whatever the budget. */
#define LK_MDCACHE_ENTRIES 256

/* Sets the byte budget (storage and Markdown of every entry); 0 turns
 * the cache off. Entries past a smaller budget are dropped. */
void lk_mdcache_budget(size_t bytes);

/* lk_storage_to_md, answered from the cache when these bytes were
 * converted before; a successful conversion is kept. */
lk_err lk_storage_to_md_cached(lk_arena *a, const char *xhtml, size_t n, char **out);

/* What a key's bytes are the input of: entries of one kind never answer
 * a lookup of the other. */
typedef enum lk_memo_kind { LK_MEMO_MARKDOWN, LK_MEMO_TOOL_RESULT } lk_memo_kind;

/* The value kept for key[0..n) of kind k, copied into a (NUL-terminated,
 * its length in *len); false when none is kept (or the cache is off). */
bool lk_memo_get(lk_arena *a, lk_memo_kind k, const char *key, size_t n, char **val, size_t *len);
/* Keeps a copy of key and val[0..len) (nothing when the cache is off, or
 * the entry would take more than half of the budget). */
void lk_memo_put(lk_memo_kind k, const char *key, size_t n, const char *val, size_t len);

/* Drops every entry and zeroes the counts (tests; the budget stays). */
void lk_mdcache_clear(void);

/* Entries kept and bytes held now, hits and misses so far (tests, bench). */
typedef struct lk_mdcache_stats {
    size_t entries, bytes;
    unsigned long long hits, misses;
} lk_mdcache_stats;
lk_mdcache_stats lk_mdcache_stats_now(void);

#endif
