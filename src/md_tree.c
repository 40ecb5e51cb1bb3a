/* Reading the parsed storage tree: what an element is (its name and
 * prefix, its attributes), and which elements Markdown can carry. */
#include <string.h>

#include "md_read_int.h"

bool mdr_is_el(const xmlNode *n, const char *prefix, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return false;
    const char *np = n->ns && n->ns->prefix ? (const char *)n->ns->prefix : NULL;
    return prefix ? np && !strcmp(np, prefix) : !np;
}

static bool attr_is(const xmlAttr *at, const char *prefix, const char *name)
{
    const char *ap = at->ns && at->ns->prefix ? (const char *)at->ns->prefix : NULL;
    if (strcmp((const char *)at->name, name) != 0)
        return false;
    return prefix ? ap && !strcmp(ap, prefix) : !ap;
}

/* An attribute's value (arena), or NULL. */
char *mdr_attr(lk_arena *a, const xmlNode *n, const char *prefix, const char *name)
{
    for (const xmlAttr *at = n->properties; at; at = at->next) {
        if (!attr_is(at, prefix, name))
            continue;
        xmlChar *v = xmlNodeListGetString(n->doc, at->children, 1);
        char *s = lk_strdup(a, v ? (const char *)v : "");
        xmlFree(v);
        return s;
    }
    return NULL;
}

/* True when every attribute of n is one of the names ("ac:name", "href"). */
static bool attrs_within(const xmlNode *n, const char *const *names, size_t count)
{
    for (const xmlAttr *at = n->properties; at; at = at->next) {
        bool known = false;
        for (size_t i = 0; i < count && !known; i++) {
            const char *colon = strchr(names[i], ':');
            if (colon) {
                char prefix[8] = {0};
                memcpy(prefix, names[i], (size_t)(colon - names[i]) < 7 ? (size_t)(colon - names[i]) : 7);
                known = attr_is(at, prefix, colon + 1);
            } else {
                known = attr_is(at, NULL, names[i]);
            }
        }
        if (!known)
            return false;
    }
    return true;
}

/* The text content of n (arena). */
char *mdr_content(lk_arena *a, const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = lk_strdup(a, v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

bool mdr_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool mdr_blank_text(const xmlNode *n)
{
    if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE)
        return true;
    if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE)
        return false;
    for (const xmlChar *p = n->content; p && *p; p++)
        if (!mdr_is_ws((char)*p))
            return false;
    return true;
}

/* The next child at or after n that is not blank text or a comment. */
const xmlNode *mdr_skip_blank(const xmlNode *n)
{
    while (n && mdr_blank_text(n))
        n = n->next;
    return n;
}

int mdr_heading_level(const xmlNode *n)
{
    static const char *const h[] = {"h1", "h2", "h3", "h4", "h5", "h6"};
    for (int i = 0; i < 6; i++)
        if (mdr_is_el(n, NULL, h[i]))
            return i + 1;
    return 0;
}

/* A code macro Markdown can carry: a language (or none) and the body. */
bool mdr_code_macro(mdr_rd *r, const xmlNode *n, char **lang, char **body)
{
    static const char *const ok[] = {"ac:name", "ac:schema-version", "ac:macro-id", "ac:local-id"};
    if (!mdr_is_el(n, "ac", "structured-macro") || !attrs_within(n, ok, LK_ARRAY_LEN(ok)))
        return false;
    const char *name = mdr_attr(r->a, n, "ac", "name");
    if (!name || strcmp(name, "code") != 0)
        return false;
    *lang = NULL;
    *body = NULL;
    static const char *const pname[] = {"ac:name"};
    for (const xmlNode *c = mdr_skip_blank(n->children); c; c = mdr_skip_blank(c->next)) {
        if (mdr_is_el(c, "ac", "parameter") && !*lang && attrs_within(c, pname, 1)) {
            const char *pn = mdr_attr(r->a, c, "ac", "name");
            if (!pn || strcmp(pn, "language") != 0)
                return false;
            *lang = mdr_content(r->a, c);
        } else if (mdr_is_el(c, "ac", "plain-text-body") && !*body && !c->properties) {
            *body = mdr_content(r->a, c);
        } else {
            return false;
        }
    }
    if (!*body)
        *body = "";
    if (!*lang)
        return true;
    /* An info string: no spaces or backticks, and not the raw block's name. */
    for (const char *p = *lang; *p; p++)
        if (mdr_is_ws(*p) || *p == '`' || *p == '~' || (unsigned char)*p < 0x20)
            return false;
    return strcmp(*lang, "confluence-storage") != 0;
}

/* An image Markdown can carry: <ac:image ac:alt><ri:url ri:value/></ac:image>. */
bool mdr_image_link(mdr_rd *r, const xmlNode *n, char **alt, char **url)
{
    static const char *const ok[] = {"ac:alt"};
    static const char *const uok[] = {"ri:value"};
    if (!mdr_is_el(n, "ac", "image") || !attrs_within(n, ok, 1))
        return false;
    const xmlNode *u = mdr_skip_blank(n->children);
    if (!mdr_is_el(u, "ri", "url") || mdr_skip_blank(u->next) || u->children || !attrs_within(u, uok, 1))
        return false;
    *url = mdr_attr(r->a, u, "ri", "value");
    *alt = mdr_attr(r->a, n, "ac", "alt");
    if (!*alt)
        *alt = "";
    return *url != NULL;
}

bool mdr_known_inline(mdr_rd *r, const xmlNode *n)
{
    static const char *const names[] = {"strong", "b", "em", "i", "s", "del", "strike", "code", "a", "br"};
    for (size_t i = 0; i < LK_ARRAY_LEN(names); i++)
        if (mdr_is_el(n, NULL, names[i]))
            return true;
    char *alt, *url;
    return mdr_image_link(r, n, &alt, &url);
}

/* Elements that always stand as blocks (known or kept verbatim). */
bool mdr_is_block(mdr_rd *r, const xmlNode *n)
{
    static const char *const names[] = {"p", "ul", "ol", "table", "blockquote", "hr", "pre", "div"};
    static const char *const ac[] = {"layout", "task-list", "layout-section", "layout-cell"};
    if (n->type != XML_ELEMENT_NODE)
        return false;
    for (size_t i = 0; i < LK_ARRAY_LEN(names); i++)
        if (mdr_is_el(n, NULL, names[i]))
            return true;
    for (size_t i = 0; i < LK_ARRAY_LEN(ac); i++)
        if (mdr_is_el(n, "ac", ac[i]))
            return true;
    char *lang, *body;
    return mdr_heading_level(n) || mdr_code_macro(r, n, &lang, &body);
}
