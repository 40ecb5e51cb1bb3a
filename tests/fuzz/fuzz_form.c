/* lk_form_parse + lk_form_get on query strings and form bodies: the result
 * matches a reference reading (segments between '&', empty ones skipped,
 * at most LK_FORM_MAX_PARAMS, no NUL in a name), survives re-encoding, and
 * lk_form_get finds the first of its name and counts them all. */
#include "fuzz.h"

#include "arena.h"
#include "form.h"

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The reference: should s[0..n) be accepted, and with how many params? */
static int ref_count(const char *s, size_t n)
{
    size_t amps = 0, params = 0;
    for (size_t i = 0; i < n; i++)
        amps += s[i] == '&';
    if (amps + 1 > 2 * LK_FORM_MAX_PARAMS)
        return -1;
    size_t i = 0;
    while (i <= n) {
        size_t end = i;
        while (end < n && s[end] != '&')
            end++;
        if (end > i) {
            bool in_name = true;
            for (size_t k = i; k < end; k++) {
                if (s[k] == '=')
                    in_name = false;
                if (in_name && s[k] == '\0')
                    return -1; /* NUL in a name */
                if (s[k] != '%')
                    continue;
                if (end - k < 3 || hexv((unsigned char)s[k + 1]) < 0 || hexv((unsigned char)s[k + 2]) < 0)
                    return -1;
                if (in_name && s[k + 1] == '0' && s[k + 2] == '0')
                    return -1; /* NUL in a name */
                k += 2;
            }
            params++;
        }
        if (end >= n)
            break;
        i = end + 1;
    }
    return params > LK_FORM_MAX_PARAMS ? -1 : (int)params;
}

/* Percent-encodes every byte but unreserved ones (NULs included). */
static size_t enc(char *d, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            d[j++] = (char)c;
        } else {
            d[j++] = '%';
            d[j++] = hex[c >> 4];
            d[j++] = hex[c & 15];
        }
    }
    return j;
}

static void check_get(const lk_form *f, const char *name)
{
    size_t count = 99;
    const lk_param *p = lk_form_get(f, name, &count);
    size_t want = 0;
    const lk_param *first = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (!strcmp(f->v[i].name, name)) {
            if (!first)
                first = &f->v[i];
            want++;
        }
    }
    FUZZ_CHECK(p == first, "lk_form_get(%s) is not the first match", name);
    FUZZ_CHECK(count == want, "lk_form_get(%s) counted %zu, not %zu", name, count, want);
    FUZZ_CHECK(lk_form_get(f, name, NULL) == first, "lk_form_get without count differs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    lk_arena *a = lk_arena_new();
    lk_form f;
    lk_err rc = lk_form_parse(a, s, size, &f);
    int want = ref_count(s, size);
    FUZZ_CHECK((rc == LK_OK) == (want >= 0), "rc %d, reference %d", rc, want);
    if (rc == LK_OK) {
        FUZZ_CHECK(f.n == (size_t)want, "%zu params, reference %d", f.n, want);
        size_t cap = 1;
        for (size_t i = 0; i < f.n; i++) {
            const lk_param *p = &f.v[i];
            FUZZ_CHECK(p->name && p->value, "param %zu has a NULL member", i);
            FUZZ_CHECK(p->value[p->value_len] == '\0', "value %zu not terminated at value_len", i);
            cap += 3 * (strlen(p->name) + p->value_len) + 2;
        }
        /* Re-encoded, the same parameters come back. */
        char *re = malloc(cap);
        size_t j = 0;
        for (size_t i = 0; i < f.n; i++) {
            if (i)
                re[j++] = '&';
            j += enc(re + j, f.v[i].name, strlen(f.v[i].name));
            re[j++] = '=';
            j += enc(re + j, f.v[i].value, f.v[i].value_len);
        }
        lk_form g;
        FUZZ_CHECK(lk_form_parse(a, re, j, &g) == LK_OK, "re-encoded form refused");
        FUZZ_CHECK(g.n == f.n, "re-encoded form has %zu params, not %zu", g.n, f.n);
        for (size_t i = 0; i < f.n; i++) {
            FUZZ_CHECK(!strcmp(g.v[i].name, f.v[i].name), "name %zu changed", i);
            FUZZ_CHECK(g.v[i].value_len == f.v[i].value_len && !memcmp(g.v[i].value, f.v[i].value, f.v[i].value_len),
                       "value %zu changed", i);
        }
        free(re);
        if (f.n)
            check_get(&f, f.v[f.n - 1].name);
        check_get(&f, "state");
        check_get(&f, "");
    }
    lk_arena_free(a);
    free(s);
    return 0;
}
