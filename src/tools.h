/* MCP tools (SPEC §10): each template ships a table of tools (tools/, embedded
 * at build time); tools/list offers a profile's, tools/call runs one with
 * the connection's credential through the proxy's machinery. */
#ifndef LK_TOOLS_H
#define LK_TOOLS_H

#include <json-c/json.h>

#include "botkey.h"
#include "http.h"
#include "profile.h"

/* One tools/call's outcome. rpc_error 0: a CallToolResult
 * ({"content":[{"type":"text","text":…}], "structuredContent":{…},
 * "isError":bool}), as result_text (its JSON text) when the provider's
 * answer was trimmed, else as result; otherwise a JSON-RPC error: -32602 (unknown tool,
 * bad arguments: message says which), -32042 (consent needed:
 * elicitation is {"mode":"url","elicitationId","url","message"} and
 * message names the url too), -32603 (internal, database: message
 * safe to show). */
typedef struct lk_tool_outcome {
    int rpc_error;
    const char *message;
    json_object *result;
    const char *result_text;
    json_object *elicitation;
} lk_tool_outcome;

/* The JSON-RPC error codes a tool call answers with. */
#define LK_RPC_INVALID_PARAMS (-32602)
#define LK_RPC_INTERNAL (-32603)
#define LK_RPC_URL_ELICITATION (-32042)

/* The tools/list "tools" array offered on profile p: its template's
 * table, narrowed to p->tools when not empty, and to read-only tools
 * (annotations.readOnlyHint) when read_only. An empty array for a
 * template without tools. */
json_object *lk_tools_list(lk_arena *a, const lk_profile *p, bool read_only);

/* Runs tools/call name(arguments) for instance_id on p with the bot's
 * key (key->read_only refuses a tool that is not read-only: -32602
 * with a message saying the key is read-only). Uses r for the
 * database, the upstream handle, the arena and the configuration;
 * leaves r's error state (r->err, r->errors, r->status, r->sent)
 * untouched: everything is in *out. */
void lk_tool_call(lk_req *r, const lk_profile *p, const lk_botkey *key, const char *instance_id, const char *name,
                  json_object *arguments, lk_tool_outcome *out);

/* True when p's template has a tools table (the mcp program may answer
 * tools/list with an empty array otherwise). */
bool lk_tools_offered(const lk_profile *p);

#endif
