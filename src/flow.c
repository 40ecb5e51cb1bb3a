#include "flow.h"

#include <string.h>
#include <time.h>

#include "audit.h"
#include "conn.h"
#include "cookie.h"
#include "crypto.h"
#include "flow_int.h"
#include "json.h"
#include "link.h"
#include "log.h"
#include "metrics.h"
#include "resources.h"
#include "text.h"
#include "url.h"

#define STATE_BYTES 32
#define VERIFIER_BYTES 32
#define COOKIE_BYTES 32
#define COOKIE_NAME_BYTES 8 /* a flow's public id: "lkf_" and their hex */
/* What a browser brings, bounded before it is hashed or sent on. */
#define LINK_PARAM_MAX 128
#define STATE_PARAM_MAX 256
#define CODE_PARAM_MAX 4096
#define PROVIDER_ERROR_MAX 64

static lk_stmt q_link_find = LK_STMT("link_find",
                                     "SELECT id, instance_id, client_id, scopes::text, redirect_url, site, "
                                     "expires_at > now() AS live FROM links WHERE link_hash = $1 AND "
                                     "profile_id = $2",
                                     2);
static lk_stmt q_flow_nextval = LK_STMT("flow_nextval", "SELECT nextval('flows_id_seq')", 0);
static lk_stmt q_flow_insert =
    LK_STMT("flow_insert",
            "INSERT INTO flows (id, state_hash, cookie_name, cookie_hash, profile_id, link_id, instance_id, "
            "client_id, redirect_uri, scopes, redirect_url, site, pkce_verifier, no_replace, expires_at) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, now() + "
            "make_interval(secs => $15::bigint))",
            15);
/* Used once: the row goes in the same statement that reads it. */
static lk_stmt q_flow_take = LK_STMT("flow_take",
                                     "DELETE FROM flows WHERE state_hash = $1 AND profile_id = $2 "
                                     "RETURNING id, cookie_name, cookie_hash, link_id, instance_id, "
                                     "client_id, redirect_uri, redirect_url, site, pkce_verifier, "
                                     "no_replace, expires_at > now() AS live",
                                     2);
/* Expired rows stay an hour, so that a late browser still hears
 * link_expired or flow_expired rather than "unknown". */
static lk_stmt q_purge_flows = LK_STMT("purge_flows",
                                       "DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE "
                                       "expires_at < now() - interval '1 hour' ORDER BY expires_at LIMIT 1000)",
                                       0);
static lk_stmt q_purge_links = LK_STMT("purge_links",
                                       "DELETE FROM links WHERE id IN (SELECT id FROM links WHERE "
                                       "expires_at < now() - interval '1 hour' ORDER BY expires_at LIMIT 1000)",
                                       0);

void lk_flow_purge(lk_db *db, lk_arena *a, const lk_config *cfg, bool force)
{
    static time_t last;
    time_t now = time(NULL);
    if (!force && last && now - last < cfg->purge_interval)
        return;
    last = now;
    if (lk_db_exec(db, a, &q_purge_flows, NULL, NULL) != LK_OK ||
        lk_db_exec(db, a, &q_purge_links, NULL, NULL) != LK_OK)
        lk_warn("purge of expired links and flows failed");
}

/* ---- starting a flow ---- */

/* The first validation message, for a page. */
static const char *first_validation_msg(lk_req *r)
{
    json_object *it = r->errors ? json_object_array_get_idx(r->errors, 0) : NULL;
    const char *m = lk_json_str(it, "msg");
    return m ? m : "The request is not valid.";
}

/* The scopes a stored link asked for (sj, a JSON array; NULL: the
 * profile's default), never quietly the default ones. */
static lk_err link_scopes(lk_arena *a, const lk_profile *p, const char *sj, lk_strv *out)
{
    if (!sj)
        return lk_profile_scopes(a, p, NULL, out);
    json_object *scopes = NULL;
    lk_err rc = lk_json_parse(a, sj, strlen(sj), &scopes);
    if (rc == LK_OK && !json_object_is_type(scopes, json_type_array))
        rc = LK_EINVAL;
    if (rc == LK_OK)
        *out = lk_strv_from_json(a, scopes);
    return rc;
}

/* What the link a browser opens (?link=…) asks for, as it was stored, and
 * its id. LK_ELINK when it is unknown, expired or used up. */
