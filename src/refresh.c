#define _XOPEN_SOURCE 700 /* strptime */
#include "refresh.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "text.h"

/* One round trip on entering a refresh: the lock wait ($1) and, since the
 * wait is a statement, a statement timeout beyond it ($2); and at most $4
 * callers of one machine ($5) per connection ($3) inside a refresh (SPEC
 * §5): each holds one of $4 transaction-scoped advisory locks on
 * (connection, machine and slot) while it waits for the row lock or calls
 * the provider, so a crowd on one connection cannot take every worker.
 * slot is NULL when none was free. */
static lk_stmt q_enter = LK_STMT("refresh_enter",
                                 "SELECT set_config('lock_timeout', $1, true), "
                                 "set_config('statement_timeout', $2, true), "
                                 "(SELECT s FROM generate_series(0, $4::int - 1) AS s WHERE "
                                 "pg_try_advisory_xact_lock(($3::bigint % 2147483647)::int, $5::int * 128 + s) "
                                 "LIMIT 1) AS slot",
                                 5);
#define STORE_SQL                                                                                                      \
    "UPDATE connections SET access_token = $2, refresh_token = $3, token_type = $4, "                                  \
    "scope = COALESCE($5, scope), expires_at = now() + make_interval(secs => $6::bigint), "                            \
    "status = 'active', generation = generation + 1, refresh_count = refresh_count + 1, "                              \
    "failure_count = 0, last_refreshed_at = clock_timestamp(), updated_at = now(), last_error = NULL, "                \
    "last_error_at = NULL, refresh_retry_at = NULL, refresh_retry_error = NULL "                                       \
    "WHERE id = $1"
static lk_stmt q_store = LK_STMT("refresh_store", STORE_SQL, 6);
/* The same, counting the success and its provider request ($7 the
 * profile, $8 and $9 the request) in the same statement (SPEC §11). */
static lk_stmt q_store_counted =
    LK_STMT("refresh_store_counted", LK_METRICS_SUCCESS_WITH("$7", "$8", "$9") STORE_SQL, 9);
/* A failure: the status ($2, or unchanged when NULL), the reason, and how
 * long every caller holds off before the provider is asked again. */
static lk_stmt q_failed =
    LK_STMT("refresh_failed",
            "UPDATE connections SET status = COALESCE($2, status), "
            "failure_count = failure_count + CASE WHEN $2 IS NULL THEN 0 ELSE 1 END, "
            "last_error = $3, last_error_at = now(), "
            "updated_at = now(), refresh_retry_at = clock_timestamp() + make_interval(secs => $4::bigint), "
            "refresh_retry_error = $5 WHERE id = $1",
            5);
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
    /* Callers queued in the web server never saw the old generation: a
     * token this fresh is the best there is, whatever min_validity asks (a
     * provider whose tokens live 600 s cannot satisfy 3000 s). */
    if (f->refreshed_ago < LK_REFRESH_FRESH_SECS && lk_fresh_enough(f->has_expiry, f->expires_in, 0))
        return LK_USE_CURRENT;
    if (!f->force && lk_fresh_enough(f->has_expiry, f->expires_in, f->min_validity))
        return LK_USE_CURRENT;
    if (!f->has_refresh_token)
        return (f->has_expiry && f->expires_in <= 0) ? LK_NEED_REAUTH : LK_USE_CURRENT;
    /* A failure is shared like a success: nobody asks again before the
     * provider's Retry-After has passed. */
    if (f->retry_in > 0)
        return LK_HOLD_OFF;
    return LK_DO_REFRESH;
}

/* What the row c says, to a caller that noted generation noted_gen. */
static lk_refresh_facts facts_of(const lk_conn *c, long long noted_gen, bool force, long long min_validity,
                                 long long idle_min)
{
    lk_refresh_facts f = {
        .noted_generation = noted_gen,
        .generation = c->generation,
        .force = force,
        .has_expiry = c->expires_at != NULL,
        .expires_in = c->expires_in,
        .min_validity = min_validity,
        .reauth_required = !strcmp(c->status, "reauthorization_required"),
        .has_refresh_token = c->refresh_sealed != NULL,
        .idle_min = idle_min,
        .refreshed_ago = c->refreshed_ago,
        .retry_in = c->retry_in,
    };
    return f;
}

lk_refresh_action lk_refresh_plan(const lk_conn *c, bool force, long long min_validity)
{
    lk_refresh_facts f = facts_of(c, c->generation, force, min_validity, 0);
    return lk_refresh_decide(&f);
}

