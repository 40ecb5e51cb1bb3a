/* metrics: GET /metrics, the counts of SPEC §11 in the Prometheus text
 * format, for a bot key made with --metrics. */
#include "scrape.h"
#include "serve.h"

int main(void)
{
    return lk_serve("metrics", lk_metrics_endpoint);
}
