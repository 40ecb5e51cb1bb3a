#include "upstream.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "text.h"
#include "url.h"

struct lk_upstream {
    CURL *h;
    const lk_config *cfg;
};

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
        s->out->retry_after = lk_strndup(s->a, v, vl > 64 ? 64 : vl);
    }
    return len;
}

lk_err lk_upstream_call(lk_upstream *u, lk_arena *a, const char *method, const char *url,
                        const char *const *headers, const char *body, size_t blen, size_t cap,
                        lk_http_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *h = u->h;
    curl_easy_reset(h);
    struct sink s = {.a = a, .out = out};
    lk_buf_init(&s.body, a, cap);
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    /* Never let libcurl add Expect: 100-continue round trips. */
    hl = curl_slist_append(hl, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (u->cfg->ca_file && *u->cfg->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, u->cfg->ca_file);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, u->cfg->http_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, u->cfg->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "latchkey/0.1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    lk_err rc = LK_OK;
    if (s.toobig) {
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

bool lk_provider_url_ok(const char *url)
{
    lk_url u;
    lk_arena *a = lk_arena_new();
    bool ok = lk_url_parse(a, url, &u) == LK_OK &&
              (!strcmp(u.scheme, "https") || (!strcmp(u.scheme, "http") && lk_host_is_loopback(u.host)));
    lk_arena_free(a);
    return ok;
}
