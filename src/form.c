#include "form.h"

#include <string.h>

#include "text.h"

lk_err lk_form_parse(lk_arena *a, const char *s, size_t n, lk_form *out)
{
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return LK_OK;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '&')
            cap++;
    if (cap > (size_t)LK_FORM_MAX_PARAMS * 2)
        return LK_EINVAL;
    out->v = lk_alloc(a, cap * sizeof(lk_param));
    size_t i = 0;
    while (i <= n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t nend = eq ? (size_t)(eq - s) : end;
            lk_param *p = &out->v[out->n];
            size_t nl;
            if (lk_pct_decode(a, s + i, nend - i, true, &p->name, &nl) != LK_OK)
                return LK_EINVAL;
            if (strlen(p->name) != nl)
                return LK_EINVAL; /* NUL in a name */
            const char *vs = eq ? eq + 1 : s + end;
            size_t vn = eq ? (size_t)(s + end - vs) : 0;
            if (lk_pct_decode(a, vs, vn, true, &p->value, &p->value_len) != LK_OK)
                return LK_EINVAL;
            if (++out->n > LK_FORM_MAX_PARAMS)
                return LK_EINVAL;
        }
        if (!amp)
            break;
        i = end + 1;
    }
    return LK_OK;
}

const lk_param *lk_form_get(const lk_form *f, const char *name, size_t *count)
{
    const lk_param *first = NULL;
    size_t c = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].name, name) == 0) {
            if (!first)
                first = &f->v[i];
            c++;
        }
    }
    if (count)
        *count = c;
    return first;
}

char *lk_url_add_param(lk_arena *a, const char *url, const char *name, const char *value)
{
    const char *sep = strchr(url, '?') ? "&" : "?";
    size_t ul = strlen(url);
    if (ul > 0 && (url[ul - 1] == '?' || url[ul - 1] == '&'))
        sep = "";
    return lk_printf(a, "%s%s%s=%s", url, sep, lk_pct_encode(a, name), lk_pct_encode(a, value));
}
