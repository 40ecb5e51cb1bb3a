/* Unit tests: text codecs and the SPEC §2 grammar checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void test_pct_decode_plus_and_escapes(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    char *out;
    size_t n;
    assert_int_equal(lk_pct_decode(a, "a+b%20c%2F", 10, true, &out, &n), LK_OK);
    assert_string_equal(out, "a b c/");
    assert_int_equal(lk_pct_decode(a, "a+b", 3, false, &out, &n), LK_OK);
    assert_string_equal(out, "a+b");
    assert_int_equal(lk_pct_decode(a, "%4", 2, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "%zz", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "x%", 2, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "%00", 3, true, &out, &n), LK_OK);
    assert_int_equal(n, 1);
    lk_arena_free(a);
}

static void test_instance_id_grammar(void **state)
{
    (void)state;
    assert_true(lk_valid_instance_id("user_123", 8));
    assert_true(lk_valid_instance_id("\xc3\xa9t\xc3\xa9", 5));
    assert_false(lk_valid_instance_id("", 0));
    assert_false(lk_valid_instance_id("a\nb", 3));
    assert_false(lk_valid_instance_id("a\x7f", 2));
    assert_false(lk_valid_instance_id("\xc2\x85", 2));   /* C1 control */
    assert_false(lk_valid_instance_id("\xc0\xaf", 2));   /* overlong */
    assert_false(lk_valid_instance_id("\xed\xa0\x80", 3)); /* surrogate */
    char big[257];
    memset(big, 'a', sizeof(big));
    assert_true(lk_valid_instance_id(big, 255));
    assert_false(lk_valid_instance_id(big, 256));
}

static void test_profile_name_grammar(void **state)
{
    (void)state;
    assert_true(lk_valid_profile_name("confluence", 10));
    assert_true(lk_valid_profile_name("a_b-1", 5));
    assert_false(lk_valid_profile_name("-a", 2));
    assert_false(lk_valid_profile_name("Conf", 4));
    assert_false(lk_valid_profile_name("a/b", 3));
    char big[64];
    memset(big, 'a', sizeof(big));
    assert_true(lk_valid_profile_name(big, 63));
    assert_false(lk_valid_profile_name(big, 64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode_plus_and_escapes),
        cmocka_unit_test(test_instance_id_grammar),
        cmocka_unit_test(test_profile_name_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
