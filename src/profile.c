#include "profile.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "json.h"
#include "text.h"
#include "url.h"

#define PROFILE_COLUMNS                                                                                                \
    "id, name, display_name, template, auth_type, client_id, client_secret, authorization_url, "                       \
    "token_url, refresh_url, scopes::text, always_scopes::text, scope_separator, "                                     \
    "extra_params::text, callback_url, token_style, pkce, api_base_url, resource_discovery, "                          \
    "resources_url, allowed_redirects::text, allow_direct_authorize, proxy_only, issuer, "                             \
    "misconfigured_reason, proxy_path_prefixes::text, credential_kind, credential, site_kind, site, "                  \
    "site_metadata::text, check_path, tenant_info_url, allow_http_sites, allow_private_sites, tools::text, "           \
    "refresh_token_idle_days, grant_lifetime_days"

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
            "allow_private_sites, tools, refresh_token_idle_days, grant_lifetime_days) VALUES ($1, $2, $3, $4, $5, "
            "$6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14::jsonb, $15, $16, $17, $18, $19, $20, $21::jsonb, "
            "$22, $23, $24, $25::jsonb, $26, $27, $28, $29, $30::jsonb, $31, $32, $33, $34, $35::jsonb, $36::int, "
            "$37::int)",
            37);

static lk_stmt q_set_days = LK_STMT("profile_set_days",
                                    "UPDATE profiles SET refresh_token_idle_days = CASE WHEN $2 = 'set' THEN "
                                    "$3::int ELSE refresh_token_idle_days END, grant_lifetime_days = CASE WHEN "
                                    "$4 = 'set' THEN $5::int ELSE grant_lifetime_days END WHERE name = $1",
                                    5);

