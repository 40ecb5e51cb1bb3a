/* lk_cookie_get on a Cookie header: the value is the first pair of that
 * exact name (RFC 6265 §5.4 shape: pairs split at ';', white space around
 * names and values dropped, one pair of quotes removed), taken from inside
 * that pair, never holding a ';'. Only the first LK_COOKIE_MAX_HEADER bytes
 * are read (a pair they cut off is skipped) and pairs longer than
 * LK_COOKIE_MAX_PAIR are someone else's: skipped, never fatal.
 * Input: the cookie name, '\n', the header. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "cookie.h"

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The reference: the value's start and length in h, or false. */
static bool ref_get(const char *h, const char *name, size_t *off, size_t *len)
{
    size_t nl = strlen(name), i = 0, n = strlen(h);
    bool cut = n > LK_COOKIE_MAX_HEADER;
    if (cut)
        n = LK_COOKIE_MAX_HEADER;
    while (i < n) {
        size_t b = i;
        while (b < n && (ows(h[b]) || h[b] == ';'))
            b++;
        if (b == n)
            break;
        size_t end = b;
        while (end < n && h[end] != ';')
            end++;
        if (end == n && cut)
            break; /* cut off by the limit */
        size_t eq = b;
        while (eq < end && h[eq] != '=')
            eq++;
        if (eq < end && end - b <= LK_COOKIE_MAX_PAIR) {
            size_t ne = eq;
            while (ne > b && ows(h[ne - 1]))
                ne--;
            if (ne - b == nl && !memcmp(h + b, name, nl)) {
                size_t v = eq + 1, ve = end;
                while (v < ve && ows(h[v]))
                    v++;
                while (ve > v && ows(h[ve - 1]))
                    ve--;
                if (ve - v >= 2 && h[v] == '"' && h[ve - 1] == '"') {
                    v++;
                    ve--;
                }
                *off = v;
                *len = ve - v;
                return true;
            }
        }
        i = end;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[2];
    size_t n = fuzz_fields(data, size, '\n', f, NULL, 2);
    const char *name = f[0];
    const char *header = n > 1 ? f[1] : "";
    lk_arena *a = lk_arena_new();
    const char *v = lk_cookie_get(a, header, name);
    size_t off = 0, len = 0;
    bool found = ref_get(header, name, &off, &len);
    FUZZ_CHECK(found == (v != NULL), "lk_cookie_get %s, reference %s", v ? "found" : "did not find",
               found ? "finds" : "does not");
    if (v) {
        FUZZ_CHECK(strlen(v) == len && !memcmp(v, header + off, len), "value differs from the reference");
        FUZZ_CHECK(!strchr(v, ';'), "value holds ';'");
    }
    FUZZ_CHECK(lk_cookie_get(a, NULL, name) == NULL, "no header, yet a value");
    lk_arena_free(a);
    fuzz_fields_free(f, n);
    return 0;
}
