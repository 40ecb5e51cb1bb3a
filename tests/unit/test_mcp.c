/* Unit tests: the MCP endpoint's pure parts (SPEC §10): JSON-RPC messages
 * read and answered, protocol versions, the Origin allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "mcp.h"

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

/* lk_rpc_read of text (which must parse). */
static lk_rpc_msg read_msg(lk_arena *a, const char *text)
{
    json_object *o = NULL;
    assert_int_equal(lk_json_parse(a, text, strlen(text), &o), LK_OK);
    lk_rpc_msg m;
    lk_rpc_read(o, &m);
    return m;
}

static void test_rpc_reads_a_request(void **state)
{
    lk_rpc_msg m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{}}");
    assert_int_equal(m.kind, LK_RPC_REQUEST);
    assert_string_equal(m.method, "tools/list");
    assert_int_equal(json_object_get_int(m.id), 7);
    assert_true(json_object_is_type(m.params, json_type_object));
    m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"ping\"}");
    assert_int_equal(m.kind, LK_RPC_REQUEST);
    assert_string_equal(json_object_get_string(m.id), "a-1");
    assert_null(m.params);
}

static void test_rpc_tells_notifications_and_responses(void **state)
{
    lk_rpc_msg m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_int_equal(m.kind, LK_RPC_NOTIFICATION);
    assert_null(m.id);
    m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
    assert_int_equal(m.kind, LK_RPC_RESPONSE);
    m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-1,\"message\":\"no\"}}");
    assert_int_equal(m.kind, LK_RPC_RESPONSE);
}

static void test_rpc_refuses_invalid_messages(void **state)
{
    static const char *const bad[] = {
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",  /* batch */
        "\"ping\"",                                              /* not an object */
        "{\"id\":1,\"method\":\"ping\"}",                        /* no jsonrpc */
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",    /* wrong jsonrpc */
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",  /* id a fraction */
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", /* id null */
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",   /* id an object */
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", /* id a boolean */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",           /* method no string */
        "{\"jsonrpc\":\"2.0\",\"id\":1}",                        /* neither method nor result */
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",                   /* a response without id */
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        lk_rpc_msg m = read_msg(*state, bad[i]);
        assert_int_equal(m.kind, LK_RPC_INVALID);
        assert_non_null(m.why);
        assert_null(m.method);
    }
    lk_rpc_msg m;
    lk_rpc_read(NULL, &m); /* JSON null */
    assert_int_equal(m.kind, LK_RPC_INVALID);
}

static void test_rpc_invalid_keeps_a_usable_id(void **state)
{
    lk_rpc_msg m = read_msg(*state, "{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"ping\"}");
    assert_int_equal(m.kind, LK_RPC_INVALID);
    assert_int_equal(json_object_get_int(m.id), 9);
    m = read_msg(*state, "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}");
    assert_null(m.id);
}

