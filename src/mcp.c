#include "mcp.h"

#include <string.h>

#include "botkey.h"
#include "gate.h"
#include "json.h"
#include "mdcache.h"
#include "text.h"
#include "tools.h"

#ifndef LK_VERSION
#define LK_VERSION "0"
#endif

/* The versions spoken, newest first (MCP: "Versioning"). */
static const char *const VERSIONS[] = {LK_MCP_VERSION_NEWEST, "2025-06-18", "2025-03-26"};

bool lk_mcp_version_supported(const char *v)
{
    for (size_t i = 0; i < LK_ARRAY_LEN(VERSIONS); i++)
        if (!strcmp(v, VERSIONS[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------ JSON-RPC */

/* JSON-RPC 2.0 §4: an id is a string or a number; MCP narrows it to a
 * string or an integer, never null. */
static bool id_ok(json_object *id)
{
    return json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int);
}

static void invalid(lk_rpc_msg *out, const char *why)
{
    out->kind = LK_RPC_INVALID;
    out->why = why;
}

void lk_rpc_read(json_object *msg, lk_rpc_msg *out)
{
    memset(out, 0, sizeof(*out));
    if (json_object_is_type(msg, json_type_array)) {
        invalid(out, "Invalid Request: batches (JSON arrays) are not supported; send one message per request.");
        return;
    }
    if (!json_object_is_type(msg, json_type_object)) {
        invalid(out, "Invalid Request: a JSON-RPC message is a JSON object.");
        return;
    }
    json_object *id = NULL;
    bool has_id = json_object_object_get_ex(msg, "id", &id);
    if (has_id && id_ok(id))
        out->id = id;
    const char *version = lk_json_str(msg, "jsonrpc");
    json_object *method = NULL;
    bool has_method = json_object_object_get_ex(msg, "method", &method);
    out->params = lk_json_get(msg, "params");
    if (!version || strcmp(version, "2.0") != 0)
        invalid(out, "Invalid Request: \"jsonrpc\" must be \"2.0\".");
    else if (has_id && !out->id)
        invalid(out, "Invalid Request: \"id\" must be a string or an integer.");
    else if (has_method && !json_object_is_type(method, json_type_string))
        invalid(out, "Invalid Request: \"method\" must be a string.");
    else if (has_method)
        out->kind = has_id ? LK_RPC_REQUEST : LK_RPC_NOTIFICATION;
    else if (has_id &&
             (json_object_object_get_ex(msg, "result", NULL) || json_object_object_get_ex(msg, "error", NULL)))
        out->kind = LK_RPC_RESPONSE;
    else
        invalid(out, "Invalid Request: \"method\" is required.");
    if (out->kind != LK_RPC_INVALID && has_method)
        out->method = json_object_get_string(method);
}

static json_object *envelope(lk_arena *a, json_object *id)
{
    json_object *o = lk_json_object(a);
    lk_json_set_str(o, "jsonrpc", "2.0");
    json_object_object_add(o, "id", id ? json_object_get(id) : NULL);
    return o;
}

json_object *lk_rpc_result(lk_arena *a, json_object *id, json_object *result)
{
    json_object *o = envelope(a, id);
    json_object_object_add(o, "result", json_object_get(result));
    return o;
}

json_object *lk_rpc_error(lk_arena *a, json_object *id, int code, const char *message, json_object *data)
{
    json_object *o = envelope(a, id);
    json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    if (data)
        json_object_object_add(e, "data", json_object_get(data));
    json_object_object_add(o, "error", e);
    return o;
}

/* ------------------------------------------------------------ methods */

/* One request being answered. */
typedef struct mcp_call {
    lk_req *r;
    const lk_profile *p;
    lk_botkey key;
    const char *iid; /* X-Instance-Id, NULL when absent */
    lk_rpc_msg m;
} mcp_call;

static json_object *bad_params(mcp_call *c, const char *message)
{
    return lk_rpc_error(c->r->a, c->m.id, LK_RPC_INVALID_PARAMS, message, NULL);
}

/* initialize: the version (the client's when spoken, else the newest),
 * what this server offers, and who it serves. */
static json_object *initialize(mcp_call *c)
{
    lk_arena *a = c->r->a;
    const char *asked = lk_json_str(c->m.params, "protocolVersion");
    if (!asked)
        return bad_params(c, "initialize needs params.protocolVersion (a string).");
    json_object *res = lk_json_object(a);
    lk_json_set_str(res, "protocolVersion", lk_mcp_version_supported(asked) ? asked : LK_MCP_VERSION_NEWEST);
    json_object *caps = json_object_new_object();
    json_object *tools = json_object_new_object();
    json_object_object_add(tools, "listChanged", json_object_new_boolean(0));
    json_object_object_add(caps, "tools", tools);
    json_object_object_add(res, "capabilities", caps);
    json_object *info = json_object_new_object();
    json_object_object_add(info, "name", json_object_new_string("latchkey"));
    json_object_object_add(info, "title", json_object_new_string("Latchkey"));
    json_object_object_add(info, "version", json_object_new_string(LK_VERSION));
    json_object_object_add(res, "serverInfo", info);
    const char *who = c->iid ? lk_printf(a, "instance \"%s\" (its X-Instance-Id header)", c->iid)
                             : "the instance named by each tools/call's X-Instance-Id header";
    lk_json_set_str(res, "instructions",
                    lk_printf(a,
                              "Latchkey serves profile \"%s\" (%s) here, for %s. Tools call the provider with that "
                              "person's own credential, which never leaves Latchkey. When they have not connected "
                              "yet, or a tool needs more access, the call answers with a link for them to open.",
                              c->p->name, c->p->display_name ? c->p->display_name : c->p->name, who));
    return lk_rpc_result(a, c->m.id, res);
}

static json_object *tools_list(mcp_call *c)
{
    json_object *cursor = lk_json_get(c->m.params, "cursor");
    if (cursor && !json_object_is_type(cursor, json_type_string))
        return bad_params(c, "tools/list: params.cursor must be a string.");
    json_object *res = lk_json_object(c->r->a);
    json_object_object_add(res, "tools", json_object_get(lk_tools_list(c->r->a, c->p, c->key.read_only)));
    return lk_rpc_result(c->r->a, c->m.id, res);
}

/* The envelope as lk_rpc_result writes it, around a result already
 * written (copied, not formatted: it is tens of KB). */
static const char *wrap_result(lk_arena *a, json_object *id, const char *result)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":", mid[] = ",\"result\":";
    const char *id_text = lk_json_text(a, id);
    lk_span spans[] = {{head, sizeof(head) - 1},
                       {id_text, strlen(id_text)},
                       {mid, sizeof(mid) - 1},
                       {result, strlen(result)},
                       {"}", 1}};
    return lk_join(a, spans, LK_ARRAY_LEN(spans), NULL);
}

const char *lk_mcp_tool_answer(lk_arena *a, json_object *id, const lk_tool_outcome *out)
{
    if (out->rpc_error == 0 && out->result_text)
        return wrap_result(a, id, out->result_text);
    if (out->rpc_error == 0 && out->result)
        return lk_json_text(a, lk_rpc_result(a, id, out->result));
    if (out->rpc_error == 0)
        return lk_json_text(a, lk_rpc_error(a, id, LK_RPC_INTERNAL_ERROR, "The tool gave no result.", NULL));
    json_object *data = NULL;
    if (out->rpc_error == LK_RPC_URL_ELICITATION && out->elicitation) {
        data = lk_json_object(a);
        json_object *list = json_object_new_array();
        json_object_array_add(list, json_object_get(out->elicitation));
        json_object_object_add(data, "elicitations", list);
    }
    return lk_json_text(
        a, lk_rpc_error(a, id, out->rpc_error, out->message ? out->message : "The tool call failed.", data));
}

static const char *tools_call(mcp_call *c)
{
    lk_arena *a = c->r->a;
    const char *name = lk_json_str(c->m.params, "name");
    json_object *args = lk_json_get(c->m.params, "arguments");
    if (!name)
        return lk_json_text(a, bad_params(c, "tools/call needs params.name (a string)."));
    if (args && !json_object_is_type(args, json_type_object))
        return lk_json_text(a, bad_params(c, "tools/call: params.arguments must be an object."));
    if (!c->iid)
        return lk_json_text(a, bad_params(c, "X-Instance-Id header is required for tools/call"));
    lk_tool_outcome out;
    lk_mdcache_budget((size_t)c->r->cfg->markdown_cache_mb << 20);
    lk_tool_call(c->r, c->p, &c->key, c->iid, name, args ? args : lk_json_object(c->r->a), &out);
    return lk_mcp_tool_answer(c->r->a, c->m.id, &out);
}

/* The answer to one request other than tools/call. */
static json_object *dispatch(mcp_call *c)
{
    const char *m = c->m.method;
    if (!strcmp(m, "initialize"))
        return c->m.params ? initialize(c) : bad_params(c, "initialize needs params.");
    if (!strcmp(m, "ping"))
        return lk_rpc_result(c->r->a, c->m.id, lk_json_object(c->r->a));
    if (!strcmp(m, "tools/list"))
        return tools_list(c);
    return lk_rpc_error(c->r->a, c->m.id, LK_RPC_METHOD_NOT_FOUND, lk_printf(c->r->a, "Method not found: %.64s", m),
                        NULL);
}

/* The answer to one request as JSON text (a tool's result is written
 * once, and may come from the memo as text). */
static const char *answer(mcp_call *c)
{
    if (c->m.params && !json_object_is_type(c->m.params, json_type_object))
        return lk_json_text(c->r->a, bad_params(c, "params must be an object."));
    if (!strcmp(c->m.method, "tools/call"))
        return c->m.params ? tools_call(c) : lk_json_text(c->r->a, bad_params(c, "tools/call needs params."));
    return lk_json_text(c->r->a, dispatch(c));
}

/* ------------------------------------------------------------ transport */

/* True for Content-Type application/json, with parameters or not. */
static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, "; \t");
    return lk_ieqn(ct, n, "application/json");
}

