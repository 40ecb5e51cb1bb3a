#include "metrics.h"

#include <string.h>
#include <time.h>

/* Upper bounds of the provider request buckets, in seconds: token
 * endpoints answer in tens of milliseconds when well, and a request is cut
 * at http_timeout_ms (10 s by default). */
static const char *const BOUNDS[LK_METRICS_BUCKETS - 1] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                                           "0.5",   "1",    "2.5",   "5",    "10"};
static const double BOUND_SECS[LK_METRICS_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static lk_stmt q_count =
    LK_STMT("metrics_count", "SELECT latchkey_metric_refresh($1::bigint, $2, $3::int, $4::double precision)", 4);
/* Every profile's connections by status and refreshes by outcome, zeros
 * included (a counter present from the start): profiles x 7 x 8 rows. */
static lk_stmt q_profiles =
    LK_STMT("metrics_profiles",
            "SELECT p.name, k.metric, k.label, COALESCE(sum(m.n), 0)::bigint AS n FROM profiles p "
            "CROSS JOIN (VALUES (1, 'connections', 'active'), (2, 'connections', 'refresh_failing'), "
            "(3, 'connections', 'reauthorization_required'), (4, 'refreshes', 'success'), "
            "(5, 'refreshes', 'transient_failure'), (6, 'refreshes', 'invalid_grant'), "
            "(7, 'refreshes', 'misconfigured')) AS k (o, metric, label) "
            "LEFT JOIN metric_profile_counts m ON m.profile_id = p.id AND m.metric = k.metric "
            "AND m.label = k.label GROUP BY k.o, p.name, k.metric, k.label ORDER BY k.o < 4 DESC, p.name, k.o",
            0);
static lk_stmt q_gauges =
    LK_STMT("metrics_gauges", "SELECT metric, sum(n)::bigint AS n FROM metric_counts GROUP BY metric", 0);
/* The buckets summed over the slots, and the seconds, in one snapshot. */
static lk_stmt q_histogram = LK_STMT("metrics_histogram",
                                     "SELECT u.i, sum(u.b)::bigint AS n, "
                                     "(SELECT COALESCE(sum(d2.sum), 0) FROM metric_durations d2) AS secs "
                                     "FROM metric_durations d, unnest(d.buckets) WITH ORDINALITY AS u (b, i) "
                                     "GROUP BY u.i ORDER BY u.i",
                                     0);

int lk_metrics_bucket(double secs)
{
    for (int i = 0; i < LK_METRICS_BUCKETS - 1; i++)
        if (secs <= BOUND_SECS[i])
            return i + 1;
    return LK_METRICS_BUCKETS;
}

const char *lk_metrics_bound(int i)
{
    return i >= 1 && i < LK_METRICS_BUCKETS ? BOUNDS[i - 1] : "+Inf";
}

const char *lk_metrics_outcome(lk_oauth_fail fail)
{
    switch (fail) {
    case LK_OAUTH_OK: return "success";
    case LK_OAUTH_GRANT: return "invalid_grant";
    case LK_OAUTH_TRANSIENT: return "transient_failure";
    case LK_OAUTH_CONFIG:
    case LK_OAUTH_NONSENSE: return "misconfigured";
    }
    return "misconfigured";
}

double lk_metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lk_metrics_request(lk_arena *a, double secs, const char **bucket, const char **seconds)
{
    *bucket = lk_printf(a, "%d", lk_metrics_bucket(secs));
    *seconds = lk_printf(a, "%.6f", secs);
}

lk_err lk_metrics_count(lk_db *db, lk_arena *a, const lk_config *cfg, const char *profile_id, const char *outcome,
                        double secs)
{
    if (!cfg->metrics)
        return LK_OK;
    const char *params[] = {profile_id, outcome, NULL, NULL};
    if (secs >= 0)
        lk_metrics_request(a, secs, &params[2], &params[3]);
    return lk_db_exec(db, a, &q_count, params, NULL);
}

/* One family's # HELP and # TYPE lines. */
static lk_err family(lk_buf *out, const char *name, const char *type, const char *help)
{
    return lk_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The rows of q_profiles for metric as name{profile=…,label_name=…}.
 * Profile names need no escaping: SPEC §2 allows only [a-z0-9_-]. */
static lk_err profile_family(lk_buf *out, PGresult *res, const char *metric, const char *name, const char *type,
                             const char *label_name, const char *help)
{
    lk_err rc = family(out, name, type, help);
    for (int i = 0; rc == LK_OK && i < PQntuples(res); i++)
        if (!strcmp(lk_db_val(res, i, 1), metric))
            rc = lk_buf_printf(out, "%s{profile=\"%s\",%s=\"%s\"} %s\n", name, lk_db_val(res, i, 0), label_name,
                               lk_db_val(res, i, 2), lk_db_val(res, i, 3));
    return rc;
}

/* The histogram: cumulative buckets, _sum and _count. */
static lk_err histogram(lk_buf *out, PGresult *res)
{
    static const char name[] = "latchkey_provider_request_duration_seconds";
    lk_err rc = family(out, name, "histogram",
                       "Time the provider's token endpoint took to answer (refresh and "
                       "code exchange), in seconds.");
    long long cumulative = 0;
    for (int i = 0; rc == LK_OK && i < PQntuples(res); i++) {
        cumulative += lk_db_ll(res, i, "n");
        rc = lk_buf_printf(out, "%s_bucket{le=\"%s\"} %lld\n", name, lk_metrics_bound((int)lk_db_ll(res, i, "i")),
                           cumulative);
    }
    const char *secs = PQntuples(res) ? lk_db_get(res, 0, "secs") : "0";
    if (rc == LK_OK)
        rc = lk_buf_printf(out, "%s_sum %s\n%s_count %lld\n", name, secs ? secs : "0", name, cumulative);
    return rc;
}

/* The gauges without labels, from q_gauges. */
static lk_err plain_gauges(lk_buf *out, PGresult *res)
{
    static const char *const g[][3] = {
        {"deliveries_pending", "latchkey_webhook_deliveries_pending", "Webhook deliveries not yet delivered."},
        {"deliveries_dead", "latchkey_webhook_deliveries_dead", "Webhook deliveries given up after 3 days."},
        {"links_pending", "latchkey_links_pending", "Authorization links handed out, not yet used nor purged."},
        {"flows_pending", "latchkey_flows_pending", "Browser flows started, not yet finished nor purged."},
    };
    lk_err rc = LK_OK;
    for (size_t k = 0; rc == LK_OK && k < LK_ARRAY_LEN(g); k++) {
        const char *n = "0";
        for (int i = 0; i < PQntuples(res); i++)
            if (!strcmp(lk_db_val(res, i, 0), g[k][0]))
                n = lk_db_val(res, i, 1);
        rc = family(out, g[k][1], "gauge", g[k][2]);
        if (rc == LK_OK)
            rc = lk_buf_printf(out, "%s %s\n", g[k][1], n);
    }
    return rc;
}

lk_err lk_metrics_render(lk_db *db, lk_arena *a, lk_buf *out)
{
    PGresult *prof = NULL, *gauges = NULL, *hist = NULL;
    lk_err rc = lk_db_exec(db, a, &q_profiles, NULL, &prof);
    if (rc == LK_OK)
        rc = lk_db_exec(db, a, &q_gauges, NULL, &gauges);
    if (rc == LK_OK)
        rc = lk_db_exec(db, a, &q_histogram, NULL, &hist);
    if (rc == LK_OK)
        rc = profile_family(out, prof, "connections", "latchkey_connections", "gauge", "status",
                            "Connections by profile and status.");
    if (rc == LK_OK)
        rc = profile_family(out, prof, "refreshes", "latchkey_refreshes_total", "counter", "outcome",
                            "Refreshes that asked the provider, by profile and outcome.");
    if (rc == LK_OK)
        rc = histogram(out, hist);
    if (rc == LK_OK)
        rc = plain_gauges(out, gauges);
    return rc;
}