static lk_err read_link(lk_req *r, const lk_profile *p, lk_link_req *lr, const char **link_id, const char **detail)
{
    lk_arena *a = r->a;
    const char *link = lk_req_param(r, "link");
    if (!link || !*link) {
        lk_fail_field(r, "query", "link", "Field required", "missing");
        *detail = "This address is missing its link.";
        return LK_EVALIDATION;
    }
    if (strlen(link) > LINK_PARAM_MAX) {
        *detail = "This link is not valid. Ask the application for a new one.";
        return LK_ELINK;
    }
    const char *params[] = {lk_sha256_hex(a, link), p->id_text};
    PGresult *res;
    if (lk_db_exec(r->db, a, &q_link_find, params, &res) != LK_OK) {
        *detail = LK_FLOW_UNAVAILABLE;
        return LK_EDB;
    }
    if (PQntuples(res) != 1 || !lk_db_bool(res, 0, "live")) {
        *detail = "Authorization links work for a limited time and only until an account "
                  "is connected through them.";
        return LK_ELINK;
    }
    *link_id = lk_strdup(a, lk_db_get(res, 0, "id"));
    lr->instance_id = lk_strdup(a, lk_db_get(res, 0, "instance_id"));
    lr->client_id = lk_strdup(a, lk_db_get(res, 0, "client_id"));
    lr->redirect_url = lk_strdup(a, lk_db_get(res, 0, "redirect_url"));
    lr->site = lk_strdup(a, lk_db_get(res, 0, "site"));
    if (link_scopes(a, p, lk_db_get(res, 0, "scopes"), &lr->scopes) != LK_OK) {
        *detail = "The sign-in could not be started.";
        return LK_EINTERNAL;
    }
    return LK_OK;
}

/* The seed form's query: each of its fields at most once, none holding a
 * NUL byte. */
static lk_err check_seed_query(lk_req *r, const char **detail)
{
    static const char *const fields[] = {"instance_id", "client_id", "scope", "redirect_url", "site", NULL};
    const lk_param *dup = NULL;
    size_t count = 0;
    for (const char *const *f = fields; *f; f++) {
        const lk_param *x = lk_form_get(&r->form, *f, &count);
        if (count > 1)
            dup = x;
        if (x && strlen(x->value) != x->value_len) {
            *detail = "The address holds a NUL byte.";
            return LK_EINVAL;
        }
    }
    if (dup) {
        *detail = "A parameter appears more than once in the address.";
        return LK_EINVAL;
    }
    return LK_OK;
}

/* A query parameter; NULL when it is absent or empty. */
static const char *param_unless_empty(lk_req *r, const char *name)
{
    const char *v = lk_req_param(r, name);
    return v && *v ? v : NULL;
}

/* What the seed form asks for. An instance_id alone is no proof of who
 * clicked, so it is off unless the profile allows it, and it never
 * replaces: LK_ECONNECTED when the instance has a connection. */
static lk_err read_seed_form(lk_req *r, const lk_profile *p, lk_link_req *lr, const char **detail)
{
    if (!p->allow_direct_authorize) {
        *detail = "Direct authorization is not enabled for this service. Ask the "
                  "application for an authorization link.";
        return LK_EFORBIDDEN;
    }
    lk_err rc = check_seed_query(r, detail);
    if (rc != LK_OK)
        return rc;
    lr->instance_id = lk_req_param(r, "instance_id");
    lr->client_id = param_unless_empty(r, "client_id");
    lr->scope = param_unless_empty(r, "scope");
    lr->redirect_url = param_unless_empty(r, "redirect_url");
    lr->site = param_unless_empty(r, "site");
    r->errors = lk_json_array(r->a);
    bool exists = false;
    if (!lk_link_check(r->db, r->a, r->cfg, p, lr, "query", r->errors, &rc)) {
        *detail = rc != LK_OK ? LK_FLOW_UNAVAILABLE : first_validation_msg(r);
        rc = rc != LK_OK ? LK_EDB : LK_EVALIDATION;
    } else if (lk_conn_exists(r->db, r->a, p, lr->instance_id, &exists) != LK_OK) {
        *detail = LK_FLOW_UNAVAILABLE;
        rc = LK_EDB;
    } else if (exists) {
        *detail = "An account is already connected for this user.";
        rc = LK_ECONNECTED;
    }
    return rc;
}

