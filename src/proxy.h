/* The proxy (SPEC §6): a bot's call forwarded to the profile's API with
 * the connection's credential injected, streamed both ways. */
#ifndef LK_PROXY_H
#define LK_PROXY_H

#include "http.h"

#define LK_PROXY_REPLAY_MAX (1024LL * 1024) /* bodies kept for a 401 retry */

/* True when a request header (lower case, '-' separated) is passed on. */
bool lk_proxy_request_header_ok(const char *name);
/* True when a response header (any case) is passed back: its name is an
 * RFC 9110 token, neither hop-by-hop nor Set-Cookie(2) nor Status. */
bool lk_proxy_response_header_ok(const char *name, size_t n);
/* The Location value to pass back: value resolved against the upstream
 * URL that answered (RFC 3986 §5.2), so that it is absolute; NULL when it
 * cannot be. */
char *lk_proxy_location(lk_arena *a, const char *upstream_url, const char *value);
/* "HTTP_X_FOO_BAR" → "X-Foo-Bar" (CONTENT_TYPE → "Content-Type"); NULL
 * for variables that are not request headers. */
char *lk_proxy_header_name(lk_arena *a, const char *cgi_var, size_t n);

/* ANY /proxy/{profile}/{path}. */
void lk_proxy_endpoint(lk_req *r);

#endif
