#include "flow.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apicred.h"
#include "audit.h"
#include "buf.h"
#include "conn.h"
#include "cookie.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "page.h"
#include "resources.h"
#include "text.h"
#include "url.h"

#define LINK_BYTES 32
#define STATE_BYTES 32
#define VERIFIER_BYTES 32
#define COOKIE_BYTES 32

static lk_stmt q_link_insert =
    LK_STMT("link_insert",
            "INSERT INTO links (link_hash, profile_id, instance_id, client_id, scopes, redirect_url, site, "
            "created_by, expires_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, now() + "
            "make_interval(secs => $9::bigint)) RETURNING to_char(expires_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            9);
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
/* The credential form's flow, used once: deleted in the transaction that
 * writes its connection, and still live then. */
static lk_stmt q_flow_consume =
    LK_STMT("flow_consume", "DELETE FROM flows WHERE id = $1 RETURNING expires_at > now() AS live", 1);
/* SPEC §4: one link, one connection. The flow that completes deletes its
 * link in the transaction that writes the connection; a flow of the same
 * link that comes later (or waited on this row lock) finds it gone and ends
 * with link_expired. flows.link_id keeps naming a deleted link (005). */
static lk_stmt q_link_consume = LK_STMT("link_consume", "DELETE FROM links WHERE id = $1 RETURNING id", 1);
static lk_stmt q_link_unused = LK_STMT("link_unused", "SELECT 1 FROM links WHERE id = $1", 1);
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

/* ---- links ---- */

static void field_error(json_object *errors, const char *where, const char *field, const char *msg, const char *type)
{
    json_object *item = json_object_new_object();
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string(where));
    json_object_array_add(loc, json_object_new_string(field));
    json_object_object_add(item, "loc", loc);
    lk_json_set_str(item, "msg", msg);
    lk_json_set_str(item, "type", type);
    json_object_array_add(errors, item);
}

bool lk_link_check(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, lk_link_req *lr,
                   const char *where, json_object *errors, lk_err *rc)
{
    size_t before = json_object_array_length(errors);
    *rc = LK_OK;
    if (!strcmp(p->auth_type, "api_key")) {
        field_error(errors, "path", "profile",
                    "Value error, this profile has one shared credential: there is nothing to authorize",
                    "value_error");
        return false;
    }
    if (!lr->instance_id)
        field_error(errors, where, "instance_id", "Field required", "missing");
    else if (!lk_valid_instance_id(lr->instance_id, strlen(lr->instance_id)))
        field_error(errors, where, "instance_id", "Value error, instance_id must be 1 to 255 bytes of printable UTF-8",
                    "value_error");
    if (lr->scope && lk_profile_scopes(a, p, lr->scope, &lr->scopes) != LK_OK)
        field_error(errors, where, "scope", "Value error, scope must be a comma-separated list of scopes",
                    "value_error");
    else if (!lr->scope && lk_profile_scopes(a, p, NULL, &lr->scopes) != LK_OK) {
        *rc = LK_EINTERNAL; /* the profile's own scopes: cannot happen */
        return false;
    }
    if (lr->redirect_url && !lk_redirect_allowed(a, lr->redirect_url, p->allowed_redirects.v, p->allowed_redirects.n))
        field_error(errors, where, "redirect_url", "Value error, redirect_url is not on this profile's allow-list",
                    "value_error");
    lk_site probe;
    const char *why = NULL;
    if (lr->site && !lk_site_valid(lr->site))
        field_error(errors, where, "site", "Value error, site must be a cloud id or a host name", "value_error");
    else if (lr->site && !strcmp(p->auth_type, "api_key_per_user") &&
             lk_apicred_site(a, p, lr->site, &probe, &why) != LK_OK)
        field_error(errors, where, "site", lk_printf(a, "Value error, %s", why), "value_error");
    if (lr->expires_in && (lr->expires_in < 60 || lr->expires_in > cfg->link_ttl_max))
        field_error(errors, where, "expires_in",
                    lk_printf(a, "Value error, expires_in must be from 60 to %ld seconds", cfg->link_ttl_max),
                    "value_error");
    if (lr->client_id) {
        lk_client c;
        lk_err crc = (strlen(lr->client_id) > 512) ? LK_ENOTFOUND : lk_profile_client(db, a, cfg, p, lr->client_id, &c);
        if (crc == LK_ENOTFOUND)
            field_error(errors, where, "client_id", "Value error, this profile has no such client", "value_error");
        else if (crc != LK_OK) {
            *rc = crc;
            return false;
        }
    }
    return json_object_array_length(errors) == before;
}

lk_err lk_link_create(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const lk_link_req *lr,
                      const char *actor, char **url, char **expires_at)
{
    char *link = lk_random_token(a, LINK_BYTES);
    long long ttl = lr->expires_in ? lr->expires_in : cfg->link_ttl;
    const char *params[] = {lk_sha256_hex(a, link),
                            p->id_text,
                            lr->instance_id,
                            lr->client_id,
                            lr->scope ? lk_json_text(a, lk_strv_to_json(a, &lr->scopes)) : NULL,
                            lr->redirect_url,
                            lr->site,
                            actor,
                            lk_printf(a, "%lld", ttl)};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_link_insert, params, &res);
    if (rc != LK_OK)
        return rc;
    *expires_at = lk_strdup(a, lk_db_val(res, 0, 0));
    *url = lk_printf(a, "%s/authorize/%s?link=%s", cfg->public_base_url, p->name, link);
    return LK_OK;
}

