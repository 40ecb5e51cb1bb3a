/* Unit tests: the proxy's header filters (SPEC §6), and the
 * route and query that lk_req_init derives from the CGI variables of each
 * web server the deploy guide names (SPEC §1, §8a). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"
#include "proxy.h"

static void test_request_headers_drop_hop_by_hop_and_ours(void **state)
{
    (void)state;
    static const char *const dropped[] = {
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Host",
        "Authorization",
        "Cookie",
        "X-Instance-Id",
        "X-Site",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "Content-Length",
        "connection",
        "host",
        "authorization",
        "cookie",
        "x-instance-id",
        "x-forwarded-for",
        "AUTHORIZATION",
        "x-FORWARDED-proto",
        NULL,
    };
    for (const char *const *p = dropped; *p; p++) {
        if (lk_proxy_request_header_ok(*p))
            fail_msg("passed on: %s", *p);
    }
    static const char *const passed[] = {
        "Accept",          "Content-Type",      "X-Custom",   "If-None-Match",
        "Accept-Language", "X-Atlassian-Token", "User-Agent", "X-Forwarded",
        "Hosted",          "Cookies-Ok",        NULL,
    };
    for (const char *const *p = passed; *p; p++) {
        if (!lk_proxy_request_header_ok(*p))
            fail_msg("dropped: %s", *p);
    }
}

static bool resp_ok(const char *name)
{
    return lk_proxy_response_header_ok(name, strlen(name));
}

static void test_response_headers_drop_set_cookie_status_and_hop_by_hop(void **state)
{
    (void)state;
    static const char *const dropped[] = {
        "Set-Cookie",
        "set-cookie",
        "SET-COOKIE",
        "Set-Cookie2",
        "Status",
        "status",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "transfer-encoding",
        "Upgrade",
        "Proxy-Authenticate",
        NULL,
    };
    for (const char *const *p = dropped; *p; p++) {
        if (resp_ok(*p))
            fail_msg("passed back: %s", *p);
    }
    static const char *const passed[] = {
        "Accept", "Content-Type",     "X-Custom",       "Location",      "Retry-After",
        "ETag",   "WWW-Authenticate", "Content-Length", "Cache-Control", NULL,
    };
    for (const char *const *p = passed; *p; p++) {
        if (!resp_ok(*p))
            fail_msg("dropped: %s", *p);
    }
    /* n bounds the name: "Set-Cookie: x" read up to its colon */
    assert_false(lk_proxy_response_header_ok("Set-Cookie: a=1", 10));
    assert_true(lk_proxy_response_header_ok("Set-Cookies", 11));
}

static void test_header_name_from_cgi_variable(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    const char *v = "HTTP_X_FOO_BAR";
    assert_string_equal(lk_proxy_header_name(a, v, strlen(v)), "X-Foo-Bar");
    v = "CONTENT_TYPE";
    assert_string_equal(lk_proxy_header_name(a, v, strlen(v)), "Content-Type");
    v = "HTTP_ACCEPT";
    assert_string_equal(lk_proxy_header_name(a, v, strlen(v)), "Accept");
    v = "HTTP_X_INSTANCE_ID=user_1"; /* n stops at the '=' */
    assert_string_equal(lk_proxy_header_name(a, v, 18), "X-Instance-Id");
    v = "REMOTE_ADDR";
    assert_null(lk_proxy_header_name(a, v, strlen(v)));
    v = "HTTP_";
    assert_null(lk_proxy_header_name(a, v, strlen(v)));
    v = "CONTENT_LENGTH"; /* never passed on: the body is re-framed */
    assert_null(lk_proxy_header_name(a, v, strlen(v)));
    lk_arena_free(a);
}

/* Found by tests/fuzz (fuzz_proxy): a variable name that is no RFC 9110
 * token became a header name as it was, so a CR LF in it would have
 * started a header of its own ("X\r\nAuthorization"), past the filter. */
static void test_header_name_refuses_names_that_are_not_tokens(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    static const char *const bad[] = {
        "HTTP_X\r\nAUTHORIZATION", "HTTP_X:Y", "HTTP_X Y", "HTTP_X\xff", "HTTP_X\x7f", "HTTP_(X)",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++)
        if (lk_proxy_header_name(a, bad[i], strlen(bad[i])))
            fail_msg("a header name from variable %zu", i);
    const char nul[] = "HTTP_X\0AUTHORIZATION";
    assert_null(lk_proxy_header_name(a, nul, sizeof(nul) - 1));
    const char *v = "HTTP_X_B3_TRACE.ID~1";
    assert_string_equal(lk_proxy_header_name(a, v, strlen(v)), "X-B3-Trace.id~1");
    lk_arena_free(a);
}

