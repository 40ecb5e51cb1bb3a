#include "bulk.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "json.h"
#include "profile.h"
#include "text.h"

/* Distinct profiles remembered by one import (more are loaded per line). */
#define PROFILES_MAX 256
/* Connections read per page of an export. */
#define EXPORT_PAGE "1000"

/* A line waiting for its batch. */
typedef struct queued {
    lk_bulk_line l;
    const lk_profile *p;
} queued;

struct lk_bulk {
    lk_db *db;
    const lk_config *cfg;
    bool dry_run;
    lk_arena *batch; /* the queued lines; reset after each batch */
    lk_arena *keep;  /* the profiles remembered */
    const lk_profile *profiles[PROFILES_MAX];
    size_t nprofiles;
    queued q[LK_BULK_BATCH];
    size_t n;
    lk_bulk_counts counts;
};

static lk_stmt q_client =
    LK_STMT("bulk_client", "SELECT 1 FROM profile_clients WHERE profile_id = $1 AND client_id = $2", 2);
/* The stored rows of a batch, locked, and whether each is as new as the
 * line (a NULL expires_at never expires). */
static lk_stmt q_existing = LK_STMT(
    "bulk_existing",
    "SELECT k.n, c.id, COALESCE(c.expires_at >= to_timestamp(k.e), c.expires_at IS NULL) AS newer FROM "
    "jsonb_to_recordset($1::jsonb) AS k(n int, p bigint, i text, e bigint) JOIN connections c ON c.profile_id = k.p "
    "AND c.instance_id = k.i ORDER BY c.id FOR UPDATE OF c",
    1);
static lk_stmt q_ids = LK_STMT("bulk_ids", "SELECT nextval('connections_id_seq') FROM generate_series(1, $1::int)", 1);
#define ROWS                                                                                                           \
    "jsonb_to_recordset($1::jsonb) AS r(id bigint, p bigint, i text, c text, at text, rt text, tt text, sc text, "     \
    "e bigint, m jsonb)"
static lk_stmt q_insert =
    LK_STMT("bulk_insert",
            "INSERT INTO connections (id, profile_id, instance_id, client_id, access_token, refresh_token, "
            "token_type, scope, expires_at, metadata) SELECT r.id, r.p, r.i, r.c, r.at, r.rt, r.tt, r.sc, "
            "to_timestamp(r.e), r.m FROM " ROWS " ON CONFLICT (profile_id, instance_id) DO NOTHING RETURNING id",
            1);
/* As conn.c's replace: a new grant, the row's troubles forgotten. */
static lk_stmt q_update =
    LK_STMT("bulk_update",
            "UPDATE connections c SET client_id = r.c, access_token = r.at, refresh_token = r.rt, token_type = "
            "r.tt, scope = r.sc, expires_at = to_timestamp(r.e), metadata = r.m, status = 'active', generation = "
            "c.generation + 1, grant_issued_at = now(), updated_at = now(), failure_count = 0, last_error = NULL, "
            "last_error_at = NULL, refresh_retry_at = NULL, refresh_retry_error = NULL FROM " ROWS " WHERE c.id = r.id",
            1);

lk_bulk *lk_bulk_new(lk_db *db, const lk_config *cfg, bool dry_run)
{
    lk_bulk *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    b->db = db;
    b->cfg = cfg;
    b->dry_run = dry_run;
    b->batch = lk_arena_new();
    b->keep = lk_arena_new();
    return b;
}

void lk_bulk_free(lk_bulk *b)
{
    if (!b)
        return;
    lk_arena_free(b->batch);
    lk_arena_free(b->keep);
    free(b);
}

const lk_bulk_counts *lk_bulk_counts_of(const lk_bulk *b)
{
    return &b->counts;
}

/* The profile called name: remembered, or loaded (LK_ENOPROFILE). */
static lk_err profile_of(lk_bulk *b, const char *name, const lk_profile **out)
{
    for (size_t i = 0; i < b->nprofiles; i++)
        if (!strcmp(b->profiles[i]->name, name)) {
            *out = b->profiles[i];
            return LK_OK;
        }
    bool keep = b->nprofiles < PROFILES_MAX;
    lk_err rc = lk_profile_load(b->db, keep ? b->keep : b->batch, name, out);
    if (rc == LK_OK && keep)
        b->profiles[b->nprofiles++] = *out;
    return rc;
}

