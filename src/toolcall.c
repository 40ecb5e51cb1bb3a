/* tools/call (SPEC §10): the credential as the proxy gets it (lk_cred_get:
 * site choice, single-flight refresh, user credentials), the scope family
 * of the grant, consent links made as POST /authorize makes them, the
 * table's calls through upstream.c, and the answer trimmed. */
#include "tools_int.h"

#include <string.h>

#include "audit.h"
#include "buf.h"
#include "cred.h"
#include "crypto.h"
#include "json.h"
#include "link.h"
#include "mdcache.h"
#include "usercred.h"

/* As the proxy: a 401 for a token older than this may mean it was revoked
 * (one refresh, one retry); for a fresher one it means a missing scope. */
#define TOOL_RETRY_AGE 60
#define ELICITATION_ID_BYTES 16

/* What one call of a tool works with. */
typedef struct tool_run {
    lk_req *r;
    const lk_profile *p;
    const lk_botkey *key;
    const char *iid;
    const lk_tool *t;
    lk_family fam;
    lk_cred cred;
    json_object *vars; /* the arguments, then the values computed and captured */
    lk_tool_outcome *out;
} tool_run;

static void rpc_error(lk_tool_outcome *out, int code, const char *message)
{
    out->rpc_error = code;
    out->message = message;
}

/* A CallToolResult with isError and one sentence. */
static void tool_error(lk_arena *a, lk_tool_outcome *out, const char *message)
{
    out->rpc_error = 0;
    out->result = lk_tool_result(a, NULL, message, true);
}

/* scopes (a granted string, space- or comma-separated) plus more, as the
 * comma-separated list a link asks for; NULL when both are empty. */
static char *scope_csv(lk_arena *a, const char *granted, const lk_strv *more)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_SCOPES_CSV_MAX);
    const char *p = granted;
    bool ok = true;
    while (ok && p && *p) {
        p += strspn(p, " ,");
        size_t k = strcspn(p, " ,");
        if (k)
            ok = lk_buf_printf(&b, "%s%.*s", b.len ? "," : "", (int)k, p) == LK_OK;
        p += k;
    }
    for (size_t i = 0; ok && more && i < more->n; i++)
        ok = lk_buf_printf(&b, "%s%s", b.len ? "," : "", more->v[i]) == LK_OK;
    return ok && b.len ? (char *)lk_buf_str(&b) : NULL;
}

/* -32042 with a link for this instance asking for scope_csv (NULL: the
 * profile's default), made as POST /authorize makes one. */
static void consent(tool_run *tr, const char *reason, const char *csv, const char *site)
{
    lk_req *r = tr->r;
    lk_link_req lr = {.instance_id = tr->iid, .scope = csv, .site = site};
    json_object *errors = lk_json_array(r->a);
    lk_err rc;
    bool ok = lk_link_check(r->db, r->a, r->cfg, tr->p, &lr, "arguments", errors, &rc);
    if (!ok && rc == LK_OK && site) { /* a site the link cannot name: ask without */
        lr = (lk_link_req){.instance_id = tr->iid, .scope = csv};
        errors = lk_json_array(r->a);
        ok = lk_link_check(r->db, r->a, r->cfg, tr->p, &lr, "arguments", errors, &rc);
    }
    char *url = NULL, *expires_at = NULL;
    if (ok)
        rc = lk_link_create(r->db, r->a, r->cfg, tr->p, &lr, tr->key->name, &url, &expires_at);
    if (!ok || rc != LK_OK) {
        rpc_error(tr->out, LK_RPC_INTERNAL,
                  rc == LK_EDB ? "The database is unavailable; try again shortly."
                               : "An authorization link could not be made for this instance.");
        return;
    }
    json_object *detail = lk_json_object(r->a);
    lk_json_set_str(detail, "via", "mcp");
    lk_audit(r->db, r->a, tr->key->name, "link.create", tr->p->name, tr->iid, "ok", detail);
    const char *msg = lk_printf(r->a, "%s Open %s to connect (the link is good until %s), then call the tool again.",
                                reason, url, expires_at);
    json_object *e = lk_json_object(r->a);
    lk_json_set_str(e, "mode", "url");
    lk_json_set_str(e, "elicitationId", lk_random_token(r->a, ELICITATION_ID_BYTES));
    lk_json_set_str(e, "url", url);
    lk_json_set_str(e, "message", msg);
    rpc_error(tr->out, LK_RPC_URL_ELICITATION, msg);
    tr->out->elicitation = e;
}

