/* token: served from issue 3/4 on; until then every request is answered
 * with a JSON 404 so the web server configuration can name all five. */
#include "serve.h"

static void handle(lk_req *r)
{
    lk_fail(r, LK_ENOPROFILE, "This endpoint is not available in this version.");
}

int main(void)
{
    return lk_serve("token", handle);
}
