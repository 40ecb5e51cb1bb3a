/* GET /metrics (SPEC §11): Prometheus scrapes the counts of metrics.h
 * with a bot key made with --metrics. Endpoint layer: it answers. */
#ifndef LK_SCRAPE_H
#define LK_SCRAPE_H

#include "http.h"

/* Serves /metrics: 405 for a method other than GET or HEAD, 401 without a
 * valid key, 403 for a key without --metrics, else the exposition text;
 * any other path 404. */
void lk_metrics_endpoint(lk_req *r);

#endif
