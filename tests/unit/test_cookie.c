/* Unit tests: Cookie header parsing and Set-Cookie building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cookie.h"

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

static void test_cookie_get_finds_one_of_several(void **state)
{
    const char *h = "theme=dark; lkf_abc=v1; lang=en";
    assert_string_equal(lk_cookie_get(*state, h, "lkf_abc"), "v1");
    assert_string_equal(lk_cookie_get(*state, h, "theme"), "dark");
    assert_string_equal(lk_cookie_get(*state, h, "lang"), "en");
}

static void test_cookie_get_tolerates_whitespace(void **state)
{
    const char *h = "  a=1 ;\tlkf_x = v2 \t;b=2;;  ";
    assert_string_equal(lk_cookie_get(*state, h, "lkf_x"), "v2");
    assert_string_equal(lk_cookie_get(*state, h, "a"), "1");
    assert_string_equal(lk_cookie_get(*state, h, "b"), "2");
}

static void test_cookie_get_unquotes_values(void **state)
{
    assert_string_equal(lk_cookie_get(*state, "lkf_a=\"quoted\"", "lkf_a"), "quoted");
    assert_string_equal(lk_cookie_get(*state, "lkf_a=\"\"", "lkf_a"), "");
    assert_string_equal(lk_cookie_get(*state, "lkf_a=\"", "lkf_a"), "\"");
    assert_string_equal(lk_cookie_get(*state, "lkf_a=\"half", "lkf_a"), "\"half");
}

static void test_cookie_get_refuses_name_look_alikes(void **state)
{
    assert_string_equal(lk_cookie_get(*state, "xlkf_a=evil; lkf_a=good", "lkf_a"), "good");
    assert_null(lk_cookie_get(*state, "xlkf_a=evil", "lkf_a"));
    assert_null(lk_cookie_get(*state, "lkf_ab=evil", "lkf_a"));
    assert_null(lk_cookie_get(*state, "lkf_a_b=evil", "lkf_a"));
    assert_null(lk_cookie_get(*state, "LKF_A=evil", "lkf_a"));
    assert_null(lk_cookie_get(*state, "other=lkf_a=evil", "lkf_a")); /* name inside a value */
    assert_null(lk_cookie_get(*state, "lkf_a; x=1", "lkf_a"));       /* no '=' */
}

static void test_cookie_get_returns_first_of_duplicates(void **state)
{
    assert_string_equal(lk_cookie_get(*state, "lkf_a=1; lkf_a=2", "lkf_a"), "1");
}

static void test_cookie_get_keeps_equals_in_value(void **state)
{
    assert_string_equal(lk_cookie_get(*state, "lkf_a=abc==; b=x=y", "lkf_a"), "abc==");
    assert_string_equal(lk_cookie_get(*state, "lkf_a=abc==; b=x=y", "b"), "x=y");
    assert_string_equal(lk_cookie_get(*state, "lkf_a=", "lkf_a"), "");
}

static void test_cookie_get_missing_is_null(void **state)
{
    assert_null(lk_cookie_get(*state, NULL, "lkf_a"));
    assert_null(lk_cookie_get(*state, "", "lkf_a"));
    assert_null(lk_cookie_get(*state, ";;; ", "lkf_a"));
    assert_null(lk_cookie_get(*state, "a=1; b=2", "lkf_a"));
}

static void test_cookie_get_refuses_oversized_header(void **state)
{
    char h[LK_COOKIE_MAX_HEADER + 2];
    memset(h, 'x', sizeof(h));
    memcpy(h, "lkf_a=v; pad=", 13);
    h[LK_COOKIE_MAX_HEADER] = '\0';
    assert_string_equal(lk_cookie_get(*state, h, "lkf_a"), "v");
    h[LK_COOKIE_MAX_HEADER] = 'x';
    h[LK_COOKIE_MAX_HEADER + 1] = '\0';
    assert_null(lk_cookie_get(*state, h, "lkf_a"));
}

static void test_cookie_build_exact_with_secure(void **state)
{
    assert_string_equal(lk_cookie_build(*state, "lkf_abc", "v", "/latchkey/callback/confluence", 600, true),
                        "lkf_abc=v; Path=/latchkey/callback/confluence; Max-Age=600; HttpOnly; "
                        "SameSite=Lax; Secure");
}

static void test_cookie_build_exact_without_secure(void **state)
{
    assert_string_equal(lk_cookie_build(*state, "lkf_abc", "v", "/callback/c", 600, false),
                        "lkf_abc=v; Path=/callback/c; Max-Age=600; HttpOnly; SameSite=Lax");
}

static void test_cookie_build_max_age_zero_deletes(void **state)
{
    assert_string_equal(lk_cookie_build(*state, "lkf_abc", "", "/callback/c", 0, true),
                        "lkf_abc=; Path=/callback/c; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
}

static void test_cookie_build_then_get_round_trip(void **state)
{
    char *sc = lk_cookie_build(*state, "lkf_q", "tok-_123", "/", 60, true);
    /* What a browser sends back is the name=value part. */
    char *pair = strchr(sc, ';');
    *pair = '\0';
    assert_string_equal(lk_cookie_get(*state, sc, "lkf_q"), "tok-_123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cookie_get_finds_one_of_several),
        T(test_cookie_get_tolerates_whitespace),
        T(test_cookie_get_unquotes_values),
        T(test_cookie_get_refuses_name_look_alikes),
        T(test_cookie_get_returns_first_of_duplicates),
        T(test_cookie_get_keeps_equals_in_value),
        T(test_cookie_get_missing_is_null),
        T(test_cookie_get_refuses_oversized_header),
        T(test_cookie_build_exact_with_secure),
        T(test_cookie_build_exact_without_secure),
        T(test_cookie_build_max_age_zero_deletes),
        T(test_cookie_build_then_get_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
