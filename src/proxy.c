#include "proxy.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cred.h"
#include "gate.h"
#include "log.h"
#include "text.h"
#include "upstream.h"
#include "url.h"
#include "usercred.h"

/* An answer of known length up to this goes out whole at the end, without
 * a flush per chunk. */
#define LK_PROXY_SMALL_ANSWER_MAX 65536
/* A 401 for a token refreshed longer ago than this (seconds) is retried
 * once after a refresh. */
#define LK_PROXY_RETRY_AGE 60

static bool in_list(const char *name, size_t n, const char *const *list)
{
    for (const char *const *l = list; *l; l++)
        if (lk_ieqn(name, n, *l))
            return true;
    return false;
}

/* RFC 9110 §7.6.1 hop-by-hop fields, and RFC 2616's. */
static const char *const HOP[] = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te",         "trailer",    "trailers",           "transfer-encoding",   "upgrade",
    NULL};

bool lk_proxy_request_header_ok(const char *name)
{
    static const char *const ours[] = {"host",           "authorization", "cookie",    "x-instance-id", "x-site",
                                       "content-length", "expect",        "forwarded", "x-real-ip",     NULL};
    size_t n = strlen(name);
    if (in_list(name, n, HOP) || in_list(name, n, ours))
        return false;
    return !(n >= 12 && lk_ieqn(name, 12, "x-forwarded-"));
}

bool lk_proxy_response_header_ok(const char *name, size_t n)
{
    /* A name that is no token (" Set-Cookie", "set-cookie ") is no field
     * (RFC 9110 §5.1), yet a web server may trim it into one that we
     * drop: it goes nowhere. */
    if (!lk_http_token(name, n))
        return false;
    /* Status would be read as the CGI status by the web server. */
    static const char *const drop[] = {"set-cookie", "set-cookie2", "status", NULL};
    return !in_list(name, n, HOP) && !in_list(name, n, drop);
}

char *lk_proxy_location(lk_arena *a, const char *upstream_url, const char *value)
{
    char *abs;
    if (lk_url_resolve(a, upstream_url, value, &abs) != LK_OK)
        return NULL;
    return abs;
}

char *lk_proxy_header_name(lk_arena *a, const char *var, size_t n)
{
    const char *s;
    size_t sl;
    if (n == 12 && !strncmp(var, "CONTENT_TYPE", 12)) {
        s = var;
        sl = n;
    } else if (n > 5 && !strncmp(var, "HTTP_", 5)) {
        s = var + 5;
        sl = n - 5;
    } else {
        return NULL;
    }
    /* A name that is no token (CR, LF, ':', NUL...) would split or bend
     * the header line it goes into. */
    if (!lk_http_token(s, sl))
        return NULL;
    char *out = lk_strndup(a, s, sl);
    bool start = true;
    for (char *c = out; *c; c++) {
        if (*c == '_') {
            *c = '-';
            start = true;
        } else {
            if (!start && *c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
            start = false;
        }
    }
    return out;
}

/* The state of one proxied call. */
typedef struct call {
    lk_req *r;
    const char *url;     /* the upstream URL called */
    long long body_left; /* from the client, streamed (-1: unknown length) */
    long long body_read; /* of a body of unknown length, so far */
    bool too_big;        /* that body passed proxy_max_body */
    long long sent;      /* bytes of answer body passed back */
    bool allow_retry;    /* a 401 may be swallowed for one retry */
    bool got_401;
    bool began;
    bool small; /* a short answer of known length: no flush per chunk */
} call;

static ssize_t client_read(void *ctx, char *buf, size_t n)
{
    call *c = ctx;
    if (c->body_left == 0)
        return 0;
    if (c->body_left > 0 && (long long)n > c->body_left)
        n = (size_t)c->body_left;
    ssize_t got = c->r->io.read(c->r->io.ctx, buf, n);
    if (got < 0)
        return -1;
    if (got == 0 && c->body_left > 0)
        return -1; /* the client stopped short of its Content-Length */
    if (c->body_left > 0)
        c->body_left -= got;
    /* A body without Content-Length (chunked) is counted here: a web
     * server that cut it off at its own cap must not pass as whole. */
    if (c->body_left < 0) {
        c->body_read += got;
        if (c->body_read > c->r->cfg->proxy_max_body) {
            c->too_big = true;
            return -1;
        }
    }
    if (c->body_left == 0 || got == 0)
        c->r->input_done = true;
    return got;
}

/* A Content-Length value (with its optional whitespace) of at most
 * LK_PROXY_SMALL_ANSWER_MAX bytes. */
static bool is_small_length(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    long long len;
    return lk_parse_int_n(v, n, 0, LK_PROXY_SMALL_ANSWER_MAX, &len);
}

static lk_head_action on_head(void *ctx, long status, char **lines, size_t n)
{
    call *c = ctx;
    if (status == 401 && c->allow_retry) {
        c->got_401 = true;
        return LK_HEAD_SWALLOW; /* refresh and retry */
    }
    c->small = false;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(lines[i], ':');
        if (!colon || colon == lines[i])
            continue;
        size_t nl = (size_t)(colon - lines[i]);
        /* A short answer of known length arrives at once: let it go out
         * whole at the end rather than chunk by chunk (fewer writes). */
        if (lk_ieqn(lines[i], nl, "content-length") && is_small_length(colon + 1))
            c->small = true;
        if (!lk_proxy_response_header_ok(lines[i], nl))
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        /* A relative Location on a 200 is an internal redirect to Apache's
         * CGI and mod_fcgid, which would run the bot's request (its
         * Authorization too) on any path of this host: only absolute ones
         * go back (SPEC §6). */
        if (lk_ieqn(lines[i], nl, "location")) {
            v = lk_proxy_location(c->r->a, c->url, v);
            if (!v)
                continue;
        }
        lk_resp_header(c->r, lk_strndup(c->r->a, lines[i], nl), v);
    }
    c->began = true;
    bool begun = lk_resp_begin(c->r, status < 100 || status > 999 ? 502 : (int)status, !c->small) == 0;
    return begun ? LK_HEAD_STREAM : LK_HEAD_ABORT;
}

