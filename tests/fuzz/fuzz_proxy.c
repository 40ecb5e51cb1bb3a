/* The proxy's two readers of outside bytes.
 *
 * lk_url_path_check: input is up to three prefix lines, then the raw
 * sub-path (the last line). Accepted ⇒ after one percent-decoding the path
 * starts with '/', has no "." or ".." segment (a segment is judged without
 * its ';' parameters: "..;x" is ".."), no "//", no backslash, '@',
 * control character or scheme, the raw text no "%25"; and, with prefixes,
 * the decoded path is one of them or below one. Refused ⇒ *why says why.
 * The decision equals a reference reading of those rules.
 *
 * lk_proxy_header_name: the whole input as a CGI variable name. A name is
 * given only for CONTENT_TYPE and HTTP_*, and it is then a non-empty RFC
 * 9110 token ('_' → '-', capitalised per word) of the same length.
 *
 * lk_proxy_response_header_ok: the whole input as a response header name.
 * Passed back ⇒ a non-empty token, and not Set-Cookie in any case.
 *
 * lk_proxy_location: the whole input as a Location value, against a fixed
 * upstream URL. The answer is never relative: it is the input itself when
 * that starts with a scheme, else it starts with "http:". */
#include "fuzz.h"

#include <stdbool.h>
#include <strings.h>

#include "arena.h"
#include "profile.h"
#include "proxy.h"
#include "url.h"

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s; NULL on a malformed escape. */
static char *decode(const char *s, size_t *dn)
{
    size_t n = strlen(s), j = 0;
    char *d = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }
        if (n - i < 3 || hexv((unsigned char)s[i + 1]) < 0 || hexv((unsigned char)s[i + 2]) < 0) {
            free(d);
            return NULL;
        }
        d[j++] = (char)(hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]));
        i += 2;
    }
    d[j] = '\0';
    *dn = j;
    return d;
}

/* Every rule but the prefixes, on the raw and the decoded path. */
static bool ref_path_ok(const char *raw, const char *d, size_t dn)
{
    if (strlen(raw) > LK_URL_PATH_MAX || raw[0] != '/' || strstr(raw, "%25") || !d || d[0] != '/')
        return false;
    for (size_t i = 0; i < dn; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '@')
            return false;
        if (c == '/' && i + 1 < dn && d[i + 1] == '/')
            return false;
    }
    size_t i = 1;
    bool first = true;
    while (i <= dn) {
        size_t e = i;
        while (e < dn && d[e] != '/')
            e++;
        size_t sl = e - i;
        size_t nl = 0; /* the segment without its ';' parameters */
        while (nl < sl && d[i + nl] != ';')
            nl++;
        if ((nl == 1 && d[i] == '.') || (nl == 2 && d[i] == '.' && d[i + 1] == '.'))
            return false;
        if (first && memchr(d + i, ':', sl))
            return false;
        first = false;
        i = e + 1;
    }
    return true;
}

static bool under(const char *d, const lk_strv *pv)
{
    for (size_t i = 0; i < pv->n; i++) {
        const char *p = pv->v[i];
        size_t pl = strlen(p);
        if (!strncmp(d, p, pl) && (p[pl - 1] == '/' || d[pl] == '\0' || d[pl] == '/'))
            return true;
    }
    return false;
}

static void check_path(lk_arena *a, const uint8_t *data, size_t size)
{
    char *f[4];
    size_t n = fuzz_fields(data, size, '\n', f, NULL, 4);
    const char *raw = f[n - 1];
    /* Profiles store prefixes that start with '/' (lk_profile_validate). */
    char *pv[3];
    lk_strv prefixes = {pv, 0};
    for (size_t i = 0; i + 1 < n; i++)
        if (f[i][0] == '/')
            pv[prefixes.n++] = f[i];

    size_t dn = 0;
    char *d = decode(raw, &dn);
    bool ok = ref_path_ok(raw, d, dn);

    const char *why = "unset";
    lk_err rc = lk_url_path_check(a, raw, NULL, 0, &why);
    FUZZ_CHECK((rc == LK_OK) == ok, "no prefixes: rc %d, reference %s (%s)", rc, ok ? "accepts" : "refuses",
               why ? why : "");
    FUZZ_CHECK(rc == LK_OK ? why == NULL : why != NULL, "why does not match rc");
    lk_strv none = {NULL, 0};
    FUZZ_CHECK(lk_url_path_check(a, raw, none.v, none.n, &why) == rc, "an empty prefix list differs from none");

    if (prefixes.n) {
        bool want = ok && under(d, &prefixes);
        rc = lk_url_path_check(a, raw, prefixes.v, prefixes.n, &why);
        FUZZ_CHECK((rc == LK_OK) == want, "prefixes: rc %d, reference %s", rc, want ? "accepts" : "refuses");
        FUZZ_CHECK(rc == LK_OK ? why == NULL : why != NULL, "why does not match rc");
    }
    free(d);
    fuzz_fields_free(f, n);
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_header(lk_arena *a, const uint8_t *data, size_t size)
{
    char *var = fuzz_str(data, size);
    char *name = lk_proxy_header_name(a, var, size);
    bool is_hdr = (size == 12 && !memcmp(var, "CONTENT_TYPE", 12)) || (size > 5 && !memcmp(var, "HTTP_", 5));
    if (!is_hdr)
        FUZZ_CHECK(!name, "a header name for a variable that is not a header");
    if (name) {
        const char *src = size == 12 && !memcmp(var, "CONTENT_TYPE", 12) ? var : var + 5;
        size_t sl = strlen(name);
        FUZZ_CHECK(sl > 0 && sl == size - (size_t)(src - var), "name length %zu", sl);
        for (size_t i = 0; i < sl; i++) {
            unsigned char c = (unsigned char)name[i];
            FUZZ_CHECK(tchar(c) && c != '_', "byte 0x%02x in a header name", c);
            unsigned char s = (unsigned char)src[i];
            unsigned char up = c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
            unsigned char sup = s >= 'a' && s <= 'z' ? (unsigned char)(s - 32) : s;
            FUZZ_CHECK(c == '-' ? (s == '_' || s == '-') : up == sup, "byte %zu mapped wrongly", i);
        }
    }
    free(var);
}

static bool has_scheme(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    size_t i = 1;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
           s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':';
}

static void check_response(lk_arena *a, const uint8_t *data, size_t size)
{
    char *v = fuzz_str(data, size);
    size_t n = strlen(v);
    if (lk_proxy_response_header_ok(v, n)) {
        FUZZ_CHECK(n > 0, "an empty name passed back");
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(tchar((unsigned char)v[i]), "byte 0x%02x in a name passed back", (unsigned char)v[i]);
        FUZZ_CHECK(n != 10 || strncasecmp(v, "set-cookie", 10) != 0, "Set-Cookie passed back");
    }
    char *loc = lk_proxy_location(a, "http://up.example:8080/ex/confluence/c/wiki/rest/api/space?limit=5", v);
    FUZZ_CHECK(loc != NULL, "no Location for %s", v);
    if (has_scheme(v))
        FUZZ_CHECK(!strcmp(loc, v), "an absolute Location changed: %s -> %s", v, loc);
    else
        FUZZ_CHECK(!strncmp(loc, "http:", 5), "a relative Location stays relative: %s -> %s", v, loc);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_arena *a = lk_arena_new();
    check_path(a, data, size);
    check_header(a, data, size);
    check_response(a, data, size);
    lk_arena_free(a);
    return 0;
}