/* A new flow before it is stored: its client and its secrets. */
typedef struct new_flow {
    lk_client c;
    char *state, *verifier, *cookie_name, *cookie_value;
} new_flow;

/* Draws the flow's state, PKCE verifier and cookie (name and value). */
static lk_err draw_flow_secrets(lk_arena *a, new_flow *nf)
{
    nf->state = lk_random_token(a, STATE_BYTES);
    nf->verifier = lk_random_token(a, VERIFIER_BYTES);
    nf->cookie_value = lk_random_token(a, COOKIE_BYTES);
    unsigned char cn[COOKIE_NAME_BYTES];
    if (lk_random(cn, sizeof(cn)) != LK_OK)
        return LK_EINTERNAL;
    nf->cookie_name = lk_printf(a, "lkf_%s", lk_hex_encode(a, cn, sizeof(cn)));
    return LK_OK;
}

/* Stores the pending flow for flow_ttl, its PKCE verifier sealed. */
static lk_err insert_flow(lk_req *r, const lk_profile *p, const lk_link_req *lr, const char *link_id, bool no_replace,
                          const new_flow *nf, const char **detail)
{
    lk_arena *a = r->a;
    PGresult *res;
    if (lk_db_exec(r->db, a, &q_flow_nextval, NULL, &res) != LK_OK) {
        *detail = LK_FLOW_UNAVAILABLE;
        return LK_EDB;
    }
    const char *flow_id = lk_db_val(res, 0, 0);
    char *sealed_verifier = NULL;
    lk_err rc = LK_OK;
    if (p->pkce)
        rc = lk_seal(a, &r->cfg->keys, "flows", "pkce_verifier", flow_id, nf->verifier, strlen(nf->verifier),
                     &sealed_verifier);
    if (rc != LK_OK) {
        *detail = "The sign-in could not be started.";
        return LK_EINTERNAL;
    }
    const char *params[] = {flow_id,
                            lk_sha256_hex(a, nf->state),
                            nf->cookie_name,
                            lk_sha256_hex(a, nf->cookie_value),
                            p->id_text,
                            link_id,
                            lr->instance_id,
                            nf->c.white_label ? nf->c.client_id : NULL,
                            nf->c.callback_url,
                            lk_json_text(a, lk_strv_to_json(a, &lr->scopes)),
                            lr->redirect_url,
                            lr->site,
                            sealed_verifier,
                            no_replace ? "true" : "false",
                            lk_printf(a, "%ld", r->cfg->flow_ttl)};
    rc = lk_db_exec(r->db, a, &q_flow_insert, params, NULL);
    if (rc != LK_OK)
        *detail = "The sign-in could not be started.";
    return rc == LK_OK || rc == LK_EDB ? rc : LK_EINTERNAL;
}

/* Creates the pending flow: its client, its secrets, its row. */
static lk_err create_flow(lk_req *r, const lk_profile *p, const lk_link_req *lr, const char *link_id, bool no_replace,
                          new_flow *nf, const char **detail)
{
    lk_err rc = lk_profile_client(r->db, r->a, r->cfg, p, lr->client_id, &nf->c);
    if (rc != LK_OK) {
        *detail = "This link names a client the service no longer has.";
        return rc == LK_EDB ? LK_EDB : LK_EINVAL;
    }
    if (draw_flow_secrets(r->a, nf) != LK_OK) {
        *detail = "The sign-in could not be started.";
        return LK_EINTERNAL;
    }
    return insert_flow(r, p, lr, link_id, no_replace, nf, detail);
}

/* The profile's extra parameters, except any that would override ours. */
static char *add_extra_params(lk_arena *a, const lk_profile *p, char *url)
{
    static const char *const ours[] = {"response_type", "client_id",      "redirect_uri",          "scope",
                                       "state",         "code_challenge", "code_challenge_method", NULL};
    if (!p->extra_params)
        return url;
    json_object_object_foreach (p->extra_params, k, v) {
        bool taken = false;
        for (const char *const *o = ours; *o; o++)
            taken |= !strcmp(k, *o);
        if (!taken && json_object_is_type(v, json_type_string))
            url = lk_url_add_param(a, url, k, json_object_get_string(v));
    }
    return url;
}

