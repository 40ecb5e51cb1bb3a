/* Tool answers: the provider's JSON trimmed to what an agent needs
 * (structuredContent, matching the tool's output schema), a short text
 * rendering, and provider errors as sentences. */
#include "tools_int.h"

#include <string.h>

#include "buf.h"
#include "json.h"
#include "mdcache.h"
#include "text.h"

/* The provider's message kept in an error, in bytes. */
#define PROVIDER_MESSAGE_MAX 300

/* s cut to at most max bytes at a UTF-8 boundary, with "…" when cut. */
static char *capped(lk_arena *a, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return lk_strdup(a, s);
    while (n > 0 && (n > max || ((unsigned char)s[n] & 0xC0) == 0x80))
        n--;
    return lk_printf(a, "%.*s…", (int)n, s);
}

/* v as the JSON type the output schema gives the field (NULL when it
 * cannot be: the field is then left out). */
static json_object *typed(lk_arena *a, json_object *v, const char *type)
{
    bool is_str = json_object_is_type(v, json_type_string), is_int = json_object_is_type(v, json_type_int);
    if (type && !strcmp(type, "string") && (is_str || is_int))
        return json_object_new_string(capped(a, json_object_get_string(v), LK_TOOL_FIELD_MAX));
    long long x;
    if (type && !strcmp(type, "integer") && is_int)
        return json_object_new_int64(json_object_get_int64(v));
    if (type && !strcmp(type, "integer") && is_str && lk_parse_int(json_object_get_string(v), 0, INT64_MAX, &x))
        return json_object_new_int64(x);
    if (type && !strcmp(type, "boolean") && json_object_is_type(v, json_type_boolean))
        return json_object_new_boolean(json_object_get_boolean(v));
    return NULL;
}

/* The body as asked: Markdown unless body_format is "storage"; a body
 * that does not convert stays storage (nothing is lost), and says so. */
static void put_body(lk_arena *a, json_object *o, json_object *v, json_object *vars)
{
    if (!json_object_is_type(v, json_type_string))
        return;
    const char *fmt = lk_json_str(vars, "body_format");
    const char *storage = json_object_get_string(v);
    char *md = NULL;
    bool as_md = !fmt || strcmp(fmt, "storage") != 0;
    if (as_md && lk_storage_to_md_cached(a, storage, (size_t)json_object_get_string_len(v), &md) != LK_OK)
        md = NULL;
    lk_json_set_str(o, "body_format", md ? "markdown" : "storage");
    lk_json_set_str(o, "body", md ? md : storage);
}

/* Confluence's web UI link made absolute against the site's base. */
static void put_url(lk_arena *a, json_object *o, json_object *v, const char *base)
{
    const char *w = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (!w)
        return;
    if (!strncmp(w, "https://", 8) || !strncmp(w, "http://", 7))
        lk_json_set_str(o, "url", capped(a, w, LK_URL_MAX));
    else if (base && w[0] == '/')
        lk_json_set_str(o, "url", capped(a, lk_printf(a, "%s%s", base, w), LK_URL_MAX));
}

/* One item: the spec's fields, typed by the schema's properties. */
static json_object *project(lk_arena *a, json_object *item, json_object *fields, json_object *props, json_object *vars,
                            const char *base)
{
    json_object *o = json_object_new_object();
    json_object_object_foreach (fields, out, src) {
        json_object *v = lk_json_path(item, json_object_get_string(src));
        if (!v)
            continue;
        if (!strcmp(out, "webui")) {
            put_url(a, o, v, base);
        } else if (!strcmp(out, "body")) {
            put_body(a, o, v, vars);
        } else {
            json_object *t = typed(a, v, lk_json_str(lk_json_get(props, out), "type"));
            if (t)
                json_object_object_add(o, out, t);
        }
    }
    return o;
}

/* The value of one parameter in a "next" link ("/wiki/api/v2/pages?cursor=…"). */
static char *link_param(lk_arena *a, const char *link, const char *name)
{
    const char *q = link ? strchr(link, '?') : NULL;
    size_t n = strlen(name);
    /* q points at the '?' or '&' before each parameter. */
    while (q && (*q == '?' || *q == '&')) {
        q++;
        size_t k = strcspn(q, "&#");
        if (k > n && !strncmp(q, name, n) && q[n] == '=') {
            char *v;
            size_t vlen;
            if (lk_pct_decode(a, q + n + 1, k - n - 1, true, &v, &vlen) != LK_OK || strlen(v) != vlen)
                return NULL;
            return v;
        }
        q += k;
    }
    return NULL;
}

