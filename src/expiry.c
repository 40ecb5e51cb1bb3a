#include "expiry.h"

#include <string.h>

#include "json.h"

/* Warnings whose forecast moved or vanished, removed entry by entry only
 * while they still hold the value found stale (a concurrent sweep's new
 * warning stays). */
static lk_stmt q_forget =
    LK_STMT("expiry_forget",
            "WITH stale AS (SELECT c.id, w.key, w.value FROM connections c JOIN profiles p ON p.id = c.profile_id "
            "CROSS JOIN LATERAL jsonb_each(c.expiry_warnings) AS w WHERE c.expiry_warnings <> '{}' AND "
            "latchkey_iso(latchkey_expiry_forecast(c, p, w.key)) IS DISTINCT FROM w.value #>> '{}') "
            "UPDATE connections c SET expiry_warnings = (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') "
            "FROM jsonb_each(c.expiry_warnings) AS e WHERE NOT EXISTS (SELECT 1 FROM stale s WHERE s.id = c.id AND "
            "s.key = e.key AND s.value = e.value)) WHERE c.id IN (SELECT id FROM stale)",
            0);
/* The forecasts within the window, the soonest first. */
static lk_stmt q_due =
    LK_STMT("expiry_due",
            "SELECT c.id, p.name, c.instance_id, c.status, r.reason, latchkey_iso(x.f) AS expires_at, "
            "c.expiry_warnings ->> r.reason IS NOT DISTINCT FROM latchkey_iso(x.f) AS warned FROM connections c "
            "JOIN profiles p ON p.id = c.profile_id CROSS JOIN (VALUES ('refresh_token_idle'), ('grant_lifetime')) "
            "AS r(reason) CROSS JOIN LATERAL (SELECT latchkey_expiry_forecast(c, p, r.reason) AS f) AS x "
            "WHERE c.status <> 'reauthorization_required' AND ((c.refresh_token IS NOT NULL AND c.status <> "
            "'reauthorization_required' AND "
            "GREATEST(c.last_refreshed_at, c.grant_issued_at) <= now() + make_interval(hours => 24 * ($1::int - "
            "$3::int))) OR c.grant_issued_at <= now() + make_interval(hours => 24 * ($1::int - $4::int))) AND "
            "x.f IS NOT NULL AND x.f <= now() + make_interval(hours => 24 * $1::int) "
            "ORDER BY x.f, c.id, r.reason LIMIT $2::int",
            4);
/* The shortest idle and grant lifetimes any profile declares: with them
 * q_due's first test, implied by its forecast test, reads the index of
 * sql/012_sweep.sql on grant_issued_at where it can. */
static lk_stmt q_shortest =
    LK_STMT("expiry_shortest", "SELECT min(refresh_token_idle_days), min(grant_lifetime_days) FROM profiles", 0);
/* Records one warning, if the forecast still holds under the row's lock
 * and no one warned of it yet: the row's profile, instance and status. */
static lk_stmt q_mark =
    LK_STMT("expiry_mark",
            "UPDATE connections c SET expiry_warnings = c.expiry_warnings || jsonb_build_object($2::text, $3::text) "
            "FROM profiles p WHERE c.id = $1 AND p.id = c.profile_id AND c.status <> 'reauthorization_required' AND "
            "c.expiry_warnings ->> $2 IS DISTINCT FROM $3 AND latchkey_iso(latchkey_expiry_forecast(c, p, $2)) = $3 "
            "RETURNING p.name, c.instance_id, c.status",
            3);
static lk_stmt q_event = LK_STMT("expiry_event",
                                 "SELECT latchkey_event('connection.expiring', $1, $2, jsonb_build_object("
                                 "'profile', $1::text, 'instance_id', $2::text, 'status', $3::text, "
                                 "'reason', $4::text, 'expires_at', $5::text))",
                                 5);

/* In one transaction: marks the warning of reason for connection id and
 * raises its event; *raised is false when it no longer applies or another
 * sweep raised it first. */
static lk_err raise_one(lk_db *db, lk_arena *a, const char *id, const char *reason, const char *expires_at,
                        bool *raised)
{
    *raised = false;
    lk_err rc = lk_db_begin(db);
    if (rc != LK_OK)
        return rc;
    const char *mark[] = {id, reason, expires_at};
    PGresult *res;
    rc = lk_db_exec(db, a, &q_mark, mark, &res);
    if (rc == LK_OK && PQntuples(res) == 1) {
        const char *ev[] = {lk_db_val(res, 0, 0), lk_db_val(res, 0, 1), lk_db_val(res, 0, 2), reason, expires_at};
        rc = lk_db_exec(db, a, &q_event, ev, NULL);
        *raised = rc == LK_OK;
    }
    if (rc == LK_OK)
        rc = lk_db_commit(db);
    else
        lk_db_rollback(db);
    if (rc != LK_OK)
        *raised = false;
    return rc;
}

lk_err lk_expiry_warn(lk_db *db, lk_arena *a, long warn_days, json_object *report)
{
    lk_err rc = lk_db_exec(db, a, &q_forget, NULL, NULL);
    if (rc != LK_OK)
        return rc;
    PGresult *res;
    rc = lk_db_exec(db, a, &q_shortest, NULL, &res);
    if (rc != LK_OK)
        return rc;
    const char *params[] = {lk_printf(a, "%ld", warn_days), lk_printf(a, "%d", LK_EXPIRY_SCAN_MAX),
                            lk_db_val(res, 0, 0), lk_db_val(res, 0, 1)};
    rc = lk_db_exec(db, a, &q_due, params, &res);
    if (rc != LK_OK)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == LK_OK; i++) {
        const char *reason = lk_db_get(res, i, "reason"), *expires_at = lk_db_get(res, i, "expires_at");
        bool raised = false;
        if (!lk_db_bool(res, i, "warned"))
            rc = raise_one(db, a, lk_db_get(res, i, "id"), reason, expires_at, &raised);
        json_object *item = json_object_new_object();
        lk_json_set_str(item, "profile", lk_db_get(res, i, "name"));
        lk_json_set_str(item, "instance_id", lk_db_get(res, i, "instance_id"));
        lk_json_set_str(item, "status", lk_db_get(res, i, "status"));
        lk_json_set_str(item, "reason", reason);
        lk_json_set_str(item, "expires_at", expires_at);
        json_object_object_add(item, "event", json_object_new_boolean(raised));
        json_object_array_add(report, item);
    }
    return rc;
}
