#include "cred.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "gate.h"
#include "health.h"
#include "json.h"
#include "text.h"
#include "usercred.h"

/* SPEC §10: an agent that may only read never holds a token that can
 * write, nor takes a person's connection away. */
#define READ_ONLY_TOKEN                                                                                                \
    "This API key is read-only: it is never handed a token. Read through /proxy (GET, HEAD) or MCP's read-only tools."
#define READ_ONLY_REFRESH "This API key is read-only: it is never handed a token, so it may not refresh one."
#define READ_ONLY_DISCONNECT "This API key is read-only: it may not disconnect an account."

/* Fills why with e and a sentence; returns e. */
static lk_err failed(lk_cred_failure *why, lk_err e, const char *detail)
{
    *why = (lk_cred_failure){.err = e, .detail = detail};
    return e;
}

/* A step below the lookup that failed (the database, a sealed secret), as
 * the caller is told of it; returns the code told. */
static lk_err failed_step(lk_cred_failure *why, lk_err rc, const char *detail)
{
    switch (rc) {
    case LK_EDB: return failed(why, rc, lk_db_detail(rc));
    case LK_ECRYPTO: return failed(why, LK_EINTERNAL, "The stored credential could not be opened.");
    default: return failed(why, rc, detail ? detail : "The request could not be served.");
    }
}

/* 409 reauthorization_required, saying where to get a new link. */
static lk_err failed_reauth(const lk_req *r, const lk_profile *p, const char *detail, lk_cred_failure *why)
{
    failed(why, LK_EREAUTH,
           detail ? detail : "The user must authorize again: ask for a new link with POST /authorize/{profile}.");
    why->authorize_url = lk_printf(r->a, "%s/authorize/%s", r->cfg->public_base_url, p->name);
    return LK_EREAUTH;
}

lk_err lk_fail_cred(lk_req *r, const lk_cred_failure *why)
{
    if (why->retry_after)
        lk_resp_header(r, "Retry-After", why->retry_after);
    if (why->field)
        return lk_fail_field(r, why->where, why->field, why->detail, "value_error");
    lk_fail(r, why->err, "%s", why->detail);
    if (!why->authorize_url && !why->sites && !why->refresh_in_progress)
        return why->err;
    r->extra = lk_json_object(r->a);
    if (why->authorize_url)
        lk_json_set_str(r->extra, "authorize_url", why->authorize_url);
    if (why->sites)
        json_object_object_add(r->extra, "sites", json_object_get(why->sites));
    if (why->refresh_in_progress)
        json_object_object_add(r->extra, "refresh_in_progress", json_object_new_boolean(1));
    return why->err;
}

/* A failed lk_refresh (SPEC §5, §7): 409 with where to get a new link, or
 * the error with its Retry-After, marked refresh_in_progress when the
 * caller was not let wait for another caller's refresh. */
static lk_err failed_refresh(const lk_req *r, const lk_profile *p, lk_err rc, const lk_refresh_out *ro,
                             lk_cred_failure *why)
{
    if (rc == LK_EREAUTH)
        return failed_reauth(r, p, ro->detail, why);
    failed_step(why, rc, ro->detail);
    why->retry_after = ro->retry_after;
    why->refresh_in_progress = ro->refresh_in_progress;
    return why->err;
}

lk_err lk_cred_refresh(const lk_req *r, const lk_profile *p, const char *actor, const lk_conn *conn, bool force,
                       long long min_validity, lk_refresh_out *ro, lk_cred_failure *why)
{
    lk_refresh_ctx cx = {r->db, r->a, r->cfg, r->up, actor, 0};
    lk_err rc = lk_refresh(&cx, p, conn, force, min_validity, ro);
    if (rc != LK_OK)
        return failed_refresh(r, p, rc, ro, why);
    if (!ro->conn || !ro->access_token)
        return failed(why, LK_EINTERNAL, "The refreshed credential could not be read.");
    return LK_OK;
}

/* The profile's one credential (auth type api_key), as a connection that
 * every instance id shares. */
