/* The browser flow of SPEC §4: pending flows with state, PKCE and a
 * per-flow cookie, started from an authorization link (link.h) or the seed
 * form, and the callback that turns a code into a stored connection. The
 * per-user credential form is credform.h. */
#ifndef LK_FLOW_H
#define LK_FLOW_H

#include "http.h"
#include "profile.h"

/* GET /authorize/{profile}?link=… (or the seed form when seed_form):
 * stores a pending flow, sets its cookie, redirects to the provider. */
void lk_flow_begin(lk_req *r, const char *profile, bool seed_form);
/* GET /callback/{profile}: the provider sends the browser back. */
void lk_flow_callback(lk_req *r, const char *profile);

/* Deletes expired links and flows (index range scans, bounded), at most
 * once per purge_interval in this process. */
void lk_flow_purge(lk_db *db, lk_arena *a, const lk_config *cfg, bool force);

#endif