/* lk_req_init with one web server's CGI variables. */
typedef struct req_case {
    lk_arena *a;
    lk_config cfg;
    lk_req r;
} req_case;

static void init_req(req_case *c, char **env)
{
    memset(c, 0, sizeof(*c));
    c->a = lk_arena_new();
    c->cfg.mount_path = "/latchkey";
    c->cfg.public_base_url = "https://broker.example.com/latchkey";
    lk_io io;
    memset(&io, 0, sizeof(io));
    assert_int_equal(lk_req_init(&c->r, c->a, &c->cfg, env, io), LK_OK);
}

static void assert_proxy_rest(const lk_req *r, const char *want)
{
    const char *rest = NULL;
    assert_true(lk_route_is(r, "proxy", &rest));
    assert_string_equal(rest, want);
}

static void test_req_init_lighttpd_mod_fastcgi_keeps_raw_path(void **state)
{
    (void)state;
    /* lighttpd decodes PATH_INFO; REQUEST_URI is the raw one */
    char *env[] = {
        "REQUEST_METHOD=GET",          "REQUEST_URI=/latchkey/proxy/confluence/wiki/rest/api/space%2Fx?limit=5",
        "SCRIPT_NAME=/latchkey/proxy", "PATH_INFO=/confluence/wiki/rest/api/space/x",
        "QUERY_STRING=limit=5",        NULL,
    };
    req_case c;
    init_req(&c, env);
    assert_string_equal(c.r.method, "GET");
    assert_string_equal(c.r.route, "/proxy/confluence/wiki/rest/api/space%2Fx");
    assert_string_equal(c.r.query, "limit=5");
    assert_string_equal(c.r.path, "/latchkey/proxy/confluence/wiki/rest/api/space%2Fx");
    assert_string_equal(lk_req_param(&c.r, "limit"), "5");
    assert_proxy_rest(&c.r, "confluence/wiki/rest/api/space%2Fx");
    lk_arena_free(c.a);
}

static void test_req_init_apache_mod_proxy_fcgi_without_path_info(void **state)
{
    (void)state;
    /* mod_proxy_fcgi: SCRIPT_NAME is the whole (raw) path, no PATH_INFO */
    char *env[] = {
        "REQUEST_METHOD=POST",
        "SCRIPT_NAME=/latchkey/proxy/confluence/wiki/rest/api/space%2Fx",
        "REQUEST_URI=/latchkey/proxy/confluence/wiki/rest/api/space%2Fx?limit=5",
        "QUERY_STRING=limit=5",
        NULL,
    };
    req_case c;
    init_req(&c, env);
    assert_string_equal(c.r.method, "POST");
    assert_string_equal(c.r.route, "/proxy/confluence/wiki/rest/api/space%2Fx");
    assert_string_equal(c.r.query, "limit=5");
    assert_proxy_rest(&c.r, "confluence/wiki/rest/api/space%2Fx");
    lk_arena_free(c.a);
}

static void test_req_init_apache_mod_fcgid_with_path_info(void **state)
{
    (void)state;
    char *env[] = {
        "REQUEST_METHOD=GET",
        "REQUEST_URI=/latchkey/proxy/confluence/wiki/rest/api/space?limit=5&start=0",
        "SCRIPT_NAME=/latchkey/proxy",
        "SCRIPT_FILENAME=/usr/lib/latchkey/cgi-bin/proxy",
        "PATH_INFO=/confluence/wiki/rest/api/space",
        "PATH_TRANSLATED=/var/www/confluence/wiki/rest/api/space",
        "QUERY_STRING=limit=5&start=0",
        NULL,
    };
    req_case c;
    init_req(&c, env);
    assert_string_equal(c.r.route, "/proxy/confluence/wiki/rest/api/space");
    assert_string_equal(c.r.query, "limit=5&start=0");
    assert_string_equal(lk_req_param(&c.r, "start"), "0");
    assert_proxy_rest(&c.r, "confluence/wiki/rest/api/space");
    lk_arena_free(c.a);
}

