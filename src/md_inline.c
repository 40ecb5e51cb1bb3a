/* Inline storage elements as Markdown: emphasis, strikethrough, code,
 * links, images, hard breaks; the rest as raw confluence-storage spans. */
#include <string.h>

#include "md_read_int.h"

static void raw_inline(mdr_inl *in, const xmlNode *n)
{
    const char *s;
    size_t len;
    if (!mdr_element_bytes(in->r, n, &s, &len)) {
        in->r->err = LK_EINTERNAL;
        return;
    }
    if (!mdr_code_span(in, s, len, "{=confluence-storage}")) {
        in->fail = true; /* no code span holds it: the block stays verbatim */
        mdr_text(in, s, len);
    }
}

static void hard_break(mdr_inl *in)
{
    if (in->flags & MDR_IN_ONE_LINE) {
        mdr_set_space(in);
        return;
    }
    if (in->start || in->bol)
        return; /* a leading or repeated break: Markdown has none */
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
        pointy = pointy || (unsigned char)*p <= ' ' || strchr("()<>", *p);
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

/* Renders n's children as one span's content into a fresh buffer. */
static void sub_render(mdr_inl *sub, mdr_inl *in, const xmlNode *n, int depth)
{
    mdr_inl_init(sub, in->r, in->flags, false);
    mdr_inline_nodes(sub, n->children, NULL, depth + 1);
    in->fail = in->fail || sub->fail;
}

/* Delimiters around the content, whitespace moved outside them. */
static void wrap(mdr_inl *in, const xmlNode *n, const char *delim, int depth)
{
    mdr_inl sub;
    sub_render(&sub, in, n, depth);
    if (sub.lead)
        mdr_set_space(in);
    if (sub.b.len > 0) {
        mdr_emit(in, delim, strlen(delim));
        mdr_put(in->r, &in->b, lk_buf_str(&sub.b), sub.b.len);
        mdr_puts(in->r, &in->b, delim);
    }
    if (sub.space)
        mdr_set_space(in);
}

static void link(mdr_inl *in, const xmlNode *n, const char *href, int depth)
{
    mdr_inl sub;
    sub_render(&sub, in, n, depth);
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
        raw_inline(in, n);
        return;
    }
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
        }
    } else if (mdr_is_el(n, NULL, "br"))
        hard_break(in);
    else if (href)
        link(in, n, href, depth);
    else if (mdr_image_link(in->r, n, &alt, &url))
        image(in, alt, url);
    else
        raw_inline(in, n);
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
