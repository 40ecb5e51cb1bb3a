/* The audit log: who did what to which connection, and how it ended.
 * Never a secret: codes, names and ids only. */
#ifndef LK_AUDIT_H
#define LK_AUDIT_H

#include <json-c/json.h>

#include "db.h"

/* Appends one row; detail may be NULL. Failures are logged and returned:
 * inside a transaction a failed insert fails the transaction, so callers in
 * one (a refresh) handle the result; alone it may be ignored. */
lk_err lk_audit(lk_db *db, lk_arena *a, const char *actor, const char *action, const char *profile,
                const char *instance_id, const char *outcome, json_object *detail);

#endif
