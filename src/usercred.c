#include "usercred.h"

#include <arpa/inet.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "text.h"
#include "url.h"

/* The most kept of a tenant_info or credential-check answer. */
#define LK_USERCRED_ANSWER_MAX ((size_t)64 * 1024)
/* A site as a user types it, a DNS name, and a cloud id: at most. */
#define LK_SITE_INPUT_MAX 512
#define LK_DNS_NAME_MAX 253
#define LK_CLOUD_ID_MAX 128

/* ^[a-z0-9-]+\.atlassian\.net$ */
static bool cloud_host(const char *h)
{
    const char *suffix = ".atlassian.net";
    size_t n = strlen(h), sl = strlen(suffix);
    if (n <= sl || n > LK_DNS_NAME_MAX || strcmp(h + n - sl, suffix) != 0)
        return false;
    for (size_t i = 0; i < n - sl; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* An address literal in a private, loopback, link-local or other
 * non-public range (names are checked again when connecting). IPv4 is read
 * as the resolver and libcurl read it, so that 127.1, 2130706433 or
 * 0x7f.0.0.1 are literals too; a trailing dot names the same host. */
static bool private_literal(lk_arena *a, const char *name)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    /* Any length: "<250 zeros>0177.0.0.1" and "<long>.localhost" are
     * still loopback. */
    char *host = lk_strndup(a, name, n);
    unsigned char v6[16];
    struct in_addr v4;
    if (inet_aton(host, &v4) == 1)
        return lk_addr_is_private(AF_INET, (const unsigned char *)&v4.s_addr);
    if (inet_pton(AF_INET6, host, v6) == 1)
        return lk_addr_is_private(AF_INET6, v6);
    return !strcmp(host, "localhost") || (n > 10 && !strcmp(host + n - 10, ".localhost"));
}

lk_err lk_usercred_site(lk_arena *a, const lk_profile *p, const char *input, lk_site *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (!input || !*input || strlen(input) > LK_SITE_INPUT_MAX || !lk_utf8_printable(input, strlen(input))) {
        *why = "Enter the address of your site.";
        return LK_EINVAL;
    }
    if (!strcmp(p->site_kind, "cloud")) {
        char *h = lk_strdup(a, input);
        for (char *c = h; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (!strncmp(h, "https://", 8))
            h += 8;
        size_t n = strlen(h);
        if (n && h[n - 1] == '/')
            h[--n] = '\0';
        if (!cloud_host(h)) {
            *why = "Enter your Atlassian site as yourname.atlassian.net.";
            return LK_EINVAL;
        }
        out->url = lk_printf(a, "https://%s", h);
        out->name = lk_strndup(a, h, n - strlen(".atlassian.net"));
        return LK_OK;
    }
    lk_url u;
    char *s = lk_strdup(a, input);
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    if (lk_url_parse(a, s, &u) != LK_OK || u.query) {
        *why = "Enter the base address of your server, such as https://confluence.example.com.";
        return LK_EINVAL;
    }
    if (strcmp(u.scheme, "https") != 0 && !p->allow_http_sites) {
        *why = "The address must start with https://.";
        return LK_EINVAL;
    }
    if (!p->allow_private_sites && private_literal(a, u.host)) {
        *why = "This address is not allowed: it names a private or local network.";
        return LK_EINVAL;
    }
    out->url = s;
    out->name = u.host;
    return LK_OK;
}

lk_err lk_usercred_resolve(lk_upstream *u, lk_arena *a, const lk_profile *p, lk_site *site)
{
    if (!p->api_base_url || !strstr(p->api_base_url, "{cloud_id}"))
        return LK_OK;
    if (!p->tenant_info_url)
        return LK_EPROVIDER;
    lk_site probe = *site;
    probe.cloud_id = "";
    char *url = lk_api_base_url(a, p->tenant_info_url, &probe);
    if (!url)
        return LK_EPROVIDER;
    const char *headers[] = {"Accept: application/json", NULL};
    lk_http_resp resp;
    /* The host comes from the site a user named: the same connect-time
     * address check as every other call to it (SPEC §8a). */
    lk_err rc =
        lk_upstream_call(u, a, lk_usercred_reach(p), "GET", url, headers, NULL, 0, LK_USERCRED_ANSWER_MAX, &resp);
    if (rc != LK_OK)
        return LK_EUNAVAILABLE;
    if (resp.status == 429 || resp.status >= 500)
        return LK_EUNAVAILABLE;
    json_object *o = NULL;
    const char *id = NULL;
    if (resp.status == 200 && lk_json_parse(a, resp.body, resp.len, &o) == LK_OK)
        id = lk_json_str(o, "cloudId");
    if (!id || !*id || strlen(id) > LK_CLOUD_ID_MAX || !lk_site_valid(id))
        return LK_EPROVIDER;
    site->cloud_id = lk_strdup(a, id);
    return LK_OK;
}

char *lk_usercred_header(lk_arena *a, const char *kind, const char *credential)
{
    if (!strcmp(kind, "basic"))
        return lk_printf(a, "Basic %s", lk_b64_encode(a, (const unsigned char *)credential, strlen(credential)));
    return lk_printf(a, "Bearer %s", credential);
}

bool lk_usercred_valid(const char *kind, const char *credential)
{
    size_t n = strlen(credential);
    if (n == 0 || n > LK_CREDENTIAL_MAX || !lk_utf8_printable(credential, n))
        return false;
    if (!strcmp(kind, "basic")) {
        const char *colon = strchr(credential, ':');
        return colon && colon != credential && colon[1] && !strchr(credential, ' ');
    }
    return !strpbrk(credential, " :");
}

lk_err lk_usercred_check(lk_upstream *u, lk_arena *a, const lk_profile *p, const lk_site *site, const char *credential)
{
    if (!p->check_path)
        return LK_OK; /* a provider with nothing to ask */
    char *base = lk_api_base_url(a, p->api_base_url, site);
    if (!base)
        return LK_EPROVIDER;
    char *url = lk_printf(a, "%s%s", base, p->check_path);
    char *auth = lk_printf(a, "Authorization: %s", lk_usercred_header(a, p->credential_kind, credential));
    const char *headers[] = {auth, "Accept: application/json", NULL};
    lk_http_resp resp;
    /* Only a host that comes from a site is checked: a base URL that names
     * none is the profile's own, as an OAuth profile's is. */
    lk_err rc =
        lk_upstream_call(u, a, lk_usercred_reach(p), "GET", url, headers, NULL, 0, LK_USERCRED_ANSWER_MAX, &resp);
    if (rc != LK_OK)
        return rc == LK_ETOOBIG ? LK_EPROVIDER : LK_EUNAVAILABLE;
    return lk_usercred_judge(a, p, resp.status, resp.body, resp.len);
}

lk_err lk_usercred_judge(lk_arena *a, const lk_profile *p, long status, const char *body, size_t len)
{
    if (status == 401 || status == 403)
        return LK_EDENIED;
    if (status == 429 || status >= 500)
        return LK_EUNAVAILABLE;
    if (status < 200 || status > 299)
        return LK_EPROVIDER;
    json_object *o = NULL;
    bool object = body && lk_json_parse(a, body, len, &o) == LK_OK && json_object_is_type(o, json_type_object);
    /* Data Center may answer a bad token as the anonymous user. */
    const char *type = object ? lk_json_str(o, "type") : NULL;
    if (type && !strcmp(type, "anonymous"))
        return LK_EDENIED;
    if (!lk_profile_is_atlassian(p))
        return LK_OK; /* any other provider: a 2xx knows the credential */
    if (!object)
        return LK_EPROVIDER;
    if (!lk_json_str(o, "accountId") && !lk_json_str(o, "username") && !lk_json_str(o, "userKey") &&
        !lk_json_str(o, "name"))
        return LK_EDENIED;
    return LK_OK;
}

bool lk_usercred_deny_private(const lk_profile *p)
{
    return lk_profile_is_credential_auth(p) && lk_profile_needs_site(p) && !p->allow_private_sites;
}

lk_reach lk_usercred_reach(const lk_profile *p)
{
    return lk_usercred_deny_private(p) ? LK_REACH_PUBLIC : LK_REACH_ANY;
}

const char *lk_usercred_shape(const lk_profile *p)
{
    if (strcmp(p->credential_kind, "basic") != 0)
        return "a personal access token";
    return lk_profile_is_atlassian(p) ? "email:api_token" : "user:token";
}

lk_err lk_usercred_accept(lk_upstream *u, lk_arena *a, const lk_profile *p, const char *site_input,
                          const char *credential, bool check, json_object **meta, const char **why)
{
    *meta = NULL;
    *why = NULL;
    lk_site site, *sp = NULL;
    lk_err rc = LK_OK;
    if (lk_profile_needs_site(p)) {
        rc = lk_usercred_site(a, p, site_input, &site, why);
        if (rc == LK_OK)
            rc = lk_usercred_resolve(u, a, p, &site);
        sp = &site;
    }
    if (rc == LK_OK && check)
        rc = lk_usercred_check(u, a, p, sp, credential);
    if (rc != LK_OK)
        return rc;
    lk_sites one = {sp, sp ? 1 : 0};
    /* Without a site the base URL alone names the provider. */
    *meta = sp ? lk_sites_metadata(a, &one, sp) : lk_json_object(a);
    return LK_OK;
}
