/* Unit tests: the MCP tool tables (tools/, embedded), tools/list, scope
 * families, argument checks, request templating, result trimming and the
 * executor's answers before any I/O (SPEC §10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "json.h"
#include "tools_int.h"

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

static const char *const FIFTEEN[] = {
    "confluence_list_spaces",     "confluence_get_space",        "confluence_list_pages",  "confluence_get_page",
    "confluence_get_child_pages", "confluence_search",           "confluence_create_page", "confluence_update_page",
    "confluence_delete_page",     "confluence_get_comments",     "confluence_add_comment", "confluence_get_labels",
    "confluence_add_labels",      "confluence_create_blog_post", "atlassian_list_sites"};

static lk_profile cloud_profile(void)
{
    lk_profile p = {0};
    p.name = "confluence";
    p.template_name = "atlassian-confluence";
    p.auth_type = "oauth2";
    return p;
}

static const lk_tool *tool(const char *name)
{
    lk_profile p = cloud_profile();
    const lk_tool *t = lk_tools_find(&p, name);
    assert_non_null(t);
    return t;
}

static json_object *parse(lk_arena *a, const char *s)
{
    json_object *o = NULL;
    assert_int_equal(lk_json_parse(a, s, strlen(s), &o), LK_OK);
    return o;
}

static void test_tools_table_loads_and_holds_the_fifteen(void **state)
{
    (void)state;
    const lk_tool_table *t = lk_tools_table("atlassian-confluence");
    assert_non_null(t);
    assert_int_equal(t->n, LK_ARRAY_LEN(FIFTEEN));
    for (size_t i = 0; i < LK_ARRAY_LEN(FIFTEEN); i++) {
        const lk_tool *x = tool(FIFTEEN[i]);
        assert_true(json_object_is_type(x->input, json_type_object));
        assert_true(json_object_is_type(x->output, json_type_object));
        assert_string_equal(lk_json_str(x->input, "type"), "object");
        assert_string_equal(lk_json_str(x->output, "type"), "object");
        /* The listed entry is what clients see: never scopes or calls. */
        assert_non_null(lk_json_get(x->listed, "annotations"));
        assert_null(lk_json_get(x->listed, "scopes"));
        assert_null(lk_json_get(x->listed, "calls"));
        if (x->local)
            continue;
        assert_non_null(lk_json_path(x->input, "properties.site"));
        for (int f = 0; f < LK_FAMILIES; f++)
            assert_true(json_object_array_length(x->calls[f]) > 0);
        assert_true(x->scopes[LK_FAMILY_GRANULAR].n > 0);
        assert_true(x->scopes[LK_FAMILY_CLASSIC].n > 0);
        assert_int_equal(x->scopes[LK_FAMILY_DC].n, 0);
    }
    assert_true(tool("atlassian_list_sites")->local);
    assert_null(lk_tools_table("atlassian-jira"));
}

static void test_tools_calls_use_the_api_of_each_family(void **state)
{
    (void)state;
    const lk_tool *t = tool("confluence_get_page");
    assert_string_equal(lk_json_path(t->calls[LK_FAMILY_GRANULAR], "0.path")
                            ? json_object_get_string(lk_json_path(t->calls[LK_FAMILY_GRANULAR], "0.path"))
                            : "",
                        "/wiki/api/v2/pages/{page_id}");
    assert_string_equal(json_object_get_string(lk_json_path(t->calls[LK_FAMILY_CLASSIC], "0.path")),
                        "/wiki/rest/api/content/{page_id}");
    assert_string_equal(json_object_get_string(lk_json_path(t->calls[LK_FAMILY_DC], "0.path")),
                        "/rest/api/content/{page_id}");
    /* CQL search: v2 has none, so the granular family uses v1 with the
     * granular scope Atlassian documents for it. */
    const lk_tool *s = tool("confluence_search");
    assert_string_equal(json_object_get_string(lk_json_path(s->calls[LK_FAMILY_GRANULAR], "0.path")),
                        "/wiki/rest/api/search");
    assert_string_equal(s->scopes[LK_FAMILY_GRANULAR].v[0], "read:content-details:confluence");
    assert_string_equal(s->scopes[LK_FAMILY_CLASSIC].v[0], "search:confluence");
}

