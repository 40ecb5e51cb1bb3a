#include "deliver.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "crypto.h"
#include "db.h"
#include "log.h"
#include "upstream.h"
#include "webhook.h"

struct lk_deliverer {
    const lk_config *cfg;
    lk_config call_cfg; /* cfg with the receivers' timeout (webhook.h) */
    lk_db *db;
    lk_upstream *up;
};

/* One claimed delivery: its row is locked until the transaction ends. */
typedef struct delivery {
    const char *id, *webhook_id, *url, *secret, *previous, *msg_id, *body;
    int attempts; /* made before this one */
} delivery;

/* What became of one attempt. */
typedef struct outcome {
    long status;       /* the receiver's HTTP status; 0: none */
    const char *error; /* why it failed (no secret), NULL: delivered */
    bool give_up;      /* it can never succeed: dead at once */
} outcome;

/* The oldest due delivery that heads its stream (no earlier one of the
 * same receiver and stream pending) and that no other deliverer holds.
 * The body is built here: the event's created_at is its timestamp. */
static lk_stmt q_claim =
    LK_STMT("dl_claim",
            "SELECT d.id, w.id, w.url, w.secret, CASE WHEN w.previous_until > clock_timestamp() THEN "
            "w.previous_secret END, e.msg_id, json_build_object('type', e.type, 'timestamp', "
            "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'data', e.data)::text, "
            "d.attempts FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp() AND NOT EXISTS (SELECT 1 "
            "FROM deliveries p WHERE p.webhook_id = d.webhook_id AND p.stream = d.stream AND p.status = "
            "'pending' AND p.id < d.id) ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
            0);
static lk_stmt q_delivered = LK_STMT("dl_delivered",
                                     "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, "
                                     "last_status = $2::int, last_error = NULL, delivered_at = clock_timestamp() "
                                     "WHERE id = $1::bigint",
                                     2);
/* A failure: retried after $4 seconds, but never later than the end of
 * the retry window, and dead once that has passed (or $5: at once). */
static lk_stmt q_failed =
    LK_STMT("dl_failed",
            "UPDATE deliveries d SET attempts = d.attempts + 1, last_status = $2::int, last_error = $3, "
            "status = CASE WHEN $5::bool OR clock_timestamp() >= e.created_at + make_interval(days => $6::int) "
            "THEN 'dead' ELSE 'pending' END, next_attempt_at = LEAST(e.created_at + make_interval(days => "
            "$6::int), clock_timestamp() + make_interval(secs => $4::float8)) FROM events e WHERE e.id = "
            "d.event_id AND d.id = $1::bigint RETURNING d.attempts, d.status",
            6);
/* Milliseconds until the next retry of a stream's head falls due. */
static lk_stmt q_next_due =
    LK_STMT("dl_next_due",
            "SELECT ceil(extract(epoch FROM d.next_attempt_at - clock_timestamp()) * 1000)::bigint FROM deliveries d "
            "WHERE d.status = 'pending' AND d.next_attempt_at > clock_timestamp() AND NOT EXISTS (SELECT 1 FROM "
            "deliveries p WHERE p.webhook_id = d.webhook_id AND p.stream = d.stream AND p.status = 'pending' AND "
            "p.id < d.id) ORDER BY d.next_attempt_at LIMIT 1",
            0);

lk_deliverer *lk_deliverer_new(const lk_config *cfg)
{
    lk_deliverer *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->cfg = cfg;
    d->call_cfg = *cfg;
    d->call_cfg.http_timeout_ms = LK_WEBHOOK_TIMEOUT_MS;
    /* The row stays locked while its receiver answers: the transaction
     * may idle for a whole call. */
    long idle = lk_config_tx_idle_ms(&d->call_cfg);
    d->db = lk_db_new(cfg->database, "latchkey-events", cfg->connect_timeout_ms, cfg->db_timeout_ms, idle);
    lk_db_listen(d->db, "latchkey_events");
    d->up = lk_upstream_new(&d->call_cfg);
    return d;
}

