/* callback: the provider sends the browser back with a code and the
 * state; the code becomes a stored connection (SPEC §4 step 3). For
 * API-token profiles the person's form posts here instead. */
#include <string.h>

#include "credform.h"
#include "flow.h"
#include "serve.h"

static void handle(lk_req *r, const char *profile)
{
    if (!strcmp(r->method, "POST"))
        lk_flow_credential(r, profile);
    else if (strcmp(r->method, "GET") != 0)
        lk_fail_method(r, "GET, POST");
    else if (!lk_req_param(r, "state") && lk_req_param(r, "connected"))
        lk_flow_connected_page(r, profile);
    else
        lk_flow_callback(r, profile);
}

int main(void)
{
    return lk_serve_profile("callback", handle);
}
