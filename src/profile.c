#include "profile.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "json.h"
#include "text.h"
#include "upstream.h"
#include "url.h"

#define PROFILE_COLUMNS                                                                                                \
    "id, name, display_name, template, auth_type, client_id, client_secret, authorization_url, "                       \
    "token_url, refresh_url, scopes::text, always_scopes::text, scope_separator, "                                     \
    "extra_params::text, callback_url, token_style, pkce, api_base_url, resource_discovery, "                          \
    "resources_url, allowed_redirects::text, allow_direct_authorize, proxy_only, issuer, "                             \
    "misconfigured_reason, proxy_path_prefixes::text, credential_kind, credential, site_kind, site, "                  \
    "site_metadata::text, check_path, tenant_info_url, allow_http_sites, allow_private_sites"

/* The check of a Data Center personal access token (Confluence). */
#define DC_CHECK_PATH "/rest/api/user/current"
/* The generic template's name for an OAuth profile. */
#define GENERIC_OAUTH_NAME "OAuth 2.0 provider"

static lk_stmt q_load = LK_STMT("profile_load", "SELECT " PROFILE_COLUMNS " FROM profiles WHERE name = $1", 1);
static lk_stmt q_client = LK_STMT("profile_client",
                                  "SELECT id, client_id, client_secret, callback_url FROM profile_clients "
                                  "WHERE profile_id = $1 AND client_id = $2",
                                  2);
static lk_stmt q_nextval = LK_STMT("profile_nextval", "SELECT nextval('profiles_id_seq')", 0);
static lk_stmt q_insert =
    LK_STMT("profile_insert",
            "INSERT INTO profiles (id, name, display_name, template, auth_type, client_id, client_secret, "
            "authorization_url, token_url, refresh_url, scopes, always_scopes, scope_separator, extra_params, "
            "callback_url, token_style, pkce, api_base_url, resource_discovery, resources_url, "
            "allowed_redirects, allow_direct_authorize, proxy_only, issuer, proxy_path_prefixes, credential_kind, "
            "credential, site_kind, site, site_metadata, check_path, tenant_info_url, allow_http_sites, "
            "allow_private_sites) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, "
            "$14::jsonb, $15, $16, $17, $18, $19, $20, $21::jsonb, $22, $23, $24, $25::jsonb, $26, $27, $28, $29, "
            "$30::jsonb, $31, $32, $33, $34)",
            34);

lk_strv lk_strv_from_json(lk_arena *a, json_object *arr)
{
    lk_strv s = {NULL, 0};
    if (!arr || !json_object_is_type(arr, json_type_array))
        return s;
    size_t n = json_object_array_length(arr);
    s.v = lk_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        if (json_object_is_type(it, json_type_string))
            s.v[s.n++] = lk_strdup(a, json_object_get_string(it));
    }
    return s;
}

json_object *lk_strv_to_json(lk_arena *a, const lk_strv *s)
{
    json_object *arr = lk_json_array(a);
    for (size_t i = 0; i < s->n; i++)
        json_object_array_add(arr, json_object_new_string(s->v[i]));
    return arr;
}

static json_object *parse_col(lk_arena *a, const char *text)
{
    json_object *o = NULL;
    if (text)
        lk_json_parse(a, text, strlen(text), &o);
    return o;
}

static char *dup_col(lk_arena *a, PGresult *res, const char *col)
{
    return lk_strdup(a, lk_db_get(res, 0, col));
}