/* Sends the browser to the provider: RFC 6749 §4.1.1 with PKCE (RFC 7636
 * §4.3) and the profile's extras. */
static void redirect_to_provider(lk_req *r, const lk_profile *p, const lk_link_req *lr, const new_flow *nf)
{
    lk_arena *a = r->a;
    const char *scope = lk_scopes_join(a, &lr->scopes, p->scope_separator);
    if (!scope) {
        lk_flow_fail_page(r, LK_EINTERNAL, "The sign-in could not be started.");
        return;
    }
    char *url = p->authorization_url;
    url = lk_url_add_param(a, url, "response_type", "code");
    url = lk_url_add_param(a, url, "client_id", nf->c.client_id);
    url = lk_url_add_param(a, url, "redirect_uri", nf->c.callback_url);
    url = lk_url_add_param(a, url, "scope", scope);
    url = lk_url_add_param(a, url, "state", nf->state);
    if (p->pkce) {
        url = lk_url_add_param(a, url, "code_challenge", lk_pkce_challenge(a, nf->verifier));
        url = lk_url_add_param(a, url, "code_challenge_method", "S256");
    }
    lk_resp_redirect(r, 302, add_extra_params(a, p, url));
}

/* Stores a pending flow for lr, sets its cookie, and sends the browser on:
 * to the provider, or (an API-token profile) to the credential form. */
static void begin_flow(lk_req *r, const lk_profile *p, const lk_link_req *lr, const char *link_id, bool no_replace)
{
    new_flow nf = {0};
    const char *detail = NULL;
    lk_err rc = create_flow(r, p, lr, link_id, no_replace, &nf, &detail);
    if (rc != LK_OK) {
        lk_flow_fail_page(r, rc, detail);
        return;
    }
    lk_resp_header(r, "Set-Cookie",
                   lk_cookie_build(r->a, nf.cookie_name, nf.cookie_value, lk_flow_cookie_path(r->a, nf.c.callback_url),
                                   r->cfg->flow_ttl, r->cfg->cookie_secure));
    if (lk_profile_is_credential_auth(p)) {
        /* No provider to send the browser to: the person enters their
         * credential here, and the form posts back to the callback. */
        lk_credential_form form =
            lk_credform_for(p, nf.c.callback_url, nf.cookie_name, !lr->site && lk_profile_needs_site(p));
        lk_page_credential_form(r, 200, &form);
    } else {
        redirect_to_provider(r, p, lr, &nf);
    }
}

void lk_flow_begin(lk_req *r, const char *name, bool seed_form)
{
    lk_flow_purge(r->db, r->a, r->cfg, false);
    const lk_profile *p = lk_flow_browser_profile(r, name, "The link names a service this broker does not know.");
    if (!p)
        return;
    lk_link_req lr = {0};
    const char *link_id = NULL;
    const char *detail = NULL;
    lk_err rc = seed_form ? read_seed_form(r, p, &lr, &detail) : read_link(r, p, &lr, &link_id, &detail);
    if (rc != LK_OK)
        lk_flow_fail_page(r, rc, detail);
    else
        begin_flow(r, p, &lr, link_id, seed_form); /* a seed form's flow never replaces */
}

/* ---- the callback ---- */

/* A provider error code, echoed only when it is a plain token. */
static const char *plain_error_code(lk_arena *a, const char *s)
{
    if (!s || strlen(s) > PROVIDER_ERROR_MAX)
        return "unknown";
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return "unknown";
    return lk_strdup(a, s);
}

/* Takes (deletes) the flow the provider's state names; a flow gone or
 * never known is LK_ESTATE. */
static lk_err take_flow_by_state(lk_req *r, const lk_profile *p, PGresult **res, const char **detail)
{
    const char *state = lk_req_param(r, "state");
    if (!state || !*state || strlen(state) > STATE_PARAM_MAX) {
        *detail = "The provider sent the browser back without a valid state.";
        return LK_EINVAL;
    }
    const char *params[] = {lk_sha256_hex(r->a, state), p->id_text};
    if (lk_db_exec(r->db, r->a, &q_flow_take, params, res) != LK_OK) {
        *detail = LK_FLOW_UNAVAILABLE;
        return LK_EDB;
    }
    /* Purge only after taking this flow, so that an expired one is still
     * answered flow_expired rather than "unknown". */
    lk_flow_purge(r->db, r->a, r->cfg, false);
    if (PQntuples(*res) != 1) {
        *detail = "This sign-in is unknown or was already completed.";
        return LK_ESTATE;
    }
    return LK_OK;
}