static lk_err shared_credential(const lk_req *r, const lk_profile *p, const char *instance_id, lk_cred *out,
                                lk_cred_failure *why)
{
    lk_arena *a = r->a;
    if (!p->credential_sealed)
        return failed(why, LK_ENOTCONN, "This profile has no credential yet: set it with latchkey.");
    char *credential;
    if (lk_unseal(a, &r->cfg->keys, "profiles", "credential", p->id_text, p->credential_sealed, &credential, NULL) !=
        LK_OK)
        return failed_step(why, LK_ECRYPTO, NULL);
    lk_conn *c = lk_alloc(a, sizeof(*c));
    c->profile = p->name;
    c->instance_id = lk_strdup(a, instance_id);
    c->token_type = !strcmp(p->credential_kind, "basic") ? "Basic" : "Bearer";
    c->status = "active";
    c->metadata = p->site_metadata ? p->site_metadata : lk_json_object(a);
    out->conn = c;
    out->access_token = credential;
    return LK_OK;
}

/* The connection behind the credential: the profile's shared one (auth
 * type api_key) or the instance's row; NULL when it failed, why filled
 * in. */
static lk_conn *load_connection(const lk_req *r, const lk_profile *p, const char *instance_id, lk_cred *out,
                                lk_cred_failure *why)
{
    lk_conn *c = NULL;
    if (!strcmp(p->auth_type, "api_key")) {
        if (shared_credential(r, p, instance_id, out, why) != LK_OK)
            return NULL;
        c = out->conn;
    } else {
        lk_err rc = lk_conn_load(r->db, r->a, p->name, instance_id, &c);
        if (rc == LK_ENOTCONN) {
            failed(why, rc,
                   lk_printf(r->a,
                             "No account is connected for this instance_id; create a link with POST /authorize/%s.",
                             p->name));
            return NULL;
        }
        if (rc != LK_OK) {
            failed_step(why, rc, NULL);
            return NULL;
        }
    }
    if (!c)
        failed(why, LK_EINTERNAL, "The connection could not be read.");
    return c;
}

/* 422: the site named (in where: "query", "body" or "header") is not
 * among the connection's. */
static lk_err failed_unknown_site(const char *where, lk_cred_failure *why)
{
    failed(why, LK_EVALIDATION, "Value error, site is not among this connection's sites");
    why->where = where;
    why->field = strcmp(where, "header") ? "site" : "x-site";
    return LK_EVALIDATION;
}

/* 409 site_required, listing the connection's sites. */
static lk_err failed_several_sites(const lk_req *r, const lk_sites *sites, lk_cred_failure *why)
{
    failed(why, LK_ESITE, "This connection has several sites: name one with site (a cloud id or host).");
    why->sites = lk_json_get(lk_sites_metadata(r->a, sites, NULL), "sites");
    return LK_ESITE;
}

/* The one site of an API token or PAT, from the stored metadata: a Data
 * Center server or an unscoped Cloud site has no cloud id (which
 * lk_sites_from_metadata would skip). NULL when none is stored. */
static lk_site *stored_site(lk_arena *a, json_object *metadata)
{
    const char *url = lk_json_str(metadata, "site_url");
    if (!url)
        return NULL;
    lk_site *one = lk_alloc(a, sizeof(*one));
    const char *cid = lk_json_str(metadata, "cloud_id");
    one->cloud_id = cid ? lk_strdup(a, cid) : NULL;
    one->url = lk_strdup(a, url);
    const char *name = lk_json_str(metadata, "site_name");
    one->name = lk_strdup(a, name ? name : "");
    return one;
}

/* The site of an API token or PAT: its one site, which a named site must
 * be. */
static lk_err pick_stored_site(const lk_req *r, const lk_conn *c, const char *site, const char *where,
                               const lk_site **out, lk_cred_failure *why)
{
    lk_site *one = stored_site(r->a, c->metadata);
    if (site) {
        lk_site probe = one ? *one : (lk_site){0};
        if (!probe.cloud_id)
            probe.cloud_id = (char *)"";
        lk_sites s1 = {&probe, 1};
        if (!one || !lk_site_pick(&s1, site))
            return failed_unknown_site(where, why);
    }
    *out = one;
    return LK_OK;
}