/* A listing: up to LK_TOOL_ITEMS_MAX items, and the cursor of the next. */
static bool trim_list(lk_arena *a, json_object *res, json_object *props, json_object *answer, json_object *vars,
                      const char *base, json_object *out)
{
    json_object *src = lk_json_path(answer, lk_json_str(res, "list"));
    if (!src || !json_object_is_type(src, json_type_array))
        return false;
    const char *as = lk_json_str(res, "as");
    json_object *item_props = lk_json_path(props, lk_printf(a, "%s.items.properties", as));
    json_object *arr = json_object_new_array();
    size_t n = json_object_array_length(src);
    for (size_t i = 0; i < n && i < LK_TOOL_ITEMS_MAX; i++)
        json_object_array_add(
            arr, project(a, json_object_array_get_idx(src, i), lk_json_get(res, "fields"), item_props, vars, base));
    json_object_object_add(out, as, arr);
    const char *cursor = lk_json_str(res, "cursor");
    char *next = cursor ? link_param(a, lk_json_str(lk_json_get(answer, "_links"), "next"), cursor) : NULL;
    if (next && *next)
        lk_json_set_str(out, "next_cursor", capped(a, next, LK_TOOL_FIELD_MAX));
    return true;
}

json_object *lk_tool_trim(lk_arena *a, const lk_tool *t, lk_family f, json_object *answer, json_object *vars,
                          const char *base, const char **why)
{
    json_object *res = t->result[f];
    json_object *props = lk_json_get(t->output, "properties");
    const char *b = lk_json_str(lk_json_get(answer, "_links"), "base");
    if (b && (!strncmp(b, "https://", 8) || !strncmp(b, "http://", 7)))
        base = b;
    json_object *out = lk_json_object(a);
    if (lk_json_str(res, "list")) {
        if (!trim_list(a, res, props, answer, vars, base, out)) {
            *why = "The provider's answer holds no list.";
            return NULL;
        }
    } else if (json_object_object_length(lk_json_get(res, "fields"))) {
        const char *root = lk_json_str(res, "root");
        json_object *item = root ? lk_json_path(answer, root) : answer;
        if (!item || !json_object_is_type(item, json_type_object)) {
            const char *missing = lk_json_str(res, "missing");
            *why = missing ? lk_tool_message(a, missing, vars) : "The provider's answer holds no item.";
            return NULL;
        }
        json_object *o = project(a, item, lk_json_get(res, "fields"), props, vars, base);
        json_object_object_foreach (o, k, v)
            json_object_object_add(out, k, json_object_get(v));
        json_object_put(o);
    }
    json_object *stat = lk_json_get(res, "static");
    if (!stat)
        return out;
    json_object_object_foreach (stat, sk, sv) {
        if (json_object_is_type(sv, json_type_string))
            lk_json_set_str(out, sk, lk_tool_message(a, json_object_get_string(sv), vars));
        else
            json_object_object_add(out, sk, json_object_get(sv));
    }
    return out;
}

