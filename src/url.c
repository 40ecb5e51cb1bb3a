#include "url.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

static bool path_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '\\' && c != '#' && c != '"' && c != '<' && c != '>' && c != '`' && c != '{' &&
           c != '}' && c != '|' && c != '^';
}

/* A segment that is "." or ".." once %2e is read as a dot. */
static bool dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '.') {
            dots++;
            i++;
        } else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            dots++;
            i += 3;
        } else {
            return false;
        }
    }
    return dots == 1 || dots == 2;
}

static lk_err check_path(const char *p)
{
    for (const char *c = p; *c; c++) {
        if (!path_char_ok((unsigned char)*c))
            return LK_EINVAL;
        if (*c == '%') {
            if (!c[1] || !c[2])
                return LK_EINVAL;
            char h = c[1], l = (char)(c[2] | 0x20);
            /* %2f and %5c: encoded slash and backslash */
            if ((h == '2' && l == 'f') || (h == '5' && l == 'c') || (h == '0' && l == '0'))
                return LK_EINVAL;
        }
    }
    const char *seg = p;
    while (*seg) {
        seg++; /* past '/' */
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (dot_segment(seg, n))
            return LK_EINVAL;
        seg += n;
    }
    return LK_OK;
}

lk_err lk_url_parse(lk_arena *a, const char *s, lk_url *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(s);
    if (len == 0 || len > LK_URL_MAX)
        return LK_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
            return LK_EINVAL;
    }
    const char *rest;
    if (!strncmp(s, "https://", 8)) {
        out->scheme = "https";
        out->port = 443;
        rest = s + 8;
    } else if (!strncmp(s, "http://", 7)) {
        out->scheme = "http";
        out->port = 80;
        rest = s + 7;
    } else {
        return LK_EINVAL;
    }
    size_t alen = strcspn(rest, "/?");
    const char *auth = rest;
    if (alen == 0 || memchr(auth, '@', alen) || memchr(auth, '%', alen))
        return LK_EINVAL;
    const char *hend;
    const char *portp = NULL;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb || rb == auth + 1)
            return LK_EINVAL;
        for (const char *c = auth + 1; c < rb; c++)
            if (!strchr("0123456789abcdefABCDEF:.", *c))
                return LK_EINVAL;
        out->host = lk_strndup(a, auth + 1, (size_t)(rb - auth - 1));
        hend = rb + 1;
        if (hend < auth + alen) {
            if (*hend != ':')
                return LK_EINVAL;
            portp = hend + 1;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hend = colon ? colon : auth + alen;
        if (hend == auth)
            return LK_EINVAL;
        for (const char *c = auth; c < hend; c++) {
            char ch = *c;
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '-'))
                return LK_EINVAL;
        }
        out->host = lk_strndup(a, auth, (size_t)(hend - auth));
        if (colon)
            portp = colon + 1;
    }
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (portp) {
        const char *pend = auth + alen;
        if (portp == pend || pend - portp > 5)
            return LK_EINVAL;
        int port = 0;
        for (const char *c = portp; c < pend; c++) {
            if (*c < '0' || *c > '9')
                return LK_EINVAL;
            port = port * 10 + (*c - '0');
        }
        if (port < 1 || port > 65535)
            return LK_EINVAL;
        out->port = port;
    }
    const char *p = auth + alen;
    const char *q = strchr(p, '?');
    out->path = *p == '/' ? lk_strndup(a, p, q ? (size_t)(q - p) : strlen(p)) : lk_strdup(a, "/");
    out->query = q ? lk_strdup(a, q + 1) : NULL;
    if (out->path[0] != '/' || check_path(out->path) != LK_OK)
        return LK_EINVAL;
    return LK_OK;
}

bool lk_redirect_allowed(lk_arena *a, const char *url, char *const *entries, size_t n)
{
    lk_url u;
    if (lk_url_parse(a, url, &u) != LK_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        lk_url e;
        if (lk_url_parse(a, entries[i], &e) != LK_OK)
            continue;
        if (strcmp(u.scheme, e.scheme) != 0 || strcmp(u.host, e.host) != 0 || u.port != e.port)
            continue;
        size_t el = strlen(e.path);
        while (el > 0 && e.path[el - 1] == '/')
            el--; /* "/app/" and "/app" both mean the /app subtree */
        if (strncmp(u.path, e.path, el) != 0)
            continue;
        if (u.path[el] == '\0' || u.path[el] == '/')
            return true;
    }
    return false;
}

bool lk_host_is_loopback(const char *host)
{
    if (!strcmp(host, "localhost") || !strcmp(host, "::1"))
        return true;
    if (strncmp(host, "127.", 4) != 0)
        return false;
    /* Three more octets of 1-3 digits, each at most 255: "127..." or
     * "127.0.0.1000" are not addresses and would go to the resolver. */
    const char *c = host + 4;
    for (int part = 0; part < 3; part++) {
        if (part > 0 && *c++ != '.')
            return false;
        int v = 0, digits = 0;
        for (; *c >= '0' && *c <= '9'; c++) {
            if (++digits > 3)
                return false;
            v = v * 10 + (*c - '0');
        }
        if (digits == 0 || v > 255)
            return false;
    }
    return *c == '\0';
}
