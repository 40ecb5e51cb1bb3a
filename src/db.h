/* A PostgreSQL connection handle: connected on first use (after the web
 * server forked us), re-connected after the server went away, with every
 * statement prepared once per connection of each handle. SQL only with
 * parameters. The answer cache it may serve through lives in cache.c. */
#ifndef LK_DB_H
#define LK_DB_H

#include <libpq-fe.h>
#include <signal.h>

#include "arena.h"
#include "lk.h"

typedef struct lk_db lk_db;

/* A statement, declared static next to the code that runs it. Whether it
 * is prepared is each handle's to know: id (given on first use) only
 * names the statement's place in every handle's table of them. */
typedef struct lk_stmt {
    const char *name;
    const char *sql;
    int nparams;
    size_t id; /* 0 until first run */
} lk_stmt;

#define LK_STMT(n, q, np)                                                                                              \
    {                                                                                                                  \
        n, q, np, 0                                                                                                    \
    }

/* Statements a handle has room to note at first (the table grows). */
#define LK_DB_STMTS_INITIAL 64
/* A cached answer is given only when the server answered less than this
 * long ago (SPEC §5: a change anywhere is seen within 1 s). */
#define LK_DB_HEARD_MS 1000
/* Random bytes of the marker a caching handle sets on each server session
 * it LISTENs on, to learn whether a pooler swaps sessions under it. */
#define LK_DB_MARKER_BYTES 8

/* A handle that connects lazily with conninfo (a libpq string; "" uses the
 * PG* variables). statement_ms bounds every statement; idle_ms ends a
 * transaction left idle that long (longer than any call made inside one). */
lk_db *lk_db_new(const char *conninfo, const char *appname, long connect_timeout_ms, long statement_ms, long idle_ms);
/* Closes the connection and frees db, its cache included (NULL: nothing). */
void lk_db_free(lk_db *db);
/* Connects if needed; LK_EDB when PostgreSQL cannot be reached. */
lk_err lk_db_ensure(lk_db *db);
/* The live connection (for LISTEN and the CLI), or NULL. */
PGconn *lk_db_conn(lk_db *db);
/* Makes every connection db opens from now on LISTEN on channel (a
 * NOTIFY-woken worker; channel: a static identifier, borrowed). */
void lk_db_listen(lk_db *db, const char *channel);
/* Waits until a notification arrives (all read are dropped), timeout_ms
 * passes or a signal comes, with the signal mask mask meanwhile (NULL: the
 * current one; see pselect); LK_EDB when the connection is lost or cannot
 * be made (it is made again on the next call). */
lk_err lk_db_wait(lk_db *db, long timeout_ms, const sigset_t *mask);

/* Runs a prepared statement with text parameters (NULL = SQL NULL). The
 * result belongs to the arena. A lost connection outside a transaction is
 * re-made and the statement retried once. Errors: LK_EDB (unreachable),
 * LK_ECONFLICT (unique violation), LK_EINTERNAL (anything else, logged). */
lk_err lk_db_exec(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, PGresult **out);
/* The answer cache of a serving process (cache.h) (the hot path of /token answers
 * without a database round trip). Every change to a cached row is
 * announced by a trigger with NOTIFY latchkey '<tag>' (sql/002); the
 * process LISTENs on its one connection and drains the announcements
 * before every request (lk_db_poll) and before every lookup. A new
 * connection drops everything, since announcements may have been missed
 * meanwhile; an answer stays until announced or evicted (an LRU of the
 * configured size), but is only given when the server answered less than
 * LK_DB_HEARD_MS ago (else an empty round trip first, which brings what
 * was announced before it), so a change anywhere is seen within 1 s
 * whatever happens to the connection (SPEC §5). Announcements reach only
 * the server session that LISTENs: behind a pooler that hands each
 * transaction to any session (PgBouncer's transaction mode), the handle
 * notices that a setting it made on connect no longer reads back, logs an
 * error and caches nothing from then on (SPEC §12: session mode only).
 * Turns the cache on for db, keeping at most entries answers (0: off);
 * the connections it makes from now on LISTEN. */
void lk_db_enable_cache(lk_db *db, size_t entries);
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

/* Decodes the one row of res into an object allocated from a. */
typedef void *lk_db_decode(lk_arena *a, PGresult *res);
/* lk_db_cached_obj for a lookup of one row: LK_ENOTFOUND when there is not
 * exactly one; otherwise *obj is the row as decode made it, once per cached
 * answer and then shared with later requests (read only). */
lk_err lk_db_cached_row(lk_db *db, lk_arena *a, lk_stmt *st, const char *const *params, const char *prefix,
                        const char *tag_col, lk_db_decode *decode, const void **obj);

/* BEGIN; LK_EDB (or LK_EINTERNAL) when it could not be sent or failed. */
lk_err lk_db_begin(lk_db *db);
/* COMMIT; a failure when no transaction is open on this very connection
 * or the server rolled it back instead. */
lk_err lk_db_commit(lk_db *db);
/* ROLLBACK; never fails the caller. */
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
/* The integer in column col of row r; 0 for SQL NULL. */
long long lk_db_ll(PGresult *res, int r, const char *col);

#endif
