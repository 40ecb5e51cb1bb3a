#include "cred.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apicred.h"
#include "audit.h"
#include "gate.h"
#include "json.h"
#include "text.h"

static void fail_with(lk_req *r, lk_err rc, const char *detail)
{
    switch (rc) {
    case LK_EDB: lk_fail(r, rc, "The database is unavailable; try again shortly."); break;
    case LK_ECRYPTO: lk_fail(r, LK_EINTERNAL, "The stored credential could not be opened."); break;
    default: lk_fail(r, rc, "%s", detail ? detail : "The request could not be served.");
    }
}

lk_err lk_fail_reauth(lk_req *r, const lk_profile *p, const char *detail)
{
    lk_fail(r, LK_EREAUTH, "%s",
            detail ? detail : "The user must authorize again: ask for a new link with POST /authorize/{profile}.");
    r->extra = lk_json_object(r->a);
    lk_json_set_str(r->extra, "authorize_url", lk_printf(r->a, "%s/authorize/%s", r->cfg->public_base_url, p->name));
    return LK_EREAUTH;
}

/* Answers a failed lk_refresh (SPEC §5, §7): 409 with where to get a new
 * link, or the error with its Retry-After, marked "refresh_in_progress"
 * when the caller was not let wait for another caller's refresh. */
static lk_err fail_refresh(lk_req *r, const lk_profile *p, lk_err rc, const lk_refresh_out *ro)
{
    if (rc == LK_EREAUTH)
        return lk_fail_reauth(r, p, ro->detail);
    if (ro->retry_after)
        lk_resp_header(r, "Retry-After", ro->retry_after);
    fail_with(r, rc, ro->detail);
    if (ro->refresh_in_progress) {
        r->extra = lk_json_object(r->a);
        json_object_object_add(r->extra, "refresh_in_progress", json_object_new_boolean(1));
    }
    return r->err;
}

lk_err lk_cred_refresh(lk_req *r, const lk_profile *p, const char *actor, const lk_conn *conn, bool force,
                       long long min_validity, lk_refresh_out *ro)
{
    lk_refresh_ctx cx = {r->db, r->a, r->cfg, r->up, actor, 0};
    lk_err rc = lk_refresh(&cx, p, conn, force, min_validity, ro);
    if (rc != LK_OK)
        return fail_refresh(r, p, rc, ro);
    if (!ro->conn || !ro->access_token)
        return lk_fail(r, LK_EINTERNAL, "The refreshed credential could not be read.");
    return LK_OK;
}

/* The profile's one credential (auth type api_key), as a connection that
 * every instance id shares. */
