#include "conn.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "json.h"
#include "text.h"
#include "touch.h"

/* clang-format off */
/* RFC 3339 UTC text of a timestamptz column. */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define CONN_COLUMNS                                                                              \
    "c.id, p.name AS profile, c.instance_id, c.client_id, c.access_token, c.refresh_token, "      \
    "c.token_type, c.scope, " ISO("c.expires_at") " AS expires_at, "                              \
    "(extract(epoch FROM c.expires_at) * 1000)::bigint AS expires_at_ms, "                        \
    "c.metadata::text AS metadata, c.status, c.generation, c.refresh_count, c.failure_count, "    \
    ISO("c.created_at") " AS created_at, " ISO("c.updated_at") " AS updated_at, "                 \
    ISO("c.last_refreshed_at") " AS last_refreshed_at, "                                      \
    ISO("c.grant_issued_at") " AS grant_issued_at, c.last_error, "                              \
    "floor(extract(epoch FROM GREATEST(c.last_refreshed_at, c.grant_issued_at)) * 1000)::bigint " \
    "AS refreshed_at_ms, floor(extract(epoch FROM c.grant_issued_at) * 1000)::bigint "          \
    "AS grant_issued_at_ms, (extract(epoch FROM c.refresh_retry_at) * 1000)::bigint AS retry_at_ms, "  \
    "c.refresh_retry_error"
/* When it was last used: connection_uses (sql/013), or the column the
 * versions before it wrote. Read by the CLI only, never on the hot path. */
#define CONN_USE_COLUMN ISO("GREATEST(u.last_used_at, c.last_used_at)") " AS last_used_at"
#define CONN_USE_JOIN " LEFT JOIN connection_uses u ON u.connection_id = c.id "
/* clang-format on */

static lk_stmt q_lock_row = LK_STMT("conn_lock_row",
                                    "SELECT id FROM connections WHERE profile_id = $1 AND instance_id = $2 "
                                    "FOR UPDATE",
                                    2);
static lk_stmt q_exists =
    LK_STMT("conn_exists", "SELECT 1 FROM connections WHERE profile_id = $1 AND instance_id = $2", 2);
static lk_stmt q_nextval = LK_STMT("conn_nextval", "SELECT nextval('connections_id_seq')", 0);
static lk_stmt q_insert =
    LK_STMT("conn_insert",
            "INSERT INTO connections (id, profile_id, instance_id, client_id, access_token, refresh_token, "
            "token_type, scope, expires_at, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "now() + make_interval(secs => $9::bigint), $10::jsonb)",
            10);
static lk_stmt q_replace =
    LK_STMT("conn_replace",
            /* SPEC §4: an answer without a refresh token keeps the stored
             * one, unless it was issued to another client (RFC 6749 §6:
             * a refresh token is bound to its client). */
            "UPDATE connections SET client_id = $2, access_token = $3, refresh_token = CASE WHEN $4::text IS "
            "NULL AND client_id IS NOT DISTINCT FROM $2 THEN refresh_token ELSE $4 END, token_type = $5, "
            "scope = $6, expires_at = now() + make_interval(secs => $7::bigint), metadata = $8::jsonb, "
            "status = 'active', generation = generation + 1, grant_issued_at = now(), updated_at = now(), "
            "failure_count = 0, last_error = NULL, last_error_at = NULL, refresh_retry_at = NULL, "
            "refresh_retry_error = NULL WHERE id = $1",
            8);
static lk_stmt q_load = LK_STMT("conn_load",
                                "SELECT " CONN_COLUMNS " FROM connections c JOIN profiles p ON p.id = "
                                "c.profile_id WHERE p.name = $1 AND c.instance_id = $2",
                                2);
static lk_stmt q_lock = LK_STMT("conn_lock",
                                "SELECT " CONN_COLUMNS " FROM connections c JOIN profiles p ON p.id = "
                                "c.profile_id WHERE c.id = $1 FOR UPDATE OF c",
                                1);
