/* Profile templates (SPEC §3): what "atlassian-confluence",
 * "atlassian-jira" and "generic" fill in, and the defaults an auth type or
 * an API base URL brings with it for the profile's template. */
#ifndef LK_TEMPLATE_H
#define LK_TEMPLATE_H

#include "profile.h"

/* Atlassian's limits (SPEC §5): a refresh token unused for 90 days lapses;
 * a grant ends 365 days after consent. */
#define LK_ATLASSIAN_IDLE_DAYS 90
#define LK_ATLASSIAN_GRANT_DAYS 365

/* Fills a profile from a template ("atlassian-confluence",
 * "atlassian-jira", "generic"); LK_ENOTFOUND for an unknown one. */
lk_err lk_profile_template(lk_arena *a, const char *tmpl, lk_profile *p);
/* Sets an auth type and its defaults for the profile's template (the
 * Atlassian templates: Cloud sites, email:api_token, their check paths;
 * generic: bearer tokens against the base URL a user names, checked as a
 * Data Center server would answer, and no display name: the caller names
 * it, never "OAuth 2.0 provider"). LK_EINVAL for an unknown type. */
lk_err lk_profile_set_auth_type(lk_arena *a, lk_profile *p, const char *auth_type);
/* Sets the API base URL (borrowed). For a generic credential-auth profile whose
 * base URL then names no site, the Data Center check path default goes:
 * nothing Atlassian is asked of another provider (set a check path after,
 * if it has one). */
void lk_profile_set_api_base_url(lk_profile *p, const char *url);

#endif