static void test_tools_list_narrowing_and_read_only(void **state)
{
    lk_arena *a = *state;
    lk_profile p = cloud_profile();
    assert_int_equal(json_object_array_length(lk_tools_list(a, &p, false)), 15);
    json_object *ro = lk_tools_list(a, &p, true);
    assert_int_equal(json_object_array_length(ro), 9);
    for (size_t i = 0; i < json_object_array_length(ro); i++)
        assert_true(
            json_object_get_boolean(lk_json_path(json_object_array_get_idx(ro, i), "annotations.readOnlyHint")));
    const char *only[] = {"confluence_get_page", "confluence_update_page", NULL};
    p.tools = lk_strv_of(a, only);
    json_object *two = lk_tools_list(a, &p, false);
    assert_int_equal(json_object_array_length(two), 2);
    assert_string_equal(lk_json_str(json_object_array_get_idx(two, 0), "name"), "confluence_get_page");
    assert_int_equal(json_object_array_length(lk_tools_list(a, &p, true)), 1);
    assert_null(lk_tools_find(&p, "confluence_search")); /* narrowed away */
    assert_non_null(lk_tools_find(&p, "confluence_get_page"));
}

static void test_tools_tables_per_profile_kind(void **state)
{
    lk_arena *a = *state;
    lk_profile g = {0};
    g.template_name = "generic";
    g.auth_type = "oauth2";
    assert_int_equal(json_object_array_length(lk_tools_list(a, &g, false)), 0);
    assert_false(lk_tools_offered(&g));
    /* The README's Data Center recipe: generic, PATs, Confluence's check. */
    g.auth_type = "api_key_per_user";
    g.site_kind = "dc";
    g.check_path = "/rest/api/user/current";
    assert_int_equal(json_object_array_length(lk_tools_list(a, &g, false)), 15);
    assert_true(lk_tools_profile_is_dc(&g));
    g.check_path = "/me"; /* any other provider: no Confluence tools */
    assert_false(lk_tools_offered(&g));
    lk_profile c = cloud_profile();
    c.auth_type = "api_key_per_user";
    c.site_kind = "cloud";
    assert_false(lk_tools_profile_is_dc(&c));
    assert_true(lk_tools_offered(&c));
}

static void test_tools_load_refuses_bad_tables(void **state)
{
    (void)state;
    lk_tool_table t;
    const char *ok_tool =
        "{\"name\":\"x\",\"title\":\"X\",\"description\":\"d\",\"annotations\":{\"readOnlyHint\":true,"
        "\"destructiveHint\":false,\"idempotentHint\":true},\"inputSchema\":{\"type\":\"object\",\"properties\":{"
        "\"id\":{\"type\":\"string\"}}},\"outputSchema\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":"
        "\"string\"}}},\"scopes\":{\"granular\":[\"a\"],\"classic\":[\"b\"],\"dc\":[]},\"calls\":{\"granular\":[{"
        "\"method\":\"GET\",\"path\":\"/p/{id}\"}],\"classic\":[{\"method\":\"GET\",\"path\":\"/q/{id}\"}],\"dc\":[{"
        "\"method\":\"GET\",\"path\":\"/r/{id}\"}]},\"result\":{\"granular\":{\"fields\":{\"id\":\"id\"}},"
        "\"classic\":{\"fields\":{\"id\":\"id\"}},\"dc\":{\"fields\":{\"id\":\"id\"}}}}";
    char buf[8192];
    snprintf(buf, sizeof(buf), "{\"tools\":[%s]}", ok_tool);
    assert_null(lk_tools_load(buf, strlen(buf), &t));
    assert_int_equal(t.n, 1);
    snprintf(buf, sizeof(buf), "{\"tools\":[%s,%s]}", ok_tool, ok_tool);
    assert_non_null(strstr(lk_tools_load(buf, strlen(buf), &t), "used twice"));
    const char *bad[][2] = {
        {"/p/{id}", "/p/{nope}"}, /* a placeholder naming no input */
        {"\"fields\":{\"id\":\"id\"}},\"classic\"", "\"fields\":{\"zz\":\"id\"}},\"classic\""}, /* not in output */
        {"\"readOnlyHint\":true", "\"readOnlyHint\":\"yes\""},
        {"\"method\":\"GET\",\"path\":\"/q", "\"method\":\"PATCH\",\"path\":\"/q"},
        {"\"dc\":[{", "\"dc\":[], \"zz\":[{"}, /* a family without calls */
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char tool_text[4096];
        const char *at = strstr(ok_tool, bad[i][0]);
        assert_non_null(at);
        snprintf(tool_text, sizeof(tool_text), "%.*s%s%s", (int)(at - ok_tool), ok_tool, bad[i][1],
                 at + strlen(bad[i][0]));
        snprintf(buf, sizeof(buf), "{\"tools\":[%s]}", tool_text);
        assert_non_null(lk_tools_load(buf, strlen(buf), &t));
    }
    assert_non_null(lk_tools_load("[]", 2, &t));
}