void lk_deliverer_free(lk_deliverer *d)
{
    if (!d)
        return;
    lk_upstream_free(d->up);
    lk_db_free(d->db);
    free(d);
}

/* Takes one due delivery (*found false: none). */
static lk_err claim(lk_deliverer *d, lk_arena *a, delivery *out, bool *found)
{
    PGresult *res;
    lk_err rc = lk_db_exec(d->db, a, &q_claim, NULL, &res);
    *found = rc == LK_OK && PQntuples(res) == 1;
    if (!*found)
        return rc;
    *out =
        (delivery){lk_db_val(res, 0, 0), lk_db_val(res, 0, 1), lk_db_val(res, 0, 2), lk_db_val(res, 0, 3),
                   lk_db_val(res, 0, 4), lk_db_val(res, 0, 5), lk_db_val(res, 0, 6), (int)lk_db_ll(res, 0, "attempts")};
    return LK_OK;
}

/* The webhook-signature value: the current secret's signature, then the
 * previous one's while it still signs (space separated). */
static lk_err signatures(lk_deliverer *d, lk_arena *a, const delivery *dl, long long ts, char **out)
{
    const char *sealed[] = {dl->secret, dl->previous};
    const char *column[] = {"secret", "previous_secret"};
    *out = "";
    for (size_t i = 0; i < LK_ARRAY_LEN(sealed); i++) {
        if (!sealed[i])
            continue;
        char *secret, *sig;
        lk_err rc = lk_unseal(a, &d->cfg->keys, "webhooks", column[i], dl->webhook_id, sealed[i], &secret, NULL);
        if (rc == LK_OK)
            rc = lk_webhook_sign(a, secret, dl->msg_id, ts, dl->body, strlen(dl->body), &sig);
        if (rc != LK_OK)
            return rc;
        *out = **out ? lk_printf(a, "%s %s", *out, sig) : sig;
    }
    return LK_OK;
}

/* A failure's reason for last_error (never a secret, never the URL). */
static const char *failure(lk_arena *a, lk_err rc, long status)
{
    switch (rc) {
    case LK_OK:
        return status >= 300 && status < 400 ? lk_printf(a, "HTTP %ld (redirects are not followed)", status)
                                             : lk_printf(a, "HTTP %ld", status);
    case LK_ETIMEOUT: return "no answer within 10 s";
    case LK_ETOOBIG: return "the answer was too large";
    case LK_EUPSTREAM: return "could not connect (a private address is refused), or the connection broke";
    case LK_ECRYPTO: return "the signing secret did not open with the key ring";
    default: return lk_err_code(rc);
    }
}

/* Posts the delivery to its receiver, signed for this very attempt. */
static void post(lk_deliverer *d, lk_arena *a, const delivery *dl, outcome *o)
{
    *o = (outcome){0};
    if (!lk_webhook_url_ok(dl->url)) {
        *o = (outcome){0, "the URL is neither https nor http to a loopback host", true};
        return;
    }
    long long ts = (long long)time(NULL);
    char *sigs;
    lk_err rc = signatures(d, a, dl, ts, &sigs);
    if (rc != LK_OK) {
        o->error = failure(a, rc, 0);
        return;
    }
    const char *headers[] = {"Content-Type: application/json", lk_printf(a, "webhook-id: %s", dl->msg_id),
                             lk_printf(a, "webhook-timestamp: %lld", ts), lk_printf(a, "webhook-signature: %s", sigs),
                             NULL};
    lk_http_resp resp;
    rc = lk_upstream_call(d->up, a, lk_webhook_reach(dl->url), "POST", dl->url, headers, dl->body, strlen(dl->body),
                          LK_DELIVER_ANSWER_MAX, &resp);
    /* A 2xx is taken, whatever the length of the answer after it (only
     * its first LK_DELIVER_ANSWER_MAX bytes are read). */
    bool answered = rc == LK_OK || (rc == LK_ETOOBIG && resp.status > 0);
    o->status = answered ? resp.status : 0;
    if (!answered || resp.status < 200 || resp.status > 299)
        o->error = failure(a, answered ? LK_OK : rc, resp.status);
}