static lk_err shared_credential(lk_req *r, const lk_profile *p, const char *instance_id, lk_cred *out)
{
    lk_arena *a = r->a;
    if (!p->credential_sealed)
        return lk_fail(r, LK_ENOTCONN, "This profile has no credential yet: set it with latchkey.");
    char *credential;
    if (lk_unseal(a, &r->cfg->keys, "profiles", "credential", p->id_text, p->credential_sealed, &credential, NULL) !=
        LK_OK)
        return lk_fail(r, LK_EINTERNAL, "The stored credential could not be opened.");
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

lk_err lk_cred_get(lk_req *r, const lk_profile *p, const char *actor, const char *instance_id, const char *site,
                   const char *site_where, long long min_validity, bool force, lk_cred *out)
{
    lk_arena *a = r->a;
    memset(out, 0, sizeof(*out));
    lk_conn *c = NULL;
    lk_err rc;
    if (!strcmp(p->auth_type, "api_key")) {
        if (shared_credential(r, p, instance_id, out) != LK_OK)
            return r->err;
        c = out->conn;
    } else {
        rc = lk_conn_load(r->db, a, p->name, instance_id, &c);
        if (rc == LK_ENOTCONN)
            return lk_fail(
                r, rc, "No account is connected for this instance_id; create a link with POST /authorize/%s.", p->name);
        if (rc != LK_OK) {
            fail_with(r, rc, NULL);
            return r->err;
        }
    }
    if (!c)
        return lk_fail(r, LK_EINTERNAL, "The connection could not be read.");
    /* The site is chosen from stored metadata before any refresh. */
    lk_sites sites = lk_sites_from_metadata(a, c->metadata);
    if (lk_profile_is_api_key(p)) {
        /* API tokens and PATs: one site, and a Data Center server or an
         * unscoped Cloud site has no cloud id (the list above skips those). */
        lk_site *one = NULL;
        const char *url = lk_json_str(c->metadata, "site_url");
        if (url) {
            one = lk_alloc(a, sizeof(*one));
            const char *cid = lk_json_str(c->metadata, "cloud_id");
            one->cloud_id = cid ? lk_strdup(a, cid) : NULL;
            one->url = lk_strdup(a, url);
            const char *name = lk_json_str(c->metadata, "site_name");
            one->name = lk_strdup(a, name ? name : "");
        }
        if (site) {
            lk_site probe = one ? *one : (lk_site){0};
            if (!probe.cloud_id)
                probe.cloud_id = (char *)"";
            lk_sites s1 = {&probe, 1};
            if (!one || !lk_site_pick(&s1, site))
                return lk_fail_field(r, site_where, strcmp(site_where, "header") ? "site" : "x-site",
                                     "Value error, site is not among this connection's sites", "value_error");
        }
        out->site = one;
    } else if (site) {
        out->site = lk_site_pick(&sites, site);
        /* POST /refresh (force) names the site in its body. */
        if (!out->site)
            return lk_fail_field(r, site_where, strcmp(site_where, "header") ? "site" : "x-site",
                                 "Value error, site is not among this connection's sites", "value_error");
    } else if (lk_json_str(c->metadata, "cloud_id")) {
        out->site = lk_site_pick(&sites, lk_json_str(c->metadata, "cloud_id"));
    } else if (sites.n == 1) {
        out->site = sites.v;
    } else if (sites.n > 1) {
        lk_fail(r, LK_ESITE, "This connection has several sites: name one with site (a cloud id or host).");
        r->extra = lk_json_object(a);
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < sites.n; i++) {
            json_object *it = json_object_new_object();
            lk_json_set_str(it, "cloud_id", sites.v[i].cloud_id);
            lk_json_set_str(it, "url", sites.v[i].url);
            lk_json_set_str(it, "name", sites.v[i].name);
            json_object_array_add(arr, it);
        }
        json_object_object_add(r->extra, "sites", arr);
        return LK_ESITE;
    }
    if (!strcmp(c->status, "reauthorization_required")) {
        return lk_fail_reauth(r, p, NULL);
    }
    if (lk_profile_is_api_key(p)) {
        /* API tokens and PATs: nothing to refresh (/refresh answers the
         * same credential). */
        out->api_key = true;
        if (!out->access_token && lk_conn_access_token(a, r->cfg, c, &out->access_token) != LK_OK) {
            fail_with(r, LK_ECRYPTO, NULL);
            return r->err;
        }
        out->conn = c;
        out->authorization = lk_apicred_header(a, p->credential_kind, out->access_token);
        if (strcmp(p->auth_type, "api_key") != 0)
            lk_conn_touch(r->db, a, c);
        out->api_base_url = lk_api_base_url(a, p->api_base_url, out->site);
        return LK_OK;
    }
    /* The same decision as under the lock (SPEC §5), on the row as loaded:
     * a token that serves needs no lock and no provider call. */
    if (!strcmp(c->status, "active") && lk_refresh_plan(c, force, min_validity) == LK_USE_CURRENT) {
        rc = lk_conn_access_token(a, r->cfg, c, &out->access_token);
        if (rc != LK_OK) {
            fail_with(r, rc, NULL);
            return r->err;
        }
        out->conn = c;
    } else {
        lk_refresh_out ro;
        if (lk_cred_refresh(r, p, actor, c, force, min_validity, &ro) != LK_OK)
            return r->err;
        out->conn = ro.conn;
        out->access_token = ro.access_token;
        out->refresh_failed = ro.refresh_failed;
        out->refresh_in_progress = ro.refresh_in_progress;
        /* The row may have changed: pick the site again from it. */
        if (out->site) {
            lk_sites now = lk_sites_from_metadata(a, out->conn->metadata);
            out->site = lk_site_pick(&now, out->site->cloud_id);
        }
    }
    lk_conn_touch(r->db, a, out->conn);
    out->api_base_url = lk_api_base_url(a, p->api_base_url, out->site);
    out->authorization = lk_printf(a, "%s %s", out->conn->token_type, out->access_token);
    return LK_OK;
}

