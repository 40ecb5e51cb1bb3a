/* The process's last conversions of storage to Markdown. Agents read the
 * same pages again and again (a page's version never changes once
 * written), and lk_storage_to_md is a pure function of its input costing
 * about 13 µs a KB: each answer is kept, keyed by the storage bytes
 * themselves (compared in full on a hit, so that a hit is exactly what
 * converting would give), the least recently used dropped first to stay
 * within a byte budget (markdown_cache_mb). One per process: the FastCGI
 * programs serve one request at a time. */
#ifndef LK_MDCACHE_H
#define LK_MDCACHE_H

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

/* Drops every entry and zeroes the counts (tests; the budget stays). */
void lk_mdcache_clear(void);

/* Entries kept and bytes held now, hits and misses so far (tests, bench). */
typedef struct lk_mdcache_stats {
    size_t entries, bytes;
    unsigned long long hits, misses;
} lk_mdcache_stats;
lk_mdcache_stats lk_mdcache_stats_now(void);

#endif
