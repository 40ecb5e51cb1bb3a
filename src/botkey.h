/* Bot keys, the keys bots present (SPEC §2 calls them API keys): "lk_" +
 * 32 random bytes base64url, stored only as SHA-256, limited to profiles
 * ("*" = all) and an instance id prefix. */
#ifndef LK_BOTKEY_H
#define LK_BOTKEY_H

#include "db.h"
#include "profile.h"

typedef struct lk_botkey {
    long long id;
    char *name;
    lk_strv profiles;
    char *instance_prefix; /* NULL: any */
    bool read_only;        /* --read-only (SPEC §10): read-only tools, GET/HEAD through the proxy, no /token */
    bool metrics;          /* --metrics (SPEC §11): may scrape GET /metrics */
} lk_botkey;

/* What a new key may do besides its profiles. */
typedef struct lk_botkey_scope {
    const char *instance_prefix; /* NULL: any */
    bool read_only;
    bool metrics;
} lk_botkey_scope;

/* Finds the key of an "Authorization: Bearer lk_…" header value.
 * LK_EUNAUTHORIZED when absent, malformed, unknown or revoked. Notes the
 * use at most once a minute. */
lk_err lk_botkey_check(lk_db *db, lk_arena *a, const char *authorization, lk_botkey *out);
/* True when k may use profile (its list holds it, or "*"). */
bool lk_botkey_allows_profile(const lk_botkey *k, const char *profile);
/* True when instance_id starts with k's instance prefix (or it has none). */
bool lk_botkey_allows_instance(const lk_botkey *k, const char *instance_id);
/* Makes a key limited to profiles and scope (SPEC §10's --read-only,
 * §11's --metrics); *key gets the only copy of it in clear. */
lk_err lk_botkey_create(lk_db *db, lk_arena *a, const char *name, const lk_strv *profiles, const lk_botkey_scope *scope,
                        char **key);

#endif
