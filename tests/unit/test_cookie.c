/* Unit tests: Cookie header parsing and Set-Cookie building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A header of n bytes: junk cookies (a sibling subdomain's), each of pair
 * bytes, with "lkf_a=v" first, last or nowhere (where: 'f', 'l', 'n'). */
static char *junk_header(size_t n, size_t pair, char where)
{
    char *h = malloc(n + 1);
    assert_non_null(h);
    size_t at = 0;
    if (where == 'f') {
        memcpy(h, "lkf_a=v; ", 9);
        at = 9;
    }
    size_t tail = where == 'l' ? 9 : 0;
    unsigned k = 0;
    while (at + tail < n) {
        size_t room = n - tail - at;
        int head = snprintf(h + at, room + 1, "j%u=", k++);
        size_t len = room < pair ? room : pair;
        if ((size_t)head >= len) {
            memset(h + at, ' ', room); /* no room for another pair: white space */
            at += room;
            break;
        }
        memset(h + at + head, 'x', len - (size_t)head);
        at += len;
        if (at + tail + 2 <= n) {
            memcpy(h + at, "; ", 2);
            at += 2;
        }
    }
    if (where == 'l')
        memcpy(h + at, "; lkf_a=v", 9);
    h[n] = '\0';
    assert_int_equal(strlen(h), n);
    return h;
}

/* lk_cookie_get(header, "lkf_a") is want (a failure, not a crash, when
 * nothing is found). */
static void assert_found(lk_arena *a, const char *header, const char *want)
{
    const char *v = lk_cookie_get(a, header, "lkf_a");
    assert_non_null(v);
    assert_string_equal(v, want);
}

/* SPEC §4: a Cookie header over 8 KiB (cookies of a sibling subdomain)
 * must not hide ours, wherever it is. */
static void test_cookie_get_reads_a_10_kib_header(void **state)
{
    char *h = junk_header(10240, 200, 'l');
    assert_found(*state, h, "v");
    free(h);
    h = junk_header(10240, 200, 'f');
    assert_found(*state, h, "v");
    free(h);
    h = junk_header(10240, 200, 'n');
    assert_null(lk_cookie_get(*state, h, "lkf_a"));
    free(h);
}

static void test_cookie_get_skips_oversized_cookies(void **state)
{
    /* junk of 5000 bytes per cookie, one of them under our name */
    char *h = junk_header(20000, 5000, 'l');
    assert_found(*state, h, "v");
    free(h);
    size_t big = LK_COOKIE_MAX_PAIR + 1;
    char *o = malloc(big + 32);
    assert_non_null(o);
    memcpy(o, "lkf_a=", 6);
    memset(o + 6, 'e', big - 6);
    memcpy(o + big, "; lkf_a=good", sizeof("; lkf_a=good"));
    assert_found(*state, o, "good");
    /* one byte less is a cookie like any other */
    memmove(o + big - 1, o + big, strlen(o + big) + 1);
    const char *v = lk_cookie_get(*state, o, "lkf_a");
    assert_non_null(v);
    assert_int_equal(strlen(v), LK_COOKIE_MAX_PAIR - 6);
    free(o);
}

static void test_cookie_get_ignores_garbage(void **state)
{
    const char *h = "=; ==; =x; \"; \"a;b\"; ,,,; \x01\x7f=\xff; \xc3\x28=1; name only; a=b=c; "
                    "lkf_a\t=\t\"v\"\t; lkf_a=second";
    assert_found(*state, h, "v");
    assert_null(lk_cookie_get(*state, "\x01\x02\x03; ;=;\"\"", "lkf_a"));
}

/* Bounded: only the first LK_COOKIE_MAX_HEADER bytes are read. */
static void test_cookie_get_reads_only_the_first_64_kib(void **state)
{
    size_t n = LK_COOKIE_MAX_HEADER;
    /* ours ending exactly at the limit: found */
    char *h = junk_header(n, 1000, 'l');
    assert_found(*state, h, "v");
    free(h);
    /* ours cut by the limit: not a whole pair, not found */
    h = junk_header(n + 1, 1000, 'l');
    assert_null(lk_cookie_get(*state, h, "lkf_a"));
    free(h);
    /* ours beyond it: not found; ours first in a longer header: found */
    h = junk_header(n + 100, 1000, 'l');
    assert_null(lk_cookie_get(*state, h, "lkf_a"));
    free(h);
    h = junk_header(4 * n, 1000, 'f');
    assert_found(*state, h, "v");
    free(h);
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
        T(test_cookie_get_reads_a_10_kib_header),
        T(test_cookie_get_skips_oversized_cookies),
        T(test_cookie_get_ignores_garbage),
        T(test_cookie_get_reads_only_the_first_64_kib),
        T(test_cookie_build_exact_with_secure),
        T(test_cookie_build_exact_without_secure),
        T(test_cookie_build_max_age_zero_deletes),
        T(test_cookie_build_then_get_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