/* The site, chosen from stored metadata before any refresh: the one named
 * (POST /refresh names it in its body), else the link's, else the only
 * one; none when the connection has none. */
static lk_err pick_site(const lk_req *r, const lk_profile *p, const lk_conn *c, const char *site, const char *where,
                        const lk_site **out, lk_cred_failure *why)
{
    if (lk_profile_is_credential_auth(p))
        return pick_stored_site(r, c, site, where, out, why);
    lk_sites sites = lk_sites_from_metadata(r->a, c->metadata);
    const char *link_cloud_id = lk_json_str(c->metadata, "cloud_id");
    if (site) {
        *out = lk_site_pick(&sites, site);
        return *out ? LK_OK : failed_unknown_site(where, why);
    }
    if (link_cloud_id)
        *out = lk_site_pick(&sites, link_cloud_id);
    else if (sites.n == 1)
        *out = sites.v;
    else if (sites.n > 1)
        return failed_several_sites(r, &sites, why);
    return LK_OK;
}

/* API tokens and PATs: nothing to refresh (/refresh answers the same
 * credential); the ready header value. */
static lk_err serve_user_credential(const lk_req *r, const lk_profile *p, lk_conn *c, lk_cred *out,
                                    lk_cred_failure *why)
{
    lk_arena *a = r->a;
    out->user_credential = true;
    if (!out->access_token && lk_conn_access_token(a, r->cfg, c, &out->access_token) != LK_OK)
        return failed_step(why, LK_ECRYPTO, NULL);
    out->conn = c;
    out->authorization = lk_usercred_header(a, p->credential_kind, out->access_token);
    if (strcmp(p->auth_type, "api_key") != 0)
        lk_conn_touch(c);
    out->api_base_url = lk_api_base_url(a, p->api_base_url, out->site);
    return LK_OK;
}

/* The token after a refresh (ours or another caller's), with the site
 * picked again from the row, which may have changed. */
static lk_err take_refreshed(const lk_req *r, const lk_profile *p, const lk_conn *c, const char *actor, bool force,
                             long long min_validity, lk_cred *out, lk_cred_failure *why)
{
    lk_refresh_out ro;
    lk_err rc = lk_cred_refresh(r, p, actor, c, force, min_validity, &ro, why);
    if (rc != LK_OK)
        return rc;
    out->conn = ro.conn;
    out->access_token = ro.access_token;
    out->refresh_failed = ro.refresh_failed;
    out->refresh_in_progress = ro.refresh_in_progress;
    if (out->site) {
        lk_sites now = lk_sites_from_metadata(r->a, out->conn->metadata);
        out->site = lk_site_pick(&now, out->site->cloud_id);
    }
    return LK_OK;
}

/* OAuth: the stored token when it serves, else a refreshed one. The same
 * decision as under the lock (SPEC §5), on the row as loaded: a token that
 * serves needs no lock and no provider call. */
static lk_err serve_token(const lk_req *r, const lk_profile *p, lk_conn *c, const char *actor, bool force,
                          long long min_validity, lk_cred *out, lk_cred_failure *why)
{
    lk_arena *a = r->a;
    if (!strcmp(c->status, "active") && lk_refresh_plan(c, force, min_validity) == LK_USE_CURRENT) {
        lk_err rc = lk_conn_access_token(a, r->cfg, c, &out->access_token);
        if (rc != LK_OK)
            return failed_step(why, rc, NULL);
        out->conn = c;
    } else {
        lk_err rc = take_refreshed(r, p, c, actor, force, min_validity, out, why);
        if (rc != LK_OK)
            return rc;
    }
    lk_conn_touch(out->conn);
    out->api_base_url = lk_api_base_url(a, p->api_base_url, out->site);
    out->authorization = lk_printf(a, "%s %s", out->conn->token_type, out->access_token);
    return LK_OK;
}

