/* Metrics (SPEC §11): the counts GET /metrics reports, kept in PostgreSQL
 * as changes happen (sql/010_metrics.sql), and their Prometheus text
 * exposition. Gauges are kept by triggers; the refresh counters and the
 * provider request histogram are written here, in the transaction of what
 * they count. */
#ifndef LK_METRICS_H
#define LK_METRICS_H

#include "buf.h"
#include "config.h"
#include "db.h"
#include "oauth.h"

/* Buckets of latchkey_provider_request_duration_seconds, +Inf included
 * (the length of metric_durations.buckets). */
#define LK_METRICS_BUCKETS 12
/* A scrape's text is at most this long (it grows with the profiles). */
#define LK_METRICS_TEXT_MAX ((size_t)4 * 1024 * 1024)

/* The 1-based bucket of a request that took secs: the first whose upper
 * bound is >= secs, LK_METRICS_BUCKETS (+Inf) past the last bound. */
int lk_metrics_bucket(double secs);
/* The upper bound of bucket i (1-based) as the exposition writes it. */
const char *lk_metrics_bound(int i);
/* The latchkey_refreshes_total outcome of a provider's answer to a
 * refresh: success, invalid_grant, transient_failure or misconfigured. */
const char *lk_metrics_outcome(lk_oauth_fail fail);
/* A monotonic clock in seconds, to time provider requests. */
double lk_metrics_clock(void);

/* A WITH clause that counts one successful refresh of the profile whose
 * id is parameter P and its provider request (bucket B, seconds S: the
 * texts lk_metrics_request gives), put before the statement that stores
 * the refresh: the hot path pays no round trip of its own for it. */
#define LK_METRICS_SUCCESS_WITH(P, B, S)                                                                               \
    "WITH counted AS (UPDATE metric_profile_counts SET n = n + 1 WHERE profile_id = " P "::bigint "                    \
    "AND metric = 'refreshes' AND label = 'success' AND slot = latchkey_metric_slot()), "                              \
    "timed AS (UPDATE metric_durations SET buckets[" B "::int] = buckets[" B "::int] + 1, total = total + 1, "         \
    "sum = sum + " S "::double precision WHERE slot = latchkey_metric_slot()) "

/* The parameters of a provider request of secs for LK_METRICS_SUCCESS_WITH:
 * its bucket and its seconds as text. */
void lk_metrics_request(lk_arena *a, double secs, const char **bucket, const char **seconds);

/* Counts one refresh of profile (its id) with outcome (NULL: none) and the
 * provider request of secs it made (secs < 0: none), in the caller's
 * transaction if one is open. Nothing when cfg->metrics is off. */
lk_err lk_metrics_count(lk_db *db, lk_arena *a, const lk_config *cfg, const char *profile_id, const char *outcome,
                        double secs);

/* The exposition text of every series (Prometheus text format 0.0.4),
 * read from a bounded number of rows: never a scan of connections, links,
 * flows or deliveries. */
lk_err lk_metrics_render(lk_db *db, lk_arena *a, lk_buf *out);

#endif
