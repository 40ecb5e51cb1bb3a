/* authorize: a bot asks for an authorization link (POST), and a browser
 * opens it (GET), or arrives through the seed form
 * GET /oauth/{profile}/authorize?instance_id=… (SPEC §2, §4). */
#include <string.h>

#include "flow.h"
#include "link.h"
#include "serve.h"

static void handle(lk_req *r)
{
    const char *profile;
    bool seed_form = false;
    if (!lk_route_profile(r, "authorize", &profile)) {
        if (!lk_route_seed_form(r, &profile)) {
            lk_fail(r, LK_ENOPROFILE, "No such route.");
            return;
        }
        seed_form = true;
    }
    if (!strcmp(r->method, "POST") && !seed_form)
        lk_link_endpoint(r, profile);
    else if (!strcmp(r->method, "GET"))
        lk_flow_begin(r, profile, seed_form);
    else
        lk_fail_method(r, seed_form ? "GET" : "GET, POST");
}

int main(void)
{
    return lk_serve("authorize", handle);
}
