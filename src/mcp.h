/* The MCP endpoint (SPEC §10): POST /mcp/{profile} speaks the Model
 * Context Protocol's Streamable HTTP transport (JSON-RPC 2.0) statelessly:
 * no session, one application/json answer per request, 202 for
 * notifications and for the client's responses. Who calls is checked as
 * for the proxy: bot key and X-Instance-Id (gate.h). */
#ifndef LK_MCP_H
#define LK_MCP_H

#include <json-c/json.h>

#include "http.h"
#include "tools.h"

/* The largest JSON-RPC message taken, bytes: the shipped web servers'
 * backstop for Latchkey's routes (1 MiB), room for a page written whole. */
#define LK_MCP_BODY_MAX (1 << 20)
/* The newest protocol version spoken: initialize answers it to a client
 * asking for one this server does not speak. */
#define LK_MCP_VERSION_NEWEST "2025-11-25"

/* JSON-RPC 2.0 error codes (§5.1), and MCP's "URL elicitation required". */
#define LK_RPC_PARSE_ERROR (-32700)
#define LK_RPC_INVALID_REQUEST (-32600)
#define LK_RPC_METHOD_NOT_FOUND (-32601)
#define LK_RPC_INVALID_PARAMS (-32602)
#define LK_RPC_INTERNAL_ERROR (-32603)
#define LK_RPC_URL_ELICITATION (-32042)

/* True when v is a protocol version this server speaks (2025-11-25,
 * 2025-06-18, 2025-03-26). */
bool lk_mcp_version_supported(const char *v);

typedef enum lk_rpc_kind {
    LK_RPC_REQUEST,      /* method and id: answered */
    LK_RPC_NOTIFICATION, /* method, no id: 202 */
    LK_RPC_RESPONSE,     /* the client's answer (result or error, id): 202 */
    LK_RPC_INVALID       /* answered -32600 */
} lk_rpc_kind;

/* One JSON-RPC message, as lk_rpc_read finds it (pointers borrowed from
 * the message). */
typedef struct lk_rpc_msg {
    lk_rpc_kind kind;
    json_object *id;     /* a string or integer id; NULL when absent or unusable */
    const char *method;  /* requests and notifications */
    json_object *params; /* NULL when absent */
    const char *why;     /* LK_RPC_INVALID: the error's message */
} lk_rpc_msg;

/* Reads one parsed JSON-RPC 2.0 message (msg may be NULL for JSON null).
 * A batch (an array) is invalid: MCP 2025-06-18 removed them. */
void lk_rpc_read(json_object *msg, lk_rpc_msg *out);
/* {"jsonrpc":"2.0","id":id (null when NULL),"result":result}, owned by a
 * (id and result are borrowed: a reference is taken). */
json_object *lk_rpc_result(lk_arena *a, json_object *id, json_object *result);
/* {"jsonrpc":"2.0","id":id (null when NULL),"error":{"code","message"
 * [,"data"]}}, owned by a (id and data borrowed, as above). */
json_object *lk_rpc_error(lk_arena *a, json_object *id, int code, const char *message, json_object *data);

/* The answer to a tools/call request id from its outcome (tools.h), as
 * JSON text: the CallToolResult, or the JSON-RPC error, whose data for
 * -32042 is {"elicitations": [elicitation]}; a success without a result
 * is -32603. */
const char *lk_mcp_tool_answer(lk_arena *a, json_object *id, const lk_tool_outcome *out);

/* POST /mcp/{profile}: method (405), Origin (403), the bot gate with
 * X-Instance-Id (401, 403, 404), MCP-Protocol-Version (400), the body
 * (413, 400), then one JSON-RPC message answered. */
void lk_mcp_endpoint(lk_req *r, const char *profile);

#endif
