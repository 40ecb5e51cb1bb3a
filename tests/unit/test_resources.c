/* Unit tests: Atlassian accessible-resources, site picking and the
 * connection metadata (SPEC §4 step 3, §5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "json.h"
#include "resources.h"

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

static lk_err parse(lk_arena *a, const char *s, lk_sites *out)
{
    return lk_resources_parse(a, s, strlen(s), out);
}

#define ACME                                                                                                           \
    "{\"id\":\"11111111-aaaa\",\"url\":\"https://acme.atlassian.net\",\"name\":\"Acme\","                              \
    "\"scopes\":[\"read:confluence-content.all\"],\"avatarUrl\":\"https://x/a.png\"}"
#define BETA "{\"id\":\"22222222-bbbb\",\"url\":\"https://Beta.atlassian.net/\",\"name\":\"Beta\"}"
#define GAMMA "{\"id\":\"33333333-cccc\",\"url\":\"https://gamma.example.com\"}"

static void test_resources_parse_one_site(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, "[" ACME "]", &s), LK_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0].cloud_id, "11111111-aaaa");
    assert_string_equal(s.v[0].url, "https://acme.atlassian.net");
    assert_string_equal(s.v[0].name, "Acme");
}

static void test_resources_parse_several_in_order(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, " [" ACME ", " BETA "," GAMMA "]\n", &s), LK_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.v[0].cloud_id, "11111111-aaaa");
    assert_string_equal(s.v[1].cloud_id, "22222222-bbbb");
    assert_string_equal(s.v[1].url, "https://Beta.atlassian.net/");
    assert_string_equal(s.v[2].cloud_id, "33333333-cccc");
    assert_string_equal(s.v[2].name, ""); /* no name: empty, not NULL */
}

static void test_resources_parse_empty_list(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, "[]", &s), LK_OK);
    assert_int_equal(s.n, 0);
}

static void test_resources_parse_refuses_non_array(void **state)
{
    static const char *const bodies[] = {"{}", ACME, "null", "\"x\"", "<html>", "", "[" ACME "] x", "[" ACME};
    for (size_t i = 0; i < LK_ARRAY_LEN(bodies); i++) {
        lk_sites s;
        if (parse(*state, bodies[i], &s) != LK_EPROVIDER)
            fail_msg("accepted %s", bodies[i]);
    }
}

static void test_resources_parse_refuses_missing_or_bad_fields(void **state)
{
    static const char *const bodies[] = {
        "[{\"url\":\"https://a.atlassian.net\",\"name\":\"A\"}]",
        "[{\"id\":\"\",\"url\":\"https://a.atlassian.net\"}]",
        "[{\"id\":5,\"url\":\"https://a.atlassian.net\"}]",
        "[{\"id\":\"c1\"}]",
        "[{\"id\":\"c1\",\"url\":null}]",
        "[{\"id\":\"c1\\n\",\"url\":\"https://a.atlassian.net\"}]",
        "[" ACME ",\"just a string\"]",
        "[" ACME ",[]]",
        "[" ACME ",null]",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bodies); i++) {
        lk_sites s;
        if (parse(*state, bodies[i], &s) != LK_EPROVIDER)
            fail_msg("accepted %s", bodies[i]);
    }
}

static void test_resources_parse_drops_bad_name(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, "[{\"id\":\"c1\",\"url\":\"https://a.x\",\"name\":\"a\\u0007b\"}]", &s), LK_OK);
    assert_string_equal(s.v[0].name, "");
}

static char *site_list(lk_arena *a, size_t n)
{
    lk_buf b;
    lk_buf_init(&b, a, 1 << 20);
    assert_int_equal(lk_buf_addc(&b, '['), LK_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lk_buf_printf(&b, "%s{\"id\":\"c%zu\",\"url\":\"https://s%zu.atlassian.net\",\"name\":\"S\"}",
                                       i ? "," : "", i, i),
                         LK_OK);
    assert_int_equal(lk_buf_addc(&b, ']'), LK_OK);
    return (char *)lk_buf_str(&b);
}

static void test_resources_parse_caps_site_count(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, site_list(*state, LK_SITES_MAX), &s), LK_OK);
    assert_int_equal(s.n, LK_SITES_MAX);
    assert_int_equal(parse(*state, site_list(*state, LK_SITES_MAX + 1), &s), LK_EPROVIDER);
}

