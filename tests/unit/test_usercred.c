/* Unit tests: API tokens and personal access tokens (auth types api_key and
 * api_key_per_user): the sites users type, the ready Authorization value,
 * the credential's shape, the private-address test used when connecting,
 * the API base URL templates and the profile defaults of each template.
 * No network, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "profile.h"
#include "template.h"
#include "usercred.h"

static int setup(void **state)
{
    *state = lk_arena_new();
    return 0;
}

static int teardown(void **state)
{
    lk_arena_free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static lk_profile api_profile(lk_arena *a, const char *tmpl, const char *auth_type)
{
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, tmpl, &p), LK_OK);
    assert_int_equal(lk_profile_set_auth_type(a, &p, auth_type), LK_OK);
    return p;
}

/* lk_usercred_site: LK_OK with the site, or LK_EINVAL with a sentence. */
static lk_err site(lk_arena *a, const lk_profile *p, const char *input, lk_site *out)
{
    const char *why = (const char *)1;
    lk_err rc = lk_usercred_site(a, p, input, out, &why);
    if (rc == LK_OK) {
        assert_null(why);
        assert_non_null(out->url);
        assert_non_null(out->name);
        assert_null(out->cloud_id); /* only tenant_info fills it */
    } else {
        assert_int_equal(rc, LK_EINVAL);
        assert_non_null(why);
        assert_true(strlen(why) > 10);
    }
    return rc;
}

/* ---- Atlassian Cloud sites ---- */

static void test_cloud_site_forms_accepted(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "atlassian-confluence", "api_key_per_user");
    static const char *const ok[] = {
        "acme.atlassian.net", "https://acme.atlassian.net", "https://acme.atlassian.net/", "acme.atlassian.net/",
        "ACME.Atlassian.NET", "HTTPS://acme.atlassian.net", "my-team-2.atlassian.net",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        lk_site s;
        assert_int_equal(site(a, &p, ok[i], &s), LK_OK);
        if (i < 6) {
            assert_string_equal(s.url, "https://acme.atlassian.net");
            assert_string_equal(s.name, "acme");
        } else {
            assert_string_equal(s.url, "https://my-team-2.atlassian.net");
            assert_string_equal(s.name, "my-team-2");
        }
    }
}

static void test_cloud_site_refusals(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "atlassian-confluence", "api_key_per_user");
    static const char *const bad[] = {
        "",
        " ",
        "acme",
        ".atlassian.net",
        "atlassian.net",
        "acme.atlassian.net.evil.com",
        "acme.atlassian.net.",
        "acme_x.atlassian.net",
        "acme x.atlassian.net",
        " acme.atlassian.net",
        "acme.atlassian.net ",
        "a.b.atlassian.net",
        "http://acme.atlassian.net",
        "https://acme.atlassian.net/wiki",
        "https://acme.atlassian.net//",
        "https://acme.atlassian.net?x=1",
        "user@acme.atlassian.net",
        "acme.atlassian.net:443",
        "acme.jira.com",
        "evil.com/acme.atlassian.net",
        "acme.atlassian.net\n",
        "acm\xc3\xa9.atlassian.net",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lk_site s;
        if (site(a, &p, bad[i], &s) != LK_EINVAL)
            fail_msg("accepted cloud site \"%s\"", bad[i]);
    }
    lk_site s;
    const char *why = NULL;
    assert_int_equal(lk_usercred_site(a, &p, NULL, &s, &why), LK_EINVAL);
    assert_non_null(why);
    char long_name[600];
    memset(long_name, 'a', sizeof(long_name));
    strcpy(long_name + 540, ".atlassian.net");
    assert_int_equal(site(a, &p, long_name, &s), LK_EINVAL);
}

/* ---- Data Center sites ---- */

static void test_dc_https_accepted(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    lk_site s;
    assert_int_equal(site(a, &p, "https://confluence.example.com", &s), LK_OK);
    assert_string_equal(s.url, "https://confluence.example.com");
    assert_string_equal(s.name, "confluence.example.com");
    assert_int_equal(site(a, &p, "https://Wiki.Example.com:8443/confluence/", &s), LK_OK);
    assert_string_equal(s.url, "https://Wiki.Example.com:8443/confluence");
    assert_string_equal(s.name, "wiki.example.com");
    assert_int_equal(site(a, &p, "https://8.8.8.8/c", &s), LK_OK);
    assert_int_equal(site(a, &p, "https://[2001:db8::1]/c", &s), LK_OK);
}