static void test_tools_family_from_scopes(void **state)
{
    (void)state;
    const lk_tool *t = tool("confluence_get_page");
    assert_int_equal(lk_tool_family(t, "read:page:confluence offline_access", false, false), LK_FAMILY_GRANULAR);
    assert_int_equal(lk_tool_family(t, "read:confluence-content.all offline_access", false, false), LK_FAMILY_CLASSIC);
    assert_int_equal(lk_tool_family(t, "read:confluence-content.all read:page:confluence", false, false),
                     LK_FAMILY_GRANULAR);
    assert_int_equal(lk_tool_family(t, "offline_access", false, false), LK_FAMILY_NONE);
    assert_int_equal(lk_tool_family(t, NULL, false, false), LK_FAMILY_NONE);
    assert_int_equal(lk_tool_family(t, NULL, true, false), LK_FAMILY_GRANULAR); /* API tokens: v2 */
    assert_int_equal(lk_tool_family(t, NULL, true, true), LK_FAMILY_DC);
    /* A scope is a whole word: a prefix is not the scope. */
    assert_int_equal(lk_tool_family(t, "read:page:confluencex", false, false), LK_FAMILY_NONE);
    assert_true(lk_scope_granted("a,read:page:confluence", "read:page:confluence"));
    assert_false(lk_scope_granted("read:page", "read:page:confluence"));
}

static void test_tools_missing_scopes(void **state)
{
    lk_arena *a = *state;
    const lk_tool *t = tool("confluence_update_page");
    lk_strv m = lk_tool_missing(a, t, LK_FAMILY_GRANULAR, "read:page:confluence offline_access");
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0], "write:page:confluence");
    m = lk_tool_missing(a, t, LK_FAMILY_CLASSIC, "read:confluence-content.summary");
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0], "write:confluence-content");
    m = lk_tool_missing(a, t, LK_FAMILY_GRANULAR, NULL);
    assert_int_equal(m.n, 2);
    assert_int_equal(lk_grant_family("read:confluence-content.all search:confluence offline_access"),
                     LK_FAMILY_CLASSIC);
    assert_int_equal(lk_grant_family("read:page:confluence search:confluence"), LK_FAMILY_GRANULAR);
    assert_int_equal(lk_grant_family("offline_access"), LK_FAMILY_GRANULAR);
    assert_int_equal(lk_grant_family(NULL), LK_FAMILY_GRANULAR);
}

static void test_tools_argument_checks(void **state)
{
    lk_arena *a = *state;
    const lk_tool *t = tool("confluence_update_page");
    assert_null(lk_tool_args_check(a, t, parse(a, "{\"page_id\":\"1\",\"body\":\"# x\"}")));
    assert_null(lk_tool_args_check(a, t, parse(a, "{\"page_id\":\"1\",\"body\":\"x\",\"version\":3,\"site\":\"a\"}")));
    const struct {
        const char *args, *says;
    } bad[] = {
        {"{\"body\":\"x\"}", "page_id is required"},
        {"{\"page_id\":1,\"body\":\"x\"}", "page_id must be of type string"},
        {"{\"page_id\":\"1\",\"body\":\"x\",\"body_format\":\"html\"}", "body_format must be one of"},
        {"{\"page_id\":\"1\",\"body\":\"x\",\"version\":\"3\"}", "version must be of type integer"},
        {"{\"page_id\":\"1\",\"body\":\"x\",\"version\":1}", "version must be from 2"},
        {"{\"page_id\":\"\",\"body\":\"x\"}", "page_id must not be empty"},
        {"{\"page_id\":\"1\",\"body\":\"x\",\"pageId\":\"1\"}", "Unknown argument pageId"},
        {"{\"page_id\":\"1\",\"body\":\"x\",\"title\":true}", "title must be of type string"},
        {"[1]", "must be a JSON object"},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        const char *why = lk_tool_args_check(a, t, parse(a, bad[i].args));
        assert_non_null(why);
        assert_non_null(strstr(why, bad[i].says));
    }
    char longid[100];
    memset(longid, '7', 80);
    longid[80] = '\0';
    assert_non_null(
        strstr(lk_tool_args_check(a, t, parse(a, lk_printf(a, "{\"page_id\":\"%s\",\"body\":\"x\"}", longid))),
               "longer than 64"));
    const lk_tool *l = tool("confluence_add_labels");
    assert_null(lk_tool_args_check(a, l, parse(a, "{\"page_id\":\"1\",\"labels\":[\"a\",\"b\"]}")));
    assert_non_null(
        strstr(lk_tool_args_check(a, l, parse(a, "{\"page_id\":\"1\",\"labels\":[]}")), "labels must hold"));
    assert_non_null(
        strstr(lk_tool_args_check(a, l, parse(a, "{\"page_id\":\"1\",\"labels\":[\"a\",2]}")), "labels[1]"));
    assert_non_null(
        strstr(lk_tool_args_check(a, l, parse(a, "{\"page_id\":\"1\",\"labels\":[\"a\\u0000b\"]}")), "NUL"));
    assert_null(lk_tool_args_check(a, tool("atlassian_list_sites"), parse(a, "{}")));
}

