/* Unit tests: the strict URL parser, the SPEC §3 redirect allow-list, the
 * path check of the proxy's sub-paths (SPEC §6) and the loopback test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

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

static lk_err parse(lk_arena *a, const char *s)
{
    lk_url u;
    return lk_url_parse(a, s, &u);
}

/* ---- lk_url_parse: what it gives ---- */

static void test_url_splits_https_url(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "https://App.Example.COM/cb/x?state=1&b=%2F", &u), LK_OK);
    assert_string_equal(u.scheme, "https");
    assert_string_equal(u.host, "app.example.com");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/cb/x");
    assert_string_equal(u.query, "state=1&b=%2F");
}

static void test_url_http_default_port_and_root_path(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "http://localhost", &u), LK_OK);
    assert_string_equal(u.scheme, "http");
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");
    assert_null(u.query);
}

static void test_url_query_without_path(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "https://h.example?x=1", &u), LK_OK);
    assert_string_equal(u.path, "/");
    assert_string_equal(u.query, "x=1");
    assert_int_equal(lk_url_parse(*state, "https://h.example/p?", &u), LK_OK);
    assert_string_equal(u.path, "/p");
    assert_string_equal(u.query, "");
}

static void test_url_explicit_ports(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "http://127.0.0.1:8080/x", &u), LK_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_int_equal(lk_url_parse(*state, "https://h.example:443/", &u), LK_OK);
    assert_int_equal(u.port, 443);
    assert_int_equal(lk_url_parse(*state, "https://h.example:1/", &u), LK_OK);
    assert_int_equal(u.port, 1);
    assert_int_equal(lk_url_parse(*state, "https://h.example:65535", &u), LK_OK);
    assert_int_equal(u.port, 65535);
    assert_string_equal(u.path, "/");
}

static void test_url_refuses_ports_out_of_range(void **state)
{
    assert_int_equal(parse(*state, "https://h.example:0/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:65536/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:99999/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:100000/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:8a/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:-1/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example:80:80/"), LK_EINVAL);
}

static void test_url_ipv6_literal(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "http://[::1]:8080/cb?x", &u), LK_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/cb");
    assert_string_equal(u.query, "x");
    assert_int_equal(lk_url_parse(*state, "https://[2001:DB8::A]/", &u), LK_OK);
    assert_string_equal(u.host, "2001:db8::a");
    assert_int_equal(u.port, 443);
}

static void test_url_refuses_bad_ipv6_literals(void **state)
{
    assert_int_equal(parse(*state, "http://[]/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http://[::1/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http://[::1]x/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http://[::1]:/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http://[fe80::1%25eth0]/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http://[evil.com]/"), LK_EINVAL);
}

/* ---- lk_url_parse: what it refuses ---- */

static void test_url_refuses_userinfo(void **state)
{
    assert_int_equal(parse(*state, "https://user@app.example.com/cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://user:pw@app.example.com/cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://app.example.com@evil.com/cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://@evil.com/"), LK_EINVAL);
}