/* The scopes a first link asks for: the profile's default, plus this
 * tool's in the family of that default. NULL for user credentials. */
static char *first_scopes(tool_run *tr)
{
    const lk_profile *p = tr->p;
    if (lk_profile_is_credential_auth(p) || p->scopes.n == 0)
        return NULL;
    char *dflt = scope_csv(tr->r->a, NULL, &p->scopes);
    lk_strv missing = lk_tool_missing(tr->r->a, tr->t, lk_grant_family(dflt), dflt);
    return scope_csv(tr->r->a, dflt, &missing);
}

/* The connection's stored metadata (sites) and granted scope, or NULL. */
static json_object *stored_metadata(tool_run *tr, const char **scope)
{
    *scope = NULL;
    if (!strcmp(tr->p->auth_type, "api_key"))
        return tr->p->site_metadata;
    lk_conn *c = NULL;
    if (lk_conn_load(tr->r->db, tr->r->a, tr->p->name, tr->iid, &c) != LK_OK || !c)
        return NULL;
    *scope = c->scope;
    return c->metadata;
}

/* The sites of metadata as a JSON array [{cloud_id, url, name, default}]. */
static json_object *sites_json(lk_arena *a, json_object *meta)
{
    json_object *arr = lk_json_array(a);
    lk_sites s = lk_sites_from_metadata(a, meta);
    const char *dflt = lk_json_str(meta, "cloud_id");
    for (size_t i = 0; i < s.n; i++) {
        json_object *o = json_object_new_object();
        lk_json_set_str(o, "cloud_id", s.v[i].cloud_id);
        lk_json_set_str(o, "url", s.v[i].url);
        lk_json_set_str(o, "name", s.v[i].name);
        json_object_object_add(o, "default", json_object_new_boolean(dflt && !strcmp(dflt, s.v[i].cloud_id)));
        json_object_array_add(arr, o);
    }
    const char *url = lk_json_str(meta, "site_url");
    if (s.n == 0 && url) { /* an API token's or PAT's one site */
        json_object *o = json_object_new_object();
        lk_json_set_str(o, "cloud_id", dflt);
        lk_json_set_str(o, "url", url);
        lk_json_set_str(o, "name", lk_json_str(meta, "site_name"));
        json_object_object_add(o, "default", json_object_new_boolean(1));
        json_object_array_add(arr, o);
    }
    return arr;
}

/* A tool error naming the sites to choose from. */
static void fail_sites(tool_run *tr, const char *why)
{
    lk_arena *a = tr->r->a;
    const char *scope;
    json_object *sites = sites_json(a, stored_metadata(tr, &scope));
    lk_buf b;
    lk_buf_init(&b, a, LK_TOOL_TEXT_MAX);
    lk_err rc = lk_buf_printf(&b, "%s Name one with the argument site:", why);
    for (size_t i = 0; rc == LK_OK && i < json_object_array_length(sites); i++) {
        json_object *s = json_object_array_get_idx(sites, i);
        rc = lk_buf_printf(&b, "\n- %s (cloud id %s)", lk_json_str(s, "url"),
                           lk_json_str(s, "cloud_id") ? lk_json_str(s, "cloud_id") : "none");
    }
    tool_error(a, tr->out, rc == LK_OK ? lk_buf_str(&b) : why);
}

