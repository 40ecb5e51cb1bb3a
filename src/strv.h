/* A vector of strings allocated from an arena (scopes, redirects, path
 * prefixes, a bot key's profiles), and its JSON array form. */
#ifndef LK_STRV_H
#define LK_STRV_H

#include <json-c/json.h>

#include "arena.h"
#include "lk.h"

typedef struct lk_strv {
    char **v;
    size_t n;
} lk_strv;

/* Copies of the NULL-terminated items into a (room for one more). */
lk_strv lk_strv_of(lk_arena *a, const char *const *items);
/* A JSON array of strings → lk_strv (NULL or non-array → empty; items that
 * are not strings are skipped). */
lk_strv lk_strv_from_json(lk_arena *a, json_object *arr);
/* The JSON array of s's strings, owned by a. */
json_object *lk_strv_to_json(lk_arena *a, const lk_strv *s);

#endif
