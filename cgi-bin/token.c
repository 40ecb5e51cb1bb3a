/* token: a bot pulls a usable credential (GET), refreshed first when it
 * is about to expire, or disconnects a user (DELETE) (SPEC §5). */
#include "cred.h"
#include "serve.h"

static void handle(lk_req *r)
{
    const char *profile;
    if (!lk_route_profile(r, "token", &profile)) {
        lk_fail(r, LK_ENOPROFILE, "No such route.");
        return;
    }
    lk_token_endpoint(r, profile);
}

int main(void)
{
    return lk_serve("token", handle);
}
