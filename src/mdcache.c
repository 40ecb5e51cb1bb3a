/* The conversion cache (mdcache.h): a small table scanned by hash
 * (LK_MDCACHE_ENTRIES of them, one process's worth), each entry holding
 * copies of its key and value on the heap. */
#include "mdcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "markdown.h"

typedef struct entry {
    lk_memo_kind kind;
    uint64_t hash;
    size_t n, len;
    char *key; /* n bytes, then the value and its NUL */
    unsigned long long used;
} entry;

static entry slots[LK_MDCACHE_ENTRIES];
static size_t nslots, held, budget = 8u << 20;
static unsigned long long clock_, hits, misses;

/* One step of the hash. */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0xFF51AFD7ED558CCDu;
    return h ^ (h >> 32);
}

/* The word of s at i (i + 8 <= n). */
static uint64_t word_at(const char *s, size_t i)
{
    uint64_t w;
    memcpy(&w, s + i, 8);
    return w;
}

/* A 64-bit hash of s[0..n) from its length and a sample of its bytes: the
 * first and last HASH_EDGE and HASH_SAMPLES words between, so that a hit
 * costs one comparison of the bytes and a miss hardly more than nothing
 * (a hash over every byte of a 50 KB page is a tenth of what the rest of
 * the call costs). A collision only costs that comparison. */
#define HASH_EDGE ((size_t)256)
#define HASH_SAMPLES ((size_t)64)

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = mix(0x9E3779B97F4A7C15u, n);
    if (n < 2 * HASH_EDGE + 8 * HASH_SAMPLES) {
        for (size_t i = 0; i < n; i++)
            h = mix(h, (unsigned char)s[i]);
        return h;
    }
    for (size_t i = 0; i < HASH_EDGE; i += 8)
        h = mix(mix(h, word_at(s, i)), word_at(s, n - 8 - i));
    size_t step = (n - 2 * HASH_EDGE) / HASH_SAMPLES;
    for (size_t k = 0; k < HASH_SAMPLES; k++)
        h = mix(h, word_at(s, HASH_EDGE + k * step));
    return h;
}

static void drop(size_t i)
{
    held -= slots[i].n + slots[i].len + 1;
    free(slots[i].key);
    slots[i] = slots[--nslots];
}

static void drop_oldest(void)
{
    size_t old = 0;
    for (size_t i = 1; i < nslots; i++)
        if (slots[i].used < slots[old].used)
            old = i;
    drop(old);
}

static entry *find(lk_memo_kind k, uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].kind == k && slots[i].hash == h && slots[i].n == n && !memcmp(slots[i].key, s, n))
            return &slots[i];
    return NULL;
}

bool lk_memo_get(lk_arena *a, lk_memo_kind k, const char *key, size_t n, char **val, size_t *len)
{
    if (budget == 0)
        return false;
    entry *e = find(k, hash_bytes(key, n), key, n);
    if (!e) {
        misses++;
        return false;
    }
    hits++;
    e->used = ++clock_;
    *val = lk_memdup(a, e->key + e->n, e->len);
    *len = e->len;
    return true;
}

/* Makes room by age; nothing when one entry would take more than half of
 * the budget or memory runs out. */
void lk_memo_put(lk_memo_kind k, const char *key, size_t n, const char *val, size_t len)
{
    size_t size = n + len + 1;
    if (budget == 0 || size > budget / 2)
        return;
    uint64_t h = hash_bytes(key, n);
    if (find(k, h, key, n))
        return;
    char *p = malloc(size);
    if (!p)
        return;
    memcpy(p, key, n);
    memcpy(p + n, val, len);
    p[n + len] = '\0';
    while (nslots > 0 && (nslots == LK_MDCACHE_ENTRIES || held + size > budget))
        drop_oldest();
    slots[nslots++] = (entry){k, h, n, len, p, ++clock_};
    held += size;
}

void lk_mdcache_budget(size_t bytes)
{
    budget = bytes;
    while (nslots > 0 && held > budget)
        drop_oldest();
}

lk_err lk_storage_to_md_cached(lk_arena *a, const char *xhtml, size_t n, char **out)
{
    size_t len;
    if (lk_memo_get(a, LK_MEMO_MARKDOWN, xhtml, n, out, &len))
        return LK_OK;
    lk_err rc = lk_storage_to_md(a, xhtml, n, out);
    if (rc == LK_OK)
        lk_memo_put(LK_MEMO_MARKDOWN, xhtml, n, *out, strlen(*out));
    return rc;
}

void lk_mdcache_clear(void)
{
    while (nslots > 0)
        drop(nslots - 1);
    hits = misses = 0;
}

lk_mdcache_stats lk_mdcache_stats_now(void)
{
    return (lk_mdcache_stats){nslots, held, hits, misses};
}