static lk_stmt q_list =
    LK_STMT("conn_list",
            "SELECT " CONN_COLUMNS ", " CONN_USE_COLUMN " FROM connections c JOIN profiles p ON "
            "p.id = c.profile_id" CONN_USE_JOIN "WHERE $1::text IS NULL OR p.name = $1 ORDER BY p.name, "
            "c.instance_id LIMIT 10000",
            1);
static lk_stmt q_last_used =
    LK_STMT("conn_last_used", "SELECT " CONN_USE_COLUMN " FROM connections c" CONN_USE_JOIN "WHERE c.id = $1", 1);
static lk_stmt q_delete = LK_STMT("conn_delete",
                                  "DELETE FROM connections c USING profiles p WHERE p.id = c.profile_id "
                                  "AND p.name = $1 AND c.instance_id = $2",
                                  2);

lk_err lk_conn_write_grant(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *instance_id,
                           const char *client_id, const lk_tokens *t, json_object *metadata, bool replace,
                           long long *id)
{
    const char *key[] = {p->id_text, instance_id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_lock_row, key, &res);
    if (rc != LK_OK)
        return rc;
    bool exists = PQntuples(res) == 1;
    if (exists && !replace)
        return LK_ECONNECTED;
    const char *id_text;
    if (exists) {
        id_text = lk_db_val(res, 0, 0);
    } else {
        rc = lk_db_exec(db, a, &q_nextval, NULL, &res);
        if (rc != LK_OK)
            return rc;
        id_text = lk_db_val(res, 0, 0);
    }
    char *at = NULL, *rt = NULL;
    rc = lk_seal(a, &cfg->keys, "connections", "access_token", id_text, t->access_token, strlen(t->access_token), &at);
    if (rc == LK_OK && t->refresh_token)
        rc = lk_seal(a, &cfg->keys, "connections", "refresh_token", id_text, t->refresh_token, strlen(t->refresh_token),
                     &rt);
    if (rc != LK_OK)
        return rc;
    /* SPEC §5: a token answer without expires_in expires after
     * default_token_ttl, as at refresh; a person's API token never does. */
    long long ttl = t->expires_in > 0 ? t->expires_in : lk_profile_is_credential_auth(p) ? -1 : cfg->default_token_ttl;
    const char *expires = ttl >= 0 ? lk_printf(a, "%lld", ttl) : NULL;
    const char *meta = metadata ? lk_json_text(a, metadata) : "{}";
    if (exists) {
        const char *params[] = {id_text, client_id, at, rt, t->token_type, t->scope, expires, meta};
        rc = lk_db_exec(db, a, &q_replace, params, NULL);
    } else {
        const char *params[] = {id_text, p->id_text,    instance_id, client_id, at,
                                rt,      t->token_type, t->scope,    expires,   meta};
        rc = lk_db_exec(db, a, &q_insert, params, NULL);
    }
    if (rc == LK_OK && id && !lk_parse_int(id_text, 1, LLONG_MAX, id))
        rc = LK_EINTERNAL;
    return rc;
}

lk_err lk_conn_exists(lk_db *db, lk_arena *a, const lk_profile *p, const char *instance_id, bool *exists)
{
    const char *params[] = {p->id_text, instance_id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_exists, params, &res);
    if (rc == LK_OK)
        *exists = PQntuples(res) > 0;
    return rc;
}

static char *col(lk_arena *a, PGresult *res, int r, const char *name)
{
    return lk_strdup(a, lk_db_get(res, r, name));
}

/* Now in milliseconds, from the precise clock: the times of a row are the
 * database's, and time() may lag them by a tick at a second's edge (a
 * token of 3600 s would read 3601, a hold of 10 s 12). */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whole seconds from a to b (ms), rounded toward minus infinity: never
 * more than has really passed or is really left. */
