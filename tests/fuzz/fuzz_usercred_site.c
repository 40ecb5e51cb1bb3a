/* lk_usercred_site on the site a user types. Input: a flag byte (cloud or
 * dc profile, allow_http_sites, allow_private_sites), then the text.
 *
 * Cloud, accepted ⇒ the host matches ^[a-z0-9-]+\.atlassian\.net$, the url
 * is "https://" + host and the name the part before ".atlassian.net"; the
 * host is the input lower-cased without "https://" and one trailing '/'.
 * Data Center, accepted ⇒ the url parses as http(s) without query, https
 * unless allow_http_sites, has no user info or '#', names the host it reports,
 * and without allow_private_sites the host is no private, loopback or
 * local address in any form the resolver reads as one (127.1, 0x7f.1,
 * 2130706433, ::ffff:10.0.0.1, localhost, a trailing dot). */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "arena.h"
#include "upstream.h"
#include "url.h"
#include "usercred.h"

static bool cloud_host(const char *h)
{
    const char *suf = ".atlassian.net";
    size_t n = strlen(h), sl = strlen(suf);
    if (n <= sl || strcmp(h + n - sl, suf))
        return false;
    for (size_t i = 0; i < n - sl; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-'))
            return false;
    return true;
}

static bool private_host(const char *host)
{
    char *h = strdup(host);
    size_t n = strlen(h);
    if (n > 1 && h[n - 1] == '.')
        h[--n] = '\0';
    struct in_addr v4;
    unsigned char v6[16];
    bool priv;
    if (inet_aton(h, &v4))
        priv = lk_addr_is_private(AF_INET, (const unsigned char *)&v4);
    else if (inet_pton(AF_INET6, h, v6) == 1)
        priv = lk_addr_is_private(AF_INET6, v6);
    else
        priv = !strcmp(h, "localhost") || (n > 10 && !strcmp(h + n - 10, ".localhost"));
    free(h);
    return priv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    char *input = fuzz_str(data + 1, size - 1);
    lk_arena *a = lk_arena_new();
    lk_profile p;
    memset(&p, 0, sizeof(p));
    p.site_kind = (flags & 1) ? "dc" : "cloud";
    p.allow_http_sites = flags & 2;
    p.allow_private_sites = flags & 4;
    lk_site s;
    const char *why = "unset";
    lk_err rc = lk_usercred_site(a, &p, input, &s, &why);
    FUZZ_CHECK(rc == LK_OK ? why == NULL : (rc == LK_EINVAL && why != NULL), "rc %d and why", rc);
    if (rc == LK_OK && !(flags & 1)) {
        FUZZ_CHECK(s.url && !strncmp(s.url, "https://", 8), "cloud url %s", s.url);
        const char *h = s.url + 8;
        FUZZ_CHECK(cloud_host(h), "cloud host %s", h);
        FUZZ_CHECK(s.name && strlen(s.name) + strlen(".atlassian.net") == strlen(h) &&
                       !strncmp(h, s.name, strlen(s.name)),
                   "cloud name %s", s.name);
        char *low = lk_strdup(a, input);
        for (char *c = low; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        const char *x = strncmp(low, "https://", 8) ? low : low + 8;
        size_t hl = strlen(h);
        FUZZ_CHECK(!strncmp(x, h, hl) && (!x[hl] || !strcmp(x + hl, "/")), "host %s from %s", h, input);
    }
    if (rc == LK_OK && (flags & 1)) {
        lk_url u;
        FUZZ_CHECK(lk_url_parse(a, s.url, &u) == LK_OK && !u.query, "dc url %s", s.url);
        FUZZ_CHECK(!strcmp(u.scheme, "https") || p.allow_http_sites, "http site %s", s.url);
        const char *auth = s.url + strlen(u.scheme) + 3;
        FUZZ_CHECK(!memchr(auth, '@', strcspn(auth, "/")) && !strchr(s.url, '#'), "dc url %s", s.url);
        FUZZ_CHECK(s.name && !strcmp(s.name, u.host), "name %s, host %s", s.name, u.host);
        if (!p.allow_private_sites)
            FUZZ_CHECK(!private_host(u.host), "private host accepted: %s", u.host);
    }
    lk_arena_free(a);
    free(input);
    return 0;
}