lk_err lk_cred_get(const lk_req *r, const lk_profile *p, const char *actor, const char *instance_id, const char *site,
                   const char *site_where, long long min_validity, bool force, lk_cred *out, lk_cred_failure *why)
{
    memset(out, 0, sizeof(*out));
    lk_conn *c = load_connection(r, p, instance_id, out, why);
    if (!c)
        return why->err;
    lk_err rc = pick_site(r, p, c, site, site_where, &out->site, why);
    if (rc != LK_OK)
        return rc;
    if (!strcmp(c->status, "reauthorization_required"))
        return failed_reauth(r, p, NULL, why);
    if (lk_profile_is_credential_auth(p))
        return serve_user_credential(r, p, c, out, why);
    return serve_token(r, p, c, actor, force, min_validity, out, why);
}

json_object *lk_cred_json(lk_req *r, const lk_profile *p, const lk_cred *c)
{
    json_object *o = lk_json_object(r->a);
    if (!c->conn) /* lk_cred_get never answers LK_OK without one */
        return o;
    /* API tokens: the ready header value; a PAT is also a bearer token. */
    if (!c->user_credential || !strcmp(c->conn->token_type, "Bearer"))
        lk_json_set_str(o, "access_token", c->access_token);
    lk_json_set_str(o, "token_type", c->conn->token_type);
    if (c->user_credential)
        lk_json_set_str(o, "authorization", c->authorization);
    if (c->conn->expires_at) {
        lk_json_set_str(o, "expires_at", c->conn->expires_at);
        lk_json_set_int(o, "expires_in", c->conn->expires_in > 0 ? c->conn->expires_in : 0);
    } else {
        json_object_object_add(o, "expires_at", NULL);
        json_object_object_add(o, "expires_in", NULL);
    }
    lk_json_set_str(o, "scope", c->conn->scope);
    lk_json_set_str(o, "profile", p->name);
    lk_json_set_str(o, "instance_id", c->conn->instance_id);
    json_object *m = json_object_new_object();
    if (c->site) {
        lk_json_set_str(m, "cloud_id", c->site->cloud_id);
        lk_json_set_str(m, "site_url", c->site->url);
        lk_json_set_str(m, "site_name", c->site->name);
    }
    json_object *sites = lk_json_get(c->conn->metadata, "sites");
    if (sites)
        json_object_object_add(m, "sites", json_object_get(sites));
    json_object_object_add(o, "metadata", m);
    if (c->api_base_url)
        lk_json_set_str(o, "api_base_url", c->api_base_url);
    else
        json_object_object_add(o, "api_base_url", NULL);
    lk_health_json(r->a, o, c->conn, p);
    if (c->refresh_failed)
        json_object_object_add(o, "refresh_failed", json_object_new_boolean(1));
    if (c->refresh_in_progress)
        json_object_object_add(o, "refresh_in_progress", json_object_new_boolean(1));
    return o;
}

/* min_validity: a whole number of seconds, 0 to 3000 (default 60). */
static bool parse_min_validity(lk_req *r, long long *out)
{
    const char *s = lk_req_param(r, "min_validity");
    *out = LK_MIN_VALIDITY_DEFAULT;
    if (!s)
        return true;
    long long v;
    if (!lk_parse_int(s, 0, LLONG_MAX, &v)) {
        lk_fail_field(r, "query", "min_validity", "Input should be a valid integer", "int_parsing");
        return false;
    }
    if (v > LK_MIN_VALIDITY_MAX) {
        lk_fail_field(r, "query", "min_validity", "Input should be less than or equal to 3000", "less_than_equal");
        return false;
    }
    *out = v;
    return true;
}

/* A single-valued query parameter without NUL bytes, or a 400. */
static bool one_param(lk_req *r, const char *name, const char **out)
{
    size_t n = 0;
    const lk_param *p = lk_form_get(&r->form, name, &n);
    *out = NULL;
    if (n > 1) {
        lk_fail(r, LK_EINVAL, "The query parameter %s appears more than once.", name);
        return false;
    }
    if (p && strlen(p->value) != p->value_len) {
        lk_fail_field(r, "query", name, "Value error, NUL bytes are not allowed", "value_error");
        return false;
    }
    *out = p ? p->value : NULL;
    return true;
}

