#include "refresh.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "oauth.h"

/* A forced refresh this soon after the last one is the same refresh (SPEC §5:
 * N concurrent callers cost one provider call). */
#define LK_REFRESH_COALESCE_SECS 10

static lk_stmt q_lock_timeout = LK_STMT("refresh_lock_timeout", "SELECT set_config('lock_timeout', $1, true)", 1);
static lk_stmt q_store = LK_STMT("refresh_store",
                                 "UPDATE connections SET access_token = $2, refresh_token = $3, token_type = $4, "
                                 "scope = COALESCE($5, scope), expires_at = now() + make_interval(secs => $6::bigint), "
                                 "status = 'active', generation = generation + 1, refresh_count = refresh_count + 1, "
                                 "failure_count = 0, last_refreshed_at = now(), updated_at = now(), last_error = NULL, "
                                 "last_error_at = NULL WHERE id = $1",
                                 6);
static lk_stmt q_failed = LK_STMT("refresh_failed",
                                  "UPDATE connections SET status = $2, failure_count = failure_count + 1, "
                                  "last_error = $3, last_error_at = now(), updated_at = now() WHERE id = $1",
                                  3);
static lk_stmt q_refresh_token_now =
    LK_STMT("refresh_token_now", "SELECT refresh_token FROM connections WHERE id = $1", 1);
static lk_stmt q_flag_profile = LK_STMT("refresh_flag_profile",
                                        "UPDATE profiles SET misconfigured_at = now(), misconfigured_reason = $2 "
                                        "WHERE id = $1",
                                        2);

bool lk_fresh_enough(bool has_expiry, long long expires_in, long long min_validity)
{
    return !has_expiry || expires_in > min_validity;
}

lk_refresh_action lk_refresh_decide(const lk_refresh_facts *f)
{
    if (f->reauth_required)
        return LK_NEED_REAUTH;
    /* Someone refreshed (or re-authorized) while we waited: use theirs,
     * whatever min_validity says, so N callers cost one provider call. */
    if (f->generation != f->noted_generation)
        return LK_USE_CURRENT;
    /* A sweep from another machine got here first. */
    if (f->idle_min > 0 && f->refreshed_ago < f->idle_min)
        return LK_USE_CURRENT;
    /* Callers queued in the web server behind a refresh never saw the old
     * generation: a forced refresh right after another one uses its token. */
    if (f->force && f->refreshed_ago < LK_REFRESH_COALESCE_SECS &&
        lk_fresh_enough(f->has_expiry, f->expires_in, f->min_validity))
        return LK_USE_CURRENT;
    if (!f->force && lk_fresh_enough(f->has_expiry, f->expires_in, f->min_validity))
        return LK_USE_CURRENT;
    if (!f->has_refresh_token)
        return (f->has_expiry && f->expires_in <= 0) ? LK_NEED_REAUTH : LK_USE_CURRENT;
    return LK_DO_REFRESH;
}

static const char *retry_after_of(lk_arena *a, const char *provider)
{
    if (provider) {
        char *end = NULL;
        long v = strtol(provider, &end, 10);
        if (end != provider && *end == '\0' && v >= 0 && v <= 3600)
            return lk_printf(a, "%ld", v < 1 ? 1 : v);
    }
    return "10";
}

static void audit(const lk_refresh_ctx *cx, const lk_conn *c, const char *outcome, const char *why)
{
    json_object *d = lk_json_object(cx->a);
    lk_json_set_int(d, "generation", c->generation);
    if (why)
        lk_json_set_str(d, "reason", why);
    lk_audit(cx->db, cx->a, cx->actor, "connection.refresh", c->profile, c->instance_id, outcome, d);
}

/* Ends the transaction with what the row says now. */
static lk_err use_current(const lk_refresh_ctx *cx, lk_conn *c, lk_refresh_out *out)
{
    lk_err rc = lk_db_commit(cx->db);
    if (rc != LK_OK)
        return rc;
    out->conn = c;
    return lk_conn_access_token(cx->a, cx->cfg, c, &out->access_token);
}

