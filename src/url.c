#include "url.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

#define LK_URL_PORT_DIGITS_MAX 5

static bool path_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '\\' && c != '#' && c != '"' && c != '<' && c != '>' && c != '`' && c != '{' &&
           c != '}' && c != '|' && c != '^';
}

/* A segment that is "." or ".." once %2e is read as a dot and its ';'
 * parameters (also "%3b") are dropped: servlet containers such as
 * Confluence Data Center's strip them before resolving "..;x" as ".."
 * (SPEC §3). */
static bool dot_segment(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ';' || (n - i >= 3 && s[i] == '%' && s[i + 1] == '3' && (s[i + 2] | 0x20) == 'b')) {
            n = i;
            break;
        }
    }
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

/* 1 to LK_URL_MAX bytes of printable ASCII without space, backslash or
 * '#'. */
static bool url_chars_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > LK_URL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
            return false;
    }
    return true;
}

/* "https://" or "http://", with the scheme's default port; *rest points
 * past it. */
static bool take_scheme(const char *s, lk_url *out, const char **rest)
{
    if (!strncmp(s, "https://", 8)) {
        out->scheme = "https";
        out->port = 443;
        *rest = s + 8;
    } else if (!strncmp(s, "http://", 7)) {
        out->scheme = "http";
        out->port = 80;
        *rest = s + 7;
    } else {
        return false;
    }
    return true;
}

/* An IPv6 literal "[...]" of hex digits, ':' and '.': sets out->host
 * (without brackets) and returns the end of the host, or NULL. */
static const char *take_ipv6_host(lk_arena *a, const char *auth, size_t alen, lk_url *out)
{
    const char *rb = memchr(auth, ']', alen);
    if (!rb || rb == auth + 1)
        return NULL;
    for (const char *c = auth + 1; c < rb; c++)
        if (!strchr("0123456789abcdefABCDEF:.", *c))
            return NULL;
    out->host = lk_strndup(a, auth + 1, (size_t)(rb - auth - 1));
    return rb + 1;
}

/* A name or IPv4 address (letters, digits, '.' and '-') up to the port's
 * ':': sets out->host and returns the end of the host, or NULL. */
static const char *take_name_host(lk_arena *a, const char *auth, size_t alen, lk_url *out)
{
    const char *colon = memchr(auth, ':', alen);
    const char *hend = colon ? colon : auth + alen;
    if (hend == auth)
        return NULL;
    for (const char *c = auth; c < hend; c++) {
        char ch = *c;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-'))
            return NULL;
    }
    out->host = lk_strndup(a, auth, (size_t)(hend - auth));
    return hend;
}

/* The authority auth[0..alen): a host (lower-cased) and an optional port
 * of 1 to 5 digits, 1 to 65535; no user info, no '%'. */
static lk_err parse_authority(lk_arena *a, const char *auth, size_t alen, lk_url *out)
{
    const char *end = auth + alen;
    if (alen == 0 || memchr(auth, '@', alen) || memchr(auth, '%', alen))
        return LK_EINVAL;
    const char *hend = auth[0] == '[' ? take_ipv6_host(a, auth, alen, out) : take_name_host(a, auth, alen, out);
    if (!hend || (hend < end && *hend != ':'))
        return LK_EINVAL;
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (hend == end)
        return LK_OK;
    const char *portp = hend + 1;
    long long port;
    if (end - portp > LK_URL_PORT_DIGITS_MAX || !lk_parse_int_n(portp, (size_t)(end - portp), 1, 65535, &port))
        return LK_EINVAL;
    out->port = (int)port;
    return LK_OK;
}