static bool check_instance(lk_req *r, const char *where, const char *iid)
{
    if (!iid) {
        lk_fail_field(r, where, "instance_id", "Field required", "missing");
        return false;
    }
    if (!lk_valid_instance_id(iid, strlen(iid))) {
        lk_fail_field(r, where, "instance_id", "Value error, instance_id must be 1 to 255 bytes of printable UTF-8",
                      "value_error");
        return false;
    }
    return true;
}

/* DELETE /token/{profile}: the instance's connection goes (204). */
static void disconnect(lk_req *r, const lk_profile *p, const char *actor, const char *iid)
{
    lk_err rc = lk_conn_delete(r->db, r->a, p->name, iid);
    if (rc == LK_ENOTCONN) {
        lk_fail(r, rc, "No account is connected for this instance_id.");
        return;
    }
    if (rc != LK_OK) {
        lk_fail_db(r, rc);
        return;
    }
    lk_audit(r->db, r->a, actor, "connection.delete", p->name, iid, "ok", NULL);
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_send(r, 204, NULL, "", 0);
}

/* The credential, as /token and /refresh answer it; never a proxy-only
 * profile's (403). */
static void answer_credential(lk_req *r, const lk_profile *p, const char *actor, const char *iid, const char *site,
                              const char *site_where, long long min_validity, bool force)
{
    if (p->proxy_only) {
        lk_fail(r, LK_EFORBIDDEN, "This profile's credentials are only injected by /proxy, never handed out.");
        return;
    }
    lk_cred c;
    lk_cred_failure why;
    if (lk_cred_get(r, p, actor, iid, site, site_where, min_validity, force, &c, &why) != LK_OK) {
        lk_fail_cred(r, &why);
        return;
    }
    lk_resp_json(r, 200, lk_cred_json(r, p, &c));
}

void lk_token_endpoint(lk_req *r, const char *name)
{
    bool del = !strcmp(r->method, "DELETE");
    if (!del && strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        lk_fail_method(r, "GET, HEAD, DELETE");
        return;
    }
    const char *iid = NULL, *site = NULL;
    bool params_ok = one_param(r, "instance_id", &iid) && one_param(r, "site", &site);
    lk_err params_err = r->err;
    r->err = LK_OK;
    lk_botkey key;
    const lk_profile *p;
    if (lk_bot_gate_writer(r, name, params_ok ? iid : NULL, del ? READ_ONLY_DISCONNECT : READ_ONLY_TOKEN, &key, &p) !=
        LK_OK)
        return;
    if (!params_ok) {
        r->err = params_err;
        return;
    }
    if (!check_instance(r, "query", iid))
        return;
    if (del) {
        disconnect(r, p, key.name, iid);
        return;
    }
    long long min_validity;
    if (!parse_min_validity(r, &min_validity))
        return;
    if (site && !lk_site_valid(site)) {
        lk_fail_field(r, "query", "site", "Value error, site must be a cloud id or a host name", "value_error");
        return;
    }
    answer_credential(r, p, key.name, iid, site, "query", min_validity, false);
}

void lk_refresh_endpoint(lk_req *r, const char *name)
{
    if (strcmp(r->method, "POST") != 0) {
        lk_fail_method(r, "POST");
        return;
    }
    lk_botkey key;
    const lk_profile *p;
    json_object *body;
    if (lk_bot_gate_json_writer(r, name, READ_ONLY_REFRESH, &key, &p, &body) != LK_OK)
        return;
    json_object *iv = lk_json_get(body, "instance_id");
    if (iv && !json_object_is_type(iv, json_type_string)) {
        lk_fail_field(r, "body", "instance_id", "Input should be a valid string", "string_type");
        return;
    }
    const char *iid = lk_json_str(body, "instance_id");
    if (!check_instance(r, "body", iid))
        return;
    json_object *sv = lk_json_get(body, "site");
    const char *site = lk_json_str(body, "site");
    if ((sv && !site) || (site && !lk_site_valid(site))) {
        lk_fail_field(r, "body", "site", "Value error, site must be a cloud id or a host name", "value_error");
        return;
    }
    answer_credential(r, p, key.name, iid, site, "body", LK_MIN_VALIDITY_DEFAULT, true);
}
