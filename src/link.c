#include "link.h"

#include <string.h>

#include "audit.h"
#include "botkey.h"
#include "crypto.h"
#include "gate.h"
#include "json.h"
#include "resources.h"
#include "text.h"
#include "url.h"
#include "usercred.h"

#define LINK_BYTES 32
/* A client_id longer than this is no client of any profile. */
#define LINK_CLIENT_ID_MAX 512
/* The bounds of a link's own lifetime, s (the upper one is configured). */
#define LINK_TTL_MIN 60

static lk_stmt q_link_insert =
    LK_STMT("link_insert",
            "INSERT INTO links (link_hash, profile_id, instance_id, client_id, scopes, redirect_url, site, "
            "created_by, expires_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, now() + "
            "make_interval(secs => $9::bigint)) RETURNING to_char(expires_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            9);

/* The white-label client a link names, when it names one: a validation
 * item when the profile has no such client; false with *rc on a failure. */
static bool check_client_id(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const lk_link_req *lr,
                            const char *where, json_object *errors, lk_err *rc)
{
    if (!lr->client_id)
        return true;
    lk_client c;
    lk_err crc = (strlen(lr->client_id) > LINK_CLIENT_ID_MAX) ? LK_ENOTFOUND
                                                              : lk_profile_client(db, a, cfg, p, lr->client_id, &c);
    if (crc == LK_ENOTFOUND)
        lk_errors_add(errors, where, "client_id", "Value error, this profile has no such client", "value_error");
    else if (crc != LK_OK)
        *rc = crc;
    return *rc == LK_OK;
}

bool lk_link_check(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, lk_link_req *lr,
                   const char *where, json_object *errors, lk_err *rc)
{
    size_t before = json_object_array_length(errors);
    *rc = LK_OK;
    if (!strcmp(p->auth_type, "api_key")) {
        lk_errors_add(errors, "path", "profile",
                      "Value error, this profile has one shared credential: there is nothing to authorize",
                      "value_error");
        return false;
    }
    if (!lr->instance_id)
        lk_errors_add(errors, where, "instance_id", "Field required", "missing");
    else if (!lk_valid_instance_id(lr->instance_id, strlen(lr->instance_id)))
        lk_errors_add(errors, where, "instance_id",
                      "Value error, instance_id must be 1 to 255 bytes of printable UTF-8", "value_error");
    if (lr->scope && lk_profile_scopes(a, p, lr->scope, &lr->scopes) != LK_OK)
        lk_errors_add(errors, where, "scope", "Value error, scope must be a comma-separated list of scopes",
                      "value_error");
    else if (!lr->scope && lk_profile_scopes(a, p, NULL, &lr->scopes) != LK_OK) {
        *rc = LK_EINTERNAL; /* the profile's own scopes: cannot happen */
        return false;
    }
    if (lr->redirect_url && !lk_redirect_allowed(a, lr->redirect_url, p->allowed_redirects.v, p->allowed_redirects.n))
        lk_errors_add(errors, where, "redirect_url", "Value error, redirect_url is not on this profile's allow-list",
                      "value_error");
    lk_site probe;
    const char *why = NULL;
    if (lr->site && !lk_site_valid(lr->site))
        lk_errors_add(errors, where, "site", "Value error, site must be a cloud id or a host name", "value_error");
    else if (lr->site && !strcmp(p->auth_type, "api_key_per_user") &&
             lk_usercred_site(a, p, lr->site, &probe, &why) != LK_OK)
        lk_errors_add(errors, where, "site", lk_printf(a, "Value error, %s", why), "value_error");
    if (lr->expires_in && (lr->expires_in < LINK_TTL_MIN || lr->expires_in > cfg->link_ttl_max))
        lk_errors_add(
            errors, where, "expires_in",
            lk_printf(a, "Value error, expires_in must be from %d to %ld seconds", LINK_TTL_MIN, cfg->link_ttl_max),
            "value_error");
    if (!check_client_id(db, a, cfg, p, lr, where, errors, rc))
        return false;
    return json_object_array_length(errors) == before;
}

lk_err lk_link_create(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const lk_link_req *lr,
                      const char *actor, char **url, char **expires_at)
{
    char *link = lk_random_token(a, LINK_BYTES);
    long long ttl = lr->expires_in ? lr->expires_in : cfg->link_ttl;
    const char *params[] = {lk_sha256_hex(a, link),
                            p->id_text,
                            lr->instance_id,
                            lr->client_id,
                            lr->scope ? lk_json_text(a, lk_strv_to_json(a, &lr->scopes)) : NULL,
                            lr->redirect_url,
                            lr->site,
                            actor,
                            lk_printf(a, "%lld", ttl)};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_link_insert, params, &res);
    if (rc != LK_OK)
        return rc;
    *expires_at = lk_strdup(a, lk_db_val(res, 0, 0));
    *url = lk_printf(a, "%s/authorize/%s?link=%s", cfg->public_base_url, p->name, link);
    return LK_OK;
}

