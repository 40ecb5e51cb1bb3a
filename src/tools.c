#include "tools_int.h"

#include <string.h>

#include "json.h"
#include "log.h"

/* The embedded tables nest this deep at most (schemas of list items). */
#define TOOLS_JSON_DEPTH 32
#define TOOL_NAME_MAX 64
/* Data Center's check path: a generic profile with it is Confluence DC. */
#define CONFLUENCE_DC_CHECK "/rest/api/user/current"

static const char *const family_names[LK_FAMILIES] = {"granular", "classic", "dc"};

const char *lk_family_name(lk_family f)
{
    return f < LK_FAMILIES ? family_names[f] : "none";
}

/* The arena of the loaded tables: it lives as long as the process. */
static lk_arena *tables_arena(void)
{
    static lk_arena *a;
    if (!a)
        a = lk_arena_new();
    return a;
}

static bool is_type(json_object *o, json_type t)
{
    return o && json_object_is_type(o, t);
}

static bool valid_tool_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOOL_NAME_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Adds the {name} placeholders of s to names (an object used as a set). */
static void placeholders_of(json_object *names, const char *s)
{
    const char *p = strchr(s, '{');
    while (p) {
        const char *end = strchr(p, '}');
        if (!end)
            return;
        size_t n = (size_t)(end - p - 1);
        if (n && n <= TOOL_NAME_MAX) {
            char buf[TOOL_NAME_MAX + 2];
            memcpy(buf, p + 1, n);
            buf[n] = '\0';
            json_object_object_add(names, buf, NULL);
        }
        p = strchr(end + 1, '{');
    }
}

/* Every placeholder of a template (strings anywhere inside it). */
static void placeholders_in(json_object *names, json_object *t)
{
    if (is_type(t, json_type_string)) {
        placeholders_of(names, json_object_get_string(t));
    } else if (is_type(t, json_type_object)) {
        json_object_object_foreach (t, k, v) {
            if (!strcmp(k, "$each") && is_type(v, json_type_string))
                json_object_object_add(names, json_object_get_string(v), NULL);
            else
                placeholders_in(names, v);
        }
    } else if (is_type(t, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(t); i++)
            placeholders_in(names, json_object_array_get_idx(t, i));
    }
}

/* A family's calls: methods, paths, and placeholders that name an input,
 * an earlier call's capture, or a value the executor computes. */
static const char *check_calls(lk_arena *a, json_object *calls, json_object *props, const char *fam)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    json_object *known = lk_json_object(a);
    json_object_object_add(known, "next_version", NULL);
    json_object_object_add(known, "$item", NULL);
    size_t n = json_object_array_length(calls);
    if (n > LK_TOOL_CALLS_MAX)
        return lk_printf(a, "%s: more than %d calls", fam, LK_TOOL_CALLS_MAX);
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(calls, i);
        const char *m = lk_json_str(c, "method"), *path = lk_json_str(c, "path");
        bool ok = false;
        for (size_t k = 0; m && k < LK_ARRAY_LEN(methods); k++)
            ok = ok || !strcmp(m, methods[k]);
        if (!ok || !path || path[0] != '/')
            return lk_printf(a, "%s: call %zu needs a method and a path starting with /", fam, i);
        json_object *names = lk_json_object(a);
        placeholders_in(names, c);
        json_object_object_foreach (names, name, unused) {
            (void)unused;
            if (!lk_json_get(props, name) && !json_object_object_get_ex(known, name, NULL))
                return lk_printf(a, "%s: call %zu names {%s}, which is no input or capture", fam, i, name);
        }
        json_object *cap = lk_json_get(c, "capture");
        if (!cap)
            continue;
        json_object_object_foreach (cap, cname, cpath) {
            if (!is_type(cpath, json_type_string))
                return lk_printf(a, "%s: capture %s needs a path", fam, cname);
            json_object_object_add(known, cname, NULL);
        }
    }
    return NULL;
}

/* A result spec against the output schema: every field it fills is one
 * the schema declares (so structuredContent matches outputSchema). */