/* The flow the browser comes back for, used up whatever happens next (its
 * cookie cleared) and bound to this browser; false after a page saying
 * why. *live: the flow had not expired. */
static bool claim_returning_flow(lk_req *r, const lk_profile *p, lk_flow_row *f, bool *live)
{
    lk_arena *a = r->a;
    PGresult *res = NULL;
    const char *detail = NULL;
    lk_err rc = take_flow_by_state(r, p, &res, &detail);
    if (rc != LK_OK) {
        lk_flow_fail_page(r, rc, detail);
        return false;
    }
    *f = lk_flow_from_row(a, res);
    const char *cookie_name = lk_strdup(a, lk_db_get(res, 0, "cookie_name"));
    const char *cookie_hash = lk_strdup(a, lk_db_get(res, 0, "cookie_hash"));
    *live = lk_db_bool(res, 0, "live");
    lk_resp_header(
        r, "Set-Cookie",
        lk_cookie_build(a, cookie_name, "", lk_flow_cookie_path(a, f->redirect_uri), 0, r->cfg->cookie_secure));
    if (lk_flow_cookie_matches(r, cookie_name, cookie_hash))
        return true;
    /* Not this browser's flow: never redirect (login CSRF). */
    lk_flow_fail_page(r, LK_ESTATE, "The sign-in did not start in this browser, or its cookie was lost.");
    lk_audit(r->db, a, "browser", "connection.authorize", p->name, f->instance_id, "invalid_state", NULL);
    return false;
}

/* What the provider's answer says before a code is exchanged: the flow
 * still live, the answer from our issuer, the link unused, no error. */
static lk_err check_provider_answer(lk_req *r, const lk_profile *p, const lk_flow_row *f, bool live,
                                    const char **detail)
{
    if (!live) {
        *detail = "The sign-in took longer than allowed.";
        return LK_EFLOW;
    }
    /* RFC 9207 §2.4: a missing or different iss means a mix-up, for an
     * error answer too: its error did not come from our provider, so it is
     * not reported as such (not even access_denied). */
    const char *iss = p->issuer ? lk_req_param(r, "iss") : NULL;
    if (p->issuer && (!iss || strcmp(iss, p->issuer) != 0)) {
        *detail = "The answer did not come from the expected issuer.";
        return LK_EPROVIDER;
    }
    lk_err rc = lk_flow_link_unused(r, f);
    if (rc != LK_OK) {
        *detail = rc == LK_ELINK ? lk_flow_store_failure(rc) : LK_FLOW_UNAVAILABLE;
        return rc == LK_ELINK ? rc : LK_EDB;
    }
    const char *perr = lk_req_param(r, "error");
    if (perr && !strcmp(perr, "access_denied")) {
        *detail = "Access was not granted, so nothing was connected.";
        return LK_EDENIED;
    }
    if (perr) {
        *detail = lk_printf(r->a, "The provider answered with the error %s.", plain_error_code(r->a, perr));
        return LK_EPROVIDER;
    }
    return LK_OK;
}

/* Exchanges the code for tokens with the flow's client and PKCE verifier
 * (RFC 6749 §4.1.3: the same redirect_uri as in the authorization
 * request). */