/* A JSON member as a string field: absent is NULL, another type an error. */
static const char *body_str(lk_req *r, json_object *body, const char *name, bool *bad)
{
    json_object *v = lk_json_get(body, name);
    if (!v)
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        lk_fail_field(r, "body", name, "Input should be a valid string", "string_type");
        *bad = true;
        return NULL;
    }
    const char *s = json_object_get_string(v);
    /* A "\u0000" would cut the C string short: refuse it, never truncate. */
    if (strlen(s) != (size_t)json_object_get_string_len(v)) {
        lk_fail_field(r, "body", name, "Value error, the string must not hold a NUL character", "value_error");
        *bad = true;
        return NULL;
    }
    return s;
}

/* The link a bot's JSON body asks for; false when a member has the wrong
 * type (each reported in r->errors already). */
static bool link_req_from_body(lk_req *r, json_object *body, lk_link_req *lr)
{
    bool bad = false;
    lr->instance_id = body_str(r, body, "instance_id", &bad);
    lr->scope = body_str(r, body, "scope", &bad);
    lr->redirect_url = body_str(r, body, "redirect_url", &bad);
    lr->client_id = body_str(r, body, "client_id", &bad);
    lr->site = body_str(r, body, "site", &bad);
    json_object *ei = lk_json_get(body, "expires_in");
    if (ei && (!json_object_is_type(ei, json_type_int) || json_object_get_int64(ei) <= 0)) {
        lk_fail_field(r, "body", "expires_in", "Input should be a positive integer", "int_type");
        bad = true;
    } else if (ei) {
        lr->expires_in = json_object_get_int64(ei);
    }
    /* instance_id of a wrong type was reported already; skip "missing". */
    if (lk_json_get(body, "instance_id") && !lr->instance_id)
        lr->instance_id = "x"; /* placeholder: the type error stands */
    return !bad;
}

/* 201 with the link, audited as link.create by the bot's key. */
static void answer_link_created(lk_req *r, const lk_botkey *key, const lk_profile *p, const lk_link_req *lr,
                                const char *url, const char *expires_at)
{
    json_object *detail = lk_json_object(r->a);
    if (lr->client_id)
        lk_json_set_str(detail, "client_id", lr->client_id);
    lk_audit(r->db, r->a, key->name, "link.create", p->name, lr->instance_id, "ok", detail);
    json_object *o = lk_json_object(r->a);
    lk_json_set_str(o, "authorization_url", url);
    lk_json_set_str(o, "expires_at", expires_at);
    lk_resp_json(r, 201, o);
}

void lk_link_endpoint(lk_req *r, const char *name)
{
    lk_botkey key;
    const lk_profile *p;
    json_object *body;
    if (lk_bot_gate_json(r, name, &key, &p, &body) != LK_OK)
        return;
    lk_link_req lr = {0};
    bool types_ok = link_req_from_body(r, body, &lr);
    if (!r->errors)
        r->errors = lk_json_array(r->a);
    lk_err rc;
    bool valid = lk_link_check(r->db, r->a, r->cfg, p, &lr, "body", r->errors, &rc) && types_ok;
    char *url = NULL, *expires_at = NULL;
    if (valid)
        rc = lk_link_create(r->db, r->a, r->cfg, p, &lr, key.name, &url, &expires_at);
    if (rc != LK_OK)
        lk_fail_db(r, rc);
    else if (!valid)
        r->err = LK_EVALIDATION;
    else
        answer_link_created(r, &key, p, &lr, url, expires_at);
}
