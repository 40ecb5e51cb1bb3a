/* Authorization profiles (SPEC §3): loading, templates, white-label
 * clients, and the checks a profile must pass before it is stored. */
#ifndef LK_PROFILE_H
#define LK_PROFILE_H

#include <json-c/json.h>

#include "arena.h"
#include "config.h"
#include "db.h"
#include "lk.h"

typedef struct lk_strv {
    char **v;
    size_t n;
} lk_strv;

typedef struct lk_profile {
    long long id;
    char *id_text;
    char *name, *display_name, *template_name, *auth_type;
    char *client_id, *client_secret_sealed;
    char *authorization_url, *token_url, *refresh_url;
    lk_strv scopes, always_scopes;
    char *scope_separator;
    json_object *extra_params; /* object of strings (arena-owned) */
    char *callback_url;
    char *token_style; /* json, form, basic */
    bool pkce;
    char *api_base_url;
    char *resource_discovery; /* none, atlassian */
    char *resources_url;
    lk_strv allowed_redirects;
    bool allow_direct_authorize, proxy_only;
    char *issuer;
    lk_strv proxy_path_prefixes; /* decoded paths the proxy may reach; empty: any */
    /* api_key and api_key_per_user profiles */
    char *credential_kind;      /* basic (email:api_token) or bearer (PAT) */
    char *credential_sealed;    /* api_key: the one credential */
    char *site_kind;            /* cloud (<name>.atlassian.net) or dc (a base URL) */
    char *site;                 /* api_key: the one site */
    json_object *site_metadata; /* api_key: its cloud id, url, name */
    char *check_path;           /* GET <api base><check_path> must know the credential; NULL: no check */
    char *tenant_info_url;      /* cloud id lookup template ({site_host}) */
    bool allow_http_sites, allow_private_sites;
    char *misconfigured_reason; /* NULL when fine */
} lk_profile;

/* One client a grant can be issued to: the profile's own or white-label. */
typedef struct lk_client {
    char *client_id;
    char *secret; /* opened */
    char *callback_url;
    bool white_label;
} lk_client;

/* Loads the profile called name. LK_ENOPROFILE when there is none. */
lk_err lk_profile_load(lk_db *db, lk_arena *a, const char *name, lk_profile **out);
/* The client called client_id (NULL: the profile's own), secret opened.
 * LK_ENOTFOUND when the profile has no such client. */
lk_err lk_profile_client(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *client_id,
                         lk_client *out);

/* Fills a profile from a template ("atlassian-confluence",
 * "atlassian-jira", "generic"); LK_ENOTFOUND for an unknown one. */
lk_err lk_profile_template(lk_arena *a, const char *tmpl, lk_profile *p);
/* True for the API-token auth types (api_key, api_key_per_user). */
bool lk_profile_is_api_key(const lk_profile *p);
/* True for the atlassian-* templates. */
bool lk_profile_is_atlassian(const lk_profile *p);
/* True when the API base URL names a site ({site_url}, {site_host},
 * {cloud_id}): a credential then needs one; otherwise the base URL alone
 * names the provider. */
bool lk_profile_needs_site(const lk_profile *p);
/* Sets an auth type and its defaults for the profile's template (the
 * Atlassian templates: Cloud sites, email:api_token, their check paths;
 * generic: bearer tokens against the base URL a user names, checked as a
 * Data Center server would answer, and no display name: the caller names
 * it, never "OAuth 2.0 provider"). LK_EINVAL for an unknown type. */
lk_err lk_profile_set_auth_type(lk_arena *a, lk_profile *p, const char *auth_type);
/* Sets the API base URL (borrowed). For a generic API-key profile whose
 * base URL then names no site, the Data Center check path default goes:
 * nothing Atlassian is asked of another provider (set a check path after,
 * if it has one). */
void lk_profile_set_api_base_url(lk_profile *p, const char *url);
/* Checks a profile before it is stored; a sentence in *why on failure. */
lk_err lk_profile_validate(lk_arena *a, const lk_profile *p, const char **why);
/* Inserts p (its client secret and, for api_key, its credential given in
 * clear, sealed here); sets p->id. */
lk_err lk_profile_insert(lk_db *db, lk_arena *a, const lk_config *cfg, lk_profile *p, const char *secret,
                         const char *credential);

/* Scopes for a request: the comma-separated list (NULL: the profile's
 * default), plus the profile's always-scopes, without duplicates.
 * LK_EINVAL when an item is empty or has white space or controls. */
lk_err lk_profile_scopes(lk_arena *a, const lk_profile *p, const char *csv, lk_strv *out);
/* The scopes joined with the profile's separator. */
char *lk_scopes_join(lk_arena *a, const lk_strv *s, const char *sep);

/* A JSON array of strings → lk_strv (NULL or non-array → empty). */
lk_strv lk_strv_from_json(lk_arena *a, json_object *arr);
json_object *lk_strv_to_json(lk_arena *a, const lk_strv *s);

#endif
