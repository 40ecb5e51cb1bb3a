/* Tool arguments: the input-schema check, and the requests they fill in
 * (path segments, query, body). */
#include "tools_int.h"

#include <string.h>

#include "buf.h"
#include "json.h"
#include "markdown.h"
#include "text.h"

/* The JSON type a schema names, as json-c sees it. */
static bool type_matches(json_object *v, const char *type)
{
    if (!strcmp(type, "string"))
        return json_object_is_type(v, json_type_string);
    if (!strcmp(type, "integer"))
        return json_object_is_type(v, json_type_int);
    if (!strcmp(type, "boolean"))
        return json_object_is_type(v, json_type_boolean);
    if (!strcmp(type, "array"))
        return json_object_is_type(v, json_type_array);
    if (!strcmp(type, "object"))
        return json_object_is_type(v, json_type_object);
    return false;
}

/* A schema's integer keyword, or dflt. */
static long long schema_int(json_object *s, const char *key, long long dflt)
{
    json_object *v = lk_json_get(s, key);
    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : dflt;
}

/* A string: NUL-free, printable UTF-8 or text (bodies may hold newlines),
 * within its lengths and enum. */
static const char *check_string(lk_arena *a, const char *name, json_object *s, json_object *v)
{
    const char *str = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (strlen(str) != n)
        return lk_printf(a, "Argument %s must not hold a NUL character.", name);
    if ((long long)n < schema_int(s, "minLength", 0))
        return lk_printf(a, "Argument %s must not be empty.", name);
    if ((long long)n > schema_int(s, "maxLength", LK_TOOL_ANSWER_MAX))
        return lk_printf(a, "Argument %s is longer than %lld bytes.", name, schema_int(s, "maxLength", 0));
    json_object *en = lk_json_get(s, "enum");
    if (!en)
        return NULL;
    for (size_t i = 0; i < json_object_array_length(en); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(en, i)), str))
            return NULL;
    return lk_printf(a, "Argument %s must be one of %s.", name, lk_json_text(a, en));
}

/* One value against its property schema. */
static const char *check_value(lk_arena *a, const char *name, json_object *s, json_object *v)
{
    const char *type = lk_json_str(s, "type");
    if (!type || !v || !type_matches(v, type))
        return lk_printf(a, "Argument %s must be of type %s.", name, type ? type : "unknown");
    if (!strcmp(type, "string"))
        return check_string(a, name, s, v);
    if (!strcmp(type, "integer")) {
        long long x = json_object_get_int64(v);
        if (x < schema_int(s, "minimum", INT64_MIN) || x > schema_int(s, "maximum", INT64_MAX))
            return lk_printf(a, "Argument %s must be from %lld to %lld.", name, schema_int(s, "minimum", INT64_MIN),
                             schema_int(s, "maximum", INT64_MAX));
        return NULL;
    }
    if (!strcmp(type, "array")) {
        long long n = (long long)json_object_array_length(v);
        if (n < schema_int(s, "minItems", 0) || n > schema_int(s, "maxItems", LK_TOOL_ITEMS_MAX))
            return lk_printf(a, "Argument %s must hold %lld to %lld items.", name, schema_int(s, "minItems", 0),
                             schema_int(s, "maxItems", LK_TOOL_ITEMS_MAX));
        json_object *items = lk_json_get(s, "items");
        for (size_t i = 0; items && i < (size_t)n; i++) {
            const char *why = check_value(a, lk_printf(a, "%s[%zu]", name, i), items, json_object_array_get_idx(v, i));
            if (why)
                return why;
        }
    }
    return NULL;
}