static void test_dc_http_only_when_allowed(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    lk_site s;
    const char *why = NULL;
    assert_int_equal(lk_usercred_site(a, &p, "http://confluence.example.com", &s, &why), LK_EINVAL);
    assert_non_null(strstr(why, "https://"));
    p.allow_http_sites = true;
    assert_int_equal(site(a, &p, "http://confluence.example.com", &s), LK_OK);
    assert_string_equal(s.url, "http://confluence.example.com");
    /* other schemes never */
    assert_int_equal(site(a, &p, "ftp://confluence.example.com", &s), LK_EINVAL);
    assert_int_equal(site(a, &p, "file:///etc/passwd", &s), LK_EINVAL);
    assert_int_equal(site(a, &p, "confluence.example.com", &s), LK_EINVAL);
}

static void test_dc_refuses_query_userinfo_fragment(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    p.allow_http_sites = p.allow_private_sites = true;
    static const char *const bad[] = {
        "https://confluence.example.com?x=1",
        "https://confluence.example.com/?",
        "https://user@confluence.example.com",
        "https://user:pw@confluence.example.com",
        "https://confluence.example.com#frag",
        "https://confluence.example.com/a/../b",
        "https://confluence.example.com/a%2fb",
        "https://confluence.example.com\\@evil.com",
        "https://",
        "https://:443",
        "https://confluence.example.com:0",
        "https://confluence.example.com:99999",
        "https://conf luence.example.com",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lk_site s;
        if (site(a, &p, bad[i], &s) != LK_EINVAL)
            fail_msg("accepted dc site \"%s\"", bad[i]);
    }
}

static void test_dc_private_addresses_only_when_allowed(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    static const char *const priv[] = {
        "https://127.0.0.1",
        "https://127.0.0.1:8090/dc",
        "https://10.1.2.3",
        "https://172.16.0.1",
        "https://172.31.255.255",
        "https://192.168.1.10",
        "https://169.254.169.254",
        "https://100.64.0.1",
        "https://0.0.0.0",
        "https://[::1]",
        "https://[::1]:8443/c",
        "https://[fe80::1]",
        "https://[fc00::1]",
        "https://[fd12:3456::1]",
        "https://[::ffff:10.0.0.1]",
        "https://[::ffff:127.0.0.1]",
        "https://[::]",
        /* IPv6 carrying a private IPv4 address: NAT64, 6to4, IPv4-compatible,
         * -translated, Teredo (client 10.0.0.1, inverted) */
        "https://[64:ff9b::10.0.0.1]",
        "https://[64:ff9b::7f00:1]:8443/c",
        "https://[2002:a00:1::]",
        "https://[::127.0.0.1]",
        "https://[::ffff:0:10.0.0.1]",
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
        "https://localhost",
        "https://LOCALHOST:8090",
        "https://wiki.localhost",
        "https://localhost.",
        /* IPv4 as the resolver reads it: short, decimal, hex, octal forms */
        "https://127.1",
        "https://2130706433",
        "https://0x7f000001",
        "https://0x7f.0.0.1",
        "https://0177.0.0.1",
        "https://10.1",
        "https://127.0.0.1.",
    };
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        lk_site s;
        const char *why = NULL;
        if (lk_usercred_site(a, &p, priv[i], &s, &why) != LK_EINVAL)
            fail_msg("accepted private site \"%s\"", priv[i]);
        assert_non_null(strstr(why, "private"));
    }
    p.allow_private_sites = true;
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        lk_site s;
        if (site(a, &p, priv[i], &s) != LK_OK)
            fail_msg("refused allowed private site \"%s\"", priv[i]);
    }
    /* public addresses and names never were private */
    p.allow_private_sites = false;
    static const char *const pub[] = {"https://8.8.8.8",
                                      "https://172.32.0.1",
                                      "https://192.169.0.1",
                                      "https://[2606:4700::1111]",
                                      "https://[64:ff9b::8.8.8.8]",
                                      "https://[2002:808:808::1]",
                                      "https://localhost.example.com",
                                      "https://mylocalhost",
                                      "https://11.0.0.1"};
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
        lk_site s;
        if (site(a, &p, pub[i], &s) != LK_OK)
            fail_msg("refused public site \"%s\"", pub[i]);
    }
}