/* A scalar member as text, or NULL. */
static const char *scalar(lk_arena *a, json_object *o, const char *key)
{
    json_object *v = lk_json_get(o, key);
    if (!v || json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
        return NULL;
    return lk_strdup(a, json_object_get_string(v));
}

/* "- Title (id 123, version 4) https://…" for one listed item. */
static lk_err render_item(lk_buf *b, lk_arena *a, json_object *it)
{
    const char *label = scalar(a, it, "title");
    if (!label)
        label = scalar(a, it, "name");
    if (!label)
        label = scalar(a, it, "url");
    const char *id = scalar(a, it, "id"), *ver = scalar(a, it, "version"), *url = scalar(a, it, "url");
    lk_err rc = lk_buf_printf(b, "- %s", label ? label : "(untitled)");
    if (rc == LK_OK && id)
        rc = lk_buf_printf(b, " (id %s%s%s)", id, ver ? ", version " : "", ver ? ver : "");
    if (rc == LK_OK && url && label != url)
        rc = lk_buf_printf(b, " %s", url);
    const char *body = scalar(a, it, "body");
    if (rc == LK_OK && body)
        rc = lk_buf_printf(b, "\n  %s", capped(a, body, LK_TOOL_FIELD_MAX));
    return rc == LK_OK ? lk_buf_addc(b, '\n') : rc;
}

/* The text of structuredContent into b: a listing or one item's fields
 * (the body last, after a blank line) when with_body. */
static lk_err render(lk_buf *b, lk_arena *a, json_object *sc, bool with_body)
{
    lk_err rc = LK_OK;
    json_object_object_foreach (sc, k, v) {
        if (rc == LK_OK && json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            rc = lk_buf_printf(b, "%zu %s:\n", n, k);
            for (size_t i = 0; i < n && rc == LK_OK; i++)
                rc = render_item(b, a, json_object_array_get_idx(v, i));
        } else if (rc == LK_OK && strcmp(k, "body") != 0 && strcmp(k, "body_format") != 0) {
            const char *s = scalar(a, sc, k);
            if (s)
                rc = lk_buf_printf(b, "%s: %s\n", k, s);
        }
    }
    const char *body = scalar(a, sc, "body");
    if (rc != LK_OK || !body)
        return rc;
    if (!with_body)
        return lk_buf_adds(b, "\n(the body is too long for this text: see structuredContent.body)\n");
    rc = lk_buf_addc(b, '\n');
    if (rc == LK_OK)
        rc = lk_buf_adds(b, body);
    return rc == LK_OK ? lk_buf_addc(b, '\n') : rc;
}

char *lk_tool_text(lk_arena *a, json_object *structured)
{
    lk_buf b;
    lk_buf_init(&b, a, LK_TOOL_TEXT_MAX);
    if (render(&b, a, structured, true) == LK_OK)
        return (char *)lk_buf_str(&b);
    lk_buf_init(&b, a, LK_TOOL_TEXT_MAX);
    if (render(&b, a, structured, false) == LK_OK)
        return (char *)lk_buf_str(&b);
    return "The answer is too long to show as text: see structuredContent.";
}

json_object *lk_tool_result(lk_arena *a, json_object *structured, const char *text, bool is_error)
{
    json_object *o = lk_json_object(a);
    json_object *content = json_object_new_array();
    json_object *item = json_object_new_object();
    json_object_object_add(item, "type", json_object_new_string("text"));
    json_object_object_add(item, "text", json_object_new_string(text));
    json_object_array_add(content, item);
    json_object_object_add(o, "content", content);
    if (structured)
        json_object_object_add(o, "structuredContent", json_object_get(structured));
    json_object_object_add(o, "isError", json_object_new_boolean(is_error));
    return o;
}

/* The message of an Atlassian error answer: v1 {"message"}, v2
 * {"errors":[{"title","detail"}]}, others {"errorMessage"} or
 * {"error_description"}; NULL when none. */
static const char *provider_message(lk_arena *a, const char *body, size_t len)
{
    json_object *o;
    if (!body || lk_json_parse(a, body, len, &o) != LK_OK || !o || !json_object_is_type(o, json_type_object))
        return NULL;
    json_object *e0 = lk_json_path(o, "errors.0");
    const char *m = lk_json_str(o, "message");
    if (!m)
        m = lk_json_str(e0, "detail");
    if (!m)
        m = lk_json_str(e0, "title");
    if (!m)
        m = lk_json_str(o, "errorMessage");
    if (!m)
        m = lk_json_str(o, "error_description");
    if (!m || !*m)
        return NULL;
    /* Control characters flattened, the length capped. */
    char *c = capped(a, m, PROVIDER_MESSAGE_MAX);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return c;
}

char *lk_tool_provider_error(lk_arena *a, long status, const char *body, size_t len, const char *retry_after)
{
    const char *m = provider_message(a, body, len);
    char *s = lk_printf(a, "Confluence answered %ld%s%s", status, m ? ": " : ".", m ? m : "");
    if (status != 429 && status != 503)
        return s;
    long long secs;
    if (retry_after && lk_parse_int(retry_after, 0, 86400, &secs))
        return lk_printf(a, "%s (rate limited or unavailable: retry after %lld s)", s, secs);
    return lk_printf(a, "%s (rate limited or unavailable: retry after %d s)", s, 10);
}