const char *lk_tool_args_check(lk_arena *a, const lk_tool *t, json_object *args)
{
    if (!args || !json_object_is_type(args, json_type_object))
        return "The arguments must be a JSON object.";
    json_object *props = lk_json_get(t->input, "properties");
    json_object *req = lk_json_get(t->input, "required");
    for (size_t i = 0; req && i < json_object_array_length(req); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(req, i));
        if (!lk_json_get(args, name))
            return lk_printf(a, "Argument %s is required.", name);
    }
    json_object_object_foreach (args, name, v) {
        json_object *s = lk_json_get(props, name);
        if (!s)
            return lk_printf(a, "Unknown argument %s.", strlen(name) > 64 ? "(a long name)" : name);
        const char *why = check_value(a, name, s, v);
        if (why)
            return why;
    }
    return NULL;
}

/* A value of vars as text (strings as they are, integers in decimal);
 * NULL when absent or of another type. */
static const char *var_text(lk_arena *a, json_object *vars, const char *name)
{
    json_object *v = lk_json_get(vars, name);
    if (v && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    if (v && json_object_is_type(v, json_type_int))
        return lk_printf(a, "%lld", (long long)json_object_get_int64(v));
    return NULL;
}

/* A value put in one path segment: never one that moves elsewhere. */
static const char *segment_problem(const char *v)
{
    if (!*v)
        return "is empty";
    if (strlen(v) > LK_TOOL_SEGMENT_MAX)
        return "is too long";
    if (!strcmp(v, ".") || !strcmp(v, "..") || strpbrk(v, "/\\?#%"))
        return "must not hold '/', '\\', '?', '#', '%' or be '.' or '..'";
    if (!lk_utf8_printable(v, strlen(v)))
        return "must be printable text";
    return NULL;
}

char *lk_tool_path(lk_arena *a, const char *tmpl, json_object *vars, const char **why)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_URL_MAX);
    const char *p = tmpl;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            if (lk_buf_adds(&b, p) != LK_OK)
                goto too_long;
            break;
        }
        char *name = lk_strndup(a, open + 1, (size_t)(close - open - 1));
        const char *v = var_text(a, vars, name);
        const char *bad = v ? segment_problem(v) : "is missing";
        if (bad) {
            *why = lk_printf(a, "Argument %s %s.", name, bad);
            return NULL;
        }
        if (lk_buf_add(&b, p, (size_t)(open - p)) != LK_OK || lk_buf_adds(&b, lk_pct_encode(a, v)) != LK_OK)
            goto too_long;
        p = close + 1;
    }
    return (char *)lk_buf_str(&b);
too_long:
    *why = "The request path would be too long.";
    return NULL;
}

/* A template string "{name}" names a variable: its name, else NULL. */
static char *placeholder(lk_arena *a, const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || s[0] != '{' || s[n - 1] != '}' || memchr(s + 1, '{', n - 2))
        return NULL;
    return lk_strndup(a, s + 1, n - 2);
}

char *lk_tool_query(lk_arena *a, json_object *tmpl, json_object *vars)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_TOOL_ANSWER_MAX);
    if (!tmpl)
        return "";
    json_object_object_foreach (tmpl, k, v) {
        const char *s = json_object_get_string(v);
        char *name = placeholder(a, s);
        const char *val = name ? var_text(a, vars, name) : s;
        if (!val)
            continue;
        if (lk_buf_printf(&b, "%c%s=%s", b.len ? '&' : '?', k, lk_pct_encode(a, val)) != LK_OK)
            return NULL;
    }
    return (char *)lk_buf_str(&b);
}

static json_object *body_of(lk_arena *a, json_object *t, json_object *vars);

/* {"$each": name, "$item": t}: vars[name] mapped through t. */
static json_object *body_each(lk_arena *a, json_object *t, json_object *vars)
{
    json_object *src = lk_json_get(vars, lk_json_str(t, "$each"));
    json_object *arr = json_object_new_array();
    json_object *saved = json_object_get(lk_json_get(vars, "$item"));
    for (size_t i = 0; src && json_object_is_type(src, json_type_array) && i < json_object_array_length(src); i++) {
        json_object_object_add(vars, "$item", json_object_get(json_object_array_get_idx(src, i)));
        json_object *item = body_of(a, lk_json_get(t, "$item"), vars);
        if (item)
            json_object_array_add(arr, item);
    }
    json_object_object_del(vars, "$item");
    if (saved)
        json_object_object_add(vars, "$item", saved);
    return arr;
}

