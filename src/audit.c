#include "audit.h"

#include "json.h"
#include "log.h"

static lk_stmt q_audit = LK_STMT("audit_insert",
                                 "INSERT INTO audit_log (actor, action, profile, instance_id, outcome, "
                                 "detail) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                                 6);

lk_err lk_audit(lk_db *db, lk_arena *a, const char *actor, const char *action, const char *profile,
                const char *instance_id, const char *outcome, json_object *detail)
{
    const char *params[] = {actor, action, profile, instance_id, outcome, detail ? lk_json_text(a, detail) : "{}"};
    lk_err rc = lk_db_exec(db, a, &q_audit, params, NULL);
    if (rc != LK_OK)
        lk_warn("audit row for %s not written", action);
    return rc;
}
