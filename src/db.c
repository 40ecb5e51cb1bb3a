#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define CACHE_SLOTS 1024
#define CACHE_MAX 8192
/* However announcements fare (a stalled session, a lost connection not yet
 * noticed), no cached answer is older than this. */
#define CACHE_TTL_MS 1000

/* One cached answer: statement + parameters → result, and its tag. */
struct entry {
    struct entry *next;
    char *key, *tag;
    PGresult *res;
    unsigned long epoch;
    lk_arena *arena; /* for the object decoded from res */
    void *obj;
    long long stored_ms; /* monotonic */
};

struct lk_db {
    PGconn *conn;
    char *conninfo, *appname;
    long connect_timeout_ms, statement_ms, idle_ms;
    unsigned long epoch; /* bumped on every new connection */
    bool in_tx;
    char sqlstate[6];
    bool caching;
    struct entry *slots[CACHE_SLOTS];
    size_t entries;
    struct entry *graveyard; /* dropped, maybe still borrowed this request */
};

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

static void bury(lk_db *db, struct entry *e)
{
    e->next = db->graveyard;
    db->graveyard = e;
}

static void free_graveyard(lk_db *db)
{
    struct entry *e = db->graveyard;
    db->graveyard = NULL;
    while (e) {
        struct entry *next = e->next;
        PQclear(e->res);
        lk_arena_free(e->arena);
        free(e->key);
        free(e->tag);
        free(e);
        e = next;
    }
}

static void drop_all(lk_db *db)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct entry *e = db->slots[i];
        db->slots[i] = NULL;
        while (e) {
            struct entry *next = e->next;
            bury(db, e);
            e = next;
        }
    }
    db->entries = 0;
}

/* Drops the entries tagged tag ("*": all). */
static void drop_tag(lk_db *db, const char *tag)
{
    if (!strcmp(tag, "*")) {
        drop_all(db);
        return;
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct entry **pp = &db->slots[i];
        while (*pp) {
            struct entry *e = *pp;
            if (!strcmp(e->tag, tag)) {
                *pp = e->next;
                bury(db, e);
                db->entries--;
            } else {
                pp = &e->next;
            }
        }
    }
}

void lk_db_enable_cache(lk_db *db)
{
    db->caching = true;
}

void lk_db_poll(lk_db *db)
{
    free_graveyard(db);
    if (!db->caching)
        return;
    static unsigned long seen_epoch;
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK || PQconsumeInput(db->conn) == 0) {
        /* Announcements can no longer be heard: trust nothing cached. */
        drop_all(db);
        free_graveyard(db);
        seen_epoch = 0;
        return;
    }
    if (seen_epoch != db->epoch) {
        drop_all(db);
        seen_epoch = db->epoch;
    }
    PGnotify *n;
    while ((n = PQnotifies(db->conn)) != NULL) {
        drop_tag(db, n->extra);
        PQfreemem(n);
    }
    free_graveyard(db);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 ^ (unsigned char)*s;
    return h;
}

void lk_db_free(lk_db *db)
{
    if (!db)
        return;
    drop_all(db);
    free_graveyard(db);
    if (db->conn)
        PQfinish(db->conn);
    free(db->conninfo);
    free(db->appname);
    free(db);
}

static void drop(lk_db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->in_tx = false;
}

static lk_err connect_db(lk_db *db)
{
    char ctimeout[24], options[192];
    long secs = (db->connect_timeout_ms + 999) / 1000;
    snprintf(ctimeout, sizeof(ctimeout), "%ld", secs < 2 ? 2 : secs);
    /* A dead client must not hold a row lock for long (SPEC §5): idle
     * transactions are ended by the server, and TCP keepalives notice a
     * vanished peer. */
    snprintf(options, sizeof(options), "-c statement_timeout=%ld -c idle_in_transaction_session_timeout=%ld",
             db->statement_ms, db->idle_ms);
    const char *keys[] = {"dbname",          "application_name",    "connect_timeout",  "options",         "keepalives",
                          "keepalives_idle", "keepalives_interval", "keepalives_count", "client_encoding", NULL};
    const char *vals[] = {db->conninfo, db->appname, ctimeout, options, "1", "30", "10", "3", "UTF8", NULL};
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
    if (db->caching) {
        PGresult *res = PQexecParams(c, "LISTEN latchkey", 0, NULL, NULL, NULL, NULL, 0);
        bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            lk_warn("LISTEN failed: %s", PQerrorMessage(c));
            PQfinish(c);
            db->conn = NULL;
            return LK_EDB;
        }
    }
    return LK_OK;
}