static int on_body(void *ctx, const char *p, size_t n)
{
    call *c = ctx;
    c->sent += (long long)n;
    return lk_resp_write(c->r, p, n, !c->small);
}

/* The request headers to pass on, and the credential's. */
static const char **upstream_headers(lk_req *r, const char *authorization, const char **why)
{
    size_t count = 0;
    for (char *const *e = r->env; e && *e; e++)
        count++;
    const char **h = lk_alloc(r->a, (count + 2) * sizeof(char *));
    size_t k = 0;
    /* Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
    const char *conn = lk_req_header(r, "HTTP_CONNECTION");
    for (char *const *e = r->env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *name = lk_proxy_header_name(r->a, *e, (size_t)(eq - *e));
        if (!name || !lk_proxy_request_header_ok(name))
            continue;
        if (conn) {
            bool listed = false;
            const char *t = conn;
            while (*t) {
                while (*t == ' ' || *t == ',')
                    t++;
                size_t tl = strcspn(t, " ,");
                if (tl && lk_ieqn(t, tl, name))
                    listed = true;
                t += tl;
            }
            if (listed)
                continue;
        }
        const char *v = eq + 1;
        if (strpbrk(v, "\r\n")) {
            *why = "A request header value holds CR or LF.";
            return NULL;
        }
        h[k++] = lk_printf(r->a, "%s: %s", name, v);
    }
    h[k++] = authorization;
    h[k] = NULL;
    return h;
}

static bool header_value_ok(const char *v)
{
    return !v || !strpbrk(v, "\r\n");
}

/* What a proxied request asks for, once checked. */
typedef struct proxied {
    lk_botkey key;
    const lk_profile *p;
    const char *sub;    /* the sub-path, still percent-encoded */
    const char *iid;    /* X-Instance-Id */
    const char *site;   /* X-Site, or NULL */
    long long body_len; /* -1: unknown, read to the end */
} proxied;

/* The route, then SPEC §2's gate (a read-only key: GET and HEAD only, SPEC
 * §10), X-Instance-Id, the sub-path and X-Site.
 * Fails through lk_fail. */
static bool check_request(lk_req *r, proxied *pr)
{
    const char *rest;
    if (!lk_route_is(r, "proxy", &rest)) {
        lk_fail(r, LK_ENOPROFILE, "No such route.");
        return false;
    }
    const char *slash = strchr(rest, '/');
    const char *name = slash ? lk_strndup(r->a, rest, (size_t)(slash - rest)) : rest;
    pr->sub = slash ? slash : "/";
    pr->site = lk_req_header(r, "HTTP_X_SITE");
    bool reads = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    const char *refusal = reads ? NULL : "This API key is read-only: only GET and HEAD go through the proxy.";
    if (lk_bot_gate_header(r, name, refusal, &pr->key, &pr->p, &pr->iid) != LK_OK)
        return false;
    if (!pr->iid) {
        lk_fail_field(r, "header", "x-instance-id", "Field required", "missing");
        return false;
    }
    const lk_strv *prefixes = &pr->p->proxy_path_prefixes;
    const char *why = NULL;
    if (lk_url_path_check(r->a, pr->sub, prefixes->v, prefixes->n, &why) != LK_OK) {
        lk_fail(r, LK_EINVAL, "%s", why);
        return false;
    }
    if (!header_value_ok(pr->site) || (pr->site && !lk_site_valid(pr->site))) {
        lk_fail_field(r, "header", "x-site", "Value error, X-Site must be a cloud id or a host name", "value_error");
        return false;
    }
    return true;
}

static void fail_too_big(lk_req *r)
{
    lk_fail(r, LK_ETOOBIG, "The request body is larger than %ld bytes.", r->cfg->proxy_max_body);
}

/* The body's length: known (CONTENT_LENGTH), none for methods that carry
 * none, or -1 to read it to the end (SPEC §8a). A 400 or 413 otherwise. */
static bool body_length(lk_req *r, long long *len)
{
    const char *cl = lk_req_env(r, "CONTENT_LENGTH");
    *len = -1;
    if (cl && *cl) {
        if (!lk_parse_int(cl, 0, LLONG_MAX, len)) {
            lk_fail(r, LK_EINVAL, "Content-Length is not a number.");
            return false;
        }
    } else if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD") || !strcmp(r->method, "DELETE") ||
               !strcmp(r->method, "OPTIONS")) {
        *len = 0;
    }
    if (*len > r->cfg->proxy_max_body) {
        fail_too_big(r);
        return false;
    }
    return true;
}

