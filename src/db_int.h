/* What db.c and dbsession.c share of a database handle: the handle
 * itself, and the server session's set-up. Not for other rooms: they use
 * db.h. */
#ifndef LK_DB_INT_H
#define LK_DB_INT_H

#include "cache.h"
#include "db.h"

struct lk_db {
    PGconn *conn;
    char *conninfo, *appname;
    long connect_timeout_ms, statement_ms, idle_ms;
    unsigned long epoch; /* bumped on every new connection */
    bool in_tx;
    char sqlstate[6];
    lk_cache *cache;     /* NULL: answers are not cached */
    long long heard_ms;  /* when the server last answered (monotonic) */
    const char *channel; /* a worker's LISTEN channel (lk_db_listen), or NULL */
    /* Whether announcements reach us (SPEC §12: a pooler must keep one
     * server session per client, PgBouncer's session mode): the session
     * marker set on connect, and whether a pooler sits in between. */
    char marker[2 * LK_DB_MARKER_BYTES + 1];
    bool pooled;
    long long checked_ms;    /* when the marker was last read back */
    bool cache_refused;      /* announcements were lost: never cache again */
    unsigned long *prepared; /* by statement id: the epoch it was prepared on */
    size_t prepared_len;
};

/* Sets up a new connection's server session in one statement (timeouts,
 * the session marker) and notes whether a pooler sits in between; behind
 * one that swaps sessions, a caching handle refuses its cache. LK_EDB
 * when the statement failed. */
lk_err lk_db_setup_session(lk_db *db);
/* True when the server session that LISTENs is still the one we talk to
 * (the marker reads back the same); notes when it was checked. */
bool lk_db_marker_holds(lk_db *db);
/* Turns the cache off for good, loudly (once): announcements do not
 * reach this connection. */
void lk_db_refuse_cache(lk_db *db, const char *why);

#endif
