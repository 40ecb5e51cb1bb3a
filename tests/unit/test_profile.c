/* Unit tests: profile templates, scopes and the checks a profile must
 * pass before it is stored (SPEC §3). No database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "profile.h"
#include "template.h"

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

static lk_profile tmpl(lk_arena *a, const char *name)
{
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(a, name, &p), LK_OK);
    return p;
}

static bool has(const lk_strv *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v))
            return true;
    return false;
}

/* ---- templates ---- */

static void check_atlassian_common(lk_arena *a, const lk_profile *p)
{
    assert_string_equal(p->auth_type, "oauth2");
    assert_string_equal(p->token_style, "json");
    assert_string_equal(p->scope_separator, " ");
    assert_true(p->pkce);
    assert_null(p->issuer);
    assert_string_equal(p->authorization_url, "https://auth.atlassian.com/authorize");
    assert_string_equal(p->token_url, "https://auth.atlassian.com/oauth/token");
    assert_string_equal(p->resource_discovery, "atlassian");
    assert_string_equal(p->resources_url, "https://api.atlassian.com/oauth/token/accessible-resources");
    assert_int_equal(p->always_scopes.n, 1);
    assert_string_equal(p->always_scopes.v[0], "offline_access");
    assert_true(has(&p->scopes, "offline_access"));
    assert_string_equal(lk_json_text(a, p->extra_params),
                        "{\"audience\":\"api.atlassian.com\",\"prompt\":\"consent\"}");
    assert_false(p->proxy_only);
    assert_false(p->allow_direct_authorize);
}

static void test_template_atlassian_confluence(void **state)
{
    lk_profile p = tmpl(*state, "atlassian-confluence");
    check_atlassian_common(*state, &p);
    assert_string_equal(p.template_name, "atlassian-confluence");
    assert_string_equal(p.display_name, "Atlassian Confluence");
    assert_string_equal(p.api_base_url, "https://api.atlassian.com/ex/confluence/{cloud_id}");
    assert_false(has(&p.scopes, "read:jira-work"));
}

/* SPEC §10: the default is a granular read/write set plus offline_access,
 * exactly what the Confluence tools use; deleting is asked for on demand. */
static void test_template_confluence_default_scopes_are_granular(void **state)
{
    lk_profile p = tmpl(*state, "atlassian-confluence");
    static const char *const want[] = {"read:space:confluence",
                                       "read:page:confluence",
                                       "write:page:confluence",
                                       "read:comment:confluence",
                                       "write:comment:confluence",
                                       "read:label:confluence",
                                       "write:label:confluence",
                                       "read:content-details:confluence",
                                       "offline_access"};
    assert_int_equal(p.scopes.n, LK_ARRAY_LEN(want));
    for (size_t i = 0; i < LK_ARRAY_LEN(want); i++)
        assert_string_equal(p.scopes.v[i], want[i]);
    assert_false(has(&p.scopes, "delete:page:confluence"));
    assert_false(has(&p.scopes, "read:confluence-content.all"));
    lk_strv asked;
    assert_int_equal(lk_profile_scopes(*state, &p, NULL, &asked), LK_OK);
    assert_int_equal(asked.n, LK_ARRAY_LEN(want));
}

static void test_template_atlassian_jira(void **state)
{
    lk_profile p = tmpl(*state, "atlassian-jira");
    check_atlassian_common(*state, &p);
    assert_string_equal(p.display_name, "Atlassian Jira");
    assert_string_equal(p.api_base_url, "https://api.atlassian.com/ex/jira/{cloud_id}");
    assert_true(has(&p.scopes, "read:jira-work"));
    assert_false(has(&p.scopes, "read:confluence-content.all"));
}