/* A JSON member as a string field: absent is NULL, another type an error. */
static const char *body_str(lk_req *r, json_object *body, const char *name, bool *bad)
{
    json_object *v = lk_json_get(body, name);
    if (!v)
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        lk_fail_field(r, "body", name, "Input should be a valid string", "string_type");
        *bad = true;
        return NULL;
    }
    const char *s = json_object_get_string(v);
    /* A "\u0000" would cut the C string short: refuse it, never truncate. */
    if (strlen(s) != (size_t)json_object_get_string_len(v)) {
        lk_fail_field(r, "body", name, "Value error, the string must not hold a NUL character", "value_error");
        *bad = true;
        return NULL;
    }
    return s;
}

static void fail_db(lk_req *r, lk_err rc)
{
    if (rc == LK_EDB)
        lk_fail(r, rc, "The database is unavailable; try again shortly.");
    else
        lk_fail(r, rc, "The request could not be served.");
}

void lk_link_endpoint(lk_req *r, const char *name)
{
    /* The body is read first so that the key's instance prefix (403) can
     * answer before the profile (404); its own failures (413, 400) come
     * after those, in SPEC §2's order. */
    lk_json_body jb;
    lk_req_json_early(r, &jb);
    json_object *body = jb.json;
    lk_apikey key;
    const lk_profile *p;
    if (lk_bot_gate(r, name, lk_json_str(body, "instance_id"), &key, &p) != LK_OK || lk_req_json_failed(r, &jb))
        return;
    if (!json_object_is_type(body, json_type_object)) {
        lk_fail_not_object(r);
        return;
    }
    bool bad = false;
    lk_link_req lr = {0};
    lr.instance_id = body_str(r, body, "instance_id", &bad);
    lr.scope = body_str(r, body, "scope", &bad);
    lr.redirect_url = body_str(r, body, "redirect_url", &bad);
    lr.client_id = body_str(r, body, "client_id", &bad);
    lr.site = body_str(r, body, "site", &bad);
    json_object *ei = lk_json_get(body, "expires_in");
    if (ei) {
        if (!json_object_is_type(ei, json_type_int) || json_object_get_int64(ei) <= 0) {
            lk_fail_field(r, "body", "expires_in", "Input should be a positive integer", "int_type");
            bad = true;
        } else {
            lr.expires_in = json_object_get_int64(ei);
        }
    }
    if (!r->errors)
        r->errors = lk_json_array(r->a);
    lk_err rc;
    bool bad_json_type = bad;
    /* instance_id of a wrong type was reported already; skip "missing". */
    json_object *iv = lk_json_get(body, "instance_id");
    if (iv && !lr.instance_id)
        lr.instance_id = "x"; /* placeholder: the type error stands */
    if (!lk_link_check(r->db, r->a, r->cfg, p, &lr, "body", r->errors, &rc) || bad_json_type) {
        if (rc != LK_OK) {
            fail_db(r, rc);
            return;
        }
        r->err = LK_EVALIDATION;
        return;
    }
    char *url, *expires_at;
    rc = lk_link_create(r->db, r->a, r->cfg, p, &lr, key.name, &url, &expires_at);
    if (rc != LK_OK) {
        fail_db(r, rc);
        return;
    }
    json_object *detail = lk_json_object(r->a);
    if (lr.client_id)
        lk_json_set_str(detail, "client_id", lr.client_id);
    lk_audit(r->db, r->a, key.name, "link.create", p->name, lr.instance_id, "ok", detail);
    json_object *o = lk_json_object(r->a);
    lk_json_set_str(o, "authorization_url", url);
    lk_json_set_str(o, "expires_at", expires_at);
    lk_resp_json(r, 201, o);
}

/* ---- starting a flow ---- */

static const char *path_of(lk_arena *a, const char *url)
{
    lk_url u;
    if (lk_url_parse(a, url, &u) != LK_OK)
        return "/";
    return u.path;
}

static lk_err page_fail(lk_req *r, lk_err e, const char *detail)
{
    lk_fail(r, e, "%s", detail);
    lk_page_error(r);
    return e;
}

/* The first validation message, for a page. */
static const char *first_msg(lk_req *r)
{
    json_object *it = r->errors ? json_object_array_get_idx(r->errors, 0) : NULL;
    const char *m = lk_json_str(it, "msg");
    return m ? m : "The request is not valid.";
}