long long lk_retry_after_secs(const char *v, time_t now)
{
    long long secs = LK_RETRY_AFTER_DEFAULT;
    if (v) {
        size_t n = strlen(v);
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (n > 0 && strspn(v, "0123456789") == n) {
            /* RFC 9110 §10.2.3 delay-seconds; ten digits are past any cap. */
            if (n > 9 || !lk_parse_int_n(v, n, 0, LLONG_MAX, &secs))
                secs = LK_RETRY_AFTER_MAX;
        } else {
            /* An HTTP-date (IMF-fixdate). */
            const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            if (end && !*end)
                secs = (long long)(timegm(&tm) - now);
        }
    }
    if (secs < 1)
        secs = 1;
    return secs > LK_RETRY_AFTER_MAX ? LK_RETRY_AFTER_MAX : secs;
}

/* The audit row goes into the refresh's transaction: a failure to write it
 * fails the transaction, so it is reported, never ignored. */
static lk_err audit(const lk_refresh_ctx *cx, const lk_conn *c, const char *outcome, const char *why)
{
    json_object *d = lk_json_object(cx->a);
    lk_json_set_int(d, "generation", c->generation);
    if (why)
        lk_json_set_str(d, "reason", why);
    return lk_audit(cx->db, cx->a, cx->actor, "connection.refresh", c->profile, c->instance_id, outcome, d);
}

static bool token_valid(const lk_conn *c)
{
    return lk_fresh_enough(c->expires_at != NULL, c->expires_in, 0);
}

/* What the row says now: its token (committed by whoever refreshed it). */
static lk_err use_current(const lk_refresh_ctx *cx, lk_conn *c, lk_refresh_out *out)
{
    out->conn = c;
    return lk_conn_access_token(cx->a, cx->cfg, c, &out->access_token);
}

/* Not waited for (too many callers, or the lock wait ran out): the noted
 * token while it is valid, else 503 with a short Retry-After. */
static lk_err not_waited(const lk_refresh_ctx *cx, const lk_conn *noted, lk_refresh_out *out)
{
    out->refresh_in_progress = true;
    if (token_valid(noted) && strcmp(noted->status, "reauthorization_required") != 0) {
        out->conn = (lk_conn *)noted;
        return lk_conn_access_token(cx->a, cx->cfg, noted, &out->access_token);
    }
    out->retry_after = "1";
    out->detail = "A refresh of this connection is in progress; try again shortly.";
    return LK_EUNAVAILABLE;
}

/* The answer while a shared failure holds callers off (SPEC §5). */
static lk_err held_off(const lk_refresh_ctx *cx, lk_conn *c, lk_refresh_out *out)
{
    lk_arena *a = cx->a;
    const char *why = c->last_error ? c->last_error : "an earlier failure";
    if (c->retry_error && !strcmp(c->retry_error, "provider_error")) {
        out->detail = lk_printf(a, "The provider's last answer could not be used (%s); not asking again for %llds.",
                                why, c->retry_in);
        return LK_EPROVIDER;
    }
    if (token_valid(c)) {
        out->refresh_failed = true;
        return use_current(cx, c, out);
    }
    out->retry_after = lk_printf(a, "%lld", c->retry_in > 0 ? c->retry_in : 1);
    out->detail = lk_printf(a, "The provider is unavailable (%s); try again later.", why);
    return LK_EUNAVAILABLE;
}

/* Records a failure that every caller shares until hold_secs have passed:
 * status (NULL: unchanged), reason, and the answer class meanwhile. */
static lk_err record_failure(const lk_refresh_ctx *cx, lk_conn *c, const char *status, const char *why,
                             long long hold_secs, const char *answer)
{
    const char *params[] = {c->id_text, status, why, lk_printf(cx->a, "%lld", hold_secs), answer};
    lk_err rc = lk_db_exec(cx->db, cx->a, &q_failed, params, NULL);
    if (rc == LK_OK) {
        if (status) /* the answer tells the status the row now has */
            c->status = (char *)status;
        c->retry_in = hold_secs;
        c->retry_error = (char *)answer;
        c->last_error = (char *)why;
    }
    return rc;
}

/* Stores what the provider answered after secs, counted for profile p
 * (the commit follows in the caller). */
