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
/* The largest secret sealed, and the largest key id (<id>.key, lk1.<id>.). */
#define SEAL_MAX (1 << 20)
#define KEY_ID_MAX 1000000
/* A key ring's directory and a key file's path. */
#define KEYRING_PATH_MAX 4096
/* Seconds between two reloads of the ring (see reload_ring). */
#define KEYRING_RELOAD_S 5

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

/* The ring lk_unseal reloads in place when it meets a key id it does not
 * know (a key added since by latchkey rotate-key): the one lk_keyring_load
 * filled last, whose owner (lk_config.keys) keeps it alive, and the
 * directory it came from. A reload writes to the ring only through owner. */
static struct {
    lk_keyring *owner;
    char dir[KEYRING_PATH_MAX];
    time_t last_reload;
} reloadable;

/* Adds dir/name to kr (cap: room in kr->keys) when name is a key file's;
 * other files are skipped. */
static lk_err add_key_file(lk_keyring *kr, size_t *cap, const char *dir, const char *name, char *err, size_t errlen)
{
    size_t nl = strlen(name);
    if (nl < 5 || strcmp(name + nl - 4, ".key") != 0)
        return LK_OK;
    long long id = 0;
    /* Digits only, no leading zero ("+1.key" or " 1.key" would alias 1). */
    if (name[0] < '1' || name[0] > '9' || !lk_parse_int_n(name, nl - 4, 1, KEY_ID_MAX, &id)) {
        snprintf(err, errlen, "key file %s/%s: the name must be <number>.key", dir, name);
        return LK_EINTERNAL;
    }
    if (kr->n == *cap) {
        size_t grown = *cap ? *cap * 2 : 4;
        lk_key *nk = realloc(kr->keys, grown * sizeof(lk_key));
        if (!nk)
            return LK_EINTERNAL;
        kr->keys = nk;
        *cap = grown;
    }
    char path[KEYRING_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    kr->keys[kr->n].id = (unsigned)id;
    lk_err rc = lk_key_file_read(path, kr->keys[kr->n].key, err, errlen);
    if (rc == LK_OK)
        kr->n++;
    return rc;
}

/* Fills kr from dir, sorted by id; on failure kr is empty. */
static lk_err read_ring(lk_keyring *kr, const char *dir, char *err, size_t errlen)
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
    for (struct dirent *e = readdir(d); rc == LK_OK && e; e = readdir(d))
        rc = add_key_file(kr, &cap, dir, e->d_name, err, errlen);
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
    return LK_OK;
}

lk_err lk_keyring_load(lk_keyring *kr, const char *dir, char *err, size_t errlen)
{
    lk_err rc = read_ring(kr, dir, err, errlen);
    if (rc != LK_OK)
        return rc;
    reloadable.owner = kr;
    snprintf(reloadable.dir, sizeof(reloadable.dir), "%s", dir);
    return LK_OK;
}

/* Loads the reloadable ring again from its directory (a key was added);
 * keeps the old ring when the new one does not load. At most once every
 * KEYRING_RELOAD_S. */
static void reload_ring(void)
{
    time_t now = time(NULL);
    if (!reloadable.owner || (reloadable.last_reload && now - reloadable.last_reload < KEYRING_RELOAD_S))
        return;
    reloadable.last_reload = now;
    lk_keyring fresh;
    char err[256];
    if (read_ring(&fresh, reloadable.dir, err, sizeof(err)) != LK_OK)
        return;
    lk_keyring_clear(reloadable.owner);
    *reloadable.owner = fresh;
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
    if (kr->n == 0 || n > SEAL_MAX)
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
    const char *dot = strchr(p, '.');
    long long id = 0;
    if (!dot || !lk_parse_int_n(p, (size_t)(dot - p), 1, KEY_ID_MAX, &id))
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
    if (!k && kr == reloadable.owner) {
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
