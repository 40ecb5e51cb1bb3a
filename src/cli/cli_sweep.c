/* latchkey sweep: keeps idle refresh tokens alive, warns of connections
 * about to expire (connection.expiring, SPEC §11), and purges expired
 * links and flows (SPEC §5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "expiry.h"
#include "flow.h"
#include "log.h"
#include "refresh.h"
#include "sweep.h"
#include "text.h"
#include "upstream.h"
#include "webhook.h"

static const char USAGE[] = "usage: latchkey sweep [--idle-days 75] [--warn-days DAYS] [--limit 1000] [--parallel 1]\n"
                            "  Refreshes connections whose last refresh is older than --idle-days (Atlassian\n"
                            "  drops refresh tokens unused for 90 days; using an access token does not count),\n"
                            "  raises connection.expiring once per connection and reason when its refresh token\n"
                            "  would lapse for inactivity or its grant reach its lifetime (as its profile\n"
                            "  declares them) within --warn-days (default: expiry_warning_days, 14), and purges\n"
                            "  expired links and flows. Safe to run from several machines at once.\n"
                            "  --parallel N (1 to 64) runs N refreshes at a time, each in a worker process\n"
                            "  with its own database connection.\n";

static lk_stmt q_idle = LK_STMT("sweep_idle",
                                "SELECT p.name, c.instance_id FROM connections c JOIN profiles p ON "
                                "p.id = c.profile_id WHERE c.refresh_token IS NOT NULL AND c.status <> "
                                "'reauthorization_required' AND GREATEST(c.last_refreshed_at, "
                                "c.grant_issued_at) < now() - make_interval(days => $1::int) ORDER BY "
                                "GREATEST(c.last_refreshed_at, c.grant_issued_at) LIMIT $2::int",
                                2);
/* A whole number of the option's range, or false. */
static bool number(const char *s, long lo, long hi, long *out)
{
    long long v;
    if (!lk_parse_int(s, lo, hi, &v))
        return false;
    *out = (long)v;
    return true;
}

/* The limits of one sweep (SPEC §5), as --help tells them. */
typedef struct sweep_args {
    long idle, warn, limit, parallel;
} sweep_args;

/* What became of the connections a sweep looked at. */
typedef struct sweep_report {
    json_object *refreshed, *skipped, *failed, *expiring;
} sweep_report;

/* 0 once read, or the exit status (--help: 0; a bad option: 2; a number
 * out of range: 1). */
