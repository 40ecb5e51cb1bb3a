/* Connections (SPEC §5): one per (profile, instance_id), tokens sealed
 * under the row's identity. */
#ifndef LK_CONN_H
#define LK_CONN_H

#include <json-c/json.h>

#include "config.h"
#include "oauth.h"
#include "profile.h"

typedef struct lk_conn {
    long long id;
    char *id_text;
    char *profile; /* profile name */
    char *instance_id;
    char *client_id;
    char *access_sealed, *refresh_sealed;
    char *token_type, *scope;
    char *expires_at;     /* RFC 3339, or NULL */
    long long expires_in; /* seconds from now (may be negative); 0 if unknown */
    json_object *metadata;
    const char *metadata_text; /* the row's metadata as stored (a cached row keeps only this) */
    char *status;
    long long generation, refresh_count, failure_count;
    char *created_at, *updated_at, *last_used_at, *last_refreshed_at, *grant_issued_at;
    char *last_error;
    long long refreshed_ago;                  /* seconds since the last refresh (or the grant) */
    long long expires_at_ms, refreshed_at_ms; /* the absolute times behind both (ms since 1970) */
    long long grant_issued_at_ms;             /* consent (ms since 1970) */
    long long retry_in, retry_at_ms;          /* no provider call for retry_in more seconds (if > 0) */
    char *retry_error;                        /* what callers are told meanwhile (SPEC §5), or NULL */
} lk_conn;

/* Inside the caller's transaction: writes a completed grant. The existing
 * row is replaced in place (generation + 1) unless replace is false, which
 * answers LK_ECONNECTED. LK_ECONFLICT when a concurrent insert won. */
lk_err lk_conn_write_grant(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *instance_id,
                           const char *client_id, const lk_tokens *t, json_object *metadata, bool replace,
                           long long *id);
/* True when (profile, instance_id) has a connection. */
lk_err lk_conn_exists(lk_db *db, lk_arena *a, const lk_profile *p, const char *instance_id, bool *exists);
/* Loads one connection by profile name and instance id (LK_ENOTCONN). */
lk_err lk_conn_load(lk_db *db, lk_arena *a, const char *profile, const char *instance_id, lk_conn **out);
/* Inside the caller's transaction: locks the row of connection id and
 * loads it (LK_ENOTCONN when it is gone). */
lk_err lk_conn_lock(lk_db *db, lk_arena *a, long long id, lk_conn **out);
/* Opens the sealed access token of c. */
lk_err lk_conn_access_token(lk_arena *a, const lk_config *cfg, const lk_conn *c, char **out);
/* Notes a use (last_used_at), written after the answer (touch.h). */
void lk_conn_touch(const lk_conn *c);
/* Reads when c was last used into c->last_used_at (lk_conn_load leaves it
 * NULL: the hot path never reads it). */
lk_err lk_conn_read_last_used(lk_db *db, lk_arena *a, lk_conn *c);
/* Lists connections (of one profile when profile is not NULL), with when
 * each was last used. */
lk_err lk_conn_list(lk_db *db, lk_arena *a, const char *profile, lk_conn **out, size_t *n);
/* Deletes one connection (LK_ENOTCONN when there was none). */
lk_err lk_conn_delete(lk_db *db, lk_arena *a, const char *profile, const char *instance_id);
/* The public description of a connection: never a token. */
json_object *lk_conn_json(lk_arena *a, const lk_conn *c);

#endif
