/* lk_oauth_parse on a token endpoint's answer. Input: one byte choosing the
 * HTTP status, then the body.
 *
 * LK_OAUTH_OK only for a 200 whose body is a JSON object with an
 * access_token; the tokens are then non-empty RFC 6749 A.12 VSCHAR strings
 * (they go into Authorization headers: no CR, LF or other control byte),
 * at most 16 KiB, token_type set, expires_in -1 or 1 s to 10 years. Any
 * other answer has a code from our fixed set, never the provider's text;
 * 429 and 5xx are transient. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "oauth.h"

static const long statuses[] = {200, 200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 0, 99, 999};

static const char *const codes[] = {
    "invalid_request",        "invalid_client",   "invalid_grant",        "unauthorized_client",
    "unsupported_grant_type", "invalid_scope",    "access_denied",        "temporarily_unavailable",
    "server_error",           "unknown_error",    "rate_limited",         "provider_server_error",
    "unexpected_status",      "malformed_answer", "no_access_token",      "malformed_refresh_token",
    "malformed_token_type",   "malformed_scope",  "malformed_expires_in",
};

/* SPEC §5: printable ASCII without spaces. */
static bool vschar(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    char *body = fuzz_str(data + 1, size - 1);
    lk_arena *a = lk_arena_new();
    lk_tokens t;
    const char *code = "unset";
    lk_oauth_fail f = lk_oauth_parse(a, status, body, size - 1, &t, &code);
    if (f == LK_OAUTH_OK) {
        FUZZ_CHECK(status == 200, "tokens from status %ld", status);
        FUZZ_CHECK(code == NULL, "a code with tokens");
        FUZZ_CHECK(t.access_token && *t.access_token && strlen(t.access_token) <= 16384, "access_token");
        FUZZ_CHECK(vschar(t.access_token), "access_token holds a control or non-ASCII byte");
        FUZZ_CHECK(!t.refresh_token || (*t.refresh_token && vschar(t.refresh_token)),
                   "refresh_token empty or holds a control or non-ASCII byte");
        FUZZ_CHECK(t.token_type && *t.token_type, "token_type");
        FUZZ_CHECK(t.expires_in == -1 || (t.expires_in > 0 && t.expires_in <= 10LL * 365 * 86400), "expires_in %lld",
                   t.expires_in);
    } else {
        FUZZ_CHECK(f >= LK_OAUTH_GRANT && f <= LK_OAUTH_NONSENSE, "class %d", f);
        FUZZ_CHECK(code != NULL, "no code");
        bool known = false;
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            known = known || code == codes[i] || !strcmp(code, codes[i]);
        FUZZ_CHECK(known, "code not ours: %s", code);
        FUZZ_CHECK(!t.access_token && !t.refresh_token, "tokens on failure");
        if (status == 429 || status >= 500)
            FUZZ_CHECK(f == LK_OAUTH_TRANSIENT, "%ld not transient", status);
    }
    lk_arena_free(a);
    free(body);
    return 0;
}