/* ---- lk_site_pick ---- */

static lk_sites three(lk_arena *a)
{
    lk_sites s;
    assert_int_equal(parse(a, "[" ACME "," BETA "," GAMMA "]", &s), LK_OK);
    return s;
}

static void test_site_pick_by_cloud_id(void **state)
{
    lk_sites s = three(*state);
    assert_ptr_equal(lk_site_pick(&s, "22222222-bbbb"), &s.v[1]);
    assert_ptr_equal(lk_site_pick(&s, "11111111-aaaa"), &s.v[0]);
    assert_null(lk_site_pick(&s, "22222222-BBBB")); /* ids are exact */
    assert_null(lk_site_pick(&s, "22222222"));
}

static void test_site_pick_by_host_ignores_case_scheme_and_slash(void **state)
{
    lk_sites s = three(*state);
    assert_ptr_equal(lk_site_pick(&s, "acme.atlassian.net"), &s.v[0]);
    assert_ptr_equal(lk_site_pick(&s, "ACME.Atlassian.NET"), &s.v[0]);
    assert_ptr_equal(lk_site_pick(&s, "https://acme.atlassian.net"), &s.v[0]);
    assert_ptr_equal(lk_site_pick(&s, "https://acme.atlassian.net/"), &s.v[0]);
    assert_ptr_equal(lk_site_pick(&s, "acme.atlassian.net/"), &s.v[0]);
    assert_ptr_equal(lk_site_pick(&s, "beta.atlassian.net"), &s.v[1]);
    assert_ptr_equal(lk_site_pick(&s, "https://BETA.atlassian.net/"), &s.v[1]);
    assert_ptr_equal(lk_site_pick(&s, "gamma.example.com"), &s.v[2]);
}

static void test_site_pick_refuses_path_after_host(void **state)
{
    lk_sites s = three(*state);
    assert_null(lk_site_pick(&s, "acme.atlassian.net/wiki"));
    assert_null(lk_site_pick(&s, "https://acme.atlassian.net/wiki/spaces"));
    assert_null(lk_site_pick(&s, "acme.atlassian.net//"));
}

static void test_site_pick_no_match_is_null(void **state)
{
    lk_sites s = three(*state);
    assert_null(lk_site_pick(&s, "other.atlassian.net"));
    assert_null(lk_site_pick(&s, "acme.atlassian.net.evil.com"));
    assert_null(lk_site_pick(&s, "acme"));
    assert_null(lk_site_pick(&s, "atlassian.net"));
    assert_null(lk_site_pick(&s, "https://"));
    assert_null(lk_site_pick(&s, ""));
    assert_null(lk_site_pick(&s, NULL));
    lk_sites none = {NULL, 0};
    assert_null(lk_site_pick(&none, "acme.atlassian.net"));
}

/* ---- metadata ---- */

static void test_sites_metadata_shape_with_chosen(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, "[" ACME "," BETA "]", &s), LK_OK);
    json_object *m = lk_sites_metadata(*state, &s, &s.v[1]);
    assert_string_equal(lk_json_text(*state, m),
                        "{\"cloud_id\":\"22222222-bbbb\",\"site_url\":\"https://Beta.atlassian.net/\","
                        "\"site_name\":\"Beta\",\"sites\":["
                        "{\"cloud_id\":\"11111111-aaaa\",\"url\":\"https://acme.atlassian.net\",\"name\":\"Acme\"},"
                        "{\"cloud_id\":\"22222222-bbbb\",\"url\":\"https://Beta.atlassian.net/\",\"name\":\"Beta\"}]}");
}

static void test_sites_metadata_shape_without_chosen(void **state)
{
    lk_sites s;
    assert_int_equal(parse(*state, "[" GAMMA "]", &s), LK_OK);
    assert_string_equal(lk_json_text(*state, lk_sites_metadata(*state, &s, NULL)),
                        "{\"sites\":[{\"cloud_id\":\"33333333-cccc\",\"url\":\"https://gamma.example.com\","
                        "\"name\":\"\"}]}");
    lk_sites none = {NULL, 0};
    assert_string_equal(lk_json_text(*state, lk_sites_metadata(*state, &none, NULL)), "{\"sites\":[]}");
}

