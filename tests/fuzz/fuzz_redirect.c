/* lk_url_parse + lk_redirect_allowed on redirect URLs and allow-lists.
 * Input: up to three allow-list entries, one per line, then the URL (the
 * last line).
 *
 * A parsed URL is http(s), its authority non-empty without '@' or '%', no
 * control character, space, backslash or '#' anywhere, the host lower case,
 * the port 1-65535, the path starting with '/' and free of dot segments
 * (also %2e ones, and ones disguised with ';' or %3b parameters: "..;x")
 * and of %2f, %5c, %00; printed back, it parses to the same.
 * An allowed redirect has the scheme, host and port of an entry that
 * parses, and a path equal to the entry's (trailing '/' aside) or going on
 * after a '/'; and such a URL is always allowed. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "url.h"

typedef struct origin {
    char scheme[8];
    char host[LK_URL_MAX + 1];
    int port;
    char path[LK_URL_MAX + 1];
} origin;

/* Reads scheme, host, port and path from the raw text (no validation). */
static bool origin_of(const char *s, origin *o)
{
    const char *r;
    if (!strncmp(s, "https://", 8)) {
        strcpy(o->scheme, "https");
        o->port = 443;
        r = s + 8;
    } else if (!strncmp(s, "http://", 7)) {
        strcpy(o->scheme, "http");
        o->port = 80;
        r = s + 7;
    } else {
        return false;
    }
    size_t al = strcspn(r, "/?");
    const char *hs = r, *he = r + al, *port = NULL;
    if (*r == '[') {
        const char *rb = memchr(r, ']', al);
        if (!rb)
            return false;
        hs = r + 1;
        he = rb;
        if (rb + 1 < r + al)
            port = rb + 2;
    } else {
        const char *c = memchr(r, ':', al);
        if (c) {
            he = c;
            port = c + 1;
        }
    }
    size_t hl = (size_t)(he - hs);
    for (size_t i = 0; i < hl; i++)
        o->host[i] = (char)(hs[i] >= 'A' && hs[i] <= 'Z' ? hs[i] + 32 : hs[i]);
    o->host[hl] = '\0';
    if (port)
        o->port = atoi(port);
    const char *p = r + al;
    size_t pl = strcspn(p, "?");
    if (*p != '/')
        strcpy(o->path, "/");
    else {
        memcpy(o->path, p, pl);
        o->path[pl] = '\0';
    }
    return true;
}

static bool dot_seg(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == ';' || (n - i >= 3 && s[i] == '%' && s[i + 1] == '3' && (s[i + 2] | 0x20) == 'b')) {
            n = i; /* parameters hide nothing */
            break;
        }
    size_t dots = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '.') {
            i++;
        } else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] | 0x20) == 'e') {
            i += 3;
        } else {
            return false;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

static void check_parsed(lk_arena *a, const char *s, const lk_url *u)
{
    FUZZ_CHECK(strlen(s) <= LK_URL_MAX, "too long");
    for (const char *c = s; *c; c++)
        FUZZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f && *c != '\\' && *c != '#', "byte 0x%02x",
                   (unsigned char)*c);
    origin o;
    FUZZ_CHECK(origin_of(s, &o), "not http(s)");
    const char *auth = strstr(s, "://") + 3;
    size_t al = strcspn(auth, "/?");
    FUZZ_CHECK(al > 0 && !memchr(auth, '@', al) && !memchr(auth, '%', al), "authority");
    FUZZ_CHECK(!strcmp(u->scheme, o.scheme), "scheme %s", u->scheme);
    FUZZ_CHECK(*u->host && !strcmp(u->host, o.host), "host %s, raw %s", u->host, o.host);
    for (const char *c = u->host; *c; c++)
        FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'), "host not lower case");
    FUZZ_CHECK(u->port >= 1 && u->port <= 65535 && u->port == o.port, "port %d", u->port);
    FUZZ_CHECK(!strcmp(u->path, o.path) && u->path[0] == '/', "path %s", u->path);
    const char *q = strchr(s, '?');
    FUZZ_CHECK(q ? u->query && !strcmp(u->query, q + 1) : !u->query, "query");
    for (const char *c = u->path; *c; c++) {
        if (*c != '%')
            continue;
        char h = c[1], l = (char)(c[2] | 0x20);
        FUZZ_CHECK(!((h == '2' && l == 'f') || (h == '5' && l == 'c') || (h == '0' && l == '0')),
                   "encoded slash, backslash or NUL");
    }
    for (const char *seg = u->path + 1;;) {
        size_t n = strcspn(seg, "/");
        FUZZ_CHECK(!dot_seg(seg, n), "dot segment in %s", u->path);
        if (!seg[n])
            break;
        seg += n + 1;
    }
    /* Printed back, it parses to the same. */
    bool v6 = strchr(u->host, ':') != NULL;
    char *t = lk_printf(a, "%s://%s%s%s:%d%s%s%s", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->path,
                        u->query ? "?" : "", u->query ? u->query : "");
    lk_url u2;
    if (strlen(t) <= LK_URL_MAX) {
        FUZZ_CHECK(lk_url_parse(a, t, &u2) == LK_OK, "printed URL refused: %s", t);
        FUZZ_CHECK(!strcmp(u->scheme, u2.scheme) && !strcmp(u->host, u2.host) && u->port == u2.port &&
                       !strcmp(u->path, u2.path),
                   "printed URL parses differently: %s", t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[4];
    size_t n = fuzz_fields(data, size, '\n', f, NULL, 4);
    const char *url = f[n - 1];
    char *const *entries = f;
    size_t ne = n - 1;
    lk_arena *a = lk_arena_new();

    lk_url u;
    bool url_ok = lk_url_parse(a, url, &u) == LK_OK;
    if (url_ok)
        check_parsed(a, url, &u);

    bool want = false;
    origin uo, eo;
    for (size_t i = 0; i < ne; i++) {
        lk_url e;
        if (lk_url_parse(a, entries[i], &e) != LK_OK)
            continue;
        check_parsed(a, entries[i], &e);
        if (!url_ok)
            continue;
        origin_of(url, &uo);
        origin_of(entries[i], &eo);
        if (strcmp(uo.scheme, eo.scheme) || strcmp(uo.host, eo.host) || uo.port != eo.port)
            continue;
        size_t el = strlen(eo.path);
        while (el > 0 && eo.path[el - 1] == '/')
            el--;
        if (!strncmp(uo.path, eo.path, el) && (uo.path[el] == '\0' || uo.path[el] == '/'))
            want = true;
    }
    bool got = lk_redirect_allowed(a, url, entries, ne);
    FUZZ_CHECK(got == want, "lk_redirect_allowed says %d, reference %d", got, want);
    if (got) {
        const char *auth = strstr(url, "://") + 3;
        size_t al = strcspn(auth, "/?");
        FUZZ_CHECK(!memchr(auth, '@', al) && !strchr(url, '#') && !strchr(url, '\\'), "unsafe URL allowed");
    }
    FUZZ_CHECK(!lk_redirect_allowed(a, url, entries, 0), "allowed by an empty list");
    lk_arena_free(a);
    fuzz_fields_free(f, n);
    return 0;
}
