/* Authorization links (SPEC §4): what a bot (or the CLI, or the seed form)
 * asks for, checked field by field, and stored as a one-time link. */
#ifndef LK_LINK_H
#define LK_LINK_H

#include "http.h"
#include "profile.h"

/* What a link (or the seed form) asks for. */
typedef struct lk_link_req {
    const char *instance_id;
    const char *scope;        /* "a,b" or NULL: the profile's default */
    const char *redirect_url; /* or NULL: show a page */
    const char *client_id;    /* white-label client, or NULL */
    const char *site;         /* cloud id or host, or NULL */
    long long expires_in;     /* link lifetime, s; 0: configured default */
    lk_strv scopes;           /* resolved by lk_link_check */
} lk_link_req;

/* Checks every field; appends SPEC §7 validation items to errors with
 * loc [where, field]. Returns false when any failed (or LK_EDB via *rc). */
bool lk_link_check(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, lk_link_req *lr,
                   const char *where, json_object *errors, lk_err *rc);
/* Stores a link; *url is the only copy of it, *expires_at RFC 3339. */
lk_err lk_link_create(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const lk_link_req *lr,
                      const char *actor, char **url, char **expires_at);

/* POST /authorize/{profile}: a bot asks for a link (201). */
void lk_link_endpoint(lk_req *r, const char *profile);

#endif
