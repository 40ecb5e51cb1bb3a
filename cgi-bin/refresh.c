/* refresh: a bot asks for a refresh now; it is coalesced with any refresh
 * of the same connection in flight (SPEC §5). */
#include "cred.h"
#include "serve.h"

int main(void)
{
    return lk_serve_profile("refresh", lk_refresh_endpoint);
}
