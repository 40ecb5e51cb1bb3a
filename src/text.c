#include "text.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

lk_err lk_pct_decode(lk_arena *a, const char *s, size_t n, bool form, char **out, size_t *outlen)
{
    char *d = lk_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3)
                return LK_EINVAL;
            int h = hexval((unsigned char)s[i + 1]);
            int l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return LK_EINVAL;
            d[j++] = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && form) {
            d[j++] = ' ';
        } else {
            d[j++] = (char)c;
        }
    }
    d[j] = '\0';
    *out = d;
    if (outlen)
        *outlen = j;
    return LK_OK;
}

char *lk_pct_encode(lk_arena *a, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *d = lk_alloc(a, n * 3 + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            d[j++] = (char)c;
        } else {
            d[j++] = '%';
            d[j++] = hex[c >> 4];
            d[j++] = hex[c & 15];
        }
    }
    d[j] = '\0';
    return d;
}

static char *b64(lk_arena *a, const unsigned char *p, size_t n, const char *alpha, bool pad)
{
    char *d = lk_alloc(a, (n + 2) / 3 * 4 + 1);
    size_t j = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        d[j++] = alpha[v >> 18 & 63];
        d[j++] = alpha[v >> 12 & 63];
        d[j++] = alpha[v >> 6 & 63];
        d[j++] = alpha[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        d[j++] = alpha[v >> 18 & 63];
        d[j++] = alpha[v >> 12 & 63];
        if (pad) {
            d[j++] = '=';
            d[j++] = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        d[j++] = alpha[v >> 18 & 63];
        d[j++] = alpha[v >> 12 & 63];
        d[j++] = alpha[v >> 6 & 63];
        if (pad)
            d[j++] = '=';
    }
    d[j] = '\0';
    return d;
}

char *lk_b64_encode(lk_arena *a, const unsigned char *p, size_t n)
{
    return b64(a, p, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
}

char *lk_b64url_encode(lk_arena *a, const unsigned char *p, size_t n)
{
    return b64(a, p, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

lk_err lk_b64_decode(lk_arena *a, const char *s, size_t n, unsigned char **out, size_t *outlen)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return LK_EINVAL;
    unsigned char *d = lk_alloc(a, n / 4 * 3 + 3);
    size_t j = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64val((unsigned char)s[i]);
        if (x < 0)
            return LK_EINVAL;
        v = (v << 6) | (unsigned)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[j++] = (unsigned char)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, so each text has one decoding. */
    if (v != 0)
        return LK_EINVAL;
    *out = d;
    *outlen = j;
    return LK_OK;
}

char *lk_hex_encode(lk_arena *a, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *d = lk_alloc(a, n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        d[2 * i] = hex[p[i] >> 4];
        d[2 * i + 1] = hex[p[i] & 15];
    }
    return d;
}

bool lk_utf8_printable(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t len;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond Unicode, and C1 controls. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += len;
    }
    return true;
}

bool lk_valid_instance_id(const char *s, size_t n)
{
    return n >= 1 && n <= LK_INSTANCE_MAX && lk_utf8_printable(s, n);
}

bool lk_valid_profile_name(const char *s, size_t n)
{
    if (n < 1 || n > LK_PROFILE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

bool lk_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

bool lk_ieqn(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* The range r[0..n) (a type, its main type with a star subtype, or two
 * stars) matches type. */
static bool range_matches(const char *r, size_t n, const char *type)
{
    const char *slash = strchr(type, '/');
    size_t main_len = (size_t)(slash - type);
    if (lk_ieqn(r, n, "*/*") || lk_ieqn(r, n, type))
        return true;
    return n == main_len + 2 && !strncasecmp(r, type, main_len + 1) && r[n - 1] == '*';
}

/* The parameters p[0..n) of one range hold q=0 (q=0, q=0.0, ... q=0.000). */
static bool q_zero(const char *p, size_t n)
{
    while (n > 0) {
        size_t k = strcspn(p, ";");
        if (k > n)
            k = n;
        size_t i = strspn(p, " \t");
        if (k - i >= 2 && lower((unsigned char)p[i]) == 'q' && p[i + 1] == '=') {
            const char *v = p + i + 2;
            size_t vn = k - i - 2;
            while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                vn--;
            return vn >= 1 && v[0] == '0' && strspn(v + 1, ".0") >= vn - 1;
        }
        p += k < n ? k + 1 : k;
        n -= k < n ? k + 1 : k;
    }
    return false;
}

bool lk_accept_allows(const char *accept, const char *type)
{
    if (!accept || !*accept)
        return true;
    const char *p = accept;
    for (;;) {
        size_t len = strcspn(p, ",");
        size_t lead = strspn(p, " \t");
        const char *r = p + lead;
        size_t rn = strcspn(r, ";,");
        while (rn > 0 && (r[rn - 1] == ' ' || r[rn - 1] == '\t'))
            rn--;
        const char *params = r + strcspn(r, ";,");
        size_t pn = *params == ';' ? (size_t)(p + len - params - 1) : 0;
        if (range_matches(r, rn, type) && !q_zero(params + (pn ? 1 : 0), pn))
            return true;
        if (!p[len])
            return false;
        p += len + 1;
    }
}

bool lk_parse_int_n(const char *s, size_t n, long long lo, long long hi, long long *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n)
        return false;
    /* Accumulated negative: LLONG_MIN has no positive counterpart. */
    long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v < (LLONG_MIN + d) / 10)
            return false;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == LLONG_MIN)
            return false;
        v = -v;
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool lk_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    return s && lk_parse_int_n(s, strlen(s), lo, hi, out);
}

bool lk_ieq(const char *a, const char *b)
{
    return lk_ieqn(a, strlen(a), b);
}

char *lk_time_iso(lk_arena *a, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[32];
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return lk_strdup(a, s);
}

bool lk_is_tchar(char c)
{
    unsigned char u = (unsigned char)c;
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z'))
        return true;
    return u != '\0' && strchr("!#$%&'*+-.^_`|~", u) != NULL;
}

bool lk_http_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lk_is_tchar(s[i]))
            return false;
    return true;
}
