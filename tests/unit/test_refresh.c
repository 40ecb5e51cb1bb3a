/* Unit tests: the refresh decision (SPEC §5) and the credential's API base
 * URL, decided from facts alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

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

/* SPEC §5: a token refreshed in the last 10 s goes to every caller, whatever
 * min_validity asks (a provider whose tokens live 600 s cannot satisfy 3000). */
static void test_token_refreshed_seconds_ago_serves_any_min_validity(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.expires_in = 600;
    f.min_validity = 3000;
    f.refreshed_ago = 2;
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.force = true; /* POST /refresh right after another refresh */
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.refreshed_ago = LK_REFRESH_FRESH_SECS;
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
    f.refreshed_ago = 2;
    f.expires_in = 0; /* a fresh but already dead token is no answer */
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
}

/* SPEC §5: after a failure nobody calls the provider before Retry-After. */
static void test_recent_failure_holds_callers_off(void **state)
{
    (void)state;
    lk_refresh_facts f = expired();
    f.retry_in = 30;
    assert_int_equal(lk_refresh_decide(&f), LK_HOLD_OFF);
    f.force = true;
    assert_int_equal(lk_refresh_decide(&f), LK_HOLD_OFF);
    f.expires_in = 3000; /* still valid: a forced refresh holds off too */
    assert_int_equal(lk_refresh_decide(&f), LK_HOLD_OFF);
    f.force = false; /* ... and a caller it serves needs no provider */
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f = expired();
    f.retry_in = 0;
    assert_int_equal(lk_refresh_decide(&f), LK_DO_REFRESH);
    f.retry_in = 30;
    f.generation = 8; /* someone refreshed meanwhile: theirs */
    assert_int_equal(lk_refresh_decide(&f), LK_USE_CURRENT);
    f.generation = 7;
    f.reauth_required = true;
    assert_int_equal(lk_refresh_decide(&f), LK_NEED_REAUTH);
}

static void test_retry_after_is_capped_and_defaulted(void **state)
{
    (void)state;
    time_t now = 1790000000;
    assert_int_equal(lk_retry_after_secs(NULL, now), LK_RETRY_AFTER_DEFAULT);
    assert_int_equal(lk_retry_after_secs("", now), LK_RETRY_AFTER_DEFAULT);
    assert_int_equal(lk_retry_after_secs("garbage", now), LK_RETRY_AFTER_DEFAULT);
    assert_int_equal(lk_retry_after_secs("-5", now), LK_RETRY_AFTER_DEFAULT);
    assert_int_equal(lk_retry_after_secs("0", now), 1);
    assert_int_equal(lk_retry_after_secs("42", now), 42);
    assert_int_equal(lk_retry_after_secs("301", now), LK_RETRY_AFTER_MAX);
    assert_int_equal(lk_retry_after_secs("99999999999999", now), LK_RETRY_AFTER_MAX);
    /* An HTTP-date: 2026-09-21T14:13:20Z is 1790000000. */
    assert_int_equal(lk_retry_after_secs("Mon, 21 Sep 2026 14:14:20 GMT", now), 60);
    assert_int_equal(lk_retry_after_secs("Mon, 21 Sep 2026 14:00:00 GMT", now), 1);
    assert_int_equal(lk_retry_after_secs("Tue, 22 Sep 2026 14:13:20 GMT", now), LK_RETRY_AFTER_MAX);
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
        cmocka_unit_test(test_token_refreshed_seconds_ago_serves_any_min_validity),
        cmocka_unit_test(test_recent_failure_holds_callers_off),
        cmocka_unit_test(test_retry_after_is_capped_and_defaulted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