static int read_sweep_args(int argc, char **argv, sweep_args *in, bool *done)
{
    static const struct option opts[] = {{"idle-days", required_argument, 0, 'i'},
                                         {"warn-days", required_argument, 0, 'w'},
                                         {"limit", required_argument, 0, 'n'},
                                         {"parallel", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    *done = true;
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        bool ok = true;
        switch (o) {
        case 'i': ok = number(optarg, 0, 3650, &in->idle); break;
        case 'w': ok = number(optarg, 0, 3650, &in->warn); break;
        case 'n': ok = number(optarg, 1, 1000000, &in->limit); break;
        case 'p': ok = number(optarg, 1, SWEEP_PARALLEL_MAX, &in->parallel); break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: return cli_usage(USAGE);
        }
        if (!ok)
            return cli_fail("sweep: %s is out of range (see --help)", optarg);
    }
    if (optind != argc)
        return cli_usage(USAGE);
    *done = false;
    return 0;
}

/* Files row i of the idle list under its bucket of the report, in the
 * order of the list (the oldest first) whatever the order of the work. */
static void file_row(PGresult *res, int i, sweep_bucket b, const char *error, sweep_report *out)
{
    json_object *item = json_object_new_object();
    lk_json_set_str(item, "profile", lk_db_val(res, i, 0));
    lk_json_set_str(item, "instance_id", lk_db_val(res, i, 1));
    if (b == SWEEP_FAILED)
        lk_json_set_str(item, "error", error);
    json_object_array_add(b == SWEEP_REFRESHED ? out->refreshed
                          : b == SWEEP_SKIPPED ? out->skipped
                                               : out->failed,
                          item);
}

/* Refreshes the connections idle for longer than --idle-days, the oldest
 * first, at most --limit of them, --parallel at a time. */
static lk_err sweep_idle(cli *c, const sweep_args *in, sweep_report *out)
{
    lk_arena *a = c->a;
    const char *params[] = {lk_printf(a, "%ld", in->idle), lk_printf(a, "%ld", in->limit)};
    PGresult *res;
    lk_err rc = lk_db_exec(c->db, a, &q_idle, params, &res);
    if (rc != LK_OK)
        return rc;
    int n = PQntuples(res);
    if (in->parallel > 1 && n > 1) {
        sweep_list list = {res, in->idle};
        sweep_bucket *bucket = lk_alloc(a, sizeof(*bucket) * (size_t)n);
        const char **error = lk_alloc(a, sizeof(*error) * (size_t)n);
        sweep_parallel(&c->cfg, &list, (int)in->parallel, a, bucket, error);
        for (int i = 0; i < n; i++)
            file_row(res, i, bucket[i], error[i], out);
        return LK_OK;
    }
    lk_upstream *up = lk_upstream_new(&c->cfg);
    for (int i = 0; i < n; i++) {
        const char *error;
        sweep_bucket b = sweep_one(c->db, a, &c->cfg, up, in->idle, lk_db_val(res, i, 0), lk_db_val(res, i, 1), &error);
        file_row(res, i, b, error, out);
    }
    lk_upstream_free(up);
    return LK_OK;
}

static void print_report(cli *c, const sweep_report *r)
{
    if (c->json) {
        json_object *out = lk_json_object(c->a);
        json_object_object_add(out, "refreshed", json_object_get(r->refreshed));
        json_object_object_add(out, "skipped", json_object_get(r->skipped));
        json_object_object_add(out, "failed", json_object_get(r->failed));
        json_object_object_add(out, "expiring", json_object_get(r->expiring));
        cli_print_json(out);
        return;
    }
    printf("refreshed %zu, skipped %zu, failed %zu\n", json_object_array_length(r->refreshed),
           json_object_array_length(r->skipped), json_object_array_length(r->failed));
    for (size_t i = 0; i < json_object_array_length(r->failed); i++) {
        json_object *it = json_object_array_get_idx(r->failed, i);
        printf("failed: %s/%s: %s\n", lk_json_str(it, "profile"), lk_json_str(it, "instance_id"),
               lk_json_str(it, "error"));
    }
    for (size_t i = 0; i < json_object_array_length(r->expiring); i++) {
        json_object *it = json_object_array_get_idx(r->expiring, i);
        bool grant = !strcmp(lk_json_str(it, "reason"), LK_EXPIRY_GRANT);
        printf("%s: %s/%s at %s: %s\n", grant ? "grant ends soon" : "refresh token lapses soon",
               lk_json_str(it, "profile"), lk_json_str(it, "instance_id"), lk_json_str(it, "expires_at"),
               grant ? "the user must consent again before then" : "a refresh before then keeps it alive");
    }
}

int cli_sweep(cli *c, int argc, char **argv)
{
    sweep_args in = {.idle = 75, .warn = -1, .limit = 1000, .parallel = 1};
    bool done;
    int status = read_sweep_args(argc, argv, &in, &done);
    if (done)
        return status;
    if (cli_db(c))
        return 1;
    if (in.warn < 0)
        in.warn = c->cfg.expiry_warning_days;
    lk_arena *a = c->a;
    lk_flow_purge(c->db, a, &c->cfg, true);
    long long purged;
    if (lk_webhook_purge(c->db, a, &purged) != LK_OK)
        lk_warn("purge of delivered events failed");
    sweep_report r = {lk_json_array(a), lk_json_array(a), lk_json_array(a), lk_json_array(a)};
    lk_err rc = sweep_idle(c, &in, &r);
    if (rc == LK_OK)
        rc = lk_expiry_warn(c->db, a, in.warn, r.expiring);
    if (rc != LK_OK)
        return cli_fail("sweep: %s", cli_reason(rc));
    print_report(c, &r);
    return json_object_array_length(r.failed) ? 1 : 0;
}
