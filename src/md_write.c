/* CommonMark -> storage format (markdown.h has the rules). md4c parses the
 * Markdown and calls back per block, span and text; each call appends
 * storage XHTML. Raw HTML is off (MD_FLAG_NOHTML): md4c hands it over as
 * text, which is escaped like any other. White space runs in text become
 * one space, as storage renders them (and as md_read.c reads them). */
#include "markdown.h"

#include <libxml/HTMLparser.h>
#include <md4c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* The suffix that makes a code span raw storage (Pandoc's raw attribute). */
static const char RAW_MARK[] = "{=confluence-storage}";
static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

typedef struct wr {
    lk_arena *a;
    lk_buf out;
    lk_buf *to;     /* where storage goes: out, or head while a header row is read */
    lk_buf head;    /* a table's header row, dropped when all its cells are empty */
    bool head_used; /* the header row holds content */
    lk_buf code;    /* the text of the code block or span being read */
    bool in_code_block, in_code_span;
    char *lang; /* the code block's language, or NULL */
    lk_buf alt; /* an image's text: its alt attribute */
    int in_img; /* images open (an image inside an image is alt text) */
    char *img_src;
    bool pending; /* a code span was read: raw storage when RAW_MARK follows */
    /* The spans open (em, strong, s, a): md4c can leave one open when '~'
     * runs meet a link, so the end of a block closes whatever is open. */
    MD_SPANTYPE spans[LK_MD_DEPTH_MAX + 1];
    int nspans;
    int depth;
    lk_err err;
} wr;

/* ---- storage text ---- */

static void add(wr *w, lk_buf *b, const char *s, size_t n)
{
    if (w->err == LK_OK && lk_buf_add(b, s, n) != LK_OK)
        w->err = LK_ETOOBIG;
}

static void adds(wr *w, const char *s)
{
    add(w, w->to, s, strlen(s));
}

/* The length of the UTF-8 sequence at s (and its code point), 0 when it is
 * not a well-formed one (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4)
        return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* XML 1.0 §2.2 Char. */
static bool xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           c >= 0x10000;
}

/* s[0..n) as XML character data (or, with quot, an attribute value):
 * & < > (and ") escaped, what XML cannot hold replaced with U+FFFD. In an
 * attribute a tab or line end is written as the space XML reads it as
 * (XML 1.0 §3.3.3), so that the value reads back as written. */
static void add_xml(wr *w, lk_buf *b, const char *s, size_t n, bool quot)
{
    size_t i = 0;
    while (i < n && w->err == LK_OK) {
        uint32_t cp = 0;
        size_t len = utf8_char((const unsigned char *)s + i, n - i, &cp);
        const char *esc = NULL;
        if (len == 0 || !xml_char(cp))
            esc = REPLACEMENT;
        else if (cp == '&')
            esc = "&amp;";
        else if (cp == '<')
            esc = "&lt;";
        else if (cp == '>')
            esc = "&gt;";
        else if (cp == '"' && quot)
            esc = "&quot;";
        else if ((cp == '\t' || cp == '\n' || cp == '\r') && quot)
            esc = " ";
        if (esc)
            add(w, b, esc, strlen(esc));
        else
            add(w, b, s + i, len);
        i += len ? len : 1;
    }
}

/* A CDATA section; "]]>" inside ends one section and starts the next. */
static void add_cdata(wr *w, const char *s, size_t n)
{
    lk_buf clean;
    lk_buf_init(&clean, w->a, LK_STORAGE_MAX);
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = 0;
        size_t len = utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (len == 0 || !xml_char(cp))
            add(w, &clean, REPLACEMENT, 3);
        else
            add(w, &clean, s + i, len);
        i += len ? len - 1 : 0;
    }
    const char *c = lk_buf_str(&clean);
    adds(w, "<![CDATA[");
    const char *end = strstr(c, "]]>");
    while (end) {
        add(w, w->to, c, (size_t)(end - c) + 2);
        adds(w, "]]><![CDATA[");
        c = end + 2;
        end = strstr(c, "]]>");
    }
    adds(w, c);
    adds(w, "]]>");
}

static void add_utf8(wr *w, lk_buf *b, uint32_t c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    add(w, b, u, n);
}

/* An entity md4c found ("&amp;", "&#38;", "&#x26;") as UTF-8 into b; one
 * HTML does not name stays the text it was. */
