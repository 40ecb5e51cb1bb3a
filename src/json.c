#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

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

#define TEXT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The escape json-c writes for each byte of a string: the short ones,
 * \u00xx for the other controls; NULL for bytes written as they are ('/'
 * and bytes past 0x7f included). */
static const char *const ESCAPES[256] = {
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",      "\\u0006",       "\\u0007", "\\b",
    "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e",      "\\u000f",       "\\u0010", "\\u0011",
    "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",      "\\u0018",       "\\u0019", "\\u001a",
    "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f", ['"'] = "\\\"", ['\\'] = "\\\\",
};

/* s[0..n) as a JSON string, a run of plain bytes at a time (json-c copies
 * byte by byte, and a page's Markdown is tens of KB). */
static lk_err put_string(lk_buf *b, const char *s, size_t n)
{
    lk_err rc = lk_buf_addc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && rc == LK_OK; i++) {
        const char *e = ESCAPES[(unsigned char)s[i]];
        if (!e)
            continue;
        rc = lk_buf_add(b, s + run, i - run);
        if (rc == LK_OK)
            rc = lk_buf_adds(b, e);
        run = i + 1;
    }
    if (rc == LK_OK)
        rc = lk_buf_add(b, s + run, n - run);
    return rc == LK_OK ? lk_buf_addc(b, '"') : rc;
}

static lk_err put_value(lk_buf *b, json_object *o);

static lk_err put_object(lk_buf *b, json_object *o)
{
    lk_err rc = lk_buf_addc(b, '{');
    bool first = true;
    json_object_object_foreach (o, k, v) {
        if (rc == LK_OK && !first)
            rc = lk_buf_addc(b, ',');
        first = false;
        if (rc == LK_OK)
            rc = put_string(b, k, strlen(k));
        if (rc == LK_OK)
            rc = lk_buf_addc(b, ':');
        if (rc == LK_OK)
            rc = put_value(b, v);
    }
    return rc == LK_OK ? lk_buf_addc(b, '}') : rc;
}

static lk_err put_array(lk_buf *b, json_object *o)
{
    lk_err rc = lk_buf_addc(b, '[');
    size_t n = json_object_array_length(o);
    for (size_t i = 0; i < n && rc == LK_OK; i++) {
        if (i > 0)
            rc = lk_buf_addc(b, ',');
        if (rc == LK_OK)
            rc = put_value(b, json_object_array_get_idx(o, i));
    }
    return rc == LK_OK ? lk_buf_addc(b, ']') : rc;
}

/* Objects, arrays and strings written here; numbers, booleans and null
 * as json-c writes them. */
static lk_err put_value(lk_buf *b, json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_object: return put_object(b, o);
    case json_type_array: return put_array(b, o);
    case json_type_string: return put_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
    case json_type_null: return lk_buf_adds(b, "null");
    default: return lk_buf_adds(b, json_object_to_json_string_ext(o, TEXT_FLAGS));
    }
}

const char *lk_json_text(lk_arena *a, json_object *o)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_JSON_TEXT_MAX);
    if (put_value(&b, o) != LK_OK) {
        fputs("latchkey: JSON text past LK_JSON_TEXT_MAX\n", stderr);
        abort();
    }
    return lk_buf_str(&b);
}