static void test_tools_path_templating_refuses_traversal(void **state)
{
    lk_arena *a = *state;
    const char *why = NULL;
    json_object *v = parse(a, "{\"page_id\":\"123\",\"n\":7}");
    assert_string_equal(lk_tool_path(a, "/wiki/api/v2/pages/{page_id}/labels", v, &why),
                        "/wiki/api/v2/pages/123/labels");
    assert_string_equal(lk_tool_path(a, "/x/{n}", v, &why), "/x/7");
    v = parse(a, "{\"page_id\":\"a b&c=d\u00e9\"}");
    assert_string_equal(lk_tool_path(a, "/p/{page_id}", v, &why), "/p/a%20b%26c%3Dd%C3%A9");
    const char *evil[] = {"../x", "..", ".", "a/b", "a\\\\b", "%2e%2e", "x?y", "x#y", ""};
    for (size_t i = 0; i < LK_ARRAY_LEN(evil); i++) {
        why = NULL;
        v = parse(a, lk_printf(a, "{\"page_id\":\"%s\"}", evil[i]));
        assert_null(lk_tool_path(a, "/wiki/api/v2/pages/{page_id}", v, &why));
        assert_non_null(why);
        assert_non_null(strstr(why, "page_id"));
    }
    why = NULL;
    assert_null(lk_tool_path(a, "/p/{page_id}", parse(a, "{}"), &why));
    assert_non_null(strstr(why, "page_id is missing"));
}

static void test_tools_query_and_body_templates(void **state)
{
    lk_arena *a = *state;
    json_object *vars = parse(a, "{\"cql\":\"type=page AND text ~ \\\"a&b\\\"\",\"limit\":5}");
    json_object *q = parse(a, "{\"cql\":\"{cql}\",\"limit\":\"{limit}\",\"cursor\":\"{cursor}\",\"x\":\"lit\"}");
    assert_string_equal(lk_tool_query(a, q, vars), "?cql=type%3Dpage%20AND%20text%20~%20%22a%26b%22&limit=5&x=lit");
    assert_string_equal(lk_tool_query(a, NULL, vars), "");
    /* A member whose variable is absent is left out, and an object or
     * array left empty by that goes too. */
    vars = parse(a, "{\"title\":\"T\",\"next_version\":4,\"labels\":[\"x\",\"y\"]}");
    json_object *tmpl = parse(a, "{\"title\":\"{title}\",\"parentId\":\"{parent_id}\",\"ancestors\":[{\"id\":"
                                 "\"{parent_id}\"}],\"version\":{\"number\":\"{next_version}\",\"message\":"
                                 "\"{version_message}\"},\"status\":\"current\",\"e\":{}}");
    assert_string_equal(lk_json_text(a, lk_tool_body(a, tmpl, vars)),
                        "{\"title\":\"T\",\"version\":{\"number\":4},\"status\":\"current\",\"e\":{}}");
    tmpl = parse(a, "{\"$each\":\"labels\",\"$item\":{\"prefix\":\"global\",\"name\":\"{$item}\"}}");
    assert_string_equal(lk_json_text(a, lk_tool_body(a, tmpl, vars)),
                        "[{\"prefix\":\"global\",\"name\":\"x\"},{\"prefix\":\"global\",\"name\":\"y\"}]");
    assert_null(lk_json_get(vars, "$item"));
    json_object *o = parse(a, "{\"a\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"b\":{\"c\":3}}");
    assert_string_equal(json_object_get_string(lk_json_path(o, "a.-1.id")), "2");
    assert_string_equal(json_object_get_string(lk_json_path(o, "a.0.id")), "1");
    assert_int_equal(json_object_get_int(lk_json_path(o, "b.c")), 3);
    assert_null(lk_json_path(o, "a.2.id"));
    assert_null(lk_json_path(o, "b.c.d"));
    assert_string_equal(lk_tool_message(a, "No space has the key {space_key}.", parse(a, "{\"space_key\":\"ENG\"}")),
                        "No space has the key ENG.");
}

