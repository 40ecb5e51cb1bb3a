/* Single-flight refresh (SPEC §5): under the connection's row lock, with a
 * bounded lock wait and the generation noted before waiting; the rotated
 * refresh token is committed before anyone is answered. */
#ifndef LK_REFRESH_H
#define LK_REFRESH_H

#include <time.h>

#include "conn.h"
#include "upstream.h"

/* What to do with a connection, decided from facts alone (unit-tested). */
typedef enum lk_refresh_action {
    LK_USE_CURRENT, /* the stored token serves */
    LK_DO_REFRESH,  /* call the provider */
    LK_NEED_REAUTH, /* the grant is gone */
    LK_HOLD_OFF,    /* a recent failure is shared: no provider call yet */
} lk_refresh_action;

/* SPEC §5: a token refreshed this recently is the freshest there is; every
 * caller gets it, whatever min_validity asks. */
#define LK_REFRESH_FRESH_SECS 10
/* SPEC §5: how long callers hold off after a transient failure without a
 * Retry-After, and the most any Retry-After can make them wait. */
#define LK_RETRY_AFTER_DEFAULT 10
#define LK_RETRY_AFTER_MAX 300

typedef struct lk_refresh_facts {
    long long noted_generation; /* what the caller saw before waiting */
    long long generation;       /* what the row says now (under the lock) */
    bool force;                 /* POST /refresh */
    bool has_expiry;
    long long expires_in; /* seconds left */
    long long min_validity;
    bool reauth_required; /* status reauthorization_required */
    bool has_refresh_token;
    long long idle_min;      /* sweep: refresh only if idle this long (0: n/a) */
    long long refreshed_ago; /* seconds since the last refresh */
    long long retry_in;      /* seconds before the provider may be called again */
} lk_refresh_facts;

/* The action for a connection whose row (under its lock) gives these facts. */
lk_refresh_action lk_refresh_decide(const lk_refresh_facts *f);

/* The decision for c as loaded (no lock, nothing waited for): a caller
 * whose answer is LK_USE_CURRENT needs no refresh and no lock. */
lk_refresh_action lk_refresh_plan(const lk_conn *c, bool force, long long min_validity);

/* Seconds to hold off after a transient failure, from the provider's
 * Retry-After (delta-seconds or an HTTP-date; NULL when absent), at least
 * 1 and at most LK_RETRY_AFTER_MAX; LK_RETRY_AFTER_DEFAULT without one. */
long long lk_retry_after_secs(const char *retry_after, time_t now);

/* True when a token with expires_in seconds left (unknown: has_expiry is
 * false, taken as fresh) serves a caller wanting min_validity seconds. */
bool lk_fresh_enough(bool has_expiry, long long expires_in, long long min_validity);

typedef struct lk_refresh_out {
    lk_conn *conn;            /* the row after the refresh (or as found) */
    char *access_token;       /* opened */
    bool refresh_failed;      /* transient failure; the stored token served */
    bool refresh_in_progress; /* too many callers waiting: not waited for */
    const char *retry_after;  /* for 503 */
    const char *detail;       /* a sentence for the caller on failure */
    bool refreshed;           /* this caller called the provider */
} lk_refresh_out;

typedef struct lk_refresh_ctx {
    lk_db *db;
    lk_arena *a;
    const lk_config *cfg;
    lk_upstream *up;
    const char *actor;  /* audit: key name, "sweep", "proxy" */
    long long idle_min; /* sweep: skip rows refreshed less than this ago */
} lk_refresh_ctx;

/* Refreshes conn (loaded before, its generation noted) when the decision
 * says so, as at most 1 + cfg->refresh_waiters callers per connection: the
 * rest (and those whose lock wait runs out) get the noted token while it is
 * valid, refresh_in_progress set. Errors: LK_EREAUTH (409), LK_EPROVIDER
 * (502, profile flagged for config errors), LK_EUNAVAILABLE (503,
 * retry_after set), LK_EDB, LK_ECRYPTO. */
lk_err lk_refresh(const lk_refresh_ctx *cx, const lk_profile *p, const lk_conn *conn, bool force,
                  long long min_validity, lk_refresh_out *out);

#endif
