#include "cookie.h"

#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

const char *lk_cookie_get(lk_arena *a, const char *header, const char *name)
{
    if (!header)
        return NULL;
    /* Whatever the header's size, only its first LK_COOKIE_MAX_HEADER
     * bytes are looked at; a pair running past them is incomplete. */
    size_t len = strnlen(header, LK_COOKIE_MAX_HEADER + 1);
    bool cut = len > LK_COOKIE_MAX_HEADER;
    const char *lim = header + (cut ? LK_COOKIE_MAX_HEADER : len);
    size_t nl = strlen(name);
    const char *p = header;
    while (p < lim) {
        while (p < lim && (is_ows(*p) || *p == ';'))
            p++;
        if (p == lim)
            break;
        const char *end = memchr(p, ';', (size_t)(lim - p));
        if (!end) {
            if (cut)
                break; /* the rest of this pair lies beyond the limit */
            end = lim;
        }
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(end - p) <= LK_COOKIE_MAX_PAIR) {
            const char *ne = eq;
            while (ne > p && is_ows(ne[-1]))
                ne--;
            if ((size_t)(ne - p) == nl && memcmp(p, name, nl) == 0) {
                const char *v = eq + 1;
                const char *ve = end;
                while (v < ve && is_ows(*v))
                    v++;
                while (ve > v && is_ows(ve[-1]))
                    ve--;
                size_t vl = (size_t)(ve - v);
                /* cppcheck-suppress knownConditionTrueFalse
                 * (the trimming loop above also stops at a non-space) */
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v++; /* a quoted value (RFC 6265 §4.1.1) */
                    vl -= 2;
                }
                return lk_strndup(a, v, vl);
            }
        }
        p = end;
    }
    return NULL;
}

char *lk_cookie_build(lk_arena *a, const char *name, const char *value, const char *path, long max_age, bool secure)
{
    return lk_printf(a, "%s=%s; Path=%s; Max-Age=%ld; HttpOnly; SameSite=Lax%s", name, value, path, max_age,
                     secure ? "; Secure" : "");
}