lk_err lk_profile_load(lk_db *db, lk_arena *a, const char *name, lk_profile **out)
{
    const char *params[] = {name};
    PGresult *res;
    void **slot;
    lk_err rc = lk_db_cached_obj(db, a, &q_load, params, "p:", "id", &res, &slot, &a);
    if (rc != LK_OK)
        return rc;
    if (PQntuples(res) != 1)
        return LK_ENOPROFILE;
    if (*slot) {
        *out = *slot;
        return LK_OK;
    }
    lk_profile *p = lk_alloc(a, sizeof(*p));
    p->id = lk_db_ll(res, 0, "id");
    p->id_text = dup_col(a, res, "id");
    p->name = dup_col(a, res, "name");
    p->display_name = dup_col(a, res, "display_name");
    p->template_name = dup_col(a, res, "template");
    p->auth_type = dup_col(a, res, "auth_type");
    p->client_id = dup_col(a, res, "client_id");
    p->client_secret_sealed = dup_col(a, res, "client_secret");
    p->authorization_url = dup_col(a, res, "authorization_url");
    p->token_url = dup_col(a, res, "token_url");
    p->refresh_url = dup_col(a, res, "refresh_url");
    if (!p->refresh_url)
        p->refresh_url = p->token_url;
    p->scopes = lk_strv_from_json(a, parse_col(a, lk_db_get(res, 0, "scopes")));
    p->always_scopes = lk_strv_from_json(a, parse_col(a, lk_db_get(res, 0, "always_scopes")));
    p->scope_separator = dup_col(a, res, "scope_separator");
    p->extra_params = parse_col(a, lk_db_get(res, 0, "extra_params"));
    p->callback_url = dup_col(a, res, "callback_url");
    p->token_style = dup_col(a, res, "token_style");
    p->pkce = lk_db_bool(res, 0, "pkce");
    p->api_base_url = dup_col(a, res, "api_base_url");
    p->resource_discovery = dup_col(a, res, "resource_discovery");
    p->resources_url = dup_col(a, res, "resources_url");
    p->allowed_redirects = lk_strv_from_json(a, parse_col(a, lk_db_get(res, 0, "allowed_redirects")));
    p->allow_direct_authorize = lk_db_bool(res, 0, "allow_direct_authorize");
    p->proxy_only = lk_db_bool(res, 0, "proxy_only");
    p->issuer = dup_col(a, res, "issuer");
    p->misconfigured_reason = dup_col(a, res, "misconfigured_reason");
    p->proxy_path_prefixes = lk_strv_from_json(a, parse_col(a, lk_db_get(res, 0, "proxy_path_prefixes")));
    p->credential_kind = dup_col(a, res, "credential_kind");
    p->credential_sealed = dup_col(a, res, "credential");
    p->site_kind = dup_col(a, res, "site_kind");
    p->site = dup_col(a, res, "site");
    p->site_metadata = parse_col(a, lk_db_get(res, 0, "site_metadata"));
    p->check_path = dup_col(a, res, "check_path");
    p->tenant_info_url = dup_col(a, res, "tenant_info_url");
    p->allow_http_sites = lk_db_bool(res, 0, "allow_http_sites");
    p->allow_private_sites = lk_db_bool(res, 0, "allow_private_sites");
    /* Profiles stored before API-key profiles had names of their own: a
     * non-OAuth profile never calls itself an OAuth 2.0 provider. */
    if (lk_profile_is_api_key(p) && p->display_name && !strcmp(p->display_name, GENERIC_OAUTH_NAME))
        p->display_name = p->name;
    *slot = p;
    *out = p;
    return LK_OK;
}

lk_err lk_profile_client(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *client_id,
                         lk_client *out)
{
    memset(out, 0, sizeof(*out));
    if (!client_id || (p->client_id && !strcmp(client_id, p->client_id))) {
        out->client_id = p->client_id;
        out->callback_url = p->callback_url;
        if (!p->client_secret_sealed)
            return LK_OK; /* public client */
        return lk_unseal(a, &cfg->keys, "profiles", "client_secret", p->id_text, p->client_secret_sealed, &out->secret,
                         NULL);
    }
    const char *params[] = {p->id_text, client_id};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_client, params, &res);
    if (rc != LK_OK)
        return rc;
    if (PQntuples(res) != 1)
        return LK_ENOTFOUND;
    out->client_id = dup_col(a, res, "client_id");
    out->callback_url = dup_col(a, res, "callback_url");
    if (!out->callback_url)
        out->callback_url = p->callback_url;
    out->white_label = true;
    return lk_unseal(a, &cfg->keys, "profile_clients", "client_secret", lk_db_get(res, 0, "id"),
                     lk_db_get(res, 0, "client_secret"), &out->secret, NULL);
}

static lk_strv strv(lk_arena *a, const char *const *items)
{
    lk_strv s = {NULL, 0};
    size_t n = 0;
    while (items[n])
        n++;
    s.v = lk_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        s.v[s.n++] = lk_strdup(a, items[i]);
    return s;
}

bool lk_profile_is_api_key(const lk_profile *p)
{
    return p->auth_type && strcmp(p->auth_type, "oauth2") != 0;
}