/* Found by tests/fuzz (fuzz_usercred_site): hosts of 256 bytes or more
 * skipped the check, though a long name under .localhost, or IPv4 with
 * leading zeros, is still loopback to the resolver and libcurl. */
static void test_dc_private_addresses_of_any_length(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    char zeros[301], label[301];
    memset(zeros, '0', 300);
    zeros[300] = '\0';
    memset(label, 'a', 300);
    label[300] = '\0';
    const char *const priv[] = {
        lk_printf(a, "https://%s0177.0.0.1", zeros),
        lk_printf(a, "https://%s.localhost", label),
        lk_printf(a, "https://%s.localhost.", label),
    };
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        lk_site s;
        const char *why = NULL;
        if (lk_usercred_site(a, &p, priv[i], &s, &why) != LK_EINVAL)
            fail_msg("accepted private site %zu", i);
        assert_non_null(strstr(why, "private"));
    }
    lk_site s;
    assert_int_equal(site(a, &p, lk_printf(a, "https://%s.example.com", label), &s), LK_OK);
}

/* ---- the Authorization value and the credential's shape ---- */

static void test_header_basic_is_base64_of_email_colon_token(void **state)
{
    lk_arena *a = *state;
    assert_string_equal(lk_usercred_header(a, "basic", "ann@example.com:ATATT3xFfGF0"),
                        "Basic YW5uQGV4YW1wbGUuY29tOkFUQVRUM3hGZkdGMA==");
    assert_string_equal(lk_usercred_header(a, "basic", "a:b"), "Basic YTpi");
    assert_string_equal(lk_usercred_header(a, "basic", "ab:c"), "Basic YWI6Yw==");
}

static void test_header_bearer_is_the_token(void **state)
{
    lk_arena *a = *state;
    assert_string_equal(lk_usercred_header(a, "bearer", "NjM0MzQ5ODU3OTY3OnhV"), "Bearer NjM0MzQ5ODU3OTY3OnhV");
}

static void test_valid_basic(void **state)
{
    (void)state;
    assert_true(lk_usercred_valid("basic", "ann@example.com:ATATT3xFfGF0"));
    assert_true(lk_usercred_valid("basic", "a:b"));
    assert_false(lk_usercred_valid("basic", ""));
    assert_false(lk_usercred_valid("basic", "no-colon-token"));
    assert_false(lk_usercred_valid("basic", ":token"));
    assert_false(lk_usercred_valid("basic", "ann@example.com:"));
    assert_false(lk_usercred_valid("basic", "ann@example.com: token"));
    assert_false(lk_usercred_valid("basic", "ann @example.com:token"));
    assert_false(lk_usercred_valid("basic", "ann@example.com:tok\r\nX-Evil: 1"));
    assert_false(lk_usercred_valid("basic", "ann@example.com:tok\x01"));
    assert_false(lk_usercred_valid("basic", "ann@example.com:tok\x7f"));
    assert_false(lk_usercred_valid("basic", "ann@example.com:\xff\xfe"));
}

static void test_valid_bearer(void **state)
{
    (void)state;
    assert_true(lk_usercred_valid("bearer", "NjM0MzQ5ODU3OTY3OnhV"));
    assert_false(lk_usercred_valid("bearer", ""));
    assert_false(lk_usercred_valid("bearer", "two words"));
    assert_false(lk_usercred_valid("bearer", "a:b"));
    assert_false(lk_usercred_valid("bearer", "tok\n"));
    assert_false(lk_usercred_valid("bearer", "tok\tx"));
}

static void test_valid_length_limit(void **state)
{
    lk_arena *a = *state;
    char *big = lk_alloc(a, LK_CREDENTIAL_MAX + 2);
    memset(big, 'x', LK_CREDENTIAL_MAX + 1);
    big[LK_CREDENTIAL_MAX + 1] = '\0';
    assert_false(lk_usercred_valid("bearer", big));
    big[LK_CREDENTIAL_MAX] = '\0';
    assert_true(lk_usercred_valid("bearer", big));
    big[0] = ':';
    big[1] = 'x';
    big[10] = ':';
    assert_true(lk_usercred_valid("basic", big + 1)); /* "x…:…" */
}

/* ---- the address check made when connecting ---- */

