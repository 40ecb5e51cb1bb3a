/* Calls to providers over libcurl: one easy handle per process, reused
 * (its connection cache keeps provider connections alive), TLS verified,
 * http and https only, redirects never followed, answers size-capped. */
#ifndef LK_UPSTREAM_H
#define LK_UPSTREAM_H

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

lk_upstream *lk_upstream_new(const lk_config *cfg);
void lk_upstream_free(lk_upstream *u);

/* One request. headers: NULL-terminated "Name: value" lines (borrowed).
 * The answer body is kept up to cap bytes. Errors: LK_ETIMEOUT (too slow),
 * LK_EUPSTREAM (could not connect or the connection broke), LK_ETOOBIG
 * (answer over cap). Any HTTP status is LK_OK: callers judge it. */
lk_err lk_upstream_call(lk_upstream *u, lk_arena *a, const char *method, const char *url,
                        const char *const *headers, const char *body, size_t blen, size_t cap,
                        lk_http_resp *out);

/* True when url is https, or http to a loopback host (SPEC §3). */
bool lk_provider_url_ok(const char *url);

#endif