lk_err lk_url_parse(lk_arena *a, const char *s, lk_url *out)
{
    memset(out, 0, sizeof(*out));
    const char *rest;
    if (!url_chars_ok(s) || !take_scheme(s, out, &rest))
        return LK_EINVAL;
    size_t alen = strcspn(rest, "/?");
    if (parse_authority(a, rest, alen, out) != LK_OK)
        return LK_EINVAL;
    const char *p = rest + alen;
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

/* What is wrong with a raw path before decoding, or NULL. */
static const char *raw_path_problem(const char *raw, size_t n)
{
    if (n > LK_URL_PATH_MAX)
        return "The path is too long.";
    if (raw[0] != '/')
        return "The path must start with '/'.";
    if (strstr(raw, "%25"))
        return "The path must not hold an encoded '%'.";
    return NULL;
}

/* What is wrong with the bytes of a decoded path, or NULL. */
static const char *decoded_byte_problem(const char *d, size_t dn)
{
    for (size_t i = 0; i < dn; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 0x20 || c == 0x7f)
            return "The path must not hold control characters.";
        if (c == '\\' || c == '@')
            return "The path must not hold a backslash or '@'.";
    }
    return NULL;
}

/* What is wrong with the segments of a decoded path, or NULL: no "//"
 * anywhere (an authority), no "." or ".." segment, and no scheme in the
 * first segment. A segment's ';' parameters are no disguise: servlet
 * containers (Confluence Data Center) drop them and then resolve "..;x" as
 * ".." (SPEC §6). */
static const char *segment_problem(const char *d)
{
    if (strstr(d, "//"))
        return "The path must not hold empty segments ('//').";
    const char *seg = d + 1;
    for (bool first = true;; first = false) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        size_t nl = strcspn(seg, ";/"); /* the segment without its parameters */
        if ((nl == 1 && seg[0] == '.') || (nl == 2 && seg[0] == '.' && seg[1] == '.'))
            return "The path must not hold '.' or '..' segments.";
        if (first && memchr(seg, ':', sl))
            return "The path must not start with a scheme.";
        if (!slash)
            return NULL;
        seg = slash + 1;
    }
}

/* True when the decoded path d is one of the prefixes or continues one
 * after a '/'. */
static bool under_prefix(const char *d, char *const *prefixes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = prefixes[i];
        size_t pl = strlen(p);
        if (!strncmp(d, p, pl) && (p[pl - 1] == '/' || d[pl] == '\0' || d[pl] == '/'))
            return true;
    }
    return false;
}