static const char *check_result(lk_arena *a, json_object *res, json_object *output, const char *fam)
{
    if (!is_type(res, json_type_object))
        return lk_printf(a, "%s: no result spec", fam);
    if (lk_json_str(res, "local"))
        return NULL;
    json_object *props = lk_json_get(output, "properties");
    const char *as = lk_json_str(res, "as");
    if (lk_json_str(res, "list")) {
        json_object *items = lk_json_path(props, lk_printf(a, "%s.items.properties", as ? as : ""));
        if (!as || !items)
            return lk_printf(a, "%s: the list's \"as\" is no array of the output schema", fam);
        props = items;
    }
    json_object *fields = lk_json_get(res, "fields");
    if (!is_type(fields, json_type_object))
        return lk_printf(a, "%s: result without fields", fam);
    json_object_object_foreach (fields, out, src) {
        const char *o = !strcmp(out, "webui") ? "url" : out;
        if (!is_type(src, json_type_string) || !lk_json_get(props, o))
            return lk_printf(a, "%s: field %s is not in the output schema", fam, out);
    }
    json_object *stat = lk_json_get(res, "static");
    if (!stat)
        return NULL;
    json_object_object_foreach (stat, sname, sval) {
        (void)sval;
        if (!lk_json_get(props, sname))
            return lk_printf(a, "%s: static %s is not in the output schema", fam, sname);
    }
    return NULL;
}

/* The schemas: objects of type object whose required names are properties. */
static const char *check_schemas(lk_arena *a, json_object *def)
{
    const char *which[] = {"inputSchema", "outputSchema"};
    for (size_t i = 0; i < 2; i++) {
        json_object *s = lk_json_get(def, which[i]);
        const char *type = lk_json_str(s, "type");
        json_object *props = lk_json_get(s, "properties");
        if (!type || strcmp(type, "object") != 0 || !is_type(props, json_type_object))
            return lk_printf(a, "%s must be an object schema with properties", which[i]);
        json_object *req = lk_json_get(s, "required");
        for (size_t k = 0; req && k < json_object_array_length(req); k++) {
            json_object *rn = json_object_array_get_idx(req, k);
            if (!is_type(rn, json_type_string) || !lk_json_get(props, json_object_get_string(rn)))
                return lk_printf(a, "%s requires a property it does not declare", which[i]);
        }
    }
    return NULL;
}

/* The tools/list entry: what MCP clients see (never scopes or calls). */
static json_object *listed_entry(lk_arena *a, json_object *def)
{
    static const char *const keys[] = {"name", "title", "description", "inputSchema", "outputSchema", "annotations"};
    json_object *o = lk_json_object(a);
    for (size_t i = 0; i < LK_ARRAY_LEN(keys); i++)
        json_object_object_add(o, keys[i], json_object_get(lk_json_get(def, keys[i])));
    return o;
}

/* The annotations: the three hints, booleans. */
static const char *check_annotations(lk_arena *a, json_object *def, bool *read_only)
{
    static const char *const hints[] = {"readOnlyHint", "destructiveHint", "idempotentHint"};
    json_object *ann = lk_json_get(def, "annotations");
    for (size_t i = 0; i < LK_ARRAY_LEN(hints); i++)
        if (!is_type(lk_json_get(ann, hints[i]), json_type_boolean))
            return lk_printf(a, "annotations.%s must be a boolean", hints[i]);
    *read_only = json_object_get_boolean(lk_json_get(ann, "readOnlyHint"));
    return NULL;
}