/* Maps a failed lk_cred_get (SPEC §5 failures) onto the outcome. */
static void credential_failed(tool_run *tr, const lk_cred_failure *why)
{
    lk_arena *a = tr->r->a;
    const char *site = lk_json_str(tr->vars, "site"), *granted;
    switch (why->err) {
    case LK_ENOTCONN:
        if (!strcmp(tr->p->auth_type, "api_key"))
            rpc_error(tr->out, LK_RPC_INTERNAL, "This profile has no credential yet: an administrator sets it.");
        else
            consent(tr, "No Confluence account is connected for this user.", first_scopes(tr), site);
        break;
    case LK_EREAUTH: {
        (void)stored_metadata(tr, &granted);
        lk_strv missing = lk_tool_missing(a, tr->t, lk_grant_family(granted), granted);
        consent(tr, "The Confluence connection must be authorized again.",
                granted ? scope_csv(a, granted, &missing) : first_scopes(tr), NULL);
        break;
    }
    case LK_ESITE: fail_sites(tr, "This connection has several Atlassian sites."); break;
    case LK_EVALIDATION: fail_sites(tr, "The site asked for is not one of this connection's."); break;
    case LK_EUNAVAILABLE:
        tool_error(a, tr->out,
                   lk_printf(a, "Confluence is unavailable: the credential could not be refreshed; retry after %s s.",
                             why->retry_after ? why->retry_after : "10"));
        break;
    case LK_EDB: tool_error(a, tr->out, "The database is unavailable: retry after 5 s."); break;
    case LK_EPROVIDER:
        rpc_error(tr->out, LK_RPC_INTERNAL,
                  "The provider refused the credential refresh: the profile may be "
                  "misconfigured (the administrator has been told).");
        break;
    default: rpc_error(tr->out, LK_RPC_INTERNAL, "The credential could not be obtained."); break;
    }
}

/* lk_cred_get as the proxy calls it; a failure becomes the outcome. */
static bool get_credential(tool_run *tr)
{
    lk_cred_failure why;
    lk_err rc = lk_cred_get(tr->r, tr->p, tr->key->name, tr->iid, lk_json_str(tr->vars, "site"), "body",
                            LK_MIN_VALIDITY_DEFAULT, false, &tr->cred, &why);
    if (rc == LK_OK && !tr->cred.api_base_url) {
        rpc_error(tr->out, LK_RPC_INTERNAL, "This profile has no API base URL for this connection.");
        return false;
    }
    if (rc != LK_OK)
        credential_failed(tr, &why);
    return rc == LK_OK;
}

/* The family of the grant; -32042 asking for what it lacks. */
static bool choose_family(tool_run *tr)
{
    const char *granted = tr->cred.conn ? tr->cred.conn->scope : NULL;
    tr->fam = lk_tool_family(tr->t, granted, tr->cred.user_credential, lk_tools_profile_is_dc(tr->p));
    if (tr->fam != LK_FAMILY_NONE)
        return true;
    lk_arena *a = tr->r->a;
    lk_strv missing = lk_tool_missing(a, tr->t, lk_grant_family(granted), granted);
    char *need = scope_csv(a, NULL, &missing);
    consent(tr,
            lk_printf(a, "This tool needs the scope%s %s, which the connection was not granted.",
                      missing.n > 1 ? "s" : "", need ? need : "(none)"),
            scope_csv(a, granted, &missing), lk_json_str(tr->vars, "site"));
    return false;
}

/* vars.body in storage format, or -32602 saying what is wrong with it. */
static bool convert_body(tool_run *tr)
{
    const char *why = lk_tool_body_to_storage(tr->r->a, tr->vars);
    if (why)
        rpc_error(tr->out, LK_RPC_INVALID_PARAMS, why);
    return why == NULL;
}

/* confluence_update_page, once the page's version is read: a given
 * version must be the next one (else the page changed: nothing is
 * written); the title stays when none is given. */
