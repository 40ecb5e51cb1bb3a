/* Unit tests: query strings, form bodies and lk_url_add_param. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "form.h"

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

static lk_err parse(lk_arena *a, const char *s, lk_form *f)
{
    return lk_form_parse(a, s, strlen(s), f);
}

static void test_form_parses_pairs_in_order(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "code=abc&state=xyz&iss=https%3A%2F%2Fauth", &f), LK_OK);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.v[0].name, "code");
    assert_string_equal(f.v[0].value, "abc");
    assert_int_equal(f.v[0].value_len, 3);
    assert_string_equal(f.v[1].name, "state");
    assert_string_equal(f.v[1].value, "xyz");
    assert_string_equal(f.v[2].name, "iss");
    assert_string_equal(f.v[2].value, "https://auth");
}

static void test_form_plus_is_space_in_names_and_values(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "a+b=c+d%2Be%20f", &f), LK_OK);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.v[0].name, "a b");
    assert_string_equal(f.v[0].value, "c d+e f");
}

static void test_form_empty_input_has_no_params(void **state)
{
    lk_form f;
    assert_int_equal(lk_form_parse(*state, "", 0, &f), LK_OK);
    assert_int_equal(f.n, 0);
    assert_null(lk_form_get(&f, "a", NULL));
}

static void test_form_skips_empty_pairs(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "&&a=1&&b=2&", &f), LK_OK);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.v[0].name, "a");
    assert_string_equal(f.v[0].value, "1");
    assert_string_equal(f.v[1].name, "b");
    assert_string_equal(f.v[1].value, "2");
    assert_int_equal(parse(*state, "&", &f), LK_OK);
    assert_int_equal(f.n, 0);
}

static void test_form_name_without_equals_has_empty_value(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "a&b=&=c", &f), LK_OK);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.v[0].name, "a");
    assert_string_equal(f.v[0].value, "");
    assert_int_equal(f.v[0].value_len, 0);
    assert_string_equal(f.v[1].name, "b");
    assert_string_equal(f.v[1].value, "");
    assert_string_equal(f.v[2].name, "");
    assert_string_equal(f.v[2].value, "c");
}

static void test_form_value_keeps_later_equals(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "link=abc==&x=a=b", &f), LK_OK);
    assert_string_equal(lk_form_get(&f, "link", NULL)->value, "abc==");
    assert_string_equal(lk_form_get(&f, "x", NULL)->value, "a=b");
}

static void test_form_get_counts_duplicates_and_returns_first(void **state)
{
    lk_form f;
    size_t count = 99;
    assert_int_equal(parse(*state, "state=one&code=c&state=two&State=three", &f), LK_OK);
    const lk_param *p = lk_form_get(&f, "state", &count);
    assert_non_null(p);
    assert_string_equal(p->value, "one");
    assert_int_equal(count, 2);
    p = lk_form_get(&f, "code", &count);
    assert_string_equal(p->value, "c");
    assert_int_equal(count, 1);
    assert_null(lk_form_get(&f, "missing", &count));
    assert_int_equal(count, 0);
    assert_null(lk_form_get(&f, "stat", NULL)); /* no prefix matching */
}

static void test_form_refuses_nul_in_name(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "a%00b=1", &f), LK_EINVAL);
    assert_int_equal(parse(*state, "ok=1&%00=1", &f), LK_EINVAL);
}

static void test_form_keeps_nul_in_value_with_length(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "instance_id=user%00admin", &f), LK_OK);
    const lk_param *p = lk_form_get(&f, "instance_id", NULL);
    assert_int_equal(p->value_len, 10);
    assert_int_equal(strlen(p->value), 4); /* callers must check value_len */
}

static void test_form_refuses_malformed_escapes(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, "a=%zz", &f), LK_EINVAL);
    assert_int_equal(parse(*state, "a=%4", &f), LK_EINVAL);
    assert_int_equal(parse(*state, "a=1%", &f), LK_EINVAL);
    assert_int_equal(parse(*state, "a%=1", &f), LK_EINVAL);
    assert_int_equal(parse(*state, "a=%4&b=1", &f), LK_EINVAL); /* escape cut by '&' */
}

static void test_form_respects_length_not_nul(void **state)
{
    lk_form f;
    assert_int_equal(lk_form_parse(*state, "a=1&b=2", 3, &f), LK_OK);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.v[0].value, "1");
}

static char *many_params(lk_arena *a, size_t n)
{
    lk_buf b;
    lk_buf_init(&b, a, 1 << 16);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lk_buf_printf(&b, "%sp%zu=%zu", i ? "&" : "", i, i), LK_OK);
    return (char *)lk_buf_str(&b);
}

static void test_form_allows_exactly_max_params(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, many_params(*state, LK_FORM_MAX_PARAMS), &f), LK_OK);
    assert_int_equal(f.n, LK_FORM_MAX_PARAMS);
    assert_string_equal(f.v[LK_FORM_MAX_PARAMS - 1].name, "p63");
}

static void test_form_refuses_more_than_max_params(void **state)
{
    lk_form f;
    assert_int_equal(parse(*state, many_params(*state, LK_FORM_MAX_PARAMS + 1), &f), LK_EINVAL);
    assert_int_equal(parse(*state, many_params(*state, 1000), &f), LK_EINVAL);
}

static void test_form_refuses_flood_of_separators(void **state)
{
    char s[4096];
    memset(s, '&', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    lk_form f;
    assert_int_equal(parse(*state, s, &f), LK_EINVAL);
}

static void test_url_add_param_picks_separator(void **state)
{
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb", "status", "success"),
                        "https://a.example/cb?status=success");
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb?x=1", "status", "success"),
                        "https://a.example/cb?x=1&status=success");
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb?", "a", "b"), "https://a.example/cb?a=b");
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb?x=1&", "a", "b"),
                        "https://a.example/cb?x=1&a=b");
}

static void test_url_add_param_encodes_name_and_value(void **state)
{
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb", "instance id", "a&b=c d/é"),
                        "https://a.example/cb?instance%20id=a%26b%3Dc%20d%2F%C3%A9");
    assert_string_equal(lk_url_add_param(*state, "https://a.example/cb", "e", ""), "https://a.example/cb?e=");
}

static void test_url_add_param_round_trips_through_form_parse(void **state)
{
    const char *v = "x&y=z+%#?";
    char *u = lk_url_add_param(*state, "https://a.example/cb?first=1", "k", v);
    const char *q = strchr(u, '?') + 1;
    lk_form f;
    assert_int_equal(parse(*state, q, &f), LK_OK);
    assert_int_equal(f.n, 2);
    assert_string_equal(lk_form_get(&f, "k", NULL)->value, v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_form_parses_pairs_in_order),
        T(test_form_plus_is_space_in_names_and_values),
        T(test_form_empty_input_has_no_params),
        T(test_form_skips_empty_pairs),
        T(test_form_name_without_equals_has_empty_value),
        T(test_form_value_keeps_later_equals),
        T(test_form_get_counts_duplicates_and_returns_first),
        T(test_form_refuses_nul_in_name),
        T(test_form_keeps_nul_in_value_with_length),
        T(test_form_refuses_malformed_escapes),
        T(test_form_respects_length_not_nul),
        T(test_form_allows_exactly_max_params),
        T(test_form_refuses_more_than_max_params),
        T(test_form_refuses_flood_of_separators),
        T(test_url_add_param_picks_separator),
        T(test_url_add_param_encodes_name_and_value),
        T(test_url_add_param_round_trips_through_form_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