static void test_req_init_plain_cgi_without_request_uri(void **state)
{
    (void)state;
    /* RFC 3875 only: the URI is rebuilt from SCRIPT_NAME + PATH_INFO */
    char *env[] = {
        "REQUEST_METHOD=GET",
        "SCRIPT_NAME=/latchkey/proxy",
        "PATH_INFO=/confluence/wiki/rest/api/space",
        "QUERY_STRING=limit=5",
        NULL,
    };
    req_case c;
    init_req(&c, env);
    assert_string_equal(c.r.uri, "/latchkey/proxy/confluence/wiki/rest/api/space?limit=5");
    assert_string_equal(c.r.route, "/proxy/confluence/wiki/rest/api/space");
    assert_string_equal(c.r.query, "limit=5");
    assert_proxy_rest(&c.r, "confluence/wiki/rest/api/space");
    lk_arena_free(c.a);

    char *noquery[] = {
        "REQUEST_METHOD=GET", "SCRIPT_NAME=/latchkey/proxy", "PATH_INFO=/confluence/wiki", "QUERY_STRING=", NULL,
    };
    init_req(&c, noquery);
    assert_string_equal(c.r.route, "/proxy/confluence/wiki");
    assert_string_equal(c.r.query, "");
    lk_arena_free(c.a);
}

static void test_req_init_outside_the_mount_has_no_route(void **state)
{
    (void)state;
    char *env[] = {
        "REQUEST_METHOD=GET",
        "REQUEST_URI=/latchkeyX/proxy/confluence/wiki",
        NULL,
    };
    req_case c;
    init_req(&c, env);
    assert_string_equal(c.r.route, "");
    const char *rest = NULL;
    assert_false(lk_route_is(&c.r, "proxy", &rest));
    lk_arena_free(c.a);
}

/* SPEC §6: a name that is no RFC 9110 token is dropped, so that a web
 * server cannot trim " Set-Cookie" or "set-cookie " into the real one. */
static void test_response_header_names_must_be_tokens(void **state)
{
    (void)state;
    static const char *const dropped[] = {
        " Set-Cookie", "set-cookie ", "\tSet-Cookie", "Set-Cookie\t", "X Custom", "X-Custom ",  " X-Custom",
        "X(Custom)",   "X\"Custom",   "X/Custom",     "X@Custom",     "Loc\x7f",  "X-\xc3\xa9", "",
        NULL,
    };
    for (const char *const *p = dropped; *p; p++) {
        if (resp_ok(*p))
            fail_msg("passed back: \"%s\"", *p);
    }
    assert_true(resp_ok("Location"));
    assert_true(resp_ok("X-Custom_Name.1!#$%&'*+^`|~"));
}

/* SPEC §6: a relative Location goes back absolute, resolved against the
 * upstream URL (RFC 3986 §5.2); an absolute one as it came. */
static void test_location_resolved_against_the_upstream_url(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    const char *up = "http://127.0.0.1:8080/ex/confluence/abc/wiki/rest/api/space?limit=5";
    assert_string_equal(lk_proxy_location(a, up, "/latchkey/token/p?instance_id=u"),
                        "http://127.0.0.1:8080/latchkey/token/p?instance_id=u");
    assert_string_equal(lk_proxy_location(a, up, "content/1"),
                        "http://127.0.0.1:8080/ex/confluence/abc/wiki/rest/api/content/1");
    assert_string_equal(lk_proxy_location(a, up, "../../../../x"), "http://127.0.0.1:8080/ex/confluence/x");
    assert_string_equal(lk_proxy_location(a, up, "?start=25"),
                        "http://127.0.0.1:8080/ex/confluence/abc/wiki/rest/api/space?start=25");
    assert_string_equal(lk_proxy_location(a, up, ""), up);
    assert_string_equal(lk_proxy_location(a, up, "//other.example/y"), "http://other.example/y");
    assert_string_equal(lk_proxy_location(a, up, "https://acme.atlassian.net/wiki/x"),
                        "https://acme.atlassian.net/wiki/x");
    assert_string_equal(lk_proxy_location(a, up, "/\\evil.example/x"), "http://127.0.0.1:8080/\\evil.example/x");
    assert_null(lk_proxy_location(a, "/no/scheme", "/x"));
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_headers_drop_hop_by_hop_and_ours),
        cmocka_unit_test(test_response_headers_drop_set_cookie_status_and_hop_by_hop),
        cmocka_unit_test(test_response_header_names_must_be_tokens),
        cmocka_unit_test(test_location_resolved_against_the_upstream_url),
        cmocka_unit_test(test_header_name_from_cgi_variable),
        cmocka_unit_test(test_header_name_refuses_names_that_are_not_tokens),
        cmocka_unit_test(test_req_init_lighttpd_mod_fastcgi_keeps_raw_path),
        cmocka_unit_test(test_req_init_apache_mod_proxy_fcgi_without_path_info),
        cmocka_unit_test(test_req_init_apache_mod_fcgid_with_path_info),
        cmocka_unit_test(test_req_init_plain_cgi_without_request_uri),
        cmocka_unit_test(test_req_init_outside_the_mount_has_no_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