/* True when v conforms to schema (the subset the tables use: type,
 * properties, required, items), as MCP clients check structuredContent. */
static bool conforms(json_object *schema, json_object *v)
{
    const char *type = lk_json_str(schema, "type");
    if (!type)
        return true;
    if (!strcmp(type, "string"))
        return json_object_is_type(v, json_type_string);
    if (!strcmp(type, "integer"))
        return json_object_is_type(v, json_type_int);
    if (!strcmp(type, "boolean"))
        return json_object_is_type(v, json_type_boolean);
    if (!strcmp(type, "array")) {
        if (!json_object_is_type(v, json_type_array))
            return false;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!conforms(lk_json_get(schema, "items"), json_object_array_get_idx(v, i)))
                return false;
        return true;
    }
    if (!json_object_is_type(v, json_type_object))
        return false;
    json_object *req = lk_json_get(schema, "required");
    for (size_t i = 0; req && i < json_object_array_length(req); i++)
        if (!lk_json_get(v, json_object_get_string(json_object_array_get_idx(req, i))))
            return false;
    json_object *props = lk_json_get(schema, "properties");
    json_object_object_foreach (v, k, m) {
        json_object *ps = lk_json_get(props, k);
        if (!ps || !conforms(ps, m))
            return false;
    }
    return true;
}

/* lk_tool_trim, checked against the tool's output schema. */
static json_object *trim(lk_arena *a, const char *name, lk_family f, const char *answer, const char *vars,
                         const char *base, const char **why)
{
    const lk_tool *t = tool(name);
    json_object *sc = lk_tool_trim(a, t, f, parse(a, answer), parse(a, vars), base, why);
    if (sc)
        assert_true(conforms(t->output, sc));
    return sc;
}

#define V2_PAGE                                                                                                        \
    "{\"id\":\"65537\",\"status\":\"current\",\"title\":\"Release notes\",\"spaceId\":\"98306\",\"parentId\":"         \
    "\"65536\",\"authorId\":\"secret-ish\",\"version\":{\"number\":7,\"createdAt\":\"2026-01-02T03:04:05Z\"},"         \
    "\"body\":{\"storage\":{\"representation\":\"storage\",\"value\":\"<h1>Hello</h1><p>Some <strong>bold</strong>"    \
    "</p>\"}},\"_links\":{\"webui\":\"/spaces/ENG/pages/65537/Release+notes\",\"editui\":\"/e\","                      \
    "\"base\":\"https://acme.atlassian.net/wiki\"}}"