static void add_entity(wr *w, lk_buf *b, const char *s, size_t n)
{
    uint32_t c = 0;
    if (n >= 4 && s[1] == '#') {
        bool hex = s[2] == 'x' || s[2] == 'X';
        char *end = NULL;
        char *digits = lk_strndup(w->a, s + (hex ? 3 : 2), n - (hex ? 4 : 3));
        unsigned long v = strtoul(digits, &end, hex ? 16 : 10);
        c = *digits && end && !*end && v <= 0x10FFFF ? (uint32_t)v : 0xFFFD;
        if (c == 0 || (c >= 0xD800 && c <= 0xDFFF))
            c = 0xFFFD;
    } else if (n >= 3) {
        const htmlEntityDesc *h = htmlEntityLookup((const xmlChar *)lk_strndup(w->a, s + 1, n - 2));
        if (!h) {
            add(w, b, s, n);
            return;
        }
        c = h->value;
    }
    add_utf8(w, b, c ? c : 0xFFFD);
}

/* An md4c attribute (an href, a language) decoded to plain UTF-8. */
static char *attribute(wr *w, const MD_ATTRIBUTE *at)
{
    lk_buf b;
    lk_buf_init(&b, w->a, LK_MD_MAX);
    for (size_t i = 0; at->substr_offsets[i] < at->size; i++) {
        const char *s = at->text + at->substr_offsets[i];
        size_t n = at->substr_offsets[i + 1] - at->substr_offsets[i];
        if (at->substr_types[i] == MD_TEXT_ENTITY)
            add_entity(w, &b, s, n);
        else if (at->substr_types[i] == MD_TEXT_NULLCHAR)
            add(w, &b, REPLACEMENT, 3);
        else
            add(w, &b, s, n);
    }
    return lk_strndup(w->a, lk_buf_str(&b), b.len);
}

/* ---- raw storage ---- */

/* Verbatim storage from a confluence-storage block or span: sent only when
 * it is well-formed storage on its own. */
static void add_raw(wr *w, const char *s, size_t n)
{
    if (w->err == LK_OK && lk_storage_check(s, n) != LK_OK)
        w->err = LK_EINVAL;
    add(w, w->to, s, n);
}

/* A code span not followed by RAW_MARK is inline code. */
static void flush_pending(wr *w)
{
    if (!w->pending)
        return;
    w->pending = false;
    adds(w, "<code>");
    add_xml(w, w->to, lk_buf_str(&w->code), w->code.len, false);
    adds(w, "</code>");
}

/* A code block: the code macro, or raw storage for confluence-storage. */
static void end_code_block(wr *w)
{
    size_t n = w->code.len;
    const char *s = lk_buf_str(&w->code);
    if (n > 0 && s[n - 1] == '\n')
        n--; /* the fence's last line ends the code, it is not part of it */
    w->in_code_block = false;
    if (w->lang && !strcmp(w->lang, "confluence-storage")) {
        add_raw(w, s, n);
        return;
    }
    adds(w, "<ac:structured-macro ac:name=\"code\">");
    if (w->lang) {
        adds(w, "<ac:parameter ac:name=\"language\">");
        add_xml(w, w->to, w->lang, strlen(w->lang), false);
        adds(w, "</ac:parameter>");
    }
    adds(w, "<ac:plain-text-body>");
    add_cdata(w, s, n);
    adds(w, "</ac:plain-text-body></ac:structured-macro>");
}

/* s[0..n) with its white space runs made one space and its ends trimmed,
 * as text reads (an image's alt text comes from code spans too). */
static char *fold_space(wr *w, const char *s, size_t n, size_t *len)
{
    char *f = lk_alloc(w->a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool space = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        if (!space)
            f[j++] = s[i];
        else if (j > 0 && f[j - 1] != ' ')
            f[j++] = ' ';
    }
    while (j > 0 && f[j - 1] == ' ')
        j--;
    *len = j;
    return f;
}

static void end_image(wr *w)
{
    size_t n;
    const char *alt = fold_space(w, lk_buf_str(&w->alt), w->alt.len, &n);
    adds(w, "<ac:image");
    if (n) {
        adds(w, " ac:alt=\"");
        add_xml(w, w->to, alt, n, true);
        adds(w, "\"");
    }
    adds(w, "><ri:url ri:value=\"");
    add_xml(w, w->to, w->img_src, strlen(w->img_src), true);
    adds(w, "\" /></ac:image>");
}

/* ---- md4c's callbacks ---- */

static const char *span_close(MD_SPANTYPE type)
{
    switch (type) {
    case MD_SPAN_EM: return "</em>";
    case MD_SPAN_STRONG: return "</strong>";
    case MD_SPAN_DEL: return "</s>";
    case MD_SPAN_A: return "</a>";
    default: return "";
    }
}