static lk_err store_tokens(const lk_refresh_ctx *cx, const lk_profile *p, const lk_conn *c, const lk_tokens *t,
                           double secs, lk_conn **now)
{
    lk_arena *a = cx->a;
    char *at = NULL, *rt = NULL;
    lk_err rc = lk_seal(a, &cx->cfg->keys, "connections", "access_token", c->id_text, t->access_token,
                        strlen(t->access_token), &at);
    /* A reply without a new refresh token keeps the old one. */
    if (rc == LK_OK && t->refresh_token)
        rc = lk_seal(a, &cx->cfg->keys, "connections", "refresh_token", c->id_text, t->refresh_token,
                     strlen(t->refresh_token), &rt);
    else
        rt = c->refresh_sealed;
    if (rc == LK_OK) {
        long long ttl = t->expires_in > 0 ? t->expires_in : cx->cfg->default_token_ttl;
        const char *params[] = {c->id_text, at,   rt,  t->token_type, t->scope, lk_printf(a, "%lld", ttl),
                                p->id_text, NULL, NULL};
        lk_metrics_request(a, secs, &params[7], &params[8]);
        rc = lk_db_exec(cx->db, a, cx->cfg->metrics ? &q_store_counted : &q_store, params, NULL);
    }
    if (rc == LK_OK)
        rc = audit(cx, c, "ok", NULL);
    if (rc == LK_OK)
        rc = lk_conn_lock(cx->db, a, c->id, now);
    return rc;
}

/* The provider refused the refresh token (invalid_grant). Only the token
 * we sent being refused ends the grant: when another worker rotated it
 * meanwhile, this caller just tries again. */
static lk_err grant_refused(const lk_refresh_ctx *cx, lk_conn *c, const char *why, lk_refresh_out *out, bool *recorded)
{
    const char *idp[] = {c->id_text};
    PGresult *res;
    lk_err rc = lk_db_exec(cx->db, cx->a, &q_refresh_token_now, idp, &res);
    if (rc != LK_OK)
        return rc;
    const char *now_sealed = lk_db_val(res, 0, 0);
    if (now_sealed && c->refresh_sealed && strcmp(now_sealed, c->refresh_sealed) != 0) {
        out->retry_after = "1";
        out->detail = "The connection changed during the refresh; try again.";
        return LK_EUNAVAILABLE;
    }
    rc = record_failure(cx, c, "reauthorization_required", "invalid_grant", 0, NULL);
    if (rc == LK_OK)
        rc = audit(cx, c, "reauthorization_required", why);
    if (rc != LK_OK)
        return rc;
    *recorded = true;
    out->conn = c;
    out->detail = "The provider revoked this grant: the user must authorize again "
                  "(POST /authorize/{profile} for a new link).";
    return LK_EREAUTH;
}

/* The profile is wrong (the profile is flagged), or the provider answered
 * nonsense: tokens and status stay as they are; callers share this answer
 * a while. */
static lk_err provider_error(const lk_refresh_ctx *cx, const lk_profile *p, lk_conn *c, lk_oauth_fail fail,
                             const char *why, lk_refresh_out *out, bool *recorded)
{
    lk_arena *a = cx->a;
    lk_err rc = LK_OK;
    if (fail == LK_OAUTH_CONFIG) {
        const char *params[] = {p->id_text, why};
        rc = lk_db_exec(cx->db, a, &q_flag_profile, params, NULL);
    }
    if (rc == LK_OK)
        rc = record_failure(cx, c, NULL, why, LK_RETRY_AFTER_DEFAULT, "provider_error");
    if (rc == LK_OK)
        rc = audit(cx, c, "provider_error", why);
    if (rc != LK_OK)
        return rc;
    *recorded = true;
    out->detail = fail == LK_OAUTH_CONFIG ? lk_printf(a,
                                                      "The provider refused this profile's client (%s); an "
                                                      "administrator must fix the profile.",
                                                      why)
                                          : lk_printf(a, "The provider's answer could not be used (%s).", why);
    return LK_EPROVIDER;
}

/* The provider is unavailable: every caller holds off for its Retry-After
 * (or the default), served the stored token meanwhile while it is valid. */
static lk_err provider_unavailable(const lk_refresh_ctx *cx, lk_conn *c, const char *why, const char *provider_retry,
                                   lk_refresh_out *out, bool *recorded)
{
    long long hold = lk_retry_after_secs(provider_retry, time(NULL));
    lk_err rc = record_failure(cx, c, "refresh_failing", why, hold, "provider_unavailable");
    if (rc == LK_OK)
        rc = audit(cx, c, "provider_unavailable", why);
    if (rc != LK_OK)
        return rc;
    *recorded = true;
    return held_off(cx, c, out);
}

/* The provider refused or failed: record it (shared by every caller) and
 * say what this caller is answered. Inside the transaction; *recorded says
 * whether there is something to commit. */
