/* lk_unseal on arbitrary text, and lk_seal/lk_unseal round trips, under a
 * fixed key ring (ids 1 and 7).
 *
 * Text the fuzzer makes never opens for ("connections", "access_token",
 * "42"), an associated data this target never seals for (the seeds are
 * well-formed values sealed for row 43); lk_sealed_kid reads only the
 * canonical "lk1.<id>." form. The input sealed for ("profiles",
 * "client_secret", "7") opens there to the same bytes, and not for another
 * row, column or table, nor without its key, nor with one base64 digit
 * changed. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "crypto.h"

static lk_key keys[2];
static lk_keyring ring = {keys, 2};
static lk_keyring ring_old = {keys, 1}; /* key 1 only */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    keys[0].id = 1;
    keys[1].id = 7;
    for (int i = 0; i < LK_KEY_LEN; i++) {
        keys[0].key[i] = (unsigned char)(i * 7 + 1);
        keys[1].key[i] = (unsigned char)(255 - i * 3);
    }
    /* LK_FUZZ_SEAL=<pk>: print the input sealed for ("connections",
     * "access_token", pk) with key 7, to make seeds. */
    const char *pk = getenv("LK_FUZZ_SEAL");
    if (pk) {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), stdin);
        lk_arena *a = lk_arena_new();
        char *out = NULL;
        if (lk_seal(a, &ring, "connections", "access_token", pk, buf, n, &out) != LK_OK)
            abort();
        printf("%s", out);
        lk_arena_free(a);
        exit(0);
    }
    return 0;
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

static void check_text(lk_arena *a, const char *s)
{
    char *out = NULL;
    size_t outlen = 0;
    lk_err rc = lk_unseal(a, &ring, "connections", "access_token", "42", s, &out, &outlen);
    FUZZ_CHECK(rc == LK_ECRYPTO, "text the fuzzer made opened (rc %d): %s", rc, s);
    unsigned kid = lk_sealed_kid(s);
    if (kid) {
        char pre[32];
        int pl = snprintf(pre, sizeof(pre), "lk1.%u.", kid);
        FUZZ_CHECK(!strncmp(s, pre, (size_t)pl), "kid %u from a non-canonical text", kid);
        FUZZ_CHECK(kid <= 1000000, "kid %u", kid);
    }
}

static void check_round_trip(lk_arena *a, const uint8_t *data, size_t size)
{
    char *sealed = NULL;
    FUZZ_CHECK(lk_seal(a, &ring, "profiles", "client_secret", "7", data, size, &sealed) == LK_OK, "seal");
    FUZZ_CHECK(!strncmp(sealed, "lk1.7.", 6) && lk_sealed_kid(sealed) == 7, "sealed with the newest key");
    char *out = NULL;
    size_t outlen = 0;
    FUZZ_CHECK(lk_unseal(a, &ring, "profiles", "client_secret", "7", sealed, &out, &outlen) == LK_OK,
               "own sealed value refused");
    FUZZ_CHECK(outlen == size && (!size || !memcmp(out, data, size)) && out[outlen] == '\0', "round trip");
    static const char *const other[][3] = {
        {"profiles", "client_secret", "8"}, {"profiles", "client_secret", "70"},
        {"profiles", "credential", "7"},    {"profile_clients", "client_secret", "7"},
        {"profiles", "client_secret", ""},  {"profiles|client_secret", "", "7"},
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        FUZZ_CHECK(lk_unseal(a, &ring, other[i][0], other[i][1], other[i][2], sealed, &out, &outlen) == LK_ECRYPTO,
                   "opened for %s/%s/%s", other[i][0], other[i][1], other[i][2]);
    FUZZ_CHECK(lk_unseal(a, &ring_old, "profiles", "client_secret", "7", sealed, &out, &outlen) == LK_ECRYPTO,
               "opened without its key");
    /* One base64 digit changed to another value. */
    size_t len = strlen(sealed), body = 6, bl = len - body;
    size_t pos = body + (size ? data[0] * 31u + data[size - 1] : 0) % bl;
    char *t = lk_strdup(a, sealed);
    int v = b64v(t[pos]);
    FUZZ_CHECK(v >= 0, "sealed value holds a non-base64url byte 0x%02x", (unsigned char)t[pos]);
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    t[pos] = alpha[(v + 1 + (size ? data[size / 2] : 0) % 63) % 64];
    FUZZ_CHECK(lk_unseal(a, &ring, "profiles", "client_secret", "7", t, &out, &outlen) == LK_ECRYPTO,
               "a changed value opened: %s", t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lk_arena *a = lk_arena_new();
    char *s = fuzz_str(data, size);
    check_text(a, s);
    check_round_trip(a, data, size);
    free(s);
    lk_arena_free(a);
    return 0;
}
