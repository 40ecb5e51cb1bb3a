/* Sites (SPEC §4 step 3): Atlassian's accessible-resources list, the site
 * a link or a caller asked for, the connection metadata, and the API base
 * URL a site fills in. */
#ifndef LK_RESOURCES_H
#define LK_RESOURCES_H

#include <json-c/json.h>

#include "upstream.h"

typedef struct lk_site {
    char *cloud_id, *url, *name;
} lk_site;

typedef struct lk_sites {
    lk_site *v;
    size_t n;
} lk_sites;

#define LK_SITES_MAX 200

/* Parses an accessible-resources answer (a JSON array of {id, url, name});
 * LK_EPROVIDER when it is anything else. */
lk_err lk_resources_parse(lk_arena *a, const char *body, size_t len, lk_sites *out);
/* GETs the list with the access token. LK_EPROVIDER (nonsense, 4xx) or
 * LK_EUNAVAILABLE (timeouts, 5xx, connection errors). */
lk_err lk_resources_fetch(lk_upstream *u, lk_arena *a, const char *url, const char *access_token, lk_sites *out);
/* The site named by want, a cloud id or a host (compared without regard
 * to case; "https://" and a trailing '/' are ignored); NULL if none. */
const lk_site *lk_site_pick(const lk_sites *s, const char *want);
/* {"cloud_id", "site_url", "site_name" (of chosen, if any), "sites": [...]} */
json_object *lk_sites_metadata(lk_arena *a, const lk_sites *s, const lk_site *chosen);
/* The sites list of stored metadata. */
lk_sites lk_sites_from_metadata(lk_arena *a, json_object *metadata);
/* True when a site string (cloud id or host) is acceptable input. */
bool lk_site_valid(const char *s);
/* Fills {cloud_id}, {site_url} and {site_host} of an API base URL
 * template; NULL when it names one and no site is chosen, or for an
 * unknown placeholder, or a result over 2 * LK_URL_MAX bytes. */
char *lk_api_base_url(lk_arena *a, const char *tmpl, const lk_site *site);

#endif