static void test_tools_trim_page_as_markdown(void **state)
{
    lk_arena *a = *state;
    const lk_tool *t = tool("confluence_get_page");
    const char *why = NULL;
    json_object *sc = trim(a, "confluence_get_page", LK_FAMILY_GRANULAR, V2_PAGE, "{}", NULL, &why);
    assert_non_null(sc);
    assert_string_equal(lk_json_str(sc, "id"), "65537");
    assert_string_equal(lk_json_str(sc, "title"), "Release notes");
    assert_string_equal(lk_json_str(sc, "space_id"), "98306");
    assert_string_equal(lk_json_str(sc, "parent_id"), "65536");
    assert_int_equal(json_object_get_int(lk_json_get(sc, "version")), 7);
    assert_string_equal(lk_json_str(sc, "url"), "https://acme.atlassian.net/wiki/spaces/ENG/pages/65537/Release+notes");
    assert_string_equal(lk_json_str(sc, "body_format"), "markdown");
    assert_string_equal(lk_json_str(sc, "body"), "# Hello\n\nSome **bold**\n");
    assert_null(lk_json_get(sc, "authorId")); /* trimmed away */
    assert_null(lk_json_get(sc, "_links"));
    /* Every member is one the output schema declares, of its type. */
    json_object *props = lk_json_get(t->output, "properties");
    json_object_object_foreach (sc, k, v) {
        const char *type = lk_json_str(lk_json_get(props, k), "type");
        assert_non_null(type);
        assert_true(!strcmp(type, "integer") ? json_object_is_type(v, json_type_int)
                                             : json_object_is_type(v, json_type_string));
    }
    /* storage asked for: untouched. */
    sc = lk_tool_trim(a, t, LK_FAMILY_GRANULAR, parse(a, V2_PAGE), parse(a, "{\"body_format\":\"storage\"}"), NULL,
                      &why);
    assert_string_equal(lk_json_str(sc, "body"), "<h1>Hello</h1><p>Some <strong>bold</strong></p>");
    assert_string_equal(lk_json_str(sc, "body_format"), "storage");
    char *text = lk_tool_text(a, sc);
    assert_non_null(strstr(text, "title: Release notes\n"));
    assert_non_null(strstr(text, "version: 7\n"));
    assert_non_null(strstr(text, "\n<h1>Hello</h1>"));
}

static void test_tools_trim_v1_page_and_malformed_body(void **state)
{
    lk_arena *a = *state;
    const char *v1 =
        "{\"id\":\"9\",\"type\":\"page\",\"status\":\"current\",\"title\":\"T\",\"space\":{\"key\":\"ENG\","
        "\"id\":5},\"ancestors\":[{\"id\":\"1\"},{\"id\":\"4\"}],\"version\":{\"number\":2},\"body\":{"
        "\"storage\":{\"value\":\"<p>unclosed\",\"representation\":\"storage\"}},\"_links\":{\"webui\":"
        "\"/display/ENG/T\"}}";
    const char *why = NULL;
    json_object *sc =
        trim(a, "confluence_get_page", LK_FAMILY_CLASSIC, v1, "{}", "https://acme.atlassian.net/wiki", &why);
    assert_string_equal(lk_json_str(sc, "space_key"), "ENG");
    assert_string_equal(lk_json_str(sc, "parent_id"), "4"); /* the nearest ancestor */
    assert_string_equal(lk_json_str(sc, "url"), "https://acme.atlassian.net/wiki/display/ENG/T");
    /* A body that does not convert stays storage, and says so. */
    assert_string_equal(lk_json_str(sc, "body_format"), "storage");
    assert_string_equal(lk_json_str(sc, "body"), "<p>unclosed");
}

static void test_tools_trim_lists_with_cursor_and_caps(void **state)
{
    lk_arena *a = *state;
    lk_buf b;
    lk_buf_init(&b, a, 1 << 20);
    assert_int_equal(lk_buf_adds(&b, "{\"results\":["), LK_OK);
    for (int i = 0; i < LK_TOOL_ITEMS_MAX + 20; i++)
        assert_int_equal(lk_buf_printf(&b,
                                       "%s{\"id\":%d,\"key\":\"K%d\",\"name\":\"Space %d\",\"type\":\"global\","
                                       "\"_links\":{\"webui\":\"/spaces/K%d\"}}",
                                       i ? "," : "", i, i, i, i),
                         LK_OK);
    assert_int_equal(lk_buf_adds(&b, "],\"_links\":{\"next\":\"/wiki/api/v2/spaces?limit=25&cursor=ab%3Dc\","
                                     "\"base\":\"https://acme.atlassian.net/wiki\"}}"),
                     LK_OK);
    const char *why = NULL;
    json_object *sc = trim(a, "confluence_list_spaces", LK_FAMILY_GRANULAR, lk_buf_str(&b), "{}", NULL, &why);
    json_object *spaces = lk_json_get(sc, "spaces");
    assert_int_equal(json_object_array_length(spaces), LK_TOOL_ITEMS_MAX);
    json_object *s1 = json_object_array_get_idx(spaces, 1);
    assert_string_equal(lk_json_str(s1, "id"), "1"); /* an integer id as the schema's string */
    assert_string_equal(lk_json_str(s1, "key"), "K1");
    assert_string_equal(lk_json_str(s1, "url"), "https://acme.atlassian.net/wiki/spaces/K1");
    assert_string_equal(lk_json_str(sc, "next_cursor"), "ab=c");
    char *text = lk_tool_text(a, sc);
    assert_non_null(strstr(text, "250 spaces:\n- Space 0 (id 0) https://acme.atlassian.net/wiki/spaces/K0\n"));
    assert_non_null(strstr(text, "next_cursor: ab=c"));
    /* v1 pages by start. */
    sc = trim(a, "confluence_get_child_pages", LK_FAMILY_CLASSIC,
              "{\"results\":[],\"_links\":{\"next\":\"/rest/api/content/1/child/page?limit=2&start=2\"}}", "{}", NULL,
              &why);
    assert_string_equal(lk_json_str(sc, "next_cursor"), "2");
    assert_int_equal(json_object_array_length(lk_json_get(sc, "pages")), 0);
    assert_null(trim(a, "confluence_get_child_pages", LK_FAMILY_CLASSIC, "{}", "{}", NULL, &why));
    assert_non_null(why);
}

