/* refresh: a bot asks for a refresh now; it is coalesced with any refresh
 * of the same connection in flight (SPEC §5). */
#include "cred.h"
#include "serve.h"

static void handle(lk_req *r)
{
    const char *profile;
    if (!lk_route_profile(r, "refresh", &profile)) {
        lk_fail(r, LK_ENOPROFILE, "No such route.");
        return;
    }
    lk_refresh_endpoint(r, profile);
}

int main(void)
{
    return lk_serve("refresh", handle);
}
