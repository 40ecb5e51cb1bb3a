/* The server session of a database handle (SPEC §12): timeouts set by
 * statement, which a pooler passes on, and a marker that tells whether
 * LISTEN/NOTIFY still reaches this process. */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "db_int.h"
#include "log.h"

/* Turns the cache off for good: announcements do not reach this
 * connection, so a cached answer could stay stale forever. */
void lk_db_refuse_cache(lk_db *db, const char *why)
{
    if (db->cache_refused)
        return;
    lk_error("answers are not cached: LISTEN/NOTIFY does not reach this process (%s); a connection pooler "
             "must keep one server session per client (PgBouncer: pool_mode = session)",
             why);
    db->cache_refused = true;
    lk_cache_drop_all(db->cache);
}

/* Runs a one-value query with text parameters on the live connection;
 * the value is copied into out (NULL: SQL NULL or a failure). */
static bool query_value(lk_db *db, const char *sql, int nparams, const char *const *params, char *out, size_t outlen)
{
    PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    if (ok)
        snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ok;
}

/* True when the server session that LISTENs is still the one we talk to:
 * the marker set on connect reads back the same. */
bool lk_db_marker_holds(lk_db *db)
{
    char seen[sizeof(db->marker)];
    db->checked_ms = lk_cache_now_ms();
    return query_value(db, "SELECT current_setting('latchkey.session', true)", 0, NULL, seen, sizeof(seen)) &&
           !strcmp(seen, db->marker);
}

/* Sets up the new connection's server session with one statement: the
 * timeouts (a dead client must not hold a row lock for long, SPEC §5:
 * idle transactions are ended by the server) as settings, not startup
 * options, which PgBouncer refuses; and a marker of our own. Notes
 * whether a pooler sits in between (the backend PID libpq was told is not
 * the server's). Behind a pooler that hands each transaction to any
 * server session, the marker does not read back: a caching handle then
 * refuses its cache, loudly, instead of serving what no announcement can
 * drop. */
lk_err lk_db_setup_session(lk_db *db)
{
    unsigned char raw[LK_DB_MARKER_BYTES];
    if (lk_random(raw, sizeof(raw)) != LK_OK)
        return LK_EINTERNAL;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(db->marker + 2 * i, 3, "%02x", raw[i]);
    char statement[24], idle[24];
    snprintf(statement, sizeof(statement), "%ld", db->statement_ms);
    snprintf(idle, sizeof(idle), "%ld", db->idle_ms);
    const char *params[] = {statement, idle, db->marker};
    char pid[24];
    if (!query_value(db,
                     "SELECT pg_backend_pid() FROM (SELECT set_config('statement_timeout', $1, false), "
                     "set_config('idle_in_transaction_session_timeout', $2, false), "
                     "set_config('latchkey.session', $3, false)) s",
                     3, params, pid, sizeof(pid))) {
        lk_warn("session set-up failed: %s", PQerrorMessage(db->conn));
        return LK_EDB;
    }
    char libpq_pid[24];
    snprintf(libpq_pid, sizeof(libpq_pid), "%d", PQbackendPID(db->conn));
    db->pooled = strcmp(pid, libpq_pid) != 0;
    if (db->pooled && db->cache && !db->cache_refused && !lk_db_marker_holds(db))
        lk_db_refuse_cache(db, "the server session changed between two statements");
    return LK_OK;
}