static void test_url_refuses_fragment(void **state)
{
    assert_int_equal(parse(*state, "https://app.example.com/cb#x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://app.example.com/cb?x=1#"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://app.example.com#/cb"), LK_EINVAL);
}

static void test_url_refuses_backslash(void **state)
{
    assert_int_equal(parse(*state, "https://app.example.com\\@evil.com/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://app.example.com/a\\b"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://app.example.com/cb?x=\\"), LK_EINVAL);
}

static void test_url_refuses_dot_segments(void **state)
{
    assert_int_equal(parse(*state, "https://h.example/a/../b"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a/./b"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/.."), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/."), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a/..?x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a/../"), LK_EINVAL);
}

static void test_url_refuses_encoded_dot_segments(void **state)
{
    assert_int_equal(parse(*state, "https://h.example/%2e%2e/x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/%2E%2E/x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/.%2E/x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/%2e./x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a/%2e"), LK_EINVAL);
}

/* SPEC §3: a segment's ';' parameters hide nothing (servlet containers
 * drop them, then resolve the dots). */
static void test_url_refuses_dot_segments_with_parameters(void **state)
{
    static const char *const bad[] = {
        "https://h.example/a/..;/b",
        "https://h.example/a/..;x/b",
        "https://h.example/a/..;x=1;y/b",
        "https://h.example/%2e%2e;/x",
        "https://h.example/%2E%2e;x/x",
        "https://h.example/.%2e;x",
        "https://h.example/a/.;/b",
        "https://h.example/a/.;x",
        "https://h.example/..%3bx/y",
        "https://h.example/a/.%3B/b",
        "https://h.example/a/..;?q",
        "https://h.example/..;",
        NULL,
    };
    for (const char *const *p = bad; *p; p++)
        if (parse(*state, *p) != LK_EINVAL)
            fail_msg("accepted: %s", *p);
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "https://h.example/a;v=1/b..;x/;y/...;z", &u), LK_OK);
    assert_string_equal(u.path, "/a;v=1/b..;x/;y/...;z");
}

static void test_url_allows_dots_inside_segments(void **state)
{
    lk_url u;
    assert_int_equal(lk_url_parse(*state, "https://h.example/.well-known/x", &u), LK_OK);
    assert_int_equal(lk_url_parse(*state, "https://h.example/a..b/...", &u), LK_OK);
    assert_string_equal(u.path, "/a..b/...");
    assert_int_equal(lk_url_parse(*state, "https://h.example/v1.2/x.json", &u), LK_OK);
    assert_int_equal(lk_url_parse(*state, "https://h.example/a/", &u), LK_OK);
    assert_string_equal(u.path, "/a/");
}

static void test_url_refuses_encoded_slash_and_backslash(void **state)
{
    assert_int_equal(parse(*state, "https://h.example/a%2fb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%2Fb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%5cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%5Cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%00b"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%2"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a%"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h%2eexample/"), LK_EINVAL);
}

static void test_url_refuses_spaces_and_controls(void **state)
{
    assert_int_equal(parse(*state, "https://h.example/a b"), LK_EINVAL);
    assert_int_equal(parse(*state, " https://h.example/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/\t"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/\r\nSet-Cookie:x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/\x7f"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/caf\xc3\xa9"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a?b c"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/a<b>"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h.example/\"x\""), LK_EINVAL);
}

static void test_url_refuses_other_schemes(void **state)
{
    assert_int_equal(parse(*state, "javascript:alert(1)"), LK_EINVAL);
    assert_int_equal(parse(*state, "javascript://h.example/%0aalert(1)"), LK_EINVAL);
    assert_int_equal(parse(*state, "data:text/html,x"), LK_EINVAL);
    assert_int_equal(parse(*state, "ftp://h.example/"), LK_EINVAL);
    assert_int_equal(parse(*state, "httpx://h.example/"), LK_EINVAL);
    assert_int_equal(parse(*state, "http:/h.example/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https:h.example"), LK_EINVAL);
}

static void test_url_refuses_relative_and_scheme_relative(void **state)
{
    assert_int_equal(parse(*state, "//evil.com/cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "/cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "cb"), LK_EINVAL);
    assert_int_equal(parse(*state, ""), LK_EINVAL);
}

static void test_url_refuses_empty_or_bad_host(void **state)
{
    assert_int_equal(parse(*state, "https://"), LK_EINVAL);
    assert_int_equal(parse(*state, "https:///cb"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://?x"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://:443/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://ho_st/"), LK_EINVAL);
    assert_int_equal(parse(*state, "https://h!st/"), LK_EINVAL);
}

static void test_url_refuses_over_long(void **state)
{
    char s[LK_URL_MAX + 2];
    memset(s, 'a', sizeof(s));
    memcpy(s, "https://h.example/", 18);
    s[LK_URL_MAX] = '\0';
    assert_int_equal(parse(*state, s), LK_OK);
    s[LK_URL_MAX] = 'a';
    s[LK_URL_MAX + 1] = '\0';
    assert_int_equal(parse(*state, s), LK_EINVAL);
}

/* ---- lk_redirect_allowed (SPEC §3) ---- */

static bool allowed(lk_arena *a, const char *url, const char *entry)
{
    char *const entries[] = {(char *)entry};
    return lk_redirect_allowed(a, url, entries, 1);
}

#define CB "https://app.example.com/cb"

static void test_redirect_allows_same_path_and_below(void **state)
{
    assert_true(allowed(*state, "https://app.example.com/cb", CB));
    assert_true(allowed(*state, "https://app.example.com/cb?x=1", CB));
    assert_true(allowed(*state, "https://app.example.com/cb/", CB));
    assert_true(allowed(*state, "https://app.example.com/cb/done?s=1", CB));
}

static void test_redirect_host_is_case_insensitive_and_port_defaults(void **state)
{
    assert_true(allowed(*state, "https://APP.Example.com/cb", CB));
    assert_true(allowed(*state, "https://app.example.com/cb", "https://App.EXAMPLE.com/cb"));
    assert_true(allowed(*state, "https://app.example.com:443/cb", CB));
    assert_false(allowed(*state, "https://app.example.com/CB", CB)); /* paths are case-sensitive */
}

static void test_redirect_refuses_host_look_alikes(void **state)
{
    assert_false(allowed(*state, "https://app.example.com.evil.com/cb", CB));
    assert_false(allowed(*state, "https://app.example.com@evil.com/cb", CB));
    assert_false(allowed(*state, "https://evil.com/https://app.example.com/cb", CB));
    assert_false(allowed(*state, "https://evilapp.example.com/cb", CB));
    assert_false(allowed(*state, "https://example.com/cb", CB));
    assert_false(allowed(*state, "https://app.example.co/cb", CB));
}

static void test_redirect_refuses_userinfo(void **state)
{
    assert_false(allowed(*state, "https://user@app.example.com/cb", CB));
    assert_false(allowed(*state, "https://app.example.com:443@evil.com/cb", CB));
}

static void test_redirect_refuses_path_prefix_look_alikes(void **state)
{
    assert_false(allowed(*state, "https://app.example.com/cb2", CB));
    assert_false(allowed(*state, "https://app.example.com/cbx/y", CB));
    assert_false(allowed(*state, "https://app.example.com/c", CB));
    assert_false(allowed(*state, "https://app.example.com/", CB));
    assert_false(allowed(*state, "https://app.example.com", CB));
    assert_false(allowed(*state, "https://app.example.com/other/cb", CB));
}

static void test_redirect_refuses_other_port_or_scheme(void **state)
{
    assert_false(allowed(*state, "https://app.example.com:8443/cb", CB));
    assert_false(allowed(*state, "http://app.example.com/cb", CB));
    assert_false(allowed(*state, "http://app.example.com:443/cb", CB));
    assert_false(allowed(*state, "https://app.example.com:80/cb", "http://app.example.com/cb"));
    assert_true(allowed(*state, "http://localhost:8080/done", "http://localhost:8080/done"));
    assert_false(allowed(*state, "http://localhost/done", "http://localhost:8080/done"));
}

static void test_redirect_refuses_escapes_from_the_path(void **state)
{
    assert_false(allowed(*state, "https://app.example.com/cb/../admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/%2e%2e/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/.%2E/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb%2f..%2fadmin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb%2Fx", CB));
    assert_false(allowed(*state, "https://app.example.com/cb\\x", CB));
    assert_false(allowed(*state, "https://app.example.com/cb%5cx", CB));
    assert_false(allowed(*state, "https://app.example.com/cb#frag", CB));
}

static void test_redirect_refuses_escapes_hidden_by_parameters(void **state)
{
    assert_false(allowed(*state, "https://app.example.com/cb/..;/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/..;x/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/%2e%2e;/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/%2E%2E;jsessionid=1/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/.;/x", CB));
    assert_false(allowed(*state, "https://app.example.com/cb/..%3b/admin", CB));
    assert_false(allowed(*state, "https://app.example.com/cb;x", CB)); /* not the path as written */
    assert_true(allowed(*state, "https://app.example.com/cb/done;x=1", CB));
    /* an entry with such a segment is no entry */
    assert_false(allowed(*state, "https://app.example.com/admin", "https://app.example.com/cb/..;/admin"));
}

static void test_redirect_refuses_non_http(void **state)
{
    assert_false(allowed(*state, "javascript:alert(1)//app.example.com/cb", CB));
    assert_false(allowed(*state, "//app.example.com/cb", CB));
    assert_false(allowed(*state, "/cb", CB));
    assert_false(allowed(*state, "", CB));
}

static void test_redirect_entry_trailing_slash_means_subtree(void **state)
{
    const char *e = "https://app.example.com/cb/";
    assert_true(allowed(*state, "https://app.example.com/cb", e));
    assert_true(allowed(*state, "https://app.example.com/cb/", e));
    assert_true(allowed(*state, "https://app.example.com/cb/x", e));
    assert_false(allowed(*state, "https://app.example.com/cbx", e));
}

static void test_redirect_root_entry_allows_whole_origin(void **state)
{
    const char *e = "https://app.example.com";
    assert_true(allowed(*state, "https://app.example.com", e));
    assert_true(allowed(*state, "https://app.example.com/", e));
    assert_true(allowed(*state, "https://app.example.com/any/path?q", e));
    assert_false(allowed(*state, "https://app.example.com.evil.com/", e));
    assert_false(allowed(*state, "https://app.example.com:444/", e));
}

static void test_redirect_checks_every_entry_and_skips_bad_ones(void **state)
{
    char *const entries[] = {"javascript:bad", "https://one.example/a", "https://two.example/b"};
    assert_true(lk_redirect_allowed(*state, "https://two.example/b/c", entries, 3));
    assert_true(lk_redirect_allowed(*state, "https://one.example/a", entries, 3));
    assert_false(lk_redirect_allowed(*state, "https://one.example/b", entries, 3));
    assert_false(lk_redirect_allowed(*state, "https://two.example/b", entries, 2));
    assert_false(lk_redirect_allowed(*state, "https://one.example/a", entries, 0));
}

/* ---- lk_url_resolve: RFC 3986 §5.4 ---- */

static void resolves(lk_arena *a, const char *base, const char *ref, const char *want)
{
    char *got = NULL;
    assert_int_equal(lk_url_resolve(a, base, ref, &got), LK_OK);
    if (strcmp(got, want) != 0)
        fail_msg("%s against %s: %s, not %s", ref, base, got, want);
}

#define RFC_BASE "http://a/b/c/d;p?q"

static void test_resolve_rfc3986_normal_examples(void **state)
{
    static const char *const ex[][2] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(ex); i++)
        resolves(*state, RFC_BASE, ex[i][0], ex[i][1]);
}

static void test_resolve_rfc3986_abnormal_examples(void **state)
{
    static const char *const ex[][2] = {
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"}, /* strict parsers keep it */
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(ex); i++)
        resolves(*state, RFC_BASE, ex[i][0], ex[i][1]);
}

static void test_resolve_against_other_bases(void **state)
{
    lk_arena *a = *state;
    resolves(a, "https://h.example", "x", "https://h.example/x"); /* empty base path */
    resolves(a, "https://h.example", "?q", "https://h.example?q");
    resolves(a, "https://h.example:8443/a/b?x=1#f", "c", "https://h.example:8443/a/c");
    resolves(a, "https://h.example/a/b", "/\\evil.example", "https://h.example/\\evil.example");
    resolves(a, "https://h.example/a/b", "HTTPS://Other.example/Z", "HTTPS://Other.example/Z");
    char *out = (char *)1;
    assert_int_equal(lk_url_resolve(a, "/relative/base", "x", &out), LK_EINVAL);
    assert_null(out);
    assert_int_equal(lk_url_resolve(a, "", "x", &out), LK_EINVAL);
}

/* ---- lk_host_is_loopback ---- */

static void test_loopback_hosts(void **state)
{
    (void)state;
    assert_true(lk_host_is_loopback("localhost"));
    assert_true(lk_host_is_loopback("127.0.0.1"));
    assert_true(lk_host_is_loopback("127.1.2.3"));
    assert_true(lk_host_is_loopback("127.255.255.254"));
    assert_true(lk_host_is_loopback("::1"));
}

static void test_loopback_refuses_look_alikes(void **state)
{
    (void)state;
    assert_false(lk_host_is_loopback(""));
    assert_false(lk_host_is_loopback("localhost.evil.com"));
    assert_false(lk_host_is_loopback("evil-localhost"));
    assert_false(lk_host_is_loopback("127.0.0.1.evil.com"));
    assert_false(lk_host_is_loopback("127.evil.com"));
    assert_false(lk_host_is_loopback("127.0.0"));
    assert_false(lk_host_is_loopback("127.0.0.1."));
    assert_false(lk_host_is_loopback("1127.0.0.1"));
    assert_false(lk_host_is_loopback("128.0.0.1"));
    assert_false(lk_host_is_loopback("0.0.0.0"));
    assert_false(lk_host_is_loopback("10.0.0.1"));
    assert_false(lk_host_is_loopback("::2"));
    assert_false(lk_host_is_loopback("::"));
}

static void test_loopback_refuses_malformed_quads(void **state)
{
    (void)state;
    assert_false(lk_host_is_loopback("127..."));
    assert_false(lk_host_is_loopback("127.0..1"));
    assert_false(lk_host_is_loopback("127.0.0.256"));
    assert_false(lk_host_is_loopback("127.0.0.1000"));
    assert_false(lk_host_is_loopback("127.0.0.99999999999"));
}

/* ---- the path check (the proxy's sub-paths, SPEC §6) ---- */

typedef struct prefix_list {
    char **v;
    size_t n;
} prefix_list;

static lk_err check(lk_arena *a, const char *raw, const prefix_list *prefixes)
{
    const char *why = NULL;
    lk_err rc = lk_url_path_check(a, raw, prefixes ? prefixes->v : NULL, prefixes ? prefixes->n : 0, &why);
    if (rc == LK_OK)
        assert_null(why);
    else
        assert_non_null(why); /* a sentence for the caller */
    return rc;
}

static void test_path_check_refuses_traversal_and_smuggling(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/..",
        "/wiki/../x",
        "/%2e%2e/x",
        "/%2E%2e/",
        "/.%2e/",
        "/%252e%252e/",            /* double encoding */
        "/a%25b",                  /* any encoded '%' */
        "/..%2fx",                 /* decodes to ../x */
        "/a%2f..%2fb",             /* a/../b */
        "/a\\b",                   /* backslash */
        "/a%5cb",                  /* encoded backslash */
        "//evil.com/x",            /* authority */
        "/a//b",                   /* empty segment */
        "/http://evil/",           /* scheme */
        "/https:/x",               /* scheme without // */
        "/user@host/x",            /* userinfo */
        "/a%40b",                  /* encoded '@' */
        "/a%00b",                  /* NUL */
        "/a%0d%0aX-Injected:%201", /* request splitting */
        "/a%7fb",                  /* DEL */
        "/./a",
        "/%2e/a",
        "/a%zz", /* malformed escapes */
        "/a%4",
        "x", /* no leading slash */
        "",
        NULL,
    };
    lk_arena *a = lk_arena_new();
    for (const char *const *p = bad; *p; p++) {
        if (check(a, *p, NULL) != LK_EINVAL)
            fail_msg("accepted: %s", *p);
    }
    lk_arena_free(a);
}

static void test_path_check_refuses_paths_over_4096_bytes(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    char path[LK_URL_PATH_MAX + 2];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[LK_URL_PATH_MAX + 1] = '\0'; /* 4097 bytes */
    assert_int_equal(strlen(path), 4097);
    assert_int_equal(check(a, path, NULL), LK_EINVAL);
    path[LK_URL_PATH_MAX] = '\0'; /* 4096 bytes: the limit itself */
    assert_int_equal(check(a, path, NULL), LK_OK);
    lk_arena_free(a);
}

static void test_path_check_accepts_ordinary_paths(void **state)
{
    (void)state;
    static const char *const good[] = {
        "/",
        "/wiki/rest/api/space",
        "/wiki/rest/api/content/123/child/page",
        "/wiki/x%20y",
        "/wiki/a.b/c..d/...x",      /* dots inside names are fine */
        "/wiki/rest/api/space/",    /* trailing slash */
        "/wiki/rest/api/space%2Fx", /* an encoded '/' inside a name */
        NULL,
    };
    lk_arena *a = lk_arena_new();
    for (const char *const *p = good; *p; p++) {
        if (check(a, *p, NULL) != LK_OK)
            fail_msg("refused: %s", *p);
    }
    prefix_list none = {NULL, 0}; /* an empty prefix list limits nothing */
    assert_int_equal(check(a, "/anything/at/all", &none), LK_OK);
    lk_arena_free(a);
}

static void test_path_check_honours_prefixes(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    char *api[] = {"/wiki/rest/api/"};
    prefix_list pa = {api, 1};
    assert_int_equal(check(a, "/wiki/rest/api/space", &pa), LK_OK);
    assert_int_equal(check(a, "/wiki/download/1", &pa), LK_EINVAL);
    assert_int_equal(check(a, "/wiki/rest/apiX", &pa), LK_EINVAL);
    assert_int_equal(check(a, "/wiki/rest/api", &pa), LK_EINVAL);
    /* the prefix is compared after decoding, so an escape cannot dodge it */
    assert_int_equal(check(a, "/wiki/rest/api%2Fspace", &pa), LK_OK);
    assert_int_equal(check(a, "/wiki/rest%2Fapi/../../download/1", &pa), LK_EINVAL);

    char *wiki[] = {"/wiki"};
    prefix_list pw = {wiki, 1};
    assert_int_equal(check(a, "/wiki", &pw), LK_OK);
    assert_int_equal(check(a, "/wiki/x", &pw), LK_OK);
    assert_int_equal(check(a, "/wikix", &pw), LK_EINVAL);
    assert_int_equal(check(a, "/", &pw), LK_EINVAL);

    char *two[] = {"/wiki/rest/api/", "/wiki/download"};
    prefix_list p2 = {two, 2};
    assert_int_equal(check(a, "/wiki/download/1", &p2), LK_OK);
    assert_int_equal(check(a, "/wiki/upload", &p2), LK_EINVAL);
    lk_arena_free(a);
}

/* SPEC §6: servlet containers (Confluence Data Center) drop a segment's
 * ';' parameters and then resolve "..": such segments are dot segments. */
static void test_path_check_refuses_dot_segments_with_parameters(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/..;/x",
        "/wiki/..;x/admin",
        "/wiki/..;",
        "/%2e%2e;/x",
        "/%2e%2e;x/x",
        "/%2E%2E%3B/x", /* an encoded ';' is one once decoded */
        "/..%3bx/y",
        "/.;/x",
        "/wiki/.;x",
        "/wiki/.%3b/x",
        "/wiki/rest/api/..;/..;/..;/download/1",
        "/..;a;b/x",
        NULL,
    };
    lk_arena *a = lk_arena_new();
    for (const char *const *p = bad; *p; p++) {
        if (check(a, *p, NULL) != LK_EINVAL)
            fail_msg("accepted: %s", *p);
    }
    static const char *const good[] = {
        "/wiki;v=1/rest/api/space", /* parameters on an ordinary segment */
        "/wiki/a..;x",
        "/wiki/...;x",
        "/wiki/..x;y",
        "/wiki/;x/y",
        NULL,
    };
    for (const char *const *p = good; *p; p++) {
        if (check(a, *p, NULL) != LK_OK)
            fail_msg("refused: %s", *p);
    }
    lk_arena_free(a);
}

static void test_path_check_prefixes_see_through_parameters(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    char *api[] = {"/wiki/rest/api/"};
    prefix_list pa = {api, 1};
    /* "/wiki/rest/api/..;/..;/..;/download/1" is /wiki/download/1 to Data
     * Center: outside the prefix, however it starts. */
    assert_int_equal(check(a, "/wiki/rest/api/..;/..;/..;/download/1", &pa), LK_EINVAL);
    assert_int_equal(check(a, "/wiki/rest/api/%2e%2e;/%2e%2e;/%2e%2e;/download/1", &pa), LK_EINVAL);
    assert_int_equal(check(a, "/wiki/rest/api/.;/space", &pa), LK_EINVAL);
    assert_int_equal(check(a, "/wiki/rest/api/space;x=1", &pa), LK_OK);
    char *wiki[] = {"/wiki"};
    prefix_list pw = {wiki, 1};
    assert_int_equal(check(a, "/wiki/..;/admin", &pw), LK_EINVAL);
    assert_int_equal(check(a, "/wiki;x", &pw), LK_EINVAL); /* not /wiki, nor below it, as written */
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_check_refuses_traversal_and_smuggling),
        cmocka_unit_test(test_path_check_refuses_paths_over_4096_bytes),
        cmocka_unit_test(test_path_check_accepts_ordinary_paths),
        cmocka_unit_test(test_path_check_honours_prefixes),
        cmocka_unit_test(test_path_check_refuses_dot_segments_with_parameters),
        cmocka_unit_test(test_path_check_prefixes_see_through_parameters),
        T(test_url_splits_https_url),
        T(test_url_http_default_port_and_root_path),
        T(test_url_query_without_path),
        T(test_url_explicit_ports),
        T(test_url_refuses_ports_out_of_range),
        T(test_url_ipv6_literal),
        T(test_url_refuses_bad_ipv6_literals),
        T(test_url_refuses_userinfo),
        T(test_url_refuses_fragment),
        T(test_url_refuses_backslash),
        T(test_url_refuses_dot_segments),
        T(test_url_refuses_encoded_dot_segments),
        T(test_url_refuses_dot_segments_with_parameters),
        T(test_url_allows_dots_inside_segments),
        T(test_url_refuses_encoded_slash_and_backslash),
        T(test_url_refuses_spaces_and_controls),
        T(test_url_refuses_other_schemes),
        T(test_url_refuses_relative_and_scheme_relative),
        T(test_url_refuses_empty_or_bad_host),
        T(test_url_refuses_over_long),
        T(test_redirect_allows_same_path_and_below),
        T(test_redirect_host_is_case_insensitive_and_port_defaults),
        T(test_redirect_refuses_host_look_alikes),
        T(test_redirect_refuses_userinfo),
        T(test_redirect_refuses_path_prefix_look_alikes),
        T(test_redirect_refuses_other_port_or_scheme),
        T(test_redirect_refuses_escapes_from_the_path),
        T(test_redirect_refuses_escapes_hidden_by_parameters),
        T(test_redirect_refuses_non_http),
        T(test_redirect_entry_trailing_slash_means_subtree),
        T(test_redirect_root_entry_allows_whole_origin),
        T(test_redirect_checks_every_entry_and_skips_bad_ones),
        T(test_resolve_rfc3986_normal_examples),
        T(test_resolve_rfc3986_abnormal_examples),
        T(test_resolve_against_other_bases),
        T(test_loopback_hosts),
        T(test_loopback_refuses_look_alikes),
        T(test_loopback_refuses_malformed_quads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
