#include "crypto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

#define IV_LEN 12
#define TAG_LEN 16
#define SEAL_PREFIX "lk1."

lk_err lk_random(unsigned char *p, size_t n)
{
    return RAND_bytes(p, (int)n) == 1 ? LK_OK : LK_EINTERNAL;
}

char *lk_random_token(lk_arena *a, size_t n)
{
    unsigned char buf[64];
    if (n > sizeof(buf) || lk_random(buf, n) != LK_OK)
        abort(); /* no randomness: nothing safe can be done */
    return lk_b64url_encode(a, buf, n);
}

void lk_sha256(const void *p, size_t n, unsigned char out[LK_SHA256_LEN])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        abort();
}

char *lk_sha256_hex(lk_arena *a, const char *s)
{
    unsigned char h[LK_SHA256_LEN];
    lk_sha256(s, strlen(s), h);
    return lk_hex_encode(a, h, sizeof(h));
}

char *lk_pkce_challenge(lk_arena *a, const char *verifier)
{
    unsigned char h[LK_SHA256_LEN];
    lk_sha256(verifier, strlen(verifier), h);
    return lk_b64url_encode(a, h, sizeof(h));
}

lk_err lk_key_file_read(const char *path, unsigned char key[LK_KEY_LEN], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return LK_EINTERNAL;
    }
    struct stat st;
    char text[256];
    ssize_t n = -1;
    lk_err rc = LK_EINTERNAL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "key file %s is not a regular file", path);
        goto end;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "key file %s is readable by others (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        goto end;
    }
    n = read(fd, text, sizeof(text) - 1);
    if (n < 0) {
        snprintf(err, errlen, "cannot read key file %s", path);
        goto end;
    }
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r' || text[n - 1] == '\n'))
        n--;
    text[n] = '\0';
    lk_arena *a = lk_arena_new();
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (lk_b64_decode(a, text, (size_t)n, &raw, &rawlen) != LK_OK || rawlen != LK_KEY_LEN) {
        snprintf(err, errlen, "key file %s must hold base64 of exactly 32 bytes", path);
    } else {
        memcpy(key, raw, LK_KEY_LEN);
        rc = LK_OK;
    }
    if (raw)
        OPENSSL_cleanse(raw, rawlen);
    lk_arena_free(a);
end:
    OPENSSL_cleanse(text, sizeof(text));
    close(fd);
    return rc;
}

static int key_cmp(const void *x, const void *y)
{
    const lk_key *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

void lk_keyring_clear(lk_keyring *kr)
{
    if (kr->keys) {
        OPENSSL_cleanse(kr->keys, kr->n * sizeof(lk_key));
        free(kr->keys);
    }
    kr->keys = NULL;
    kr->n = 0;
}

/* The ring this process loaded, so that a value sealed under a key added
 * since (latchkey rotate-key) can still be opened: see lk_unseal. */
static lk_keyring *loaded_ring;
static char loaded_dir[4096];

lk_err lk_keyring_load(lk_keyring *kr, const char *dir, char *err, size_t errlen)
{
    kr->keys = NULL;
    kr->n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open keyring %s: %s", dir, strerror(errno));
        return LK_EINTERNAL;
    }
    size_t cap = 0;
    lk_err rc = LK_OK;
    struct dirent *e;
    while (rc == LK_OK && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t nl = strlen(name);
        if (nl < 5 || strcmp(name + nl - 4, ".key") != 0)
            continue;
        char *endp = NULL;
        errno = 0;
        unsigned long id = strtoul(name, &endp, 10);
        /* Digits only, no leading zero ("+1.key" or " 1.key" would alias 1). */
        if (errno || endp != name + nl - 4 || id == 0 || id > 1000000 || name[0] < '1' || name[0] > '9') {
            snprintf(err, errlen, "key file %s/%s: the name must be <number>.key", dir, name);
            rc = LK_EINTERNAL;
            break;
        }
        if (kr->n == cap) {
            cap = cap ? cap * 2 : 4;
            lk_key *nk = realloc(kr->keys, cap * sizeof(lk_key));
            if (!nk) {
                rc = LK_EINTERNAL;
                break;
            }
            kr->keys = nk;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        kr->keys[kr->n].id = (unsigned)id;
        rc = lk_key_file_read(path, kr->keys[kr->n].key, err, errlen);
        if (rc == LK_OK)
            kr->n++;
    }
    closedir(d);
    if (rc == LK_OK && kr->n == 0) {
        snprintf(err, errlen, "keyring %s holds no <number>.key file", dir);
        rc = LK_EINTERNAL;
    }
    if (rc != LK_OK) {
        lk_keyring_clear(kr);
        return rc;
    }
    qsort(kr->keys, kr->n, sizeof(lk_key), key_cmp);
    loaded_ring = kr;
    /* A reload passes loaded_dir itself: copying a string onto itself is
     * undefined behaviour for snprintf (C11 7.21.6.5). */
    if (dir != loaded_dir)
        snprintf(loaded_dir, sizeof(loaded_dir), "%s", dir);
    return LK_OK;
}

/* Loads the ring again from its directory (a key was added); keeps the
 * old ring when the new one does not load. At most once every 5 s. */
static void reload_ring(void)
{
    static time_t last;
    time_t now = time(NULL);
    if (!loaded_ring || (last && now - last < 5))
        return;
    last = now;
    lk_keyring fresh;
    char err[256];
    lk_keyring *keep = loaded_ring;
    if (lk_keyring_load(&fresh, loaded_dir, err, sizeof(err)) != LK_OK) {
        loaded_ring = keep;
        return;
    }
    lk_keyring_clear(keep);
    *keep = fresh;
    loaded_ring = keep;
}

static const lk_key *find_key(const lk_keyring *kr, unsigned id)
{
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i].id == id)
            return &kr->keys[i];
    return NULL;
}