/* The body of template t (a new reference), or NULL to leave it out. */
static json_object *body_of(lk_arena *a, json_object *t, json_object *vars)
{
    if (json_object_is_type(t, json_type_string)) {
        char *name = placeholder(a, json_object_get_string(t));
        json_object *v = name ? lk_json_get(vars, name) : t;
        return v ? json_object_get(v) : NULL;
    }
    if (json_object_is_type(t, json_type_object)) {
        if (lk_json_get(t, "$each"))
            return body_each(a, t, vars);
        json_object *o = json_object_new_object();
        json_object_object_foreach (t, k, v) {
            json_object *m = body_of(a, v, vars);
            if (m)
                json_object_object_add(o, k, m);
        }
        if (json_object_object_length(o) || !json_object_object_length(t))
            return o;
        json_object_put(o);
        return NULL;
    }
    if (json_object_is_type(t, json_type_array)) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(t); i++) {
            json_object *m = body_of(a, json_object_array_get_idx(t, i), vars);
            if (m)
                json_object_array_add(arr, m);
        }
        if (json_object_array_length(arr) || !json_object_array_length(t))
            return arr;
        json_object_put(arr);
        return NULL;
    }
    return json_object_get(t);
}

json_object *lk_tool_body(lk_arena *a, json_object *tmpl, json_object *vars)
{
    return tmpl ? lk_json_own(a, body_of(a, tmpl, vars)) : NULL;
}

json_object *lk_json_path(json_object *o, const char *path)
{
    const char *p = path;
    while (o && *p) {
        size_t n = strcspn(p, ".");
        char key[LK_TOOL_SEGMENT_MAX + 1];
        if (n > LK_TOOL_SEGMENT_MAX)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        if (json_object_is_type(o, json_type_array)) {
            long long i, len = (long long)json_object_array_length(o);
            if (!lk_parse_int(key, -len, len - 1, &i))
                return NULL;
            o = json_object_array_get_idx(o, (size_t)(i < 0 ? len + i : i));
        } else {
            o = lk_json_get(o, key);
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return o;
}

char *lk_tool_message(lk_arena *a, const char *tmpl, json_object *vars)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_TOOL_MESSAGE_MAX);
    const char *p = tmpl;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!close)
            return lk_buf_adds(&b, p) == LK_OK ? (char *)lk_buf_str(&b) : lk_strdup(a, tmpl);
        const char *v = var_text(a, vars, lk_strndup(a, open + 1, (size_t)(close - open - 1)));
        /* Fails closed: the template as it is, never a message cut short. */
        if (lk_buf_add(&b, p, (size_t)(open - p)) != LK_OK || lk_buf_adds(&b, v ? v : "") != LK_OK)
            return lk_strdup(a, tmpl);
        p = close + 1;
    }
    return (char *)lk_buf_str(&b);
}

const char *lk_tool_body_to_storage(lk_arena *a, json_object *vars)
{
    json_object *b = lk_json_get(vars, "body");
    if (!b || !json_object_is_type(b, json_type_string))
        return NULL;
    const char *fmt = lk_json_str(vars, "body_format");
    const char *s = json_object_get_string(b);
    size_t n = (size_t)json_object_get_string_len(b);
    char *storage = NULL;
    bool as_storage = fmt && !strcmp(fmt, "storage");
    lk_err rc = as_storage ? lk_storage_check(s, n) : lk_md_to_storage(a, s, n, &storage);
    if (rc != LK_OK)
        return as_storage ? "Argument body is not well-formed Confluence storage format."
                          : "Argument body could not be converted from Markdown (too deep, too long, or a "
                            "confluence-storage block that is not well-formed).";
    if (!as_storage)
        lk_json_set_str(vars, "body", storage);
    return NULL;
}
