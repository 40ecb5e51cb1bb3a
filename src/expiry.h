/* The sweep's forecast (SPEC §11): connection.expiring, raised once per
 * connection and reason when a refresh token would lapse for inactivity
 * or a grant reaches its absolute lifetime within the warning window. */
#ifndef LK_EXPIRY_H
#define LK_EXPIRY_H

#include <json-c/json.h>

#include "arena.h"
#include "db.h"
#include "lk.h"

/* The two reasons of a connection.expiring event, as the sweep names them
 * and latchkey_expiry_forecast (sql/009_health.sql) computes them. */
#define LK_EXPIRY_IDLE "refresh_token_idle"
#define LK_EXPIRY_GRANT "grant_lifetime"

/* The most connections one sweep looks at for forecasts. */
#define LK_EXPIRY_SCAN_MAX 10000

/* Forgets the warnings whose forecast has moved or is no longer known (a
 * refresh restarted the idle clock, a new grant both), then raises
 * connection.expiring for each forecast within warn_days not warned about
 * yet, each in the transaction that records the warning. Appends to
 * report one object per forecast within the window: profile, instance_id,
 * status, reason, expires_at, and event (true: raised by this call). */
lk_err lk_expiry_warn(lk_db *db, lk_arena *a, long warn_days, json_object *report);

#endif
