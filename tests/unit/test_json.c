/* Unit tests: bounded JSON parsing and typed member access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

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

static lk_err parse(lk_arena *a, const char *s, json_object **o)
{
    return lk_json_parse(a, s, strlen(s), o);
}

static void test_json_parses_object(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, "{\"instance_id\": \"user_123\", \"expires_in\": 900}", &o), LK_OK);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_object));
    assert_string_equal(lk_json_str(o, "instance_id"), "user_123");
    assert_int_equal(json_object_get_int64(lk_json_get(o, "expires_in")), 900);
}

static void test_json_allows_surrounding_whitespace(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, " \t\r\n{\"a\":\"b\"} \t\r\n", &o), LK_OK);
    assert_string_equal(lk_json_str(o, "a"), "b");
}

static void test_json_refuses_trailing_garbage(void **state)
{
    json_object *o = (json_object *)1;
    assert_int_equal(parse(*state, "{\"a\":1} x", &o), LK_EINVAL);
    assert_null(o);
    assert_int_equal(parse(*state, "{\"a\":1}{}", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{\"a\":1},", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "[1]]", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "1 2", &o), LK_EINVAL);
}

static void test_json_refuses_trailing_nul(void **state)
{
    json_object *o = NULL;
    assert_int_equal(lk_json_parse(*state, "{\"a\":1}\0", 8, &o), LK_EINVAL);
    assert_int_equal(lk_json_parse(*state, "{\"a\":1} \0 ", 10, &o), LK_EINVAL);
}

static void test_json_refuses_nul_inside(void **state)
{
    json_object *o = NULL;
    assert_int_equal(lk_json_parse(*state, "{\"a\":\"x\0y\"}", 11, &o), LK_EINVAL);
    assert_int_equal(lk_json_parse(*state, "{\"a\"\0:\"x\"}", 10, &o), LK_EINVAL);
    assert_int_equal(lk_json_parse(*state, "\0{\"a\":1}", 8, &o), LK_EINVAL);
}

static void test_json_refuses_truncated(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, "", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "   ", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{\"a\":", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{\"a\":\"x\"", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "[1,2", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "\"abc", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "tru", &o), LK_EINVAL);
    /* a complete document cut by the length is truncated too */
    assert_int_equal(lk_json_parse(*state, "{\"a\":1}", 6, &o), LK_EINVAL);
}

static void test_json_refuses_non_strict_syntax(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, "[1,]", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{\"a\":1,}", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "{a:1}", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "<html>", &o), LK_EINVAL);
}

static char *nested(lk_arena *a, int depth)
{
    char *s = lk_alloc(a, (size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth * 2 - 1 - i] = ']';
    }
    return s;
}

static void test_json_accepts_depth_limit(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, nested(*state, LK_JSON_DEPTH), &o), LK_OK);
    assert_true(json_object_is_type(o, json_type_array));
}

static void test_json_refuses_depth_over_limit(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, nested(*state, LK_JSON_DEPTH + 1), &o), LK_EINVAL);
    assert_int_equal(parse(*state, nested(*state, 1000), &o), LK_EINVAL);
}

static void test_json_null_parses_to_null(void **state)
{
    json_object *o = (json_object *)1;
    assert_int_equal(parse(*state, "null", &o), LK_OK);
    assert_null(o);
    assert_null(lk_json_str(o, "a"));
    assert_null(lk_json_get(o, "a"));
}

static void test_json_scalars_parse(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, "42", &o), LK_OK);
    assert_true(json_object_is_type(o, json_type_int));
    assert_int_equal(json_object_get_int64(o), 42);
    assert_int_equal(parse(*state, "true", &o), LK_OK);
    assert_true(json_object_is_type(o, json_type_boolean));
    assert_int_equal(parse(*state, "-1.5 ", &o), LK_OK);
    assert_true(json_object_is_type(o, json_type_double));
    assert_int_equal(parse(*state, "42x", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "nul", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "-", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "1e", &o), LK_EINVAL);
    assert_int_equal(parse(*state, "\"s\"", &o), LK_OK);
    assert_string_equal(json_object_get_string(o), "s");
    assert_null(lk_json_str(o, "s")); /* not an object */
}