/* True when p knows client_id (its own, or one added with client add). */
static lk_err client_known(lk_bulk *b, const lk_profile *p, const char *client_id, bool *known)
{
    *known = p->client_id && !strcmp(p->client_id, client_id);
    if (*known)
        return LK_OK;
    const char *params[] = {p->id_text, client_id};
    PGresult *res;
    lk_err rc = lk_db_exec(b->db, b->batch, &q_client, params, &res);
    if (rc == LK_OK)
        *known = PQntuples(res) == 1;
    return rc;
}

/* True when the batch holds (p, instance_id) already. */
static bool queued_already(const lk_bulk *b, const lk_profile *p, const char *instance_id)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->q[i].p->id == p->id && !strcmp(b->q[i].l.instance_id, instance_id))
            return true;
    return false;
}

lk_err lk_bulk_add(lk_bulk *b, const char *s, size_t n, const char **why)
{
    *why = NULL;
    lk_err rc = b->n == LK_BULK_BATCH ? lk_bulk_flush(b) : LK_OK;
    if (rc != LK_OK)
        return rc;
    /* The arena holds the queued lines: reset between batches only. */
    if (!b->n)
        lk_arena_reset(b->batch);
    queued q;
    if (!lk_bulk_parse(b->batch, s, n, (long long)time(NULL), &q.l, why)) {
        b->counts.refused++;
        return LK_OK;
    }
    rc = profile_of(b, q.l.profile, &q.p);
    if (rc == LK_ENOPROFILE)
        *why = "no such profile";
    bool known = true;
    if (rc == LK_OK && q.l.client_id)
        rc = client_known(b, q.p, q.l.client_id, &known);
    if (rc == LK_OK && !known)
        *why = "the profile has no such client_id";
    if (rc == LK_OK && !q.l.has_expiry && !lk_profile_is_credential_auth(q.p))
        *why = "expires_at or expires_in is required";
    if (*why) {
        b->counts.refused++;
        return LK_OK;
    }
    if (rc != LK_OK)
        return rc;
    /* A later line for the same connection goes to the next batch: lines
     * apply in order, and the newer expiry wins. */
    if (queued_already(b, q.p, q.l.instance_id))
        rc = lk_bulk_flush(b);
    if (rc == LK_OK)
        b->q[b->n++] = q;
    return rc;
}

/* Finds the stored rows of the batch, locked: ids[i] (NULL: none) and
 * newer[i] (the stored row expires as late or later: left alone). */
static lk_err find_existing(lk_bulk *b, const char **ids, bool *newer)
{
    json_object *keys = lk_json_array(b->batch);
    for (size_t i = 0; i < b->n; i++) {
        json_object *k = json_object_new_object();
        lk_json_set_int(k, "n", (int64_t)i);
        lk_json_set_int(k, "p", b->q[i].p->id);
        lk_json_set_str(k, "i", b->q[i].l.instance_id);
        if (b->q[i].l.has_expiry)
            lk_json_set_int(k, "e", b->q[i].l.expires_at);
        json_object_array_add(keys, k);
    }
    const char *params[] = {lk_json_text(b->batch, keys)};
    PGresult *res;
    lk_err rc = lk_db_exec(b->db, b->batch, &q_existing, params, &res);
    if (rc != LK_OK)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        long long i = lk_db_ll(res, r, "n");
        if (i < 0 || (size_t)i >= b->n)
            return LK_EINTERNAL;
        ids[i] = lk_strdup(b->batch, lk_db_get(res, r, "id"));
        newer[i] = !strcmp(lk_db_get(res, r, "newer"), "t");
    }
    return LK_OK;
}

