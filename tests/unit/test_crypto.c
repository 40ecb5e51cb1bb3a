/* Unit tests: sealed secrets, the key ring, hashing and PKCE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "text.h"

static int setup(void **state)
{
    *state = lk_arena_new();
    return 0;
}

static int teardown(void **state)
{
    lk_arena_free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* An in-memory ring: key i is filled with the byte i. */
static lk_keyring ring(lk_key *keys, const unsigned *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        keys[i].id = ids[i];
        memset(keys[i].key, (int)ids[i], LK_KEY_LEN);
    }
    return (lk_keyring){keys, n};
}

/* ---- seal and unseal ---- */

static void test_seal_unseal_round_trip(void **state)
{
    lk_key k[2];
    lk_keyring kr = ring(k, (unsigned[]){1, 2}, 2);
    char *sealed = NULL, *out = NULL;
    size_t n = 0;
    assert_int_equal(lk_seal(*state, &kr, "connections", "access_token", "42", "tok-secret", 10, &sealed), LK_OK);
    assert_null(strstr(sealed, "tok-secret"));
    assert_int_equal(lk_unseal(*state, &kr, "connections", "access_token", "42", sealed, &out, &n), LK_OK);
    assert_int_equal(n, 10);
    assert_string_equal(out, "tok-secret");
}

static void test_seal_format_names_newest_key(void **state)
{
    lk_key k[2];
    lk_keyring kr = ring(k, (unsigned[]){3, 7}, 2);
    char *sealed = NULL;
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "x", 1, &sealed), LK_OK);
    assert_int_equal(strncmp(sealed, "lk1.7.", 6), 0);
    assert_int_equal(lk_sealed_kid(sealed), 7);
    /* iv (12) + 1 byte + tag (16) = 29 bytes = 39 base64url characters */
    assert_int_equal(strlen(sealed + 6), 39);
    assert_null(strpbrk(sealed + 6, "+/=."));
}

static void test_seal_uses_fresh_iv(void **state)
{
    lk_key k[1];
    lk_keyring kr = ring(k, (unsigned[]){1}, 1);
    char *s1 = NULL, *s2 = NULL;
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "same", 4, &s1), LK_OK);
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "same", 4, &s2), LK_OK);
    assert_string_not_equal(s1, s2);
}

static void test_seal_round_trips_empty_and_binary(void **state)
{
    lk_key k[1];
    lk_keyring kr = ring(k, (unsigned[]){1}, 1);
    char *sealed = NULL, *out = NULL;
    size_t n = 99;
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "", 0, &sealed), LK_OK);
    assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", sealed, &out, &n), LK_OK);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 0x80};
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", bin, sizeof(bin), &sealed), LK_OK);
    assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", sealed, &out, &n), LK_OK);
    assert_int_equal(n, sizeof(bin));
    assert_memory_equal(out, bin, sizeof(bin));
    assert_int_equal(out[n], '\0');
}

static void test_unseal_refuses_other_table_column_or_pk(void **state)
{
    lk_key k[1];
    lk_keyring kr = ring(k, (unsigned[]){1}, 1);
    char *sealed = NULL, *out = NULL;
    assert_int_equal(lk_seal(*state, &kr, "connections", "refresh_token", "42", "rt", 2, &sealed), LK_OK);
    assert_int_equal(lk_unseal(*state, &kr, "profiles", "refresh_token", "42", sealed, &out, NULL), LK_ECRYPTO);
    assert_int_equal(lk_unseal(*state, &kr, "connections", "access_token", "42", sealed, &out, NULL), LK_ECRYPTO);
    assert_int_equal(lk_unseal(*state, &kr, "connections", "refresh_token", "43", sealed, &out, NULL), LK_ECRYPTO);
    assert_int_equal(lk_unseal(*state, &kr, "connections", "refresh_token", "4", sealed, &out, NULL), LK_ECRYPTO);
    assert_int_equal(lk_unseal(*state, &kr, "connections", "refresh_token", "42", sealed, &out, NULL), LK_OK);
    assert_string_equal(out, "rt");
}

static void test_unseal_refuses_tampered_ciphertext(void **state)
{
    lk_key k[1];
    lk_keyring kr = ring(k, (unsigned[]){1}, 1);
    char *sealed = NULL, *out = NULL;
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "payload-1234", 12, &sealed), LK_OK);
    size_t len = strlen(sealed);
    /* Flip a character in the iv, the ciphertext and the tag in turn. */
    size_t at[] = {8, 6 + 16 + 4, len - 3};
    for (size_t i = 0; i < LK_ARRAY_LEN(at); i++) {
        char *t = lk_strdup(*state, sealed);
        t[at[i]] = t[at[i]] == 'A' ? 'B' : 'A';
        assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", t, &out, NULL), LK_ECRYPTO);
    }
    /* Cut short, so that no tag remains. */
    char *t = lk_strndup(*state, sealed, 6 + 20);
    assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", t, &out, NULL), LK_ECRYPTO);
}

