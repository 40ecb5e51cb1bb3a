/* Unit tests: the browser flow's pure parts (the result URL of SPEC §4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_int.h"

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

/* The result URL for profile "conf" and instance "u1" (error NULL: success). */
static const char *result(lk_arena *a, const char *redirect_url, const char *error)
{
    char *out = NULL;
    assert_int_equal(lk_flow_result_url(a, redirect_url, error, "conf", "u1", &out), LK_OK);
    assert_non_null(out);
    return out;
}

static void test_result_url_without_query(void **state)
{
    assert_string_equal(result(*state, "https://app.example.com/done", NULL),
                        "https://app.example.com/done?status=success&profile=conf&instance_id=u1");
    assert_string_equal(result(*state, "https://app.example.com/done", "access_denied"),
                        "https://app.example.com/done?status=error&error=access_denied&profile=conf&instance_id=u1");
}

static void test_result_url_keeps_other_parameters_in_order(void **state)
{
    assert_string_equal(result(*state, "https://app.example.com/done?from=app&x=%20y+z&flag", NULL),
                        "https://app.example.com/done?from=app&x=%20y+z&flag&status=success&profile=conf&"
                        "instance_id=u1");
}

/* SPEC §4: the application's own status, error, profile or instance_id
 * never stand next to Latchkey's. */
static void test_result_url_replaces_ours(void **state)
{
    assert_string_equal(result(*state,
                               "https://app.example.com/done?a=1&status=success&b=2&error=none&profile=evil&"
                               "instance_id=admin&c=3",
                               "access_denied"),
                        "https://app.example.com/done?a=1&b=2&c=3&status=error&error=access_denied&profile=conf&"
                        "instance_id=u1");
    /* repeated, without a value, or with an empty one */
    assert_string_equal(result(*state, "https://app.example.com/done?status=a&status=b&error&profile=&k=v", NULL),
                        "https://app.example.com/done?k=v&status=success&profile=conf&instance_id=u1");
}

/* Names are compared as the application decodes them. */
static void test_result_url_replaces_encoded_names(void **state)
{
    assert_string_equal(result(*state, "https://app.example.com/done?st%61tus=x&instance%5Fid=w&%65rror=e&k=1", NULL),
                        "https://app.example.com/done?k=1&status=success&profile=conf&instance_id=u1");
}

static void test_result_url_keeps_look_alikes(void **state)
{
    assert_string_equal(result(*state,
                               "https://app.example.com/done?Status=1&statusx=2&status+=3&xstatus=4&%zz=5&"
                               "profile%00=6&v=status",
                               NULL),
                        "https://app.example.com/done?Status=1&statusx=2&status+=3&xstatus=4&%zz=5&profile%00=6&"
                        "v=status&status=success&profile=conf&instance_id=u1");
}

static void test_result_url_drops_empty_parts_and_fragment(void **state)
{
    assert_string_equal(result(*state, "https://app.example.com/done?", NULL),
                        "https://app.example.com/done?status=success&profile=conf&instance_id=u1");
    assert_string_equal(result(*state, "https://app.example.com/done?&a=1&&b=2&", NULL),
                        "https://app.example.com/done?a=1&b=2&status=success&profile=conf&instance_id=u1");
    assert_string_equal(result(*state, "https://app.example.com/done?status=1&a=1#top", NULL),
                        "https://app.example.com/done?a=1&status=success&profile=conf&instance_id=u1");
    assert_string_equal(result(*state, "https://app.example.com/done#x?status=1", NULL),
                        "https://app.example.com/done?status=success&profile=conf&instance_id=u1");
}

static void test_result_url_encodes_values(void **state)
{
    char *out = NULL;
    assert_int_equal(lk_flow_result_url(*state, "https://app.example.com/done", NULL, "conf", "a b&status=x#é", &out),
                     LK_OK);
    assert_string_equal(out, "https://app.example.com/done?status=success&profile=conf&"
                             "instance_id=a%20b%26status%3Dx%23%C3%A9");
}

static void test_result_url_too_long_fails_closed(void **state)
{
    size_t n = LK_FLOW_RESULT_URL_MAX;
    char *url = malloc(n + 64);
    assert_non_null(url);
    strcpy(url, "https://app.example.com/done?k=");
    size_t at = strlen(url);
    memset(url + at, 'x', n - at - 20);
    url[n - 20] = '\0';
    char *out = NULL;
    assert_int_equal(lk_flow_result_url(*state, url, NULL, "conf", "u1", &out), LK_ETOOBIG);
    assert_null(out);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_result_url_without_query),     T(test_result_url_keeps_other_parameters_in_order),
        T(test_result_url_replaces_ours),     T(test_result_url_replaces_encoded_names),
        T(test_result_url_keeps_look_alikes), T(test_result_url_drops_empty_parts_and_fragment),
        T(test_result_url_encodes_values),    T(test_result_url_too_long_fails_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
