/* mcp: the Model Context Protocol for agents (SPEC §10), served
 * statelessly over POST /mcp/{profile}: tools that act for one person with
 * their credential, which never leaves Latchkey. */
#include "mcp.h"
#include "serve.h"

int main(void)
{
    return lk_serve_profile("mcp", lk_mcp_endpoint);
}