static void test_unseal_refuses_relabelled_key_id(void **state)
{
    lk_key k[2];
    lk_keyring kr = ring(k, (unsigned[]){1, 2}, 2);
    memcpy(k[0].key, k[1].key, LK_KEY_LEN); /* same key bytes: only the kid differs */
    char *sealed = NULL, *out = NULL;
    assert_int_equal(lk_seal(*state, &kr, "t", "c", "1", "x", 1, &sealed), LK_OK);
    char *t = lk_strdup(*state, sealed);
    t[4] = '1';
    assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", t, &out, NULL), LK_ECRYPTO);
}

static void test_unseal_refuses_unknown_key_id(void **state)
{
    lk_key k2[2], k1[1];
    lk_keyring newer = ring(k2, (unsigned[]){1, 2}, 2);
    lk_keyring older = ring(k1, (unsigned[]){1}, 1);
    char *sealed = NULL, *out = NULL;
    assert_int_equal(lk_seal(*state, &newer, "t", "c", "1", "x", 1, &sealed), LK_OK);
    assert_int_equal(lk_unseal(*state, &older, "t", "c", "1", sealed, &out, NULL), LK_ECRYPTO);
    lk_keyring empty = {NULL, 0};
    assert_int_equal(lk_unseal(*state, &empty, "t", "c", "1", sealed, &out, NULL), LK_ECRYPTO);
}

static void test_newest_key_seals_older_key_still_opens(void **state)
{
    lk_key k1[1], k2[2];
    lk_keyring before = ring(k1, (unsigned[]){1}, 1);
    lk_keyring after = ring(k2, (unsigned[]){1, 2}, 2);
    char *old = NULL, *fresh = NULL, *out = NULL;
    assert_int_equal(lk_seal(*state, &before, "t", "c", "1", "old-secret", 10, &old), LK_OK);
    assert_int_equal(lk_sealed_kid(old), 1);
    assert_int_equal(lk_unseal(*state, &after, "t", "c", "1", old, &out, NULL), LK_OK);
    assert_string_equal(out, "old-secret");
    assert_int_equal(lk_seal(*state, &after, "t", "c", "1", "new-secret", 10, &fresh), LK_OK);
    assert_int_equal(lk_sealed_kid(fresh), 2);
    assert_int_equal(lk_unseal(*state, &after, "t", "c", "1", fresh, &out, NULL), LK_OK);
    assert_string_equal(out, "new-secret");
}

static void test_seal_refuses_empty_ring(void **state)
{
    lk_keyring empty = {NULL, 0};
    char *sealed = NULL;
    assert_int_equal(lk_seal(*state, &empty, "t", "c", "1", "x", 1, &sealed), LK_EINTERNAL);
    assert_null(sealed);
}

static void test_unseal_refuses_malformed_text(void **state)
{
    lk_key k[1];
    lk_keyring kr = ring(k, (unsigned[]){1}, 1);
    char *out = NULL;
    static const char *const bad[] = {"",         "plain",      "lk1.",       "lk1.1",      "lk1.1.",
                                      "lk1.1.!!", "lk2.1.AAAA", "lk1.x.AAAA", "lk1.0.AAAA", "LK1.1.AAAA"};
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++)
        assert_int_equal(lk_unseal(*state, &kr, "t", "c", "1", bad[i], &out, NULL), LK_ECRYPTO);
}

static void test_sealed_kid_parses_only_canonical_ids(void **state)
{
    (void)state;
    assert_int_equal(lk_sealed_kid("lk1.7.abc"), 7);
    assert_int_equal(lk_sealed_kid("lk1.1000000.abc"), 1000000);
    assert_int_equal(lk_sealed_kid("lk1.1000001.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1.0.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1.7"), 0);
    assert_int_equal(lk_sealed_kid("lk1.7x.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1..abc"), 0);
    assert_int_equal(lk_sealed_kid("lk2.7.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1.-1.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1.+7.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1. 7.abc"), 0);
    assert_int_equal(lk_sealed_kid("lk1.07.abc"), 0);
    assert_int_equal(lk_sealed_kid(""), 0);
    assert_int_equal(lk_sealed_kid(NULL), 0);
}

/* ---- hashing, PKCE, randomness ---- */