static char *aad(lk_arena *a, const char *table, const char *column, const char *pk, unsigned kid, size_t *len)
{
    char *s = lk_printf(a, "latchkey|%s|%s|%s|%u", table, column, pk, kid);
    *len = strlen(s);
    return s;
}

lk_err lk_seal(lk_arena *a, const lk_keyring *kr, const char *table, const char *column, const char *pk, const void *p,
               size_t n, char **out)
{
    if (kr->n == 0 || n > 1 << 20)
        return LK_EINTERNAL;
    const lk_key *k = &kr->keys[kr->n - 1];
    size_t aadlen;
    char *ad = aad(a, table, column, pk, k->id, &aadlen);
    unsigned char *blob = lk_alloc(a, IV_LEN + n + TAG_LEN);
    if (lk_random(blob, IV_LEN) != LK_OK)
        return LK_EINTERNAL;
    lk_err rc = LK_EINTERNAL;
    int len = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return LK_EINTERNAL;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, blob) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, (int)aadlen) != 1 ||
        EVP_EncryptUpdate(ctx, blob + IV_LEN, &len, p, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, blob + IV_LEN + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, blob + IV_LEN + n) != 1)
        goto end;
    *out = lk_printf(a, SEAL_PREFIX "%u.%s", k->id, lk_b64url_encode(a, blob, IV_LEN + n + TAG_LEN));
    rc = LK_OK;
end:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

unsigned lk_sealed_kid(const char *sealed)
{
    if (!sealed || strncmp(sealed, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0)
        return 0;
    const char *p = sealed + strlen(SEAL_PREFIX);
    if (*p < '1' || *p > '9')
        return 0; /* the canonical form only: no sign, space or leading zero */
    char *endp = NULL;
    unsigned long id = strtoul(p, &endp, 10);
    if (endp == p || *endp != '.' || id == 0 || id > 1000000)
        return 0;
    return (unsigned)id;
}

lk_err lk_unseal(lk_arena *a, const lk_keyring *kr, const char *table, const char *column, const char *pk,
                 const char *sealed, char **out, size_t *outlen)
{
    unsigned kid = lk_sealed_kid(sealed);
    if (!kid)
        return LK_ECRYPTO;
    const lk_key *k = find_key(kr, kid);
    if (!k && kr == loaded_ring) {
        reload_ring(); /* a key added since start-up (rotate-key) */
        k = find_key(kr, kid);
    }
    if (!k)
        return LK_ECRYPTO;
    const char *b = strchr(sealed + strlen(SEAL_PREFIX), '.') + 1;
    unsigned char *blob = NULL;
    size_t bl = 0;
    if (lk_b64_decode(a, b, strlen(b), &blob, &bl) != LK_OK || bl < IV_LEN + TAG_LEN)
        return LK_ECRYPTO;
    size_t n = bl - IV_LEN - TAG_LEN;
    size_t aadlen;
    char *ad = aad(a, table, column, pk, kid, &aadlen);
    char *pt = lk_alloc(a, n + 1);
    lk_err rc = LK_ECRYPTO;
    int len = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return LK_EINTERNAL;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, blob) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, (int)aadlen) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)pt, &len, blob + IV_LEN, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, blob + IV_LEN + n) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)pt + len, &len) != 1)
        goto end;
    pt[n] = '\0';
    *out = pt;
    if (outlen)
        *outlen = n;
    rc = LK_OK;
end:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
