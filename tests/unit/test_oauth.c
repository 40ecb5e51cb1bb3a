/* Unit tests: token requests in each style and the judgement of token
 * endpoint answers into SPEC §5's failure classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "oauth.h"

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

static const char *const code_grant[] = {"grant_type",
                                         "authorization_code",
                                         "code",
                                         "c/1+2",
                                         "redirect_uri",
                                         "https://b.example/lk/callback/conf",
                                         "code_verifier",
                                         "v-_~.x",
                                         NULL};
static const char *const refresh_grant[] = {"grant_type", "refresh_token", "refresh_token", "rt+/=", NULL};

/* ---- lk_oauth_build ---- */

static void test_build_json_puts_client_in_body(void **state)
{
    lk_client c = {"cid", "s\"ec", NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "json", &c, code_grant, &tr), LK_OK);
    assert_string_equal(tr.content_type, "Content-Type: application/json");
    assert_null(tr.authorization);
    assert_string_equal(tr.body, "{\"grant_type\":\"authorization_code\",\"code\":\"c/1+2\","
                                 "\"redirect_uri\":\"https://b.example/lk/callback/conf\","
                                 "\"code_verifier\":\"v-_~.x\",\"client_id\":\"cid\",\"client_secret\":\"s\\\"ec\"}");
}

static void test_build_json_public_client_has_no_secret(void **state)
{
    lk_client c = {"cid", NULL, NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "json", &c, refresh_grant, &tr), LK_OK);
    assert_string_equal(tr.body,
                        "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"rt+/=\",\"client_id\":\"cid\"}");
}

static void test_build_form_is_client_secret_post(void **state)
{
    lk_client c = {"my client", "a b:c%", NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "form", &c, refresh_grant, &tr), LK_OK);
    assert_string_equal(tr.content_type, "Content-Type: application/x-www-form-urlencoded");
    assert_null(tr.authorization);
    assert_string_equal(tr.body, "grant_type=refresh_token&refresh_token=rt%2B%2F%3D"
                                 "&client_id=my%20client&client_secret=a%20b%3Ac%25");
}

static void test_build_form_encodes_every_parameter(void **state)
{
    lk_client c = {"cid", NULL, NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "form", &c, code_grant, &tr), LK_OK);
    assert_string_equal(tr.body, "grant_type=authorization_code&code=c%2F1%2B2"
                                 "&redirect_uri=https%3A%2F%2Fb.example%2Flk%2Fcallback%2Fconf"
                                 "&code_verifier=v-_~.x&client_id=cid");
}

static void test_build_form_without_params_has_no_leading_ampersand(void **state)
{
    static const char *const none[] = {NULL};
    lk_client c = {"cid", "s", NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "form", &c, none, &tr), LK_OK);
    assert_string_equal(tr.body, "client_id=cid&client_secret=s");
}

static void test_build_basic_form_encodes_id_and_secret_before_base64(void **state)
{
    /* RFC 6749 §2.3.1: base64(urlencode(id) ":" urlencode(secret)), so a
     * ':' in the id cannot move the split. */
    lk_client c = {"id:1", "a b:c%", NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "basic", &c, refresh_grant, &tr), LK_OK);
    assert_string_equal(tr.content_type, "Content-Type: application/x-www-form-urlencoded");
    /* base64("id%3A1:a%20b%3Ac%25") */
    assert_string_equal(tr.authorization, "Authorization: Basic aWQlM0ExOmElMjBiJTNBYyUyNQ==");
    assert_string_equal(tr.body, "grant_type=refresh_token&refresh_token=rt%2B%2F%3D");
    assert_null(strstr(tr.body, "client"));
}

static void test_build_basic_public_client_has_empty_secret(void **state)
{
    lk_client c = {"cid", NULL, NULL, false};
    lk_token_request tr;
    assert_int_equal(lk_oauth_build(*state, "basic", &c, refresh_grant, &tr), LK_OK);
    assert_string_equal(tr.authorization, "Authorization: Basic Y2lkOg=="); /* "cid:" */
}

