/* The credential a bot gets (SPEC §5): the token and refresh endpoints,
 * and the lookup the proxy shares with them. */
#ifndef LK_CRED_H
#define LK_CRED_H

#include "http.h"
#include "refresh.h"
#include "resources.h"

typedef struct lk_cred {
    lk_conn *conn;
    char *access_token;
    bool refresh_failed;
    bool refresh_in_progress; /* another caller's refresh was not waited for */
    const lk_site *site;      /* the chosen site, or NULL */
    char *api_base_url;       /* the profile's template filled in, or NULL */
    char *authorization;      /* the ready Authorization header value */
    bool user_credential;     /* an API token or PAT: nothing to refresh */
} lk_cred;

#define LK_MIN_VALIDITY_DEFAULT 60
#define LK_MIN_VALIDITY_MAX 3000

/* Why lk_cred_get or lk_cred_refresh failed, for each caller to answer in
 * its own way (lk_fail_cred: as SPEC §7's HTTP error). The HTTP status
 * and the SPEC §7 code are err's (lk_err_status, lk_err_code). */
typedef struct lk_cred_failure {
    lk_err err;
    const char *detail;        /* a sentence for the caller (always set) */
    const char *where, *field; /* LK_EVALIDATION: the input at fault (loc) */
    const char *retry_after;   /* Retry-After as the header says it, or NULL */
    bool refresh_in_progress;  /* not let wait for another caller's refresh */
    const char *authorize_url; /* LK_EREAUTH: where to ask for a new link */
    json_object *sites;        /* LK_ESITE: the connection's sites (borrowed) */
} lk_cred_failure;

/* The connection's credential for site (NULL: its default), refreshed
 * first when it expires within min_validity seconds, or always when force.
 * site_where says where the site came from ("query", "body" or "header"),
 * for the validation error. r is only read. Fails with *why filled in:
 * not_connected, reauthorization_required, site_required, provider errors. */
lk_err lk_cred_get(const lk_req *r, const lk_profile *p, const char *actor, const char *instance_id, const char *site,
                   const char *site_where, long long min_validity, bool force, lk_cred *out, lk_cred_failure *why);
/* Refreshes conn (lk_refresh, as actor); r is only read. A failure fills
 * *why (SPEC §5, §7): reauthorization_required with where to get a new
 * link, or the error with its Retry-After, marked refresh_in_progress when
 * the caller was not let wait for another caller's refresh. On LK_OK,
 * ro->conn and ro->access_token are set. */
lk_err lk_cred_refresh(const lk_req *r, const lk_profile *p, const char *actor, const lk_conn *conn, bool force,
                       long long min_validity, lk_refresh_out *ro, lk_cred_failure *why);
/* Fails r with why, as /token, /refresh and /proxy answer it (status,
 * SPEC §7 body, Retry-After); returns why->err. */
lk_err lk_fail_cred(lk_req *r, const lk_cred_failure *why);
/* The answer of /token and /refresh. */
json_object *lk_cred_json(lk_req *r, const lk_profile *p, const lk_cred *c);

/* GET and DELETE /token/{profile}. */
void lk_token_endpoint(lk_req *r, const char *profile);
/* POST /refresh/{profile}. */
void lk_refresh_endpoint(lk_req *r, const char *profile);

#endif