lk_err lk_db_ensure(lk_db *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return LK_OK;
    drop(db);
    return connect_db(db);
}

PGconn *lk_db_conn(lk_db *db)
{
    return db->conn;
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

static lk_err prepare(lk_db *db, lk_stmt *st)
{
    if (st->prepared_epoch == db->epoch)
        return LK_OK;
    PGresult *res = PQprepare(db->conn, st->name, st->sql, st->nparams, NULL);
    lk_err rc = LK_OK;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = classify(db, res, st->name);
    else
        st->prepared_epoch = db->epoch;
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
                drop(db);
            return rc;
        }
        drop(db);
    }
    return LK_EDB;
}

lk_err lk_db_cached(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                    const char *tag_col, PGresult **out)
{
    void **slot;
    lk_arena *oa;
    return lk_db_cached_obj(db, a, st, params, prefix, tag_col, out, &slot, &oa);
}

lk_err lk_db_cached_obj(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                        const char *tag_col, PGresult **out, void ***slot, lk_arena **obj_arena)
{
    *slot = lk_alloc(a, sizeof(void *));
    *obj_arena = a;
    if (!db->caching || db->in_tx)
        return lk_db_exec(db, a, st, params, out);
    /* The key: statement name and parameters, separated by a byte that
     * PostgreSQL text never holds. */
    size_t len = strlen(st->name) + 1;
    for (int i = 0; i < st->nparams; i++)
        len += (params[i] ? strlen(params[i]) : 0) + 2;
    char *key = malloc(len + 1);
    if (!key)
        abort();
    char *k = key;
    k += snprintf(k, len + 1, "%s", st->name);
    for (int i = 0; i < st->nparams; i++)
        k += snprintf(k, len + 1 - (size_t)(k - key), "\x01%s%s", params[i] ? "v" : "n", params[i] ? params[i] : "");
    unsigned long hslot = hash(key) % CACHE_SLOTS;
    long long now = now_ms();
    for (struct entry **pp = &db->slots[hslot]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->epoch != db->epoch || !db->conn || now - e->stored_ms > CACHE_TTL_MS) {
            *pp = e->next; /* too old: ask again */
            bury(db, e);
            db->entries--;
            break;
        }
        free(key);
        *out = e->res;
        *slot = &e->obj;
        *obj_arena = e->arena;
        return LK_OK;
    }
    PGresult *res = NULL;
    lk_err rc = lk_db_exec(db, a, st, params, &res);
    const char *tagv = rc == LK_OK && PQntuples(res) == 1 ? lk_db_get(res, 0, tag_col) : NULL;
    if (!tagv) {
        free(key);
        if (rc == LK_OK)
            *out = res;
        return rc;
    }
    if (db->entries >= CACHE_MAX)
        drop_all(db);
    struct entry *e = calloc(1, sizeof(*e));
    PGresult *copy = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    size_t tl = strlen(prefix) + strlen(tagv) + 1;
    char *tag = malloc(tl);
    if (!e || !copy || !tag)
        abort();
    snprintf(tag, tl, "%s%s", prefix, tagv);
    e->key = key;
    e->tag = tag;
    e->res = copy;
    e->epoch = db->epoch;
    e->stored_ms = now;
    e->arena = lk_arena_new();
    e->next = db->slots[hslot];
    db->slots[hslot] = e;
    db->entries++;
    *out = copy;
    *slot = &e->obj;
    *obj_arena = e->arena;
    return LK_OK;
}

bool lk_db_touch_due(char kind, long long id)
{
    static struct {
        long long id;
        char kind;
        time_t at;
    } slots[512];
    size_t i = ((unsigned long long)id * 31u + (unsigned char)kind) % LK_ARRAY_LEN(slots);
    time_t now = time(NULL);
    if (slots[i].id == id && slots[i].kind == kind && now - slots[i].at < 60)
        return false;
    slots[i].id = id;
    slots[i].kind = kind;
    slots[i].at = now;
    return true;
}

static lk_err simple(lk_db *db, const char *sql)
{
    lk_err rc = lk_db_ensure(db);
    if (rc != LK_OK)
        return rc;
    PGresult *res = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    rc = (res && PQresultStatus(res) == PGRES_COMMAND_OK) ? LK_OK : classify(db, res, sql);
    PQclear(res);
    if (rc != LK_OK && (!db->conn || PQstatus(db->conn) != CONNECTION_OK))
        drop(db);
    return rc;
}

lk_err lk_db_begin(lk_db *db)
{
    lk_err rc = simple(db, "BEGIN");
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
            drop(db);
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
    const char *v = lk_db_get(res, r, col);
    return v ? strtoll(v, NULL, 10) : 0;
}
