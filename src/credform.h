/* The per-user credential form (SPEC §4, api_key_per_user profiles): a
 * person opens a link, enters their own API token or PAT in Latchkey's
 * form, and it is checked against the provider and stored sealed. */
#ifndef LK_CREDFORM_H
#define LK_CREDFORM_H

#include "http.h"

/* A posted credential form holds at most this many bytes. */
#define LK_CREDFORM_BODY_MAX ((size_t)16 * 1024)

/* POST /callback/{profile}: the per-user credential form (api_key_per_user):
 * checked against the provider, stored sealed, answered 303. */
void lk_flow_credential(lk_req *r, const char *profile);
/* GET /callback/{profile}?connected=1: where a stored credential lands. */
void lk_flow_connected_page(lk_req *r, const char *profile);

#endif
