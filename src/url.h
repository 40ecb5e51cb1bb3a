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
 * percent-encoded ones, and "..;x" or ".%3bx": a segment's ';' parameters
 * are dropped before it is judged), no encoded slash or backslash, at most
 * LK_URL_MAX bytes. LK_EINVAL otherwise. */
lk_err lk_url_parse(lk_arena *a, const char *s, lk_url *out);

/* True when url is allowed by one of the entries: same scheme, host and
 * port, and a path equal to the entry's or continuing it after a '/'
 * (both parse: no dot segment, also none disguised with ';' parameters). */
bool lk_redirect_allowed(lk_arena *a, const char *url, char *const *entries, size_t n);

/* Resolves a URI reference against an absolute base URL (RFC 3986 §5.2:
 * merge, remove_dot_segments), e.g. a Location header against the URL
 * that answered it. A reference with a scheme is returned as it is.
 * LK_EINVAL when base has no scheme. */
lk_err lk_url_resolve(lk_arena *a, const char *base, const char *ref, char **out);

#define LK_URL_PATH_MAX 4096

/* Checks a raw path ("/wiki/rest/api/space", still percent-encoded) after
 * decoding: no "." or ".." segments (nor "..;x" or ".;": a segment's ';'
 * parameters are dropped before it is judged), no empty segment ("//"), no
 * backslash, no "%25" (double encoding), no scheme, no '@', no control
 * characters (NUL, CR, LF...), at most LK_URL_PATH_MAX bytes; and, when
 * n > 0 prefixes are given, under one of them (equal, or continuing after
 * a '/'). LK_EINVAL with *why (a sentence for the caller) otherwise. */
lk_err lk_url_path_check(lk_arena *a, const char *raw, char *const *prefixes, size_t n, const char **why);

/* localhost, 127.0.0.0/8 or ::1. */
bool lk_host_is_loopback(const char *host);
/* True when url is https, or http to a loopback host (SPEC §3). */
bool lk_provider_url_ok(const char *url);

#endif
