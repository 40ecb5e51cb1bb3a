#include "oauth.h"

#include <string.h>

#include "buf.h"
#include "form.h"
#include "json.h"
#include "text.h"

#define TOKEN_ANSWER_MAX ((size_t)256 * 1024)

lk_err lk_oauth_build(lk_arena *a, const char *style, const lk_client *c, const char *const *params,
                      lk_token_request *out)
{
    memset(out, 0, sizeof(*out));
    if (!strcmp(style, "json")) {
        json_object *o = lk_json_object(a);
        for (const char *const *p = params; p[0]; p += 2)
            lk_json_set_str(o, p[0], p[1]);
        lk_json_set_str(o, "client_id", c->client_id);
        lk_json_set_str(o, "client_secret", c->secret);
        out->content_type = "Content-Type: application/json";
        out->body = (char *)lk_json_text(a, o);
        return LK_OK;
    }
    lk_buf b;
    lk_buf_init(&b, a, 1 << 16);
    for (const char *const *p = params; p[0]; p += 2)
        lk_buf_printf(&b, "%s%s=%s", b.len ? "&" : "", lk_pct_encode(a, p[0]), lk_pct_encode(a, p[1]));
    if (!strcmp(style, "basic")) {
        char *pair =
            lk_printf(a, "%s:%s", lk_pct_encode(a, c->client_id), lk_pct_encode(a, c->secret ? c->secret : ""));
        out->authorization =
            lk_printf(a, "Authorization: Basic %s", lk_b64_encode(a, (const unsigned char *)pair, strlen(pair)));
    } else {
        lk_buf_printf(&b, "%sclient_id=%s", b.len ? "&" : "", lk_pct_encode(a, c->client_id));
        if (c->secret)
            lk_buf_printf(&b, "&client_secret=%s", lk_pct_encode(a, c->secret));
    }
    out->content_type = "Content-Type: application/x-www-form-urlencoded";
    out->body = (char *)lk_buf_str(&b);
    return LK_OK;
}

/* RFC 6749 A.12/A.17: tokens are VSCHAR (%x20-7E). They go into
 * Authorization headers, where a CR or LF would start a header of its own. */
static bool vschar(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static const char *error_code_of(lk_arena *a, const char *body, size_t len)
{
    json_object *o = NULL;
    if (lk_json_parse(a, body, len, &o) != LK_OK)
        return NULL;
    const char *e = lk_json_str(o, "error");
    if (!e)
        return NULL;
    /* RFC 6749 §5.2 codes are a small token set: echo only those. */
    static const char *const known[] = {
        "invalid_request", "invalid_client", "invalid_grant",           "unauthorized_client", "unsupported_grant_type",
        "invalid_scope",   "access_denied",  "temporarily_unavailable", "server_error",        NULL};
    for (const char *const *k = known; *k; k++)
        if (!strcmp(e, *k))
            return *k;
    return "unknown_error";
}

lk_oauth_fail lk_oauth_parse(lk_arena *a, long status, const char *body, size_t len, lk_tokens *t, const char **code)
{
    memset(t, 0, sizeof(*t));
    t->expires_in = -1;
    *code = NULL;
    if (status == 429 || status >= 500) {
        *code = status == 429 ? "rate_limited" : "provider_server_error";
        return LK_OAUTH_TRANSIENT;
    }
    if (status != 200) {
        const char *e = error_code_of(a, body, len);
        *code = e ? e : "unexpected_status";
        if (!e)
            return LK_OAUTH_NONSENSE;
        if (!strcmp(e, "invalid_grant"))
            return LK_OAUTH_GRANT;
        if (!strcmp(e, "temporarily_unavailable") || !strcmp(e, "server_error"))
            return LK_OAUTH_TRANSIENT;
        if (!strcmp(e, "invalid_client") || !strcmp(e, "unauthorized_client") || !strcmp(e, "unsupported_grant_type") ||
            !strcmp(e, "invalid_request") || !strcmp(e, "access_denied") || !strcmp(e, "invalid_scope"))
            return LK_OAUTH_CONFIG;
        return LK_OAUTH_NONSENSE;
    }
    json_object *o = NULL;
    if (lk_json_parse(a, body, len, &o) != LK_OK || !json_object_is_type(o, json_type_object)) {
        *code = "malformed_answer";
        return LK_OAUTH_NONSENSE;
    }
    const char *at = lk_json_str(o, "access_token");
    if (!at && lk_json_str(o, "error"))
        /* Some providers answer errors with 200: judge them as errors. */
        return lk_oauth_parse(a, 400, body, len, t, code);
    if (!at || !*at || strlen(at) > 16384 || !vschar(at)) {
        *code = "no_access_token";
        return LK_OAUTH_NONSENSE;
    }
    const char *rt = lk_json_str(o, "refresh_token");
    if (rt && !vschar(rt)) {
        *code = "malformed_answer";
        return LK_OAUTH_NONSENSE;
    }
    t->access_token = lk_strdup(a, at);
    t->refresh_token = rt && *rt ? lk_strdup(a, rt) : NULL;
    const char *tt = lk_json_str(o, "token_type");
    t->token_type = lk_strdup(a, tt && *tt ? tt : "Bearer");
    if (lk_ieq(t->token_type, "bearer"))
        t->token_type = "Bearer";
    const char *sc = lk_json_str(o, "scope");
    t->scope = sc ? lk_strdup(a, sc) : NULL;
    json_object *ei = lk_json_get(o, "expires_in");
    if (ei && (json_object_is_type(ei, json_type_int) || json_object_is_type(ei, json_type_string))) {
        long long v = json_object_get_int64(ei);
        if (v > 0 && v < 10LL * 365 * 86400)
            t->expires_in = v;
    }
    return LK_OAUTH_OK;
}

lk_oauth_fail lk_oauth_transport(lk_err rc)
{
    return rc == LK_ETOOBIG ? LK_OAUTH_NONSENSE : LK_OAUTH_TRANSIENT;
}

lk_oauth_fail lk_oauth_token_call(lk_upstream *u, lk_arena *a, const char *url, const char *style, const lk_client *c,
                                  const char *const *params, lk_tokens *t, const char **code, const char **retry_after)
{
    lk_token_request tr;
    *retry_after = NULL;
    lk_oauth_build(a, style, c, params, &tr);
    const char *headers[] = {tr.content_type, "Accept: application/json", tr.authorization, NULL};
    lk_http_resp resp;
    lk_err rc = lk_upstream_call(u, a, "POST", url, headers, tr.body, strlen(tr.body), TOKEN_ANSWER_MAX, &resp);
    if (rc != LK_OK) {
        memset(t, 0, sizeof(*t));
        *code = rc == LK_ETIMEOUT ? "timeout" : rc == LK_ETOOBIG ? "answer_too_large" : "connection_failed";
        return lk_oauth_transport(rc);
    }
    *retry_after = resp.retry_after;
    return lk_oauth_parse(a, resp.status, resp.body, resp.len, t, code);
}
