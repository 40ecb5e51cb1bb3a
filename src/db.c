#include "db.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "cache.h"
#include "db_int.h"
#include "log.h"
#include "text.h"

/* The struct a decoded row becomes, in bytes: lk_conn (240 on x86-64),
 * the one kept by the thousand. Larger ones (a profile) take a second
 * block of their arena. */
#define LK_DB_OBJ_STRUCT ((size_t)256)

lk_db *lk_db_new(const char *conninfo, const char *appname, long connect_timeout_ms, long statement_ms, long idle_ms)
{
    lk_db *db = calloc(1, sizeof(*db));
    if (!db)
        abort();
    db->conninfo = strdup(conninfo ? conninfo : "");
    db->appname = strdup(appname);
    if (!db->conninfo || !db->appname)
        abort();
    db->connect_timeout_ms = connect_timeout_ms;
    db->statement_ms = statement_ms;
    db->idle_ms = idle_ms;
    return db;
}

void lk_db_free(lk_db *db)
{
    if (!db)
        return;
    lk_cache_free(db->cache);
    if (db->conn)
        PQfinish(db->conn);
    free(db->prepared);
    free(db->conninfo);
    free(db->appname);
    free(db);
}

/* Closes the connection (if any); a transaction on it is gone. */
static void disconnect(lk_db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->in_tx = false;
}

/* LISTENs on channel (an identifier of ours, never input); a failure
 * closes the connection. */
static lk_err listen_on(lk_db *db, const char *channel)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    PGresult *res = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return LK_OK;
    lk_warn("LISTEN failed: %s", PQerrorMessage(db->conn));
    PQfinish(db->conn);
    db->conn = NULL;
    return LK_EDB;
}