static void test_template_generic(void **state)
{
    lk_profile p = tmpl(*state, "generic");
    assert_string_equal(p.auth_type, "oauth2");
    assert_string_equal(p.token_style, "form");
    assert_string_equal(p.scope_separator, " ");
    assert_string_equal(p.resource_discovery, "none");
    assert_true(p.pkce);
    assert_null(p.issuer);
    assert_null(p.authorization_url);
    assert_int_equal(p.scopes.n, 0);
    assert_int_equal(p.always_scopes.n, 0);
    assert_string_equal(lk_json_text(*state, p.extra_params), "{}");
}

static void test_template_unknown_is_not_found(void **state)
{
    lk_profile p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(lk_profile_template(*state, "atlassian", &p), LK_ENOTFOUND);
    assert_int_equal(lk_profile_template(*state, "", &p), LK_ENOTFOUND);
    assert_int_equal(lk_profile_template(*state, "Generic", &p), LK_ENOTFOUND);
}

/* ---- scopes ---- */

static lk_profile scoped(lk_arena *a)
{
    lk_profile p;
    memset(&p, 0, sizeof(p));
    static char *def[] = {"read:a", "read:b"};
    static char *always[] = {"offline_access"};
    (void)a;
    p.scopes = (lk_strv){def, 2};
    p.always_scopes = (lk_strv){always, 1};
    p.scope_separator = " ";
    return p;
}

static char *scopes(lk_arena *a, const lk_profile *p, const char *csv)
{
    lk_strv s;
    if (lk_profile_scopes(a, p, csv, &s) != LK_OK)
        return NULL;
    return lk_scopes_join(a, &s, "|");
}

static void test_scopes_default_when_none_asked(void **state)
{
    lk_profile p = scoped(*state);
    assert_string_equal(scopes(*state, &p, NULL), "read:a|read:b|offline_access");
}

static void test_scopes_csv_replaces_default_and_appends_always(void **state)
{
    lk_profile p = scoped(*state);
    assert_string_equal(scopes(*state, &p, "write:x,read:y"), "write:x|read:y|offline_access");
    assert_string_equal(scopes(*state, &p, "one"), "one|offline_access");
}

static void test_scopes_always_scope_appears_once(void **state)
{
    lk_profile p = scoped(*state);
    assert_string_equal(scopes(*state, &p, "offline_access,x"), "offline_access|x");
    assert_string_equal(scopes(*state, &p, "x,offline_access"), "x|offline_access");
}

static void test_scopes_drop_duplicates(void **state)
{
    lk_profile p = scoped(*state);
    assert_string_equal(scopes(*state, &p, "x,y,x,y,x"), "x|y|offline_access");
    static char *dup[] = {"a", "a", "b"};
    p.scopes = (lk_strv){dup, 3};
    assert_string_equal(scopes(*state, &p, NULL), "a|b|offline_access");
}

static void test_scopes_refuse_empty_items_and_spaces(void **state)
{
    lk_profile p = scoped(*state);
    static const char *const bad[] = {"",   ",",    "x,",   ",x",   "x,,y", "x, y", "x y",
                                      " x", "x\ty", "x\ny", "x\"y", "x\\y", "x\x7f"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        lk_strv s;
        if (lk_profile_scopes(*state, &p, bad[i], &s) != LK_EINVAL)
            fail_msg("accepted scope list \"%s\"", bad[i]);
    }
}

static void test_scopes_refuse_oversized(void **state)
{
    lk_profile p = scoped(*state);
    char item[258];
    memset(item, 'a', sizeof(item));
    item[256] = '\0';
    lk_strv s;
    assert_int_equal(lk_profile_scopes(*state, &p, item, &s), LK_OK);
    item[256] = 'a';
    item[257] = '\0';
    assert_int_equal(lk_profile_scopes(*state, &p, item, &s), LK_EINVAL);
    char big[4098];
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (i % 2) ? ',' : 'a';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(lk_profile_scopes(*state, &p, big, &s), LK_EINVAL);
}

