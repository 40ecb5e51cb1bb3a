#include "botkey.h"

#include <string.h>

#include "crypto.h"
#include "json.h"
#include "text.h"
#include "touch.h"

#define KEY_PREFIX "lk_"
#define KEY_BYTES 32

static lk_stmt q_find = LK_STMT("botkey_find",
                                "SELECT id, name, profiles::text, instance_prefix, read_only, metrics FROM api_keys "
                                "WHERE key_hash = $1 AND revoked_at IS NULL",
                                1);
static lk_stmt q_insert = LK_STMT("botkey_insert",
                                  "INSERT INTO api_keys (name, key_hash, key_prefix, profiles, "
                                  "instance_prefix, read_only, metrics) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
                                  7);

static bool well_formed(const char *k)
{
    size_t n = strlen(k);
    size_t want = strlen(KEY_PREFIX) + (KEY_BYTES * 4 + 2) / 3;
    if (n != want || strncmp(k, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
        return false;
    for (const char *c = k + strlen(KEY_PREFIX); *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_'))
            return false;
    return true;
}

lk_err lk_botkey_check(lk_db *db, lk_arena *a, const char *authorization, lk_botkey *out)
{
    memset(out, 0, sizeof(*out));
    if (!authorization)
        return LK_EUNAUTHORIZED;
    const char *k = authorization;
    if (!lk_ieqn(k, 7, "bearer "))
        return LK_EUNAUTHORIZED;
    k += 7;
    while (*k == ' ')
        k++;
    if (!well_formed(k))
        return LK_EUNAUTHORIZED;
    const char *params[] = {lk_sha256_hex(a, k)};
    PGresult *res;
    void **slot;
    lk_arena *oa;
    lk_err rc = lk_db_cached_obj(db, a, &q_find, params, "k:", "id", &res, &slot, &oa);
    if (rc != LK_OK)
        return rc;
    if (PQntuples(res) != 1)
        return LK_EUNAUTHORIZED;
    if (!*slot) {
        lk_botkey *k2 = lk_alloc(oa, sizeof(*k2));
        k2->id = lk_db_ll(res, 0, "id");
        k2->name = lk_strdup(oa, lk_db_get(res, 0, "name"));
        const char *pj = lk_db_get(res, 0, "profiles");
        json_object *arr = NULL;
        if (pj)
            lk_json_parse(oa, pj, strlen(pj), &arr);
        k2->profiles = lk_strv_from_json(oa, arr);
        k2->instance_prefix = lk_strdup(oa, lk_db_get(res, 0, "instance_prefix"));
        k2->read_only = lk_db_bool(res, 0, "read_only");
        k2->metrics = lk_db_bool(res, 0, "metrics");
        *slot = k2;
    }
    *out = *(lk_botkey *)*slot;
    lk_touch_note('k', out->id);
    return LK_OK;
}

bool lk_botkey_allows_profile(const lk_botkey *k, const char *profile)
{
    for (size_t i = 0; i < k->profiles.n; i++)
        if (!strcmp(k->profiles.v[i], "*") || !strcmp(k->profiles.v[i], profile))
            return true;
    return false;
}

bool lk_botkey_allows_instance(const lk_botkey *k, const char *instance_id)
{
    return !k->instance_prefix || !strncmp(instance_id, k->instance_prefix, strlen(k->instance_prefix));
}

lk_err lk_botkey_create(lk_db *db, lk_arena *a, const char *name, const lk_strv *profiles, const lk_botkey_scope *scope,
                        char **key)
{
    char *k = lk_printf(a, KEY_PREFIX "%s", lk_random_token(a, KEY_BYTES));
    const char *params[] = {name,
                            lk_sha256_hex(a, k),
                            lk_strndup(a, k, 7),
                            lk_json_text(a, lk_strv_to_json(a, profiles)),
                            scope->instance_prefix,
                            scope->read_only ? "true" : "false",
                            scope->metrics ? "true" : "false"};
    lk_err rc = lk_db_exec(db, a, &q_insert, params, NULL);
    if (rc == LK_OK)
        *key = k;
    return rc;
}
