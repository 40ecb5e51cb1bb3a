/* What tools.c, toolargs.c, toolresult.c and toolcall.c share, and what
 * their unit tests reach: the loaded tables, scope families, argument
 * checks, request templating and result trimming. */
#ifndef LK_TOOLS_INT_H
#define LK_TOOLS_INT_H

#include "strv.h"
#include "tools.h"

/* Caps: tools per table, calls per tool, items kept from a list, a string
 * field kept (a body excepted), the text rendering, a provider answer. */
#define LK_TOOLS_MAX 64
#define LK_TOOL_CALLS_MAX 4
#define LK_TOOL_ITEMS_MAX 250
#define LK_TOOL_FIELD_MAX 2048
#define LK_TOOL_TEXT_MAX ((size_t)256 * 1024)
#define LK_TOOL_ANSWER_MAX (8u << 20)
/* Answers at least this long have their result kept (mdcache.h): below
 * it, trimming costs less than keeping. */
#define LK_TOOL_MEMO_MIN ((size_t)4096)
#define LK_TOOL_MESSAGE_MAX 512
/* An argument used in a URL path: at most this long. */
#define LK_TOOL_SEGMENT_MAX 255

/* An embedded table: tools/<template>.json as text (cmake/embed_tools.cmake). */
typedef struct lk_tools_blob {
    const char *template_name;
    const char *json;
    size_t len;
} lk_tools_blob;
extern const lk_tools_blob lk_tools_blobs[];

/* Which calls a tool makes: Cloud v2 with granular scopes, Cloud v1 with
 * classic scopes, Data Center's /rest/api (no scopes). */
typedef enum lk_family {
    LK_FAMILY_GRANULAR = 0,
    LK_FAMILY_CLASSIC = 1,
    LK_FAMILY_DC = 2,
    LK_FAMILY_NONE = 3
} lk_family;
#define LK_FAMILIES 3

/* The table's key of a family ("granular", "classic", "dc"). */
const char *lk_family_name(lk_family f);

/* One tool of a loaded table (every pointer lives as long as the process). */
typedef struct lk_tool {
    const char *name;
    bool read_only;
    bool local;          /* answered from the connection (atlassian_list_sites) */
    json_object *input;  /* inputSchema */
    json_object *output; /* outputSchema */
    json_object *listed; /* its tools/list entry */
    lk_strv scopes[LK_FAMILIES];
    json_object *calls[LK_FAMILIES];  /* arrays of calls */
    json_object *result[LK_FAMILIES]; /* how the answer is trimmed */
} lk_tool;

typedef struct lk_tool_table {
    const char *template_name;
    lk_tool *v;
    size_t n;
} lk_tool_table;

/* Parses and checks a table's text into *out (memory kept for the life of
 * the process). NULL on success, else what is wrong with it. */
const char *lk_tools_load(const char *json, size_t len, lk_tool_table *out);
/* The embedded table of a template, loaded and checked once per process;
 * NULL for a template without one (or a table that failed its check,
 * logged once). */
const lk_tool_table *lk_tools_table(const char *template_name);
/* The table offered on p (SPEC §10, README "Tools"): atlassian-confluence's
 * for that template, and for a Data Center profile (a credential auth type,
 * site kind dc) made from the generic template with Confluence's check
 * path; NULL otherwise. */
const lk_tool_table *lk_tools_for_profile(const lk_profile *p);
/* True when p's calls go to Data Center (/rest/api): a credential auth
 * type whose sites are of kind dc. */
bool lk_tools_profile_is_dc(const lk_profile *p);
/* The tool called name offered on p (p->tools narrowing applied), or NULL. */
const lk_tool *lk_tools_find(const lk_profile *p, const char *name);

/* True when the granted scope string (space- or comma-separated) holds scope. */
bool lk_scope_granted(const char *granted, const char *scope);
/* The family a call uses: DC for a Data Center profile, granular for a user
 * credential (no scopes), else granular when the grant holds all the
 * tool's granular scopes, classic when it holds all its classic ones,
 * LK_FAMILY_NONE when neither. */
lk_family lk_tool_family(const lk_tool *t, const char *granted, bool user_credential, bool dc);
/* The family of a grant, for asking for more: classic when it holds a
 * classic Confluence scope and no granular one, else granular. */
lk_family lk_grant_family(const char *granted);
/* The tool's scopes of family f the grant lacks (empty when none). */
lk_strv lk_tool_missing(lk_arena *a, const lk_tool *t, lk_family f, const char *granted);

/* Checks arguments against the tool's input schema (the subset the tables
 * use: object, string, integer, boolean, array; required, enum, minLength,
 * maxLength, minimum, maximum, minItems, maxItems, additionalProperties
 * false). NULL when fine, else a sentence naming the field. */
const char *lk_tool_args_check(lk_arena *a, const lk_tool *t, json_object *args);
/* Turns vars' "body" into storage format: Markdown converted, unless
 * body_format is "storage", which is checked and kept as it is. NULL when
 * fine (or there is no body), else a sentence naming the argument. */
const char *lk_tool_body_to_storage(lk_arena *a, json_object *vars);
/* A call's path with its {name} placeholders filled from vars, each value
 * percent-encoded as one segment; NULL with *why when a value is missing,
 * empty, too long, or could climb the path ("..", "/", "\\", "."). */
char *lk_tool_path(lk_arena *a, const char *tmpl, json_object *vars, const char **why);
/* "?k=v&…" from a call's query template (members whose "{name}" is not
 * in vars are left out; values percent-encoded); "" when none. */
char *lk_tool_query(lk_arena *a, json_object *tmpl, json_object *vars);
/* A call's body from its template: a string "{name}" becomes the value of
 * vars (any JSON type) or is left out when absent, as is an object or
 * array left empty by that; {"$each": name, "$item": t} maps the array
 * vars[name] through t, where "{$item}" is the element. Owned by a. */
json_object *lk_tool_body(lk_arena *a, json_object *tmpl, json_object *vars);
/* The value at a dotted path ("version.number", "results.0.id", "-1" for
 * an array's last element) in o, or NULL (borrowed). */
json_object *lk_json_path(json_object *o, const char *path);

/* The structuredContent for an answer of family f: the result spec's
 * fields, typed as the output schema says, a body converted to Markdown
 * unless vars' body_format is "storage", "webui" turned into an absolute
 * "url" against base. NULL with *why (a sentence for the caller) when the
 * answer lacks what the spec needs. */
json_object *lk_tool_trim(lk_arena *a, const lk_tool *t, lk_family f, json_object *answer, json_object *vars,
                          const char *base, const char **why);
/* The short text rendering of structuredContent. */
char *lk_tool_text(lk_arena *a, json_object *structured);
/* A CallToolResult: one text item, structuredContent when not NULL, isError. */
json_object *lk_tool_result(lk_arena *a, json_object *structured, const char *text, bool is_error);
/* The sentence for a provider's error answer: its status and message
 * (Atlassian's "message", "errorMessage", "errors[0].title"...), capped,
 * and for 429 (or 503) when to retry. */
char *lk_tool_provider_error(lk_arena *a, long status, const char *body, size_t len, const char *retry_after);
/* Fills vars' "{template}" text placeholders ({name}) for a message. */
char *lk_tool_message(lk_arena *a, const char *tmpl, json_object *vars);

#endif