static void test_scopes_many_items_fit(void **state)
{
    lk_profile p = scoped(*state);
    lk_strv s;
    assert_int_equal(lk_profile_scopes(*state, &p, "a,b,c,d,e,f,g,h,i,j,k,l", &s), LK_OK);
    assert_int_equal(s.n, 13);
    assert_string_equal(s.v[12], "offline_access");
}

static void test_scopes_join_with_separator(void **state)
{
    char *v[] = {"a", "b:c", "d"};
    lk_strv s = {v, 3};
    assert_string_equal(lk_scopes_join(*state, &s, " "), "a b:c d");
    assert_string_equal(lk_scopes_join(*state, &s, ","), "a,b:c,d");
    lk_strv one = {v, 1};
    assert_string_equal(lk_scopes_join(*state, &one, " "), "a");
    lk_strv none = {NULL, 0};
    assert_string_equal(lk_scopes_join(*state, &none, " "), "");
}

static void test_strv_json_round_trip(void **state)
{
    char *v[] = {"a", "b \"c\""};
    lk_strv s = {v, 2};
    json_object *arr = lk_strv_to_json(*state, &s);
    assert_string_equal(lk_json_text(*state, arr), "[\"a\",\"b \\\"c\\\"\"]");
    lk_strv back = lk_strv_from_json(*state, arr);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.v[1], "b \"c\"");
    json_object *mixed = NULL;
    const char *t = "[\"x\",1,null,\"y\"]";
    assert_int_equal(lk_json_parse(*state, t, strlen(t), &mixed), LK_OK);
    back = lk_strv_from_json(*state, mixed);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.v[1], "y");
    assert_int_equal(lk_strv_from_json(*state, NULL).n, 0);
    assert_int_equal(lk_strv_from_json(*state, lk_json_object(*state)).n, 0);
}

/* ---- validation ---- */

static lk_profile valid(lk_arena *a)
{
    lk_profile p = tmpl(a, "atlassian-confluence");
    p.name = "confluence";
    p.client_id = "cid";
    p.callback_url = "https://broker.example.com/latchkey/callback/confluence";
    return p;
}

static void expect_invalid(lk_arena *a, const lk_profile *p, const char *why_part)
{
    const char *why = NULL;
    assert_int_equal(lk_profile_validate(a, p, &why), LK_EINVAL);
    assert_non_null(why);
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
}

static void test_validate_accepts_template_profile(void **state)
{
    lk_profile p = valid(*state);
    const char *why = "x";
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    assert_null(why);
    p = tmpl(*state, "atlassian-jira");
    p.name = "jira";
    p.client_id = "cid";
    p.callback_url = "https://broker.example.com/latchkey/callback/jira";
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
}

static void test_validate_refuses_bad_name(void **state)
{
    lk_profile p = valid(*state);
    p.name = "Confluence";
    expect_invalid(*state, &p, "name must match");
    p.name = "-x";
    expect_invalid(*state, &p, "name must match");
    p.name = "";
    expect_invalid(*state, &p, "name must match");
    p.name = NULL;
    expect_invalid(*state, &p, "name must match");
}

static void test_validate_refuses_missing_client_id(void **state)
{
    lk_profile p = valid(*state);
    p.client_id = "";
    expect_invalid(*state, &p, "client id");
    p.client_id = NULL;
    expect_invalid(*state, &p, "client id");
}

