#include "webhook.h"

#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json.h"
#include "text.h"
#include "url.h"

#define WHSEC "whsec_"

static lk_stmt q_nextval = LK_STMT("wh_nextval", "SELECT nextval('webhooks_id_seq')", 0);
static lk_stmt q_insert = LK_STMT("wh_insert",
                                  "INSERT INTO webhooks (id, url, secret, events, profiles) "
                                  "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)",
                                  5);
static lk_stmt q_lock = LK_STMT("wh_lock", "SELECT secret FROM webhooks WHERE id = $1::bigint FOR UPDATE", 1);
static lk_stmt q_rotate = LK_STMT("wh_rotate",
                                  "UPDATE webhooks SET secret = $2, previous_secret = $3, previous_until = "
                                  "now() + make_interval(hours => $4::int) WHERE id = $1::bigint",
                                  4);
/* One event for this receiver alone, and the deliverers woken at commit. */
static lk_stmt q_test = LK_STMT("wh_test",
                                "WITH ev AS (INSERT INTO events (msg_id, type, profile, instance_id, data) "
                                "SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'webhook.test', '', "
                                "NULL, jsonb_build_object('webhook_id', w.id) FROM webhooks w WHERE w.id = "
                                "$1::bigint RETURNING id, msg_id), d AS (INSERT INTO deliveries (event_id, "
                                "webhook_id, stream) SELECT id, $1::bigint, 'webhook.test/' FROM ev) "
                                "SELECT msg_id, pg_notify('latchkey_events', '') FROM ev",
                                1);
static lk_stmt q_remove = LK_STMT("wh_remove", "DELETE FROM webhooks WHERE id = $1::bigint", 1);
/* Events done with, their deliveries with them (ON DELETE CASCADE), a
 * batch a sweep: every delivery delivered (or none made) after
 * LK_EVENT_KEEP_DAYS, none pending any more (dead ones shown by webhook
 * list until then) after LK_EVENT_KEEP_DEAD_DAYS. */
static lk_stmt q_purge = LK_STMT(
    "wh_purge",
    "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.created_at < now() - make_interval(days => "
    "$1::int) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND (d.status = 'pending' OR "
    "(d.status = 'dead' AND e.created_at >= now() - make_interval(days => $2::int)))) ORDER BY e.created_at "
    "LIMIT 10000)",
    2);

char *lk_webhook_secret_new(lk_arena *a)
{
    unsigned char raw[LK_WEBHOOK_SECRET_BYTES];
    if (lk_random(raw, sizeof(raw)) != LK_OK)
        abort(); /* no randomness: nothing safe can be done */
    return lk_printf(a, WHSEC "%s", lk_b64_encode(a, raw, sizeof(raw)));
}

lk_err lk_webhook_sign(lk_arena *a, const char *secret, const char *msg_id, long long ts, const char *body, size_t blen,
                       char **out)
{
    size_t pl = strlen(WHSEC);
    unsigned char *key;
    size_t klen;
    if (strncmp(secret, WHSEC, pl) != 0 || lk_b64_decode(a, secret + pl, strlen(secret + pl), &key, &klen) != LK_OK ||
        klen == 0)
        return LK_EINVAL;
    /* Standard Webhooks: the signed content is "{id}.{timestamp}.{body}". */
    if (blen > INT_MAX || memchr(body, '\0', blen))
        return LK_EINVAL;
    const char *content = lk_printf(a, "%s.%lld.%.*s", msg_id, ts, (int)blen, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)content, strlen(content), mac, &mlen))
        return LK_EINTERNAL;
    *out = lk_printf(a, "v1,%s", lk_b64_encode(a, mac, mlen));
    return LK_OK;
}

bool lk_webhook_url_ok(const char *url)
{
    return lk_provider_url_ok(url);
}

lk_reach lk_webhook_reach(const char *url)
{
    lk_arena *a = lk_arena_new();
    lk_url u;
    bool local = lk_url_parse(a, url, &u) == LK_OK && lk_host_is_loopback(u.host);
    lk_arena_free(a);
    return local ? LK_REACH_ANY : LK_REACH_PUBLIC;
}

double lk_webhook_backoff(int failures, double r)
{
    double ceiling = LK_WEBHOOK_BACKOFF_BASE_S * ldexp(1.0, failures > 31 ? 30 : failures - 1);
    if (ceiling > LK_WEBHOOK_BACKOFF_CAP_S)
        ceiling = LK_WEBHOOK_BACKOFF_CAP_S;
    return r * ceiling;
}

/* An event pattern: lower-case letters, digits, '.', '_', '-', '*'. */
static bool valid_pattern(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-*", s[i]))
            return false;
    return true;
}