static void test_sites_metadata_round_trip(void **state)
{
    lk_sites s = three(*state);
    const char *text = lk_json_text(*state, lk_sites_metadata(*state, &s, &s.v[0]));
    json_object *m = NULL;
    assert_int_equal(lk_json_parse(*state, text, strlen(text), &m), LK_OK);
    lk_sites back = lk_sites_from_metadata(*state, m);
    assert_int_equal(back.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.v[i].cloud_id, s.v[i].cloud_id);
        assert_string_equal(back.v[i].url, s.v[i].url);
        assert_string_equal(back.v[i].name, s.v[i].name);
    }
    assert_ptr_equal(lk_site_pick(&back, "beta.atlassian.net"), &back.v[1]);
}

static void test_sites_from_metadata_tolerates_missing_parts(void **state)
{
    json_object *m = NULL;
    const char *t = "{\"cloud_id\":\"x\"}";
    assert_int_equal(lk_json_parse(*state, t, strlen(t), &m), LK_OK);
    assert_int_equal(lk_sites_from_metadata(*state, m).n, 0);
    assert_int_equal(lk_sites_from_metadata(*state, NULL).n, 0);
    t = "{\"sites\":{}}";
    assert_int_equal(lk_json_parse(*state, t, strlen(t), &m), LK_OK);
    assert_int_equal(lk_sites_from_metadata(*state, m).n, 0);
    t = "{\"sites\":[{\"url\":\"https://no-id\"},{\"cloud_id\":\"c2\"},5]}";
    assert_int_equal(lk_json_parse(*state, t, strlen(t), &m), LK_OK);
    lk_sites s = lk_sites_from_metadata(*state, m);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0].cloud_id, "c2");
    assert_string_equal(s.v[0].url, "");
    assert_string_equal(s.v[0].name, "");
}

static void test_site_valid_grammar(void **state)
{
    (void)state;
    assert_true(lk_site_valid("acme.atlassian.net"));
    assert_true(lk_site_valid("11111111-aaaa-bbbb-cccc-000000000000"));
    assert_true(lk_site_valid("https://acme.atlassian.net/"));
    assert_true(lk_site_valid("Acme_1.atlassian.net"));
    assert_false(lk_site_valid(""));
    assert_false(lk_site_valid("a b"));
    assert_false(lk_site_valid("a<b"));
    assert_false(lk_site_valid("a\nb"));
    assert_false(lk_site_valid("a?b"));
    assert_false(lk_site_valid("a@b"));
    assert_false(lk_site_valid("a%2eb"));
    assert_false(lk_site_valid("caf\xc3\xa9"));
    char big[257];
    memset(big, 'a', sizeof(big));
    big[255] = '\0';
    assert_true(lk_site_valid(big));
    big[255] = 'a';
    big[256] = '\0';
    assert_false(lk_site_valid(big));
}

static void test_api_base_url_fills_the_site(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_site s = {"1111-22", "https://Acme.atlassian.net", "acme"};
    assert_string_equal(lk_api_base_url(a, "https://api.atlassian.com/ex/confluence/{cloud_id}", &s),
                        "https://api.atlassian.com/ex/confluence/1111-22");
    assert_string_equal(lk_api_base_url(a, "https://{site_host}/wiki", &s), "https://Acme.atlassian.net/wiki");
    assert_string_equal(lk_api_base_url(a, "https://dc.example.com", NULL), "https://dc.example.com");
    assert_null(lk_api_base_url(a, "https://api.atlassian.com/ex/confluence/{cloud_id}", NULL));
    assert_null(lk_api_base_url(a, "https://x/{unknown}", &s));
    assert_null(lk_api_base_url(a, NULL, &s));
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_resources_parse_one_site),
        T(test_resources_parse_several_in_order),
        T(test_resources_parse_empty_list),
        T(test_resources_parse_refuses_non_array),
        T(test_resources_parse_refuses_missing_or_bad_fields),
        T(test_resources_parse_drops_bad_name),
        T(test_resources_parse_caps_site_count),
        T(test_site_pick_by_cloud_id),
        T(test_site_pick_by_host_ignores_case_scheme_and_slash),
        T(test_site_pick_refuses_path_after_host),
        T(test_site_pick_no_match_is_null),
        T(test_sites_metadata_shape_with_chosen),
        T(test_sites_metadata_shape_without_chosen),
        T(test_sites_metadata_round_trip),
        T(test_sites_from_metadata_tolerates_missing_parts),
        T(test_site_valid_grammar),
        cmocka_unit_test(test_api_base_url_fills_the_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
