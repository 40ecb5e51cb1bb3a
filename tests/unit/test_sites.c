/* Unit tests: the site a connection answers for (SPEC §4 step 3, §5), as
 * the callback stores it (lk_sites_metadata) and /token finds it again
 * (lk_sites_from_metadata, then lk_site_pick by the stored cloud id or the
 * caller's site). Only end-to-end tests reached this round trip before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "resources.h"

static const char TWO_SITES[] = "[{\"id\":\"c-alpha\",\"url\":\"https://alpha.atlassian.net\",\"name\":\"Alpha\"},"
                                "{\"id\":\"c-beta\",\"url\":\"https://beta.atlassian.net\",\"name\":\"Beta\"}]";

static lk_sites parse(lk_arena *a, const char *body)
{
    lk_sites s = {0};
    assert_int_equal(lk_resources_parse(a, body, strlen(body), &s), LK_OK);
    return s;
}

/* The metadata stored for a connection, read back as /token reads it. */
static json_object *stored(lk_arena *a, const lk_sites *granted, const lk_site *chosen)
{
    json_object *meta = lk_sites_metadata(a, granted, chosen);
    const char *text = lk_json_text(a, meta);
    json_object *back = NULL;
    assert_int_equal(lk_json_parse(a, text, strlen(text), &back), LK_OK);
    return back;
}

/* The link named a host: the callback chooses it, and /token without a
 * site answers for it, among all the granted sites it keeps. */
static void test_site_named_by_link_is_the_one_token_answers_for(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_sites granted = parse(a, TWO_SITES);
    const lk_site *chosen = lk_site_pick(&granted, "Beta.Atlassian.net/");
    assert_non_null(chosen);
    json_object *meta = stored(a, &granted, chosen);
    assert_string_equal(lk_json_str(meta, "cloud_id"), "c-beta");
    lk_sites later = lk_sites_from_metadata(a, meta);
    assert_int_equal(later.n, 2);
    const lk_site *site = lk_site_pick(&later, lk_json_str(meta, "cloud_id"));
    assert_non_null(site);
    assert_string_equal(site->url, "https://beta.atlassian.net");
    assert_string_equal(site->name, "Beta");
    lk_arena_free(a);
}

/* Several sites and none chosen: nothing is stored as the site, so /token
 * must be told one (site_required); a caller's site picks it. */
static void test_several_sites_without_choice_leave_the_caller_to_name_one(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_sites granted = parse(a, TWO_SITES);
    json_object *meta = stored(a, &granted, NULL);
    assert_null(lk_json_str(meta, "cloud_id"));
    assert_null(lk_json_str(meta, "site_url"));
    lk_sites later = lk_sites_from_metadata(a, meta);
    assert_int_equal(later.n, 2);
    const lk_site *site = lk_site_pick(&later, "c-alpha");
    assert_non_null(site);
    assert_string_equal(site->url, "https://alpha.atlassian.net");
    site = lk_site_pick(&later, "https://beta.atlassian.net");
    assert_non_null(site);
    assert_string_equal(site->cloud_id, "c-beta");
    assert_null(lk_site_pick(&later, "gamma.atlassian.net"));
    lk_arena_free(a);
}

/* One site granted: it is the connection's, whether chosen or not. */
static void test_one_granted_site_is_kept(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_sites granted = parse(a, "[{\"id\":\"c-only\",\"url\":\"https://only.atlassian.net\",\"name\":\"Only\"}]");
    assert_int_equal(granted.n, 1);
    lk_sites later = lk_sites_from_metadata(a, stored(a, &granted, &granted.v[0]));
    assert_int_equal(later.n, 1);
    assert_string_equal(later.v[0].cloud_id, "c-only");
    assert_string_equal(later.v[0].url, "https://only.atlassian.net");
    lk_arena_free(a);
}

/* A site the link names but the user did not grant is no site at all. */
static void test_site_not_granted_is_not_chosen(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_sites granted = parse(a, TWO_SITES);
    assert_null(lk_site_pick(&granted, "gamma.atlassian.net"));
    assert_null(lk_site_pick(&granted, "c-gamma"));
    assert_null(lk_site_pick(&granted, ""));
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_site_named_by_link_is_the_one_token_answers_for),
        cmocka_unit_test(test_several_sites_without_choice_leave_the_caller_to_name_one),
        cmocka_unit_test(test_one_granted_site_is_kept),
        cmocka_unit_test(test_site_not_granted_is_not_chosen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
