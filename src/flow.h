/* The browser flow of SPEC §4: authorization links, pending flows with
 * state, PKCE and a per-flow cookie, and the callback that turns a code
 * into a stored connection. */
#ifndef LK_FLOW_H
#define LK_FLOW_H

#include "gate.h"
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
/* GET /authorize/{profile}?link=… (or the seed form when seed_form):
 * stores a pending flow, sets its cookie, redirects to the provider. */
void lk_flow_begin(lk_req *r, const char *profile, bool seed_form);
/* GET /callback/{profile}: the provider sends the browser back. */
void lk_flow_callback(lk_req *r, const char *profile);

/* POST /callback/{profile}: the per-user credential form (api_key_per_user):
 * checked against the provider, stored sealed, answered 303. */
void lk_flow_credential(lk_req *r, const char *profile);
/* GET /callback/{profile}?connected=1: where a stored credential lands. */
void lk_flow_connected_page(lk_req *r, const char *profile);

/* Where the browser goes when a flow with a redirect_url ends (SPEC §4):
 * redirect_url without its fragment and without any query parameter whose
 * decoded name is status, error, profile or instance_id (the others kept,
 * in order), then Latchkey's: status (error when error is not NULL, else
 * success), error, profile and instance_id, percent-encoded. LK_ETOOBIG
 * when the result would exceed LK_FLOW_RESULT_URL_MAX. */
#define LK_FLOW_RESULT_URL_MAX 8192
lk_err lk_flow_result_url(lk_arena *a, const char *redirect_url, const char *error, const char *profile,
                          const char *instance_id, char **out);

/* Deletes expired links and flows (index range scans, bounded), at most
 * once per purge_interval in this process. */
void lk_flow_purge(lk_db *db, lk_arena *a, const lk_config *cfg, bool force);

#endif