static lk_err connect_db(lk_db *db)
{
    char ctimeout[24], utimeout[24];
    long secs = (db->connect_timeout_ms + 999) / 1000;
    if (secs < 2)
        secs = 2;
    snprintf(ctimeout, sizeof(ctimeout), "%ld", secs);
    /* A server that vanished (its machine lost, its network cut: no reset
     * comes) is given up when what we sent stays unacknowledged as long as
     * a connection may take (TCP_USER_TIMEOUT), or when an idle or waiting
     * connection's keepalives go unanswered (the first after 2 s of
     * silence: a request whose reply will never come waits about 4 s, not
     * the 10 to 25 s of longer keepalives; a live server's kernel answers
     * them however busy it is): then the next host of a multi-host
     * conninfo is tried (SPEC §12). */
    snprintf(utimeout, sizeof(utimeout), "%ld", secs * 1000);
    const char *keys[] = {
        "dbname",          "application_name",    "connect_timeout",  "tcp_user_timeout", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", "client_encoding",  NULL};
    const char *vals[] = {db->conninfo, db->appname, ctimeout, utimeout, "1", "2", "1", "3", "UTF8", NULL};
    /* An empty conninfo leaves dbname to PGDATABASE. */
    PGconn *c = PQconnectdbParams(*db->conninfo ? keys : keys + 1, *db->conninfo ? vals : vals + 1, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        /* libpq's message can name the host, never a password we do not hold. */
        lk_warn("database unreachable: %s", c ? PQerrorMessage(c) : "out of memory");
        if (c)
            PQfinish(c);
        return LK_EDB;
    }
    db->conn = c;
    db->epoch++;
    db->in_tx = false;
    db->heard_ms = lk_cache_now_ms();
    /* A caching handle hears of every change to a cached row (sql/002) on
     * each new connection, before it answers from the cache. */
    lk_err rc = lk_db_setup_session(db);
    if (rc == LK_OK && db->cache)
        rc = listen_on(db, "latchkey");
    if (rc == LK_OK && db->channel)
        rc = listen_on(db, db->channel);
    if (rc != LK_OK)
        disconnect(db);
    return rc;
}

lk_err lk_db_ensure(lk_db *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return LK_OK;
    disconnect(db);
    return connect_db(db);
}

PGconn *lk_db_conn(lk_db *db)
{
    return db->conn;
}

void lk_db_listen(lk_db *db, const char *channel)
{
    db->channel = channel;
}

/* Drains the notifications read so far; true when there was one. */
static bool drain_notifies(PGconn *c)
{
    bool any = false;
    for (PGnotify *n = PQnotifies(c); n; n = PQnotifies(c)) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

lk_err lk_db_wait(lk_db *db, long timeout_ms, const sigset_t *mask)
{
    lk_err rc = lk_db_ensure(db);
    if (rc != LK_OK)
        return rc;
    if (PQconsumeInput(db->conn) != 1)
        goto lost;
    if (drain_notifies(db->conn) || timeout_ms <= 0)
        return LK_OK;
    int fd = PQsocket(db->conn);
    if (fd < 0 || fd >= FD_SETSIZE)
        goto lost;
    fd_set in;
    FD_ZERO(&in);
    FD_SET(fd, &in);
    struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    if (pselect(fd + 1, &in, NULL, NULL, &ts, mask) <= 0) /* the time is up, or a signal came */
        return LK_OK;
    if (PQconsumeInput(db->conn) != 1)
        goto lost;
    drain_notifies(db->conn);
    return LK_OK;
lost:
    lk_warn("database connection lost: %s", PQerrorMessage(db->conn));
    disconnect(db);
    return LK_EDB;
}

const char *lk_db_sqlstate(const lk_db *db)
{
    return db->sqlstate;
}

static void clear_result(void *p)
{
    PQclear(p);
}

static lk_err classify(lk_db *db, PGresult *res, const char *what)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", st ? st : "");
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
        return LK_EDB;
    if (st && !strcmp(st, "23505"))
        return LK_ECONFLICT;
    /* Class 08 (connection), 57P (shutdown), 53 (resources): try later. */
    if (st && (!strncmp(st, "08", 2) || !strncmp(st, "57P", 3) || !strncmp(st, "53", 2)))
        return LK_EDB;
    /* 55P03 lock_not_available, 57014 query_canceled (timeouts). */
    if (st && (!strcmp(st, "55P03") || !strcmp(st, "57014")))
        return LK_EDB;
    lk_error("database statement %s failed: %s", what,
             res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(db->conn));
    return LK_EINTERNAL;
}

/* Where db notes the connection epoch st was prepared on (0: never).
 * Statements are numbered on first use, process-wide, so that each handle
 * keeps its own note for each statement. */
static unsigned long *prepared_note(lk_db *db, lk_stmt *st)
{
    if (!st->id) {
        static size_t numbered;
        st->id = ++numbered;
    }
    if (st->id >= db->prepared_len) {
        size_t len = db->prepared_len ? db->prepared_len * 2 : LK_DB_STMTS_INITIAL;
        while (len <= st->id)
            len *= 2;
        unsigned long *grown = realloc(db->prepared, len * sizeof(*grown));
        if (!grown)
            abort();
        memset(grown + db->prepared_len, 0, (len - db->prepared_len) * sizeof(*grown));
        db->prepared = grown;
        db->prepared_len = len;
    }
    return &db->prepared[st->id];
}

/* Prepares st on the current connection unless it already is. */
static lk_err prepare(lk_db *db, lk_stmt *st)
{
    unsigned long *note = prepared_note(db, st);
    if (*note == db->epoch)
        return LK_OK;
    PGresult *res = PQprepare(db->conn, st->name, st->sql, st->nparams, NULL);
    lk_err rc = LK_OK;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = classify(db, res, st->name);
    else
        *note = db->epoch;
    PQclear(res);
    return rc;
}

lk_err lk_db_exec(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, PGresult **out)
{
    db->sqlstate[0] = '\0';
    for (int attempt = 0; attempt < 2; attempt++) {
        lk_err rc = lk_db_ensure(db);
        if (rc != LK_OK)
            return rc;
        rc = prepare(db, st);
        if (rc == LK_OK) {
            PGresult *res = PQexecPrepared(db->conn, st->name, st->nparams, params, NULL, NULL, 0);
            ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
                db->heard_ms = lk_cache_now_ms();
                if (out) {
                    lk_arena_defer(a, clear_result, res);
                    *out = res;
                } else {
                    PQclear(res);
                }
                return LK_OK;
            }
            rc = classify(db, res, st->name);
            PQclear(res);
        }
        /* The server went away (restart, failover): outside a transaction
         * nothing was half done, so connect again and retry once. */
        bool lost = !db->conn || PQstatus(db->conn) != CONNECTION_OK;
        if (!lost || db->in_tx) {
            if (lost)
                disconnect(db);
            return rc;
        }
        disconnect(db);
    }
    return LK_EDB;
}

void lk_db_enable_cache(lk_db *db, size_t entries)
{
    if (!db->cache && entries > 0)
        db->cache = lk_cache_new(entries);
}

