/* Bot API keys (SPEC §2): "lk_" + 32 random bytes base64url, stored only
 * as SHA-256, limited to profiles ("*" = all) and an instance id prefix. */
#ifndef LK_APIKEY_H
#define LK_APIKEY_H

#include "db.h"
#include "profile.h"

typedef struct lk_apikey {
    long long id;
    char *name;
    lk_strv profiles;
    char *instance_prefix; /* NULL: any */
} lk_apikey;

/* Finds the key of an "Authorization: Bearer lk_…" header value.
 * LK_EUNAUTHORIZED when absent, malformed, unknown or revoked. Notes the
 * use at most once a minute. */
lk_err lk_apikey_check(lk_db *db, lk_arena *a, const char *authorization, lk_apikey *out);
/* True when k may use profile (its list holds it, or "*"). */
bool lk_apikey_allows_profile(const lk_apikey *k, const char *profile);
/* True when instance_id starts with k's instance prefix (or it has none). */
bool lk_apikey_allows_instance(const lk_apikey *k, const char *instance_id);
/* Makes a key; *key gets the only copy of it in clear. */
lk_err lk_apikey_create(lk_db *db, lk_arena *a, const char *name, const lk_strv *profiles, const char *instance_prefix,
                        char **key);

#endif
