/* User credentials: a person's Atlassian API token (with email) or a Data
 * Center personal access token, used by the credential auth types
 * (api_key: one for everyone, api_key_per_user: one per instance). The
 * sites users name, the cloud id behind an Atlassian site, and the check
 * that a credential is known. */
#ifndef LK_USERCRED_H
#define LK_USERCRED_H

#include "profile.h"
#include "resources.h"
#include "upstream.h"

#define LK_CREDENTIAL_MAX 4096

/* Normalises and checks a site a user typed. cloud: "<name>.atlassian.net"
 * (an https:// in front and a trailing '/' allowed, any case); dc: an
 * https base URL (http only when the profile allows it), without query,
 * fragment or user info, and no private or loopback address literal
 * unless the profile allows them. *why says what is wrong. */
lk_err lk_usercred_site(lk_arena *a, const lk_profile *p, const char *input, lk_site *out, const char **why);
/* Fills site->cloud_id from the site's tenant_info when the profile's API
 * base URL needs it, refusing private addresses when connecting unless the
 * profile allows them. LK_EUNAVAILABLE (try later) or LK_EPROVIDER. */
lk_err lk_usercred_resolve(lk_upstream *u, lk_arena *a, const lk_profile *p, lk_site *site);
/* The ready Authorization value: "Basic base64(email:token)" or
 * "Bearer <token>". */
char *lk_usercred_header(lk_arena *a, const char *kind, const char *credential);
/* Asks the provider whether it knows the credential: GET <API base><check
 * path> (site may be NULL when the base URL names none); LK_OK at once
 * when the profile has no check path. The answer is judged by
 * lk_usercred_judge. */
lk_err lk_usercred_check(lk_upstream *u, lk_arena *a, const lk_profile *p, const lk_site *site, const char *credential);
/* The check's answer: LK_EDENIED for 401, 403 or the anonymous user (Data
 * Center may answer a bad token so); LK_EUNAVAILABLE for 429 and 5xx;
 * LK_EPROVIDER for any other non-2xx. A 2xx knows the credential, except
 * that the Atlassian templates want a JSON object naming a user. */
lk_err lk_usercred_judge(lk_arena *a, const lk_profile *p, long status, const char *body, size_t len);
/* True when calls with the profile's credential must refuse private
 * addresses: its base URL comes from a site (one a user or the admin
 * named) and the profile does not allow them. */
bool lk_usercred_deny_private(const lk_profile *p);
/* Where calls with the profile's credential may connect: LK_REACH_PUBLIC
 * when lk_usercred_deny_private, else LK_REACH_ANY. */
lk_reach lk_usercred_reach(const lk_profile *p);
/* Checks a credential's shape: basic "email:token", bearer a token; no
 * control characters, at most LK_CREDENTIAL_MAX bytes. */
bool lk_usercred_valid(const char *kind, const char *credential);
/* What a credential of p must look like, for a message ("email:api_token",
 * "user:token", "a personal access token"). */
const char *lk_usercred_shape(const lk_profile *p);
/* Takes a user's credential for a connection of p: the site named by
 * site_input when p's API base URL names one (parsed, resolved; ignored
 * otherwise), then, when check, the provider's word on the credential.
 * *meta gets the connection's metadata (the site, or none). LK_EINVAL with
 * *why for a bad site; else as lk_usercred_resolve and lk_usercred_check. */
lk_err lk_usercred_accept(lk_upstream *u, lk_arena *a, const lk_profile *p, const char *site_input,
                          const char *credential, bool check, json_object **meta, const char **why);

#endif
