/* The text codecs that build URLs and read outside text (text.h, form.h).
 *
 * lk_pct_decode: equals a reference decoding, or refuses a malformed escape.
 * lk_pct_encode: only unreserved characters and %XX, and decodes back.
 * lk_url_add_param: url + separator + encoded name=value, the separator '?'
 * or '&' (none after a trailing '?' or '&'), and the pair reads back.
 * lk_b64_*: both alphabets decode back to the bytes; a decoded text is the
 * one canonical encoding of its bytes (alphabet and padding aside).
 * Input: any bytes; for lk_url_add_param, url '\n' name '\n' value. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "form.h"
#include "text.h"

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

static void check_pct(lk_arena *a, const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (int form = 0; form < 2; form++) {
        char *d = NULL;
        size_t dn = 0;
        lk_err rc = lk_pct_decode(a, s, size, form, &d, &dn);
        char *ref = malloc(size + 1);
        size_t j = 0;
        bool ok = true;
        for (size_t i = 0; i < size && ok; i++) {
            if (s[i] == '%') {
                if (size - i < 3 || hexv(data[i + 1]) < 0 || hexv(data[i + 2]) < 0)
                    ok = false;
                else
                    ref[j++] = (char)(hexv(data[i + 1]) * 16 + hexv(data[i + 2]));
                i += 2;
            } else {
                ref[j++] = form && s[i] == '+' ? ' ' : s[i];
            }
        }
        FUZZ_CHECK((rc == LK_OK) == ok, "pct_decode rc %d, reference %d", rc, ok);
        if (ok)
            FUZZ_CHECK(dn == j && !memcmp(d, ref, j) && d[dn] == '\0', "pct_decode differs from reference");
        free(ref);
    }
    /* As a C string: encoded, then decoded back, both ways. */
    size_t sl = strnlen(s, size);
    char *c = fuzz_str(data, sl);
    char *e = lk_pct_encode(a, c);
    for (const char *p = e; *p; p++) {
        if (*p == '%') {
            FUZZ_CHECK(hexv((unsigned char)p[1]) >= 0 && hexv((unsigned char)p[2]) >= 0 &&
                           !unreserved((unsigned char)(hexv((unsigned char)p[1]) * 16 + hexv((unsigned char)p[2]))),
                       "bad escape in encoding");
            p += 2;
        } else {
            FUZZ_CHECK(unreserved((unsigned char)*p), "reserved byte 0x%02x left unencoded", (unsigned char)*p);
        }
    }
    for (int form = 0; form < 2; form++) {
        char *d = NULL;
        size_t dn = 0;
        FUZZ_CHECK(lk_pct_decode(a, e, strlen(e), form, &d, &dn) == LK_OK, "own encoding refused");
        FUZZ_CHECK(dn == sl && !memcmp(d, c, sl), "encode/decode round trip (form %d)", form);
    }
    free(c);
}

static void check_add_param(lk_arena *a, const uint8_t *data, size_t size)
{
    char *f[3];
    size_t n = fuzz_fields(data, size, '\n', f, NULL, 3);
    const char *url = f[0], *name = n > 1 ? f[1] : "", *value = n > 2 ? f[2] : "";
    char *r = lk_url_add_param(a, url, name, value);
    size_t ul = strlen(url);
    FUZZ_CHECK(!strncmp(r, url, ul), "the URL is not kept");
    const char *sep = ul && (url[ul - 1] == '?' || url[ul - 1] == '&') ? "" : strchr(url, '?') ? "&" : "?";
    const char *rest = r + ul;
    FUZZ_CHECK(!strncmp(rest, sep, strlen(sep)), "separator");
    rest += strlen(sep);
    FUZZ_CHECK(!strpbrk(rest, "&#?+ /"), "the pair holds a delimiter: %s", rest);
    lk_form form;
    FUZZ_CHECK(lk_form_parse(a, rest, strlen(rest), &form) == LK_OK, "the pair does not parse: %s", rest);
    FUZZ_CHECK(form.n == 1 && !strcmp(form.v[0].name, name) && form.v[0].value_len == strlen(value) &&
                   !strcmp(form.v[0].value, value),
               "the pair reads back differently");
    fuzz_fields_free(f, n);
}

static void check_b64(lk_arena *a, const uint8_t *data, size_t size)
{
    char *e1 = lk_b64_encode(a, data, size);
    char *e2 = lk_b64url_encode(a, data, size);
    FUZZ_CHECK(strlen(e1) == (size + 2) / 3 * 4, "padded length");
    FUZZ_CHECK(strlen(e2) == (size * 4 + 2) / 3, "unpadded length");
    FUZZ_CHECK(!strpbrk(e2, "+/="), "base64url holds + / =");
    const char *es[] = {e1, e2};
    for (int i = 0; i < 2; i++) {
        unsigned char *d = NULL;
        size_t dn = 0;
        FUZZ_CHECK(lk_b64_decode(a, es[i], strlen(es[i]), &d, &dn) == LK_OK, "own encoding refused");
        FUZZ_CHECK(dn == size && (!size || !memcmp(d, data, size)), "b64 round trip (%d)", i);
    }
    /* Any accepted text is the canonical encoding of what it decodes to. */
    unsigned char *d = NULL;
    size_t dn = 0;
    if (lk_b64_decode(a, (const char *)data, size, &d, &dn) == LK_OK) {
        size_t n = size;
        while (n > 0 && data[n - 1] == '=')
            n--;
        char *canon = lk_b64url_encode(a, d, dn);
        FUZZ_CHECK(strlen(canon) == n, "decoded %zu bytes from %zu characters", dn, n);
        for (size_t i = 0; i < n; i++) {
            char c = (char)data[i];
            c = c == '+' ? '-' : c == '/' ? '_' : c;
            FUZZ_CHECK(c == canon[i], "two texts decode to the same bytes");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_arena *a = lk_arena_new();
    check_pct(a, data, size);
    check_add_param(a, data, size);
    check_b64(a, data, size);
    lk_arena_free(a);
    return 0;
}
