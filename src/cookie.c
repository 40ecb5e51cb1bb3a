#include "cookie.h"

#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

const char *lk_cookie_get(lk_arena *a, const char *header, const char *name)
{
    if (!header || strlen(header) > LK_COOKIE_MAX_HEADER)
        return NULL;
    size_t nl = strlen(name);
    const char *p = header;
    while (*p) {
        while (is_ows(*p) || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
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
