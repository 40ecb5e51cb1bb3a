#include "migrate.h"

#include <stdlib.h>
#include <string.h>

static lk_stmt q_lock = LK_STMT("mig_lock", "SELECT pg_advisory_xact_lock(7432001)", 0);
static lk_stmt q_table = LK_STMT("mig_table",
                                 "CREATE TABLE IF NOT EXISTS latchkey_migrations (version integer PRIMARY KEY, "
                                 "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                                 0);
static lk_stmt q_has = LK_STMT("mig_has", "SELECT 1 FROM latchkey_migrations WHERE version = $1", 1);
static lk_stmt q_record = LK_STMT("mig_record", "INSERT INTO latchkey_migrations (version, name) VALUES ($1, $2)", 2);

lk_err lk_migrate(lk_db *db, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    err[0] = '\0';
    lk_arena *a = lk_arena_new();
    lk_err rc = lk_db_begin(db);
    if (rc != LK_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL");
        goto end;
    }
    rc = lk_db_exec(db, a, &q_lock, NULL, NULL);
    if (rc == LK_OK)
        rc = lk_db_exec(db, a, &q_table, NULL, NULL);
    for (const lk_migration *m = lk_migrations; rc == LK_OK && m->version; m++) {
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        const char *p[] = {ver, m->name};
        PGresult *res;
        rc = lk_db_exec(db, a, &q_has, p, &res);
        if (rc != LK_OK || PQntuples(res) > 0)
            continue;
        rc = lk_db_script(db, m->sql, err, errlen);
        if (rc == LK_OK)
            rc = lk_db_exec(db, a, &q_record, p, NULL);
        if (rc == LK_OK)
            (*applied)++;
        else if (!*err)
            snprintf(err, errlen, "migration %s failed", m->name);
    }
    if (rc == LK_OK)
        rc = lk_db_commit(db);
    else
        lk_db_rollback(db);
    if (rc != LK_OK && !*err)
        snprintf(err, errlen, "migration failed: %s", lk_err_code(rc));
end:
    lk_arena_free(a);
    return rc;
}
