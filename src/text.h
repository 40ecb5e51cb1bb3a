/* Text codecs and the grammar checks of SPEC §2. */
#ifndef LK_TEXT_H
#define LK_TEXT_H

#include <time.h>

#include "arena.h"
#include "lk.h"

/* Percent-decodes s[0..n) (and '+' as space when form is true) into a new
 * NUL-terminated string; *outlen gets its length (it may hold NULs).
 * LK_EINVAL on a malformed escape. */
lk_err lk_pct_decode(lk_arena *a, const char *s, size_t n, bool form, char **out, size_t *outlen);
/* Percent-encodes everything but RFC 3986 unreserved characters. */
char *lk_pct_encode(lk_arena *a, const char *s);

/* Base64 (RFC 4648 §4, padded) and base64url (§5, unpadded). */
char *lk_b64_encode(lk_arena *a, const unsigned char *p, size_t n);
char *lk_b64url_encode(lk_arena *a, const unsigned char *p, size_t n);
/* Decodes either alphabet, padding optional; whitespace refused. */
lk_err lk_b64_decode(lk_arena *a, const char *s, size_t n, unsigned char **out, size_t *outlen);
char *lk_hex_encode(lk_arena *a, const unsigned char *p, size_t n);

/* True when s[0..n) is valid UTF-8 without control characters (C0, DEL, C1). */
bool lk_utf8_printable(const char *s, size_t n);
/* SPEC §2: an instance_id is 1-255 bytes of printable UTF-8. */
bool lk_valid_instance_id(const char *s, size_t n);
/* SPEC §2: ^[a-z0-9][a-z0-9_-]{0,62}$ */
bool lk_valid_profile_name(const char *s, size_t n);

/* RFC 9110 §5.6.2 tchar: a character of a token (a header name, an auth
 * scheme, a token_type). */
bool lk_is_tchar(char c);
/* True when s[0..n) is a token: 1*tchar. */
bool lk_http_token(const char *s, size_t n);

/* Compares in time independent of where the bytes differ (same length). */
bool lk_ct_equal(const void *a, const void *b, size_t n);
/* ASCII case-insensitive equality of two strings. */
bool lk_ieq(const char *a, const char *b);
bool lk_ieqn(const char *a, size_t an, const char *b);

/* An Accept header (RFC 9110 §12.5.1) allows the media type type
 * ("application/json"): absent or empty, or a range that matches it
 * (type/subtype, type/ *, * / *, any case) without q=0. */
bool lk_accept_allows(const char *accept, const char *type);

/* The one integer parser: s[0..n) is an optional '-' and decimal digits (no
 * space, no '+', no other byte) whose value fits a long long and lies in
 * [lo, hi]; *out is written only on success. */
bool lk_parse_int_n(const char *s, size_t n, long long lo, long long hi, long long *out);
/* lk_parse_int_n over a NUL-terminated string; false for NULL. */
bool lk_parse_int(const char *s, long long lo, long long hi, long long *out);

/* RFC 3339 UTC ("2026-11-22T10:00:00Z"). */
char *lk_time_iso(lk_arena *a, time_t t);

#endif
