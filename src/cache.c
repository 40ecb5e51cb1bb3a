#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One cached answer: statement + parameters → result, and its tag. It is
 * on three lists: its key's bucket, its tag's bucket and the recency list
 * (most recent first); once dropped, on the graveyard (by knext) only. */
struct entry {
    struct entry *knext, *tnext; /* bucket chains: by key, by tag */
    struct entry *newer, *older; /* recency */
    char *key, *tag;
    unsigned long khash, thash;
    PGresult *res;
    unsigned long epoch; /* of the connection it was read on */
    lk_arena *arena;     /* for the object decoded from res */
    void *obj;
};

/* The blocks of an entry's arena: a decoded row is a few hundred bytes,
 * and 10,000 entries must not cost 16 KB each. */
#define LK_CACHE_ARENA_BLOCK 1024

struct lk_cache {
    struct entry **keys, **tags; /* nbuckets each */
    size_t nbuckets;             /* a power of two, at least max */
    size_t entries, max;
    struct entry *newest, *oldest;
    struct entry *graveyard;  /* dropped, maybe still borrowed this request */
    unsigned long seen_epoch; /* the connection announcements were last heard on */
};

lk_cache *lk_cache_new(size_t max_entries)
{
    lk_cache *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->max = max_entries ? max_entries : 1;
    c->nbuckets = 16;
    while (c->nbuckets < c->max)
        c->nbuckets *= 2;
    c->keys = calloc(c->nbuckets, sizeof(struct entry *));
    c->tags = calloc(c->nbuckets, sizeof(struct entry *));
    if (!c->keys || !c->tags)
        abort();
    return c;
}

void lk_cache_free(lk_cache *c)
{
    if (!c)
        return;
    lk_cache_drop_all(c);
    lk_cache_sweep(c);
    free(c->keys);
    free(c->tags);
    free(c);
}

size_t lk_cache_count(const lk_cache *c)
{
    return c->entries;
}

long long lk_cache_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 ^ (unsigned char)*s;
    return h;
}

/* Takes e off its key and tag chains (a chain is short: as many buckets
 * as entries) and off the recency list. */
static void unlink_entry(lk_cache *c, struct entry *e)
{
    struct entry **pp = &c->keys[e->khash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->knext;
    *pp = e->knext;
    pp = &c->tags[e->thash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->tnext;
    *pp = e->tnext;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    c->entries--;
}

/* Unlinks e and moves it to the graveyard. */
static void drop(lk_cache *c, struct entry *e)
{
    unlink_entry(c, e);
    e->knext = c->graveyard;
    c->graveyard = e;
}

/* Puts e (on no recency list) first on it. */
static void make_newest(lk_cache *c, struct entry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
}

void lk_cache_sweep(lk_cache *c)
{
    struct entry *e = c->graveyard;
    c->graveyard = NULL;
    while (e) {
        struct entry *next = e->knext;
        PQclear(e->res);
        lk_arena_free(e->arena);
        free(e->key);
        free(e->tag);
        free(e);
        e = next;
    }
}

void lk_cache_drop_all(lk_cache *c)
{
    while (c->oldest)
        drop(c, c->oldest);
}

void lk_cache_drop_tag(lk_cache *c, const char *tag)
{
    if (!strcmp(tag, "*")) {
        lk_cache_drop_all(c);
        return;
    }
    struct entry *e = c->tags[hash(tag) & (c->nbuckets - 1)];
    while (e) {
        struct entry *next = e->tnext;
        if (!strcmp(e->tag, tag))
            drop(c, e);
        e = next;
    }
}

void lk_cache_follow_conn(lk_cache *c, unsigned long conn_epoch)
{
    if (c->seen_epoch == conn_epoch)
        return;
    lk_cache_drop_all(c);
    c->seen_epoch = conn_epoch;
}

char *lk_cache_key(const char *stmt_name, int nparams, const char *const *params)
{
    /* Statement name and parameters, separated by a byte that PostgreSQL
     * text never holds. */
    size_t len = strlen(stmt_name) + 1;
    for (int i = 0; i < nparams; i++)
        len += (params[i] ? strlen(params[i]) : 0) + 2;
    char *key = malloc(len + 1);
    if (!key)
        abort();
    char *k = key;
    k += snprintf(k, len + 1, "%s", stmt_name);
    for (int i = 0; i < nparams; i++)
        k += snprintf(k, len + 1 - (size_t)(k - key), "\x01%s%s", params[i] ? "v" : "n", params[i] ? params[i] : "");
    return key;
}

static void lend(struct entry *e, lk_cache_hit *hit)
{
    hit->res = e->res;
    hit->obj = &e->obj;
    hit->obj_arena = e->arena;
}

bool lk_cache_find(lk_cache *c, const char *key, unsigned long conn_epoch, lk_cache_hit *hit)
{
    unsigned long h = hash(key);
    for (struct entry *e = c->keys[h & (c->nbuckets - 1)]; e; e = e->knext) {
        if (e->khash != h || strcmp(e->key, key) != 0)
            continue;
        if (e->epoch != conn_epoch) {
            drop(c, e); /* read on another connection: ask again */
            return false;
        }
        if (c->newest != e) { /* most recently used now */
            e->newer->older = e->older;
            if (e->older)
                e->older->newer = e->newer;
            else
                c->oldest = e->newer;
            make_newest(c, e);
        }
        lend(e, hit);
        return true;
    }
    return false;
}

void lk_cache_store(lk_cache *c, char *key, const char *prefix, const char *tag_value, const PGresult *res,
                    size_t obj_bytes, unsigned long conn_epoch, lk_cache_hit *hit)
{
    if (c->entries >= c->max)
        drop(c, c->oldest);
    struct entry *e = calloc(1, sizeof(*e));
    PGresult *copy = res ? PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES) : NULL;
    size_t tl = strlen(prefix) + strlen(tag_value) + 1;
    char *tag = malloc(tl);
    if (!e || (res && !copy) || !tag)
        abort();
    snprintf(tag, tl, "%s%s", prefix, tag_value);
    e->key = key;
    e->tag = tag;
    e->khash = hash(key);
    e->thash = hash(tag);
    e->res = copy;
    e->epoch = conn_epoch;
    e->arena = lk_arena_new_sized(obj_bytes ? obj_bytes : LK_CACHE_ARENA_BLOCK);
    struct entry **kb = &c->keys[e->khash & (c->nbuckets - 1)];
    e->knext = *kb;
    *kb = e;
    struct entry **tb = &c->tags[e->thash & (c->nbuckets - 1)];
    e->tnext = *tb;
    *tb = e;
    make_newest(c, e);
    c->entries++;
    lend(e, hit);
}