lk_err lk_profile_set_auth_type(lk_arena *a, lk_profile *p, const char *auth_type)
{
    if (!strcmp(auth_type, "oauth2")) {
        p->auth_type = "oauth2";
        return LK_OK;
    }
    if (strcmp(auth_type, "api_key") != 0 && strcmp(auth_type, "api_key_per_user") != 0)
        return LK_EINVAL;
    p->auth_type = lk_strdup(a, auth_type);
    bool atlassian = lk_profile_is_atlassian(p);
    bool jira = p->template_name && !strcmp(p->template_name, "atlassian-jira");
    /* No OAuth client: the credential is the user's (or the profile's). */
    p->client_id = NULL;
    p->authorization_url = p->token_url = p->refresh_url = NULL;
    p->resource_discovery = "none";
    p->resources_url = NULL;
    p->scopes.n = p->always_scopes.n = 0;
    p->extra_params = lk_json_object(a);
    p->pkce = false;
    if (atlassian) {
        /* Atlassian Cloud: email + API token (Basic) against the site;
         * scoped tokens need --api-base-url https://api.atlassian.com/ex/
         * confluence/{cloud_id}, the cloud id coming from tenant_info. */
        p->credential_kind = "basic";
        p->site_kind = "cloud";
        p->api_base_url = "https://{site_host}";
        p->check_path = jira ? "/rest/api/3/myself" : "/wiki/rest/api/user/current";
        p->tenant_info_url = "https://{site_host}/_edge/tenant_info";
    } else {
        /* Any provider: a bearer token against the base URL the user gives
         * (a Data Center server, the README's recipe, checked as one), or,
         * once lk_profile_set_api_base_url gives one, a fixed base URL that
         * alone names the provider: no site and no Atlassian check. The
         * generic template's "OAuth 2.0 provider" is no name for it. */
        p->credential_kind = "bearer";
        p->site_kind = "dc";
        p->api_base_url = "{site_url}";
        p->check_path = DC_CHECK_PATH;
        p->tenant_info_url = NULL;
        p->display_name = NULL;
    }
    return LK_OK;
}

bool lk_profile_is_atlassian(const lk_profile *p)
{
    return p->template_name && !strncmp(p->template_name, "atlassian-", 10);
}

bool lk_profile_needs_site(const lk_profile *p)
{
    const char *u = p->api_base_url;
    return u && (strstr(u, "{site_url}") || strstr(u, "{site_host}") || strstr(u, "{cloud_id}"));
}

void lk_profile_set_api_base_url(lk_profile *p, const char *url)
{
    p->api_base_url = (char *)url;
    /* The Data Center check path is the generic template's only for the
     * server a user names, never for a provider's own base URL. */
    if (lk_profile_is_api_key(p) && !lk_profile_is_atlassian(p) && !lk_profile_needs_site(p) && p->check_path &&
        !strcmp(p->check_path, DC_CHECK_PATH))
        p->check_path = NULL;
}

lk_err lk_profile_template(lk_arena *a, const char *tmpl, lk_profile *p)
{
    bool confluence = !strcmp(tmpl, "atlassian-confluence");
    bool jira = !strcmp(tmpl, "atlassian-jira");
    p->template_name = lk_strdup(a, tmpl);
    p->auth_type = "oauth2";
    p->pkce = true;
    p->scope_separator = " ";
    p->resource_discovery = "none";
    if (confluence || jira) {
        static const char *const conf_scopes[] = {"read:confluence-content.all",
                                                  "read:confluence-space.summary",
                                                  "read:confluence-user",
                                                  "search:confluence",
                                                  "offline_access",
                                                  NULL};
        static const char *const jira_scopes[] = {"read:jira-work", "read:jira-user", "write:jira-work",
                                                  "offline_access", NULL};
        static const char *const always[] = {"offline_access", NULL};
        p->display_name = confluence ? "Atlassian Confluence" : "Atlassian Jira";
        p->authorization_url = "https://auth.atlassian.com/authorize";
        p->token_url = "https://auth.atlassian.com/oauth/token";
        p->scopes = strv(a, confluence ? conf_scopes : jira_scopes);
        p->always_scopes = strv(a, always);
        p->extra_params = lk_json_object(a);
        lk_json_set_str(p->extra_params, "audience", "api.atlassian.com");
        lk_json_set_str(p->extra_params, "prompt", "consent");
        p->token_style = "json";
        p->api_base_url = confluence ? "https://api.atlassian.com/ex/confluence/{cloud_id}"
                                     : "https://api.atlassian.com/ex/jira/{cloud_id}";
        p->resource_discovery = "atlassian";
        p->resources_url = "https://api.atlassian.com/oauth/token/accessible-resources";
        return LK_OK;
    }
    if (!strcmp(tmpl, "generic")) {
        p->display_name = GENERIC_OAUTH_NAME;
        p->extra_params = lk_json_object(a);
        p->token_style = "form";
        return LK_OK;
    }
    return LK_ENOTFOUND;
}

