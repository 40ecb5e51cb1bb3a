/* Inline storage elements as Markdown: emphasis, strikethrough, code,
 * links, images, hard breaks; the rest as raw confluence-storage spans. */
#include <string.h>

#include "md_read_int.h"

/* The span just written (from at to the end of b) ends with delim. */
static void set_tail(mdr_inl *in, const xmlNode *n, const char *delim, size_t at, int last)
{
    in->prev = in->tail.n && in->tail.end == at ? in->tail : (mdr_tail){0};
    in->tail = (mdr_tail){n, delim, at, in->b.len, last};
}

static void hard_break(mdr_inl *in)
{
    if (in->flags & MDR_IN_ONE_LINE) {
        mdr_set_space(in);
        return;
    }
    if (in->start || in->bol)
        return; /* a leading or repeated break: Markdown has none */
    mdr_settle(in, '\\');
    mdr_put(in->r, &in->b, "\\\n", 2);
    in->bol = true;
    in->space = false;
}

/* A link destination: bare when it can be, else in <>. Its emphasis and
 * link delimiters ('*', '_', '~', '`', '[', ']') are escaped: md4c takes
 * one inside a destination for a delimiter that pairs with one outside
 * the link and loses the real one (the fuzz targets' "~[](~~)~" and
 * "*[](*)*"); a backslash escape reads back as the character. */
static void destination(mdr_inl *in, const char *u)
{
    bool pointy = !*u;
    for (const char *p = u; *p; p++)
        pointy = pointy || (unsigned char)*p <= ' ' || *p == 0x7F || strchr("()<>", *p); /* §6.3: no controls bare */
    if (pointy)
        mdr_put(in->r, &in->b, "<", 1);
    size_t n = strlen(u);
    for (size_t i = 0; i < n; i++) {
        if (u[i] == '\n' || u[i] == '\r')
            mdr_puts(in->r, &in->b, u[i] == '\n' ? "%0A" : "%0D");
        else if (strchr("\\<>~*_`[]", u[i]) || (u[i] == '&' && mdr_entity_like(u + i, n - i)))
            mdr_put(in->r, &in->b, (char[]){'\\', u[i]}, 2);
        else
            mdr_put(in->r, &in->b, u + i, 1);
    }
    if (pointy)
        mdr_put(in->r, &in->b, ">", 1);
}

/* Renders n's children as one span's content into a fresh buffer, after
 * the delimiter open (a link's text: "[", with no emphasis open). */
static void sub_render(mdr_inl *sub, mdr_inl *in, const xmlNode *n, int depth, const char *open)
{
    size_t len = strlen(open);
    mdr_inl_init(sub, in->r, in->flags | MDR_IN_SPAN | (open[0] == '[' ? MDR_IN_LINK : 0u), false);
    sub->before = (unsigned char)open[len - 1];
    sub->open = open[0] == '[' ? 0 : in->open | mdr_delim_bit(open);
    mdr_inline_nodes(sub, n->children, NULL, depth + 1);
    mdr_settle(sub, open[0] == '[' ? ']' : open[0]);
    in->fail = in->fail || sub->fail;
}

/* The class of the character before what is written next. */
static int before_next(const mdr_inl *in)
{
    return in->b.len ? mdr_char_before(in->b.p, in->b.len) : in->before;
}

/* Delimiters around the content, whitespace moved outside them; the
 * element raw where they would not read back as its span. */
static void wrap(mdr_inl *in, const xmlNode *n, const char *delim, int depth)
{
    mdr_inl sub;
    sub_render(&sub, in, n, depth, delim);
    if (sub.lead)
        mdr_set_space(in);
    if (sub.b.len > 0) {
        mdr_settle(in, in->space && !in->bol ? ' ' : delim[0]);
        mdr_emit(in, "", 0);
        int first = mdr_char_at(sub.b.p, sub.b.len), last = mdr_char_before(sub.b.p, sub.b.len);
        if (!mdr_opens(delim, before_next(in), first, in->open) || !mdr_closes(delim, last, ' ')) {
            mdr_raw_inline(in, n);
        } else {
            size_t at = in->b.len;
            mdr_puts(in->r, &in->b, delim);
            mdr_put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
            mdr_puts(in->r, &in->b, delim);
            set_tail(in, n, delim, at, last);
        }
    }
    if (sub.space)
        mdr_set_space(in);
}