/* Each family: its scopes (strings), calls and result spec. */
static const char *load_families(lk_arena *a, json_object *def, lk_tool *t)
{
    json_object *props = lk_json_path(def, "inputSchema.properties");
    for (int f = 0; f < LK_FAMILIES; f++) {
        json_object *sc = lk_json_get(lk_json_get(def, "scopes"), family_names[f]);
        json_object *calls = lk_json_get(lk_json_get(def, "calls"), family_names[f]);
        if (!is_type(sc, json_type_array) || !is_type(calls, json_type_array))
            return lk_printf(a, "scopes.%s and calls.%s must be arrays", family_names[f], family_names[f]);
        for (size_t i = 0; i < json_object_array_length(sc); i++)
            if (!is_type(json_object_array_get_idx(sc, i), json_type_string))
                return lk_printf(a, "scopes.%s must hold strings", family_names[f]);
        t->scopes[f] = lk_strv_from_json(a, sc);
        t->calls[f] = calls;
        t->result[f] = lk_json_get(lk_json_get(def, "result"), family_names[f]);
        const char *why = check_result(a, t->result[f], t->output, family_names[f]);
        if (!why)
            why = check_calls(a, calls, props, family_names[f]);
        if (why)
            return why;
        t->local = lk_json_str(t->result[f], "local") != NULL;
        if (!t->local && json_object_array_length(calls) == 0)
            return lk_printf(a, "calls.%s is empty", family_names[f]);
    }
    return NULL;
}

/* One tool of a table. */
static const char *load_tool(lk_arena *a, json_object *def, lk_tool *t)
{
    t->name = lk_json_str(def, "name");
    if (!t->name || !valid_tool_name(t->name))
        return "a tool name must be 1 to 64 of [a-z0-9_]";
    if (!lk_json_str(def, "title") || !lk_json_str(def, "description"))
        return lk_printf(a, "%s: title and description are required", t->name);
    const char *why = check_schemas(a, def);
    if (!why)
        why = check_annotations(a, def, &t->read_only);
    t->input = lk_json_get(def, "inputSchema");
    t->output = lk_json_get(def, "outputSchema");
    if (!why)
        why = load_families(a, def, t);
    if (why)
        return lk_printf(a, "%s: %s", t->name, why);
    t->listed = listed_entry(a, def);
    return NULL;
}

const char *lk_tools_load(const char *json, size_t len, lk_tool_table *out)
{
    lk_arena *a = tables_arena();
    memset(out, 0, sizeof(*out));
    json_tokener *tok = json_tokener_new_ex(TOOLS_JSON_DEPTH);
    if (!tok)
        return "out of memory";
    json_object *doc = lk_json_own(a, json_tokener_parse_ex(tok, json, (int)len));
    bool parsed = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    json_object *tools = lk_json_get(doc, "tools");
    if (!parsed || !is_type(tools, json_type_array))
        return "not a JSON object with a tools array";
    size_t n = json_object_array_length(tools);
    if (n > LK_TOOLS_MAX)
        return "too many tools";
    out->template_name = lk_json_str(doc, "template");
    out->v = lk_alloc(a, (n + 1) * sizeof(lk_tool));
    for (size_t i = 0; i < n; i++) {
        const char *why = load_tool(a, json_object_array_get_idx(tools, i), &out->v[i]);
        if (why)
            return why;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(out->v[k].name, out->v[i].name))
                return lk_printf(a, "%s: the name is used twice", out->v[i].name);
    }
    out->n = n;
    return NULL;
}

const lk_tool_table *lk_tools_table(const char *template_name)
{
    static lk_tool_table tables[8];
    static bool loaded[8], failed[8];
    for (size_t i = 0; template_name && i < LK_ARRAY_LEN(tables) && lk_tools_blobs[i].template_name; i++) {
        const lk_tools_blob *b = &lk_tools_blobs[i];
        if (strcmp(b->template_name, template_name) != 0)
            continue;
        if (!loaded[i]) {
            const char *why = lk_tools_load(b->json, b->len, &tables[i]);
            loaded[i] = true;
            failed[i] = why != NULL;
            if (why)
                lk_error("tools/%s.json is not a valid tools table: %s", b->template_name, why);
        }
        return failed[i] ? NULL : &tables[i];
    }
    return NULL;
}

bool lk_tools_profile_is_dc(const lk_profile *p)
{
    return lk_profile_is_credential_auth(p) && p->site_kind && !strcmp(p->site_kind, "dc");
}

const lk_tool_table *lk_tools_for_profile(const lk_profile *p)
{
    if (!p->template_name)
        return NULL;
    if (!strcmp(p->template_name, "generic")) {
        bool confluence_dc = lk_tools_profile_is_dc(p) && p->check_path && !strcmp(p->check_path, CONFLUENCE_DC_CHECK);
        return confluence_dc ? lk_tools_table("atlassian-confluence") : NULL;
    }
    return lk_tools_table(p->template_name);
}