static bool v4_private(const char *s)
{
    unsigned char b[4];
    assert_int_equal(inet_pton(AF_INET, s, b), 1);
    return lk_addr_is_private(AF_INET, b);
}

static bool v6_private(const char *s)
{
    unsigned char b[16];
    assert_int_equal(inet_pton(AF_INET6, s, b), 1);
    return lk_addr_is_private(AF_INET6, b);
}

static void test_addr_v4(void **state)
{
    (void)state;
    static const char *const priv[] = {
        "0.0.0.0",         "0.1.2.3",         "10.0.0.1",    "10.255.255.255",  "127.0.0.1",      "127.1.2.3",
        "100.64.0.1",      "100.127.255.254", "169.254.0.1", "169.254.169.254", "172.16.0.1",     "172.31.255.255",
        "192.168.0.1",     "192.168.255.255", "192.0.0.8",   "198.18.0.1",      "198.19.255.255", "224.0.0.1",
        "239.255.255.250", "255.255.255.255", "240.0.0.1",
    };
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        if (!v4_private(priv[i]))
            fail_msg("%s is not private", priv[i]);
    static const char *const pub[] = {"8.8.8.8",         "1.1.1.1",        "100.63.255.255", "100.128.0.1",
                                      "169.253.0.1",     "172.15.255.255", "172.32.0.1",     "192.167.0.1",
                                      "192.169.0.1",     "198.17.0.1",     "198.20.0.1",     "11.0.0.1",
                                      "126.255.255.255", "128.0.0.1",      "223.255.255.255"};
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
        if (v4_private(pub[i]))
            fail_msg("%s is private", pub[i]);
}

