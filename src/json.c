#include "json.h"

#include <string.h>

static void put(void *p)
{
    json_object_put(p);
}

json_object *lk_json_own(lk_arena *a, json_object *o)
{
    if (o)
        lk_arena_defer(a, put, o);
    return o;
}

lk_err lk_json_parse(lk_arena *a, const char *s, size_t n, json_object **out)
{
    *out = NULL;
    if (n > INT32_MAX)
        return LK_ETOOBIG;
    /* A raw NUL is never JSON (RFC 8259), and json-c would take it for
     * the end of the text. */
    if (memchr(s, '\0', n))
        return LK_EINVAL;
    json_tokener *tok = json_tokener_new_ex(LK_JSON_DEPTH);
    if (!tok)
        return LK_EINTERNAL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (!o && jerr == json_tokener_continue) {
        /* A top-level number or literal ("null", "42") ends only at the end
         * of the text: json-c needs a NUL to see it, as json_tokener_parse
         * passes one. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        used = n;
    }
    json_tokener_free(tok);
    if (!o && jerr != json_tokener_success) /* also a truncated document */
        return LK_EINVAL;
    if (jerr != json_tokener_success) {
        json_object_put(o);
        return LK_EINVAL;
    }
    for (size_t i = used; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            json_object_put(o);
            return LK_EINVAL;
        }
    }
    /* JSON null parses to NULL with success: callers check the type. */
    *out = lk_json_own(a, o);
    return LK_OK;
}

json_object *lk_json_object(lk_arena *a)
{
    return lk_json_own(a, json_object_new_object());
}

json_object *lk_json_array(lk_arena *a)
{
    return lk_json_own(a, json_object_new_array());
}

json_object *lk_json_get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

const char *lk_json_str(json_object *o, const char *key)
{
    json_object *v = lk_json_get(o, key);
    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    /* "\u0000" would cut the C string short: refuse it rather than truncate. */
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return NULL;
    return s;
}

void lk_json_set_str(json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

void lk_json_set_int(json_object *o, const char *key, int64_t value)
{
    json_object_object_add(o, key, json_object_new_int64(value));
}

const char *lk_json_text(lk_arena *a, json_object *o)
{
    return lk_strdup(a, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}
