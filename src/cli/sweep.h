/* latchkey sweep's idle refreshes (SPEC §5): one connection, and many at
 * once in worker processes (--parallel). */
#ifndef LK_CLI_SWEEP_H
#define LK_CLI_SWEEP_H

#include "config.h"
#include "db.h"
#include "upstream.h"

/* The most worker processes one sweep forks (--parallel). */
#define SWEEP_PARALLEL_MAX 64

/* Where the report files a connection the sweep looked at. */
typedef enum sweep_bucket { SWEEP_REFRESHED, SWEEP_SKIPPED, SWEEP_FAILED } sweep_bucket;

/* What one sweep refreshes: the idle connections, oldest first (rows of
 * profile name, instance id; borrowed), and the idle clock in days. */
typedef struct sweep_list {
    PGresult *rows;
    long idle_days;
} sweep_list;

/* Refreshes one idle connection through lk_refresh (single-flight under
 * its row lock, the idle check made again there); its bucket, and for a
 * failure the error's code in *error (static). */
sweep_bucket sweep_one(lk_db *db, lk_arena *a, const lk_config *cfg, lk_upstream *up, long idle_days,
                       const char *profile, const char *instance, const char **error);

/* Refreshes every connection of list in workers forked processes (each
 * with its own database connection and curl handle; the k-th takes rows
 * k, k + workers, ...) and fills bucket[i] and error[i] (in a) for row i.
 * A row a worker never reported (it died) is failed, internal_error. */
void sweep_parallel(const lk_config *cfg, const sweep_list *list, int workers, lk_arena *a, sweep_bucket *bucket,
                    const char **error);

#endif