static void begin_flow(lk_req *r, const lk_profile *p, const lk_link_req *lr, const char *link_id, bool no_replace)
{
    lk_arena *a = r->a;
    lk_client c;
    lk_err rc = lk_profile_client(r->db, a, r->cfg, p, lr->client_id, &c);
    if (rc != LK_OK) {
        page_fail(r, rc == LK_EDB ? LK_EDB : LK_EINVAL, "This link names a client the service no longer has.");
        return;
    }
    char *state = lk_random_token(a, STATE_BYTES);
    char *verifier = lk_random_token(a, VERIFIER_BYTES);
    char *cookie_value = lk_random_token(a, COOKIE_BYTES);
    unsigned char cn[8];
    if (lk_random(cn, sizeof(cn)) != LK_OK) {
        page_fail(r, LK_EINTERNAL, "The sign-in could not be started.");
        return;
    }
    char *cookie_name = lk_printf(a, "lkf_%s", lk_hex_encode(a, cn, sizeof(cn)));
    PGresult *res;
    rc = lk_db_exec(r->db, a, &q_flow_nextval, NULL, &res);
    if (rc != LK_OK) {
        page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    const char *flow_id = lk_db_val(res, 0, 0);
    char *sealed_verifier = NULL;
    if (p->pkce && lk_seal(a, &r->cfg->keys, "flows", "pkce_verifier", flow_id, verifier, strlen(verifier),
                           &sealed_verifier) != LK_OK) {
        page_fail(r, LK_EINTERNAL, "The sign-in could not be started.");
        return;
    }
    long ttl = r->cfg->flow_ttl;
    const char *params[] = {flow_id,
                            lk_sha256_hex(a, state),
                            cookie_name,
                            lk_sha256_hex(a, cookie_value),
                            p->id_text,
                            link_id,
                            lr->instance_id,
                            c.white_label ? c.client_id : NULL,
                            c.callback_url,
                            lk_json_text(a, lk_strv_to_json(a, &lr->scopes)),
                            lr->redirect_url,
                            lr->site,
                            sealed_verifier,
                            no_replace ? "true" : "false",
                            lk_printf(a, "%ld", ttl)};
    rc = lk_db_exec(r->db, a, &q_flow_insert, params, NULL);
    if (rc != LK_OK) {
        page_fail(r, rc == LK_EDB ? LK_EDB : LK_EINTERNAL, "The sign-in could not be started.");
        return;
    }
    lk_resp_header(
        r, "Set-Cookie",
        lk_cookie_build(a, cookie_name, cookie_value, path_of(a, c.callback_url), ttl, r->cfg->cookie_secure));
    if (lk_profile_is_api_key(p)) {
        /* No provider to send the browser to: the person enters their
         * credential here, and the form posts back to the callback. */
        lk_credential_form form = {
            .service = p->display_name,
            .action = c.callback_url,
            .flow = cookie_name,
            .ask_site = !lr->site && lk_profile_needs_site(p),
            .cloud = !strcmp(p->site_kind, "cloud"),
            .basic = !strcmp(p->credential_kind, "basic"),
        };
        lk_page_credential_form(r, 200, &form);
        return;
    }
    /* RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3) and the profile's extras. */
    char *url = p->authorization_url;
    url = lk_url_add_param(a, url, "response_type", "code");
    url = lk_url_add_param(a, url, "client_id", c.client_id);
    url = lk_url_add_param(a, url, "redirect_uri", c.callback_url);
    const char *scope = lk_scopes_join(a, &lr->scopes, p->scope_separator);
    if (!scope) {
        page_fail(r, LK_EINTERNAL, "The sign-in could not be started.");
        return;
    }
    url = lk_url_add_param(a, url, "scope", scope);
    url = lk_url_add_param(a, url, "state", state);
    if (p->pkce) {
        url = lk_url_add_param(a, url, "code_challenge", lk_pkce_challenge(a, verifier));
        url = lk_url_add_param(a, url, "code_challenge_method", "S256");
    }
    if (p->extra_params) {
        static const char *const ours[] = {"response_type", "client_id",      "redirect_uri",          "scope",
                                           "state",         "code_challenge", "code_challenge_method", NULL};
        json_object_object_foreach (p->extra_params, k, v) {
            bool taken = false;
            for (const char *const *o = ours; *o; o++)
                taken |= !strcmp(k, *o);
            if (!taken && json_object_is_type(v, json_type_string))
                url = lk_url_add_param(a, url, k, json_object_get_string(v));
        }
    }
    lk_resp_redirect(r, 302, url);
}

/* The profile a browser route names, or NULL after a page saying why
 * (unknown: 404 with the given sentence; the database: 503). */
static const lk_profile *browser_profile(lk_req *r, const char *name, const char *unknown)
{
    const lk_profile *p = NULL;
    lk_err rc = lk_valid_profile_name(name, strlen(name)) ? lk_profile_load(r->db, r->a, name, &p) : LK_ENOPROFILE;
    if (rc == LK_OK)
        return p;
    page_fail(r, rc == LK_ENOPROFILE ? rc : LK_EDB,
              rc == LK_ENOPROFILE ? unknown : "The service is temporarily unavailable.");
    return NULL;
}

void lk_flow_begin(lk_req *r, const char *name, bool seed_form)
{
    lk_arena *a = r->a;
    lk_flow_purge(r->db, a, r->cfg, false);
    const lk_profile *p = browser_profile(r, name, "The link names a service this broker does not know.");
    if (!p)
        return;
    lk_err rc;
    lk_link_req lr = {0};
    const char *link_id = NULL;
    if (!seed_form) {
        const char *link = lk_req_param(r, "link");
        if (!link || !*link) {
            lk_fail_field(r, "query", "link", "Field required", "missing");
            page_fail(r, LK_EVALIDATION, "This address is missing its link.");
            return;
        }
        if (strlen(link) > 128) {
            page_fail(r, LK_ELINK, "This link is not valid. Ask the application for a new one.");
            return;
        }
        const char *params[] = {lk_sha256_hex(a, link), p->id_text};
        PGresult *res;
        rc = lk_db_exec(r->db, a, &q_link_find, params, &res);
        if (rc != LK_OK) {
            page_fail(r, LK_EDB, "The service is temporarily unavailable.");
            return;
        }
        if (PQntuples(res) != 1 || !lk_db_bool(res, 0, "live")) {
            page_fail(r, LK_ELINK,
                      "Authorization links work for a limited time and only until an account "
                      "is connected through them.");
            return;
        }
        link_id = lk_strdup(a, lk_db_get(res, 0, "id"));
        lr.instance_id = lk_strdup(a, lk_db_get(res, 0, "instance_id"));
        lr.client_id = lk_strdup(a, lk_db_get(res, 0, "client_id"));
        lr.redirect_url = lk_strdup(a, lk_db_get(res, 0, "redirect_url"));
        lr.site = lk_strdup(a, lk_db_get(res, 0, "site"));
        const char *sj = lk_db_get(res, 0, "scopes");
        json_object *scopes = NULL;
        /* The scopes the link asked for, never quietly the default ones. */
        if (sj)
            rc = lk_json_parse(a, sj, strlen(sj), &scopes);
        else
            rc = lk_profile_scopes(a, p, NULL, &lr.scopes);
        if (rc != LK_OK || (sj && !json_object_is_type(scopes, json_type_array))) {
            page_fail(r, LK_EINTERNAL, "The sign-in could not be started.");
            return;
        }
        if (sj)
            lr.scopes = lk_strv_from_json(a, scopes);
        begin_flow(r, p, &lr, link_id, false);
        return;
    }
    /* The seed form: an instance_id alone is no proof of who clicked, so it
     * is off unless the profile allows it, and it never replaces. */
    if (!p->allow_direct_authorize) {
        page_fail(r, LK_EFORBIDDEN,
                  "Direct authorization is not enabled for this service. Ask the "
                  "application for an authorization link.");
        return;
    }
    const lk_param *dup = NULL;
    size_t count = 0;
    static const char *const fields[] = {"instance_id", "client_id", "scope", "redirect_url", "site", NULL};
    for (const char *const *f = fields; *f; f++) {
        const lk_param *x = lk_form_get(&r->form, *f, &count);
        if (count > 1)
            dup = x;
        if (x && strlen(x->value) != x->value_len) {
            page_fail(r, LK_EINVAL, "The address holds a NUL byte.");
            return;
        }
    }
    if (dup) {
        page_fail(r, LK_EINVAL, "A parameter appears more than once in the address.");
        return;
    }
    lr.instance_id = lk_req_param(r, "instance_id");
    lr.client_id = lk_req_param(r, "client_id");
    lr.scope = lk_req_param(r, "scope");
    lr.redirect_url = lk_req_param(r, "redirect_url");
    lr.site = lk_req_param(r, "site");
    if (lr.client_id && !*lr.client_id)
        lr.client_id = NULL;
    if (lr.scope && !*lr.scope)
        lr.scope = NULL;
    if (lr.redirect_url && !*lr.redirect_url)
        lr.redirect_url = NULL;
    if (lr.site && !*lr.site)
        lr.site = NULL;
    r->errors = lk_json_array(a);
    if (!lk_link_check(r->db, a, r->cfg, p, &lr, "query", r->errors, &rc)) {
        if (rc != LK_OK) {
            page_fail(r, LK_EDB, "The service is temporarily unavailable.");
            return;
        }
        page_fail(r, LK_EVALIDATION, first_msg(r));
        return;
    }
    bool exists = false;
    rc = lk_conn_exists(r->db, a, p, lr.instance_id, &exists);
    if (rc != LK_OK) {
        page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    if (exists) {
        page_fail(r, LK_ECONNECTED, "An account is already connected for this user.");
        return;
    }
    begin_flow(r, p, &lr, NULL, true);
}

/* ---- the callback ---- */

typedef struct flow {
    const char *id, *link_id, *instance_id, *client_id, *redirect_uri, *redirect_url, *site;
    const char *verifier_sealed;
    bool no_replace;
} flow;

/* A flow row as flow_take and flow_by_cookie return it (columns a query
 * does not return stay NULL). */
static flow flow_from_row(lk_arena *a, PGresult *res)
{
    flow f = {
        .id = lk_strdup(a, lk_db_get(res, 0, "id")),
        .link_id = lk_strdup(a, lk_db_get(res, 0, "link_id")),
        .instance_id = lk_strdup(a, lk_db_get(res, 0, "instance_id")),
        .client_id = lk_strdup(a, lk_db_get(res, 0, "client_id")),
        .redirect_uri = lk_strdup(a, lk_db_get(res, 0, "redirect_uri")),
        .redirect_url = lk_strdup(a, lk_db_get(res, 0, "redirect_url")),
        .site = lk_strdup(a, lk_db_get(res, 0, "site")),
        .verifier_sealed = lk_strdup(a, lk_db_get(res, 0, "pkce_verifier")),
        .no_replace = lk_db_bool(res, 0, "no_replace"),
    };
    return f;
}

/* True when the request carries the flow's cookie with its value (the
 * flow is bound to the browser that started it: no login CSRF). */
static bool flow_cookie_matches(lk_req *r, const char *cookie_name, const char *cookie_hash)
{
    const char *cookie = lk_cookie_get(r->a, lk_req_header(r, "HTTP_COOKIE"), cookie_name);
    return cookie && cookie_hash && lk_ct_equal(lk_sha256_hex(r->a, cookie), cookie_hash, 64);
}

/* Latchkey's result parameters (SPEC §4): never repeated from redirect_url. */
static const char *const result_params[] = {"status", "error", "profile", "instance_id", NULL};

/* True when the query parameter s[0..n) is named like one of Latchkey's
 * (after percent-decoding, as the application will read it). */
static bool is_result_param(lk_arena *a, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    char *name;
    size_t len;
    if (lk_pct_decode(a, s, eq ? (size_t)(eq - s) : n, true, &name, &len) != LK_OK)
        return false; /* no application reads a malformed name as one of ours */
    for (const char *const *rp = result_params; *rp; rp++)
        if (len == strlen(*rp) && !memcmp(name, *rp, len))
            return true;
    return false;
}

lk_err lk_flow_result_url(lk_arena *a, const char *redirect_url, const char *error, const char *profile,
                          const char *instance_id, char **out)
{
    size_t ul = strcspn(redirect_url, "#");
    const char *q = memchr(redirect_url, '?', ul);
    lk_buf b;
    lk_buf_init(&b, a, LK_FLOW_RESULT_URL_MAX);
    lk_err rc = lk_buf_add(&b, redirect_url, q ? (size_t)(q - redirect_url) : ul);
    char sep = '?';
    if (q) {
        const char *s = q + 1, *end = redirect_url + ul;
        while (rc == LK_OK && s < end) {
            const char *amp = memchr(s, '&', (size_t)(end - s));
            const char *pe = amp ? amp : end;
            if (pe > s && !is_result_param(a, s, (size_t)(pe - s))) {
                rc = lk_buf_addc(&b, sep);
                if (rc == LK_OK)
                    rc = lk_buf_add(&b, s, (size_t)(pe - s));
                sep = '&';
            }
            s = amp ? amp + 1 : end;
        }
    }
    const char *values[] = {error ? "error" : "success", error, profile, instance_id};
    for (size_t i = 0; rc == LK_OK && i < LK_ARRAY_LEN(values); i++) {
        if (!values[i])
            continue;
        rc = lk_buf_printf(&b, "%c%s=%s", sep, result_params[i], lk_pct_encode(a, values[i]));
        sep = '&';
    }
    if (rc != LK_OK)
        return rc;
    *out = (char *)lk_buf_str(&b);
    return LK_OK;
}

/* Ends the flow: to the caller's redirect_url, or a page. */
static void finish(lk_req *r, const lk_profile *p, const flow *f, lk_err e, const char *detail, const char *site_name)
{
    lk_arena *a = r->a;
    lk_audit(r->db, a, "browser", "connection.authorize", p->name, f->instance_id, e ? lk_err_code(e) : "ok", NULL);
    if (f->redirect_url) {
        char *u;
        if (lk_flow_result_url(a, f->redirect_url, e ? lk_err_code(e) : NULL, p->name, f->instance_id, &u) == LK_OK) {
            lk_resp_redirect(r, strcmp(r->method, "POST") ? 302 : 303, u);
            return;
        }
        /* Too long to redirect to: the page below says what happened. */
    }
    if (e) {
        lk_fail(r, e, "%s", detail);
        lk_page_error(r);
        return;
    }
    const char *what = site_name && *site_name
                           ? lk_printf(a, "Your %s account (%s) is now connected.", p->display_name, site_name)
                           : lk_printf(a, "Your %s account is now connected.", p->display_name);
    lk_page_send(r, 200, "Connected", "You're all set", what,
                 "You can close this window and return to the application.");
}

/* A provider error code, echoed only when it is a plain token. */
static const char *clean_code(lk_arena *a, const char *s)
{
    if (!s || strlen(s) > 64)
        return "unknown";
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return "unknown";
    return lk_strdup(a, s);
}

/* Before anything is sent upstream: LK_ELINK when another flow of this
 * flow's link completed meanwhile (store() decides it for good). */
static lk_err link_unused(lk_req *r, const flow *f)
{
    if (!f->link_id)
        return LK_OK;
    const char *params[] = {f->link_id};
    PGresult *res;
    lk_err rc = lk_db_exec(r->db, r->a, &q_link_unused, params, &res);
    if (rc != LK_OK)
        return rc;
    return PQntuples(res) == 1 ? LK_OK : LK_ELINK;
}

/* One short transaction, with no upstream call inside (SPEC §5 "timeouts
 * nest"): takes the flow when take_flow (the credential form's; the OAuth
 * callback took its own already: LK_ESTATE when it is gone, LK_EFLOW when
 * it expired), uses up its link (LK_ELINK), writes the grant. Tried again
 * once when a concurrent first connect won the insert (it is then
 * replaced in place, or LK_ECONNECTED for a flow that never replaces). */
static lk_err store(lk_req *r, const lk_profile *p, const flow *f, const char *client_id, const lk_tokens *t,
                    json_object *meta, bool take_flow)
{
    lk_err rc = LK_OK;
    const char *idp[] = {f->id};
    const char *lp[] = {f->link_id};
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = lk_db_begin(r->db);
        if (rc != LK_OK)
            return rc;
        PGresult *res;
        if (take_flow) {
            rc = lk_db_exec(r->db, r->a, &q_flow_consume, idp, &res);
            if (rc == LK_OK && PQntuples(res) != 1)
                rc = LK_ESTATE;
            else if (rc == LK_OK && !lk_db_bool(res, 0, "live"))
                rc = LK_EFLOW;
        }
        if (rc == LK_OK && f->link_id) {
            rc = lk_db_exec(r->db, r->a, &q_link_consume, lp, &res);
            if (rc == LK_OK && PQntuples(res) != 1)
                rc = LK_ELINK;
        }
        if (rc == LK_OK)
            rc = lk_conn_write_grant(r->db, r->a, r->cfg, p, f->instance_id, client_id, t, meta, !f->no_replace, NULL);
        if (rc == LK_OK) {
            rc = lk_db_commit(r->db);
            if (rc == LK_OK)
                return LK_OK;
        }
        lk_db_rollback(r->db);
        if (rc != LK_ECONFLICT)
            return rc;
        /* A concurrent first connect won the insert: replace it in place. */
    }
    return rc;
}

/* What a failed store() tells the browser. */
static const char *store_failure(lk_err rc)
{
    switch (rc) {
    case LK_ECONNECTED: return "An account is already connected for this user; nothing was changed.";
    case LK_ELINK: return "An account was already connected through this link; nothing was changed.";
    case LK_EFLOW: return "The sign-in took longer than allowed.";
    default: return "The connection could not be stored. Try again shortly.";
    }
}

void lk_flow_callback(lk_req *r, const char *name)
{
    lk_arena *a = r->a;
    const lk_profile *p = browser_profile(r, name, "The sign-in came back for a service this broker does not know.");
    if (!p)
        return;
    lk_err rc;
    const char *state = lk_req_param(r, "state");
    if (!state || !*state || strlen(state) > 256) {
        page_fail(r, LK_EINVAL, "The provider sent the browser back without a valid state.");
        return;
    }
    const char *params[] = {lk_sha256_hex(a, state), p->id_text};
    PGresult *res;
    rc = lk_db_exec(r->db, a, &q_flow_take, params, &res);
    if (rc != LK_OK) {
        page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    /* Purge only after taking this flow, so that an expired one is still
     * answered flow_expired rather than "unknown". */
    lk_flow_purge(r->db, a, r->cfg, false);
    if (PQntuples(res) != 1) {
        page_fail(r, LK_ESTATE, "This sign-in is unknown or was already completed.");
        return;
    }
    flow f = flow_from_row(a, res);
    const char *cookie_name = lk_strdup(a, lk_db_get(res, 0, "cookie_name"));
    const char *cookie_hash = lk_strdup(a, lk_db_get(res, 0, "cookie_hash"));
    bool live = lk_db_bool(res, 0, "live");
    /* The flow is used up whatever happens next: clear its cookie. */
    lk_resp_header(r, "Set-Cookie",
                   lk_cookie_build(a, cookie_name, "", path_of(a, f.redirect_uri), 0, r->cfg->cookie_secure));
    if (!flow_cookie_matches(r, cookie_name, cookie_hash)) {
        /* Not this browser's flow: never redirect (login CSRF). */
        page_fail(r, LK_ESTATE, "The sign-in did not start in this browser, or its cookie was lost.");
        lk_audit(r->db, a, "browser", "connection.authorize", p->name, f.instance_id, "invalid_state", NULL);
        return;
    }
    if (!live) {
        finish(r, p, &f, LK_EFLOW, "The sign-in took longer than allowed.", NULL);
        return;
    }
    if (p->issuer) {
        /* RFC 9207 §2.4: a missing or different iss means a mix-up, for an
         * error answer too: its error did not come from our provider, so
         * it is not reported as such (not even access_denied). */
        const char *iss = lk_req_param(r, "iss");
        if (!iss || strcmp(iss, p->issuer) != 0) {
            finish(r, p, &f, LK_EPROVIDER, "The answer did not come from the expected issuer.", NULL);
            return;
        }
    }
    rc = link_unused(r, &f);
    if (rc != LK_OK) {
        if (rc == LK_ELINK)
            finish(r, p, &f, rc, store_failure(rc), NULL);
        else
            finish(r, p, &f, LK_EDB, "The service is temporarily unavailable.", NULL);
        return;
    }
    const char *perr = lk_req_param(r, "error");
    if (perr) {
        if (!strcmp(perr, "access_denied"))
            finish(r, p, &f, LK_EDENIED, "Access was not granted, so nothing was connected.", NULL);
        else
            finish(r, p, &f, LK_EPROVIDER,
                   lk_printf(a, "The provider answered with the error %s.", clean_code(a, perr)), NULL);
        return;
    }
    const char *code = lk_req_param(r, "code");
    if (!code || !*code || strlen(code) > 4096) {
        finish(r, p, &f, LK_EPROVIDER, "The provider sent the browser back without a code.", NULL);
        return;
    }
    lk_client c;
    rc = lk_profile_client(r->db, a, r->cfg, p, f.client_id, &c);
    if (rc != LK_OK) {
        finish(r, p, &f, rc == LK_EDB ? LK_EDB : LK_EPROVIDER, "The client of this sign-in is gone.", NULL);
        return;
    }
    char *verifier = NULL;
    if (f.verifier_sealed &&
        lk_unseal(a, &r->cfg->keys, "flows", "pkce_verifier", f.id, f.verifier_sealed, &verifier, NULL) != LK_OK) {
        finish(r, p, &f, LK_EINTERNAL, "The sign-in could not be completed.", NULL);
        return;
    }
    /* RFC 6749 §4.1.3: the same redirect_uri as in the authorization request. */
    const char *grant[] = {"grant_type",
                           "authorization_code",
                           "code",
                           code,
                           "redirect_uri",
                           f.redirect_uri,
                           verifier ? "code_verifier" : NULL,
                           verifier,
                           NULL,
                           NULL};
    lk_tokens t;
    const char *why, *retry_after;
    lk_oauth_fail fail = lk_oauth_token_call(r->up, a, p->token_url, p->token_style, &c, grant, &t, &why, &retry_after);
    if (fail != LK_OAUTH_OK) {
        lk_warn("code exchange for profile %s failed: %s", p->name, why);
        finish(r, p, &f, fail == LK_OAUTH_TRANSIENT ? LK_EUNAVAILABLE : LK_EPROVIDER,
               lk_printf(a, "The provider did not accept the sign-in (%s). Nothing was stored.", why), NULL);
        return;
    }
    json_object *meta = NULL;
    const lk_site *chosen = NULL;
    if (!strcmp(p->resource_discovery, "atlassian")) {
        lk_sites sites;
        rc = lk_resources_fetch(r->up, a, p->resources_url, t.access_token, &sites);
        if (rc != LK_OK) {
            finish(r, p, &f, rc, "The provider did not say which sites were granted. Nothing was stored.", NULL);
            return;
        }
        if (f.site) {
            chosen = lk_site_pick(&sites, f.site);
            if (!chosen) {
                finish(r, p, &f, LK_ESITEGRANT,
                       "The site asked for is not among the sites you granted. Nothing was stored.", NULL);
                return;
            }
        } else if (sites.n == 1) {
            chosen = &sites.v[0];
        }
        meta = lk_sites_metadata(a, &sites, chosen);
    }
    rc = store(r, p, &f, c.white_label ? c.client_id : NULL, &t, meta, false);
    if (rc != LK_OK) {
        lk_err shown = (rc == LK_ECONNECTED || rc == LK_ELINK) ? rc : LK_EDB;
        finish(r, p, &f, shown, store_failure(shown), NULL);
        return;
    }
    finish(r, p, &f, LK_OK, NULL, chosen ? chosen->name : NULL);
}

/* ---- the per-user credential form (api_key_per_user) ---- */

#define CREDENTIAL_ATTEMPTS 5

static lk_stmt q_flow_by_cookie = LK_STMT("flow_by_cookie",
                                          "SELECT id, cookie_hash, link_id, instance_id, redirect_uri, "
                                          "redirect_url, site, no_replace, expires_at > now() AS live "
                                          "FROM flows WHERE cookie_name = $1 AND profile_id = $2",
                                          2);
/* A try is counted before anything is sent upstream, and only while under
 * the bound: concurrent posts cannot check more than CREDENTIAL_ATTEMPTS
 * credentials against the provider. */
static lk_stmt q_flow_attempt = LK_STMT("flow_attempt",
                                        "UPDATE flows SET attempts = attempts + 1 WHERE id = $1 AND "
                                        "attempts < $2::integer RETURNING attempts",
                                        2);
static lk_stmt q_flow_delete = LK_STMT("flow_delete", "DELETE FROM flows WHERE id = $1", 1);

/* A flow's public id: "lkf_" and 16 hex digits. */
static bool flow_id_ok(const char *s)
{
    if (!s || strlen(s) != 20 || strncmp(s, "lkf_", 4) != 0)
        return false;
    for (const char *c = s + 4; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static const char *form_value(const lk_form *form, const char *name)
{
    size_t n = 0;
    const lk_param *p = lk_form_get(form, name, &n);
    if (!p || n != 1 || strlen(p->value) != p->value_len)
        return NULL;
    return p->value;
}

/* Shows the form again with what went wrong; the flow stays usable. */
static void form_again(lk_req *r, const lk_profile *p, const char *cookie_name, const flow *f, const char *site,
                       const char *email, const char *problem)
{
    lk_credential_form form = {
        .service = p->display_name,
        .action = f->redirect_uri,
        .flow = cookie_name,
        .ask_site = !f->site,
        .cloud = !strcmp(p->site_kind, "cloud"),
        .basic = !strcmp(p->credential_kind, "basic"),
        .site = site,
        .email = email,
        .problem = problem,
    };
    lk_page_credential_form(r, 422, &form);
}

/* Ends a flow of the form for good: deleted, its cookie cleared, e told.
 * A database failure is told instead (the flow then stays, bounded). */
static void form_end(lk_req *r, const lk_profile *p, const flow *f, const char *clear, lk_err e, const char *detail)
{
    const char *idp[] = {f->id};
    if (lk_db_exec(r->db, r->a, &q_flow_delete, idp, NULL) != LK_OK) {
        page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    lk_resp_header(r, "Set-Cookie", clear);
    finish(r, p, f, e, detail, NULL);
}

void lk_flow_credential(lk_req *r, const char *name)
{
    lk_arena *a = r->a;
    const lk_profile *p = browser_profile(r, name, "The form was sent for a service this broker does not know.");
    if (!p)
        return;
    lk_err rc;
    if (strcmp(p->auth_type, "api_key_per_user") != 0) {
        lk_fail_method(r, "GET");
        lk_page_error(r);
        return;
    }
    char *text;
    size_t len;
    lk_form form;
    if (lk_req_body(r, (size_t)16 * 1024, &text, &len) != LK_OK || lk_form_parse(a, text, len, &form) != LK_OK) {
        page_fail(r, r->err == LK_ETOOBIG ? LK_ETOOBIG : LK_EINVAL, "The form could not be read.");
        return;
    }
    const char *cookie_name = form_value(&form, "flow");
    if (!flow_id_ok(cookie_name)) {
        page_fail(r, LK_ESTATE, "This form is unknown or was already used.");
        return;
    }
    /* No transaction is open while the provider is asked (SPEC §5
     * "timeouts nest"): the flow is read, the try counted, the credential
     * checked, and then one short transaction re-checks and writes. */
    const char *params[] = {cookie_name, p->id_text};
    PGresult *res;
    rc = lk_db_exec(r->db, a, &q_flow_by_cookie, params, &res);
    if (rc != LK_OK || PQntuples(res) != 1) {
        page_fail(r, rc != LK_OK ? LK_EDB : LK_ESTATE,
                  rc != LK_OK ? "The service is temporarily unavailable."
                              : "This form is unknown or was already used.");
        return;
    }
    flow f = flow_from_row(a, res);
    /* The cookie binds the form to the browser that opened the link: a
     * post from anywhere else (CSRF) has no cookie value to show. */
    if (!flow_cookie_matches(r, cookie_name, lk_db_get(res, 0, "cookie_hash"))) {
        page_fail(r, LK_ESTATE, "The form did not come from this browser's sign-in, or its cookie was lost.");
        return;
    }
    const char *clear = lk_cookie_build(a, cookie_name, "", path_of(a, f.redirect_uri), 0, r->cfg->cookie_secure);
    if (!lk_db_bool(res, 0, "live")) {
        form_end(r, p, &f, clear, LK_EFLOW, "The sign-in took longer than allowed.");
        return;
    }
    const char *ap[] = {f.id, lk_printf(a, "%d", CREDENTIAL_ATTEMPTS)};
    rc = lk_db_exec(r->db, a, &q_flow_attempt, ap, &res);
    if (rc != LK_OK) {
        page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    if (PQntuples(res) != 1) {
        /* Used up meanwhile by another post of this form. */
        lk_resp_header(r, "Set-Cookie", clear);
        page_fail(r, LK_ESTATE, "This form is unknown or was already used.");
        return;
    }
    long long attempts = lk_db_ll(res, 0, "attempts");
    rc = link_unused(r, &f);
    if (rc != LK_OK) {
        if (rc == LK_ELINK)
            form_end(r, p, &f, clear, rc, store_failure(rc));
        else
            page_fail(r, LK_EDB, "The service is temporarily unavailable.");
        return;
    }
    bool basic = !strcmp(p->credential_kind, "basic");
    const char *site_in = f.site ? f.site : form_value(&form, "site");
    const char *email = basic ? form_value(&form, "email") : NULL;
    const char *token = form_value(&form, "token");
    const char *credential = basic ? (email && token ? lk_printf(a, "%s:%s", email, token) : NULL) : token;
    const char *problem = NULL;
    json_object *meta = NULL;
    if (!credential || !lk_apicred_valid(p->credential_kind, credential)) {
        problem = basic ? "Enter the email of your account and an API token." : "Enter a personal access token.";
    } else {
        rc = lk_apicred_accept(r->up, a, p, site_in, credential, true, &meta, &problem);
        if (rc == LK_EDENIED)
            problem = "The site did not accept this token. Check it and try again.";
        else if (rc != LK_OK && !problem)
            problem = "The site could not be reached to check the token. Try again in a moment.";
    }
    if (problem) {
        if (attempts >= CREDENTIAL_ATTEMPTS) {
            form_end(r, p, &f, clear, LK_EFORBIDDEN, "Too many tries: open the link again to start over.");
            return;
        }
        lk_audit(r->db, a, "browser", "connection.credential", p->name, f.instance_id, "refused", NULL);
        form_again(r, p, cookie_name, &f, site_in, email, problem);
        return;
    }
    lk_tokens t = {.access_token = (char *)credential, .token_type = basic ? "Basic" : "Bearer", .expires_in = -1};
    rc = store(r, p, &f, NULL, &t, meta, true);
    lk_resp_header(r, "Set-Cookie", clear);
    if (rc == LK_ESTATE) {
        /* Another post of this form completed it meanwhile. */
        page_fail(r, rc, "This form is unknown or was already used.");
        return;
    }
    if (rc != LK_OK) {
        lk_err shown = (rc == LK_ECONNECTED || rc == LK_ELINK || rc == LK_EFLOW) ? rc : LK_EDB;
        finish(r, p, &f, shown, store_failure(shown), NULL);
        return;
    }
    if (f.redirect_url) {
        finish(r, p, &f, LK_OK, NULL, NULL);
        return;
    }
    lk_audit(r->db, a, "browser", "connection.authorize", p->name, f.instance_id, "ok", NULL);
    lk_resp_redirect(r, 303, lk_url_add_param(a, f.redirect_uri, "connected", "1"));
}

void lk_flow_connected_page(lk_req *r, const char *name)
{
    const lk_profile *p = browser_profile(r, name, "There is no such service.");
    if (!p)
        return;
    if (strcmp(p->auth_type, "api_key_per_user") != 0) {
        /* OAuth sign-ins come back with a state, not here. */
        page_fail(r, LK_EINVAL, "The provider sent the browser back without a valid state.");
        return;
    }
    lk_page_send(r, 200, "Connected", "You're all set",
                 lk_printf(r->a, "Your %s account is now connected.", p->display_name),
                 "You can close this window and return to the application.");
}