/* A number of days as a parameter: NULL for 0 (none) or less. */
static const char *days_text(lk_arena *a, int days)
{
    return days > 0 ? lk_printf(a, "%d", days) : NULL;
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

static bool bool_col(PGresult *res, const char *col)
{
    return lk_db_bool(res, 0, col);
}

static lk_strv strv_col(lk_arena *a, PGresult *res, const char *col)
{
    return lk_strv_from_json(a, parse_col(a, lk_db_get(res, 0, col)));
}

/* The OAuth side of a profile row: client, endpoints, scopes, redirects. */
static void read_oauth_columns(lk_arena *a, PGresult *res, lk_profile *p)
{
    p->client_id = dup_col(a, res, "client_id");
    p->client_secret_sealed = dup_col(a, res, "client_secret");
    p->authorization_url = dup_col(a, res, "authorization_url");
    p->token_url = dup_col(a, res, "token_url");
    p->refresh_url = dup_col(a, res, "refresh_url");
    if (!p->refresh_url)
        p->refresh_url = p->token_url;
    p->scopes = strv_col(a, res, "scopes");
    p->always_scopes = strv_col(a, res, "always_scopes");
    p->scope_separator = dup_col(a, res, "scope_separator");
    p->extra_params = parse_col(a, lk_db_get(res, 0, "extra_params"));
    p->callback_url = dup_col(a, res, "callback_url");
    p->token_style = dup_col(a, res, "token_style");
    p->pkce = bool_col(res, "pkce");
    p->api_base_url = dup_col(a, res, "api_base_url");
    p->resource_discovery = dup_col(a, res, "resource_discovery");
    p->resources_url = dup_col(a, res, "resources_url");
    p->allowed_redirects = strv_col(a, res, "allowed_redirects");
    p->allow_direct_authorize = bool_col(res, "allow_direct_authorize");
    p->proxy_only = bool_col(res, "proxy_only");
    p->issuer = dup_col(a, res, "issuer");
    p->misconfigured_reason = dup_col(a, res, "misconfigured_reason");
    p->proxy_path_prefixes = strv_col(a, res, "proxy_path_prefixes");
}

/* The API-token side of a profile row: credential, site, check. */
static void read_credential_columns(lk_arena *a, PGresult *res, lk_profile *p)
{
    p->credential_kind = dup_col(a, res, "credential_kind");
    p->credential_sealed = dup_col(a, res, "credential");
    p->site_kind = dup_col(a, res, "site_kind");
    p->site = dup_col(a, res, "site");
    p->site_metadata = parse_col(a, lk_db_get(res, 0, "site_metadata"));
    p->check_path = dup_col(a, res, "check_path");
    p->tenant_info_url = dup_col(a, res, "tenant_info_url");
    p->allow_http_sites = bool_col(res, "allow_http_sites");
    p->allow_private_sites = bool_col(res, "allow_private_sites");
}

/* The profile of a one-row result, allocated from a. */
static lk_profile *profile_of_row(lk_arena *a, PGresult *res)
{
    lk_profile *p = lk_alloc(a, sizeof(*p));
    p->id = lk_db_ll(res, 0, "id");
    p->id_text = dup_col(a, res, "id");
    p->name = dup_col(a, res, "name");
    p->display_name = dup_col(a, res, "display_name");
    p->template_name = dup_col(a, res, "template");
    p->auth_type = dup_col(a, res, "auth_type");
    read_oauth_columns(a, res, p);
    read_credential_columns(a, res, p);
    p->tools = strv_col(a, res, "tools");
    p->refresh_token_idle_days = (int)lk_db_ll(res, 0, "refresh_token_idle_days");
    p->grant_lifetime_days = (int)lk_db_ll(res, 0, "grant_lifetime_days");
    /* Profiles stored before credential-auth profiles had names of their own: a
     * non-OAuth profile never calls itself an OAuth 2.0 provider. */
    if (lk_profile_is_credential_auth(p) && p->display_name && !strcmp(p->display_name, LK_GENERIC_OAUTH_NAME))
        p->display_name = p->name;
    return p;
}

static void *decode_profile(lk_arena *a, PGresult *res)
{
    return profile_of_row(a, res);
}

lk_err lk_profile_load(lk_db *db, lk_arena *a, const char *name, const lk_profile **out)
{
    const char *params[] = {name};
    const void *cached = NULL;
    lk_err rc = lk_db_cached_row(db, a, &q_load, params, "p:", "id", decode_profile, &cached);
    if (rc == LK_ENOTFOUND)
        return LK_ENOPROFILE;
    if (rc == LK_OK)
        *out = cached;
    return rc;
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

bool lk_profile_is_credential_auth(const lk_profile *p)
{
    return p->auth_type && strcmp(p->auth_type, "oauth2") != 0;
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

static bool url_field_ok(const char *u)
{
    return u && lk_provider_url_ok(u);
}

/* A failed check names the flaw in one sentence; NULL: passed. */
typedef const char *profile_check(lk_arena *a, const lk_profile *p);

static const char *check_names(lk_arena *a, const lk_profile *p)
{
    (void)a;
    if (!p->name || !lk_valid_profile_name(p->name, strlen(p->name)))
        return "the name must match ^[a-z0-9][a-z0-9_-]{0,62}$";
    if (!p->display_name || !*p->display_name)
        return "a display name is required (--display-name)";
    return NULL;
}

static bool callback_ok(lk_arena *a, const lk_profile *p)
{
    return p->callback_url && lk_url_parse(a, p->callback_url, &(lk_url){0}) == LK_OK;
}

static const char *check_credential_fields(lk_arena *a, const lk_profile *p)
{
    if (!p->api_base_url)
        return "an API base URL is required (--api-base-url)";
    if (p->check_path && p->check_path[0] != '/')
        return "the check path must start with '/' (--check-path)";
    if (p->tenant_info_url && strstr(p->api_base_url, "{cloud_id}") &&
        !url_field_ok(lk_printf(a, "%.*s", (int)strcspn(p->tenant_info_url, "{"), p->tenant_info_url)) &&
        strncmp(p->tenant_info_url, "https://{", 9) != 0)
        return "the tenant info URL must be https (http only for loopback hosts)";
    if (!strcmp(p->auth_type, "api_key_per_user") && !callback_ok(a, p))
        return "a callback URL is required: the per-user form posts to /callback/{profile}";
    return NULL;
}

static const char *check_oauth_fields(lk_arena *a, const lk_profile *p)
{
    if (!p->client_id || !*p->client_id)
        return "a client id is required (--client-id)";
    if (!url_field_ok(p->authorization_url))
        return "the authorization URL must be https (http only for loopback hosts)";
    if (!url_field_ok(p->token_url))
        return "the token URL must be https (http only for loopback hosts)";
    if (p->refresh_url && !url_field_ok(p->refresh_url))
        return "the refresh URL must be https (http only for loopback hosts)";
    if (!callback_ok(a, p))
        return "a callback URL is required: the exact redirect_uri registered with the provider";
    if (p->resource_discovery && !strcmp(p->resource_discovery, "atlassian") && !url_field_ok(p->resources_url))
        return "the resources URL must be https (http only for loopback hosts)";
    if (p->issuer && !url_field_ok(p->issuer))
        return "the issuer must be an https URL";
    return NULL;
}

static const char *check_auth_fields(lk_arena *a, const lk_profile *p)
{
    return lk_profile_is_credential_auth(p) ? check_credential_fields(a, p) : check_oauth_fields(a, p);
}

static const char *check_api_base_url(lk_arena *a, const lk_profile *p)
{
    if (!p->api_base_url || !strncmp(p->api_base_url, "{site_url}", 10) ||
        !strncmp(p->api_base_url, "https://{site_host}", 19))
        return NULL;
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
    return url_field_ok(probe) ? NULL : "the API base URL must be https (http only for loopback hosts)";
}

static const char *check_allowed_redirects(lk_arena *a, const lk_profile *p)
{
    for (size_t i = 0; i < p->allowed_redirects.n; i++) {
        lk_url u;
        if (lk_url_parse(a, p->allowed_redirects.v[i], &u) != LK_OK || u.query)
            return "each allowed redirect must be an http(s) URL without query, fragment or user info";
    }
    return NULL;
}

/* A prefix is compared with paths the proxy accepts: one that holds a dot
 * segment ("..;x" too) or "//" could never match, or would mean something
 * else to the provider than to us. */
static const char *check_proxy_path_prefixes(lk_arena *a, const lk_profile *p)
{
    for (size_t i = 0; i < p->proxy_path_prefixes.n; i++) {
        const char *prefix = p->proxy_path_prefixes.v[i];
        const char *pw = NULL;
        if (prefix[0] != '/')
            return "each proxy path prefix must start with '/'";
        if (strchr(prefix, '%') || lk_url_path_check(a, prefix, NULL, 0, &pw) != LK_OK)
            return "each proxy path prefix must be a plain path: no '.' or '..' segment (nor '..;'), no '//', "
                   "no '%', backslash or '@'";
    }
    return NULL;
}

static const char *check_scopes(lk_arena *a, const lk_profile *p)
{
    (void)a;
    for (size_t i = 0; i < p->scopes.n; i++)
        if (!*p->scopes.v[i] || strpbrk(p->scopes.v[i], " ,\t\r\n"))
            return "scopes must be non-empty words without spaces or commas";
    return NULL;
}

bool lk_tool_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > LK_TOOL_NAME_MAX || !(*s >= 'a' && *s <= 'z'))
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

static const char *check_tools(lk_arena *a, const lk_profile *p)
{
    if (p->tools.n > LK_PROFILE_TOOLS_MAX)
        return lk_printf(a, "a profile offers at most %d tools", LK_PROFILE_TOOLS_MAX);
    for (size_t i = 0; i < p->tools.n; i++) {
        if (!lk_tool_name_valid(p->tools.v[i]))
            return "tool names are a lower-case letter, then up to 63 lower-case letters, digits or _";
        for (size_t k = 0; k < i; k++)
            if (!strcmp(p->tools.v[k], p->tools.v[i]))
                return lk_printf(a, "the tool %s is named twice", p->tools.v[i]);
    }
    return NULL;
}

static const char *check_extra_params(lk_arena *a, const lk_profile *p)
{
    (void)a;
    if (!p->extra_params)
        return NULL;
    json_object_object_foreach (p->extra_params, k, v) {
        (void)k;
        if (!json_object_is_type(v, json_type_string))
            return "extra authorization parameters must be strings";
    }
    return NULL;
}

static const char *check_days(lk_arena *a, const lk_profile *p)
{
    if (p->refresh_token_idle_days < 0 || p->refresh_token_idle_days > LK_PROFILE_DAYS_MAX ||
        p->grant_lifetime_days < 0 || p->grant_lifetime_days > LK_PROFILE_DAYS_MAX)
        return lk_printf(a, "days of refresh-token idleness and of grant lifetime are 1 to %d", LK_PROFILE_DAYS_MAX);
    return NULL;
}

lk_err lk_profile_validate(lk_arena *a, const lk_profile *p, const char **why)
{
    /* In this order: the first failed check is the one reported. */
    static profile_check *const checks[] = {
        check_names,
        check_auth_fields,
        check_api_base_url,
        check_allowed_redirects,
        check_proxy_path_prefixes,
        check_scopes,
        check_extra_params,
        check_tools,
        check_days,
    };
    *why = NULL;
    for (size_t i = 0; !*why && i < LK_ARRAY_LEN(checks); i++)
        *why = checks[i](a, p);
    return *why ? LK_EINVAL : LK_OK;
}

/* p's client secret and credential given in clear, sealed under its id
 * (NULL stays NULL). */
static lk_err seal_secrets(lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *secret,
                           const char *credential, char **sealed, char **sealed_credential)
{
    *sealed = *sealed_credential = NULL;
    lk_err rc = LK_OK;
    if (secret)
        rc = lk_seal(a, &cfg->keys, "profiles", "client_secret", p->id_text, secret, strlen(secret), sealed);
    if (rc == LK_OK && credential)
        rc = lk_seal(a, &cfg->keys, "profiles", "credential", p->id_text, credential, strlen(credential),
                     sealed_credential);
    return rc;
}

lk_err lk_profile_insert(lk_db *db, lk_arena *a, const lk_config *cfg, lk_profile *p, const char *secret,
                         const char *credential)
{
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_nextval, NULL, &res);
    if (rc != LK_OK)
        return rc;
    p->id_text = lk_strdup(a, lk_db_val(res, 0, 0));
    if (!lk_parse_int(p->id_text, 1, LLONG_MAX, &p->id))
        return LK_EINTERNAL;
    char *sealed, *sealed_credential;
    rc = seal_secrets(a, cfg, p, secret, credential, &sealed, &sealed_credential);
    if (rc != LK_OK)
        return rc;
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
        p->tools.n ? lk_json_text(a, lk_strv_to_json(a, &p->tools)) : NULL, /* NULL: all of the template's */
        days_text(a, p->refresh_token_idle_days),
        days_text(a, p->grant_lifetime_days),
    };
    return lk_db_exec(db, a, &q_insert, params, NULL);
}

lk_err lk_profile_set_days(lk_db *db, lk_arena *a, const char *name, int idle_days, int lifetime_days)
{
    const char *params[] = {name, idle_days < 0 ? "keep" : "set", days_text(a, idle_days),
                            lifetime_days < 0 ? "keep" : "set", days_text(a, lifetime_days)};
    PGresult *res;
    lk_err rc = lk_db_exec(db, a, &q_set_days, params, &res);
    if (rc != LK_OK)
        return rc;
    return strcmp(PQcmdTuples(res), "0") ? LK_OK : LK_ENOPROFILE;
}

static bool scope_ok(const char *s)
{
    if (!*s || strlen(s) > LK_SCOPE_MAX)
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
        if (strlen(csv) > LK_SCOPES_CSV_MAX)
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
    lk_buf_init(&b, a, LK_SCOPES_JOINED_MAX);
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
