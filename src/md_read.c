/* Storage format -> CommonMark (markdown.h has the rules): the walk over
 * the blocks of a page (paragraphs, headings, quotes, lists, code, rules,
 * tables), each written in Markdown or kept verbatim. md_read_int.h names
 * the rooms it calls. */
#include <libxml/tree.h>
#include <string.h>

#include "md_read_int.h"
#include "text.h"

static void flow(mdr_rd *r, const xmlNode *n, int depth);

/* False (nothing written) when Markdown cannot carry the content, unless
 * lossy: then what cannot be a code span is written as text. */
static bool paragraph(mdr_rd *r, const xmlNode *first, const xmlNode *stop, int depth, bool lossy)
{
    mdr_inl in;
    mdr_inl_init(&in, r, 0, true);
    mdr_inline_nodes(&in, first, stop, depth);
    size_t len;
    const char *s = mdr_inline_done(&in, &len);
    if (in.fail && !lossy)
        return false;
    if (len == 0)
        return true; /* an empty paragraph: Markdown has none */
    mdr_begin_block(r);
    mdr_write_lines(r, s, len);
    mdr_end_block(r);
    return true;
}

static void heading(mdr_rd *r, const xmlNode *n, int hlevel, int depth)
{
    mdr_inl in;
    mdr_inl_init(&in, r, MDR_IN_HEADING | MDR_IN_ONE_LINE, false);
    mdr_inline_nodes(&in, n->children, NULL, depth + 1);
    size_t len;
    const char *s = mdr_inline_done(&in, &len);
    mdr_begin_block(r);
    mdr_line_start(r);
    mdr_put(r, &r->out, "######", (size_t)hlevel);
    if (len)
        mdr_put(r, &r->out, " ", 1);
    if (mdr_looks_like_item(r, r->out.len))
        mdr_put(r, &r->out, " ", 1); /* md4c reads the heading's text from after the spaces */
    mdr_put(r, &r->out, s, len);
    mdr_put(r, &r->out, "\n", 1);
    mdr_end_block(r);
}

static bool push(mdr_rd *r, const char *first, const char *rest, bool tight, bool item)
{
    if (r->nlv >= LK_STORAGE_DEPTH_MAX)
        return false;
    r->lv[r->nlv++] = (mdr_level){first, rest, false, tight, item};
    return true;
}

/* A quote with nothing in it is left out: its blank line and the next
 * block's would stand two in a row (see mdr_looks_like_item). */
static void quote(mdr_rd *r, const xmlNode *n, int depth)
{
    mdr_mark m = mdr_mark_now(r);
    mdr_begin_block(r);
    if (!push(r, "> ", "> ", false, false)) {
        r->err = LK_EINTERNAL; /* depth bounds the levels: never */
        return;
    }
    flow(r, n->children, depth + 1);
    bool empty = !r->lv[r->nlv - 1].used;
    r->nlv--;
    if (empty)
        mdr_rewind(r, &m);
    else
        mdr_end_block(r);
}

/* A thematic break. After a "-" marker "---" would make the line one
 * rule. md4c reads a rule's line record (from its first character) for
 * an empty item as it does a heading's (mdr_looks_like_item): then the
 * rule moves a byte on, after one more space of indent or, on its item's
 * first line, after a marker one space wider (and the item's lines with it). */
static void rule(mdr_rd *r)
{
    mdr_level *top = r->nlv ? &r->lv[r->nlv - 1] : NULL;
    bool marker = top && !top->used;
    const char *indent = "";
    mdr_begin_block(r);
    mdr_mark m = mdr_mark_now(r);
    mdr_line_start(r);
    if (mdr_looks_like_item(r, r->out.len)) {
        mdr_rewind(r, &m);
        if (marker && top->item) {
            top->first = lk_printf(r->a, "%s ", top->first);
            top->rest = lk_printf(r->a, "%s ", top->rest);
        } else {
            indent = " ";
        }
        mdr_line_start(r);
    }
    mdr_puts(r, &r->out, indent);
    mdr_puts(r, &r->out, marker ? "___\n" : "---\n");
    mdr_end_block(r);
}