static void link(mdr_inl *in, const xmlNode *n, const char *href, int depth)
{
    mdr_inl sub;
    sub_render(&sub, in, n, depth, "[");
    if (sub.lead)
        mdr_set_space(in);
    mdr_emit(in, "[", 1);
    mdr_put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
    mdr_put(in->r, &in->b, "](", 2);
    destination(in, href);
    mdr_put(in->r, &in->b, ")", 1);
    if (sub.space)
        mdr_set_space(in);
}

static void image(mdr_inl *in, const char *alt, const char *url)
{
    mdr_inl sub;
    mdr_inl_init(&sub, in->r, in->flags, false);
    mdr_text(&sub, alt, strlen(alt));
    mdr_emit(in, "![", 2);
    mdr_put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
    mdr_put(in->r, &in->b, "](", 2);
    destination(in, url);
    mdr_put(in->r, &in->b, ")", 1);
}

static void inline_element(mdr_inl *in, const xmlNode *n, int depth)
{
    char *alt, *url;
    const char *href = mdr_is_el(n, NULL, "a") ? mdr_attr(in->r->a, n, NULL, "href") : NULL;
    if (depth >= LK_STORAGE_DEPTH_MAX) {
        mdr_raw_inline(in, n);
        return;
    }
    /* A block as a raw span right in a paragraph or cell would stand as a
     * block of the item or cell once written (a tight item's paragraph
     * has no <p>): the paragraph or table stays verbatim instead. */
    if (!(in->flags & MDR_IN_SPAN) && mdr_is_block(in->r, n))
        in->fail = true;
    if (mdr_is_el(n, NULL, "strong") || mdr_is_el(n, NULL, "b"))
        wrap(in, n, "**", depth);
    else if (mdr_is_el(n, NULL, "em") || mdr_is_el(n, NULL, "i"))
        wrap(in, n, "*", depth);
    else if (mdr_is_el(n, NULL, "s") || mdr_is_el(n, NULL, "del") || mdr_is_el(n, NULL, "strike"))
        wrap(in, n, "~~", depth);
    else if (mdr_is_el(n, NULL, "code")) {
        const char *c = mdr_content(in->r->a, n);
        if (!mdr_code_span(in, c, strlen(c), "")) {
            in->fail = true;
            mdr_text(in, c, strlen(c));
        } else if (*c) {
            set_tail(in, n, "`", in->last_at, '`');
        }
    } else if (mdr_is_el(n, NULL, "br"))
        hard_break(in);
    else if (href && !(in->flags & MDR_IN_LINK))
        link(in, n, href, depth); /* in a link's text, a link stays raw */
    else if (mdr_image_link(in->r, n, &alt, &url))
        image(in, alt, url);
    else
        mdr_raw_inline(in, n);
}

void mdr_inline_nodes(mdr_inl *in, const xmlNode *n, const xmlNode *stop, int depth)
{
    for (; n && n != stop && in->r->err == LK_OK; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
            mdr_text(in, (const char *)n->content, n->content ? strlen((const char *)n->content) : 0);
        else if (n->type == XML_ELEMENT_NODE)
            inline_element(in, n, depth);
    }
}

/* The inline content, with trailing breaks dropped. */
const char *mdr_inline_done(mdr_inl *in, size_t *len)
{
    while (in->b.len >= 2 && in->b.p[in->b.len - 1] == '\n' && in->b.p[in->b.len - 2] == '\\')
        in->b.len -= 2;
    if (in->b.p)
        in->b.p[in->b.len] = '\0';
    *len = in->b.len;
    return lk_buf_str(&in->b);
}