static bool version_step(tool_run *tr)
{
    json_object *cur = lk_json_get(tr->vars, "current_version");
    if (!cur || !json_object_is_type(cur, json_type_int)) {
        tool_error(tr->r->a, tr->out, "Confluence's answer did not say the page's current version.");
        return false;
    }
    long long now = json_object_get_int64(cur);
    json_object *given = lk_json_get(tr->vars, "version");
    if (given && json_object_get_int64(given) != now + 1) {
        tool_error(tr->r->a, tr->out,
                   lk_printf(tr->r->a,
                             "The page changed: its current version is %lld, so version %lld is stale. Nothing was "
                             "written: read the page again (confluence_get_page) and redo the edit with version %lld.",
                             now, (long long)json_object_get_int64(given), now + 1));
        return false;
    }
    json_object_object_add(tr->vars, "next_version", json_object_new_int64(now + 1));
    const char *title = lk_json_str(tr->vars, "current_title");
    if (!lk_json_get(tr->vars, "title") && title)
        lk_json_set_str(tr->vars, "title", title);
    return true;
}

/* One HTTP exchange with the credential; a 401 for a token older than a
 * minute: one refresh and one retry, as the proxy does. */
static lk_err exchange(tool_run *tr, const char *method, const char *url, const char *body, lk_http_resp *resp)
{
    lk_req *r = tr->r;
    lk_reach reach = tr->cred.user_credential ? lk_usercred_reach(tr->p) : LK_REACH_ANY;
    for (int attempt = 0;; attempt++) {
        const char *headers[] = {lk_printf(r->a, "Authorization: %s", tr->cred.authorization),
                                 "Accept: application/json", body ? "Content-Type: application/json" : NULL, NULL};
        lk_err rc = lk_upstream_call(r->up, r->a, reach, method, url, headers, body, body ? strlen(body) : 0,
                                     LK_TOOL_ANSWER_MAX, resp);
        bool retry = rc == LK_OK && resp->status == 401 && attempt == 0 && !tr->cred.user_credential &&
                     tr->cred.conn->refreshed_ago > TOOL_RETRY_AGE;
        if (!retry)
            return rc;
        lk_refresh_out ro;
        lk_cred_failure why;
        if (lk_cred_refresh(r, tr->p, tr->key->name, tr->cred.conn, true, LK_MIN_VALIDITY_DEFAULT, &ro, &why) != LK_OK)
            return LK_OK; /* the 401 stands */
        tr->cred.conn = ro.conn;
        tr->cred.authorization = lk_printf(r->a, "%s %s", ro.conn->token_type, ro.access_token);
    }
}

/* A provider's non-2xx answer as a tool error; a 409 on a write of
 * confluence_update_page says the page changed. */
static void provider_failed(tool_run *tr, const char *method, const lk_http_resp *resp)
{
    lk_arena *a = tr->r->a;
    json_object *cur = lk_json_get(tr->vars, "current_version");
    if (resp->status == 409 && cur && strcmp(method, "GET") != 0) {
        tool_error(a, tr->out,
                   lk_printf(a,
                             "The page changed meanwhile (it was at version %lld when read): nothing was written. "
                             "Read it again and redo the edit.",
                             (long long)json_object_get_int64(cur)));
        return;
    }
    tool_error(a, tr->out, lk_tool_provider_error(a, resp->status, resp->body, resp->len, resp->retry_after));
}

/* The answer's captures into vars; false (a tool error) when one lacks. */
static bool capture(tool_run *tr, json_object *call, json_object *answer)
{
    json_object *cap = lk_json_get(call, "capture");
    if (!cap)
        return true;
    json_object_object_foreach (cap, name, path) {
        json_object *v = lk_json_path(answer, json_object_get_string(path));
        if (!v) {
            const char *missing = lk_json_str(call, "missing");
            tool_error(tr->r->a, tr->out,
                       missing ? lk_tool_message(tr->r->a, missing, tr->vars)
                               : lk_printf(tr->r->a, "Confluence's answer did not hold %s.", name));
            return false;
        }
        json_object_object_add(tr->vars, name, json_object_get(v));
    }
    return !strcmp(lk_json_str(call, "method"), "GET") && lk_json_get(cap, "current_version") ? version_step(tr) : true;
}

