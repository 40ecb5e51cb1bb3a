/* The answer store behind lk_db_cached (db.h): results of one-row lookups
 * kept by statement and parameters, each under a tag ("p:<id>") that a
 * NOTIFY names when the row changes (sql/002). An entry made on an older
 * connection, or older than LK_CACHE_TTL_MS, is never answered from.
 * Dropped entries live on until lk_cache_sweep: the request that found
 * them may still be reading them. */
#ifndef LK_CACHE_H
#define LK_CACHE_H

#include <libpq-fe.h>

#include "arena.h"
#include "lk.h"

/* Hash buckets, and the entries kept before everything is dropped. */
#define LK_CACHE_SLOTS 1024
#define LK_CACHE_MAX 8192
/* However announcements fare (a stalled session, a lost connection not yet
 * noticed), no cached answer is older than this. */
#define LK_CACHE_TTL_MS 1000

typedef struct lk_cache lk_cache;

/* What a hit (or a fresh entry) lends until the next lk_cache_sweep: the
 * result, the slot of the object decoded from it (NULL until the caller
 * stores one) and the arena that object is allocated from. */
typedef struct lk_cache_hit {
    PGresult *res;
    void **obj;
    lk_arena *obj_arena;
} lk_cache_hit;

/* An empty cache (aborts when out of memory). */
lk_cache *lk_cache_new(void);
/* Frees c and everything it holds, lent or not (NULL: nothing). */
void lk_cache_free(lk_cache *c);

/* The monotonic clock entries are aged by, in milliseconds. */
long long lk_cache_now_ms(void);
/* The key of statement stmt_name run with params[0..nparams) (NULL = SQL
 * NULL), malloc'd: the caller frees it or hands it to lk_cache_store. */
char *lk_cache_key(const char *stmt_name, int nparams, const char *const *params);
/* Looks key up at time now (lk_cache_now_ms) for connection conn_epoch:
 * true and *hit filled on a hit; an entry of another connection or too
 * old is dropped and false returned. */
bool lk_cache_find(lk_cache *c, const char *key, unsigned long conn_epoch, long long now, lk_cache_hit *hit);
/* Stores a copy of res under key (taken over) with tag prefix + tag_value,
 * aged from now; drops everything first when LK_CACHE_MAX is reached.
 * *hit lends the stored copy. */
void lk_cache_store(lk_cache *c, char *key, const char *prefix, const char *tag_value, const PGresult *res,
                    unsigned long conn_epoch, long long now, lk_cache_hit *hit);

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