lk_err lk_webhook_list_json(lk_arena *a, const char *list, bool profiles, char **json, const char **why)
{
    if (strlen(list) > LK_WEBHOOK_LIST_MAX) {
        *why = "the list is too long";
        return LK_EINVAL;
    }
    json_object *arr = lk_json_array(a);
    for (const char *s = list;; s++) {
        size_t n = strcspn(s, ",");
        bool ok = profiles ? lk_valid_profile_name(s, n) : valid_pattern(s, n);
        if (!ok) {
            *why = lk_printf(a, "%.*s is not a %s", (int)n, s,
                             profiles ? "profile name" : "event pattern (such as connection.*)");
            return LK_EINVAL;
        }
        json_object_array_add(arr, json_object_new_string_len(s, (int)n));
        s += n;
        if (!*s)
            break;
    }
    *json = (char *)lk_json_text(a, arr);
    return LK_OK;
}

lk_err lk_webhook_add(lk_db *db, lk_arena *a, const lk_config *cfg, const char *url, const char *events,
                      const char *profiles, char **id, char **secret)
{
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_nextval, NULL, &res);
    if (rc != LK_OK)
        return rc;
    *id = lk_strdup(a, lk_db_val(res, 0, 0));
    *secret = lk_webhook_secret_new(a);
    char *sealed;
    rc = lk_seal(a, &cfg->keys, "webhooks", "secret", *id, *secret, strlen(*secret), &sealed);
    if (rc != LK_OK)
        return rc;
    const char *params[] = {*id, url, sealed, events, profiles};
    return lk_db_exec(db, a, &q_insert, params, NULL);
}

/* Under the row lock: the current secret moves to previous_secret (sealed
 * again for that column) and a new one takes its place. */
static lk_err rotate_locked(lk_db *db, lk_arena *a, const lk_config *cfg, const char *id, char **secret)
{
    const char *params[] = {id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_lock, params, &res);
    if (rc == LK_OK && PQntuples(res) != 1)
        rc = LK_ENOTFOUND;
    char *old = NULL, *old_sealed = NULL, *sealed = NULL;
    size_t olen = 0;
    if (rc == LK_OK)
        rc = lk_unseal(a, &cfg->keys, "webhooks", "secret", id, lk_db_val(res, 0, 0), &old, &olen);
    if (rc == LK_OK)
        rc = lk_seal(a, &cfg->keys, "webhooks", "previous_secret", id, old, olen, &old_sealed);
    *secret = lk_webhook_secret_new(a);
    if (rc == LK_OK)
        rc = lk_seal(a, &cfg->keys, "webhooks", "secret", id, *secret, strlen(*secret), &sealed);
    if (rc == LK_OK) {
        const char *up[] = {id, sealed, old_sealed, lk_printf(a, "%d", LK_WEBHOOK_PREVIOUS_HOURS)};
        rc = lk_db_exec(db, a, &q_rotate, up, NULL);
    }
    return rc;
}

lk_err lk_webhook_rotate(lk_db *db, lk_arena *a, const lk_config *cfg, const char *id, char **secret)
{
    lk_err rc = lk_db_begin(db);
    if (rc == LK_OK)
        rc = rotate_locked(db, a, cfg, id, secret);
    if (rc == LK_OK)
        rc = lk_db_commit(db);
    else
        lk_db_rollback(db);
    return rc;
}

lk_err lk_webhook_test(lk_db *db, lk_arena *a, const char *id, char **msg_id)
{
    const char *params[] = {id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_test, params, &res);
    if (rc == LK_OK && PQntuples(res) != 1)
        rc = LK_ENOTFOUND;
    if (rc == LK_OK)
        *msg_id = lk_strdup(a, lk_db_val(res, 0, 0));
    return rc;
}

lk_err lk_webhook_remove(lk_db *db, lk_arena *a, const char *id)
{
    const char *params[] = {id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_remove, params, &res);
    if (rc == LK_OK && !strcmp(PQcmdTuples(res), "0"))
        rc = LK_ENOTFOUND;
    return rc;
}

lk_err lk_webhook_purge(lk_db *db, lk_arena *a, long long *purged)
{
    const char *params[] = {lk_printf(a, "%d", LK_EVENT_KEEP_DAYS), lk_printf(a, "%d", LK_EVENT_KEEP_DEAD_DAYS)};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_purge, params, &res);
    *purged = 0;
    if (rc == LK_OK && !lk_parse_int(PQcmdTuples(res), 0, LLONG_MAX, purged))
        *purged = 0;
    return rc;
}
