/* lk_json_parse + lk_json_str on request bodies: accepted text holds no
 * NUL and nothing but white space after the value, nests at most
 * LK_JSON_DEPTH deep, and serialises (lk_json_text, json-c's text byte
 * for byte) to text that parses again to the same shape; lk_json_str gives a string member only, never one cut short by
 * "\u0000". */
#include "fuzz.h"

#include <math.h>
#include <stdbool.h>

#include "arena.h"
#include "json.h"

/* Depth (1 for a scalar), and whether a double is not finite. */
static int depth(json_object *o, bool *nonfinite)
{
    int d = 0;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach (o, k, v) {
            (void)k;
            int x = depth(v, nonfinite);
            if (x > d)
                d = x;
        }
        return d + 1;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            int x = depth(json_object_array_get_idx(o, i), nonfinite);
            if (x > d)
                d = x;
        }
        return d + 1;
    case json_type_double:
        if (!isfinite(json_object_get_double(o)))
            *nonfinite = true;
        return 1;
    default: return 1;
    }
}

static void check_str(json_object *o, const char *key)
{
    const char *s = lk_json_str(o, key);
    json_object *v = lk_json_get(o, key);
    if (!json_object_is_type(o, json_type_object)) {
        FUZZ_CHECK(!s && !v, "a member of a non-object");
        return;
    }
    if (!s)
        return;
    FUZZ_CHECK(v && json_object_is_type(v, json_type_string), "lk_json_str of a non-string");
    FUZZ_CHECK(strlen(s) == (size_t)json_object_get_string_len(v), "string cut short by a NUL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    lk_arena *a = lk_arena_new();
    json_object *o = NULL;
    lk_err rc = lk_json_parse(a, s, size, &o);
    FUZZ_CHECK(rc == LK_OK || rc == LK_EINVAL, "rc %d", rc);
    if (rc != LK_OK) {
        FUZZ_CHECK(o == NULL, "an object on failure");
    } else {
        FUZZ_CHECK(!memchr(s, '\0', size), "accepted a NUL");
        bool nonfinite = false;
        int d = o ? depth(o, &nonfinite) : 1;
        FUZZ_CHECK(d <= LK_JSON_DEPTH, "depth %d", d);
        if (o) {
            json_object_object_foreach (json_object_is_type(o, json_type_object) ? o : lk_json_object(a), k, v) {
                (void)v;
                check_str(o, k);
            }
            check_str(o, "access_token");
            check_str(o, "");
        }
        /* Text of ours parses again (json-c writes NaN/Infinity, which
         * strict JSON has not: those are left out). */
        if (!nonfinite) {
            const char *t = o ? lk_json_text(a, o) : "null";
            json_object *o2 = NULL;
            FUZZ_CHECK(lk_json_parse(a, t, strlen(t), &o2) == LK_OK, "own text refused: %s", t);
            FUZZ_CHECK(json_object_get_type(o) == json_object_get_type(o2), "type changed");
            const char *t2 = o2 ? lk_json_text(a, o2) : "null";
            FUZZ_CHECK(!strcmp(t, t2), "text changed: %s / %s", t, t2);
        }
        /* lk_json_text writes what json-c writes, byte for byte. */
        if (o) {
            const char *ours = lk_json_text(a, o);
            const char *theirs =
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
            FUZZ_CHECK(!strcmp(ours, theirs), "not json-c's text: %s / %s", ours, theirs);
        }
    }
    lk_arena_free(a);
    free(s);
    return 0;
}
