/* What the browser-flow rooms (flow.c, credform.c) share, built in
 * flow_int.c, as mod_auth_openidc keeps cfg_int.h beside its config code:
 * the pending flow's row, the cookie that binds it to one browser, the
 * error page, and the one way a flow ends (its grant stored, a redirect or
 * a page). Only those files include it. */
#ifndef LK_FLOW_INT_H
#define LK_FLOW_INT_H

#include "http.h"
#include "oauth.h"
#include "page.h"
#include "profile.h"

/* The sentence of every page that answers a database failure (503). */
#define LK_FLOW_UNAVAILABLE "The service is temporarily unavailable."

/* A pending flow as the flows table holds it. */
typedef struct lk_flow_row {
    const char *id, *link_id, *instance_id, *client_id, *redirect_uri, *redirect_url, *site;
    const char *verifier_sealed;
    bool no_replace;
} lk_flow_row;

/* The flow in row 0 of res, as flow_take and flow_by_cookie return it
 * (columns a query does not return stay NULL), copied into a. */
lk_flow_row lk_flow_from_row(lk_arena *a, PGresult *res);
/* True when the request carries the flow's cookie with its value (the
 * flow is bound to the browser that started it: no login CSRF). */
bool lk_flow_cookie_matches(lk_req *r, const char *cookie_name, const char *cookie_hash);
/* The path of url, for a flow cookie's Path ("/" when url does not parse). */
const char *lk_flow_cookie_path(lk_arena *a, const char *url);

/* Fails r with e and detail and sends the error page; returns e. */
lk_err lk_flow_fail_page(lk_req *r, lk_err e, const char *detail);
/* The profile a browser route names, or NULL after a page saying why
 * (unknown: 404 with the given sentence; the database: 503). */
const lk_profile *lk_flow_browser_profile(lk_req *r, const char *name, const char *unknown);

/* Before anything is sent upstream: LK_ELINK when another flow of f's link
 * completed meanwhile (lk_flow_store_grant decides it for good). */
lk_err lk_flow_link_unused(lk_req *r, const lk_flow_row *f);
/* One short transaction, with no upstream call inside (SPEC §5 "timeouts
 * nest"): takes the flow when take_flow (the credential form's; the OAuth
 * callback took its own already: LK_ESTATE when it is gone, LK_EFLOW when
 * it expired), uses up its link (LK_ELINK), writes the grant. Tried again
 * once when a concurrent first connect won the insert (it is then
 * replaced in place, or LK_ECONNECTED for a flow that never replaces). */
lk_err lk_flow_store_grant(lk_req *r, const lk_profile *p, const lk_flow_row *f, const char *client_id,
                           const lk_tokens *t, json_object *meta, bool take_flow);
/* What a failed lk_flow_store_grant tells the browser. */
const char *lk_flow_store_failure(lk_err rc);
/* Ends the flow, audited as connection.authorize: to the caller's
 * redirect_url with the result (SPEC §4), else the error page for e, or
 * the connected page (naming site_name when there is one). */
void lk_flow_end_with_result(lk_req *r, const lk_profile *p, const lk_flow_row *f, lk_err e, const char *detail,
                             const char *site_name);

/* The credential form of p for a flow (its public id flow_id) posting to
 * action; its site, email and problem are left empty. */
lk_credential_form lk_credform_for(const lk_profile *p, const char *action, const char *flow_id, bool ask_site);

/* Where the browser goes when a flow with a redirect_url ends (SPEC §4):
 * redirect_url without its fragment and without any query parameter whose
 * decoded name is status, error, profile or instance_id (the others kept,
 * in order), then Latchkey's: status (error when error is not NULL, else
 * success), error, profile and instance_id, percent-encoded. LK_ETOOBIG
 * when the result would exceed LK_FLOW_RESULT_URL_MAX. */
#define LK_FLOW_RESULT_URL_MAX 8192
lk_err lk_flow_result_url(lk_arena *a, const char *redirect_url, const char *error, const char *profile,
                          const char *instance_id, char **out);

#endif