static void test_tools_trim_root_missing_and_static(void **state)
{
    lk_arena *a = *state;
    const char *why = NULL;
    json_object *vars = parse(a, "{\"space_key\":\"NOPE\",\"page_id\":\"42\"}");
    assert_null(lk_tool_trim(a, tool("confluence_get_space"), LK_FAMILY_GRANULAR, parse(a, "{\"results\":[]}"), vars,
                             NULL, &why));
    assert_string_equal(why, "No space has the key NOPE.");
    json_object *sc = trim(a, "confluence_delete_page", LK_FAMILY_GRANULAR, "{}", "{\"page_id\":\"42\"}", NULL, &why);
    assert_string_equal(lk_json_text(a, sc), "{\"id\":\"42\",\"deleted\":true}");
    /* A space among the hits has no content id: still a valid item. */
    sc = trim(a, "confluence_search", LK_FAMILY_GRANULAR,
              "{\"results\":[{\"content\":{\"id\":\"5\",\"type\":\"page\",\"title\":\"A\"},\"title\":"
              "\"A\",\"excerpt\":\"x @@@hl@@@y\",\"url\":\"/spaces/E/pages/5\",\"resultGlobalContainer\""
              ":{\"title\":\"Eng\"},\"lastModified\":\"2026-01-01T00:00:00.000Z\"},{\"space\":{\"key\":\"E\"},"
              "\"title\":\"Eng\",\"url\":\"/spaces/E\"}]}",
              "{}", "https://s.atlassian.net/wiki", &why);
    json_object *r0 = lk_json_path(sc, "results.0");
    assert_string_equal(lk_json_str(r0, "id"), "5");
    assert_string_equal(lk_json_str(r0, "space"), "Eng");
    assert_string_equal(lk_json_str(r0, "url"), "https://s.atlassian.net/wiki/spaces/E/pages/5");
}

static void test_tools_provider_errors(void **state)
{
    lk_arena *a = *state;
    const char *v1 = "{\"statusCode\":404,\"message\":\"No content found with id: 7\"}";
    assert_string_equal(lk_tool_provider_error(a, 404, v1, strlen(v1), NULL),
                        "Confluence answered 404: No content found with id: 7");
    const char *v2 = "{\"errors\":[{\"status\":403,\"code\":\"FORBIDDEN\",\"title\":\"Forbidden\"}]}";
    assert_string_equal(lk_tool_provider_error(a, 403, v2, strlen(v2), NULL), "Confluence answered 403: Forbidden");
    assert_string_equal(lk_tool_provider_error(a, 500, "<html>", 6, NULL), "Confluence answered 500.");
    assert_string_equal(lk_tool_provider_error(a, 429, "", 0, "17"),
                        "Confluence answered 429. (rate limited or unavailable: retry after 17 s)");
    assert_non_null(strstr(lk_tool_provider_error(a, 429, "", 0, NULL), "retry after 10 s"));
    const char *ctl = "{\"message\":\"line\\nbreak\"}";
    assert_string_equal(lk_tool_provider_error(a, 400, ctl, strlen(ctl), NULL), "Confluence answered 400: line break");
    json_object *res = lk_tool_result(a, NULL, "boom", true);
    assert_string_equal(lk_json_text(a, res), "{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"isError\":true}");
}

