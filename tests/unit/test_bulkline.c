/* bulkline.c: one import line checked without the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "bulkline.h"

static void test_rfc3339_reads_offsets_and_refuses_unreal_dates(void **state)
{
    (void)state;
    long long t;
    assert_true(lk_rfc3339_parse("1970-01-01T00:00:00Z", &t));
    assert_int_equal(t, 0);
    assert_true(lk_rfc3339_parse("2099-06-01T12:00:00.5+02:00", &t));
    assert_int_equal(t, 4083991200LL);
    assert_false(lk_rfc3339_parse("2026-02-30T00:00:00Z", &t));
    assert_false(lk_rfc3339_parse("2026-01-01 00:00:00", &t));
    assert_false(lk_rfc3339_parse("2026-01-01T00:00:00+0200", &t));
}

static void test_bulk_parse_defaults_and_refusals(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    lk_bulk_line l;
    const char *why = NULL;
    const char *ok = "{\"profile\":\"p\",\"instance_id\":\"u1\",\"access_token\":\"at\",\"expires_in\":60}";
    assert_true(lk_bulk_parse(a, ok, strlen(ok), 1000, &l, &why));
    assert_string_equal(l.token_type, "Bearer");
    assert_int_equal(l.expires_at, 1060);
    assert_string_equal(l.metadata, "{}");
    const char *bad[] = {"[]", "{\"profile\":\"p\",\"instance_id\":\"u1\",\"access_token\":\"a b\"}",
                         "{\"profile\":\"p\",\"instance_id\":\"u1\",\"access_token\":\"a\",\"x\":1}",
                         "{\"profile\":\"p\",\"instance_id\":\"u1\",\"access_token_sealed\":\"lk1\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        assert_false(lk_bulk_parse(a, bad[i], strlen(bad[i]), 1000, &l, &why));
        assert_non_null(why);
    }
    lk_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_reads_offsets_and_refuses_unreal_dates),
        cmocka_unit_test(test_bulk_parse_defaults_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
