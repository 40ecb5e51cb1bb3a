/* The process's one PostgreSQL connection: made on first use (after the
 * web server forked us), re-made after the server went away, with every
 * statement prepared once per connection. SQL only with parameters. */
#ifndef LK_DB_H
#define LK_DB_H

#include <libpq-fe.h>

#include "arena.h"
#include "lk.h"

typedef struct lk_db lk_db;

/* A statement, declared static next to the code that runs it. */
typedef struct lk_stmt {
    const char *name;
    const char *sql;
    int nparams;
    unsigned long prepared_epoch; /* connection epoch it was prepared on */
} lk_stmt;

#define LK_STMT(n, q, np)                                                                                              \
    {                                                                                                                  \
        n, q, np, 0                                                                                                    \
    }

/* A handle that connects lazily with conninfo (a libpq string; "" uses the
 * PG* variables). statement_ms bounds every statement; idle_ms ends a
 * transaction left idle that long (longer than any call made inside one). */
lk_db *lk_db_new(const char *conninfo, const char *appname, long connect_timeout_ms, long statement_ms, long idle_ms);
void lk_db_free(lk_db *db);
/* Connects if needed; LK_EDB when PostgreSQL cannot be reached. */
lk_err lk_db_ensure(lk_db *db);
/* The live connection (for LISTEN and the CLI), or NULL. */
PGconn *lk_db_conn(lk_db *db);

/* Runs a prepared statement with text parameters (NULL = SQL NULL). The
 * result belongs to the arena. A lost connection outside a transaction is
 * re-made and the statement retried once. Errors: LK_EDB (unreachable),
 * LK_ECONFLICT (unique violation), LK_EINTERNAL (anything else, logged). */
lk_err lk_db_exec(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, PGresult **out);
/* The answer cache of a serving process (the hot path of /token answers
 * without a database round trip). Every change to a cached row is
 * announced by a trigger with NOTIFY latchkey '<tag>' (sql/002); the
 * process LISTENs on its one connection and drains the announcements
 * before every request (lk_db_poll). A new connection drops everything,
 * since announcements may have been missed meanwhile, and no answer is
 * kept longer than a second whatever happens to the announcements. */
void lk_db_enable_cache(lk_db *db);
/* Reads pending announcements and drops what they name; frees what
 * earlier requests left behind. No round trip. */
void lk_db_poll(lk_db *db);
/* lk_db_exec through the cache: a hit returns the cached result (borrowed
 * until the next lk_db_poll); a one-row answer is cached under the tag
 * prefix + the value of tag_col. Without the cache, plain lk_db_exec. */
lk_err lk_db_cached(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                    const char *tag_col, PGresult **out);

/* lk_db_cached that also keeps an object decoded from the result: *slot
 * holds it (NULL until the caller decodes and stores one), allocated from
 * *obj_arena, which lives as long as the cached result. Uncached answers
 * give a fresh slot and the request's arena. Cached objects are shared:
 * callers must not change them. */
lk_err lk_db_cached_obj(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                        const char *tag_col, PGresult **out, void ***slot, lk_arena **obj_arena);

/* True at most once a minute per (kind, id) in this process: whether to
 * note a use (last_used_at) again. */
bool lk_db_touch_due(char kind, long long id);

/* BEGIN / COMMIT / ROLLBACK (ROLLBACK never fails the caller). */
lk_err lk_db_begin(lk_db *db);
lk_err lk_db_commit(lk_db *db);
void lk_db_rollback(lk_db *db);
/* Runs a script of statements without parameters (migrations only). */
lk_err lk_db_script(lk_db *db, const char *sql, char *err, size_t errlen);
/* The SQLSTATE of the last failure ("" if none). */
const char *lk_db_sqlstate(const lk_db *db);

/* Value of row r, column c, or NULL for SQL NULL. */
const char *lk_db_val(PGresult *res, int r, int c);
/* Column by name; NULL for SQL NULL or no such column. */
const char *lk_db_get(PGresult *res, int r, const char *col);
/* "t" → true. */
bool lk_db_bool(PGresult *res, int r, const char *col);
long long lk_db_ll(PGresult *res, int r, const char *col);

#endif
