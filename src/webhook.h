/* Webhooks (SPEC §11): the receivers of events, their whsec_ signing
 * secrets (sealed at rest), and the Standard Webhooks signature and retry
 * schedule that `latchkey events` (deliver.c) follows. */
#ifndef LK_WEBHOOK_H
#define LK_WEBHOOK_H

#include "config.h"
#include "db.h"
#include "upstream.h"

/* Random bytes of a signing secret (Standard Webhooks: 24 to 64). */
#define LK_WEBHOOK_SECRET_BYTES 32
/* How long the secret a rotation replaced keeps signing beside the new one. */
#define LK_WEBHOOK_PREVIOUS_HOURS 24
/* A receiver silent this long has failed (SPEC §11). */
#define LK_WEBHOOK_TIMEOUT_MS 10000L
/* Retries: full jitter below min(cap, base * 2^failures), for up to
 * LK_WEBHOOK_RETRY_DAYS after the event; then the delivery is dead. */
#define LK_WEBHOOK_BACKOFF_BASE_S 5.0
#define LK_WEBHOOK_BACKOFF_CAP_S 3600.0
#define LK_WEBHOOK_RETRY_DAYS 3
/* The most bytes of an --events or --profiles list. */
#define LK_WEBHOOK_LIST_MAX 4096

/* A new signing secret, "whsec_" + base64 of LK_WEBHOOK_SECRET_BYTES
 * random bytes. */
char *lk_webhook_secret_new(lk_arena *a);
/* The Standard Webhooks signature "v1,<base64 HMAC-SHA256>" of
 * "msg_id.ts.body", keyed with the bytes the base64 after "whsec_" holds;
 * LK_EINVAL for a malformed secret. */
lk_err lk_webhook_sign(lk_arena *a, const char *secret, const char *msg_id, long long ts, const char *body, size_t blen,
                       char **out);
/* True when url may receive webhooks: https, or http to a loopback host. */
bool lk_webhook_url_ok(const char *url);
/* Whom a delivery to url may connect to: a loopback host named in the URL
 * itself (local testing) is reached; otherwise every private or local
 * address is refused when connecting. */
lk_reach lk_webhook_reach(const char *url);
/* Seconds to wait after the given number of failed attempts (at least 1),
 * from r uniform in [0, 1): full jitter, r * min(cap, base * 2^(n-1)). */
double lk_webhook_backoff(int failures, double r);
/* A comma-separated list as a JSON array: event patterns (lower-case
 * letters, digits, '.', '_', '-', '*') or, with profiles, profile names.
 * LK_EINVAL with *why for a bad item. */
lk_err lk_webhook_list_json(lk_arena *a, const char *list, bool profiles, char **json, const char **why);

/* Adds a receiver (url already checked); events and profiles are JSON
 * arrays (profiles NULL: every profile). *id and the secret to show once. */
lk_err lk_webhook_add(lk_db *db, lk_arena *a, const lk_config *cfg, const char *url, const char *events,
                      const char *profiles, char **id, char **secret);
/* Gives webhook id a new secret (*secret, to show once); the one it
 * replaces signs beside it for LK_WEBHOOK_PREVIOUS_HOURS. LK_ENOTFOUND. */
lk_err lk_webhook_rotate(lk_db *db, lk_arena *a, const lk_config *cfg, const char *id, char **secret);
/* Queues a webhook.test event for webhook id alone; its webhook-id in
 * *msg_id. LK_ENOTFOUND. */
lk_err lk_webhook_test(lk_db *db, lk_arena *a, const char *id, char **msg_id);
/* Removes webhook id and its deliveries. LK_ENOTFOUND. */
lk_err lk_webhook_remove(lk_db *db, lk_arena *a, const char *id);

/* How long delivered events stay (and their deliveries), and events with
 * dead deliveries (shown by webhook list meanwhile). */
#define LK_EVENT_KEEP_DAYS 7
#define LK_EVENT_KEEP_DEAD_DAYS 30
/* Deletes up to 10,000 events done with (nothing pending; every delivery
 * delivered after LK_EVENT_KEEP_DAYS, dead ones after
 * LK_EVENT_KEEP_DEAD_DAYS); *purged says how many. */
lk_err lk_webhook_purge(lk_db *db, lk_arena *a, long long *purged);

#endif
