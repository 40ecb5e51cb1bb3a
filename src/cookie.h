/* Cookie header parsing (RFC 6265 §5.4 shape) and Set-Cookie building. */
#ifndef LK_COOKIE_H
#define LK_COOKIE_H

#include "arena.h"
#include "lk.h"

/* How much of a Cookie header is read; the rest is ignored, never refused:
 * a sibling subdomain can fill the header with cookies of its own. */
#define LK_COOKIE_MAX_HEADER 65536
/* A longer cookie is someone else's and is skipped (browsers keep cookies
 * of at least 4096 bytes, RFC 6265 §6.1; ours are far shorter). */
#define LK_COOKIE_MAX_PAIR 4096

/* The value of the first cookie called name in a Cookie header, or NULL
 * (also when the header is absent). Reads the first LK_COOKIE_MAX_HEADER
 * bytes, skipping pairs longer than LK_COOKIE_MAX_PAIR, pairs without '='
 * and a pair cut off at that limit. */
const char *lk_cookie_get(lk_arena *a, const char *header, const char *name);

/* A Set-Cookie value: HttpOnly; SameSite=Lax; Path; Max-Age; Secure when
 * secure. A max_age of 0 deletes the cookie. */
char *lk_cookie_build(lk_arena *a, const char *name, const char *value, const char *path, long max_age, bool secure);

#endif
