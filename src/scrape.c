#include "scrape.h"

#include <string.h>

#include "gate.h"
#include "metrics.h"

/* Prometheus text exposition format 0.0.4. */
#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"

void lk_metrics_endpoint(lk_req *r)
{
    const char *rest;
    if (!lk_route_is(r, "metrics", &rest) || *rest) {
        lk_fail(r, LK_ENOPROFILE, "No such route.");
        return;
    }
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        lk_fail_method(r, "GET, HEAD");
        return;
    }
    lk_botkey key;
    if (lk_bot_gate_key(r, &key) != LK_OK)
        return;
    if (!key.metrics) {
        lk_fail(r, LK_EFORBIDDEN, "This API key may not read metrics (latchkey key create --metrics).");
        return;
    }
    lk_buf text;
    lk_buf_init(&text, r->a, LK_METRICS_TEXT_MAX);
    lk_err rc = lk_metrics_render(r->db, r->a, &text);
    if (rc != LK_OK) {
        lk_fail_db(r, rc);
        return;
    }
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_send(r, 200, EXPOSITION_TYPE, lk_buf_str(&text), text.len);
}
