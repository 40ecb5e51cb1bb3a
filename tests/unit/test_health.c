/* Unit tests: the health fields of SPEC §11 (lk_health_forecast,
 * lk_health_json): refresh_token_lapses_at = the later of the last refresh
 * and the grant + the profile's idle days; grant_expires_at = consent +
 * the grant's lifetime; neither when the profile declares nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "json.h"
#include "template.h"

/* 2026-01-01T00:00:00Z and 2026-03-01T12:00:00.750Z in ms. */
#define JAN1 1767225600000LL
#define MAR1 1772366400750LL
#define DAY (86400LL * 1000)

static void test_forecast_adds_the_declared_days(void **state)
{
    (void)state;
    lk_health_facts f = {MAR1, JAN1, true, 90, 365};
    lk_health h = lk_health_forecast(&f);
    assert_true(h.lapses_at_ms == MAR1 + 90 * DAY);
    assert_true(h.grant_expires_at_ms == JAN1 + 365 * DAY);
}

static void test_no_refresh_token_means_no_lapse(void **state)
{
    (void)state;
    lk_health_facts f = {MAR1, JAN1, false, 90, 365};
    lk_health h = lk_health_forecast(&f);
    assert_true(h.lapses_at_ms == 0);
    assert_true(h.grant_expires_at_ms == JAN1 + 365 * DAY);
}

static void test_nothing_declared_nothing_forecast(void **state)
{
    (void)state;
    lk_health_facts f = {MAR1, JAN1, true, 0, 0};
    lk_health h = lk_health_forecast(&f);
    assert_true(h.lapses_at_ms == 0);
    assert_true(h.grant_expires_at_ms == 0);
}

static void test_unknown_times_are_not_forecast(void **state)
{
    (void)state;
    lk_health_facts f = {0, 0, true, 90, 365};
    lk_health h = lk_health_forecast(&f);
    assert_true(h.lapses_at_ms == 0);
    assert_true(h.grant_expires_at_ms == 0);
}

/* A connection refreshed on 1 March (12:00:00.750) of a grant of 1 January. */
static lk_conn refreshed_row(void)
{
    lk_conn c;
    memset(&c, 0, sizeof(c));
    c.status = "refresh_failing";
    c.refresh_sealed = "sealed";
    c.last_refreshed_at = "2026-03-01T12:00:00Z";
    c.refreshed_at_ms = MAR1;
    c.grant_issued_at_ms = JAN1;
    return c;
}

static void test_json_of_an_atlassian_connection(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, "atlassian-confluence", &p), LK_OK);
    lk_conn c = refreshed_row();
    json_object *o = lk_json_object(a);
    lk_health_json(a, o, &c, &p);
    assert_string_equal(lk_json_str(o, "status"), "refresh_failing");
    assert_string_equal(lk_json_str(o, "last_refreshed_at"), "2026-03-01T12:00:00Z");
    /* whole seconds, cut as PostgreSQL's to_char cuts them */
    assert_string_equal(lk_json_str(o, "refresh_token_lapses_at"), "2026-05-30T12:00:00Z");
    assert_string_equal(lk_json_str(o, "grant_expires_at"), "2027-01-01T00:00:00Z");
    lk_arena_free(a);
}

static void test_json_of_a_generic_connection_never_refreshed(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, "generic", &p), LK_OK);
    lk_conn c = refreshed_row();
    c.status = "active";
    c.last_refreshed_at = NULL;
    json_object *o = lk_json_object(a);
    lk_health_json(a, o, &c, &p);
    assert_string_equal(lk_json_str(o, "status"), "active");
    json_object *v = (json_object *)1;
    assert_true(json_object_object_get_ex(o, "last_refreshed_at", &v));
    assert_null(v);
    assert_false(json_object_object_get_ex(o, "refresh_token_lapses_at", NULL));
    assert_false(json_object_object_get_ex(o, "grant_expires_at", NULL));
    lk_arena_free(a);
}

static void test_credential_profiles_declare_nothing(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, "atlassian-jira", &p), LK_OK);
    assert_int_equal(p.refresh_token_idle_days, LK_ATLASSIAN_IDLE_DAYS);
    assert_int_equal(p.grant_lifetime_days, LK_ATLASSIAN_GRANT_DAYS);
    assert_int_equal(lk_profile_set_auth_type(a, &p, "api_key_per_user"), LK_OK);
    assert_int_equal(p.refresh_token_idle_days, 0);
    assert_int_equal(p.grant_lifetime_days, 0);
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_adds_the_declared_days),
        cmocka_unit_test(test_no_refresh_token_means_no_lapse),
        cmocka_unit_test(test_nothing_declared_nothing_forecast),
        cmocka_unit_test(test_unknown_times_are_not_forecast),
        cmocka_unit_test(test_json_of_an_atlassian_connection),
        cmocka_unit_test(test_json_of_a_generic_connection_never_refreshed),
        cmocka_unit_test(test_credential_profiles_declare_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
