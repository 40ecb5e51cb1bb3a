#include "template.h"

#include <string.h>

#include "json.h"

/* The check of a Data Center personal access token (Confluence). */
#define DC_CHECK_PATH "/rest/api/user/current"

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
        /* Granular scopes (the v2 API needs them; SPEC §10): what the
         * Confluence tools read and write, CQL search (v1's granular
         * read:content-details) included. Deleting is not asked for up
         * front: confluence_delete_page asks for delete:page:confluence
         * on demand, with a link for it, the first time it is called. */
        static const char *const conf_scopes[] = {"read:space:confluence",    "read:page:confluence",
                                                  "write:page:confluence",    "read:comment:confluence",
                                                  "write:comment:confluence", "read:label:confluence",
                                                  "write:label:confluence",   "read:content-details:confluence",
                                                  "offline_access",           NULL};
        static const char *const jira_scopes[] = {"read:jira-work", "read:jira-user", "write:jira-work",
                                                  "offline_access", NULL};
        static const char *const always[] = {"offline_access", NULL};
        p->display_name = confluence ? "Atlassian Confluence" : "Atlassian Jira";
        p->authorization_url = "https://auth.atlassian.com/authorize";
        p->token_url = "https://auth.atlassian.com/oauth/token";
        p->scopes = lk_strv_of(a, confluence ? conf_scopes : jira_scopes);
        p->always_scopes = lk_strv_of(a, always);
        p->extra_params = lk_json_object(a);
        lk_json_set_str(p->extra_params, "audience", "api.atlassian.com");
        lk_json_set_str(p->extra_params, "prompt", "consent");
        p->token_style = "json";
        p->api_base_url = confluence ? "https://api.atlassian.com/ex/confluence/{cloud_id}"
                                     : "https://api.atlassian.com/ex/jira/{cloud_id}";
        p->resource_discovery = "atlassian";
        p->resources_url = "https://api.atlassian.com/oauth/token/accessible-resources";
        /* Atlassian's refresh tokens lapse after 90 days without use, and
         * a grant ends 365 days after consent (SPEC §5, §11). */
        p->refresh_token_idle_days = LK_ATLASSIAN_IDLE_DAYS;
        p->grant_lifetime_days = LK_ATLASSIAN_GRANT_DAYS;
        return LK_OK;
    }
    if (!strcmp(tmpl, "generic")) {
        p->display_name = LK_GENERIC_OAUTH_NAME;
        p->extra_params = lk_json_object(a);
        p->token_style = "form";
        return LK_OK;
    }
    return LK_ENOTFOUND;
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
    /* A user's credential is no grant: nothing of it lapses on its own. */
    p->refresh_token_idle_days = p->grant_lifetime_days = 0;
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

void lk_profile_set_api_base_url(lk_profile *p, const char *url)
{
    p->api_base_url = (char *)url;
    /* The Data Center check path is the generic template's only for the
     * server a user names, never for a provider's own base URL. */
    if (lk_profile_is_credential_auth(p) && !lk_profile_is_atlassian(p) && !lk_profile_needs_site(p) && p->check_path &&
        !strcmp(p->check_path, DC_CHECK_PATH))
        p->check_path = NULL;
}
