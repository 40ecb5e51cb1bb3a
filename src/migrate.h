/* Schema migrations: sql/NNN_*.sql, embedded at build time, applied once
 * each in one transaction and recorded in latchkey_migrations. */
#ifndef LK_MIGRATE_H
#define LK_MIGRATE_H

#include <stdio.h>

#include "db.h"

typedef struct lk_migration {
    int version;
    const char *name;
    const char *sql;
} lk_migration;

/* Terminated by a row with version 0 (generated from sql/). */
extern const lk_migration lk_migrations[];

/* Applies what is missing; *applied gets how many. Safe to run from
 * several machines at once (an advisory lock serialises them). */
lk_err lk_migrate(lk_db *db, int *applied, char *err, size_t errlen);

#endif