static void test_validate_http_only_for_loopback(void **state)
{
    lk_profile p = valid(*state);
    const char *why;
    p.authorization_url = "http://auth.example.com/authorize";
    expect_invalid(*state, &p, "authorization URL");
    p.authorization_url = "http://127.0.0.1:9000/authorize";
    p.token_url = "http://localhost:9000/token";
    p.refresh_url = "http://[::1]:9000/token";
    p.resources_url = "http://127.0.0.1:9000/resources";
    p.api_base_url = "http://127.0.0.1:9000/ex/{cloud_id}";
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    p.token_url = "http://token.example.com/token";
    expect_invalid(*state, &p, "token URL");
    p.token_url = "http://localhost.evil.com/token";
    expect_invalid(*state, &p, "token URL");
    p.token_url = "http://127.0.0.1.evil.com/token";
    expect_invalid(*state, &p, "token URL");
    p.token_url = "https://auth.example.com/token";
    p.refresh_url = "http://refresh.example.com/token";
    expect_invalid(*state, &p, "refresh URL");
    p.refresh_url = NULL;
    p.resources_url = "http://api.example.com/resources";
    expect_invalid(*state, &p, "resources URL");
    p.resources_url = "https://api.example.com/resources";
    p.api_base_url = "http://api.example.com/ex/{cloud_id}";
    expect_invalid(*state, &p, "API base URL");
}

static void test_validate_refuses_unparsable_provider_urls(void **state)
{
    lk_profile p = valid(*state);
    p.authorization_url = NULL;
    expect_invalid(*state, &p, "authorization URL");
    p = valid(*state);
    p.authorization_url = "https://user@auth.example.com/authorize";
    expect_invalid(*state, &p, "authorization URL");
    p = valid(*state);
    p.token_url = "ftp://auth.example.com/token";
    expect_invalid(*state, &p, "token URL");
    p = valid(*state);
    p.api_base_url = "https://api.example.com/../{cloud_id}";
    expect_invalid(*state, &p, "API base URL");
}

static void test_validate_refuses_bad_callback(void **state)
{
    lk_profile p = valid(*state);
    p.callback_url = NULL;
    expect_invalid(*state, &p, "callback URL");
    p.callback_url = "/latchkey/callback/confluence";
    expect_invalid(*state, &p, "callback URL");
    p.callback_url = "https://broker.example.com/callback#x";
    expect_invalid(*state, &p, "callback URL");
}

static void test_validate_refuses_bad_redirect_entry(void **state)
{
    lk_profile p = valid(*state);
    const char *why;
    char *good[] = {"https://app.example.com/done", "http://localhost:3000/"};
    p.allowed_redirects = (lk_strv){good, 2};
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    static const char *const bad[] = {"https://app.example.com/done?x=1", "https://app.example.com/done#f",
                                      "https://u@app.example.com/",       "app.example.com/done",
                                      "https://app.example.com/a/../b",   "javascript:alert(1)"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char *entries[] = {"https://ok.example.com/", (char *)bad[i]};
        p.allowed_redirects = (lk_strv){entries, 2};
        expect_invalid(*state, &p, "allowed redirect");
    }
}

static void test_validate_refuses_bad_issuer(void **state)
{
    lk_profile p = valid(*state);
    const char *why;
    p.issuer = "https://auth.example.com";
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    p.issuer = "http://auth.example.com";
    expect_invalid(*state, &p, "issuer");
}

static void test_validate_refuses_bad_scopes_and_params(void **state)
{
    lk_profile p = valid(*state);
    char *bad[] = {"read:x", "a b"};
    p.scopes = (lk_strv){bad, 2};
    expect_invalid(*state, &p, "scopes");
    char *comma[] = {"a,b"};
    p.scopes = (lk_strv){comma, 1};
    expect_invalid(*state, &p, "scopes");
    char *empty[] = {""};
    p.scopes = (lk_strv){empty, 1};
    expect_invalid(*state, &p, "scopes");
    p = valid(*state);
    json_object_object_add(p.extra_params, "max_age", json_object_new_int(5));
    expect_invalid(*state, &p, "extra authorization parameters");
}

/* SPEC §6: a path prefix is compared with paths the proxy accepts; one
 * holding a dot segment, even disguised with ';' parameters, is refused. */