static bool url_field_ok(const char *u)
{
    return u && lk_provider_url_ok(u);
}

lk_err lk_profile_validate(lk_arena *a, const lk_profile *p, const char **why)
{
    *why = NULL;
    bool api_key = lk_profile_is_api_key(p);
    if (!p->name || !lk_valid_profile_name(p->name, strlen(p->name)))
        *why = "the name must match ^[a-z0-9][a-z0-9_-]{0,62}$";
    else if (!p->display_name || !*p->display_name)
        *why = "a display name is required (--display-name)";
    else if (api_key) {
        if (!p->api_base_url)
            *why = "an API base URL is required (--api-base-url)";
        else if (p->check_path && p->check_path[0] != '/')
            *why = "the check path must start with '/' (--check-path)";
        else if (p->tenant_info_url && strstr(p->api_base_url, "{cloud_id}") &&
                 !url_field_ok(lk_printf(a, "%.*s", (int)strcspn(p->tenant_info_url, "{"), p->tenant_info_url)) &&
                 strncmp(p->tenant_info_url, "https://{", 9) != 0)
            *why = "the tenant info URL must be https (http only for loopback hosts)";
        else if (!strcmp(p->auth_type, "api_key_per_user") &&
                 (!p->callback_url || lk_url_parse(a, p->callback_url, &(lk_url){0}) != LK_OK))
            *why = "a callback URL is required: the per-user form posts to /callback/{profile}";
    } else if (!p->client_id || !*p->client_id)
        *why = "a client id is required (--client-id)";
    else if (!url_field_ok(p->authorization_url))
        *why = "the authorization URL must be https (http only for loopback hosts)";
    else if (!url_field_ok(p->token_url))
        *why = "the token URL must be https (http only for loopback hosts)";
    else if (p->refresh_url && !url_field_ok(p->refresh_url))
        *why = "the refresh URL must be https (http only for loopback hosts)";
    else if (!p->callback_url || lk_url_parse(a, p->callback_url, &(lk_url){0}) != LK_OK)
        *why = "a callback URL is required: the exact redirect_uri registered with the provider";
    else if (p->resource_discovery && !strcmp(p->resource_discovery, "atlassian") && !url_field_ok(p->resources_url))
        *why = "the resources URL must be https (http only for loopback hosts)";
    else if (p->issuer && !url_field_ok(p->issuer))
        *why = "the issuer must be an https URL";
    if (!*why && p->api_base_url && strncmp(p->api_base_url, "{site_url}", 10) != 0 &&
        strncmp(p->api_base_url, "https://{site_host}", 19) != 0) {
        /* The template's placeholders are not URL characters: check the URL
         * with each {placeholder} replaced by a plain word. */
        char *probe = lk_strdup(a, p->api_base_url);
        bool inside = false;
        for (char *c = probe; *c; c++) {
            if (*c == '{')
                inside = true;
            if (inside) {
                if (*c == '}')
                    inside = false;
                *c = 'x';
            }
        }
        if (!url_field_ok(probe))
            *why = "the API base URL must be https (http only for loopback hosts)";
    }
    for (size_t i = 0; !*why && i < p->allowed_redirects.n; i++) {
        lk_url u;
        if (lk_url_parse(a, p->allowed_redirects.v[i], &u) != LK_OK || u.query)
            *why = "each allowed redirect must be an http(s) URL without query, fragment or user info";
    }
    /* A prefix is compared with paths the proxy accepts: one that holds a
     * dot segment ("..;x" too) or "//" could never match, or would mean
     * something else to the provider than to us. */
    for (size_t i = 0; !*why && i < p->proxy_path_prefixes.n; i++) {
        const char *pw = NULL;
        if (p->proxy_path_prefixes.v[i][0] != '/')
            *why = "each proxy path prefix must start with '/'";
        else if (strchr(p->proxy_path_prefixes.v[i], '%') ||
                 lk_url_path_check(a, p->proxy_path_prefixes.v[i], NULL, 0, &pw) != LK_OK)
            *why = "each proxy path prefix must be a plain path: no '.' or '..' segment (nor '..;'), no '//', "
                   "no '%', backslash or '@'";
    }
    for (size_t i = 0; !*why && i < p->scopes.n; i++)
        if (!*p->scopes.v[i] || strpbrk(p->scopes.v[i], " ,\t\r\n"))
            *why = "scopes must be non-empty words without spaces or commas";
    if (!*why && p->extra_params) {
        json_object_object_foreach (p->extra_params, k, v) {
            (void)k;
            if (!json_object_is_type(v, json_type_string))
                *why = "extra authorization parameters must be strings";
        }
    }
    return *why ? LK_EINVAL : LK_OK;
}

