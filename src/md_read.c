/* Storage format -> CommonMark (markdown.h has the rules). libxml2 parses
 * the storage text inside a root element that declares Confluence's
 * prefixes; HTML named entities come from libxml2's own table. Each
 * element remembers where its bytes lie in the input, so that what
 * Markdown cannot carry is written out exactly as it came. */
#include "markdown.h"

#include <ctype.h>
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "text.h"

static const char WRAP_OPEN[] = "<lk-storage xmlns:ac=\"http://atlassian.com/content\" "
                                "xmlns:ri=\"http://atlassian.com/resource/identifier\" "
                                "xmlns:at=\"http://atlassian.com/template\">";
static const char WRAP_CLOSE[] = "</lk-storage>";

/* Where an element's bytes lie in the wrapped text (node->_private). */
typedef struct span {
    size_t start, end;
} span;

typedef struct parse {
    lk_arena *a;
    const char *text; /* the wrapped input */
    size_t n;
} parse;

/* The parser is past the start tag's name and attributes: the tag starts
 * at the '<' before, as no '<' can stand inside a tag (XML 1.0 §3.1). */
static void on_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
    xmlParserCtxtPtr ctxt = ctx;
    xmlNodePtr parent = ctxt->node;
    xmlSAX2StartElementNs(ctx, name, prefix, uri, nns, ns, nattr, ndef, attrs);
    const parse *p = ctxt->_private;
    /* cppcheck-suppress knownConditionTrueFalse ; the SAX2 call pushed the new node */
    if (!p || !ctxt->node || ctxt->node == parent || ctxt->inputNr != 1)
        return;
    long at = xmlByteConsumed(ctxt);
    if (at < 0 || (size_t)at >= p->n)
        return;
    size_t s = (size_t)at;
    while (s > 0 && p->text[s] != '<')
        s--;
    span *sp = lk_alloc(p->a, sizeof *sp);
    sp->start = s;
    sp->end = s;
    ctxt->node->_private = sp;
}

/* The parser is just past the end tag (or the "/>" of an empty one). */
static void on_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    const parse *p = ctxt->_private;
    if (p && ctxt->node && ctxt->node->_private && ctxt->inputNr == 1) {
        span *sp = ctxt->node->_private;
        long at = xmlByteConsumed(ctxt);
        if (at > 0 && (size_t)at <= p->n && (size_t)at > sp->start)
            sp->end = (size_t)at;
    }
    xmlSAX2EndElementNs(ctx, name, prefix, uri);
}

/* Storage uses HTML's named entities without declaring them: each one met
 * is declared on the fly as its character reference. */
static xmlEntityPtr on_entity(void *ctx, const xmlChar *name)
{
    xmlParserCtxtPtr ctxt = ctx;
    xmlEntityPtr e = xmlSAX2GetEntity(ctx, name);
    if (e || !ctxt->myDoc)
        return e;
    const htmlEntityDesc *h = htmlEntityLookup(name);
    if (!h)
        return NULL;
    if (!ctxt->myDoc->intSubset && !xmlCreateIntSubset(ctxt->myDoc, BAD_CAST "lk-storage", NULL, NULL))
        return NULL;
    char ref[16];
    snprintf(ref, sizeof ref, "&#%u;", h->value);
    return xmlAddDocEntity(ctxt->myDoc, name, XML_INTERNAL_GENERAL_ENTITY, NULL, NULL, BAD_CAST ref);
}

static void on_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

