#include "touch.h"

#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "cache.h"

static lk_stmt q_keys = LK_STMT("touch_keys",
                                "UPDATE api_keys SET last_used_at = now() WHERE id IN (SELECT id FROM api_keys "
                                "WHERE id = ANY($1::bigint[]) AND (last_used_at IS NULL OR last_used_at < now() - "
                                "interval '1 minute') ORDER BY id FOR UPDATE SKIP LOCKED)",
                                1);
/* In connection_uses (sql/013), for connections that still exist; in id
 * order, so that two processes' batches lock in the same order. */
static lk_stmt q_conns = LK_STMT("touch_conns",
                                 "INSERT INTO connection_uses (connection_id, last_used_at) SELECT id, now() FROM "
                                 "connections WHERE id = ANY($1::bigint[]) ORDER BY id ON CONFLICT (connection_id) DO "
                                 "UPDATE SET last_used_at = EXCLUDED.last_used_at WHERE connection_uses.last_used_at < "
                                 "EXCLUDED.last_used_at - interval '1 minute'",
                                 1);

static struct {
    long long id;
    char kind;
    time_t at;
} seen[LK_TOUCH_SLOTS];

static struct {
    long long id;
    char kind;
} pending[LK_TOUCH_BATCH];
static size_t npending;
static long long oldest_ms;

void lk_touch_note(char kind, long long id)
{
    size_t i = ((unsigned long long)id * 31u + (unsigned char)kind) % LK_ARRAY_LEN(seen);
    time_t now = time(NULL);
    if (npending == LK_TOUCH_BATCH ||
        (seen[i].id == id && seen[i].kind == kind && now - seen[i].at < LK_TOUCH_INTERVAL_S))
        return; /* full: written after this request, and noted by the next */
    seen[i].id = id;
    seen[i].kind = kind;
    seen[i].at = now;
    if (npending == 0)
        oldest_ms = lk_cache_now_ms();
    pending[npending].id = id;
    pending[npending].kind = kind;
    npending++;
}

size_t lk_touch_pending(void)
{
    return npending;
}

/* The pending ids of kind as a PostgreSQL array literal, or NULL. */
static const char *ids_of(lk_arena *a, char kind)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_TOUCH_BATCH * 22 + 2);
    lk_err rc = lk_buf_addc(&b, '{');
    for (size_t i = 0; rc == LK_OK && i < npending; i++)
        if (pending[i].kind == kind)
            rc = lk_buf_printf(&b, "%s%lld", b.len > 1 ? "," : "", pending[i].id);
    if (rc == LK_OK)
        rc = lk_buf_addc(&b, '}');
    return rc == LK_OK && b.len > 2 ? lk_buf_str(&b) : NULL;
}

void lk_touch_flush(lk_db *db, lk_arena *a, bool idle)
{
    if (npending == 0)
        return;
    if (!idle && npending < LK_TOUCH_BATCH && lk_cache_now_ms() - oldest_ms < LK_TOUCH_DELAY_MS)
        return;
    const char *keys = ids_of(a, 'k'), *conns = ids_of(a, 'c');
    npending = 0;
    if (keys)
        (void)lk_db_exec(db, a, &q_keys, &keys, NULL); /* best effort */
    if (conns)
        (void)lk_db_exec(db, a, &q_conns, &conns, NULL);
}