/* A uniform draw in [0, 1). */
static double uniform(void)
{
    uint64_t v = 0;
    if (lk_random((unsigned char *)&v, sizeof(v)) != LK_OK)
        abort();
    return (double)(v >> 11) / 9007199254740992.0; /* 2^53 */
}

/* Writes the outcome on the delivery's row (still locked). */
static lk_err record(lk_deliverer *d, lk_arena *a, const delivery *dl, const outcome *o)
{
    const char *status = o->status ? lk_printf(a, "%ld", o->status) : NULL;
    if (!o->error) {
        const char *params[] = {dl->id, status};
        lk_info("delivered %s to webhook %s", dl->msg_id, dl->webhook_id);
        return lk_db_exec(d->db, a, &q_delivered, params, NULL);
    }
    PGresult *res;
    double wait = lk_webhook_backoff(dl->attempts + 1, uniform());
    const char *params[] = {dl->id,
                            status,
                            o->error,
                            lk_printf(a, "%.3f", wait),
                            o->give_up ? "t" : "f",
                            lk_printf(a, "%d", LK_WEBHOOK_RETRY_DAYS)};
    lk_err rc = lk_db_exec(d->db, a, &q_failed, params, &res);
    if (rc == LK_OK)
        lk_warn("delivery of %s to webhook %s failed (attempt %s, now %s): %s", dl->msg_id, dl->webhook_id,
                lk_db_val(res, 0, 0), lk_db_val(res, 0, 1), o->error);
    return rc;
}

/* One delivery, in one transaction: claim, post, record, commit. A commit
 * that fails after a 2xx leaves it pending: it goes again (at least once). */
static lk_err deliver_one(lk_deliverer *d, lk_arena *a, bool *found)
{
    *found = false;
    delivery dl;
    outcome o;
    lk_err rc = lk_db_begin(d->db);
    if (rc == LK_OK)
        rc = claim(d, a, &dl, found);
    if (rc == LK_OK && *found) {
        post(d, a, &dl, &o);
        rc = record(d, a, &dl, &o);
    }
    if (rc == LK_OK)
        rc = lk_db_commit(d->db);
    else
        lk_db_rollback(d->db);
    return rc;
}

/* How long to sleep: until the next retry falls due, at most the poll. */
static long sleep_ms(lk_deliverer *d, lk_arena *a)
{
    PGresult *res;
    if (lk_db_exec(d->db, a, &q_next_due, NULL, &res) != LK_OK || PQntuples(res) != 1)
        return LK_DELIVER_POLL_MS;
    long long ms = lk_db_ll(res, 0, "ceil");
    return ms < 1 ? 1 : ms > LK_DELIVER_POLL_MS ? LK_DELIVER_POLL_MS : (long)ms;
}

/* Sleeps ms (0: not at all) with the signal mask mask, so that a pending
 * stop signal is taken now. */
static void pause_ms(long ms, const sigset_t *mask)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    pselect(0, NULL, NULL, NULL, &ts, mask);
}

void lk_deliverer_run(lk_deliverer *d, const volatile sig_atomic_t *stop, const sigset_t *mask)
{
    lk_info("delivering webhooks");
    while (!*stop) {
        lk_arena *a = lk_arena_new();
        bool found = false;
        lk_err rc = deliver_one(d, a, &found);
        if (rc != LK_OK) {
            lk_warn("deliveries paused: %s", lk_err_code(rc));
            pause_ms(LK_DELIVER_DB_RETRY_MS, mask);
        } else if (found) {
            pause_ms(0, mask);
        } else if (lk_db_wait(d->db, sleep_ms(d, a), mask) != LK_OK) {
            pause_ms(LK_DELIVER_DB_RETRY_MS, mask);
        }
        lk_arena_free(a);
    }
    lk_info("stopped");
}