static long long secs_between(long long a_ms, long long b_ms)
{
    long long d = b_ms - a_ms;
    return d >= 0 ? d / 1000 : -((-d + 999) / 1000);
}

/* Whole seconds until the hold-off ends, rounded up (a caller told to wait
 * that long finds it over), never more than the hold given; 0 when none. */
static long long retry_in(long long retry_at_ms)
{
    if (!retry_at_ms)
        return 0;
    return -secs_between(retry_at_ms, now_ms());
}

/* The relative times of c, of now. */
static void times_of_now(lk_conn *c)
{
    long long now = now_ms();
    c->expires_in = secs_between(now, c->expires_at_ms);
    c->refreshed_ago = secs_between(c->refreshed_at_ms, now);
    c->retry_in = retry_in(c->retry_at_ms);
}
/* c's metadata parsed into a (an empty object when there is none). */
static void parse_metadata(lk_arena *a, lk_conn *c)
{
    c->metadata = NULL;
    if (c->metadata_text)
        lk_json_parse(a, c->metadata_text, strlen(c->metadata_text), &c->metadata);
    if (!c->metadata)
        c->metadata = lk_json_object(a);
}

/* Row r of res into c; its metadata stays text (parse_metadata). */
static void fill_row(lk_arena *a, PGresult *res, int r, lk_conn *c)
{
    c->id = lk_db_ll(res, r, "id");
    c->id_text = col(a, res, r, "id");
    c->profile = col(a, res, r, "profile");
    c->instance_id = col(a, res, r, "instance_id");
    c->client_id = col(a, res, r, "client_id");
    c->access_sealed = col(a, res, r, "access_token");
    c->refresh_sealed = col(a, res, r, "refresh_token");
    c->token_type = col(a, res, r, "token_type");
    c->scope = col(a, res, r, "scope");
    c->expires_at = col(a, res, r, "expires_at");
    /* From the absolute time, so a cached row stays right as time passes. */
    c->expires_at_ms = lk_db_ll(res, r, "expires_at_ms");
    c->metadata_text = col(a, res, r, "metadata");
    c->metadata = NULL;
    c->status = col(a, res, r, "status");
    c->generation = lk_db_ll(res, r, "generation");
    c->refresh_count = lk_db_ll(res, r, "refresh_count");
    c->failure_count = lk_db_ll(res, r, "failure_count");
    c->created_at = col(a, res, r, "created_at");
    c->updated_at = col(a, res, r, "updated_at");
    c->last_used_at = col(a, res, r, "last_used_at");
    c->last_refreshed_at = col(a, res, r, "last_refreshed_at");
    c->grant_issued_at = col(a, res, r, "grant_issued_at");
    c->last_error = col(a, res, r, "last_error");
    c->refreshed_at_ms = lk_db_ll(res, r, "refreshed_at_ms");
    c->grant_issued_at_ms = lk_db_ll(res, r, "grant_issued_at_ms");
    c->retry_at_ms = lk_db_ll(res, r, "retry_at_ms");
    times_of_now(c);
    c->retry_error = col(a, res, r, "refresh_retry_error");
}

static void fill(lk_arena *a, PGresult *res, int r, lk_conn *c)
{
    fill_row(a, res, r, c);
    parse_metadata(a, c);
}

/* What the cache keeps of a connection: its row, the metadata as text (a
 * parsed JSON object costs about 2 KB in json-c's tables; parsing 250
 * bytes again costs a microsecond or two). */
static void *decode_conn(lk_arena *a, PGresult *res)
{
    lk_conn *c = lk_alloc(a, sizeof(lk_conn));
    fill_row(a, res, 0, c);
    return c;
}

