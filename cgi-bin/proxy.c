/* proxy: a bot's API call, forwarded to the profile's API base URL with
 * the user's credential injected and streamed back (SPEC §6). */
#include "proxy.h"
#include "serve.h"

static void handle(lk_req *r)
{
    lk_proxy_endpoint(r);
}

int main(void)
{
    return lk_serve("proxy", handle);
}
