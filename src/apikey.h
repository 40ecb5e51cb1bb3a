/* Bot API keys (SPEC §2): "lk_" + 32 random bytes base64url, stored only
 * as SHA-256, limited to profiles ("*" = all) and an instance id prefix. */
#ifndef LK_APIKEY_H
#define LK_APIKEY_H

#include "http.h"
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
bool lk_apikey_allows_profile(const lk_apikey *k, const char *profile);
bool lk_apikey_allows_instance(const lk_apikey *k, const char *instance_id);
/* Makes a key; *key gets the only copy of it in clear. */
lk_err lk_apikey_create(lk_db *db, lk_arena *a, const char *name, const lk_strv *profiles, const char *instance_prefix,
                        char **key);

/* SPEC §2's check order for bot routes, after the method: the key (401),
 * the key's profiles (403, also for profiles that do not exist) and its
 * instance prefix when instance_id is known (403), then the profile (404).
 * Fails through lk_fail. */
lk_err lk_bot_gate(lk_req *r, const char *profile_name, const char *instance_id, lk_apikey *key,
                   const lk_profile **profile);

#endif