/* Parses x[0..n) inside the wrapper; *doc is the caller's to free. */
static lk_err storage_parse(lk_arena *a, const char *x, size_t n, parse *p, xmlDocPtr *doc)
{
    *doc = NULL;
    if (n > LK_STORAGE_MAX)
        return LK_ETOOBIG;
    lk_buf w;
    lk_buf_init(&w, a, LK_STORAGE_MAX + sizeof WRAP_OPEN + sizeof WRAP_CLOSE);
    if (lk_buf_adds(&w, WRAP_OPEN) != LK_OK || lk_buf_add(&w, x, n) != LK_OK || lk_buf_adds(&w, WRAP_CLOSE) != LK_OK)
        return LK_ETOOBIG;
    p->a = a;
    p->text = lk_buf_str(&w);
    p->n = w.len;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(p->text, (int)p->n);
    if (!ctxt)
        return LK_EINTERNAL;
    xmlCtxtUseOptions(ctxt,
                      XML_PARSE_NOENT | XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    ctxt->sax->getEntity = on_entity;
    ctxt->sax->serror = on_error;
    ctxt->_private = p;
    xmlParseDocument(ctxt);
    lk_err rc = ctxt->wellFormed && ctxt->myDoc ? LK_OK : LK_EINVAL;
    if (rc == LK_OK)
        *doc = ctxt->myDoc;
    else if (ctxt->myDoc)
        xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* ---- writing Markdown ---- */

/* An open container: a block quote ("> ") or a list item (its marker on
 * the first line, as many spaces after). */
typedef struct level {
    const char *first, *rest;
    bool used;  /* the first line was written */
    bool tight; /* a tight list's item: its blocks are not set apart */
} level;

typedef struct rd {
    lk_arena *a;
    const char *src; /* the wrapped input, for the bytes of verbatim elements */
    lk_buf out;
    level lv[LK_STORAGE_DEPTH_MAX + 1];
    int nlv;
    bool sep; /* a block was written: the next one is set apart */
    lk_err err;
} rd;

/* Appends fail closed: the first failure sticks and ends the conversion. */
static void put(rd *r, lk_buf *b, const char *s, size_t n)
{
    if (r->err == LK_OK && lk_buf_add(b, s, n) != LK_OK)
        r->err = LK_ETOOBIG;
}

static void puts_(rd *r, lk_buf *b, const char *s)
{
    put(r, b, s, strlen(s));
}

static void line_start(rd *r)
{
    for (int i = 0; i < r->nlv; i++) {
        puts_(r, &r->out, r->lv[i].used ? r->lv[i].rest : r->lv[i].first);
        r->lv[i].used = true;
    }
}

/* An empty line inside the open containers ("" or ">"). */
static void blank_line(rd *r)
{
    size_t start = r->out.len;
    for (int i = 0; i < r->nlv && r->lv[i].used; i++)
        puts_(r, &r->out, r->lv[i].rest);
    while (r->err == LK_OK && r->out.len > start && r->out.p[r->out.len - 1] == ' ')
        r->out.len--;
    if (r->out.p)
        r->out.p[r->out.len] = '\0';
    put(r, &r->out, "\n", 1);
}

static void begin_block(rd *r)
{
    bool tight = r->nlv > 0 && r->lv[r->nlv - 1].tight;
    if (r->sep && !tight)
        blank_line(r);
    r->sep = false;
}

static void end_block(rd *r)
{
    r->sep = true;
}

/* s[0..n) line by line, each after the containers' prefixes. */
static void write_lines(rd *r, const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        line_start(r);
        put(r, &r->out, s + i, end - i);
        put(r, &r->out, "\n", 1);
        if (!nl)
            break;
        i = end + 1;
    }
}

static size_t longest_run(const char *s, size_t n, char c)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        run = s[i] == c ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

static char *repeat(lk_arena *a, char c, size_t n)
{
    char *s = lk_alloc(a, n + 1);
    memset(s, c, n);
    return s;
}

/* A fenced code block: longer than any run of backticks inside. */
static void fence_block(rd *r, const char *info, const char *s, size_t n)
{
    size_t ticks = longest_run(s, n, '`') + 1;
    char *fence = repeat(r->a, '`', ticks < 3 ? 3 : ticks);
    begin_block(r);
    line_start(r);
    puts_(r, &r->out, fence);
    puts_(r, &r->out, info);
    put(r, &r->out, "\n", 1);
    if (n)
        write_lines(r, s, n);
    line_start(r);
    puts_(r, &r->out, fence);
    put(r, &r->out, "\n", 1);
    end_block(r);
}

/* The element's bytes as they were in the input. */
static bool element_bytes(const rd *r, const xmlNode *n, const char **s, size_t *len)
{
    const span *sp = n->_private;
    if (!sp || sp->end <= sp->start)
        return false;
    *s = r->src + sp->start;
    *len = sp->end - sp->start;
    return true;
}

static void verbatim_block(rd *r, const xmlNode *n)
{
    const char *s;
    size_t len;
    if (!element_bytes(r, n, &s, &len)) {
        r->err = LK_EINTERNAL;
        return;
    }
    fence_block(r, "confluence-storage", s, len);
}

/* ---- reading the tree ---- */

static bool is_el(const xmlNode *n, const char *prefix, const char *name)
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
static char *attr(lk_arena *a, const xmlNode *n, const char *prefix, const char *name)
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
static char *content(lk_arena *a, const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = lk_strdup(a, v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool blank_text(const xmlNode *n)
{
    if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE)
        return true;
    if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE)
        return false;
    for (const xmlChar *p = n->content; p && *p; p++)
        if (!is_ws((char)*p))
            return false;
    return true;
}

/* The next child at or after n that is not blank text or a comment. */
static const xmlNode *skip_blank(const xmlNode *n)
{
    while (n && blank_text(n))
        n = n->next;
    return n;
}

static int heading_level(const xmlNode *n)
{
    static const char *const h[] = {"h1", "h2", "h3", "h4", "h5", "h6"};
    for (int i = 0; i < 6; i++)
        if (is_el(n, NULL, h[i]))
            return i + 1;
    return 0;
}

/* A code macro Markdown can carry: a language (or none) and the body. */
static bool code_macro(rd *r, const xmlNode *n, char **lang, char **body)
{
    static const char *const ok[] = {"ac:name", "ac:schema-version", "ac:macro-id", "ac:local-id"};
    if (!is_el(n, "ac", "structured-macro") || !attrs_within(n, ok, LK_ARRAY_LEN(ok)))
        return false;
    const char *name = attr(r->a, n, "ac", "name");
    if (!name || strcmp(name, "code") != 0)
        return false;
    *lang = NULL;
    *body = NULL;
    static const char *const pname[] = {"ac:name"};
    for (const xmlNode *c = skip_blank(n->children); c; c = skip_blank(c->next)) {
        if (is_el(c, "ac", "parameter") && !*lang && attrs_within(c, pname, 1)) {
            const char *pn = attr(r->a, c, "ac", "name");
            if (!pn || strcmp(pn, "language") != 0)
                return false;
            *lang = content(r->a, c);
        } else if (is_el(c, "ac", "plain-text-body") && !*body && !c->properties) {
            *body = content(r->a, c);
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
        if (is_ws(*p) || *p == '`' || *p == '~' || (unsigned char)*p < 0x20)
            return false;
    return strcmp(*lang, "confluence-storage") != 0;
}

/* An image Markdown can carry: <ac:image ac:alt><ri:url ri:value/></ac:image>. */
static bool image_link(rd *r, const xmlNode *n, char **alt, char **url)
{
    static const char *const ok[] = {"ac:alt"};
    static const char *const uok[] = {"ri:value"};
    if (!is_el(n, "ac", "image") || !attrs_within(n, ok, 1))
        return false;
    const xmlNode *u = skip_blank(n->children);
    if (!is_el(u, "ri", "url") || skip_blank(u->next) || u->children || !attrs_within(u, uok, 1))
        return false;
    *url = attr(r->a, u, "ri", "value");
    *alt = attr(r->a, n, "ac", "alt");
    if (!*alt)
        *alt = "";
    return *url != NULL;
}

static bool known_inline(rd *r, const xmlNode *n)
{
    static const char *const names[] = {"strong", "b", "em", "i", "s", "del", "strike", "code", "a", "br"};
    for (size_t i = 0; i < LK_ARRAY_LEN(names); i++)
        if (is_el(n, NULL, names[i]))
            return true;
    char *alt, *url;
    return image_link(r, n, &alt, &url);
}

/* Elements that always stand as blocks (known or kept verbatim). */
static bool is_block(rd *r, const xmlNode *n)
{
    static const char *const names[] = {"p", "ul", "ol", "table", "blockquote", "hr", "pre", "div"};
    static const char *const ac[] = {"layout", "task-list", "layout-section", "layout-cell"};
    if (n->type != XML_ELEMENT_NODE)
        return false;
    for (size_t i = 0; i < LK_ARRAY_LEN(names); i++)
        if (is_el(n, NULL, names[i]))
            return true;
    for (size_t i = 0; i < LK_ARRAY_LEN(ac); i++)
        if (is_el(n, "ac", ac[i]))
            return true;
    char *lang, *body;
    return heading_level(n) || code_macro(r, n, &lang, &body);
}

/* ---- inline content ---- */

enum { IN_HEADING = 1, IN_ONE_LINE = 2, IN_CELL = 4 };

/* Inline Markdown being built for one block (or one span's content). */
typedef struct inl {
    rd *r;
    lk_buf b;
    unsigned flags;
    bool bol;   /* at the start of a line: block syntax there is escaped */
    bool start; /* nothing written yet: whitespace is dropped (noted in lead) */
    bool lead;  /* whitespace came before the content */
    bool space; /* a whitespace run waits for the next content */
    bool fail;  /* Markdown cannot carry it here (a '|' in a cell's code) */
} inl;

static void inl_init(inl *in, rd *r, unsigned flags, bool bol)
{
    memset(in, 0, sizeof *in);
    in->r = r;
    lk_buf_init(&in->b, r->a, LK_MD_MAX);
    in->flags = flags;
    in->bol = bol;
    in->start = true;
}

static void set_space(inl *in)
{
    if (in->start)
        in->lead = true;
    else
        in->space = true;
}

/* Writes markup (or escaped text) after any pending whitespace. */
static void emit(inl *in, const char *s, size_t n)
{
    if (in->space && !in->bol)
        put(in->r, &in->b, " ", 1);
    in->space = false;
    in->start = false;
    in->bol = false;
    put(in->r, &in->b, s, n);
}

/* "&name;" or "&#...;": text that CommonMark would read as an entity. */
static bool entity_like(const char *s, size_t n)
{
    size_t i = 1;
    while (i < n && i < 40 && (isalnum((unsigned char)s[i]) || (i == 1 && s[i] == '#')))
        i++;
    return i > 1 && i < n && s[i] == ';';
}

/* At a line's start: "# x", "> x", "- x", "+ x", "=", "1. x" stay text. */
static size_t line_start_escape(inl *in, const char *s, size_t n)
{
    if (strchr("#>-+=", s[0])) {
        char e[2] = {'\\', s[0]};
        emit(in, e, 2);
        return 1;
    }
    size_t d = 0;
    while (d < n && d < 10 && isdigit((unsigned char)s[d]))
        d++;
    if (d > 0 && d < n && (s[d] == '.' || s[d] == ')')) {
        emit(in, s, d);
        char e[2] = {'\\', s[d]};
        put(in->r, &in->b, e, 2);
        return d + 1;
    }
    return 0;
}

static bool needs_escape(const inl *in, const char *s, size_t i, size_t n)
{
    char c = s[i];
    if (strchr("\\`*_[]<~|", c))
        return true;
    if (c == '&')
        return entity_like(s + i, n - i);
    if (c == '{')
        return i + 1 < n && s[i + 1] == '=';
    return c == '#' && (in->flags & IN_HEADING);
}

/* Text from storage: whitespace runs become one space; Markdown's
 * metacharacters are escaped so that the text stays text. */
static void text(inl *in, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && in->r->err == LK_OK) {
        if (is_ws(s[i])) {
            if (!in->bol || in->start)
                set_space(in);
            i++;
            continue;
        }
        if (in->bol) {
            size_t used = line_start_escape(in, s + i, n - i);
            i += used;
            if (used)
                continue;
        }
        if (needs_escape(in, s, i, n)) {
            char e[2] = {'\\', s[i]};
            emit(in, e, 2);
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && !is_ws(s[j]) && !needs_escape(in, s, j, n))
            j++;
        emit(in, s + i, j - i);
        i = j;
    }
}

/* md4c reads code spans fenced by at most this many backticks. */
#define CODE_TICKS_MAX 32

/* A code span: backticks around, more than any run inside; a space
 * inside each end when the content starts or ends with one or a backtick.
 * False (nothing written) when no fence is long enough. */
static bool code_span(inl *in, const char *s, size_t n, const char *suffix)
{
    if (n == 0)
        return true;
    char *c = lk_memdup(in->r->a, s, n);
    bool all_spaces = true;
    for (size_t i = 0; i < n; i++) {
        if (c[i] == '\n' || c[i] == '\r')
            c[i] = ' ';
        all_spaces = all_spaces && c[i] == ' ';
    }
    size_t nticks = longest_run(c, n, '`') + 1;
    if (nticks > CODE_TICKS_MAX)
        return false;
    if ((in->flags & IN_CELL) && memchr(c, '|', n))
        in->fail = true;
    char *ticks = repeat(in->r->a, '`', nticks);
    bool pad = !all_spaces && (c[0] == ' ' || c[0] == '`' || c[n - 1] == ' ' || c[n - 1] == '`');
    emit(in, ticks, nticks);
    if (pad)
        put(in->r, &in->b, " ", 1);
    put(in->r, &in->b, c, n);
    if (pad)
        put(in->r, &in->b, " ", 1);
    puts_(in->r, &in->b, ticks);
    puts_(in->r, &in->b, suffix);
    return true;
}

static void raw_inline(inl *in, const xmlNode *n)
{
    const char *s;
    size_t len;
    if (!element_bytes(in->r, n, &s, &len)) {
        in->r->err = LK_EINTERNAL;
        return;
    }
    if (!code_span(in, s, len, "{=confluence-storage}")) {
        in->fail = true; /* no code span holds it: the block stays verbatim */
        text(in, s, len);
    }
}

static void hard_break(inl *in)
{
    if (in->flags & IN_ONE_LINE) {
        set_space(in);
        return;
    }
    if (in->start || in->bol)
        return; /* a leading or repeated break: Markdown has none */
    put(in->r, &in->b, "\\\n", 2);
    in->bol = true;
    in->space = false;
}

/* A link destination: bare when it can be, else in <>. */
static void destination(inl *in, const char *u)
{
    bool pointy = !*u;
    for (const char *p = u; *p; p++)
        pointy = pointy || (unsigned char)*p <= ' ' || strchr("()<>", *p);
    if (pointy)
        put(in->r, &in->b, "<", 1);
    size_t n = strlen(u);
    for (size_t i = 0; i < n; i++) {
        if (u[i] == '\n' || u[i] == '\r')
            puts_(in->r, &in->b, u[i] == '\n' ? "%0A" : "%0D");
        else if (u[i] == '\\' || u[i] == '<' || u[i] == '>' || (u[i] == '&' && entity_like(u + i, n - i)))
            put(in->r, &in->b, (char[]){'\\', u[i]}, 2);
        else
            put(in->r, &in->b, u + i, 1);
    }
    if (pointy)
        put(in->r, &in->b, ">", 1);
}

static void inline_nodes(inl *in, const xmlNode *n, const xmlNode *stop, int depth);

/* Renders n's children as one span's content into a fresh buffer. */
static void sub_render(inl *sub, inl *in, const xmlNode *n, int depth)
{
    inl_init(sub, in->r, in->flags, false);
    inline_nodes(sub, n->children, NULL, depth + 1);
    in->fail = in->fail || sub->fail;
}

/* Delimiters around the content, whitespace moved outside them. */
static void wrap(inl *in, const xmlNode *n, const char *delim, int depth)
{
    inl sub;
    sub_render(&sub, in, n, depth);
    if (sub.lead)
        set_space(in);
    if (sub.b.len > 0) {
        emit(in, delim, strlen(delim));
        put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
        puts_(in->r, &in->b, delim);
    }
    if (sub.space)
        set_space(in);
}

static void link(inl *in, const xmlNode *n, const char *href, int depth)
{
    inl sub;
    sub_render(&sub, in, n, depth);
    if (sub.lead)
        set_space(in);
    emit(in, "[", 1);
    put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
    put(in->r, &in->b, "](", 2);
    destination(in, href);
    put(in->r, &in->b, ")", 1);
    if (sub.space)
        set_space(in);
}

static void image(inl *in, const char *alt, const char *url)
{
    inl sub;
    inl_init(&sub, in->r, in->flags, false);
    text(&sub, alt, strlen(alt));
    emit(in, "![", 2);
    put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
    put(in->r, &in->b, "](", 2);
    destination(in, url);
    put(in->r, &in->b, ")", 1);
}

static void inline_element(inl *in, const xmlNode *n, int depth)
{
    char *alt, *url;
    const char *href = is_el(n, NULL, "a") ? attr(in->r->a, n, NULL, "href") : NULL;
    if (depth >= LK_STORAGE_DEPTH_MAX) {
        raw_inline(in, n);
        return;
    }
    if (is_el(n, NULL, "strong") || is_el(n, NULL, "b"))
        wrap(in, n, "**", depth);
    else if (is_el(n, NULL, "em") || is_el(n, NULL, "i"))
        wrap(in, n, "*", depth);
    else if (is_el(n, NULL, "s") || is_el(n, NULL, "del") || is_el(n, NULL, "strike"))
        wrap(in, n, "~~", depth);
    else if (is_el(n, NULL, "code")) {
        const char *c = content(in->r->a, n);
        if (!code_span(in, c, strlen(c), "")) {
            in->fail = true;
            text(in, c, strlen(c));
        }
    } else if (is_el(n, NULL, "br"))
        hard_break(in);
    else if (href)
        link(in, n, href, depth);
    else if (image_link(in->r, n, &alt, &url))
        image(in, alt, url);
    else
        raw_inline(in, n);
}

static void inline_nodes(inl *in, const xmlNode *n, const xmlNode *stop, int depth)
{
    for (; n && n != stop && in->r->err == LK_OK; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
            text(in, (const char *)n->content, n->content ? strlen((const char *)n->content) : 0);
        else if (n->type == XML_ELEMENT_NODE)
            inline_element(in, n, depth);
    }
}

/* The inline content, with trailing breaks dropped. */
static const char *inline_done(inl *in, size_t *len)
{
    while (in->b.len >= 2 && in->b.p[in->b.len - 1] == '\n' && in->b.p[in->b.len - 2] == '\\')
        in->b.len -= 2;
    if (in->b.p)
        in->b.p[in->b.len] = '\0';
    *len = in->b.len;
    return lk_buf_str(&in->b);
}

/* ---- blocks ---- */

static void flow(rd *r, const xmlNode *n, int depth);

/* False (nothing written) when Markdown cannot carry the content. */
static bool paragraph(rd *r, const xmlNode *first, const xmlNode *stop, int depth)
{
    inl in;
    inl_init(&in, r, 0, true);
    inline_nodes(&in, first, stop, depth);
    size_t len;
    const char *s = inline_done(&in, &len);
    if (in.fail)
        return false;
    if (len == 0)
        return true; /* an empty paragraph: Markdown has none */
    begin_block(r);
    write_lines(r, s, len);
    end_block(r);
    return true;
}

static void heading(rd *r, const xmlNode *n, int hlevel, int depth)
{
    inl in;
    inl_init(&in, r, IN_HEADING | IN_ONE_LINE, false);
    inline_nodes(&in, n->children, NULL, depth + 1);
    size_t len;
    const char *s = inline_done(&in, &len);
    begin_block(r);
    line_start(r);
    put(r, &r->out, "######", (size_t)hlevel);
    if (len)
        put(r, &r->out, " ", 1);
    put(r, &r->out, s, len);
    put(r, &r->out, "\n", 1);
    end_block(r);
}

static bool push(rd *r, const char *first, const char *rest, bool tight)
{
    if (r->nlv >= LK_STORAGE_DEPTH_MAX)
        return false;
    r->lv[r->nlv++] = (level){first, rest, false, tight};
    return true;
}

static void quote(rd *r, const xmlNode *n, int depth)
{
    begin_block(r);
    if (!push(r, "> ", "> ", false)) {
        r->err = LK_EINTERNAL; /* depth bounds the levels: never */
        return;
    }
    flow(r, n->children, depth + 1);
    r->nlv--;
    end_block(r);
}

/* A list's items are its element children, all <li>; a list is tight
 * unless an item holds a paragraph or another block that needs a blank
 * line before it. */
static bool list_shape(rd *r, const xmlNode *n, bool *tight)
{
    *tight = true;
    bool any = false;
    for (const xmlNode *li = skip_blank(n->children); li; li = skip_blank(li->next)) {
        if (!is_el(li, NULL, "li"))
            return false;
        any = true;
        for (const xmlNode *c = li->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && is_block(r, c) && !is_el(c, NULL, "ul") && !is_el(c, NULL, "ol"))
                *tight = false;
    }
    return any;
}

/* *alt: this list follows one of the same kind, so it takes the other
 * marker ('*' for '-', ')' for '.'), or Markdown would join the two. */
static bool list(rd *r, const xmlNode *n, bool ordered, bool alt, int depth)
{
    bool tight;
    if (!list_shape(r, n, &tight))
        return false;
    long long num = 1;
    const char *start = ordered ? attr(r->a, n, NULL, "start") : NULL;
    if (start && !lk_parse_int(start, 0, 999999000, &num))
        num = 1;
    begin_block(r);
    for (const xmlNode *li = skip_blank(n->children); li && r->err == LK_OK; li = skip_blank(li->next)) {
        char *first = ordered ? lk_printf(r->a, "%lld%c ", num++, alt ? ')' : '.') : (alt ? "* " : "- ");
        if (!push(r, first, repeat(r->a, ' ', strlen(first)), tight)) {
            r->err = LK_EINTERNAL; /* depth bounds the levels: never */
            return true;
        }
        flow(r, li->children, depth + 1);
        if (!r->lv[r->nlv - 1].used)
            write_lines(r, "", 0);
        r->nlv--;
        r->sep = true;
    }
    end_block(r);
    return true;
}

/* A cell's inline content in *body: its children, or those of its one <p>;
 * false when it holds blocks. */
static bool cell_inline(rd *r, const xmlNode *cell, const xmlNode **body)
{
    const xmlNode *only = skip_blank(cell->children);
    if (is_el(only, NULL, "p") && !skip_blank(only->next)) {
        *body = only->children;
        return true;
    }
    for (const xmlNode *c = cell->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && is_block(r, c))
            return false;
    *body = cell->children;
    return true;
}

static bool is_cell(const xmlNode *c)
{
    if (!is_el(c, NULL, "th") && !is_el(c, NULL, "td"))
        return false;
    static const char *const span_attrs[] = {"colspan", "rowspan"};
    for (size_t i = 0; i < LK_ARRAY_LEN(span_attrs); i++) {
        xmlChar *v = xmlGetNoNsProp(c, BAD_CAST span_attrs[i]);
        bool one = !v || !strcmp((const char *)v, "1");
        xmlFree(v);
        if (!one)
            return false;
    }
    return true;
}

/* The rows of a table (directly or in thead/tbody/tfoot), colgroups aside. */
static size_t table_rows(const xmlNode *t, const xmlNode **rows, size_t max)
{
    size_t n = 0;
    for (const xmlNode *c = skip_blank(t->children); c; c = skip_blank(c->next)) {
        if (is_el(c, NULL, "colgroup"))
            continue;
        bool section = is_el(c, NULL, "thead") || is_el(c, NULL, "tbody") || is_el(c, NULL, "tfoot");
        const xmlNode *tr = section ? skip_blank(c->children) : c;
        for (; tr; tr = section ? skip_blank(tr->next) : NULL) {
            if (!is_el(tr, NULL, "tr") || n == max)
                return 0;
            rows[n++] = tr;
        }
    }
    return n;
}

/* One row's cells rendered; false when the row cannot be a Markdown row
 * (its header cells are not all th or all td as asked, a cell holds blocks). */
static bool table_row(rd *r, const xmlNode *tr, bool th, const char **cells, size_t ncols, int depth)
{
    size_t i = 0;
    for (const xmlNode *c = skip_blank(tr->children); c; c = skip_blank(c->next)) {
        if (!is_cell(c) || i == ncols || is_el(c, NULL, "th") != th)
            return false;
        const xmlNode *body;
        if (!cell_inline(r, c, &body))
            return false;
        inl in;
        inl_init(&in, r, IN_ONE_LINE | IN_CELL, false);
        inline_nodes(&in, body, NULL, depth + 1);
        size_t len;
        cells[i++] = inline_done(&in, &len);
        if (in.fail)
            return false;
    }
    return i == ncols;
}

static void table_line(rd *r, const char **cells, size_t ncols)
{
    line_start(r);
    for (size_t i = 0; i < ncols; i++) {
        puts_(r, &r->out, i ? " | " : "| ");
        puts_(r, &r->out, cells[i]);
    }
    puts_(r, &r->out, " |\n");
}

/* A GFM table: its first row of th is the header; without one, the header
 * row is empty (and writes back as none). */
static bool table(rd *r, const xmlNode *t, int depth)
{
    size_t max = 1;
    for (const xmlNode *c = t->children; c; c = c->next) {
        max++;
        for (const xmlNode *g = c->children; g; g = g->next)
            max++;
    }
    const xmlNode **rows = lk_alloc(r->a, max * sizeof(const xmlNode *)); // NOLINT(bugprone-sizeof-expression)
    size_t nrows = table_rows(t, rows, max);
    size_t ncols = 0;
    for (const xmlNode *c = nrows ? skip_blank(rows[0]->children) : NULL; c; c = skip_blank(c->next))
        ncols++;
    if (!nrows || !ncols)
        return false;
    const xmlNode *first = skip_blank(rows[0]->children);
    bool header = is_el(first, NULL, "th");
    const char ***cells = lk_alloc(r->a, (nrows + 1) * sizeof *cells);
    for (size_t i = 0; i <= nrows; i++)
        cells[i] = lk_alloc(r->a, ncols * sizeof **cells);
    for (size_t i = 0; i < ncols; i++)
        cells[0][i] = "";
    bool empty_head = true;
    for (size_t i = 0; i < nrows; i++) {
        bool th = header && i == 0;
        if (!table_row(r, rows[i], th, cells[header ? i : i + 1], ncols, depth))
            return false;
        for (size_t j = 0; th && j < ncols; j++)
            empty_head = empty_head && !*cells[0][j];
    }
    if (header && empty_head)
        return false; /* an empty header row would write back as none */
    begin_block(r);
    table_line(r, cells[0], ncols);
    line_start(r);
    for (size_t i = 0; i < ncols; i++)
        puts_(r, &r->out, i ? " | ---" : "| ---");
    puts_(r, &r->out, " |\n");
    for (size_t i = 1; i < nrows + (header ? 0 : 1); i++)
        table_line(r, cells[i], ncols);
    end_block(r);
    return true;
}

/* A block Markdown can carry, written; false (nothing written) if not.
 * prev: the kind of list this one follows directly ('u', 'o' or 0). */
static bool known_block(rd *r, const xmlNode *n, int depth, char prev)
{
    char *lang, *body;
    int h = heading_level(n);
    if (is_el(n, NULL, "p"))
        return paragraph(r, n->children, NULL, depth + 1);
    if (h) {
        heading(r, n, h, depth);
    } else if (is_el(n, NULL, "ul") || is_el(n, NULL, "ol")) {
        bool ol = is_el(n, NULL, "ol");
        return list(r, n, ol, prev == (ol ? 'o' : 'u'), depth);
    } else if (is_el(n, NULL, "blockquote")) {
        quote(r, n, depth);
    } else if (is_el(n, NULL, "hr")) {
        begin_block(r);
        write_lines(r, "---", 3);
        end_block(r);
    } else if (is_el(n, NULL, "pre")) {
        const char *c = content(r->a, n);
        fence_block(r, "", c, strlen(c));
    } else if (code_macro(r, n, &lang, &body)) {
        fence_block(r, lang ? lang : "", body, strlen(body));
    } else {
        return is_el(n, NULL, "table") && table(r, n, depth);
    }
    return true;
}

/* A block, verbatim when Markdown cannot carry it or it lies too deep. */
static void block(rd *r, const xmlNode *n, int depth, char *prev)
{
    bool done = depth < LK_STORAGE_DEPTH_MAX && known_block(r, n, depth, *prev);
    if (!done)
        verbatim_block(r, n);
    char kind = 0;
    if (done && is_el(n, NULL, "ul"))
        kind = 'u';
    else if (done && is_el(n, NULL, "ol"))
        kind = 'o';
    /* A third list in a row may take the first marker again. */
    if (kind == *prev)
        kind = 0;
    *prev = kind;
}

/* The children of a container that holds blocks and text alike (the page,
 * a quote, an item): runs of inline content become paragraphs; an unknown
 * element with no text beside it is a block of its own. */
static void flow(rd *r, const xmlNode *n, int depth)
{
    char prev = 0;
    while (n && r->err == LK_OK) {
        if (n->type == XML_ELEMENT_NODE && is_block(r, n)) {
            block(r, n, depth, &prev);
            n = n->next;
            continue;
        }
        const xmlNode *run = n;
        bool text_beside = false;
        for (; n && !(n->type == XML_ELEMENT_NODE && is_block(r, n)); n = n->next)
            text_beside = text_beside || (n->type == XML_ELEMENT_NODE ? known_inline(r, n) : !blank_text(n));
        if (text_beside) {
            (void)paragraph(r, run, n, depth); /* a run's text is kept, even when not all of it fits */
            prev = 0;
            continue;
        }
        for (const xmlNode *m = run; m != n; m = m->next) {
            if (m->type == XML_ELEMENT_NODE) {
                verbatim_block(r, m);
                prev = 0;
            }
        }
    }
}

static lk_err render(lk_arena *a, const char *src, const xmlNode *root, char **out)
{
    rd *r = lk_alloc(a, sizeof *r);
    r->a = a;
    r->src = src;
    lk_buf_init(&r->out, a, LK_MD_MAX);
    flow(r, root ? root->children : NULL, 0);
    if (r->err == LK_OK)
        *out = lk_strndup(a, lk_buf_str(&r->out), r->out.len);
    return r->err;
}

lk_err lk_storage_check(const char *xhtml, size_t n)
{
    lk_arena *a = lk_arena_new();
    parse p;
    xmlDocPtr doc;
    lk_err rc = storage_parse(a, xhtml, n, &p, &doc);
    if (doc)
        xmlFreeDoc(doc);
    lk_arena_free(a);
    return rc;
}

lk_err lk_storage_to_md(lk_arena *a, const char *xhtml, size_t n, char **out)
{
    *out = NULL;
    parse p;
    xmlDocPtr doc;
    lk_err rc = storage_parse(a, xhtml, n, &p, &doc);
    if (rc != LK_OK)
        return rc;
    rc = render(a, p.text, xmlDocGetRootElement(doc), out);
    xmlFreeDoc(doc);
    return rc;
}
