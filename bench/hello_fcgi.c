/* The benchmark's yardstick: a FastCGI responder that answers a fixed,
 * token-sized JSON body without any work (bench/token.sh). */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char BODY[] =
    "{\"access_token\":\"at_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG\",\"token_type\":\"Bearer\","
    "\"expires_at\":\"2026-11-22T10:00:00Z\",\"expires_in\":3541,\"scope\":\"read:confluence-content.all "
    "offline_access\",\"profile\":\"confluence\",\"instance_id\":\"user_123\",\"metadata\":{\"cloud_id\":"
    "\"11111111-1111-4111-8111-111111111111\",\"site_url\":\"https://acme.atlassian.net\"},"
    "\"api_base_url\":\"https://api.atlassian.com/ex/confluence/11111111-1111-4111-8111-111111111111\"}";

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    FCGX_Init();
    FCGX_Request rq;
    FCGX_InitRequest(&rq, 0, 0);
    /* The same headers as a Latchkey answer, built once. */
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n\r\n",
                     strlen(BODY));
    while (FCGX_Accept_r(&rq) >= 0) {
        FCGX_PutStr(head, n, rq.out);
        FCGX_PutStr(BODY, (int)strlen(BODY), rq.out);
        /* The same fast close as Latchkey's programs (src/serve.c): read
         * the input to its end, then close without libfcgi's wait for the
         * web server to close first, so the yardstick is as quick as ours. */
        char sink[4096];
        while (FCGX_GetStr(sink, (int)sizeof(sink), rq.in) > 0)
            ;
        rq.keepConnection = 1;
        FCGX_Finish_r(&rq);
        if (rq.ipcFd >= 0) {
            close(rq.ipcFd);
            rq.ipcFd = -1;
        }
    }
    return 0;
}