/* SPEC §10 and §2, in order: method, Origin, the bot gate with
 * X-Instance-Id, MCP-Protocol-Version, Accept, the body's type. Fails through
 * lk_fail. */
static bool check_request(lk_req *r, const char *name, mcp_call *c)
{
    if (strcmp(r->method, "POST") != 0) {
        /* Stateless: no stream to GET, no session to DELETE. */
        lk_resp_header(r, "Allow", "POST");
        lk_fail(r, LK_EMETHOD, "MCP is served here statelessly over POST only: no event stream, no session.");
        return false;
    }
    /* The transport's defence against DNS rebinding: a browser page of
     * another origin must not reach a local broker. */
    const char *origin = lk_req_header(r, "HTTP_ORIGIN");
    if (origin && !lk_config_origin_listed(r->cfg->mcp_allowed_origins, origin)) {
        lk_fail(r, LK_EFORBIDDEN, "This Origin is not on mcp_allowed_origins.");
        return false;
    }
    if (lk_bot_gate_header(r, name, NULL, &c->key, &c->p, &c->iid) != LK_OK)
        return false;
    const char *version = lk_req_header(r, "HTTP_MCP_PROTOCOL_VERSION");
    if (version && !lk_mcp_version_supported(version)) {
        lk_fail(r, LK_EINVAL, "Unsupported MCP-Protocol-Version: this server speaks %s, 2025-06-18 and 2025-03-26.",
                LK_MCP_VERSION_NEWEST);
        return false;
    }
    if (!lk_accept_allows(lk_req_header(r, "HTTP_ACCEPT"), "application/json")) {
        lk_fail(r, LK_ENOTACCEPT,
                "Answers here are application/json: Accept must allow it (MCP clients send "
                "\"Accept: application/json, text/event-stream\").");
        return false;
    }
    if (!is_json_type(lk_req_header(r, "CONTENT_TYPE"))) {
        lk_fail(r, LK_EINVAL, "The body must be a JSON-RPC message: Content-Type: application/json.");
        return false;
    }
    return true;
}

/* 202 Accepted, no body: a notification or the client's response. */
static void accepted(lk_req *r)
{
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_send(r, 202, NULL, "", 0);
}

void lk_mcp_endpoint(lk_req *r, const char *name)
{
    mcp_call c = {.r = r};
    if (!check_request(r, name, &c))
        return;
    char *text;
    size_t len;
    if (lk_req_body(r, LK_MCP_BODY_MAX, &text, &len) != LK_OK)
        return;
    json_object *msg = NULL;
    if (lk_json_parse(r->a, text, len, &msg) != LK_OK) {
        lk_resp_json(r, 200, lk_rpc_error(r->a, NULL, LK_RPC_PARSE_ERROR, "Parse error: the body is not JSON.", NULL));
        return;
    }
    lk_rpc_read(msg, &c.m);
    switch (c.m.kind) {
    case LK_RPC_NOTIFICATION:
    case LK_RPC_RESPONSE: accepted(r); return;
    case LK_RPC_INVALID:
        lk_resp_json(r, 200, lk_rpc_error(r->a, c.m.id, LK_RPC_INVALID_REQUEST, c.m.why, NULL));
        return;
    case LK_RPC_REQUEST: lk_resp_json_text(r, 200, answer(&c)); return;
    }
}
