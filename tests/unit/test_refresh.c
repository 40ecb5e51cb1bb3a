/* Unit tests: the refresh decision (SPEC §5) and the credential's API base
 * URL, decided from facts alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cred.h"
#include "refresh.h"

static lk_refresh_facts expired(void)
{
    lk_refresh_facts f = {
        .noted_generation = 7,
        .generation = 7,
        .has_expiry = true,
        .expires_in = -5,
        .min_validity = 60,
        .has_refresh_token = true,
        .refreshed_ago = 3600,
    };
    return f;
}

static void test_fresh_enough_needs_more_than_min_validity(void **state)
{
    (void)state;
    assert_true(lk_fresh_enough(true, 61, 60));
    assert_false(lk_fresh_enough(true, 60, 60));
    assert_false(lk_fresh_enough(true, -1, 0));
    assert_true(lk_fresh_enough(true, 1, 0));
    assert_true(lk_fresh_enough(false, 0, 3000)); /* no expiry given: fresh */
}

static void test_expired_token_is_refreshed(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
}

static void test_fresh_token_is_used(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.expires_in = 3000;
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.min_validity = 3000; /* asks for more than is left */
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
}

static void test_changed_generation_uses_new_token_whatever_min_validity(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.generation = 8;
    f.expires_in = 10; /* less than min_validity: still no second call */
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.force = true;
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
}

static void test_forced_refresh_of_fresh_token_calls_provider(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.expires_in = 3000;
    f.force = true;
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
}

static void test_reauthorization_required_never_calls_provider(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.reauth_required = true;
    assert_int_equal(lk_refresh_decide(&f), LK_NEED_REAUTH);
    f.force = true;
    assert_int_equal(lk_refresh_decide(&f), LK_NEED_REAUTH);
}

static void test_without_refresh_token_expired_needs_reauth(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.has_refresh_token = false;
    assert_int_equal(lk_refresh_decide(&f), LK_NEED_REAUTH);
    f.expires_in = 30; /* still valid, just not for min_validity */
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
}

static void test_sweep_skips_rows_refreshed_meanwhile(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.force = true;
    f.idle_min = 75 * 86400;
    f.refreshed_ago = 10; /* another sweeper got here first */
    f.expires_in = 3000;
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.refreshed_ago = 76 * 86400;
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
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
        cmocka_unit_test(test_fresh_enough_needs_more_than_min_validity),
        cmocka_unit_test(test_expired_token_is_refreshed),
        cmocka_unit_test(test_fresh_token_is_used),
        cmocka_unit_test(test_changed_generation_uses_new_token_whatever_min_validity),
        cmocka_unit_test(test_forced_refresh_of_fresh_token_calls_provider),
        cmocka_unit_test(test_reauthorization_required_never_calls_provider),
        cmocka_unit_test(test_without_refresh_token_expired_needs_reauth),
        cmocka_unit_test(test_sweep_skips_rows_refreshed_meanwhile),
        cmocka_unit_test(test_api_base_url_fills_the_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
