/* A connection's health (SPEC §11): its status, its last refresh, and the
 * forecasts of what its profile declares: when its refresh token would
 * lapse for inactivity, and when its grant reaches its absolute lifetime. */
#ifndef LK_HEALTH_H
#define LK_HEALTH_H

#include <json-c/json.h>
#include <stdbool.h>

#include "conn.h"
#include "profile.h"

/* What is known of a connection's future, in ms since 1970; 0: not known. */
typedef struct lk_health {
    long long lapses_at_ms;        /* the refresh token lapses unless used before */
    long long grant_expires_at_ms; /* the grant ends, whatever is done */
} lk_health;

/* The facts a forecast is made of: the last refresh (or the grant, if
 * later), the consent, in ms since 1970; whether a refresh token is held,
 * and the profile's declared days (0: none). */
typedef struct lk_health_facts {
    long long refreshed_at_ms, grant_issued_at_ms;
    bool has_refresh_token;
    int idle_days, lifetime_days;
} lk_health_facts;

/* The forecasts of f (unit-tested): lapses_at = refreshed_at + idle days
 * when a refresh token is held, grant_expires_at = grant_issued_at +
 * lifetime days; 0 where the profile declares nothing or a time is unknown. */
lk_health lk_health_forecast(const lk_health_facts *f);
/* The facts of connection c of profile p. */
lk_health_facts lk_health_facts_of(const lk_conn *c, const lk_profile *p);
/* Adds c's health to o: status, last_refreshed_at (null: never), and when
 * known refresh_token_lapses_at and grant_expires_at (RFC 3339, UTC). */
void lk_health_json(lk_arena *a, json_object *o, const lk_conn *c, const lk_profile *p);

#endif