bool lk_tools_offered(const lk_profile *p)
{
    return lk_tools_for_profile(p) != NULL;
}

/* True when p->tools is empty or names the tool. */
static bool narrowed_in(const lk_profile *p, const char *name)
{
    if (p->tools.n == 0)
        return true;
    for (size_t i = 0; i < p->tools.n; i++)
        if (!strcmp(p->tools.v[i], name))
            return true;
    return false;
}

const lk_tool *lk_tools_find(const lk_profile *p, const char *name)
{
    const lk_tool_table *t = lk_tools_for_profile(p);
    for (size_t i = 0; t && name && i < t->n; i++)
        if (!strcmp(t->v[i].name, name))
            return narrowed_in(p, name) ? &t->v[i] : NULL;
    return NULL;
}

json_object *lk_tools_list(lk_arena *a, const lk_profile *p, bool read_only)
{
    json_object *arr = lk_json_array(a);
    const lk_tool_table *t = lk_tools_for_profile(p);
    for (size_t i = 0; t && i < t->n; i++) {
        if (!narrowed_in(p, t->v[i].name) || (read_only && !t->v[i].read_only))
            continue;
        json_object_array_add(arr, json_object_get(t->v[i].listed));
    }
    return arr;
}

bool lk_scope_granted(const char *granted, const char *scope)
{
    size_t n = strlen(scope);
    const char *p = granted;
    while (p && *p) {
        p += strspn(p, " ,");
        size_t k = strcspn(p, " ,");
        if (k == n && k && !memcmp(p, scope, n))
            return true;
        p += k;
    }
    return false;
}

/* True when the grant holds every scope of s. */
static bool holds_all(const char *granted, const lk_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!lk_scope_granted(granted, s->v[i]))
            return false;
    return true;
}

lk_family lk_tool_family(const lk_tool *t, const char *granted, bool user_credential, bool dc)
{
    if (dc)
        return LK_FAMILY_DC;
    if (user_credential)
        return LK_FAMILY_GRANULAR;
    if (holds_all(granted, &t->scopes[LK_FAMILY_GRANULAR]))
        return LK_FAMILY_GRANULAR;
    if (holds_all(granted, &t->scopes[LK_FAMILY_CLASSIC]))
        return LK_FAMILY_CLASSIC;
    return LK_FAMILY_NONE;
}

/* True when p[0..n) holds sub. */
static bool has_sub(const char *p, size_t n, const char *sub)
{
    size_t k = strlen(sub);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, sub, k))
            return true;
    return false;
}

lk_family lk_grant_family(const char *granted)
{
    bool classic = false;
    const char *p = granted;
    while (p && *p) {
        p += strspn(p, " ,");
        size_t k = strcspn(p, " ,");
        size_t colons = 0;
        for (size_t i = 0; i < k; i++)
            colons += p[i] == ':';
        /* granular: verb:thing:confluence; classic: verb:confluence-thing
         * or search:confluence. */
        bool confluence = k > 11 && !memcmp(p + k - 11, ":confluence", 11);
        if (colons == 2 && confluence)
            return LK_FAMILY_GRANULAR;
        if (colons == 1 && (confluence || has_sub(p, k, ":confluence-")))
            classic = true;
        p += k;
    }
    return classic ? LK_FAMILY_CLASSIC : LK_FAMILY_GRANULAR;
}

lk_strv lk_tool_missing(lk_arena *a, const lk_tool *t, lk_family f, const char *granted)
{
    lk_strv out = {lk_alloc(a, (LK_TOOLS_MAX + 1) * sizeof(char *)), 0};
    if (f >= LK_FAMILIES)
        return out;
    const lk_strv *s = &t->scopes[f];
    for (size_t i = 0; i < s->n && out.n < LK_TOOLS_MAX; i++)
        if (!granted || !lk_scope_granted(granted, s->v[i]))
            out.v[out.n++] = s->v[i];
    return out;
}