/* An item's children that need a blank line before them: a block other
 * than a list, or text after a list (without one it would continue the
 * paragraph that ends the list, CommonMark §5.2 lazy continuation). */
static bool item_needs_blank(mdr_rd *r, const xmlNode *li)
{
    bool after_list = false;
    for (const xmlNode *c = li->children; c; c = c->next) {
        bool is_list = mdr_is_el(c, NULL, "ul") || mdr_is_el(c, NULL, "ol");
        if (c->type == XML_ELEMENT_NODE && mdr_is_block(r, c) && !is_list)
            return true;
        if (after_list && (c->type == XML_ELEMENT_NODE ? mdr_known_inline(r, c) : !mdr_blank_text(c)))
            return true;
        after_list = after_list || is_list;
    }
    return false;
}

/* A list's items are its element children, all <li>; a list is tight
 * unless an item holds a child that needs a blank line before it. */
static bool list_shape(mdr_rd *r, const xmlNode *n, bool *tight)
{
    *tight = true;
    bool any = false;
    for (const xmlNode *li = mdr_skip_blank(n->children); li; li = mdr_skip_blank(li->next)) {
        if (!mdr_is_el(li, NULL, "li"))
            return false;
        any = true;
        *tight = *tight && !item_needs_blank(r, li);
    }
    return any;
}

/* *alt: this list follows one of the same kind, so it takes the other
 * marker ('*' for '-', ')' for '.'), or Markdown would join the two.
 * False (nothing written) where Markdown would not read the list back
 * after the blocks before it in a list item (CommonMark §5.2, §5.3): an
 * ordered list from a number other than 1 after a tight item's text, or
 * a first item left empty ("-" under text is a setext underline). */
static bool list(mdr_rd *r, const xmlNode *n, bool ordered, bool alt, int depth)
{
    bool tight;
    if (!list_shape(r, n, &tight))
        return false;
    long long num = 1;
    const char *start = ordered ? mdr_attr(r->a, n, NULL, "start") : NULL;
    if (start && !lk_parse_int(start, 0, 999999000, &num))
        num = 1;
    const mdr_level *in = r->nlv ? &r->lv[r->nlv - 1] : NULL;
    bool after = in && in->item && in->used;
    if (after && in->tight && num != 1)
        return false;
    /* Three bullets of one kind alone on a line are a rule: a list that
     * starts on a line holding two of its kind takes '+'. */
    char bullet = alt ? '*' : '-';
    int same = 0;
    for (int i = r->nlv - 1; i >= 0 && !r->lv[i].used; i--)
        same += r->lv[i].first[0] == bullet;
    char *mark = lk_printf(r->a, "%c ", same >= 2 ? '+' : bullet);
    mdr_mark m = mdr_mark_now(r);
    mdr_begin_block(r);
    for (const xmlNode *li = mdr_skip_blank(n->children); li && r->err == LK_OK; li = mdr_skip_blank(li->next)) {
        char *first = ordered ? lk_printf(r->a, "%lld%c ", num++, alt ? ')' : '.') : mark;
        if (!push(r, first, mdr_repeat(r->a, ' ', strlen(first)), tight, true)) {
            r->err = LK_EINTERNAL; /* depth bounds the levels: never */
            return true;
        }
        flow(r, li->children, depth + 1);
        bool empty = !r->lv[r->nlv - 1].used;
        if (empty && after && li == mdr_skip_blank(n->children)) {
            r->nlv--;
            mdr_rewind(r, &m);
            return false;
        }
        if (empty) {
            mdr_begin_block(r); /* a loose list's blank line comes before it */
            mdr_write_lines(r, "", 0);
            r->empty_item_end = r->out.len; /* and none after it (mdr_begin_block) */
            r->empty_item_depth = r->nlv;
        }
        r->nlv--;
        r->sep = true;
    }
    mdr_end_block(r);
    return true;
}

/* A block Markdown can carry, written; false (nothing written) if not.
 * prev: the kind of list this one follows directly ('u', 'o' or 0). */