static void test_addr_v6(void **state)
{
    (void)state;
    static const char *const priv[] = {"::",
                                       "::1",
                                       "fc00::1",
                                       "fd12:3456:789a::1",
                                       "fe80::1",
                                       "febf::1",
                                       "ff02::1",
                                       "::ffff:10.0.0.1",
                                       "::ffff:127.0.0.1",
                                       "::ffff:192.168.1.1",
                                       "::ffff:169.254.169.254",
                                       "::ffff:0.0.0.0"};
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        if (!v6_private(priv[i]))
            fail_msg("%s is not private", priv[i]);
    static const char *const pub[] = {"2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "2a00:1450::1"};
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
        if (v6_private(pub[i]))
            fail_msg("%s is private", pub[i]);
}

/* IPv6 forms that carry an IPv4 address are judged by it: NAT64
 * 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::a.b.c.d, IPv4-mapped,
 * IPv4-translated, Teredo 2001::/32 (server and inverted client). */
static void test_addr_v6_embedding_ipv4(void **state)
{
    (void)state;
    static const char *const priv[] = {
        "64:ff9b::10.0.0.1",
        "64:ff9b::127.0.0.1",
        "64:ff9b::169.254.169.254",
        "64:ff9b::192.168.0.1",
        "64:ff9b::a00:1",
        "64:ff9b::",
        "64:ff9b:1::8.8.8.8", /* local-use NAT64: all */
        "64:ff9b:1:ffff::1",
        "2002:a00:1::",
        "2002:7f00:1::1",
        "2002:c0a8:101:1::1",
        "2002:a9fe:a9fe::",
        "2002::",
        "::10.0.0.1",
        "::127.0.0.1",
        "::169.254.169.254",
        "::192.168.1.1",
        "::0.0.0.2",
        "::ffff:0:10.0.0.1",
        "::ffff:0:127.0.0.1",
        "2001:0:a00:1::1",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
        "2001:0:4136:e378::ffff",
        "fec0::1",
        "feff::1",
    };
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        if (!v6_private(priv[i]))
            fail_msg("%s is not private", priv[i]);
    static const char *const pub[] = {
        "64:ff9b::8.8.8.8", "64:ff9b::808:808",     "2002:808:808::1", "2002:101:101:1::1",
        "::8.8.8.8",        "::ffff:0:8.8.8.8",     "::1.1.1.1",       "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1",      "2001:4860:4860::8888", "64:ff9b:2::1",    "2003::1",
    };
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
        if (v6_private(pub[i]))
            fail_msg("%s is private", pub[i]);
}

/* ---- API base URL templates ---- */

static void test_api_base_url_templates(void **state)
{
    lk_arena *a = *state;
    lk_site cloud = {.cloud_id = "11111111-aaaa", .url = "https://acme.atlassian.net", .name = "acme"};
    lk_site dc = {.cloud_id = NULL, .url = "https://wiki.example.com:8443/confluence", .name = "wiki.example.com"};
    assert_string_equal(lk_api_base_url(a, "https://{site_host}", &cloud), "https://acme.atlassian.net");
    assert_string_equal(lk_api_base_url(a, "https://api.atlassian.com/ex/confluence/{cloud_id}", &cloud),
                        "https://api.atlassian.com/ex/confluence/11111111-aaaa");
    assert_string_equal(lk_api_base_url(a, "{site_url}", &dc), "https://wiki.example.com:8443/confluence");
    assert_string_equal(lk_api_base_url(a, "http://127.0.0.1:9/site/{site_host}", &cloud),
                        "http://127.0.0.1:9/site/acme.atlassian.net");
    assert_string_equal(lk_api_base_url(a, "https://{site_host}/_edge/tenant_info", &cloud),
                        "https://acme.atlassian.net/_edge/tenant_info");
    assert_string_equal(lk_api_base_url(a, "https://fixed.example.com", NULL), "https://fixed.example.com");
    assert_null(lk_api_base_url(a, "{site_url}", NULL));
    assert_null(lk_api_base_url(a, "https://{nope}", &cloud));
    assert_null(lk_api_base_url(a, "https://{site_host", &cloud));
    assert_null(lk_api_base_url(a, NULL, &cloud));
}

/* ---- profile defaults per template ---- */

static void test_set_auth_type_atlassian_defaults(void **state)
{
    lk_arena *a = *state;
    static const char *const types[] = {"api_key", "api_key_per_user"};
    for (size_t i = 0; i < 2; i++) {
        lk_profile p = api_profile(a, "atlassian-confluence", types[i]);
        assert_string_equal(p.auth_type, types[i]);
        assert_true(lk_profile_is_credential_auth(&p));
        assert_string_equal(p.credential_kind, "basic");
        assert_string_equal(p.site_kind, "cloud");
        assert_string_equal(p.api_base_url, "https://{site_host}");
        assert_string_equal(p.check_path, "/wiki/rest/api/user/current");
        assert_string_equal(p.tenant_info_url, "https://{site_host}/_edge/tenant_info");
        /* no OAuth left over from the template */
        assert_null(p.client_id);
        assert_null(p.authorization_url);
        assert_null(p.token_url);
        assert_null(p.refresh_url);
        assert_null(p.resources_url);
        assert_string_equal(p.resource_discovery, "none");
        assert_int_equal(p.scopes.n, 0);
        assert_false(p.pkce);
        assert_false(p.allow_http_sites);
        assert_false(p.allow_private_sites);
    }
    lk_profile j = api_profile(a, "atlassian-jira", "api_key");
    assert_string_equal(j.credential_kind, "basic");
    assert_string_equal(j.site_kind, "cloud");
    assert_string_equal(j.check_path, "/rest/api/3/myself");
}

static void test_set_auth_type_generic_defaults(void **state)
{
    lk_arena *a = *state;
    lk_profile p = api_profile(a, "generic", "api_key_per_user");
    assert_string_equal(p.credential_kind, "bearer");
    assert_string_equal(p.site_kind, "dc");
    /* without a base URL of its own: the server a user names, checked as
     * Data Center answers */
    assert_string_equal(p.api_base_url, "{site_url}");
    assert_true(lk_profile_needs_site(&p));
    assert_string_equal(p.check_path, "/rest/api/user/current");
    assert_null(p.tenant_info_url);
    /* no OAuth name for a profile that is not OAuth: the caller names it */
    assert_null(p.display_name);
    assert_false(lk_profile_is_atlassian(&p));
}

/* A generic API-key profile given its API base URL needs nothing else: no
 * site, no Atlassian check path. */
static void test_generic_api_key_base_url_alone(void **state)
{
    lk_arena *a = *state;
    static const char *const types[] = {"api_key", "api_key_per_user"};
    for (size_t i = 0; i < 2; i++) {
        lk_profile p = api_profile(a, "generic", types[i]);
        lk_profile_set_api_base_url(&p, "https://api.example.com/v2");
        assert_string_equal(p.api_base_url, "https://api.example.com/v2");
        assert_false(lk_profile_needs_site(&p));
        assert_null(p.check_path);
        assert_false(lk_usercred_deny_private(&p)); /* the admin's URL, as an OAuth profile's */
        assert_string_equal(lk_api_base_url(a, p.api_base_url, NULL), "https://api.example.com/v2");
        p.name = "example";
        p.display_name = "Example API";
        p.callback_url = "https://broker.example.com/latchkey/callback/example";
        const char *why = NULL;
        assert_int_equal(lk_profile_validate(a, &p, &why), LK_OK);
    }
    /* a base URL that names the site still needs one, and keeps its check */
    lk_profile d = api_profile(a, "generic", "api_key");
    lk_profile_set_api_base_url(&d, "{site_url}/rest");
    assert_true(lk_profile_needs_site(&d));
    assert_string_equal(d.check_path, "/rest/api/user/current");
    assert_true(lk_usercred_deny_private(&d));
    d.allow_private_sites = true;
    assert_false(lk_usercred_deny_private(&d));
    /* the Atlassian templates keep theirs, with or without a site */
    lk_profile c = api_profile(a, "atlassian-confluence", "api_key");
    lk_profile_set_api_base_url(&c, "https://acme.atlassian.net");
    assert_false(lk_profile_needs_site(&c));
    assert_string_equal(c.check_path, "/wiki/rest/api/user/current");
    assert_true(lk_profile_is_atlassian(&c));
    /* an OAuth profile is untouched */
    lk_profile o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(lk_profile_template(a, "generic", &o), LK_OK);
    lk_profile_set_api_base_url(&o, "https://api.example.com");
    assert_string_equal(o.display_name, "OAuth 2.0 provider");
    assert_false(lk_usercred_deny_private(&o));
}

static lk_err judge(lk_arena *a, const lk_profile *p, long status, const char *body)
{
    return lk_usercred_judge(a, p, status, body, body ? strlen(body) : 0);
}

/* The check's answer: Atlassian templates want a user; any other provider
 * a 2xx that is not the anonymous user. */
static void test_judge_check_answers(void **state)
{
    lk_arena *a = *state;
    lk_profile g = api_profile(a, "generic", "api_key");
    lk_profile_set_api_base_url(&g, "https://api.example.com");
    lk_profile c = api_profile(a, "atlassian-confluence", "api_key");
#define J(p, st, body) judge(a, &(p), (st), (body))
    assert_int_equal(J(g, 200, "{\"login\":\"octo\"}"), LK_OK);
    assert_int_equal(J(g, 204, NULL), LK_OK);
    assert_int_equal(J(g, 200, "plain text"), LK_OK);
    assert_int_equal(J(g, 200, "[]"), LK_OK);
    assert_int_equal(J(g, 200, "{\"type\":\"anonymous\"}"), LK_EDENIED);
    assert_int_equal(J(g, 401, NULL), LK_EDENIED);
    assert_int_equal(J(g, 403, "{}"), LK_EDENIED);
    assert_int_equal(J(g, 429, NULL), LK_EUNAVAILABLE);
    assert_int_equal(J(g, 503, NULL), LK_EUNAVAILABLE);
    assert_int_equal(J(g, 404, "{}"), LK_EPROVIDER);
    assert_int_equal(J(g, 302, NULL), LK_EPROVIDER);
    assert_int_equal(J(c, 200, "{\"accountId\":\"5b10\",\"type\":\"known\"}"), LK_OK);
    assert_int_equal(J(c, 200, "{\"username\":\"dana\"}"), LK_OK);
    assert_int_equal(J(c, 200, "{\"type\":\"anonymous\",\"displayName\":\"Anonymous\"}"), LK_EDENIED);
    assert_int_equal(J(c, 200, "{\"displayName\":\"x\"}"), LK_EDENIED);
    assert_int_equal(J(c, 200, "plain text"), LK_EPROVIDER);
    assert_int_equal(J(c, 401, NULL), LK_EDENIED);
#undef J
}

/* No check path: nothing is asked (no network needed to say so). */
static void test_check_without_check_path_asks_nothing(void **state)
{
    lk_arena *a = *state;
    lk_profile g = api_profile(a, "generic", "api_key");
    lk_profile_set_api_base_url(&g, "https://api.example.invalid");
    assert_null(g.check_path);
    assert_int_equal(lk_usercred_check(NULL, a, &g, NULL, "tok"), LK_OK);
}

static void test_set_auth_type_oauth2_and_unknown(void **state)
{
    lk_arena *a = *state;
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, "atlassian-confluence", &p), LK_OK);
    assert_int_equal(lk_profile_set_auth_type(a, &p, "oauth2"), LK_OK);
    assert_string_equal(p.auth_type, "oauth2");
    assert_false(lk_profile_is_credential_auth(&p));
    assert_string_equal(p.token_url, "https://auth.atlassian.com/oauth/token"); /* untouched */
    assert_int_equal(lk_profile_set_auth_type(a, &p, "apikey"), LK_EINVAL);
    assert_int_equal(lk_profile_set_auth_type(a, &p, ""), LK_EINVAL);
    assert_int_equal(lk_profile_set_auth_type(a, &p, "API_KEY"), LK_EINVAL);
    assert_string_equal(p.auth_type, "oauth2");
}

