/* The answer store behind lk_db_cached (db.h): results of one-row lookups
 * kept by statement and parameters, each under a tag ("p:<id>") that a
 * NOTIFY names when the row changes (sql/002, sql/011). An answer stays
 * until its tag is announced, everything is dropped (a new connection) or
 * it is the least recently used of a full cache; an entry made on another
 * connection is never answered from. Dropped entries live on until
 * lk_cache_sweep: the request that found them may still be reading them.
 * Lookup, store, eviction and a tag's drop are O(1) (hash tables and a
 * doubly linked recency list). */
#ifndef LK_CACHE_H
#define LK_CACHE_H

#include <libpq-fe.h>

#include "arena.h"
#include "lk.h"

/* The entries a cache keeps when none is configured (cache_entries). */
#define LK_CACHE_ENTRIES_DEFAULT 25000

typedef struct lk_cache lk_cache;

/* What a hit (or a fresh entry) lends until the next lk_cache_sweep: the
 * result (NULL for an entry of the object alone), the slot of the object
 * decoded from it (NULL until the caller stores one) and the arena that
 * object is allocated from. */
typedef struct lk_cache_hit {
    PGresult *res;
    void **obj;
    lk_arena *obj_arena;
} lk_cache_hit;

/* An empty cache keeping at most max_entries answers (at least 1; aborts
 * when out of memory). */
lk_cache *lk_cache_new(size_t max_entries);
/* Frees c and everything it holds, lent or not (NULL: nothing). */
void lk_cache_free(lk_cache *c);
/* How many answers c holds now (dropped ones not counted). */
size_t lk_cache_count(const lk_cache *c);

/* The monotonic clock, in milliseconds. */
long long lk_cache_now_ms(void);
/* The key of statement stmt_name run with params[0..nparams) (NULL = SQL
 * NULL), malloc'd: the caller frees it or hands it to lk_cache_store. */
char *lk_cache_key(const char *stmt_name, int nparams, const char *const *params);
/* Looks key up for connection conn_epoch: true, *hit filled and the entry
 * made the most recently used on a hit; an entry of another connection is
 * dropped and false returned. */
bool lk_cache_find(lk_cache *c, const char *key, unsigned long conn_epoch, lk_cache_hit *hit);
/* Stores a copy of res under key (taken over, not already held) with tag
 * prefix + tag_value; evicts the least recently used entry when full.
 * *hit lends the stored copy; obj_bytes is about what the object decoded
 * from it takes (its arena's first block: one block, not two). res NULL: the entry keeps only the object
 * the caller decodes into *hit->obj (a connection's row copied is about
 * 2.5 KB of libpq's blocks that no one reads again). */
void lk_cache_store(lk_cache *c, char *key, const char *prefix, const char *tag_value, const PGresult *res,
                    size_t obj_bytes, unsigned long conn_epoch, lk_cache_hit *hit);

/* Drops the entries tagged tag ("*": all), as a NOTIFY names them. */
void lk_cache_drop_tag(lk_cache *c, const char *tag);
/* Drops every entry. */
void lk_cache_drop_all(lk_cache *c);
/* Drops every entry when conn_epoch is not the connection last seen (an
 * announcement may have been missed in between), and remembers it. */
void lk_cache_follow_conn(lk_cache *c, unsigned long conn_epoch);
/* Frees the dropped entries: nothing they lent may be used after. */
void lk_cache_sweep(lk_cache *c);

#endif
