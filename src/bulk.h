/* Connections in bulk (SPEC §9: connection import, connection export):
 * lines checked against the profiles and their clients, stored in
 * batches, each in one transaction, sealed under the row's id as a
 * connected account's tokens are (conn.c). */
#ifndef LK_BULK_H
#define LK_BULK_H

#include <stdio.h>

#include "bulkline.h"
#include "config.h"
#include "db.h"
#include "lk.h"

/* Lines stored per transaction. */
#define LK_BULK_BATCH 500

typedef struct lk_bulk_counts {
    long long imported, updated, skipped, refused;
} lk_bulk_counts;

typedef struct lk_bulk lk_bulk;

/* An importer writing through db; with dry_run, every batch is rolled
 * back (the counts say what would have happened). Free with lk_bulk_free. */
lk_bulk *lk_bulk_new(lk_db *db, const lk_config *cfg, bool dry_run);
void lk_bulk_free(lk_bulk *b);
/* Reads one line s[0..n): refused (*why set, a sentence
 * without secrets, nothing of it stored) or queued; a full batch is
 * stored. LK_OK either way; another code only when storing failed. */
lk_err lk_bulk_add(lk_bulk *b, const char *s, size_t n, const char **why);
/* Stores what is queued. */
lk_err lk_bulk_flush(lk_bulk *b);
/* The counts so far (borrowed). */
const lk_bulk_counts *lk_bulk_counts_of(const lk_bulk *b);

/* Writes the connections (of profile, or all when NULL) to out as JSON
 * lines in the import format; tokens sealed (access_token_sealed,
 * refresh_token_sealed) unless decrypt. *n: how many were written. */
lk_err lk_bulk_export(lk_db *db, const lk_config *cfg, const char *profile, bool decrypt, FILE *out, long long *n);

#endif
