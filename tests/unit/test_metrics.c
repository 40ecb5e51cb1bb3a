/* Unit tests: the pure parts of metrics.c (SPEC §11): which histogram
 * bucket a provider request falls in (Prometheus "le": upper bounds are
 * inclusive), how each bound is written, and which refresh outcome each
 * answer of the provider counts as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_bucket_bounds_are_inclusive(void **state)
{
    (void)state;
    assert_int_equal(lk_metrics_bucket(0), 1);
    assert_int_equal(lk_metrics_bucket(0.005), 1);
    assert_int_equal(lk_metrics_bucket(0.0051), 2);
    assert_int_equal(lk_metrics_bucket(1), 8);
    assert_int_equal(lk_metrics_bucket(10), LK_METRICS_BUCKETS - 1);
}

static void test_past_the_last_bound_is_inf(void **state)
{
    (void)state;
    assert_int_equal(lk_metrics_bucket(10.001), LK_METRICS_BUCKETS);
    assert_int_equal(lk_metrics_bucket(1e9), LK_METRICS_BUCKETS);
    assert_string_equal(lk_metrics_bound(LK_METRICS_BUCKETS), "+Inf");
}

static void test_bounds_are_written_as_declared_and_increase(void **state)
{
    (void)state;
    assert_string_equal(lk_metrics_bound(1), "0.005");
    assert_string_equal(lk_metrics_bound(LK_METRICS_BUCKETS - 1), "10");
    for (int i = 1; i < LK_METRICS_BUCKETS - 1; i++) {
        double lo = strtod(lk_metrics_bound(i), NULL), hi = strtod(lk_metrics_bound(i + 1), NULL);
        assert_true(lo < hi);
        assert_int_equal(lk_metrics_bucket(lo), i); /* each bound falls in its own bucket */
    }
}

static void test_outcomes_follow_the_failure_classes(void **state)
{
    (void)state;
    assert_string_equal(lk_metrics_outcome(LK_OAUTH_OK), "success");
    assert_string_equal(lk_metrics_outcome(LK_OAUTH_GRANT), "invalid_grant");
    assert_string_equal(lk_metrics_outcome(LK_OAUTH_TRANSIENT), "transient_failure");
    assert_string_equal(lk_metrics_outcome(LK_OAUTH_CONFIG), "misconfigured");
    assert_string_equal(lk_metrics_outcome(LK_OAUTH_NONSENSE), "misconfigured");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_bounds_are_inclusive),
        cmocka_unit_test(test_past_the_last_bound_is_inf),
        cmocka_unit_test(test_bounds_are_written_as_declared_and_increase),
        cmocka_unit_test(test_outcomes_follow_the_failure_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
