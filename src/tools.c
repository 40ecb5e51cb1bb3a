/* PLACEHOLDER until the tools engineer's tools.c is merged: no tool is
 * offered, and every call is an unknown tool. */
#include "tools.h"

#include <string.h>

#include "json.h"

json_object *lk_tools_list(lk_arena *a, const lk_profile *p, bool read_only)
{
    (void)p;
    (void)read_only;
    return lk_json_array(a);
}

void lk_tool_call(lk_req *r, const lk_profile *p, const lk_botkey *key, const char *instance_id, const char *name,
                  json_object *arguments, lk_tool_outcome *out)
{
    (void)p;
    (void)key;
    (void)instance_id;
    (void)arguments;
    memset(out, 0, sizeof(*out));
    out->rpc_error = -32602;
    out->message = lk_printf(r->a, "unknown tool: %.64s", name);
}