/* An answer's JSON (an empty object for an empty body); false (a tool
 * error) when it is not JSON. */
static bool parse_answer(tool_run *tr, const lk_http_resp *resp, json_object **answer)
{
    lk_arena *a = tr->r->a;
    *answer = lk_json_object(a);
    if (resp->len && (lk_json_parse(a, resp->body, resp->len, answer) != LK_OK || !*answer)) {
        tool_error(a, tr->out, "Confluence answered with something that is not JSON.");
        return false;
    }
    return true;
}

/* One call of the table: its request filled in, sent, judged, its
 * captures taken; *resp gets the 2xx answer. */
static bool run_call(tool_run *tr, json_object *call, lk_http_resp *resp)
{
    lk_arena *a = tr->r->a;
    const char *why = NULL, *method = lk_json_str(call, "method");
    char *path = lk_tool_path(a, lk_json_str(call, "path"), tr->vars, &why);
    char *query = lk_tool_query(a, lk_json_get(call, "query"), tr->vars);
    if (!path || !query) {
        rpc_error(tr->out, LK_RPC_INVALID_PARAMS, why ? why : "The request would be too long.");
        return false;
    }
    json_object *body = lk_tool_body(a, lk_json_get(call, "body"), tr->vars);
    lk_err rc = exchange(tr, method, lk_printf(a, "%s%s%s", tr->cred.api_base_url, path, query),
                         body ? lk_json_text(a, body) : NULL, resp);
    if (rc != LK_OK) {
        tool_error(a, tr->out,
                   rc == LK_ETIMEOUT  ? "Confluence did not answer in time; try again."
                   : rc == LK_ETOOBIG ? "Confluence's answer is too large; ask for fewer items (limit)."
                                      : "Confluence could not be reached; try again later.");
        return false;
    }
    if (resp->status < 200 || resp->status > 299) {
        provider_failed(tr, method, resp);
        return false;
    }
    json_object *answer;
    if (!lk_json_get(call, "capture"))
        return true;
    return parse_answer(tr, resp, &answer) && capture(tr, call, answer);
}

/* The site's web UI base, for links the answer gives relative. */
static const char *web_base(tool_run *tr)
{
    if (tr->fam == LK_FAMILY_DC || !tr->cred.site || !tr->cred.site->url)
        return tr->fam == LK_FAMILY_DC ? tr->cred.api_base_url : NULL;
    return lk_printf(tr->r->a, "%s/wiki", tr->cred.site->url);
}

/* The result's memo key: what lk_tool_trim reads besides the tables (the
 * tool, the family, the web base, the variables), each with its NUL so
 * that none runs into the next, then the answer's bytes. */
static char *result_key(tool_run *tr, const char *base, const lk_http_resp *resp, size_t *n)
{
    const char *fam = lk_family_name(tr->fam), *vars = lk_json_text(tr->r->a, tr->vars);
    base = base ? base : "";
    lk_span spans[] = {{tr->t->name, strlen(tr->t->name) + 1},
                       {fam, strlen(fam) + 1},
                       {base, strlen(base) + 1},
                       {vars, strlen(vars) + 1},
                       {resp->body, resp->len}};
    return lk_join(tr->r->a, spans, LK_ARRAY_LEN(spans), n);
}

/* The last answer trimmed into the result's JSON text: from the memo when
 * this answer to these variables was trimmed before. */
