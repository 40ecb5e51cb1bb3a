/* What the OAuth callback (flow.c) and the credential form (credform.c)
 * share, declared in flow_int.h: a pending flow's row and the cookie that
 * binds it to one browser, the error page, and how a flow ends (SPEC §4):
 * its link used up and its grant written in one short transaction, the
 * result told by a redirect to the caller's redirect_url or by a page. */
#include "flow_int.h"

#include <string.h>

#include "audit.h"
#include "buf.h"
#include "conn.h"
#include "cookie.h"
#include "crypto.h"
#include "text.h"
#include "url.h"

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

const char *lk_flow_cookie_path(lk_arena *a, const char *url)
{
    lk_url u;
    if (lk_url_parse(a, url, &u) != LK_OK)
        return "/";
    return u.path;
}

lk_err lk_flow_fail_page(lk_req *r, lk_err e, const char *detail)
{
    lk_fail(r, e, "%s", detail);
    lk_page_error(r);
    return e;
}

const lk_profile *lk_flow_browser_profile(lk_req *r, const char *name, const char *unknown)
{
    const lk_profile *p = NULL;
    lk_err rc = lk_valid_profile_name(name, strlen(name)) ? lk_profile_load(r->db, r->a, name, &p) : LK_ENOPROFILE;
    if (rc == LK_OK)
        return p;
    lk_flow_fail_page(r, rc == LK_ENOPROFILE ? rc : LK_EDB, rc == LK_ENOPROFILE ? unknown : LK_FLOW_UNAVAILABLE);
    return NULL;
}

lk_flow_row lk_flow_from_row(lk_arena *a, PGresult *res)
{
    lk_flow_row f = {
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

bool lk_flow_cookie_matches(lk_req *r, const char *cookie_name, const char *cookie_hash)
{
    const char *cookie = lk_cookie_get(r->a, lk_req_header(r, "HTTP_COOKIE"), cookie_name);
    return cookie && cookie_hash && lk_ct_equal(lk_sha256_hex(r->a, cookie), cookie_hash, 64);
}

lk_err lk_flow_link_unused(lk_req *r, const lk_flow_row *f)
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

/* Inside the transaction: takes the flow (when take_flow), uses up its
 * link and writes the grant. */
static lk_err write_grant(lk_req *r, const lk_profile *p, const lk_flow_row *f, const char *client_id,
                          const lk_tokens *t, json_object *meta, bool take_flow)
{
    PGresult *res;
    lk_err rc = LK_OK;
    if (take_flow) {
        const char *idp[] = {f->id};
        rc = lk_db_exec(r->db, r->a, &q_flow_consume, idp, &res);
        if (rc == LK_OK && PQntuples(res) != 1)
            rc = LK_ESTATE;
        else if (rc == LK_OK && !lk_db_bool(res, 0, "live"))
            rc = LK_EFLOW;
    }
    if (rc == LK_OK && f->link_id) {
        const char *lp[] = {f->link_id};
        rc = lk_db_exec(r->db, r->a, &q_link_consume, lp, &res);
        if (rc == LK_OK && PQntuples(res) != 1)
            rc = LK_ELINK;
    }
    if (rc == LK_OK)
        rc = lk_conn_write_grant(r->db, r->a, r->cfg, p, f->instance_id, client_id, t, meta, !f->no_replace, NULL);
    return rc;
}

lk_err lk_flow_store_grant(lk_req *r, const lk_profile *p, const lk_flow_row *f, const char *client_id,
                           const lk_tokens *t, json_object *meta, bool take_flow)
{
    lk_err rc = LK_ECONFLICT;
    /* A second round only when a concurrent first connect won the insert:
     * it is then replaced in place. */
    for (int attempt = 0; attempt < 2 && rc == LK_ECONFLICT; attempt++) {
        rc = lk_db_begin(r->db);
        if (rc != LK_OK)
            break;
        rc = write_grant(r, p, f, client_id, t, meta, take_flow);
        if (rc == LK_OK)
            rc = lk_db_commit(r->db);
        if (rc != LK_OK)
            lk_db_rollback(r->db);
    }
    return rc;
}

const char *lk_flow_store_failure(lk_err rc)
{
    switch (rc) {
    case LK_ECONNECTED: return "An account is already connected for this user; nothing was changed.";
    case LK_ELINK: return "An account was already connected through this link; nothing was changed.";
    case LK_EFLOW: return "The sign-in took longer than allowed.";
    default: return "The connection could not be stored. Try again shortly.";
    }
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

void lk_flow_end_with_result(lk_req *r, const lk_profile *p, const lk_flow_row *f, lk_err e, const char *detail,
                             const char *site_name)
{
    lk_arena *a = r->a;
    lk_audit(r->db, a, "browser", "connection.authorize", p->name, f->instance_id, e ? lk_err_code(e) : "ok", NULL);
    char *u = NULL;
    /* A result URL too long to redirect to: the page says what happened. */
    if (f->redirect_url &&
        lk_flow_result_url(a, f->redirect_url, e ? lk_err_code(e) : NULL, p->name, f->instance_id, &u) == LK_OK) {
        lk_resp_redirect(r, strcmp(r->method, "POST") ? 302 : 303, u);
    } else if (e) {
        lk_flow_fail_page(r, e, detail);
    } else {
        const char *what = site_name && *site_name
                               ? lk_printf(a, "Your %s account (%s) is now connected.", p->display_name, site_name)
                               : lk_printf(a, "Your %s account is now connected.", p->display_name);
        lk_page_send(r, 200, "Connected", "You're all set", what,
                     "You can close this window and return to the application.");
    }
}