json_object *lk_cred_json(lk_req *r, const lk_profile *p, const lk_cred *c)
{
    json_object *o = lk_json_object(r->a);
    if (!c->conn) /* lk_cred_get never answers LK_OK without one */
        return o;
    /* API tokens: the ready header value; a PAT is also a bearer token. */
    if (!c->api_key || !strcmp(c->conn->token_type, "Bearer"))
        lk_json_set_str(o, "access_token", c->access_token);
    lk_json_set_str(o, "token_type", c->conn->token_type);
    if (c->api_key)
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
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ') {
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
    lk_apikey key;
    lk_profile *p;
    if (lk_bot_gate(r, name, params_ok ? iid : NULL, &key, &p) != LK_OK)
        return;
    if (!params_ok) {
        r->err = params_err;
        return;
    }
    if (!check_instance(r, "query", iid))
        return;
    if (del) {
        lk_err rc = lk_conn_delete(r->db, r->a, p->name, iid);
        if (rc == LK_ENOTCONN) {
            lk_fail(r, rc, "No account is connected for this instance_id.");
            return;
        }
        if (rc != LK_OK) {
            fail_with(r, rc, NULL);
            return;
        }
        lk_audit(r->db, r->a, key.name, "connection.delete", p->name, iid, "ok", NULL);
        lk_resp_header(r, "Cache-Control", "no-store");
        lk_resp_send(r, 204, NULL, "", 0);
        return;
    }
    long long min_validity;
    if (!parse_min_validity(r, &min_validity))
        return;
    if (site && !lk_site_valid(site)) {
        lk_fail_field(r, "query", "site", "Value error, site must be a cloud id or a host name", "value_error");
        return;
    }
    if (p->proxy_only) {
        lk_fail(r, LK_EFORBIDDEN, "This profile's credentials are only injected by /proxy, never handed out.");
        return;
    }
    lk_cred c;
    if (lk_cred_get(r, p, key.name, iid, site, "query", min_validity, false, &c) != LK_OK)
        return;
    lk_resp_json(r, 200, lk_cred_json(r, p, &c));
}

void lk_refresh_endpoint(lk_req *r, const char *name)
{
    if (strcmp(r->method, "POST") != 0) {
        lk_fail_method(r, "POST");
        return;
    }
    lk_apikey key;
    lk_profile *p;
    json_object *body;
    if (lk_bot_gate_json(r, name, &key, &p, &body) != LK_OK)
        return;
    if (!json_object_is_type(body, json_type_object)) {
        lk_fail_not_object(r);
        return;
    }
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
    if (p->proxy_only) {
        lk_fail(r, LK_EFORBIDDEN, "This profile's credentials are only injected by /proxy, never handed out.");
        return;
    }
    lk_cred c;
    if (lk_cred_get(r, p, key.name, iid, site, "body", LK_MIN_VALIDITY_DEFAULT, true, &c) != LK_OK)
        return;
    lk_resp_json(r, 200, lk_cred_json(r, p, &c));
}
