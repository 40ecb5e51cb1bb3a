/* One line of `latchkey connection import` (SPEC §9), parsed and checked
 * without the database: the shape of a connection moved from another
 * broker. Pure functions. */
#ifndef LK_BULKLINE_H
#define LK_BULKLINE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "arena.h"

/* The longest line read, and the caps of its fields (a token as at
 * connect time, SPEC §5). */
#define LK_BULK_LINE_MAX ((size_t)256 * 1024)
#define LK_BULK_TOKEN_MAX 16384
#define LK_BULK_TOKEN_TYPE_MAX 64
#define LK_BULK_SCOPE_MAX 8192
#define LK_BULK_CLIENT_MAX 255
#define LK_BULK_METADATA_MAX ((size_t)64 * 1024)

typedef struct lk_bulk_line {
    const char *profile, *instance_id, *client_id; /* client_id: NULL when not given */
    const char *access_token, *refresh_token;      /* refresh_token: NULL when not given */
    const char *token_type, *scope;                /* token_type defaults to Bearer; scope may be NULL */
    bool has_expiry;                               /* false: neither expires_at nor expires_in */
    long long expires_at;                          /* seconds since 1970 */
    const char *metadata;                          /* JSON text of an object */
} lk_bulk_line;

/* Parses s[0..n) as one import line; now (seconds since 1970) dates an
 * expires_in. False with *why (a sentence without secrets) when refused. */
bool lk_bulk_parse(lk_arena *a, const char *s, size_t n, long long now, lk_bulk_line *out, const char **why);
/* RFC 3339 §5.6 date-time (Z or an offset; fractions dropped) to seconds
 * since 1970; false when malformed or not a real date. */
bool lk_rfc3339_parse(const char *s, long long *out);

#endif