static void test_rpc_answers_have_the_envelope(void **state)
{
    lk_arena *a = *state;
    json_object *id = lk_json_own(a, json_object_new_string("q"));
    json_object *data = lk_json_object(a);
    lk_json_set_str(data, "k", "v");
    const char *e = lk_json_text(a, lk_rpc_error(a, id, LK_RPC_URL_ELICITATION, "Open the link.", data));
    assert_string_equal(e, "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32042,\"message\":\"Open the "
                           "link.\",\"data\":{\"k\":\"v\"}}}");
    e = lk_json_text(a, lk_rpc_error(a, NULL, LK_RPC_PARSE_ERROR, "Parse error", NULL));
    assert_string_equal(e, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
    e = lk_json_text(a, lk_rpc_result(a, id, lk_json_object(a)));
    assert_string_equal(e, "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"result\":{}}");
}

static void test_tool_outcomes_become_answers(void **state)
{
    lk_arena *a = *state;
    json_object *id = lk_json_own(a, json_object_new_int(4));
    json_object *res = lk_json_object(a);
    json_object_object_add(res, "isError", json_object_new_boolean(0));
    lk_tool_outcome ok = {.result = res};
    assert_string_equal(lk_mcp_tool_answer(a, id, &ok),
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"isError\":false}}");
    json_object *el = lk_json_object(a);
    lk_json_set_str(el, "mode", "url");
    lk_json_set_str(el, "url", "https://b.example/l");
    lk_tool_outcome consent = {
        .rpc_error = LK_RPC_URL_ELICITATION, .message = "Open https://b.example/l", .elicitation = el};
    assert_string_equal(lk_mcp_tool_answer(a, id, &consent),
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32042,\"message\":\"Open "
                        "https://b.example/l\",\"data\":{\"elicitations\":[{\"mode\":\"url\",\"url\":\"https://"
                        "b.example/l\"}]}}}");
    lk_tool_outcome bad = {.rpc_error = LK_RPC_INVALID_PARAMS, .message = "Unknown tool."};
    assert_string_equal(lk_mcp_tool_answer(a, id, &bad),
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"Unknown tool.\"}}");
    /* A result written before (the memo's) goes in as it is. */
    lk_tool_outcome text = {.result_text = "{\"isError\":false,\"x\":[1]}"};
    assert_string_equal(lk_mcp_tool_answer(a, id, &text),
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"isError\":false,\"x\":[1]}}");
    json_object *sid = lk_json_own(a, json_object_new_string("a\"b"));
    assert_string_equal(lk_mcp_tool_answer(a, sid, &text),
                        "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":{\"isError\":false,\"x\":[1]}}");
    lk_tool_outcome empty = {0};
    const char *et = lk_mcp_tool_answer(a, id, &empty);
    json_object *e = NULL;
    assert_int_equal(lk_json_parse(a, et, strlen(et), &e), LK_OK);
    assert_int_equal(json_object_get_int(lk_json_get(lk_json_get(e, "error"), "code")), LK_RPC_INTERNAL_ERROR);
}

static void test_mcp_versions(void **state)
{
    (void)state;
    assert_true(lk_mcp_version_supported("2025-11-25"));
    assert_true(lk_mcp_version_supported("2025-06-18"));
    assert_true(lk_mcp_version_supported("2025-03-26"));
    assert_true(lk_mcp_version_supported(LK_MCP_VERSION_NEWEST));
    assert_false(lk_mcp_version_supported("2024-11-05"));
    assert_false(lk_mcp_version_supported("2025-06-18 "));
    assert_false(lk_mcp_version_supported(""));
}

static void test_origin_list_is_exact(void **state)
{
    (void)state;
    const char *list = " https://a.example, http://127.0.0.1:8080\thttps://b.example ";
    assert_true(lk_config_origin_listed(list, "https://a.example"));
    assert_true(lk_config_origin_listed(list, "http://127.0.0.1:8080"));
    assert_true(lk_config_origin_listed(list, "https://b.example"));
    assert_false(lk_config_origin_listed(list, "https://a.example.evil"));
    assert_false(lk_config_origin_listed(list, "https://a.exampl"));
    assert_false(lk_config_origin_listed(list, "http://a.example"));
    assert_false(lk_config_origin_listed(list, "HTTPS://A.EXAMPLE"));
    assert_false(lk_config_origin_listed(list, "http://127.0.0.1"));
    assert_false(lk_config_origin_listed(list, "null"));
    assert_false(lk_config_origin_listed(list, ""));
    assert_false(lk_config_origin_listed("", "https://a.example"));
}

/* lk_config_load of a file holding one line; its result. */
static lk_err load_line(const char *line, lk_config *c, char *err, size_t errlen)
{
    char path[] = "/tmp/lk_test_mcp_conf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", line);
    fclose(f);
    unsetenv("LATCHKEY_MCP_ALLOWED_ORIGINS");
    lk_err rc = lk_config_load(c, path, true, err, errlen);
    unlink(path);
    return rc;
}

static void test_config_takes_origins_and_refuses_paths(void **state)
{
    (void)state;
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_line("# nothing", &c, err, sizeof(err)), LK_OK);
    assert_string_equal(c.mcp_allowed_origins, "");
    lk_config_free(&c);
    assert_int_equal(load_line("mcp_allowed_origins = https://a.example, http://localhost:6274", &c, err, sizeof(err)),
                     LK_OK);
    assert_true(lk_config_origin_listed(c.mcp_allowed_origins, "http://localhost:6274"));
    lk_config_free(&c);
    static const char *const bad[] = {"https://a.example/", "a.example", "ftp://a.example", "https://",
                                      "https://a.example/mcp"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char line[128];
        snprintf(line, sizeof(line), "mcp_allowed_origins = https://ok.example %s", bad[i]);
        err[0] = '\0';
        assert_int_equal(load_line(line, &c, err, sizeof(err)), LK_EINVAL);
        assert_non_null(strstr(err, "mcp_allowed_origins"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rpc_reads_a_request),
        T(test_rpc_tells_notifications_and_responses),
        T(test_rpc_refuses_invalid_messages),
        T(test_rpc_invalid_keeps_a_usable_id),
        T(test_rpc_answers_have_the_envelope),
        T(test_mcp_versions),
        T(test_tool_outcomes_become_answers),
        T(test_origin_list_is_exact),
        T(test_config_takes_origins_and_refuses_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