/* ---- lk_oauth_parse: success ---- */

static lk_oauth_fail judge(lk_arena *a, long status, const char *body, lk_tokens *t, const char **code)
{
    return lk_oauth_parse(a, status, body, strlen(body), t, code);
}

static void test_parse_full_token_answer(void **state)
{
    lk_tokens t;
    const char *code = "x";
    assert_int_equal(judge(*state, 200,
                           "{\"access_token\":\"at1\",\"refresh_token\":\"rt1\",\"token_type\":\"bearer\","
                           "\"expires_in\":3600,\"scope\":\"read:x offline_access\"}",
                           &t, &code),
                     LK_OAUTH_OK);
    assert_null(code);
    assert_string_equal(t.access_token, "at1");
    assert_string_equal(t.refresh_token, "rt1");
    assert_string_equal(t.token_type, "Bearer");
    assert_string_equal(t.scope, "read:x offline_access");
    assert_true(t.expires_in == 3600);
}

static void test_parse_answer_without_refresh_token(void **state)
{
    lk_tokens t;
    const char *code;
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at1\",\"token_type\":\"Bearer\"}", &t, &code),
                     LK_OAUTH_OK);
    assert_string_equal(t.access_token, "at1");
    assert_null(t.refresh_token);
    assert_null(t.scope);
    assert_true(t.expires_in == -1);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at1\",\"refresh_token\":\"\"}", &t, &code), LK_OAUTH_OK);
    assert_null(t.refresh_token);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at1\",\"refresh_token\":null}", &t, &code), LK_OAUTH_OK);
    assert_null(t.refresh_token);
}

/* SPEC §5: expires_in is a positive whole number of seconds, at most ten
 * years (a quoted one is taken); absent means default_token_ttl (-1 here);
 * anything else is nonsense, never "no expiry". */
static void test_parse_expires_in_int_or_string(void **state)
{
    static const struct {
        const char *v;
        long long want;
    } cases[] = {
        {"3600", 3600}, {"\"3600\"", 3600}, {"1", 1}, {"null", -1}, {"315360000", 315360000},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(cases); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"expires_in\":%s}", cases[i].v);
        lk_tokens t;
        const char *code;
        assert_int_equal(judge(*state, 200, body, &t, &code), LK_OAUTH_OK);
        if (t.expires_in != cases[i].want)
            fail_msg("expires_in %s gave %lld, want %lld", cases[i].v, t.expires_in, cases[i].want);
    }
    lk_tokens t;
    const char *code;
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"a\"}", &t, &code), LK_OAUTH_OK);
    assert_int_equal(t.expires_in, -1);
}

static void test_parse_refuses_expires_in_that_is_no_positive_integer(void **state)
{
    static const char *const bad[] = {
        "0",         "-5",  "\"abc\"",           "3600.5", "true", "\"\"", "315360001", "[1]", "{}", "\"-3600\"",
        "\" 3600\"", "1e3", "\"36000000000000\""};
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"expires_in\":%s}", bad[i]);
        lk_tokens t;
        const char *code = NULL;
        if (judge(*state, 200, body, &t, &code) != LK_OAUTH_NONSENSE)
            fail_msg("expires_in %s was taken", bad[i]);
        assert_string_equal(code, "malformed_expires_in");
    }
}

static void test_parse_normalises_token_type(void **state)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"access_token\":\"a\"}", "Bearer"},
        {"{\"access_token\":\"a\",\"token_type\":\"BEARER\"}", "Bearer"},
        {"{\"access_token\":\"a\",\"token_type\":\"bEaReR\"}", "Bearer"},
        {"{\"access_token\":\"a\",\"token_type\":\"MAC\"}", "MAC"},
        {"{\"access_token\":\"a\",\"token_type\":\"N_A\"}", "N_A"},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(cases); i++) {
        lk_tokens t;
        const char *code;
        assert_int_equal(judge(*state, 200, cases[i].body, &t, &code), LK_OAUTH_OK);
        assert_string_equal(t.token_type, cases[i].want);
    }
}