static void test_tools_body_conversion_hook(void **state)
{
    lk_arena *a = *state;
    json_object *vars = parse(a, "{\"body\":\"# Title\\n\\nSome *em* and `code`\"}");
    assert_null(lk_tool_body_to_storage(a, vars));
    assert_string_equal(lk_json_str(vars, "body"), "<h1>Title</h1><p>Some <em>em</em> and <code>code</code></p>");
    /* storage passes untouched, once checked. */
    vars = parse(a, "{\"body\":\"<p>x<ac:emoticon ac:name=\\\"smile\\\"/></p>\",\"body_format\":\"storage\"}");
    assert_null(lk_tool_body_to_storage(a, vars));
    assert_string_equal(lk_json_str(vars, "body"), "<p>x<ac:emoticon ac:name=\"smile\"/></p>");
    vars = parse(a, "{\"body\":\"<p>unclosed\",\"body_format\":\"storage\"}");
    assert_non_null(strstr(lk_tool_body_to_storage(a, vars), "not well-formed"));
    assert_string_equal(lk_json_str(vars, "body"), "<p>unclosed"); /* nothing is sent: the call stops */
    vars = parse(a, "{\"body\":\"```confluence-storage\\n<p>bad\\n```\\n\"}");
    assert_non_null(strstr(lk_tool_body_to_storage(a, vars), "Markdown"));
    assert_null(lk_tool_body_to_storage(a, parse(a, "{\"page_id\":\"1\"}")));
}

/* The executor's answers that come before any database or HTTP. */
static void test_tools_call_refuses_before_any_io(void **state)
{
    lk_arena *a = *state;
    lk_req r = {0};
    r.a = a;
    r.err = LK_EFORBIDDEN; /* the caller's state, left untouched */
    lk_profile p = cloud_profile();
    lk_botkey key = {0};
    key.name = "bot";
    lk_tool_outcome out;
    lk_tool_call(&r, &p, &key, "u1", "confluence_nope", parse(a, "{}"), &out);
    assert_int_equal(out.rpc_error, -32602);
    assert_non_null(strstr(out.message, "Unknown tool: confluence_nope"));
    key.read_only = true;
    lk_tool_call(&r, &p, &key, "u1", "confluence_delete_page", parse(a, "{\"page_id\":\"1\"}"), &out);
    assert_int_equal(out.rpc_error, -32602);
    assert_non_null(strstr(out.message, "read-only"));
    lk_tool_call(&r, &p, &key, "u1", "confluence_get_page", parse(a, "{\"page_id\":7}"), &out);
    assert_int_equal(out.rpc_error, -32602);
    assert_non_null(strstr(out.message, "page_id"));
    lk_tool_call(&r, &p, &key, "u1", "confluence_get_page", parse(a, "{\"page_id\":\"7\",\"site\":\"a b\"}"), &out);
    assert_int_equal(out.rpc_error, -32602);
    assert_non_null(strstr(out.message, "site"));
    const char *only[] = {"confluence_get_page", NULL};
    p.tools = lk_strv_of(a, only);
    key.read_only = false;
    lk_tool_call(&r, &p, &key, "u1", "confluence_search", parse(a, "{\"cql\":\"x\"}"), &out);
    assert_int_equal(out.rpc_error, -32602); /* narrowed away: unknown */
    assert_int_equal(r.err, LK_EFORBIDDEN);
    assert_null(out.result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tools_table_loads_and_holds_the_fifteen),
        T(test_tools_calls_use_the_api_of_each_family),
        T(test_tools_list_narrowing_and_read_only),
        T(test_tools_tables_per_profile_kind),
        T(test_tools_load_refuses_bad_tables),
        T(test_tools_family_from_scopes),
        T(test_tools_missing_scopes),
        T(test_tools_argument_checks),
        T(test_tools_path_templating_refuses_traversal),
        T(test_tools_query_and_body_templates),
        T(test_tools_trim_page_as_markdown),
        T(test_tools_trim_v1_page_and_malformed_body),
        T(test_tools_trim_lists_with_cursor_and_caps),
        T(test_tools_trim_root_missing_and_static),
        T(test_tools_provider_errors),
        T(test_tools_body_conversion_hook),
        T(test_tools_call_refuses_before_any_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
