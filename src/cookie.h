/* Cookie header parsing (RFC 6265 §5.4 shape) and Set-Cookie building. */
#ifndef LK_COOKIE_H
#define LK_COOKIE_H

#include "arena.h"
#include "lk.h"

#define LK_COOKIE_MAX_HEADER 8192

/* The value of the first cookie called name in a Cookie header, or NULL
 * (also when the header is absent or longer than LK_COOKIE_MAX_HEADER). */
const char *lk_cookie_get(lk_arena *a, const char *header, const char *name);

/* A Set-Cookie value: HttpOnly; SameSite=Lax; Path; Max-Age; Secure when
 * secure. A max_age of 0 deletes the cookie. */
char *lk_cookie_build(lk_arena *a, const char *name, const char *value, const char *path, long max_age, bool secure);

#endif
