/* Unit tests: lk_refresh_plan on a connection row as loaded (no lock), with
 * a failure remembered (SPEC §5: after a 5xx or 429 nobody calls the
 * provider again before the hold-off has passed), and the hold-off that
 * lk_retry_after_secs derives from the provider's Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "refresh.h"

/* An active row whose access token ran out a minute ago. */
static lk_conn expired_row(void)
{
    lk_conn c;
    memset(&c, 0, sizeof(c));
    c.status = "active";
    c.generation = 3;
    c.expires_at = "2026-01-01T00:00:00Z";
    c.expires_in = -60;
    c.refresh_sealed = "sealed";
    c.refreshed_ago = 3600;
    return c;
}

/* A failure remembered for 30 more seconds, as the row stores it. */
static void remember_failure(lk_conn *c)
{
    c->retry_in = 30;
    c->retry_error = "provider_unavailable";
}

static void test_expired_row_without_failure_is_refreshed(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_DO_REFRESH);
    assert_int_equal(lk_refresh_plan(&c, true, 0), LK_DO_REFRESH);
}

static void test_remembered_failure_holds_off_the_refresh(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    remember_failure(&c);
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_HOLD_OFF);
    assert_int_equal(lk_refresh_plan(&c, true, 0), LK_HOLD_OFF); /* POST /refresh too */
}

/* The hold-off only stops provider calls: a token still good enough serves,
 * and needs no lock. */
static void test_remembered_failure_still_serves_a_valid_token(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    remember_failure(&c);
    c.expires_in = 1800;
    assert_int_equal(lk_refresh_plan(&c, false, 60), LK_USE_CURRENT);
    assert_int_equal(lk_refresh_plan(&c, false, 3000), LK_HOLD_OFF); /* not good enough */
    assert_int_equal(lk_refresh_plan(&c, true, 0), LK_HOLD_OFF);
}

static void test_hold_off_over_means_refresh_again(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    remember_failure(&c);
    c.retry_in = 0; /* the hold-off has just passed */
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_DO_REFRESH);
    c.retry_in = -5;
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_DO_REFRESH);
}

/* A grant that is gone needs the user, failure remembered or not. */
static void test_reauthorization_wins_over_hold_off(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    remember_failure(&c);
    c.status = "reauthorization_required";
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_NEED_REAUTH);
    c = expired_row();
    remember_failure(&c);
    c.refresh_sealed = NULL; /* no refresh token and expired */
    assert_int_equal(lk_refresh_plan(&c, false, 0), LK_NEED_REAUTH);
}

/* A token refreshed seconds ago serves whatever min_validity asks, even
 * with a failure remembered from before. */
static void test_just_refreshed_row_serves_despite_old_failure(void **state)
{
    (void)state;
    lk_conn c = expired_row();
    remember_failure(&c);
    c.expires_in = 600;
    c.refreshed_ago = LK_REFRESH_FRESH_SECS - 1;
    assert_int_equal(lk_refresh_plan(&c, false, 3000), LK_USE_CURRENT);
    c.refreshed_ago = LK_REFRESH_FRESH_SECS;
    assert_int_equal(lk_refresh_plan(&c, false, 3000), LK_HOLD_OFF);
}

/* How long the hold-off lasts after a 5xx or 429 (SPEC §5). */
static void test_hold_off_follows_retry_after(void **state)
{
    (void)state;
    time_t now = 1767225600; /* Thu, 01 Jan 2026 00:00:00 GMT */
    assert_int_equal(lk_retry_after_secs(NULL, now), LK_RETRY_AFTER_DEFAULT);
    assert_int_equal(lk_retry_after_secs("45", now), 45);
    assert_int_equal(lk_retry_after_secs("0", now), 1);
    assert_int_equal(lk_retry_after_secs("100000", now), LK_RETRY_AFTER_MAX);
    assert_int_equal(lk_retry_after_secs("Thu, 01 Jan 2026 00:02:00 GMT", now), 120);
    assert_int_equal(lk_retry_after_secs("Wed, 31 Dec 2025 23:00:00 GMT", now), 1); /* past */
    assert_int_equal(lk_retry_after_secs("soon", now), LK_RETRY_AFTER_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_row_without_failure_is_refreshed),
        cmocka_unit_test(test_remembered_failure_holds_off_the_refresh),
        cmocka_unit_test(test_remembered_failure_still_serves_a_valid_token),
        cmocka_unit_test(test_hold_off_over_means_refresh_again),
        cmocka_unit_test(test_reauthorization_wins_over_hold_off),
        cmocka_unit_test(test_just_refreshed_row_serves_despite_old_failure),
        cmocka_unit_test(test_hold_off_follows_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