static lk_err judge_failure(const lk_refresh_ctx *cx, const lk_profile *p, lk_conn *c, lk_oauth_fail fail,
                            const char *why, const char *provider_retry, lk_refresh_out *out, bool *recorded)
{
    if (fail == LK_OAUTH_GRANT)
        return grant_refused(cx, c, why, out, recorded);
    if (fail == LK_OAUTH_CONFIG || fail == LK_OAUTH_NONSENSE)
        return provider_error(cx, p, c, fail, why, out, recorded);
    return provider_unavailable(cx, c, why, provider_retry, out, recorded);
}

/* Counts a failed refresh (its outcome) and its provider request, in its
 * transaction; returns the caller's answer rc. A refusal not recorded (the
 * token had been rotated meanwhile) counts only the request. A failure to
 * count fails the transaction, as for its audit row. */
static lk_err count_refresh(const lk_refresh_ctx *cx, const lk_profile *p, lk_oauth_fail fail, double secs, lk_err rc,
                            bool *changed)
{
    const char *outcome = *changed ? lk_metrics_outcome(fail) : NULL;
    if (!*changed && rc != LK_EUNAVAILABLE)
        return rc; /* the transaction failed: nothing is committed */
    lk_err mrc = lk_metrics_count(cx->db, cx->a, cx->cfg, p->id_text, outcome, secs);
    if (mrc != LK_OK)
        return mrc;
    *changed = true;
    return rc;
}

/* Calls the provider with the connection's refresh token and stores or
 * judges the answer. Inside the transaction, under the row lock; *changed
 * says whether there is something to commit. */
static lk_err call_provider(const lk_refresh_ctx *cx, const lk_profile *p, lk_conn *c, lk_refresh_out *out,
                            bool *changed)
{
    lk_arena *a = cx->a;
    char *refresh_token = NULL;
    lk_client client;
    lk_err rc = lk_unseal(a, &cx->cfg->keys, "connections", "refresh_token", c->id_text, c->refresh_sealed,
                          &refresh_token, NULL);
    if (rc == LK_OK)
        rc = lk_profile_client(cx->db, a, cx->cfg, p, c->client_id, &client);
    if (rc != LK_OK) {
        out->detail = "The connection's credentials could not be read.";
        return rc == LK_ENOTFOUND ? LK_EPROVIDER : rc;
    }
    /* The same client that obtained the grant refreshes it. */
    const char *grant[] = {"grant_type", "refresh_token", "refresh_token", refresh_token, NULL, NULL};
    lk_tokens t;
    const char *why, *provider_retry;
    double started = lk_metrics_clock();
    lk_oauth_fail fail =
        lk_oauth_token_call(cx->up, a, p->refresh_url, p->token_style, &client, grant, &t, &why, &provider_retry);
    double secs = lk_metrics_clock() - started;
    out->refreshed = true;
    if (fail != LK_OAUTH_OK) {
        lk_warn("refresh of a %s connection failed: %s", c->profile, why);
        rc = judge_failure(cx, p, c, fail, why, provider_retry, out, changed);
        return count_refresh(cx, p, fail, secs, rc, changed);
    }
    lk_conn *now = NULL;
    rc = store_tokens(cx, p, c, &t, secs, &now);
    if (rc != LK_OK) {
        lk_error("refresh of %s: the provider rotated but storing failed (%s)", c->profile, lk_err_code(rc));
        out->retry_after = "2";
        out->detail = "The refreshed token could not be stored; try again.";
        return rc == LK_EDB ? LK_EDB : LK_EUNAVAILABLE;
    }
    *changed = true;
    out->conn = now;
    out->access_token = t.access_token;
    return LK_OK;
}

/* Machine numbers: fewer than 2^31 / 128, so that number * 128 + slot (as
 * q_enter computes it) stays an int. */
#define LK_MACHINE_NUMBERS (1UL << 20)

/* This machine's number among the callers' slots: its host name hashed
 * (two machines sharing a number share a bound, which is harmless). */
static const char *machine_number(lk_arena *a)
{
    static long number = -1;
    if (number < 0) {
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        unsigned long h = 5381;
        for (const char *p = host; *p; p++)
            h = h * 33 + (unsigned char)*p;
        number = (long)(h % LK_MACHINE_NUMBERS);
    }
    return lk_printf(a, "%ld", number);
}

/* Takes one of the connection's caller slots and then its row lock.
 * *waited is false when no slot was free or the lock wait ran out. */