static lk_err exchange_code(lk_req *r, const lk_profile *p, const lk_flow_row *f, lk_client *c, lk_tokens *t,
                            const char **detail)
{
    lk_arena *a = r->a;
    const char *code = lk_req_param(r, "code");
    if (!code || !*code || strlen(code) > CODE_PARAM_MAX) {
        *detail = "The provider sent the browser back without a code.";
        return LK_EPROVIDER;
    }
    lk_err rc = lk_profile_client(r->db, a, r->cfg, p, f->client_id, c);
    if (rc != LK_OK) {
        *detail = "The client of this sign-in is gone.";
        return rc == LK_EDB ? LK_EDB : LK_EPROVIDER;
    }
    char *verifier = NULL;
    if (f->verifier_sealed &&
        lk_unseal(a, &r->cfg->keys, "flows", "pkce_verifier", f->id, f->verifier_sealed, &verifier, NULL) != LK_OK) {
        *detail = "The sign-in could not be completed.";
        return LK_EINTERNAL;
    }
    const char *grant[] = {"grant_type",
                           "authorization_code",
                           "code",
                           code,
                           "redirect_uri",
                           f->redirect_uri,
                           verifier ? "code_verifier" : NULL,
                           verifier,
                           NULL,
                           NULL};
    const char *why, *retry_after;
    double started = lk_metrics_clock();
    lk_oauth_fail fail = lk_oauth_token_call(r->up, a, p->token_url, p->token_style, c, grant, t, &why, &retry_after);
    if (lk_metrics_count(r->db, a, r->cfg, NULL, NULL, lk_metrics_clock() - started) != LK_OK)
        lk_warn("the code exchange of profile %s was not counted", p->name); /* the sign-in goes on */
    if (fail == LK_OAUTH_OK)
        return LK_OK;
    lk_warn("code exchange for profile %s failed: %s", p->name, why);
    *detail = lk_printf(a, "The provider did not accept the sign-in (%s). Nothing was stored.", why);
    return fail == LK_OAUTH_TRANSIENT ? LK_EUNAVAILABLE : LK_EPROVIDER;
}

/* With Atlassian resource discovery: the sites the grant reaches, as the
 * connection's metadata, and the one chosen (the one the flow asked for,
 * else the only one). Without it, no metadata. */
static lk_err choose_granted_site(lk_req *r, const lk_profile *p, const lk_flow_row *f, const lk_tokens *t,
                                  json_object **meta, const char **site_name, const char **detail)
{
    if (strcmp(p->resource_discovery, "atlassian") != 0)
        return LK_OK;
    lk_sites sites;
    lk_err rc = lk_resources_fetch(r->up, r->a, p->resources_url, t->access_token, &sites);
    if (rc != LK_OK) {
        *detail = "The provider did not say which sites were granted. Nothing was stored.";
        return rc;
    }
    const lk_site *chosen = NULL;
    if (f->site)
        chosen = lk_site_pick(&sites, f->site);
    else if (sites.n == 1)
        chosen = &sites.v[0];
    if (f->site && !chosen) {
        *detail = "The site asked for is not among the sites you granted. Nothing was stored.";
        return LK_ESITEGRANT;
    }
    *meta = lk_sites_metadata(r->a, &sites, chosen);
    *site_name = chosen ? chosen->name : NULL;
    return LK_OK;
}

/* Stores the grant the code became; what the browser hears of a failure. */
static lk_err store_exchanged_grant(lk_req *r, const lk_profile *p, const lk_flow_row *f, const lk_client *c,
                                    const lk_tokens *t, json_object *meta, const char **detail)
{
    lk_err rc = lk_flow_store_grant(r, p, f, c->white_label ? c->client_id : NULL, t, meta, false);
    if (rc == LK_OK)
        return LK_OK;
    lk_err shown = (rc == LK_ECONNECTED || rc == LK_ELINK) ? rc : LK_EDB;
    *detail = lk_flow_store_failure(shown);
    return shown;
}

void lk_flow_callback(lk_req *r, const char *name)
{
    const lk_profile *p =
        lk_flow_browser_profile(r, name, "The sign-in came back for a service this broker does not know.");
    lk_flow_row f;
    bool live = false;
    if (!p || !claim_returning_flow(r, p, &f, &live))
        return;
    lk_client c = {0};
    lk_tokens t = {0};
    json_object *meta = NULL;
    const char *detail = NULL, *site_name = NULL;
    lk_err rc = check_provider_answer(r, p, &f, live, &detail);
    if (rc == LK_OK)
        rc = exchange_code(r, p, &f, &c, &t, &detail);
    if (rc == LK_OK)
        rc = choose_granted_site(r, p, &f, &t, &meta, &site_name, &detail);
    if (rc == LK_OK)
        rc = store_exchanged_grant(r, p, &f, &c, &t, meta, &detail);
    lk_flow_end_with_result(r, p, &f, rc, detail, site_name);
}