/* Gives every line without a row a fresh id (nextval), before sealing. */
static lk_err allocate_ids(lk_bulk *b, const char **ids)
{
    size_t missing = 0;
    for (size_t i = 0; i < b->n; i++)
        missing += !ids[i];
    if (!missing)
        return LK_OK;
    const char *params[] = {lk_printf(b->batch, "%zu", missing)};
    PGresult *res;
    lk_err rc = lk_db_exec(b->db, b->batch, &q_ids, params, &res);
    if (rc != LK_OK)
        return rc;
    if ((size_t)PQntuples(res) != missing)
        return LK_EINTERNAL;
    int r = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!ids[i])
            ids[i] = lk_strdup(b->batch, lk_db_val(res, r++, 0));
    return LK_OK;
}

/* One row of the insert or update: the line's tokens sealed for the
 * connection id, as conn.c seals a grant. */
static lk_err sealed_row(lk_bulk *b, const queued *q, const char *id, json_object **out)
{
    char *at = NULL, *rt = NULL;
    const lk_keyring *kr = &b->cfg->keys;
    const lk_bulk_line *l = &q->l;
    lk_err rc = lk_seal(b->batch, kr, "connections", "access_token", id, l->access_token, strlen(l->access_token), &at);
    if (rc == LK_OK && l->refresh_token)
        rc = lk_seal(b->batch, kr, "connections", "refresh_token", id, l->refresh_token, strlen(l->refresh_token), &rt);
    if (rc != LK_OK)
        return rc;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(strtoll(id, NULL, 10)));
    lk_json_set_int(o, "p", q->p->id);
    lk_json_set_str(o, "i", l->instance_id);
    lk_json_set_str(o, "c", l->client_id);
    lk_json_set_str(o, "at", at);
    lk_json_set_str(o, "rt", rt);
    lk_json_set_str(o, "tt", l->token_type);
    lk_json_set_str(o, "sc", l->scope);
    if (l->has_expiry)
        lk_json_set_int(o, "e", l->expires_at);
    json_object *m = NULL;
    if (lk_json_parse(b->batch, l->metadata, strlen(l->metadata), &m) != LK_OK)
        return LK_EINTERNAL;
    json_object_object_add(o, "m", json_object_get(m));
    *out = o;
    return LK_OK;
}

/* Runs the insert or update st over rows (when any): *done rows written. */
static lk_err write_rows(lk_bulk *b, lk_stmt *st, json_object *rows, long long *done)
{
    *done = 0;
    if (!json_object_array_length(rows))
        return LK_OK;
    const char *params[] = {lk_json_text(b->batch, rows)};
    PGresult *res;
    lk_err rc = lk_db_exec(b->db, b->batch, st, params, &res);
    if (rc == LK_OK && !lk_parse_int(PQcmdTuples(res), 0, LLONG_MAX, done))
        rc = LK_EINTERNAL;
    return rc;
}

/* Inside the batch's transaction: stores it, counting into c. */
static lk_err store_batch(lk_bulk *b, lk_bulk_counts *c)
{
    const char **ids = lk_alloc(b->batch, b->n * sizeof *ids);
    bool *newer = lk_alloc(b->batch, b->n * sizeof *newer);
    memset(ids, 0, b->n * sizeof *ids);
    memset(newer, 0, b->n * sizeof *newer);
    lk_err rc = find_existing(b, ids, newer);
    bool *exists = lk_alloc(b->batch, b->n * sizeof *exists);
    for (size_t i = 0; i < b->n; i++)
        exists[i] = ids[i] != NULL;
    if (rc == LK_OK)
        rc = allocate_ids(b, ids);
    json_object *ins = lk_json_array(b->batch), *upd = lk_json_array(b->batch);
    for (size_t i = 0; rc == LK_OK && i < b->n; i++) {
        json_object *row;
        if (newer[i])
            c->skipped++;
        else if ((rc = sealed_row(b, &b->q[i], ids[i], &row)) == LK_OK)
            json_object_array_add(exists[i] ? upd : ins, row);
    }
    long long inserted = 0, updated = 0;
    if (rc == LK_OK)
        rc = write_rows(b, &q_insert, ins, &inserted);
    if (rc == LK_OK)
        rc = write_rows(b, &q_update, upd, &updated);
    /* An insert lost to a concurrent connect leaves that newer grant. */
    c->skipped += (long long)json_object_array_length(ins) - inserted;
    c->imported += inserted;
    c->updated += updated;
    return rc;
}