/* Found by reading the header the proxy builds ("<token_type> <token>"): a
 * token_type with CR/LF, a space or a colon would inject or bend headers. */
static void test_parse_refuses_token_type_that_is_no_http_token(void **state)
{
    static const char *const bad[] = {
        "\"Bearer\\r\\nX-Injected: 1\"", "\"Bearer x\"", "\"\"", "5", "\"Bea:rer\"", "\"B\\u00e9arer\"", "null",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"access_token\":\"a\",\"token_type\":%s}", bad[i]);
        lk_tokens t;
        const char *code = NULL;
        lk_oauth_fail f = judge(*state, 200, body, &t, &code);
        if (!strcmp(bad[i], "null")) { /* null is absent: Bearer */
            assert_int_equal(f, LK_OAUTH_OK);
            continue;
        }
        if (f != LK_OAUTH_NONSENSE)
            fail_msg("token_type %s was taken", bad[i]);
        assert_string_equal(code, "malformed_token_type");
        assert_null(t.access_token);
    }
}

static void test_parse_refuses_scope_with_control_characters(void **state)
{
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"a\",\"scope\":\"read\\nwrite\"}", &t, &code),
                     LK_OAUTH_NONSENSE);
    assert_string_equal(code, "malformed_scope");
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"a\",\"scope\":7}", &t, &code), LK_OAUTH_NONSENSE);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"a\",\"scope\":\"read:x write:y\"}", &t, &code),
                     LK_OAUTH_OK);
    assert_string_equal(t.scope, "read:x write:y");
}

/* ---- lk_oauth_parse: nonsense ---- */

static void test_parse_200_garbage_is_nonsense(void **state)
{
    static const char *const bodies[] = {"<html>hi</html>", "",     "[]",
                                         "\"at\"",          "null", "{\"access_token\":\"a\"} trailing"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bodies); i++) {
        lk_tokens t;
        const char *code = NULL;
        assert_int_equal(judge(*state, 200, bodies[i], &t, &code), LK_OAUTH_NONSENSE);
        assert_string_equal(code, "malformed_answer");
        assert_null(t.access_token);
    }
}

static void test_parse_200_without_access_token_is_nonsense(void **state)
{
    static const char *const bodies[] = {"{}", "{\"access_token\":\"\"}", "{\"access_token\":5}",
                                         "{\"access_token\":null}", "{\"refresh_token\":\"rt\"}"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bodies); i++) {
        lk_tokens t;
        const char *code = NULL;
        assert_int_equal(judge(*state, 200, bodies[i], &t, &code), LK_OAUTH_NONSENSE);
        assert_string_equal(code, "no_access_token");
    }
}

static void test_parse_error_answered_with_200_is_judged_as_error(void **state)
{
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 200, "{\"error\":\"invalid_grant\"}", &t, &code), LK_OAUTH_GRANT);
    assert_string_equal(code, "invalid_grant");
    assert_int_equal(judge(*state, 200, "{\"error\":\"invalid_client\"}", &t, &code), LK_OAUTH_CONFIG);
    assert_int_equal(judge(*state, 200, "{\"error\":\"bogus\"}", &t, &code), LK_OAUTH_NONSENSE);
}

static void test_parse_refuses_huge_access_token(void **state)
{
    char body[20000];
    memset(body, 'a', sizeof(body));
    memcpy(body, "{\"access_token\":\"", 17);
    memcpy(body + 17 + 16385, "\"}", 3);
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 200, body, &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "no_access_token");
    memcpy(body + 17 + 16384, "\"}", 3);
    assert_int_equal(judge(*state, 200, body, &t, &code), LK_OAUTH_OK);
    assert_int_equal(strlen(t.access_token), 16384);
}

/* Found by tests/fuzz (fuzz_oauth): tokens with control or non-ASCII
 * bytes were taken, and go into "Authorization: Bearer ..." header lines. */