/* Closes the open spans down to (and with) the innermost one of this type;
 * any type: all of them. An end with no such span open writes nothing. */
static void close_spans(wr *w, MD_SPANTYPE type, bool any)
{
    int i = w->nspans - 1;
    while (i >= 0 && !any && w->spans[i] != type)
        i--;
    if (i < 0 && !any)
        return;
    while (w->nspans > (any ? 0 : i)) {
        w->nspans--;
        adds(w, span_close(w->spans[w->nspans]));
    }
}

static int fail(wr *w, lk_err e)
{
    if (w->err == LK_OK)
        w->err = e;
    return 1;
}

/* Every callback: a pending code span is settled, depth is bounded. */
static int enter(wr *w)
{
    flush_pending(w);
    if (++w->depth > LK_MD_DEPTH_MAX)
        return fail(w, LK_EINVAL);
    return w->err != LK_OK;
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    wr *w = ud;
    if (enter(w))
        return 1;
    close_spans(w, MD_SPAN_EM, true);
    char tag[32];
    switch (type) {
    case MD_BLOCK_QUOTE: adds(w, "<blockquote>"); break;
    case MD_BLOCK_UL: adds(w, "<ul>"); break;
    case MD_BLOCK_OL: {
        unsigned start = ((const MD_BLOCK_OL_DETAIL *)detail)->start;
        adds(w, start == 1 ? "<ol>" : lk_printf(w->a, "<ol start=\"%u\">", start));
        break;
    }
    case MD_BLOCK_LI: adds(w, "<li>"); break;
    case MD_BLOCK_HR: adds(w, "<hr />"); break;
    case MD_BLOCK_H:
        snprintf(tag, sizeof tag, "<h%u>", ((const MD_BLOCK_H_DETAIL *)detail)->level);
        adds(w, tag);
        break;
    case MD_BLOCK_CODE: {
        const MD_BLOCK_CODE_DETAIL *d = detail;
        w->in_code_block = true;
        lk_buf_init(&w->code, w->a, LK_STORAGE_MAX);
        w->lang = d->lang.size ? attribute(w, &d->lang) : NULL;
        break;
    }
    case MD_BLOCK_P: adds(w, "<p>"); break;
    case MD_BLOCK_TABLE: adds(w, "<table><tbody>"); break;
    case MD_BLOCK_THEAD:
        lk_buf_init(&w->head, w->a, LK_STORAGE_MAX);
        w->head_used = false;
        w->to = &w->head;
        break;
    case MD_BLOCK_TR: adds(w, "<tr>"); break;
    case MD_BLOCK_TH: adds(w, "<th>"); break;
    case MD_BLOCK_TD: adds(w, "<td>"); break;
    default: break; /* the document, a table body; raw HTML is off */
    }
    return w->err != LK_OK;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    wr *w = ud;
    flush_pending(w);
    close_spans(w, MD_SPAN_EM, true);
    w->depth--;
    char tag[32];
    switch (type) {
    case MD_BLOCK_QUOTE: adds(w, "</blockquote>"); break;
    case MD_BLOCK_UL: adds(w, "</ul>"); break;
    case MD_BLOCK_OL: adds(w, "</ol>"); break;
    case MD_BLOCK_LI: adds(w, "</li>"); break;
    case MD_BLOCK_H:
        snprintf(tag, sizeof tag, "</h%u>", ((const MD_BLOCK_H_DETAIL *)detail)->level);
        adds(w, tag);
        break;
    case MD_BLOCK_CODE: end_code_block(w); break;
    case MD_BLOCK_P: adds(w, "</p>"); break;
    case MD_BLOCK_TABLE: adds(w, "</tbody></table>"); break;
    case MD_BLOCK_THEAD:
        w->to = &w->out;
        if (w->head_used)
            add(w, &w->out, lk_buf_str(&w->head), w->head.len);
        break;
    case MD_BLOCK_TR: adds(w, "</tr>"); break;
    case MD_BLOCK_TH: adds(w, "</th>"); break;
    case MD_BLOCK_TD: adds(w, "</td>"); break;
    default: break;
    }
    return w->err != LK_OK;
}