lk_err lk_bulk_flush(lk_bulk *b)
{
    if (!b->n)
        return LK_OK;
    lk_bulk_counts c = {0};
    lk_err rc = lk_db_begin(b->db);
    if (rc != LK_OK)
        return rc;
    rc = store_batch(b, &c);
    if (rc == LK_OK && !b->dry_run)
        rc = lk_db_commit(b->db);
    else
        lk_db_rollback(b->db);
    if (rc == LK_OK) {
        b->counts.imported += c.imported;
        b->counts.updated += c.updated;
        b->counts.skipped += c.skipped;
    }
    b->n = 0;
    return rc;
}

/* A page of connections after id $2, of profile $1 (all when NULL). */
static lk_stmt q_export =
    LK_STMT("bulk_export",
            "SELECT c.id, p.name AS profile, c.instance_id, c.client_id, c.access_token, c.refresh_token, "
            "c.token_type, c.scope, to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS "
            "expires_at, c.metadata::text AS metadata FROM connections c JOIN profiles p ON p.id = c.profile_id "
            "WHERE ($1::text IS NULL OR p.name = $1) AND c.id > $2::bigint ORDER BY c.id LIMIT " EXPORT_PAGE,
            2);

/* Adds a token column of row r: sealed as stored, or opened (decrypt). */
static lk_err export_token(lk_arena *a, const lk_config *cfg, PGresult *res, int r, const char *column, bool decrypt,
                           json_object *o)
{
    const char *sealed = lk_db_get(res, r, column);
    if (!sealed)
        return LK_OK;
    if (!decrypt) {
        lk_json_set_str(o, lk_printf(a, "%s_sealed", column), sealed);
        return LK_OK;
    }
    char *clear = NULL;
    lk_err rc = lk_unseal(a, &cfg->keys, "connections", column, lk_db_get(res, r, "id"), sealed, &clear, NULL);
    if (rc == LK_OK)
        lk_json_set_str(o, column, clear);
    return rc;
}

/* Row r of an export page as one line of the import format. */
static lk_err export_row(lk_arena *a, const lk_config *cfg, PGresult *res, int r, bool decrypt, FILE *out)
{
    json_object *o = lk_json_object(a);
    static const char *const plain[] = {"profile", "instance_id", "client_id", "token_type", "scope", "expires_at"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        lk_json_set_str(o, plain[i], lk_db_get(res, r, plain[i]));
    lk_err rc = export_token(a, cfg, res, r, "access_token", decrypt, o);
    if (rc == LK_OK)
        rc = export_token(a, cfg, res, r, "refresh_token", decrypt, o);
    if (rc != LK_OK)
        return rc;
    const char *m = lk_db_get(res, r, "metadata");
    json_object *meta = NULL;
    if (m && lk_json_parse(a, m, strlen(m), &meta) == LK_OK)
        json_object_object_add(o, "metadata", json_object_get(meta));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    return fprintf(out, "%s\n", text) < 0 ? LK_EINTERNAL : LK_OK;
}

lk_err lk_bulk_export(lk_db *db, const lk_config *cfg, const char *profile, bool decrypt, FILE *out, long long *n)
{
    lk_arena *a = lk_arena_new();
    lk_err rc = LK_OK;
    char after[32] = "0";
    *n = 0;
    for (;;) {
        lk_arena_reset(a);
        const char *params[] = {profile, after};
        PGresult *res;
        rc = lk_db_exec(db, a, &q_export, params, &res);
        int rows = rc == LK_OK ? PQntuples(res) : 0;
        for (int r = 0; rc == LK_OK && r < rows; r++)
            rc = export_row(a, cfg, res, r, decrypt, out);
        if (rc != LK_OK || !rows)
            break;
        *n += rows;
        snprintf(after, sizeof after, "%s", lk_db_get(res, rows - 1, "id"));
    }
    lk_arena_free(a);
    return rc;
}
