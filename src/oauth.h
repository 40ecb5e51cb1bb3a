/* The OAuth 2.0 client side (RFC 6749 §4.1.3, §6): token requests in the
 * profile's style and the provider's answers, judged into SPEC §5's
 * failure classes. */
#ifndef LK_OAUTH_H
#define LK_OAUTH_H

#include "arena.h"
#include "client.h"
#include "lk.h"
#include "upstream.h"

typedef struct lk_tokens {
    char *access_token;
    char *refresh_token; /* NULL when the answer carried none */
    char *token_type;
    char *scope;          /* NULL when the answer carried none */
    long long expires_in; /* -1 when the answer carried none */
} lk_tokens;

/* How a token endpoint failure is to be treated (SPEC §5). */
typedef enum lk_oauth_fail {
    LK_OAUTH_OK = 0,
    LK_OAUTH_GRANT,     /* invalid_grant: the grant is gone */
    LK_OAUTH_CONFIG,    /* invalid_client & kin: the profile is wrong */
    LK_OAUTH_TRANSIENT, /* timeouts, 5xx, 429, connection errors */
    LK_OAUTH_NONSENSE,  /* an answer that is not a token response */
} lk_oauth_fail;

typedef struct lk_token_request {
    const char *content_type;
    char *body;
    const char *authorization; /* "Authorization: Basic …" or NULL */
} lk_token_request;

/* The body (and header) of a token request with the given grant
 * parameters (NULL-terminated name, value pairs) in the profile's style:
 * json (client id and secret in the body, as Atlassian documents), form
 * (client_secret_post) or basic (RFC 6749 §2.3.1: both form-urlencoded
 * before base64). */
lk_err lk_oauth_build(lk_arena *a, const char *style, const lk_client *c, const char *const *params,
                      lk_token_request *out);
/* Judges an HTTP answer of a token endpoint. On LK_OAUTH_OK, *t holds the
 * tokens; otherwise *code names the provider's error code (or a short
 * reason of ours), never echoing the provider's text. */
lk_oauth_fail lk_oauth_parse(lk_arena *a, long status, const char *body, size_t len, lk_tokens *t, const char **code);
/* Classifies a transport failure of lk_upstream_call. */
lk_oauth_fail lk_oauth_transport(lk_err rc);

/* Sends one token request and judges the answer (the two above). */
lk_oauth_fail lk_oauth_token_call(lk_upstream *u, lk_arena *a, const char *url, const char *style, const lk_client *c,
                                  const char *const *params, lk_tokens *t, const char **code, const char **retry_after);

#endif