/* Drops what the announcements libpq has already read name (no read, no
 * sweep: what this request borrowed stays readable). A profile's
 * announcement drops everything: connection rows carry its name. */
static void apply_notifies(lk_db *db)
{
    for (PGnotify *n = PQnotifies(db->conn); n; n = PQnotifies(db->conn)) {
        if (!strncmp(n->extra, "p:", 2))
            lk_cache_drop_all(db->cache);
        else
            lk_cache_drop_tag(db->cache, n->extra);
        PQfreemem(n);
    }
}

/* Makes sure every change committed more than LK_DB_HEARD_MS ago has been
 * heard of: without an answer from the server since, one empty round trip
 * (the server sends pending announcements before it). A failure drops
 * everything; false then. */
static bool confirm_heard(lk_db *db, long long now)
{
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        lk_cache_drop_all(db->cache);
        return false;
    }
    /* Behind a pooler, once a second: is the LISTENing session still ours? */
    if (db->pooled && now - db->checked_ms > LK_DB_HEARD_MS) {
        if (!lk_db_marker_holds(db)) {
            if (PQstatus(db->conn) != CONNECTION_OK) {
                lk_cache_drop_all(db->cache);
                disconnect(db);
                return false;
            }
            lk_db_refuse_cache(db, "the server session changed between two statements");
            return false;
        }
        db->heard_ms = lk_cache_now_ms();
    }
    if (now - db->heard_ms > LK_DB_HEARD_MS) {
        PGresult *res = PQexec(db->conn, "");
        bool ok = res && PQresultStatus(res) == PGRES_EMPTY_QUERY;
        PQclear(res);
        if (!ok) {
            lk_cache_drop_all(db->cache);
            if (PQstatus(db->conn) != CONNECTION_OK)
                disconnect(db);
            return false;
        }
        db->heard_ms = lk_cache_now_ms();
    }
    apply_notifies(db);
    return true;
}

void lk_db_poll(lk_db *db)
{
    lk_cache *c = db->cache;
    if (!c)
        return;
    lk_cache_sweep(c);
    /* Read twice: one read stops after the bytes it found, and a server
     * that went away sends a last message before its end of file. */
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK || PQconsumeInput(db->conn) == 0 ||
        PQconsumeInput(db->conn) == 0) {
        /* Announcements can no longer be heard: trust nothing cached. */
        lk_cache_drop_all(c);
        lk_cache_follow_conn(c, 0);
        lk_cache_sweep(c);
        return;
    }
    lk_cache_follow_conn(c, db->epoch);
    apply_notifies(db);
    lk_cache_sweep(c);
}

lk_err lk_db_cached(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                    const char *tag_col, PGresult **out)
{
    void **slot;
    lk_arena *oa;
    return lk_db_cached_obj(db, a, st, params, prefix, tag_col, out, &slot, &oa);
}

/* Hands out what the cache lends. */
static void lend(const lk_cache_hit *hit, PGresult **out, void ***slot, lk_arena **obj_arena)
{
    *out = hit->res;
    *slot = hit->obj;
    *obj_arena = hit->obj_arena;
}

/* About what an object decoded from the one row of res takes: its values
 * copied (each rounded up to the arena's alignment) and its struct. */
static size_t decoded_bytes(const PGresult *res)
{
    size_t n = LK_DB_OBJ_STRUCT;
    for (int i = 0; i < PQnfields(res); i++)
        n += ((size_t)PQgetlength(res, 0, i) + 16) & ~(size_t)15;
    return n;
}

/* lk_db_cached_obj, keeping the result in the entry or (keep_res false)
 * only the object decoded from it: a hit then lends no result (*out
 * NULL), and a miss the request's own. */
static lk_err cached(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                     const char *tag_col, bool keep_res, PGresult **out, void ***slot, lk_arena **obj_arena)
{
    *slot = lk_alloc(a, sizeof(void *));
    *obj_arena = a;
    if (!db->cache || db->in_tx || db->cache_refused)
        return lk_db_exec(db, a, st, params, out);
    char *key = lk_cache_key(st->name, st->nparams, params);
    lk_cache_hit hit;
    /* Without a connection heard from lately, nothing cached is trusted. */
    if (confirm_heard(db, lk_cache_now_ms()) && lk_cache_find(db->cache, key, db->epoch, &hit)) {
        free(key);
        lend(&hit, out, slot, obj_arena);
        return LK_OK;
    }
    PGresult *res = NULL;
    lk_err rc = lk_db_exec(db, a, st, params, &res);
    const char *tag_value = rc == LK_OK && PQntuples(res) == 1 ? lk_db_get(res, 0, tag_col) : NULL;
    if (!tag_value) {
        free(key);
        if (rc == LK_OK)
            *out = res;
        return rc;
    }
    lk_cache_store(db->cache, key, prefix, tag_value, keep_res ? res : NULL, decoded_bytes(res), db->epoch, &hit);
    lend(&hit, out, slot, obj_arena);
    if (!keep_res)
        *out = res;
    return LK_OK;
}