/* A small body is kept so that a 401 can be retried once: *body gets it
 * ("" when empty), or NULL when it is to be streamed. */
static bool keep_small_body(lk_req *r, long long body_len, char **body)
{
    *body = NULL;
    if (body_len < 0 || body_len > LK_PROXY_REPLAY_MAX)
        return true;
    size_t got;
    if (body_len > 0 && lk_req_body(r, (size_t)LK_PROXY_REPLAY_MAX, body, &got) != LK_OK)
        return false;
    if (!*body)
        *body = "";
    return true;
}

/* After one exchange: answers what failed before the answer began (or
 * notes an answer cut short), and says whether a swallowed 401 asks for a
 * refresh and one retry. */
static bool retry_wanted(lk_req *r, const call *c, lk_err rc)
{
    if (c->began) {
        if (rc != LK_OK)
            lk_warn("proxied answer cut short after %lld bytes: %s", c->sent, lk_err_code(rc));
        return false;
    }
    if (c->too_big) {
        fail_too_big(r);
        return false;
    }
    if (rc == LK_ETIMEOUT) {
        lk_fail(r, LK_ETIMEOUT, "The upstream API did not answer in time.");
        return false;
    }
    if (rc != LK_OK) {
        lk_fail(r, LK_EUPSTREAM, "The upstream API could not be reached.");
        return false;
    }
    return c->got_401;
}

/* Calls the API with the credential and streams the answer back; a 401
 * for a token older than LK_PROXY_RETRY_AGE seconds may mean it was
 * revoked: one refresh and one retry (never for a fresh token, where a 401
 * means a missing scope and a refresh would only burn a rotation). */
static void forward(lk_req *r, const proxied *pr, lk_cred *cred, const char *body)
{
    lk_arena *a = r->a;
    char *url = lk_printf(a, "%s%s%s%s", cred->api_base_url, pr->sub, *r->query ? "?" : "", r->query);
    /* An empty POST, PUT or PATCH still says "Content-Length: 0" upstream
     * (RFC 9110 §8.6); servers answer 411 to one without it. */
    bool has_content = !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") || !strcmp(r->method, "PATCH");
    call c = {.r = r, .url = url, .body_left = pr->body_len};
    lk_stream s = {
        .method = r->method,
        .url = url,
        .no_body = pr->body_len == 0 && !has_content,
        .body = body,
        .body_len = pr->body_len,
        .read = client_read,
        .ctx = &c,
        .timeout_ms = r->cfg->proxy_timeout_ms,
        /* Sites that users name go only to public addresses, unless the
         * profile allows private ones (SPEC §8a: checked on connecting). */
        .reach = cred->user_credential ? lk_usercred_reach(pr->p) : LK_REACH_ANY,
        .on_head = on_head,
        .on_body = on_body,
    };
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *why = NULL;
        s.headers = upstream_headers(r, lk_printf(a, "Authorization: %s", cred->authorization), &why);
        if (!s.headers) {
            lk_fail(r, LK_EINVAL, "%s", why);
            return;
        }
        c.allow_retry =
            attempt == 0 && body && !cred->user_credential && cred->conn->refreshed_ago > LK_PROXY_RETRY_AGE;
        c.got_401 = false;
        if (!retry_wanted(r, &c, lk_upstream_stream(r->up, a, &s)))
            return;
        lk_refresh_out ro;
        lk_cred_failure failure;
        if (lk_cred_refresh(r, pr->p, pr->key.name, cred->conn, true, LK_MIN_VALIDITY_DEFAULT, &ro, &failure) !=
            LK_OK) {
            lk_fail_cred(r, &failure);
            return;
        }
        cred->conn = ro.conn;
        cred->authorization = lk_printf(a, "%s %s", ro.conn->token_type, ro.access_token);
    }
}

void lk_proxy_endpoint(lk_req *r)
{
    proxied pr;
    if (!check_request(r, &pr) || !body_length(r, &pr.body_len))
        return;
    lk_cred cred;
    lk_cred_failure failure;
    if (lk_cred_get(r, pr.p, pr.key.name, pr.iid, pr.site, "header", LK_MIN_VALIDITY_DEFAULT, false, &cred, &failure) !=
        LK_OK) {
        lk_fail_cred(r, &failure);
        return;
    }
    if (!cred.api_base_url) {
        lk_fail(r, LK_EPROVIDER, "This profile has no API base URL for this connection.");
        return;
    }
    char *body;
    if (!keep_small_body(r, pr.body_len, &body))
        return;
    forward(r, &pr, &cred, body);
}
