/* latchkey profile show NAME: a profile as JSON, secrets as has_* flags. */
#include <string.h>

#include "cli.h"
#include "profile.h"

static lk_stmt q_clients = LK_STMT("cli_profile_clients",
                                   "SELECT client_id, callback_url FROM profile_clients WHERE profile_id = $1 "
                                   "ORDER BY client_id",
                                   1);

/* key: days, or null when none is declared. */
static void set_days(json_object *o, const char *key, int days)
{
    json_object_object_add(o, key, days > 0 ? json_object_new_int(days) : NULL);
}

static json_object *profile_json(lk_arena *a, const lk_profile *p)
{
    json_object *o = lk_json_object(a);
    lk_json_set_str(o, "name", p->name);
    lk_json_set_str(o, "display_name", p->display_name);
    lk_json_set_str(o, "template", p->template_name);
    lk_json_set_str(o, "auth_type", p->auth_type);
    lk_json_set_str(o, "client_id", p->client_id);
    json_object_object_add(o, "has_client_secret", json_object_new_boolean(p->client_secret_sealed != NULL));
    lk_json_set_str(o, "authorization_url", p->authorization_url);
    lk_json_set_str(o, "token_url", p->token_url);
    lk_json_set_str(o, "refresh_url", p->refresh_url);
    json_object_object_add(o, "scopes", json_object_get(lk_strv_to_json(a, &p->scopes)));
    lk_json_set_str(o, "scope_separator", p->scope_separator);
    json_object_object_add(o, "extra_params", json_object_get(p->extra_params));
    lk_json_set_str(o, "callback_url", p->callback_url);
    lk_json_set_str(o, "token_style", p->token_style);
    json_object_object_add(o, "pkce", json_object_new_boolean(p->pkce));
    lk_json_set_str(o, "api_base_url", p->api_base_url);
    lk_json_set_str(o, "resource_discovery", p->resource_discovery);
    lk_json_set_str(o, "resources_url", p->resources_url);
    json_object_object_add(o, "allowed_redirects", json_object_get(lk_strv_to_json(a, &p->allowed_redirects)));
    json_object_object_add(o, "allow_direct_authorize", json_object_new_boolean(p->allow_direct_authorize));
    json_object_object_add(o, "proxy_only", json_object_new_boolean(p->proxy_only));
    if (lk_profile_is_credential_auth(p)) {
        lk_json_set_str(o, "credential_type", p->credential_kind);
        json_object_object_add(o, "has_credential", json_object_new_boolean(p->credential_sealed != NULL));
        lk_json_set_str(o, "site_kind", p->site_kind);
        lk_json_set_str(o, "site", p->site);
        lk_json_set_str(o, "check_path", p->check_path);
        json_object_object_add(o, "allow_http_sites", json_object_new_boolean(p->allow_http_sites));
        json_object_object_add(o, "allow_private_sites", json_object_new_boolean(p->allow_private_sites));
    }
    json_object_object_add(o, "proxy_path_prefixes", json_object_get(lk_strv_to_json(a, &p->proxy_path_prefixes)));
    /* null: every tool of the template */
    json_object_object_add(o, "tools", p->tools.n ? json_object_get(lk_strv_to_json(a, &p->tools)) : NULL);
    lk_json_set_str(o, "issuer", p->issuer);
    lk_json_set_str(o, "misconfigured", p->misconfigured_reason);
    set_days(o, "refresh_token_idle_days", p->refresh_token_idle_days);
    set_days(o, "grant_lifetime_days", p->grant_lifetime_days);
    return o;
}

int cli_profile_show(cli *c, const char *name)
{
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, name, &p);
    if (rc != LK_OK)
        return cli_fail("profile show: %s", cli_reason(rc));
    json_object *o = profile_json(c->a, p);
    const char *params[] = {p->id_text};
    PGresult *res;
    rc = lk_db_exec(c->db, c->a, &q_clients, params, &res);
    if (rc != LK_OK)
        return cli_fail("profile show: %s", cli_reason(rc));
    json_object *clients = json_object_new_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *it = json_object_new_object();
        lk_json_set_str(it, "client_id", lk_db_val(res, i, 0));
        lk_json_set_str(it, "callback_url", lk_db_val(res, i, 1) ? lk_db_val(res, i, 1) : p->callback_url);
        json_object_array_add(clients, it);
    }
    json_object_object_add(o, "white_label_clients", clients);
    cli_print_json(o);
    return 0;
}
