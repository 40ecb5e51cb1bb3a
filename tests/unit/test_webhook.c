/* Unit tests: Standard Webhooks signatures, secrets, the retry schedule,
 * receiver URLs and the --events / --profiles lists (webhook.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"
#include "webhook.h"

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

/* The test vector of the Standard Webhooks specification's libraries. */
static void test_sign_matches_standard_webhooks_vector(void **state)
{
    const char *body = "{\"test\": 2432232314}";
    char *sig;
    assert_int_equal(lk_webhook_sign(*state, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                     1614265330, body, strlen(body), &sig),
                     LK_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_sign_refuses_malformed_secret(void **state)
{
    char *sig;
    assert_int_equal(lk_webhook_sign(*state, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "x", 1, &sig), LK_EINVAL);
    assert_int_equal(lk_webhook_sign(*state, "whsec_", "m", 1, "x", 1, &sig), LK_EINVAL);
    assert_int_equal(lk_webhook_sign(*state, "whsec_!!!", "m", 1, "x", 1, &sig), LK_EINVAL);
}

static void test_secret_new_is_whsec_of_32_random_bytes(void **state)
{
    char *s1 = lk_webhook_secret_new(*state), *s2 = lk_webhook_secret_new(*state);
    assert_true(!strncmp(s1, "whsec_", 6));
    assert_string_not_equal(s1, s2);
    unsigned char *raw;
    size_t n;
    assert_int_equal(lk_b64_decode(*state, s1 + 6, strlen(s1 + 6), &raw, &n), LK_OK);
    assert_int_equal(n, LK_WEBHOOK_SECRET_BYTES);
}

static void test_backoff_is_full_jitter_below_a_capped_doubling(void **state)
{
    (void)state;
    assert_true(lk_webhook_backoff(1, 0.0) == 0.0);
    assert_true(lk_webhook_backoff(1, 0.5) == LK_WEBHOOK_BACKOFF_BASE_S / 2);
    assert_true(lk_webhook_backoff(3, 0.5) == LK_WEBHOOK_BACKOFF_BASE_S * 2);
    assert_true(lk_webhook_backoff(40, 0.999) < LK_WEBHOOK_BACKOFF_CAP_S);
    assert_true(lk_webhook_backoff(1000, 0.5) == LK_WEBHOOK_BACKOFF_CAP_S / 2);
}

static void test_url_rules_https_or_loopback_http(void **state)
{
    (void)state;
    assert_true(lk_webhook_url_ok("https://hooks.example.com/in"));
    assert_true(lk_webhook_url_ok("http://127.0.0.1:8080/in"));
    assert_true(lk_webhook_url_ok("http://localhost/in"));
    assert_false(lk_webhook_url_ok("http://hooks.example.com/in"));
    assert_false(lk_webhook_url_ok("http://10.0.0.1/in"));
    assert_false(lk_webhook_url_ok("ftp://hooks.example.com/in"));
    assert_int_equal(lk_webhook_reach("http://127.0.0.1:8080/in"), LK_REACH_ANY);
    assert_int_equal(lk_webhook_reach("https://hooks.example.com/in"), LK_REACH_PUBLIC);
    assert_int_equal(lk_webhook_reach("https://[::ffff:127.0.0.1]/in"), LK_REACH_PUBLIC);
}

static void test_lists_become_json_arrays(void **state)
{
    char *json;
    const char *why;
    assert_int_equal(lk_webhook_list_json(*state, "connection.*,profile.misconfigured", false, &json, &why), LK_OK);
    assert_string_equal(json, "[\"connection.*\",\"profile.misconfigured\"]");
    assert_int_equal(lk_webhook_list_json(*state, "confluence,jira", true, &json, &why), LK_OK);
    assert_string_equal(json, "[\"confluence\",\"jira\"]");
    assert_int_equal(lk_webhook_list_json(*state, "connection.*,", false, &json, &why), LK_EINVAL);
    assert_int_equal(lk_webhook_list_json(*state, "Connection%", false, &json, &why), LK_EINVAL);
    assert_int_equal(lk_webhook_list_json(*state, "a b", true, &json, &why), LK_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sign_matches_standard_webhooks_vector),  T(test_sign_refuses_malformed_secret),
        T(test_secret_new_is_whsec_of_32_random_bytes), T(test_backoff_is_full_jitter_below_a_capped_doubling),
        T(test_url_rules_https_or_loopback_http),       T(test_lists_become_json_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
