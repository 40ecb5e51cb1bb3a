#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One cached answer: statement + parameters → result, and its tag. */
struct entry {
    struct entry *next;
    char *key, *tag;
    PGresult *res;
    unsigned long epoch; /* of the connection it was read on */
    lk_arena *arena;     /* for the object decoded from res */
    void *obj;
    long long stored_ms; /* monotonic */
};

struct lk_cache {
    struct entry *slots[LK_CACHE_SLOTS];
    size_t entries;
    struct entry *graveyard;  /* dropped, maybe still borrowed this request */
    unsigned long seen_epoch; /* the connection announcements were last heard on */
};

lk_cache *lk_cache_new(void)
{
    lk_cache *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    return c;
}

void lk_cache_free(lk_cache *c)
{
    if (!c)
        return;
    lk_cache_drop_all(c);
    lk_cache_sweep(c);
    free(c);
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

/* Moves e to the graveyard (the caller has unlinked it). */
static void bury(lk_cache *c, struct entry *e)
{
    e->next = c->graveyard;
    c->graveyard = e;
}

void lk_cache_sweep(lk_cache *c)
{
    struct entry *e = c->graveyard;
    c->graveyard = NULL;
    while (e) {
        struct entry *next = e->next;
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
    for (size_t i = 0; i < LK_CACHE_SLOTS; i++) {
        struct entry *e = c->slots[i];
        c->slots[i] = NULL;
        while (e) {
            struct entry *next = e->next;
            bury(c, e);
            e = next;
        }
    }
    c->entries = 0;
}

void lk_cache_drop_tag(lk_cache *c, const char *tag)
{
    if (!strcmp(tag, "*")) {
        lk_cache_drop_all(c);
        return;
    }
    for (size_t i = 0; i < LK_CACHE_SLOTS; i++) {
        struct entry **pp = &c->slots[i];
        while (*pp) {
            struct entry *e = *pp;
            if (!strcmp(e->tag, tag)) {
                *pp = e->next;
                bury(c, e);
                c->entries--;
            } else {
                pp = &e->next;
            }
        }
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

bool lk_cache_find(lk_cache *c, const char *key, unsigned long conn_epoch, long long now, lk_cache_hit *hit)
{
    for (struct entry **pp = &c->slots[hash(key) % LK_CACHE_SLOTS]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->epoch != conn_epoch || now - e->stored_ms > LK_CACHE_TTL_MS) {
            *pp = e->next; /* too old: ask again */
            bury(c, e);
            c->entries--;
            return false;
        }
        lend(e, hit);
        return true;
    }
    return false;
}

void lk_cache_store(lk_cache *c, char *key, const char *prefix, const char *tag_value, const PGresult *res,
                    unsigned long conn_epoch, long long now, lk_cache_hit *hit)
{
    if (c->entries >= LK_CACHE_MAX)
        lk_cache_drop_all(c);
    struct entry *e = calloc(1, sizeof(*e));
    PGresult *copy = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    size_t tl = strlen(prefix) + strlen(tag_value) + 1;
    char *tag = malloc(tl);
    if (!e || !copy || !tag)
        abort();
    snprintf(tag, tl, "%s%s", prefix, tag_value);
    e->key = key;
    e->tag = tag;
    e->res = copy;
    e->epoch = conn_epoch;
    e->stored_ms = now;
    e->arena = lk_arena_new();
    unsigned long slot = hash(key) % LK_CACHE_SLOTS;
    e->next = c->slots[slot];
    c->slots[slot] = e;
    c->entries++;
    lend(e, hit);
}
