/* Calls to providers over libcurl: one easy handle per process, reused
 * (its connection cache keeps provider connections alive), TLS verified,
 * http and https only, redirects never followed, answers size-capped. */
#ifndef LK_UPSTREAM_H
#define LK_UPSTREAM_H

#include <sys/types.h>

#include "arena.h"
#include "config.h"
#include "lk.h"

typedef struct lk_upstream lk_upstream;

typedef struct lk_http_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    const char *retry_after;  /* Retry-After header, or NULL */
    const char *content_type; /* or NULL */
} lk_http_resp;

/* Which addresses a call may connect to. */
typedef enum lk_reach {
    LK_REACH_ANY,    /* a URL the administrator wrote (a profile's own) */
    LK_REACH_PUBLIC, /* a site users name: every private, loopback, link-local
                        or other non-public address is refused when
                        connecting (SPEC §8a: the address, not the name) */
} lk_reach;

/* A handle for calls with cfg's timeouts and CA file; aborts when out of
 * memory. Free it with lk_upstream_free. */
lk_upstream *lk_upstream_new(const lk_config *cfg);
/* Frees u and its connection cache; NULL is ignored. */
void lk_upstream_free(lk_upstream *u);

/* One request. headers: NULL-terminated "Name: value" lines (borrowed).
 * The answer body is kept up to cap bytes. Errors: LK_ETIMEOUT (too slow),
 * LK_EUPSTREAM (could not connect, a refused address included, or the
 * connection broke), LK_ETOOBIG (answer over cap; out->status is set). Any HTTP status is
 * LK_OK: callers judge it. */
lk_err lk_upstream_call(lk_upstream *u, lk_arena *a, lk_reach reach, const char *method, const char *url,
                        const char *const *headers, const char *body, size_t blen, size_t cap, lk_http_resp *out);

/* What on_head wants done with the answer's body. */
typedef enum lk_head_action {
    LK_HEAD_ABORT = -1,  /* stop the exchange */
    LK_HEAD_STREAM = 0,  /* pass the body to on_body */
    LK_HEAD_SWALLOW = 1, /* read it and drop it (a 401 about to be retried) */
} lk_head_action;

/* A streamed exchange (the proxy): the request body comes from a source,
 * the answer goes to a sink as it arrives; memory stays flat. */
typedef struct lk_stream {
    const char *method;
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated */
    /* Request body: from memory (body != NULL), or from read(), whose
     * length is body_len (-1: unknown, sent chunked), or none (no_body). */
    bool no_body;
    const char *body;
    long long body_len;
    ssize_t (*read)(void *ctx, char *buf, size_t n);
    void *ctx;
    long timeout_ms; /* no byte for this long: too slow */
    lk_reach reach;
    /* Called once the answer's head is complete (1xx heads are skipped):
     * says what to do with the body. Header lines are "Name: value"
     * without CR LF. */
    lk_head_action (*on_head)(void *ctx, long status, char **lines, size_t n);
    /* Body bytes; return -1 to abort (the client went away). */
    int (*on_body)(void *ctx, const char *p, size_t n);
} lk_stream;

/* Runs a streamed exchange. Errors: LK_ETIMEOUT (too slow), LK_EUPSTREAM
 * (could not connect, or broke), LK_EINVAL (a callback aborted). */
lk_err lk_upstream_stream(lk_upstream *u, lk_arena *a, lk_stream *s);

/* True for such an address (family AF_INET or AF_INET6, raw bytes); an
 * IPv6 address that carries an IPv4 one (IPv4-compatible, -mapped,
 * -translated, NAT64 64:ff9b::/96, 6to4, Teredo) is judged by it. */
bool lk_addr_is_private(int family, const unsigned char *addr);

#endif