static void test_validate_refuses_proxy_prefixes_with_dot_segments(void **state)
{
    lk_profile p = valid(*state);
    const char *why;
    char *good[] = {"/wiki/rest/api/", "/wiki/download", "/wiki;v=1/x/"};
    p.proxy_path_prefixes = (lk_strv){good, 3};
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    static const char *const bad[] = {"/wiki/../admin/",
                                      "/wiki/..;/admin/",
                                      "/wiki/..;x/admin",
                                      "/wiki/.;/x",
                                      "/wiki//x",
                                      "/wiki/%2e%2e/x",
                                      "/wiki\\x",
                                      "wiki/",
                                      NULL};
    for (const char *const *b = bad; *b; b++) {
        char *one[] = {(char *)*b};
        p.proxy_path_prefixes = (lk_strv){one, 1};
        expect_invalid(*state, &p, "proxy path prefix");
    }
}

/* SPEC §10's --tools: names of the tool grammar, each once, at most
 * LK_PROFILE_TOOLS_MAX of them; none stored means all. */
static void test_validate_tools(void **state)
{
    lk_profile p = valid(*state);
    const char *why;
    char *good[] = {"confluence_get_page", "a", "x9_"};
    p.tools = (lk_strv){good, 3};
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    static const char *const bad[] = {"", "Confluence_get_page", "9page", "_x", "get-page", "get page", NULL};
    for (const char *const *b = bad; *b; b++) {
        char *one[] = {(char *)*b};
        p.tools = (lk_strv){one, 1};
        expect_invalid(*state, &p, "tool names");
    }
    char long_name[LK_TOOL_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    char *too_long[] = {long_name};
    p.tools = (lk_strv){too_long, 1};
    expect_invalid(*state, &p, "tool names");
    long_name[LK_TOOL_NAME_MAX] = '\0';
    assert_true(lk_tool_name_valid(long_name));
    char *twice[] = {"a", "b", "a"};
    p.tools = (lk_strv){twice, 3};
    expect_invalid(*state, &p, "named twice");
    char *many[LK_PROFILE_TOOLS_MAX + 1];
    for (size_t i = 0; i < LK_ARRAY_LEN(many); i++)
        many[i] = lk_printf(*state, "t%zu", i);
    p.tools = (lk_strv){many, LK_PROFILE_TOOLS_MAX};
    assert_int_equal(lk_profile_validate(*state, &p, &why), LK_OK);
    p.tools = (lk_strv){many, LK_PROFILE_TOOLS_MAX + 1};
    expect_invalid(*state, &p, "at most");
}

static void test_validate_refuses_empty_display_name(void **state)
{
    lk_profile p = valid(*state);
    p.display_name = "";
    expect_invalid(*state, &p, "display name");
    p.display_name = NULL;
    expect_invalid(*state, &p, "display name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_template_atlassian_confluence),
        T(test_template_confluence_default_scopes_are_granular),
        T(test_template_atlassian_jira),
        T(test_template_generic),
        T(test_template_unknown_is_not_found),
        T(test_scopes_default_when_none_asked),
        T(test_scopes_csv_replaces_default_and_appends_always),
        T(test_scopes_always_scope_appears_once),
        T(test_scopes_drop_duplicates),
        T(test_scopes_refuse_empty_items_and_spaces),
        T(test_scopes_refuse_oversized),
        T(test_scopes_many_items_fit),
        T(test_scopes_join_with_separator),
        T(test_strv_json_round_trip),
        T(test_validate_accepts_template_profile),
        T(test_validate_refuses_bad_name),
        T(test_validate_refuses_missing_client_id),
        T(test_validate_http_only_for_loopback),
        T(test_validate_refuses_unparsable_provider_urls),
        T(test_validate_refuses_bad_callback),
        T(test_validate_refuses_bad_redirect_entry),
        T(test_validate_refuses_bad_issuer),
        T(test_validate_refuses_bad_scopes_and_params),
        T(test_validate_refuses_proxy_prefixes_with_dot_segments),
        T(test_validate_tools),
        T(test_validate_refuses_empty_display_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
