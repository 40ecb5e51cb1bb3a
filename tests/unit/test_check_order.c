/* Unit tests: SPEC §2's check order for bot routes, where it is pure. The
 * key comes first (401 before anything about the profile is looked at),
 * then the key's profiles and instance prefix (403, for a profile that
 * does not exist too, so that keys cannot probe names); the profile itself
 * (404) needs the database and is left to the end-to-end tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "botkey.h"
#include "gate.h"
#include "http.h"

typedef struct gate_case {
    lk_arena *a;
    lk_config cfg;
    lk_req r;
} gate_case;

/* A GET /token/<profile> request with this Authorization header (NULL:
 * none); no database: the gate must answer before it needs one. */
static void init_request(gate_case *c, const char *profile, const char *authorization)
{
    memset(c, 0, sizeof(*c));
    c->a = lk_arena_new();
    c->cfg.mount_path = "/latchkey";
    c->cfg.public_base_url = "https://broker.example.com/latchkey";
    /* The request keeps env: it lives in the arena, as long as the request. */
    char **env = lk_alloc(c->a, 5 * sizeof(char *));
    env[0] = "GATEWAY_INTERFACE=CGI/1.1";
    env[1] = "REQUEST_METHOD=GET";
    env[2] = lk_printf(c->a, "REQUEST_URI=/latchkey/token/%s?instance_id=u1", profile);
    env[3] = authorization ? lk_printf(c->a, "HTTP_AUTHORIZATION=%s", authorization) : NULL;
    env[4] = NULL;
    lk_io io;
    memset(&io, 0, sizeof(io));
    assert_int_equal(lk_req_init(&c->r, c->a, &c->cfg, env, io), LK_OK);
}

static void assert_gate_unauthorized(const char *profile, const char *authorization)
{
    gate_case c;
    init_request(&c, profile, authorization);
    lk_botkey key;
    const lk_profile *p = NULL;
    assert_int_equal(lk_bot_gate(&c.r, profile, "u1", &key, &p), LK_EUNAUTHORIZED);
    assert_int_equal(c.r.err, LK_EUNAUTHORIZED);
    assert_null(p);
    lk_arena_free(c.a);
}

/* 401 comes before 404: a missing or malformed key is answered first,
 * whether the profile exists, is not a valid name, or is fine. */
static void test_key_is_checked_before_the_profile(void **state)
{
    (void)state;
    static const char *const profiles[] = {"confluence", "no-such-profile", "Not A Name"};
    static const char *const keys[] = {
        NULL, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer lk_", "Bearer not-a-key", "lk_abc",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(profiles); i++)
        for (size_t k = 0; k < LK_ARRAY_LEN(keys); k++)
            assert_gate_unauthorized(profiles[i], keys[k]);
}

static lk_botkey key_for(char **profiles, size_t n, char *prefix)
{
    lk_botkey k = {.id = 1, .name = "bot", .profiles = {profiles, n}, .instance_prefix = prefix};
    return k;
}

/* 403 for any profile the key does not list, existing or not: the answer
 * is the same, so a key learns nothing about other names. */
static void test_key_profiles_are_checked_without_the_profile(void **state)
{
    (void)state;
    char *listed[] = {"confluence", "jira"};
    lk_botkey k = key_for(listed, 2, NULL);
    assert_true(lk_botkey_allows_profile(&k, "confluence"));
    assert_true(lk_botkey_allows_profile(&k, "jira"));
    assert_false(lk_botkey_allows_profile(&k, "github"));
    assert_false(lk_botkey_allows_profile(&k, "no-such-profile"));
    assert_false(lk_botkey_allows_profile(&k, "Not A Name"));
    assert_false(lk_botkey_allows_profile(&k, "conf")); /* no prefix match */
    char *all[] = {"*"};
    lk_botkey any = key_for(all, 1, NULL);
    assert_true(lk_botkey_allows_profile(&any, "no-such-profile"));
    lk_botkey none = key_for(NULL, 0, NULL);
    assert_false(lk_botkey_allows_profile(&none, "confluence"));
}

/* 403 for an instance id outside the key's prefix. */
static void test_key_instance_prefix(void **state)
{
    (void)state;
    char *all[] = {"*"};
    lk_botkey team = key_for(all, 1, "team_a_");
    assert_true(lk_botkey_allows_instance(&team, "team_a_alice"));
    assert_true(lk_botkey_allows_instance(&team, "team_a_"));
    assert_false(lk_botkey_allows_instance(&team, "team_b_bob"));
    assert_false(lk_botkey_allows_instance(&team, "team_a"));
    assert_false(lk_botkey_allows_instance(&team, "TEAM_A_alice"));
    lk_botkey any = key_for(all, 1, NULL);
    assert_true(lk_botkey_allows_instance(&any, "team_b_bob"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_is_checked_before_the_profile),
        cmocka_unit_test(test_key_profiles_are_checked_without_the_profile),
        cmocka_unit_test(test_key_instance_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