static bool known_block(mdr_rd *r, const xmlNode *n, int depth, char prev)
{
    char *lang, *body;
    int h = mdr_heading_level(n);
    if (mdr_is_el(n, NULL, "p"))
        return paragraph(r, n->children, NULL, depth + 1, false);
    if (h) {
        heading(r, n, h, depth);
    } else if (mdr_is_el(n, NULL, "ul") || mdr_is_el(n, NULL, "ol")) {
        bool ol = mdr_is_el(n, NULL, "ol");
        return list(r, n, ol, prev == (ol ? 'o' : 'u'), depth);
    } else if (mdr_is_el(n, NULL, "blockquote")) {
        quote(r, n, depth);
    } else if (mdr_is_el(n, NULL, "hr")) {
        rule(r);
    } else if (mdr_is_el(n, NULL, "pre")) {
        const char *c = mdr_content(r->a, n);
        mdr_fence_block(r, "", c, strlen(c));
    } else if (mdr_code_macro(r, n, &lang, &body)) {
        mdr_fence_block(r, lang ? mdr_info_string(r->a, lang) : "", body, strlen(body));
    } else {
        return mdr_is_el(n, NULL, "table") && mdr_table(r, n, depth);
    }
    return true;
}

/* A block, verbatim when Markdown cannot carry it or it lies too deep. */
static void block(mdr_rd *r, const xmlNode *n, int depth, char *prev)
{
    size_t len = r->out.len;
    bool done = depth < LK_STORAGE_DEPTH_MAX && known_block(r, n, depth, *prev);
    if (done && r->out.len == len)
        return; /* nothing written (an empty quote): the lists around still touch */
    if (!done)
        mdr_verbatim_block(r, n);
    char kind = 0;
    if (done && mdr_is_el(n, NULL, "ul"))
        kind = 'u';
    else if (done && mdr_is_el(n, NULL, "ol"))
        kind = 'o';
    /* A third list in a row may take the first marker again. */
    if (kind == *prev)
        kind = 0;
    *prev = kind;
}

/* The children of a container that holds blocks and text alike (the page,
 * a quote, an item): runs of inline content become paragraphs; an unknown
 * element with no text beside it is a block of its own. */
static void flow(mdr_rd *r, const xmlNode *n, int depth)
{
    char prev = 0;
    while (n && r->err == LK_OK) {
        if (n->type == XML_ELEMENT_NODE && mdr_is_block(r, n)) {
            block(r, n, depth, &prev);
            n = n->next;
            continue;
        }
        const xmlNode *run = n;
        bool text_beside = false;
        for (; n && !(n->type == XML_ELEMENT_NODE && mdr_is_block(r, n)); n = n->next)
            text_beside = text_beside || (n->type == XML_ELEMENT_NODE ? mdr_known_inline(r, n) : !mdr_blank_text(n));
        if (text_beside) {
            size_t len = r->out.len;
            (void)paragraph(r, run, n, depth, true); /* a run has no bytes of its own to keep */
            if (r->out.len != len)
                prev = 0;
            continue;
        }
        for (const xmlNode *m = run; m != n; m = m->next) {
            if (m->type == XML_ELEMENT_NODE) {
                mdr_verbatim_block(r, m);
                prev = 0;
            }
        }
    }
}

static lk_err render(lk_arena *a, const char *src, const xmlNode *root, char **out)
{
    mdr_rd *r = lk_alloc(a, sizeof *r);
    r->a = a;
    r->src = src;
    lk_buf_init(&r->out, a, LK_MD_MAX);
    flow(r, root ? root->children : NULL, 0);
    if (r->err == LK_OK)
        *out = lk_strndup(a, lk_buf_str(&r->out), r->out.len);
    return r->err;
}

lk_err lk_storage_to_md(lk_arena *a, const char *xhtml, size_t n, char **out)
{
    *out = NULL;
    mdr_src p;
    xmlDocPtr doc;
    lk_err rc = mdr_storage_parse(a, xhtml, n, &p, &doc);
    if (rc != LK_OK)
        return rc;
    rc = render(a, p.text, xmlDocGetRootElement(doc), out);
    xmlFreeDoc(doc);
    return rc;
}