lk_err lk_db_cached_obj(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                        const char *tag_col, PGresult **out, void ***slot, lk_arena **obj_arena)
{
    return cached(db, a, st, params, prefix, tag_col, true, out, slot, obj_arena);
}

lk_err lk_db_cached_row(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                        const char *tag_col, lk_db_decode *decode, const void **obj)
{
    PGresult *res = NULL;
    void **slot = NULL;
    lk_arena *obj_arena = a;
    lk_err rc = cached(db, a, st, params, prefix, tag_col, false, &res, &slot, &obj_arena);
    if (rc != LK_OK)
        return rc;
    /* Only one-row answers are kept: a hit has its object (and no result). */
    if (!*slot && PQntuples(res) != 1)
        return LK_ENOTFOUND;
    if (!*slot)
        *slot = decode(obj_arena, res);
    *obj = *slot;
    return LK_OK;
}

/* Runs a command without parameters or rows (BEGIN); a failure that lost
 * the connection closes it. */
static lk_err run_command(lk_db *db, const char *sql)
{
    lk_err rc = lk_db_ensure(db);
    if (rc != LK_OK)
        return rc;
    PGresult *res = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    rc = (res && PQresultStatus(res) == PGRES_COMMAND_OK) ? LK_OK : classify(db, res, sql);
    PQclear(res);
    if (rc != LK_OK && (!db->conn || PQstatus(db->conn) != CONNECTION_OK))
        disconnect(db);
    return rc;
}

lk_err lk_db_begin(lk_db *db)
{
    lk_err rc = run_command(db, "BEGIN");
    db->in_tx = rc == LK_OK;
    return rc;
}

lk_err lk_db_commit(lk_db *db)
{
    /* Never on a new connection (the transaction died with the old one),
     * and a COMMIT of a failed transaction answers "ROLLBACK": both are
     * failures, never a quiet success. */
    lk_err rc = LK_EDB;
    if (db->in_tx && db->conn && PQstatus(db->conn) == CONNECTION_OK) {
        PGresult *res = PQexecParams(db->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        if (res && PQresultStatus(res) == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(res), "COMMIT"))
            rc = LK_OK;
        else if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = classify(db, res, "COMMIT");
        else
            lk_warn("COMMIT of a failed transaction: rolled back");
        PQclear(res);
        if (rc != LK_OK && PQstatus(db->conn) != CONNECTION_OK)
            disconnect(db);
    }
    db->in_tx = false;
    return rc;
}

void lk_db_rollback(lk_db *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
        PGresult *res = PQexecParams(db->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        PQclear(res);
    }
    db->in_tx = false;
}

lk_err lk_db_script(lk_db *db, const char *sql, char *err, size_t errlen)
{
    lk_err rc = lk_db_ensure(db);
    if (rc != LK_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL");
        return rc;
    }
    PGresult *res = PQexec(db->conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        PQclear(res);
        return LK_EINTERNAL;
    }
    PQclear(res);
    return LK_OK;
}

const char *lk_db_val(PGresult *res, int r, int c)
{
    if (r >= PQntuples(res) || c < 0 || c >= PQnfields(res) || PQgetisnull(res, r, c))
        return NULL;
    return PQgetvalue(res, r, c);
}

const char *lk_db_get(PGresult *res, int r, const char *col)
{
    return lk_db_val(res, r, PQfnumber(res, col));
}

bool lk_db_bool(PGresult *res, int r, const char *col)
{
    const char *v = lk_db_get(res, r, col);
    return v && v[0] == 't';
}

long long lk_db_ll(PGresult *res, int r, const char *col)
{
    long long v = 0;
    return lk_parse_int(lk_db_get(res, r, col), LLONG_MIN, LLONG_MAX, &v) ? v : 0;
}