static void test_json_str_is_type_strict(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state,
                           "{\"s\":\"x\",\"e\":\"\",\"n\":1,\"f\":1.5,\"b\":true,\"z\":null,"
                           "\"o\":{\"s\":\"inner\"},\"a\":[\"x\"]}",
                           &o),
                     LK_OK);
    assert_string_equal(lk_json_str(o, "s"), "x");
    assert_string_equal(lk_json_str(o, "e"), "");
    assert_null(lk_json_str(o, "n"));
    assert_null(lk_json_str(o, "f"));
    assert_null(lk_json_str(o, "b"));
    assert_null(lk_json_str(o, "z"));
    assert_null(lk_json_str(o, "o"));
    assert_null(lk_json_str(o, "a"));
    assert_null(lk_json_str(o, "missing"));
    assert_null(lk_json_str(NULL, "s"));
    assert_string_equal(lk_json_str(lk_json_get(o, "o"), "s"), "inner");
    assert_null(lk_json_str(lk_json_get(o, "a"), "0"));
}

static void test_json_str_refuses_escaped_nul(void **state)
{
    json_object *o = NULL;
    assert_int_equal(parse(*state, "{\"id\":\"user_1\\u0000admin\",\"ok\":\"a\\u00e9\"}", &o), LK_OK);
    assert_null(lk_json_str(o, "id"));
    assert_string_equal(lk_json_str(o, "ok"), "a\xc3\xa9");
}

static void test_json_text_is_compact_without_slash_escapes(void **state)
{
    json_object *o = lk_json_object(*state);
    lk_json_set_str(o, "url", "https://a.example/x");
    lk_json_set_str(o, "skipped", NULL);
    lk_json_set_int(o, "n", -5);
    lk_json_set_str(o, "q", "say \"hi\"\n");
    assert_string_equal(lk_json_text(*state, o),
                        "{\"url\":\"https://a.example/x\",\"n\":-5,\"q\":\"say \\\"hi\\\"\\n\"}");
    json_object *arr = lk_json_array(*state);
    assert_string_equal(lk_json_text(*state, arr), "[]");
}

static void test_json_round_trip_through_text(void **state)
{
    json_object *o = lk_json_object(*state);
    lk_json_set_str(o, "k", "v\xc3\xa9");
    lk_json_set_int(o, "big", 9007199254740993LL);
    const char *t = lk_json_text(*state, o);
    json_object *back = NULL;
    assert_int_equal(parse(*state, t, &back), LK_OK);
    assert_string_equal(lk_json_str(back, "k"), "v\xc3\xa9");
    assert_true(json_object_get_int64(lk_json_get(back, "big")) == 9007199254740993LL);
}

/* lk_json_text writes what json-c writes: every escape, controls and a
 * NUL inside a string, doubles, booleans, null, nesting, UTF-8 as is. */
static void test_json_text_is_json_c_text(void **state)
{
    static const char *docs[] = {
        "{\"a\":\"\\b\\f\\n\\r\\t\\\"\\\\\\/\\u0001\\u001f\\u007f\\u0000x\"}",
        "[1.5,-0.0,1e300,true,false,null,{},[],[[{\"k\\n\":[\"\"]}]]]",
        "{\"\\u00e9t\\u00e9\":\"caf\u00c3\u00a9 \\ud83d\\ude00\",\"n\":-9007199254740993}",
        "\"<b>&amp;</b>\"",
        "12",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_object *o = NULL;
        assert_int_equal(parse(*state, docs[i], &o), LK_OK);
        assert_string_equal(lk_json_text(*state, o),
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    json_object *o = lk_json_object(*state);
    json_object_object_add(o, "nul", json_object_new_string_len("a\0b", 3));
    assert_string_equal(lk_json_text(*state, o), "{\"nul\":\"a\\u0000b\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_json_parses_object),
        T(test_json_allows_surrounding_whitespace),
        T(test_json_refuses_trailing_garbage),
        T(test_json_refuses_trailing_nul),
        T(test_json_refuses_nul_inside),
        T(test_json_refuses_truncated),
        T(test_json_refuses_non_strict_syntax),
        T(test_json_accepts_depth_limit),
        T(test_json_refuses_depth_over_limit),
        T(test_json_null_parses_to_null),
        T(test_json_scalars_parse),
        T(test_json_str_is_type_strict),
        T(test_json_str_refuses_escaped_nul),
        T(test_json_text_is_compact_without_slash_escapes),
        T(test_json_round_trip_through_text),
        T(test_json_text_is_json_c_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
