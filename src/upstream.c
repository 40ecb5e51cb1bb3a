#include "upstream.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"
#include "text.h"
#include "url.h"

struct lk_upstream {
    CURL *h;
    const lk_config *cfg;
};

bool lk_addr_is_private(int family, const unsigned char *b)
{
    if (family == AF_INET) {
        return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 100 && (b[1] & 0xc0) == 64) ||
               (b[0] == 169 && b[1] == 254) || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
               (b[0] == 192 && b[1] == 0 && b[2] == 0) || (b[0] == 198 && (b[1] & 0xfe) == 18) || b[0] >= 224;
    }
    if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0x80) == 0x80) || b[0] == 0xff)
        return true; /* fc00::/7, fe80::/10 and the old site-local fec0::/10, ff00::/8 */
    /* Forms that carry an IPv4 address, each judged by the address it
     * carries, whatever the rest holds: IPv4-compatible ::a.b.c.d (::/96,
     * so :: and ::1 too), IPv4-mapped ::ffff:0:0/96, IPv4-translated
     * ::ffff:0:0:0/96 (RFC 2765), NAT64 64:ff9b::/96 (RFC 6052). */
    static const unsigned char compat[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (!memcmp(b, compat, 12) || !memcmp(b, mapped, 12) || !memcmp(b, translated, 12) || !memcmp(b, nat64, 12))
        return lk_addr_is_private(AF_INET, b + 12);
    /* The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) embeds where its
     * operator chose, behind a private translator: all of it. */
    if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
        return true;
    /* 6to4 2002:a.b.c.d::/48 (RFC 3056): the relay delivers to a.b.c.d. */
    if (b[0] == 0x20 && b[1] == 0x02)
        return lk_addr_is_private(AF_INET, b + 2);
    /* Teredo 2001:0::/32 (RFC 4380): the server's address in bits 32-63,
     * the client's inverted in the last 32; either private refuses it. */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
        unsigned char client[4] = {(unsigned char)~b[12], (unsigned char)~b[13], (unsigned char)~b[14],
                                   (unsigned char)~b[15]};
        return lk_addr_is_private(AF_INET, b + 4) || lk_addr_is_private(AF_INET, client);
    }
    return false;
}

static curl_socket_t open_public(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)ud;
    (void)purpose;
    const unsigned char *raw = NULL;
    if (addr->family == AF_INET)
        raw = (const unsigned char *)&((struct sockaddr_in *)(void *)&addr->addr)->sin_addr;
    else if (addr->family == AF_INET6)
        raw = (const unsigned char *)&((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr;
    if (!raw || lk_addr_is_private(addr->family, raw)) {
        lk_warn("refused to connect to a private or local address");
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* Resets the handle (its connection cache stays) and sets what every call
 * shares: the URL, "Name: value" headers (plus an empty Expect, so no
 * 100-continue round trips), http and https only, TLS verified, no
 * redirects followed, the connect timeout, and the private-address guard
 * when reach is LK_REACH_PUBLIC.
 * *list must be freed with curl_slist_free_all after the transfer. */
static void prepare(lk_upstream *u, lk_reach reach, const char *url, const char *const *headers,
                    struct curl_slist **list)
{
    CURL *h = u->h;
    curl_easy_reset(h);
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    hl = curl_slist_append(hl, "Expect:");
    *list = hl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (u->cfg->ca_file && *u->cfg->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, u->cfg->ca_file);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, u->cfg->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "latchkey/0.1");
    if (reach == LK_REACH_PUBLIC) {
        /* The check runs when a socket opens: a kept connection to the same
         * name, opened without it, must not be reused, nor this one kept. */
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_public);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }
}

lk_upstream *lk_upstream_new(const lk_config *cfg)
{
    static bool global;
    if (!global) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global = true;
    }
    lk_upstream *u = calloc(1, sizeof(*u));
    if (!u)
        abort();
    u->cfg = cfg;
    u->h = curl_easy_init();
    if (!u->h)
        abort();
    return u;
}

void lk_upstream_free(lk_upstream *u)
{
    if (!u)
        return;
    curl_easy_cleanup(u->h);
    free(u);
}

/* The most of a Retry-After value kept (longer ones are cut). */
#define LK_RETRY_AFTER_VALUE_MAX 64

struct sink {
    lk_buf body;
    bool toobig;
    lk_arena *a;
    lk_http_resp *out;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    if (lk_buf_add(&s->body, p, size * n) != LK_OK) {
        s->toobig = true;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    const char *name = "retry-after:";
    size_t nl = strlen(name);
    if (len > nl && lk_ieqn(p, nl, name)) {
        const char *v = p + nl;
        size_t vl = len - nl;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && strchr(" \t\r\n", v[vl - 1]))
            vl--;
        s->out->retry_after = lk_strndup(s->a, v, vl > LK_RETRY_AFTER_VALUE_MAX ? LK_RETRY_AFTER_VALUE_MAX : vl);
    }
    return len;
}

