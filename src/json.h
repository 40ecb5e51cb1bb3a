/* JSON through json-c, bounded and tied to an arena: every object a
 * function here returns is released when the arena is reset. Objects
 * reached through lk_json_get are borrowed from their parent. */
#ifndef LK_JSON_H
#define LK_JSON_H

#include <json-c/json.h>

#include "arena.h"
#include "lk.h"

/* Parses exactly one JSON value from s[0..n) (depth <= LK_JSON_DEPTH,
 * nothing but white space after it). LK_EINVAL when it is not JSON. */
lk_err lk_json_parse(lk_arena *a, const char *s, size_t n, json_object **out);
/* Hands o to the arena (json_object_put at reset); returns o. */
json_object *lk_json_own(lk_arena *a, json_object *o);
/* A new object or array owned by the arena. */
json_object *lk_json_object(lk_arena *a);
json_object *lk_json_array(lk_arena *a);
/* Borrowed member of an object, or NULL. */
json_object *lk_json_get(json_object *o, const char *key);
/* The member as a string when it is a JSON string, else NULL (borrowed). */
const char *lk_json_str(json_object *o, const char *key);
/* Adds key: string (skipped when value is NULL). */
void lk_json_set_str(json_object *o, const char *key, const char *value);
void lk_json_set_int(json_object *o, const char *key, int64_t value);
/* The largest text lk_json_text writes (answers are capped well below). */
#define LK_JSON_TEXT_MAX ((size_t)1 << 30)
/* Compact serialisation into the arena, byte for byte what json-c's
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE writes. */
const char *lk_json_text(lk_arena *a, json_object *o);

#endif