static int enter_span(MD_SPANTYPE type, void *detail, void *ud)
{
    wr *w = ud;
    if (enter(w))
        return 1;
    w->head_used = true;
    if (w->in_img) {
        w->in_img += type == MD_SPAN_IMG;
        return 0; /* an image's text is its alt text, spans aside */
    }
    if (type == MD_SPAN_EM || type == MD_SPAN_STRONG || type == MD_SPAN_DEL || type == MD_SPAN_A)
        w->spans[w->nspans++] = type; /* depth bounds the count */
    switch (type) {
    case MD_SPAN_EM: adds(w, "<em>"); break;
    case MD_SPAN_STRONG: adds(w, "<strong>"); break;
    case MD_SPAN_DEL: adds(w, "<s>"); break;
    case MD_SPAN_A: {
        const char *href = attribute(w, &((const MD_SPAN_A_DETAIL *)detail)->href);
        adds(w, "<a href=\"");
        add_xml(w, w->to, href, strlen(href), true);
        adds(w, "\">");
        break;
    }
    case MD_SPAN_IMG:
        w->in_img = 1;
        w->img_src = attribute(w, &((const MD_SPAN_IMG_DETAIL *)detail)->src);
        lk_buf_init(&w->alt, w->a, LK_STORAGE_MAX);
        break;
    case MD_SPAN_CODE:
        w->in_code_span = true;
        lk_buf_init(&w->code, w->a, LK_STORAGE_MAX);
        break;
    default: break; /* extensions left off */
    }
    return w->err != LK_OK;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *ud)
{
    wr *w = ud;
    (void)detail;
    flush_pending(w);
    w->depth--;
    if (w->in_img) {
        w->in_img -= type == MD_SPAN_IMG;
        if (!w->in_img)
            end_image(w);
        return w->err != LK_OK;
    }
    if (type == MD_SPAN_CODE) {
        w->in_code_span = false;
        w->pending = true;
    } else {
        close_spans(w, type, false);
    }
    return w->err != LK_OK;
}

/* Text into b: decoded (entities, NUL) and, for storage, escaped. */
static void add_text(wr *w, lk_buf *b, MD_TEXTTYPE type, const char *s, size_t n, bool xml)
{
    if (type == MD_TEXT_NULLCHAR)
        add(w, b, REPLACEMENT, 3);
    else if (type == MD_TEXT_BR)
        add(w, b, xml ? "<br />" : " ", xml ? 6 : 1);
    else if (type == MD_TEXT_SOFTBR)
        add(w, b, " ", 1);
    else if (type == MD_TEXT_ENTITY && xml) {
        lk_buf d;
        lk_buf_init(&d, w->a, 64);
        add_entity(w, &d, s, n);
        add_xml(w, b, lk_buf_str(&d), d.len, false);
    } else if (type == MD_TEXT_ENTITY)
        add_entity(w, b, s, n);
    else if (xml)
        add_xml(w, b, s, n, false);
    else
        add(w, b, s, n);
}

static int on_text(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE n, void *ud)
{
    wr *w = ud;
    size_t mark = sizeof RAW_MARK - 1;
    if (w->pending && type == MD_TEXT_NORMAL && n >= mark && !memcmp(s, RAW_MARK, mark)) {
        w->pending = false;
        add_raw(w, lk_buf_str(&w->code), w->code.len);
        s += mark;
        n -= (MD_SIZE)mark;
    }
    flush_pending(w);
    if (n > 0)
        w->head_used = true;
    if (w->in_img)
        add_text(w, &w->alt, type, s, n, false);
    else if (w->in_code_block || w->in_code_span)
        add_text(w, &w->code, type == MD_TEXT_BR ? MD_TEXT_SOFTBR : type, s, n, false);
    else
        add_text(w, w->to, type, s, n, true);
    return w->err != LK_OK;
}

lk_err lk_md_to_storage(lk_arena *a, const char *md, size_t n, char **out)
{
    *out = NULL;
    if (n > LK_MD_MAX)
        return LK_ETOOBIG;
    wr *w = lk_alloc(a, sizeof *w);
    w->a = a;
    lk_buf_init(&w->out, a, LK_STORAGE_MAX);
    w->to = &w->out;
    MD_PARSER parser = {
        .flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_NOHTML | MD_FLAG_COLLAPSEWHITESPACE,
        .enter_block = enter_block,
        .leave_block = leave_block,
        .enter_span = enter_span,
        .leave_span = leave_span,
        .text = on_text,
    };
    int rc = md_parse(md, (MD_SIZE)n, &parser, w);
    flush_pending(w);
    if (w->err == LK_OK && rc != 0)
        w->err = LK_EINTERNAL; /* md4c ran out of memory */
    if (w->err == LK_OK)
        *out = lk_strndup(a, lk_buf_str(&w->out), w->out.len);
    return w->err;
}