static void test_validate_api_key_profiles(void **state)
{
    lk_arena *a = *state;
    const char *why = NULL;
    lk_profile p = api_profile(a, "atlassian-confluence", "api_key_per_user");
    p.name = "conf-tokens";
    /* the form posts to the callback: it is required */
    assert_int_not_equal(lk_profile_validate(a, &p, &why), LK_OK);
    assert_non_null(strstr(why, "callback"));
    p.callback_url = "https://broker.example.com/latchkey/callback/conf-tokens";
    assert_int_equal(lk_profile_validate(a, &p, &why), LK_OK);
    /* no client id needed, but a check path starting with '/' */
    p.check_path = "wiki/rest/api/user/current";
    assert_int_not_equal(lk_profile_validate(a, &p, &why), LK_OK);
    assert_non_null(strstr(why, "check path"));
    p.check_path = "/wiki/rest/api/user/current";
    /* scoped tokens: the cloud id comes from a tenant info URL, https or loopback */
    p.api_base_url = "https://api.atlassian.com/ex/confluence/{cloud_id}";
    assert_int_equal(lk_profile_validate(a, &p, &why), LK_OK);
    p.tenant_info_url = "http://tenants.example.com/{site_host}";
    assert_int_not_equal(lk_profile_validate(a, &p, &why), LK_OK);
    p.tenant_info_url = "http://127.0.0.1:9/_edge/{site_host}/tenant_info";
    assert_int_equal(lk_profile_validate(a, &p, &why), LK_OK);
    p.api_base_url = NULL;
    assert_int_not_equal(lk_profile_validate(a, &p, &why), LK_OK);
    /* a shared key needs no callback, but a name to show */
    lk_profile s = api_profile(a, "generic", "api_key");
    s.name = "dc-shared";
    assert_int_not_equal(lk_profile_validate(a, &s, &why), LK_OK);
    assert_non_null(strstr(why, "display name"));
    s.display_name = "Wiki";
    assert_int_equal(lk_profile_validate(a, &s, &why), LK_OK);
    /* no check path is fine; a check path must still start with '/' */
    s.check_path = NULL;
    assert_int_equal(lk_profile_validate(a, &s, &why), LK_OK);
    s.check_path = "user";
    assert_int_not_equal(lk_profile_validate(a, &s, &why), LK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cloud_site_forms_accepted),
        T(test_cloud_site_refusals),
        T(test_dc_https_accepted),
        T(test_dc_http_only_when_allowed),
        T(test_dc_refuses_query_userinfo_fragment),
        T(test_dc_private_addresses_only_when_allowed),
        T(test_dc_private_addresses_of_any_length),
        T(test_header_basic_is_base64_of_email_colon_token),
        T(test_header_bearer_is_the_token),
        T(test_valid_basic),
        T(test_valid_bearer),
        T(test_valid_length_limit),
        T(test_addr_v4),
        T(test_addr_v6),
        T(test_addr_v6_embedding_ipv4),
        T(test_api_base_url_templates),
        T(test_set_auth_type_atlassian_defaults),
        T(test_set_auth_type_generic_defaults),
        T(test_generic_api_key_base_url_alone),
        T(test_judge_check_answers),
        T(test_check_without_check_path_asks_nothing),
        T(test_set_auth_type_oauth2_and_unknown),
        T(test_validate_api_key_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