/* RFC 7636 Appendix B: the verifier is the base64url of its 32 octets. */
static void test_pkce_challenge_rfc7636_appendix_b(void **state)
{
    assert_string_equal(lk_pkce_challenge(*state, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void test_sha256_hex_known_vectors(void **state)
{
    assert_string_equal(lk_sha256_hex(*state, "abc"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(lk_sha256_hex(*state, ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_random_token_is_base64url_of_n_bytes(void **state)
{
    char *a = lk_random_token(*state, 32);
    char *b = lk_random_token(*state, 32);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_int_equal(strlen(lk_random_token(*state, 16)), 22);
}

/* ---- key files and the ring on disk ---- */

typedef struct tmpdir {
    char path[64];
    char files[8][128];
    size_t n;
} tmpdir;

static void tmp_open(tmpdir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/lk_test_keys_XXXXXX");
    assert_non_null(mkdtemp(d->path));
    d->n = 0;
}

static const char *tmp_write(tmpdir *d, const char *name, const char *text, mode_t mode)
{
    assert_true(d->n < 8);
    char *p = d->files[d->n++];
    char full[128];
    snprintf(full, sizeof(full), "%s/%s", d->path, name);
    memcpy(p, full, sizeof(full));
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return p;
}

static void tmp_close(tmpdir *d)
{
    for (size_t i = 0; i < d->n; i++)
        unlink(d->files[i]);
    rmdir(d->path);
}

#define KEY_0_31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_32_63 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static void test_key_file_read_valid_with_newline(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    const char *p = tmp_write(&d, "1.key", KEY_0_31 "\n", 0600);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_OK);
    for (int i = 0; i < LK_KEY_LEN; i++)
        assert_int_equal(key[i], i);
    p = tmp_write(&d, "2.key", KEY_32_63, 0400);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_OK);
    assert_int_equal(key[0], 32);
    tmp_close(&d);
}

static void test_key_file_refuses_group_or_world_readable(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    const char *p = tmp_write(&d, "1.key", KEY_0_31, 0644);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    assert_non_null(strstr(err, "chmod 600"));
    p = tmp_write(&d, "2.key", KEY_0_31, 0640);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    p = tmp_write(&d, "3.key", KEY_0_31, 0604);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    tmp_close(&d);
}

static void test_key_file_refuses_wrong_length(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    const char *p = tmp_write(&d, "1.key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 0600); /* 31 */
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    assert_non_null(strstr(err, "exactly 32 bytes"));
    p = tmp_write(&d, "2.key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0600); /* 33 */
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    p = tmp_write(&d, "3.key", "", 0600);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    tmp_close(&d);
}

static void test_key_file_refuses_trailing_nul(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    const char *p = tmp_write(&d, "1.key", "", 0600);
    int fd = open(p, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, KEY_0_31 "\0\0", sizeof(KEY_0_31) + 1), (ssize_t)sizeof(KEY_0_31) + 1);
    close(fd);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    tmp_close(&d);
}

static void test_key_file_refuses_non_base64(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    const char *p = tmp_write(&d, "1.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=", 0600);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    p = tmp_write(&d, "2.key", "AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8=", 0600);
    assert_int_equal(lk_key_file_read(p, key, err, sizeof(err)), LK_EINTERNAL);
    tmp_close(&d);
}

static void test_key_file_refuses_missing_symlink_and_directory(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    unsigned char key[LK_KEY_LEN];
    char err[256] = "";
    const char *real = tmp_write(&d, "1.key", KEY_0_31, 0600);
    char link[160];
    snprintf(link, sizeof(link), "%s/2.key", d.path);
    assert_int_equal(symlink(real, link), 0);
    assert_int_equal(lk_key_file_read(link, key, err, sizeof(err)), LK_EINTERNAL);
    unlink(link);
    assert_int_equal(lk_key_file_read(link, key, err, sizeof(err)), LK_EINTERNAL);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(lk_key_file_read(d.path, key, err, sizeof(err)), LK_EINTERNAL);
    tmp_close(&d);
}

static void test_keyring_load_sorts_by_id_and_ignores_other_files(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    tmp_write(&d, "10.key", KEY_32_63, 0600);
    tmp_write(&d, "2.key", KEY_0_31, 0600);
    tmp_write(&d, "README", "not a key", 0644);
    tmp_write(&d, "2.key.bak", "junk", 0644);
    lk_keyring kr;
    char err[256] = "";
    assert_int_equal(lk_keyring_load(&kr, d.path, err, sizeof(err)), LK_OK);
    assert_int_equal(kr.n, 2);
    assert_int_equal(kr.keys[0].id, 2);
    assert_int_equal(kr.keys[0].key[31], 31);
    assert_int_equal(kr.keys[1].id, 10);
    assert_int_equal(kr.keys[1].key[0], 32);
    lk_keyring_clear(&kr);
    assert_null(kr.keys);
    assert_int_equal(kr.n, 0);
    tmp_close(&d);
}

/* rotate-key adds a key to the ring's directory; a running process opens
 * what it seals by loading the ring again from the directory it loaded it
 * from (found by reading crypto.c: that reload copied the directory name
 * onto itself). */
static void test_unseal_reloads_ring_from_its_directory(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    tmp_write(&d, "1.key", KEY_0_31, 0600);
    lk_keyring kr;
    char err[256] = "";
    assert_int_equal(lk_keyring_load(&kr, d.path, err, sizeof(err)), LK_OK);
    assert_int_equal(kr.n, 1);
    /* Another process seals with a new key 2 ... */
    lk_key k2 = {.id = 2};
    for (int i = 0; i < LK_KEY_LEN; i++)
        k2.key[i] = (unsigned char)(32 + i);
    lk_keyring other = {&k2, 1};
    lk_arena *a = lk_arena_new();
    char *sealed = NULL, *opened = NULL;
    assert_int_equal(lk_seal(a, &other, "t", "c", "1", "secret", 6, &sealed), LK_OK);
    /* ... after writing it next to key 1: this process finds it. */
    tmp_write(&d, "2.key", KEY_32_63, 0600);
    assert_int_equal(lk_unseal(a, &kr, "t", "c", "1", sealed, &opened, NULL), LK_OK);
    assert_string_equal(opened, "secret");
    assert_int_equal(kr.n, 2);
    lk_arena_free(a);
    lk_keyring_clear(&kr);
    tmp_close(&d);
}

static void test_keyring_load_refuses_empty_directory(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    lk_keyring kr;
    char err[256] = "";
    assert_int_equal(lk_keyring_load(&kr, d.path, err, sizeof(err)), LK_EINTERNAL);
    assert_non_null(strstr(err, "holds no"));
    assert_int_equal(kr.n, 0);
    assert_int_equal(lk_keyring_load(&kr, "/nonexistent/lk-keys", err, sizeof(err)), LK_EINTERNAL);
    assert_int_equal(kr.n, 0);
    tmp_close(&d);
}

static void test_keyring_load_refuses_one_bad_key(void **state)
{
    (void)state;
    tmpdir d;
    tmp_open(&d);
    tmp_write(&d, "1.key", KEY_0_31, 0600);
    tmp_write(&d, "2.key", KEY_32_63, 0644);
    lk_keyring kr;
    char err[256] = "";
    assert_int_equal(lk_keyring_load(&kr, d.path, err, sizeof(err)), LK_EINTERNAL);
    assert_null(kr.keys);
    assert_int_equal(kr.n, 0);
    tmp_close(&d);
}

static void test_keyring_load_refuses_bad_file_names(void **state)
{
    (void)state;
    static const char *const names[] = {"01.key", "0.key",       "abc.key",
                                        "1x.key", "+2.key",      "-1.key",
                                        " 3.key", "1000001.key", "99999999999999999999.key"};
    for (size_t i = 0; i < LK_ARRAY_LEN(names); i++) {
        tmpdir d;
        tmp_open(&d);
        tmp_write(&d, "5.key", KEY_0_31, 0600);
        tmp_write(&d, names[i], KEY_32_63, 0600);
        lk_keyring kr;
        char err[256] = "";
        if (lk_keyring_load(&kr, d.path, err, sizeof(err)) == LK_OK)
            fail_msg("key file name %s was accepted", names[i]);
        assert_non_null(strstr(err, "<number>.key"));
        assert_int_equal(kr.n, 0);
        tmp_close(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_seal_unseal_round_trip),
        T(test_seal_format_names_newest_key),
        T(test_seal_uses_fresh_iv),
        T(test_seal_round_trips_empty_and_binary),
        T(test_unseal_refuses_other_table_column_or_pk),
        T(test_unseal_refuses_tampered_ciphertext),
        T(test_unseal_refuses_relabelled_key_id),
        T(test_unseal_refuses_unknown_key_id),
        T(test_newest_key_seals_older_key_still_opens),
        T(test_seal_refuses_empty_ring),
        T(test_unseal_refuses_malformed_text),
        T(test_sealed_kid_parses_only_canonical_ids),
        T(test_pkce_challenge_rfc7636_appendix_b),
        T(test_sha256_hex_known_vectors),
        T(test_random_token_is_base64url_of_n_bytes),
        T(test_key_file_read_valid_with_newline),
        T(test_key_file_refuses_group_or_world_readable),
        T(test_key_file_refuses_wrong_length),
        T(test_key_file_refuses_trailing_nul),
        T(test_key_file_refuses_non_base64),
        T(test_key_file_refuses_missing_symlink_and_directory),
        T(test_keyring_load_sorts_by_id_and_ignores_other_files),
        T(test_unseal_reloads_ring_from_its_directory),
        T(test_keyring_load_refuses_empty_directory),
        T(test_keyring_load_refuses_one_bad_key),
        T(test_keyring_load_refuses_bad_file_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