lk_err lk_conn_load(lk_db *db, lk_arena *a, const char *profile, const char *instance_id, lk_conn **out)
{
    const char *params[] = {profile, instance_id};
    const void *cached = NULL;
    lk_err rc = lk_db_cached_row(db, a, &q_load, params, "c:", "id", decode_conn, &cached);
    if (rc == LK_ENOTFOUND)
        return LK_ENOTCONN;
    if (rc != LK_OK)
        return rc;
    /* A copy whose relative times are of now (the row may be cached). */
    lk_conn *c = lk_alloc(a, sizeof(lk_conn));
    *c = *(const lk_conn *)cached;
    times_of_now(c);
    parse_metadata(a, c);
    *out = c;
    return LK_OK;
}

lk_err lk_conn_lock(lk_db *db, lk_arena *a, long long id, lk_conn **out)
{
    const char *params[] = {lk_printf(a, "%lld", id)};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_lock, params, &res);
    if (rc != LK_OK)
        return rc;
    if (PQntuples(res) != 1)
        return LK_ENOTCONN;
    *out = lk_alloc(a, sizeof(lk_conn));
    fill(a, res, 0, *out);
    return LK_OK;
}

lk_err lk_conn_access_token(lk_arena *a, const lk_config *cfg, const lk_conn *c, char **out)
{
    if (!c->access_sealed)
        return LK_ECRYPTO;
    return lk_unseal(a, &cfg->keys, "connections", "access_token", c->id_text, c->access_sealed, out, NULL);
}

void lk_conn_touch(const lk_conn *c)
{
    lk_touch_note('c', c->id);
}

lk_err lk_conn_read_last_used(lk_db *db, lk_arena *a, lk_conn *c)
{
    const char *params[] = {c->id_text};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_last_used, params, &res);
    if (rc != LK_OK)
        return rc;
    c->last_used_at = PQntuples(res) == 1 ? col(a, res, 0, "last_used_at") : NULL;
    return LK_OK;
}

lk_err lk_conn_list(lk_db *db, lk_arena *a, const char *profile, lk_conn **out, size_t *n)
{
    const char *params[] = {profile};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_list, params, &res);
    if (rc != LK_OK)
        return rc;
    *n = (size_t)PQntuples(res);
    *out = lk_alloc(a, (*n + 1) * sizeof(lk_conn));
    for (size_t i = 0; i < *n; i++)
        fill(a, res, (int)i, &(*out)[i]);
    return LK_OK;
}

lk_err lk_conn_delete(lk_db *db, lk_arena *a, const char *profile, const char *instance_id)
{
    const char *params[] = {profile, instance_id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_delete, params, &res);
    if (rc != LK_OK)
        return rc;
    return strcmp(PQcmdTuples(res), "0") ? LK_OK : LK_ENOTCONN;
}

json_object *lk_conn_json(lk_arena *a, const lk_conn *c)
{
    json_object *o = lk_json_object(a);
    lk_json_set_str(o, "profile", c->profile);
    lk_json_set_str(o, "instance_id", c->instance_id);
    lk_json_set_str(o, "status", c->status);
    lk_json_set_str(o, "client_id", c->client_id);
    lk_json_set_str(o, "token_type", c->token_type);
    lk_json_set_str(o, "scope", c->scope);
    if (c->expires_at)
        lk_json_set_str(o, "expires_at", c->expires_at);
    else
        json_object_object_add(o, "expires_at", NULL);
    json_object_object_add(o, "metadata", json_object_get(c->metadata));
    lk_json_set_int(o, "generation", c->generation);
    lk_json_set_int(o, "refresh_count", c->refresh_count);
    lk_json_set_int(o, "failure_count", c->failure_count);
    json_object_object_add(o, "has_refresh_token", json_object_new_boolean(c->refresh_sealed != NULL));
    lk_json_set_str(o, "created_at", c->created_at);
    lk_json_set_str(o, "updated_at", c->updated_at);
    lk_json_set_str(o, "grant_issued_at", c->grant_issued_at);
    lk_json_set_str(o, "last_used_at", c->last_used_at);
    lk_json_set_str(o, "last_refreshed_at", c->last_refreshed_at);
    lk_json_set_str(o, "last_error", c->last_error);
    return o;
}