static void test_parse_refuses_tokens_that_are_not_vschar(void **state)
{
    static const char *const bad_access[] = {
        "{\"access_token\":\"at\\r\\nX-Injected: 1\"}",
        "{\"access_token\":\"a\\tb\"}",
        "{\"access_token\":\"\xc3\xa9t\xc3\xa9\"}",
        "{\"access_token\":\"a\\u007fb\"}",
    };
    lk_tokens t;
    const char *code = NULL;
    for (size_t i = 0; i < LK_ARRAY_LEN(bad_access); i++) {
        assert_int_equal(judge(*state, 200, bad_access[i], &t, &code), LK_OAUTH_NONSENSE);
        assert_string_equal(code, "no_access_token");
        assert_null(t.access_token);
    }
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at\",\"refresh_token\":\"r\\nt\"}", &t, &code),
                     LK_OAUTH_NONSENSE);
    assert_string_equal(code, "malformed_refresh_token");
    assert_null(t.access_token);
    /* SPEC §5: printable ASCII without spaces; a space would end the
     * credential in "Bearer <token>" early. */
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"a b\"}", &t, &code), LK_OAUTH_NONSENSE);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at\",\"refresh_token\":\"r t\"}", &t, &code),
                     LK_OAUTH_NONSENSE);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"at\",\"refresh_token\":7}", &t, &code), LK_OAUTH_NONSENSE);
    assert_int_equal(judge(*state, 200, "{\"access_token\":\"!~a.b-c_d/e+f=\",\"refresh_token\":\"rt\"}", &t, &code),
                     LK_OAUTH_OK);
    assert_string_equal(t.access_token, "!~a.b-c_d/e+f=");
}

static void test_parse_4xx_non_json_is_nonsense(void **state)
{
    static const long statuses[] = {400, 401, 403, 404, 302, 201};
    for (size_t i = 0; i < LK_ARRAY_LEN(statuses); i++) {
        lk_tokens t;
        const char *code = NULL;
        assert_int_equal(judge(*state, statuses[i], "<html>Forbidden</html>", &t, &code), LK_OAUTH_NONSENSE);
        assert_string_equal(code, "unexpected_status");
    }
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 400, "{\"error\":5}", &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "unexpected_status");
    assert_int_equal(judge(*state, 400, "{\"message\":\"bad\"}", &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "unexpected_status");
}

/* ---- lk_oauth_parse: provider errors ---- */

static void test_parse_invalid_grant_ends_the_grant(void **state)
{
    static const long statuses[] = {400, 401, 403};
    for (size_t i = 0; i < LK_ARRAY_LEN(statuses); i++) {
        lk_tokens t;
        const char *code = NULL;
        assert_int_equal(judge(*state, statuses[i],
                               "{\"error\":\"invalid_grant\",\"error_description\":\"Unknown or invalid "
                               "refresh token.\"}",
                               &t, &code),
                         LK_OAUTH_GRANT);
        assert_string_equal(code, "invalid_grant");
        assert_null(t.access_token);
    }
}

static void test_parse_client_errors_mean_misconfigured_profile(void **state)
{
    static const struct {
        long status;
        const char *error;
    } cases[] = {
        {401, "invalid_client"},         {400, "invalid_client"},  {400, "unauthorized_client"},
        {400, "unsupported_grant_type"}, {400, "invalid_request"}, {403, "access_denied"},
        {400, "invalid_scope"},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(cases); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"error\":\"%s\"}", cases[i].error);
        lk_tokens t;
        const char *code = NULL;
        assert_int_equal(judge(*state, cases[i].status, body, &t, &code), LK_OAUTH_CONFIG);
        assert_string_equal(code, cases[i].error);
    }
}

