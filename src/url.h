/* Absolute http(s) URLs: a strict parser, the redirect allow-list of
 * SPEC §3, and the loopback test for plain-http providers. */
#ifndef LK_URL_H
#define LK_URL_H

#include "arena.h"
#include "lk.h"

typedef struct lk_url {
    char *scheme; /* "http" or "https" */
    char *host;   /* lower case; IPv6 without brackets */
    int port;     /* explicit or the scheme's default */
    char *path;   /* raw, starts with '/' */
    char *query;  /* raw, without '?', or NULL */
} lk_url;

/* Parses s strictly: http(s) only, no user info, no fragment, no
 * backslash, no control characters or spaces, no dot segments (also
 * percent-encoded ones), no encoded slash or backslash, at most
 * LK_URL_MAX bytes. LK_EINVAL otherwise. */
lk_err lk_url_parse(lk_arena *a, const char *s, lk_url *out);

/* True when url is allowed by one of the entries: same scheme, host and
 * port, and a path equal to the entry's or continuing it after a '/'. */
bool lk_redirect_allowed(lk_arena *a, const char *url, char *const *entries, size_t n);

/* localhost, 127.0.0.0/8 or ::1. */
bool lk_host_is_loopback(const char *host);

#endif
