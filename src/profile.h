/* Authorization profiles (SPEC §3): loading (through the answer cache),
 * white-label clients, storing, and the checks a profile must pass before
 * it is stored. Templates live in template.h. */
#ifndef LK_PROFILE_H
#define LK_PROFILE_H

#include <json-c/json.h>

#include "arena.h"
#include "client.h"
#include "config.h"
#include "db.h"
#include "lk.h"
#include "strv.h"

/* The generic template's display name for an OAuth profile: never the name
 * of a profile of another auth type. */
#define LK_GENERIC_OAUTH_NAME "OAuth 2.0 provider"
/* Bounds of a scope list asked for (a comma-separated request parameter),
 * of one scope in it, and of the joined list sent to a provider. */
#define LK_SCOPES_CSV_MAX 4096
#define LK_SCOPE_MAX 256
#define LK_SCOPES_JOINED_MAX ((size_t)64 * 1024)

/* The tools a profile may name (--tools), and one tool name's length
 * (^[a-z][a-z0-9_]{0,63}$). */
#define LK_PROFILE_TOOLS_MAX 64
#define LK_TOOL_NAME_MAX 64

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
    lk_strv tools;              /* --tools (SPEC §10): the MCP tools offered; empty: all of the template's */
    /* What the provider declares about its grants (SPEC §11), in days; 0:
     * no such limit known. */
    int refresh_token_idle_days; /* a refresh token unused this long lapses */
    int grant_lifetime_days;     /* a grant ends this long after consent */
} lk_profile;

/* The bounds of refresh_token_idle_days and grant_lifetime_days. */
#define LK_PROFILE_DAYS_MAX 36500

/* Loads the profile called name. LK_ENOPROFILE when there is none. The
 * profile may be the cached one, shared with later requests: read only. */
lk_err lk_profile_load(lk_db *db, lk_arena *a, const char *name, const lk_profile **out);
/* The client called client_id (NULL: the profile's own), secret opened.
 * LK_ENOTFOUND when the profile has no such client. */
lk_err lk_profile_client(lk_db *db, lk_arena *a, const lk_config *cfg, const lk_profile *p, const char *client_id,
                         lk_client *out);

/* True for the credential auth types (api_key, api_key_per_user): calls
 * are signed with a stored user credential, not OAuth tokens. */
bool lk_profile_is_credential_auth(const lk_profile *p);
/* True for the atlassian-* templates. */
bool lk_profile_is_atlassian(const lk_profile *p);
/* True when the API base URL names a site ({site_url}, {site_host},
 * {cloud_id}): a credential then needs one; otherwise the base URL alone
 * names the provider. */
bool lk_profile_needs_site(const lk_profile *p);
/* True when s is a tool name: ^[a-z][a-z0-9_]{0,63}$. */
bool lk_tool_name_valid(const char *s);
/* Checks a profile before it is stored; a sentence in *why on failure. */
lk_err lk_profile_validate(lk_arena *a, const lk_profile *p, const char **why);
/* Inserts p (its client secret and, for api_key, its credential given in
 * clear, sealed here); sets p->id. */
lk_err lk_profile_insert(lk_db *db, lk_arena *a, const lk_config *cfg, lk_profile *p, const char *secret,
                         const char *credential);
/* Sets the declared days of profile name (SPEC §11): each given as a number
 * of days, 0 for none, or -1 to keep it. LK_ENOPROFILE when there is none. */
lk_err lk_profile_set_days(lk_db *db, lk_arena *a, const char *name, int idle_days, int lifetime_days);

/* Scopes for a request: the comma-separated list (NULL: the profile's
 * default), plus the profile's always-scopes, without duplicates.
 * LK_EINVAL when an item is empty or has white space or controls. */
lk_err lk_profile_scopes(lk_arena *a, const lk_profile *p, const char *csv, lk_strv *out);
/* The scopes joined with the profile's separator; NULL when longer than
 * LK_SCOPES_JOINED_MAX (never a shorter list than asked for). */
char *lk_scopes_join(lk_arena *a, const lk_strv *s, const char *sep);

#endif