static void trim_answer(tool_run *tr, const lk_http_resp *resp)
{
    lk_arena *a = tr->r->a;
    const char *base = web_base(tr);
    size_t n, len;
    char *key = resp->len >= LK_TOOL_MEMO_MIN ? result_key(tr, base, resp, &n) : NULL, *text;
    if (key && lk_memo_get(a, LK_MEMO_TOOL_RESULT, key, n, &text, &len)) {
        tr->out->result_text = text;
        return;
    }
    json_object *answer, *sc;
    const char *why = NULL;
    if (!parse_answer(tr, resp, &answer))
        return;
    sc = lk_tool_trim(a, tr->t, tr->fam, answer, tr->vars, base, &why);
    if (!sc) {
        tool_error(a, tr->out, why);
        return;
    }
    tr->out->result_text = lk_json_text(a, lk_tool_result(a, sc, lk_tool_text(a, sc), false));
    if (key)
        lk_memo_put(LK_MEMO_TOOL_RESULT, key, n, tr->out->result_text, strlen(tr->out->result_text));
}

/* The family's calls in order, then the last answer trimmed. */
static void run_calls(tool_run *tr)
{
    json_object *calls = tr->t->calls[tr->fam];
    lk_http_resp resp = {0};
    for (size_t i = 0; i < json_object_array_length(calls); i++) {
        json_object *c = json_object_array_get_idx(calls, i);
        const char *when = lk_json_str(c, "when");
        if (when && !lk_json_get(tr->vars, when))
            continue;
        if (!run_call(tr, c, &resp))
            return;
    }
    trim_answer(tr, &resp);
}

/* atlassian_list_sites: the connection's sites, from what it stored. */
static void list_sites(tool_run *tr)
{
    lk_req *r = tr->r;
    lk_conn *c = NULL;
    json_object *meta = tr->p->site_metadata;
    if (strcmp(tr->p->auth_type, "api_key") != 0) {
        lk_err rc = lk_conn_load(r->db, r->a, tr->p->name, tr->iid, &c);
        if (rc != LK_OK || !strcmp(c->status, "reauthorization_required")) {
            credential_failed(tr, &(lk_cred_failure){.err = rc == LK_OK ? LK_EREAUTH : rc});
            return;
        }
        meta = c->metadata;
    }
    json_object *sc = lk_json_object(r->a);
    json_object_object_add(sc, "sites", json_object_get(sites_json(r->a, meta)));
    tr->out->result = lk_tool_result(r->a, sc, lk_tool_text(r->a, sc), false);
}

/* The arguments as variables (shared references), the site checked. */
static bool take_arguments(tool_run *tr, json_object *arguments)
{
    lk_arena *a = tr->r->a;
    json_object *args = arguments ? arguments : lk_json_object(a);
    const char *why = lk_tool_args_check(a, tr->t, args);
    if (why) {
        rpc_error(tr->out, LK_RPC_INVALID_PARAMS, why);
        return false;
    }
    tr->vars = lk_json_object(a);
    json_object_object_foreach (args, k, v)
        json_object_object_add(tr->vars, k, json_object_get(v));
    const char *site = lk_json_str(tr->vars, "site");
    if (site && !lk_site_valid(site)) {
        rpc_error(tr->out, LK_RPC_INVALID_PARAMS, "Argument site must be a cloud id or a host name.");
        return false;
    }
    return true;
}

void lk_tool_call(lk_req *r, const lk_profile *p, const lk_botkey *key, const char *instance_id, const char *name,
                  json_object *arguments, lk_tool_outcome *out)
{
    memset(out, 0, sizeof(*out));
    tool_run tr = {.r = r, .p = p, .key = key, .iid = instance_id, .out = out};
    tr.t = lk_tools_find(p, name);
    if (!tr.t) {
        rpc_error(out, LK_RPC_INVALID_PARAMS,
                  lk_printf(r->a, "Unknown tool: %s.", name && strlen(name) <= 64 ? name : "(a long name)"));
        return;
    }
    if (key->read_only && !tr.t->read_only) {
        rpc_error(out, LK_RPC_INVALID_PARAMS,
                  lk_printf(r->a, "This bot key is read-only: %s changes Confluence and is not allowed.", tr.t->name));
        return;
    }
    if (!take_arguments(&tr, arguments))
        return;
    if (tr.t->local) {
        list_sites(&tr);
        return;
    }
    if (get_credential(&tr) && choose_family(&tr) && convert_body(&tr))
        run_calls(&tr);
}