lk_err lk_url_path_check(lk_arena *a, const char *raw, char *const *prefixes, size_t n, const char **why)
{
    size_t rn = strlen(raw);
    char *d;
    size_t dn;
    *why = raw_path_problem(raw, rn);
    if (*why)
        return LK_EINVAL;
    if (lk_pct_decode(a, raw, rn, false, &d, &dn) != LK_OK) {
        *why = "The path holds a malformed percent escape.";
        return LK_EINVAL;
    }
    *why = decoded_byte_problem(d, dn);
    if (!*why)
        *why = segment_problem(d);
    if (!*why && n > 0 && !under_prefix(d, prefixes, n))
        *why = "The path is outside what this profile may reach.";
    return *why ? LK_EINVAL : LK_OK;
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

/* RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"; the
 * scheme's length, or 0 when s does not start with one. */
static size_t scheme_len(const char *s)
{
    char c = s[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return 0;
    size_t i = 1;
    for (c = s[i];
         (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
         c = s[++i])
        ;
    return s[i] == ':' ? i : 0;
}

/* A URI reference cut into its parts (RFC 3986 §5.2.2's R); pointers into
 * the text, NULL for a part that is not there. */
typedef struct uri_ref {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n;
} uri_ref;

static void split_ref(const char *s, uri_ref *r)
{
    memset(r, 0, sizeof(*r));
    const char *hash = strchr(s, '#');
    size_t end = hash ? (size_t)(hash - s) : strlen(s);
    if (hash)
        r->frag = hash + 1;
    const char *q = memchr(s, '?', end);
    size_t pend = q ? (size_t)(q - s) : end;
    if (q) {
        r->query = q + 1;
        r->query_n = end - pend - 1;
    }
    size_t i = scheme_len(s);
    if (i) {
        r->scheme = s;
        r->scheme_n = i++;
    }
    if (pend - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        i += 2;
        size_t k = i;
        while (k < pend && s[k] != '/')
            k++;
        r->auth = s + i;
        r->auth_n = k - i;
        i = k;
    }
    r->path = s + i;
    r->path_n = pend - i;
}

/* RFC 3986 §5.2.4 remove_dot_segments. */
static char *remove_dots(lk_arena *a, const char *path, size_t n)
{
    char *in = lk_strndup(a, path, n);
    char *out = lk_alloc(a, n + 1);
    size_t i = 0, o = 0;
    while (i < n) {
        const char *p = in + i;
        size_t left = n - i;
        if (left >= 3 && !strncmp(p, "../", 3)) {
            i += 3; /* A */
        } else if (left >= 2 && !strncmp(p, "./", 2)) {
            i += 2;
        } else if ((left >= 3 && !strncmp(p, "/./", 3)) || (left == 2 && !strncmp(p, "/.", 2))) {
            i += 1; /* B: the prefix becomes "/" */
            if (left == 2)
                in[i] = '/';
            else
                i++;
        } else if ((left >= 4 && !strncmp(p, "/../", 4)) || (left == 3 && !strncmp(p, "/..", 3))) {
            i += 2; /* C: as B, and the output loses its last segment */
            if (left == 3)
                in[i] = '/';
            else
                i++;
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if ((left == 1 && p[0] == '.') || (left == 2 && !strncmp(p, "..", 2))) {
            i = n; /* D */
        } else {
            if (in[i] == '/') /* E */
                out[o++] = in[i++];
            while (i < n && in[i] != '/')
                out[o++] = in[i++];
        }
    }
    out[o] = '\0';
    return out;
}

lk_err lk_url_resolve(lk_arena *a, const char *base, const char *ref, char **out)
{
    *out = NULL;
    uri_ref b, r;
    split_ref(base, &b);
    split_ref(ref, &r);
    if (!b.scheme)
        return LK_EINVAL;
    if (r.scheme) {
        *out = lk_strdup(a, ref); /* absolute already: left as it is */
        return LK_OK;
    }
    const char *auth = b.auth, *query;
    size_t auth_n = b.auth_n, query_n;
    char *path;
    if (r.auth) {
        auth = r.auth;
        auth_n = r.auth_n;
        path = remove_dots(a, r.path, r.path_n);
        query = r.query;
        query_n = r.query_n;
    } else if (r.path_n == 0) {
        path = lk_strndup(a, b.path, b.path_n);
        query = r.query ? r.query : b.query;
        query_n = r.query ? r.query_n : b.query_n;
    } else {
        if (r.path[0] == '/') {
            path = remove_dots(a, r.path, r.path_n);
        } else {
            /* §5.2.3 merge: the base path up to its last '/', then R's. */
            size_t keep = b.path_n;
            while (keep > 0 && b.path[keep - 1] != '/')
                keep--;
            char *merged = b.auth && b.path_n == 0 ? lk_printf(a, "/%.*s", (int)r.path_n, r.path)
                                                   : lk_printf(a, "%.*s%.*s", (int)keep, b.path, (int)r.path_n, r.path);
            path = remove_dots(a, merged, strlen(merged));
        }
        query = r.query;
        query_n = r.query_n;
    }
    *out = lk_printf(a, "%.*s:%s%.*s%s%s%.*s%s%s", (int)b.scheme_n, b.scheme, auth ? "//" : "", (int)auth_n,
                     auth ? auth : "", path, query ? "?" : "", (int)query_n, query ? query : "", r.frag ? "#" : "",
                     r.frag ? r.frag : "");
    return LK_OK;
}

bool lk_provider_url_ok(const char *url)
{
    lk_url u;
    lk_arena *a = lk_arena_new();
    bool ok = lk_url_parse(a, url, &u) == LK_OK &&
              (!strcmp(u.scheme, "https") || (!strcmp(u.scheme, "http") && lk_host_is_loopback(u.host)));
    lk_arena_free(a);
    return ok;
}