lk_err lk_profile_insert(lk_db *db, lk_arena *a, const lk_config *cfg, lk_profile *p, const char *secret,
                         const char *credential)
{
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_nextval, NULL, &res);
    if (rc != LK_OK)
        return rc;
    p->id_text = lk_strdup(a, lk_db_val(res, 0, 0));
    p->id = strtoll(p->id_text, NULL, 10);
    char *sealed = NULL, *sealed_credential = NULL;
    if (secret) {
        rc = lk_seal(a, &cfg->keys, "profiles", "client_secret", p->id_text, secret, strlen(secret), &sealed);
        if (rc != LK_OK)
            return rc;
    }
    if (credential) {
        rc = lk_seal(a, &cfg->keys, "profiles", "credential", p->id_text, credential, strlen(credential),
                     &sealed_credential);
        if (rc != LK_OK)
            return rc;
    }
    const char *params[] = {
        p->id_text,
        p->name,
        p->display_name,
        p->template_name,
        p->auth_type,
        p->client_id,
        sealed,
        p->authorization_url,
        p->token_url,
        p->refresh_url,
        lk_json_text(a, lk_strv_to_json(a, &p->scopes)),
        lk_json_text(a, lk_strv_to_json(a, &p->always_scopes)),
        p->scope_separator,
        p->extra_params ? lk_json_text(a, p->extra_params) : "{}",
        p->callback_url,
        p->token_style,
        p->pkce ? "true" : "false",
        p->api_base_url,
        p->resource_discovery,
        p->resources_url,
        lk_json_text(a, lk_strv_to_json(a, &p->allowed_redirects)),
        p->allow_direct_authorize ? "true" : "false",
        p->proxy_only ? "true" : "false",
        p->issuer,
        lk_json_text(a, lk_strv_to_json(a, &p->proxy_path_prefixes)),
        p->credential_kind ? p->credential_kind : "basic",
        sealed_credential,
        p->site_kind ? p->site_kind : "cloud",
        p->site,
        p->site_metadata ? lk_json_text(a, p->site_metadata) : "{}",
        p->check_path,
        p->tenant_info_url,
        p->allow_http_sites ? "true" : "false",
        p->allow_private_sites ? "true" : "false",
    };
    return lk_db_exec(db, a, &q_insert, params, NULL);
}

static bool scope_ok(const char *s)
{
    if (!*s || strlen(s) > 256)
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == ',' || *c == '"' || *c == '\\')
            return false;
    return true;
}

static void add_unique(lk_arena *a, lk_strv *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v))
            return;
    s->v[s->n++] = lk_strdup(a, v);
}

lk_err lk_profile_scopes(lk_arena *a, const lk_profile *p, const char *csv, lk_strv *out)
{
    size_t max = p->scopes.n + p->always_scopes.n + 1;
    if (csv) {
        if (strlen(csv) > 4096)
            return LK_EINVAL;
        for (const char *c = csv; *c; c++)
            if (*c == ',')
                max++;
    }
    out->v = lk_alloc(a, max * sizeof(char *));
    out->n = 0;
    if (csv) {
        const char *s = csv;
        for (;;) {
            const char *comma = strchr(s, ',');
            char *item = lk_strndup(a, s, comma ? (size_t)(comma - s) : strlen(s));
            if (!scope_ok(item))
                return LK_EINVAL;
            add_unique(a, out, item);
            if (!comma)
                break;
            s = comma + 1;
        }
    } else {
        for (size_t i = 0; i < p->scopes.n; i++)
            add_unique(a, out, p->scopes.v[i]);
    }
    for (size_t i = 0; i < p->always_scopes.n; i++)
        add_unique(a, out, p->always_scopes.v[i]);
    return LK_OK;
}

char *lk_scopes_join(lk_arena *a, const lk_strv *s, const char *sep)
{
    lk_buf b;
    lk_buf_init(&b, a, 1 << 16);
    lk_err rc = LK_OK;
    for (size_t i = 0; rc == LK_OK && i < s->n; i++) {
        if (i)
            rc = lk_buf_adds(&b, sep);
        if (rc == LK_OK)
            rc = lk_buf_adds(&b, s->v[i]);
    }
    /* Never a shorter list than asked for. */
    return rc == LK_OK ? (char *)lk_buf_str(&b) : NULL;
}