static void test_parse_429_and_5xx_are_transient(void **state)
{
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 429, "{\"error\":\"invalid_grant\"}", &t, &code), LK_OAUTH_TRANSIENT);
    assert_string_equal(code, "rate_limited");
    static const long statuses[] = {500, 502, 503, 504, 599};
    for (size_t i = 0; i < LK_ARRAY_LEN(statuses); i++) {
        /* even when the body claims invalid_grant: a 5xx never ends a grant */
        assert_int_equal(judge(*state, statuses[i], "{\"error\":\"invalid_grant\"}", &t, &code), LK_OAUTH_TRANSIENT);
        assert_string_equal(code, "provider_server_error");
        assert_int_equal(judge(*state, statuses[i], "<html>", &t, &code), LK_OAUTH_TRANSIENT);
    }
}

static void test_parse_provider_says_try_later_is_transient(void **state)
{
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 400, "{\"error\":\"temporarily_unavailable\"}", &t, &code), LK_OAUTH_TRANSIENT);
    assert_string_equal(code, "temporarily_unavailable");
    assert_int_equal(judge(*state, 400, "{\"error\":\"server_error\"}", &t, &code), LK_OAUTH_TRANSIENT);
    assert_string_equal(code, "server_error");
}

static void test_parse_never_echoes_unknown_provider_text(void **state)
{
    const char *body = "{\"error\":\"<script>alert(1)</script> rt=secret\"}";
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 400, body, &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "unknown_error");
    assert_false(code >= body && code < body + strlen(body));
    assert_int_equal(judge(*state, 400, "{\"error\":\"Invalid_Grant\"}", &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "unknown_error");
    assert_int_equal(judge(*state, 400, "{\"error\":\"invalid_grant \"}", &t, &code), LK_OAUTH_NONSENSE);
    assert_string_equal(code, "unknown_error");
}

static void test_parse_known_code_is_ours_not_the_body(void **state)
{
    char body[] = "{\"error\":\"invalid_client\"}";
    lk_tokens t;
    const char *code = NULL;
    assert_int_equal(judge(*state, 401, body, &t, &code), LK_OAUTH_CONFIG);
    memset(body, 'x', sizeof(body) - 1); /* the answer buffer goes away */
    assert_string_equal(code, "invalid_client");
}

static void test_transport_failures_classify(void **state)
{
    (void)state;
    assert_int_equal(lk_oauth_transport(LK_ETIMEOUT), LK_OAUTH_TRANSIENT);
    assert_int_equal(lk_oauth_transport(LK_EUPSTREAM), LK_OAUTH_TRANSIENT);
    assert_int_equal(lk_oauth_transport(LK_ETOOBIG), LK_OAUTH_NONSENSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_build_json_puts_client_in_body),
        T(test_build_json_public_client_has_no_secret),
        T(test_build_form_is_client_secret_post),
        T(test_build_form_encodes_every_parameter),
        T(test_build_form_without_params_has_no_leading_ampersand),
        T(test_build_basic_form_encodes_id_and_secret_before_base64),
        T(test_build_basic_public_client_has_empty_secret),
        T(test_parse_full_token_answer),
        T(test_parse_answer_without_refresh_token),
        T(test_parse_expires_in_int_or_string),
        T(test_parse_normalises_token_type),
        T(test_parse_refuses_expires_in_that_is_no_positive_integer),
        T(test_parse_refuses_token_type_that_is_no_http_token),
        T(test_parse_refuses_scope_with_control_characters),
        T(test_parse_200_garbage_is_nonsense),
        T(test_parse_200_without_access_token_is_nonsense),
        T(test_parse_error_answered_with_200_is_judged_as_error),
        T(test_parse_refuses_tokens_that_are_not_vschar),
        T(test_parse_refuses_huge_access_token),
        T(test_parse_4xx_non_json_is_nonsense),
        T(test_parse_invalid_grant_ends_the_grant),
        T(test_parse_client_errors_mean_misconfigured_profile),
        T(test_parse_429_and_5xx_are_transient),
        T(test_parse_provider_says_try_later_is_transient),
        T(test_parse_never_echoes_unknown_provider_text),
        T(test_parse_known_code_is_ours_not_the_body),
        T(test_transport_failures_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