static lk_err fail_row(const lk_refresh_ctx *cx, lk_conn *c, const char *status, const char *why)
{
    const char *params[] = {c->id_text, status, why};
    return lk_db_exec(cx->db, cx->a, &q_failed, params, NULL);
}

lk_err lk_refresh(const lk_refresh_ctx *cx, const lk_profile *p, const lk_conn *noted, bool force,
                  long long min_validity, lk_refresh_out *out)
{
    lk_arena *a = cx->a;
    memset(out, 0, sizeof(*out));
    lk_err rc = lk_db_begin(cx->db);
    if (rc != LK_OK)
        return rc;
    /* Timeouts nest: provider call < lock wait < web server timeout. */
    const char *lt[] = {lk_printf(a, "%ldms", cx->cfg->lock_timeout_ms)};
    lk_conn *c = NULL;
    rc = lk_db_exec(cx->db, a, &q_lock_timeout, lt, NULL);
    if (rc == LK_OK)
        rc = lk_conn_lock(cx->db, a, noted->id, &c);
    if (rc != LK_OK) {
        bool lock_wait = !strcmp(lk_db_sqlstate(cx->db), "55P03");
        lk_db_rollback(cx->db);
        if (lock_wait) {
            out->retry_after = "2";
            out->detail = "Another refresh of this connection is taking long; try again shortly.";
            return LK_EUNAVAILABLE;
        }
        return rc;
    }
    lk_refresh_facts f = {
        .noted_generation = noted->generation,
        .generation = c->generation,
        .force = force,
        .has_expiry = c->expires_at != NULL,
        .expires_in = c->expires_in,
        .min_validity = min_validity,
        .reauth_required = !strcmp(c->status, "reauthorization_required"),
        .has_refresh_token = c->refresh_sealed != NULL,
        .idle_min = cx->idle_min,
        .refreshed_ago = c->refreshed_ago,
    };
    lk_refresh_action act = lk_refresh_decide(&f);
    lk_debug("refresh of connection %s: generation %lld (noted %lld), force %d: action %d", c->id_text, f.generation,
             f.noted_generation, (int)force, (int)act);
    switch (act) {
    case LK_USE_CURRENT: return use_current(cx, c, out);
    case LK_NEED_REAUTH:
        if (strcmp(c->status, "reauthorization_required") != 0)
            fail_row(cx, c, "reauthorization_required", "no_refresh_token");
        lk_db_commit(cx->db);
        out->conn = c;
        out->detail = "The user must authorize again: ask for a new link with POST /authorize/{profile}.";
        return LK_EREAUTH;
    case LK_DO_REFRESH: break;
    }

    char *refresh_token = NULL;
    lk_client client;
    rc = lk_unseal(a, &cx->cfg->keys, "connections", "refresh_token", c->id_text, c->refresh_sealed, &refresh_token,
                   NULL);
    if (rc == LK_OK)
        rc = lk_profile_client(cx->db, a, cx->cfg, p, c->client_id, &client);
    if (rc != LK_OK) {
        lk_db_rollback(cx->db);
        out->detail = "The connection's credentials could not be read.";
        return rc == LK_ENOTFOUND ? LK_EPROVIDER : rc;
    }
    /* The same client that obtained the grant refreshes it. */
    const char *grant[] = {"grant_type", "refresh_token", "refresh_token", refresh_token, NULL, NULL};
    lk_tokens t;
    const char *why, *provider_retry;
    lk_oauth_fail fail =
        lk_oauth_token_call(cx->up, a, p->refresh_url, p->token_style, &client, grant, &t, &why, &provider_retry);
    out->refreshed = true;
    if (fail == LK_OAUTH_OK) {
        char *at = NULL, *rt = NULL;
        rc = lk_seal(a, &cx->cfg->keys, "connections", "access_token", c->id_text, t.access_token,
                     strlen(t.access_token), &at);
        /* A reply without a new refresh token keeps the old one. */
        if (rc == LK_OK && t.refresh_token)
            rc = lk_seal(a, &cx->cfg->keys, "connections", "refresh_token", c->id_text, t.refresh_token,
                         strlen(t.refresh_token), &rt);
        else
            rt = c->refresh_sealed;
        if (rc == LK_OK) {
            const char *expires = lk_printf(a, "%lld", t.expires_in >= 0 ? t.expires_in : 3600LL);
            const char *params[] = {c->id_text, at, rt, t.token_type, t.scope, expires};
            rc = lk_db_exec(cx->db, a, &q_store, params, NULL);
        }
        if (rc == LK_OK)
            audit(cx, c, "ok", NULL);
        lk_conn *now = NULL;
        if (rc == LK_OK)
            rc = lk_conn_lock(cx->db, a, c->id, &now);
        /* The commit comes before anyone is answered (SPEC §5). */
        if (rc == LK_OK)
            rc = lk_db_commit(cx->db);
        if (rc != LK_OK) {
            lk_db_rollback(cx->db);
            lk_error("refresh of %s: the provider rotated but the commit failed (%s)", c->profile, lk_err_code(rc));
            out->retry_after = "2";
            out->detail = "The refreshed token could not be stored; try again.";
            return rc == LK_EDB ? LK_EDB : LK_EUNAVAILABLE;
        }
        out->conn = now;
        out->access_token = t.access_token;
        return LK_OK;
    }

    lk_warn("refresh of a %s connection failed: %s", c->profile, why);
    if (fail == LK_OAUTH_GRANT) {
        /* Re-check that no other worker rotated the token meanwhile: only
         * the refresh token we sent being refused ends the grant. */
        const char *idp[] = {c->id_text};
        PGresult *res;
        rc = lk_db_exec(cx->db, a, &q_refresh_token_now, idp, &res);
        if (rc == LK_OK && lk_db_val(res, 0, 0) && strcmp(lk_db_val(res, 0, 0), c->refresh_sealed) != 0) {
            lk_db_rollback(cx->db);
            out->retry_after = "1";
            out->detail = "The connection changed during the refresh; try again.";
            return LK_EUNAVAILABLE;
        }
        fail_row(cx, c, "reauthorization_required", "invalid_grant");
        audit(cx, c, "reauthorization_required", why);
        lk_db_commit(cx->db);
        out->conn = c;
        out->detail = "The provider revoked this grant: the user must authorize again "
                      "(POST /authorize/{profile} for a new link).";
        return LK_EREAUTH;
    }
    if (fail == LK_OAUTH_CONFIG) {
        /* The profile is wrong, not the connection: leave it alone. */
        const char *params[] = {p->id_text, why};
        lk_db_exec(cx->db, a, &q_flag_profile, params, NULL);
        audit(cx, c, "provider_error", why);
        lk_db_commit(cx->db);
        out->detail = lk_printf(a,
                                "The provider refused this profile's client (%s); an administrator must "
                                "fix the profile.",
                                why);
        return LK_EPROVIDER;
    }
    fail_row(cx, c, "refresh_failing", why);
    audit(cx, c, fail == LK_OAUTH_TRANSIENT ? "provider_unavailable" : "provider_error", why);
    rc = lk_db_commit(cx->db);
    if (rc != LK_OK)
        return rc;
    if (fail == LK_OAUTH_NONSENSE) {
        out->detail = lk_printf(a, "The provider's answer could not be used (%s).", why);
        return LK_EPROVIDER;
    }
    if (c->expires_at && c->expires_in > 0) {
        out->refresh_failed = true;
        out->conn = c;
        return lk_conn_access_token(a, cx->cfg, c, &out->access_token);
    }
    out->retry_after = retry_after_of(a, provider_retry);
    out->detail = lk_printf(a, "The provider is unavailable (%s); try again later.", why);
    return LK_EUNAVAILABLE;
}
