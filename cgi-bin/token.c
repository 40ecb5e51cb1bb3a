/* token: a bot pulls a usable credential (GET), refreshed first when it
 * is about to expire, or disconnects a user (DELETE) (SPEC §5). */
#include "cred.h"
#include "serve.h"

int main(void)
{
    return lk_serve_profile("token", lk_token_endpoint);
}