static lk_err lock_row(const lk_refresh_ctx *cx, const lk_conn *noted, lk_conn **c, bool *waited)
{
    lk_arena *a = cx->a;
    *waited = false;
    /* Timeouts nest: provider call < lock wait < web server timeout. */
    const char *params[] = {lk_printf(a, "%ldms", cx->cfg->lock_timeout_ms),
                            lk_printf(a, "%ldms", cx->cfg->lock_timeout_ms + cx->cfg->db_timeout_ms), noted->id_text,
                            lk_printf(a, "%ld", 1 + cx->cfg->refresh_waiters), machine_number(a)};
    PGresult *res = NULL;
    lk_err rc = lk_db_exec(cx->db, a, &q_enter, params, &res);
    if (rc != LK_OK || !lk_db_get(res, 0, "slot"))
        return rc;
    rc = lk_conn_lock(cx->db, a, noted->id, c);
    if (rc == LK_EDB && !strcmp(lk_db_sqlstate(cx->db), "55P03"))
        return LK_OK; /* lock_not_available: the lock wait ran out */
    *waited = rc == LK_OK;
    return rc;
}

/* No refresh token, or the grant is gone: the user must authorize again.
 * A row not yet marked so is marked (*changed: commit it). */
static lk_err need_reauth(const lk_refresh_ctx *cx, lk_conn *c, lk_refresh_out *out, bool *changed)
{
    lk_err rc = LK_OK;
    if (strcmp(c->status, "reauthorization_required") != 0) {
        rc = record_failure(cx, c, "reauthorization_required", "no_refresh_token", 0, NULL);
        *changed = rc == LK_OK;
    }
    out->conn = c;
    out->detail = "The user must authorize again: ask for a new link with POST /authorize/{profile}.";
    return rc == LK_OK ? LK_EREAUTH : rc;
}

/* Decides on the locked row c (SPEC §5) and acts: its token, the shared
 * failure, a reauthorization, or a provider call. *changed says whether
 * there is something to commit. */
static lk_err decide_and_act(const lk_refresh_ctx *cx, const lk_profile *p, const lk_conn *noted, lk_conn *c,
                             bool force, long long min_validity, lk_refresh_out *out, bool *changed)
{
    lk_refresh_facts f = facts_of(c, noted->generation, force, min_validity, cx->idle_min);
    lk_refresh_action act = lk_refresh_decide(&f);
    lk_debug("refresh of connection %s: generation %lld (noted %lld), force %d: action %d", c->id_text, f.generation,
             f.noted_generation, (int)force, (int)act);
    switch (act) {
    case LK_USE_CURRENT: return use_current(cx, c, out);
    case LK_HOLD_OFF: return held_off(cx, c, out);
    case LK_NEED_REAUTH: return need_reauth(cx, c, out, changed);
    case LK_DO_REFRESH: return call_provider(cx, p, c, out, changed);
    }
    return LK_EINTERNAL;
}

/* Ends the refresh's transaction: what was stored or recorded is committed
 * before anyone is answered (SPEC §5); a read-only pass just ends it. A
 * failed commit replaces the answer with a 503 (or LK_EDB). */
static lk_err end_transaction(const lk_refresh_ctx *cx, const lk_conn *noted, bool commit, lk_err rc,
                              lk_refresh_out *out)
{
    if (!commit) {
        lk_db_rollback(cx->db);
        return rc;
    }
    lk_err crc = lk_db_commit(cx->db);
    if (crc == LK_OK)
        return rc;
    lk_db_rollback(cx->db);
    if (out->refreshed)
        lk_error("refresh of %s: the provider answered but the commit failed (%s)", noted->profile, lk_err_code(crc));
    memset(out, 0, sizeof(*out));
    out->retry_after = "2";
    out->detail = "The refresh could not be stored; try again.";
    return crc == LK_EDB ? LK_EDB : LK_EUNAVAILABLE;
}

lk_err lk_refresh(const lk_refresh_ctx *cx, const lk_profile *p, const lk_conn *noted, bool force,
                  long long min_validity, lk_refresh_out *out)
{
    memset(out, 0, sizeof(*out));
    lk_err rc = lk_db_begin(cx->db);
    if (rc != LK_OK)
        return rc; /* no transaction to end */
    lk_conn *c = NULL;
    bool waited = false;
    bool commit = false; /* something was written: commit before answering */
    rc = lock_row(cx, noted, &c, &waited);
    if (rc != LK_OK)
        goto end;
    if (!waited) {
        rc = not_waited(cx, noted, out);
        goto end;
    }
    rc = decide_and_act(cx, p, noted, c, force, min_validity, out, &commit);
end:
    return end_transaction(cx, noted, commit, rc, out);
}
