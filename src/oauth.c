#include "oauth.h"

#include <string.h>

#include "buf.h"
#include "form.h"
#include "json.h"
#include "text.h"

/* Bounds of a token endpoint's answer, of the request we send it, of a
 * token in the answer, of its token_type and of its scope list. */
#define TOKEN_ANSWER_MAX ((size_t)256 * 1024)
#define TOKEN_REQUEST_MAX ((size_t)64 * 1024)
#define TOKEN_MAX 16384
#define TOKEN_TYPE_MAX 64
#define SCOPE_TEXT_MAX 8192
/* expires_in as a string: at most this many digits. */
#define EXPIRES_IN_DIGITS_MAX 10

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
    lk_buf_init(&b, a, TOKEN_REQUEST_MAX);
    lk_err rc = LK_OK;
    for (const char *const *p = params; rc == LK_OK && p[0]; p += 2)
        rc = lk_buf_printf(&b, "%s%s=%s", b.len ? "&" : "", lk_pct_encode(a, p[0]), lk_pct_encode(a, p[1]));
    if (!strcmp(style, "basic")) {
        char *pair =
            lk_printf(a, "%s:%s", lk_pct_encode(a, c->client_id), lk_pct_encode(a, c->secret ? c->secret : ""));
        out->authorization =
            lk_printf(a, "Authorization: Basic %s", lk_b64_encode(a, (const unsigned char *)pair, strlen(pair)));
    } else {
        if (rc == LK_OK)
            rc = lk_buf_printf(&b, "%sclient_id=%s", b.len ? "&" : "", lk_pct_encode(a, c->client_id));
        if (rc == LK_OK && c->secret)
            rc = lk_buf_printf(&b, "&client_secret=%s", lk_pct_encode(a, c->secret));
    }
    if (rc != LK_OK)
        return rc;
    out->content_type = "Content-Type: application/x-www-form-urlencoded";
    out->body = (char *)lk_buf_str(&b);
    return LK_OK;
}

/* RFC 6749 A.12/A.13 and SPEC §5: tokens are printable ASCII without
 * spaces. They go into Authorization headers, where a CR or LF would start a
 * header of its own and a space would end the credential early. */
static bool token_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* RFC 9110 §5.6.2: token = 1*tchar. A token_type is the first word of the
 * Authorization header built from it. */
static bool http_token(const char *s)
{
    size_t n = strlen(s);
    return n <= TOKEN_TYPE_MAX && lk_http_token(s, n);
}

/* RFC 6749 §3.3: scope tokens separated by spaces (NQCHAR and SP). */
static bool scope_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* expires_in (RFC 6749 §5.1): a positive whole number of seconds, at most
 * ten years; a string of digits is taken too (some providers quote it).
 * -1 when absent, 0 when present but not such a number. */
static long long expires_in_of(json_object *ei)
{
    if (!ei)
        return -1;
    long long v = 0;
    if (json_object_is_type(ei, json_type_int)) {
        v = json_object_get_int64(ei);
        return v > 0 && v <= LK_EXPIRES_IN_MAX ? v : 0;
    }
    if (!json_object_is_type(ei, json_type_string))
        return 0;
    const char *s = json_object_get_string(ei);
    size_t n = strlen(s);
    if (n > EXPIRES_IN_DIGITS_MAX || !lk_parse_int_n(s, n, 1, LK_EXPIRES_IN_MAX, &v))
        return 0;
    return v;
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

/* An answer other than 200 (or a 200 naming an error): judged by its
 * status, then by its RFC 6749 §5.2 error code. */
static lk_oauth_fail judge_error(lk_arena *a, long status, const char *body, size_t len, const char **code)
{
    if (status == 429 || status >= 500) {
        *code = status == 429 ? "rate_limited" : "provider_server_error";
        return LK_OAUTH_TRANSIENT;
    }
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

/* Nothing from the provider is stored or forwarded unchecked (SPEC §5):
 * the code naming the first malformed field of a token answer, or NULL
 * when all are fine (*expires_in then holds expires_in_of's value). */
static const char *malformed_field(json_object *o, long long *expires_in)
{
    const char *at = lk_json_str(o, "access_token");
    if (!at || !*at || strlen(at) > TOKEN_MAX || !token_chars(at))
        return "no_access_token";
    json_object *rtv = lk_json_get(o, "refresh_token");
    const char *rt = lk_json_str(o, "refresh_token");
    if ((rtv && !rt) || (rt && (strlen(rt) > TOKEN_MAX || (*rt && !token_chars(rt)))))
        return "malformed_refresh_token";
    json_object *ttv = lk_json_get(o, "token_type");
    const char *tt = lk_json_str(o, "token_type");
    if ((ttv && !tt) || (tt && !http_token(tt)))
        return "malformed_token_type";
    json_object *scv = lk_json_get(o, "scope");
    const char *sc = lk_json_str(o, "scope");
    if ((scv && !sc) || (sc && (strlen(sc) > SCOPE_TEXT_MAX || !scope_chars(sc))))
        return "malformed_scope";
    *expires_in = expires_in_of(lk_json_get(o, "expires_in"));
    return *expires_in == 0 ? "malformed_expires_in" : NULL;
}

lk_oauth_fail lk_oauth_parse(lk_arena *a, long status, const char *body, size_t len, lk_tokens *t, const char **code)
{
    memset(t, 0, sizeof(*t));
    t->expires_in = -1;
    *code = NULL;
    if (status != 200)
        return judge_error(a, status, body, len, code);
    json_object *o = NULL;
    if (lk_json_parse(a, body, len, &o) != LK_OK || !json_object_is_type(o, json_type_object)) {
        *code = "malformed_answer";
        return LK_OAUTH_NONSENSE;
    }
    if (!lk_json_str(o, "access_token") && lk_json_str(o, "error"))
        /* Some providers answer errors with 200: judge them as errors. */
        return judge_error(a, 400, body, len, code);
    long long ei = 0;
    *code = malformed_field(o, &ei);
    if (*code)
        return LK_OAUTH_NONSENSE;
    const char *rt = lk_json_str(o, "refresh_token");
    const char *tt = lk_json_str(o, "token_type");
    const char *sc = lk_json_str(o, "scope");
    t->access_token = lk_strdup(a, lk_json_str(o, "access_token"));
    t->refresh_token = rt && *rt ? lk_strdup(a, rt) : NULL;
    t->token_type = lk_strdup(a, tt ? tt : "Bearer");
    if (lk_ieq(t->token_type, "bearer"))
        t->token_type = "Bearer";
    t->scope = sc ? lk_strdup(a, sc) : NULL;
    t->expires_in = ei;
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
    if (lk_oauth_build(a, style, c, params, &tr) != LK_OK) {
        memset(t, 0, sizeof(*t));
        *code = "request_too_large";
        return LK_OAUTH_CONFIG;
    }
    const char *headers[] = {tr.content_type, "Accept: application/json", tr.authorization, NULL};
    lk_http_resp resp;
    lk_err rc =
        lk_upstream_call(u, a, LK_REACH_ANY, "POST", url, headers, tr.body, strlen(tr.body), TOKEN_ANSWER_MAX, &resp);
    if (rc != LK_OK) {
        memset(t, 0, sizeof(*t));
        *code = rc == LK_ETIMEOUT ? "timeout" : rc == LK_ETOOBIG ? "answer_too_large" : "connection_failed";
        return lk_oauth_transport(rc);
    }
    *retry_after = resp.retry_after;
    return lk_oauth_parse(a, resp.status, resp.body, resp.len, t, code);
}
