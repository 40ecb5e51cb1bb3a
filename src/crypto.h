/* Randomness, hashing, and sealed secrets (SPEC §8): AES-256-GCM under the
 * newest key of the ring, with table, column, primary key and key id as
 * associated data, so a ciphertext moved to another row or column fails. */
#ifndef LK_CRYPTO_H
#define LK_CRYPTO_H

#include "arena.h"
#include "lk.h"

#define LK_KEY_LEN 32
#define LK_SHA256_LEN 32

typedef struct lk_key {
    unsigned id;
    unsigned char key[LK_KEY_LEN];
} lk_key;

/* Keys sorted by id; the last one seals, all open. */
typedef struct lk_keyring {
    lk_key *keys;
    size_t n;
} lk_keyring;

/* Loads every "<id>.key" file of dir (base64 of 32 bytes). Fails, with a
 * sentence in err, when the directory has none, or a file is malformed or
 * readable by group or others. On success kr becomes the process's
 * reloadable ring: lk_unseal, meeting a key id it does not know, loads dir
 * again into *kr (at most every few seconds), so kr must outlive its use. */
lk_err lk_keyring_load(lk_keyring *kr, const char *dir, char *err, size_t errlen);
/* Reads one key file with the same checks. */
lk_err lk_key_file_read(const char *path, unsigned char key[LK_KEY_LEN], char *err, size_t errlen);
/* Wipes and frees the keys of kr, leaving it empty. */
void lk_keyring_clear(lk_keyring *kr);

/* n random bytes from the CSPRNG; LK_EINTERNAL if it fails. */
lk_err lk_random(unsigned char *p, size_t n);
/* A random token of n bytes, base64url. */
char *lk_random_token(lk_arena *a, size_t n);
/* SHA-256 of p[0..n). */
void lk_sha256(const void *p, size_t n, unsigned char out[LK_SHA256_LEN]);
/* The hex SHA-256 of a string (how links, states and bot keys are stored). */
char *lk_sha256_hex(lk_arena *a, const char *s);
/* PKCE S256: base64url(SHA-256(verifier)) (RFC 7636 §4.2). */
char *lk_pkce_challenge(lk_arena *a, const char *verifier);

/* Seals p[0..n) for (table, column, pk): "lk1.<kid>.<base64url(iv|ct|tag)>". */
lk_err lk_seal(lk_arena *a, const lk_keyring *kr, const char *table, const char *column, const char *pk, const void *p,
               size_t n, char **out);
/* Opens a sealed value; LK_ECRYPTO when the key is unknown, the text is
 * malformed, or it was sealed for another row, column or table. A key id
 * unknown to the reloadable ring (lk_keyring_load) reloads that ring first. */
lk_err lk_unseal(lk_arena *a, const lk_keyring *kr, const char *table, const char *column, const char *pk,
                 const char *sealed, char **out, size_t *outlen);
/* The key id a sealed value names, or 0 when malformed. */
unsigned lk_sealed_kid(const char *sealed);

#endif
