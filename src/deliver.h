/* The webhook deliverer (SPEC §11, `latchkey events`): takes due
 * deliveries from the outbox (sql/008) one at a time under a row lock
 * (FOR UPDATE SKIP LOCKED, so that any number of deliverers on any
 * machines share it), in order within each stream (a receiver and a
 * connection), posts them signed the Standard Webhooks way, and marks one
 * delivered only after a 2xx: at least once. Failures are retried with
 * backoff (webhook.h) until LK_WEBHOOK_RETRY_DAYS after the event, then
 * the delivery is dead. It sleeps until a NOTIFY on latchkey_events, the
 * next retry due, or LK_DELIVER_POLL_MS, whichever comes first. */
#ifndef LK_DELIVER_H
#define LK_DELIVER_H

#include <signal.h>

#include "config.h"

/* The safety poll: the longest sleep without a NOTIFY. */
#define LK_DELIVER_POLL_MS 30000L
/* The wait before trying PostgreSQL again after it failed. */
#define LK_DELIVER_DB_RETRY_MS 1000L
/* The most of a receiver's answer read (the rest is a failure). */
#define LK_DELIVER_ANSWER_MAX ((size_t)64 * 1024)

typedef struct lk_deliverer lk_deliverer;

/* A deliverer with cfg's database and key ring (cfg borrowed, outliving
 * it); aborts when out of memory. */
lk_deliverer *lk_deliverer_new(const lk_config *cfg);
/* Frees d and closes its connections; NULL is ignored. */
void lk_deliverer_free(lk_deliverer *d);
/* Delivers until *stop becomes non-zero: the delivery under way is
 * finished and recorded first. The caller blocks the signals whose handler
 * sets *stop; they are let in (mask: the mask then) only while waiting and
 * between deliveries, so that none falls between a check and a sleep. */
void lk_deliverer_run(lk_deliverer *d, const volatile sig_atomic_t *stop, const sigset_t *mask);

#endif