lk_err lk_upstream_call(lk_upstream *u, lk_arena *a, lk_reach reach, const char *method, const char *url,
                        const char *const *headers, const char *body, size_t blen, size_t cap, lk_http_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *h = u->h;
    struct curl_slist *hl;
    prepare(u, reach, url, headers, &hl);
    struct sink s = {.a = a, .out = out};
    lk_buf_init(&s.body, a, cap);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, u->cfg->http_timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    /* A body goes with any method that has one (POST, PUT, PATCH). */
    if (body || !strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    lk_err rc = LK_OK;
    if (s.toobig) {
        /* The status line came before the body that outgrew the cap. */
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        rc = LK_ETOOBIG;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = LK_ETIMEOUT;
    } else if (cc != CURLE_OK) {
        /* The URL names the host; it carries no secret (tokens travel in
         * headers and bodies). */
        lk_warn("provider call failed: %s", curl_easy_strerror(cc));
        rc = LK_EUPSTREAM;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        out->content_type = ct ? lk_strdup(a, ct) : NULL;
        out->body = (char *)lk_buf_str(&s.body);
        out->len = s.body.len;
    }
    return rc;
}

/* A streamed answer's head: at most this many lines and bytes. */
#define LK_UPSTREAM_HEAD_LINES_MAX 128
#define LK_UPSTREAM_HEAD_MAX ((size_t)64 * 1024)

/* Where the answer's body goes, once on_head has said. */
typedef enum body_route {
    BODY_AWAITS_HEAD, /* the head is not complete yet */
    BODY_STREAMED,    /* to on_body */
    BODY_SWALLOWED,   /* read and dropped */
    BODY_REFUSED,     /* on_head aborted the exchange */
} body_route;

/* The route for what on_head answered. */
static body_route route_of(lk_head_action act)
{
    switch (act) {
    case LK_HEAD_STREAM: return BODY_STREAMED;
    case LK_HEAD_SWALLOW: return BODY_SWALLOWED;
    case LK_HEAD_ABORT: break;
    }
    return BODY_REFUSED;
}

struct streaming {
    lk_stream *s;
    lk_arena *a;
    char **lines;
    size_t n, bytes;
    long status;
    body_route route;
    bool aborted;
};

static size_t st_header(char *p, size_t size, size_t n, void *ud)
{
    struct streaming *x = ud;
    size_t len = size * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* A new head (after a 1xx, or the first one). */
        x->n = 0;
        x->bytes = 0;
        /* "HTTP/1.1 200 OK": three digits after the first space (the
         * buffer is not NUL-terminated). */
        const char *sp = memchr(p, ' ', len);
        long long code = 0;
        size_t rest = sp ? len - (size_t)(sp + 1 - p) : 0;
        if (!sp || rest < 3 || !lk_parse_int_n(sp + 1, 3, 100, 999, &code))
            code = 0;
        x->status = (long)code;
        return len;
    }
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (len == 0) {
        if (x->status >= 100 && x->status < 200)
            return size * n; /* 100 Continue and friends: not ours */
        x->route = route_of(x->s->on_head(x->s->ctx, x->status, x->lines, x->n));
        if (x->route == BODY_REFUSED) {
            x->aborted = true;
            return 0;
        }
        return size * n;
    }
    if (x->n >= LK_UPSTREAM_HEAD_LINES_MAX || x->bytes + len > LK_UPSTREAM_HEAD_MAX) {
        x->aborted = true;
        return 0;
    }
    if (!x->lines)
        x->lines = lk_alloc(x->a, LK_UPSTREAM_HEAD_LINES_MAX * sizeof(char *));
    x->lines[x->n++] = lk_strndup(x->a, p, len);
    x->bytes += len;
    return size * n;
}

static size_t st_body(char *p, size_t size, size_t n, void *ud)
{
    struct streaming *x = ud;
    if (x->route == BODY_SWALLOWED)
        return size * n;
    if (x->route != BODY_STREAMED || x->s->on_body(x->s->ctx, p, size * n) != 0) {
        x->aborted = true;
        return 0;
    }
    return size * n;
}

struct source {
    lk_stream *s;
    size_t off;
};

static size_t st_read(char *buf, size_t size, size_t n, void *ud)
{
    struct source *src = ud;
    lk_stream *s = src->s;
    size_t want = size * n;
    if (s->body) {
        size_t left = (size_t)s->body_len - src->off;
        size_t k = left < want ? left : want;
        memcpy(buf, s->body + src->off, k);
        src->off += k;
        return k;
    }
    ssize_t got = s->read(s->ctx, buf, want);
    return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

lk_err lk_upstream_stream(lk_upstream *u, lk_arena *a, lk_stream *s)
{
    CURL *h = u->h;
    struct streaming x = {.s = s, .a = a, .route = BODY_AWAITS_HEAD};
    struct source src = {.s = s};
    struct curl_slist *hl;
    prepare(u, s->reach, s->url, s->headers, &hl);
    /* Too slow is no byte for timeout_ms, however long the whole takes. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (s->timeout_ms + 999) / 1000);
    curl_easy_setopt(h, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, st_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, st_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (!strcmp(s->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!s->no_body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, st_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &src);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->method);
    } else if (strcmp(s->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->method);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    if (cc == CURLE_OK && x.route == BODY_AWAITS_HEAD) {
        /* A head without a blank line seen (HEAD answers): judge it now. */
        x.route = route_of(s->on_head(s->ctx, x.status, x.lines, x.n));
        if (x.route == BODY_REFUSED)
            return LK_EINVAL;
    }
    if (x.aborted || cc == CURLE_ABORTED_BY_CALLBACK || cc == CURLE_READ_ERROR)
        return LK_EINVAL;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return LK_ETIMEOUT;
    if (cc != CURLE_OK) {
        lk_warn("upstream call failed: %s", curl_easy_strerror(cc));
        return LK_EUPSTREAM;
    }
    return LK_OK;
}
