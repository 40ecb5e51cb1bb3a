/* Markdown being written from storage: lines inside the open containers
 * (quotes, list items), blocks set apart, fenced blocks, and the verbatim
 * confluence-storage blocks that carry an element's bytes unchanged. */
#include <string.h>

#include "md_read_int.h"

/* Appends fail closed: the first failure sticks and ends the conversion. */
void mdr_put(mdr_rd *r, lk_buf *b, const char *s, size_t n)
{
    if (r->err == LK_OK && lk_buf_add(b, s, n) != LK_OK)
        r->err = LK_ETOOBIG;
}

void mdr_puts(mdr_rd *r, lk_buf *b, const char *s)
{
    mdr_put(r, b, s, strlen(s));
}

void mdr_line_start(mdr_rd *r)
{
    for (int i = 0; i < r->nlv; i++) {
        mdr_puts(r, &r->out, r->lv[i].used ? r->lv[i].rest : r->lv[i].first);
        r->lv[i].used = true;
    }
}

mdr_mark mdr_mark_now(const mdr_rd *r)
{
    mdr_mark m = {r->out.len, r->sep, 0};
    for (int i = 0; i < r->nlv; i++)
        m.used |= (unsigned long long)r->lv[i].used << i;
    return m;
}

void mdr_rewind(mdr_rd *r, const mdr_mark *m)
{
    r->out.len = m->len;
    if (r->out.p)
        r->out.p[r->out.len] = '\0';
    r->sep = m->sep;
    for (int i = 0; i < r->nlv; i++)
        r->lv[i].used = (m->used >> i) & 1;
}

/* An empty line inside the open containers ("" or ">"). */
static void blank_line(mdr_rd *r)
{
    size_t start = r->out.len;
    for (int i = 0; i < r->nlv && r->lv[i].used; i++)
        mdr_puts(r, &r->out, r->lv[i].rest);
    while (r->err == LK_OK && r->out.len > start && r->out.p[r->out.len - 1] == ' ')
        r->out.len--;
    if (r->out.p)
        r->out.p[r->out.len] = '\0';
    mdr_put(r, &r->out, "\n", 1);
}

/* One of the first n levels is a list item. */
static bool item_below(const mdr_rd *r, int n)
{
    for (int i = 0; i < n && i < r->nlv; i++)
        if (r->lv[i].item)
            return true;
    return false;
}

static bool in_item(const mdr_rd *r)
{
    return item_below(r, r->nlv);
}

/* No blank line follows an empty list item of a list inside an item:
 * md4c 0.4.8 takes the line after that blank one out of that list, indent
 * and all (its hack for "an item begins with at most one blank line"). */
void mdr_begin_block(mdr_rd *r)
{
    bool tight = r->nlv > 0 && r->lv[r->nlv - 1].tight;
    bool after_empty = r->out.len > 0 && r->out.len == r->empty_item_end && item_below(r, r->empty_item_depth - 1);
    if (r->sep && !tight && !after_empty)
        blank_line(r);
    r->sep = false;
}

void mdr_end_block(mdr_rd *r)
{
    r->sep = true;
}

/* s[0..n) line by line, each after the containers' prefixes. A lone
 * "\r" ends a line as "\n" and "\r\n" do (CommonMark §2.1): written as
 * it came, the rest of its line would lack the prefixes and fall out of
 * the list item or quote (a verbatim element cut in two). XML reads the
 * three alike (XML 1.0 §2.11), so "\n" stands for each. */
void mdr_write_lines(mdr_rd *r, const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t end = i;
        while (end < n && s[end] != '\n' && s[end] != '\r')
            end++;
        mdr_line_start(r);
        mdr_put(r, &r->out, s + i, end - i);
        mdr_put(r, &r->out, "\n", 1);
        if (end == n)
            break;
        i = end + (s[end] == '\r' && end + 1 < n && s[end + 1] == '\n' ? 2 : 1);
    }
}

size_t mdr_longest_run(const char *s, size_t n, char c)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        run = s[i] == c ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

char *mdr_repeat(lk_arena *a, char c, size_t n)
{
    char *s = lk_alloc(a, n + 1);
    memset(s, c, n);
    return s;
}

/* md4c (0.4.8 and since) ends a list item at a line that follows two
 * blank lines or a blank line after a block that closed itself (a fence,
 * an ATX heading, a thematic break) when the last 8 bytes of its block
 * store read as an empty item (the hack for its issue #6): they are the
 * last line of that block, whose first field (a fenced line's end, a
 * heading's text or a rule's start) becomes the block type, and
 * MD_BLOCK_LI is 4. Inside a list item, such an offset is moved by a byte. */
bool mdr_looks_like_item(const mdr_rd *r, size_t offset)
{
    return in_item(r) && (offset & 0xFF) == 4;
}

/* A fenced code block: longer than any run of backticks inside (and one
 * longer where the end of its last line would look like an item). */
void mdr_fence_block(mdr_rd *r, const char *info, const char *s, size_t n)
{
    size_t ticks = mdr_longest_run(s, n, '`') + 1;
    char *fence = mdr_repeat(r->a, '`', ticks < 3 ? 3 : ticks);
    mdr_begin_block(r);
    mdr_mark m = mdr_mark_now(r);
    for (int tries = 0; tries < 2; tries++) {
        mdr_line_start(r);
        mdr_puts(r, &r->out, fence);
        mdr_puts(r, &r->out, info);
        mdr_put(r, &r->out, "\n", 1);
        if (n)
            mdr_write_lines(r, s, n);
        if (!mdr_looks_like_item(r, r->out.len - 1))
            break; /* md4c keeps the opening line: the last of an empty block */
        mdr_rewind(r, &m);
        fence = lk_printf(r->a, "%s`", fence);
    }
    mdr_line_start(r);
    mdr_puts(r, &r->out, fence);
    mdr_put(r, &r->out, "\n", 1);
    mdr_end_block(r);
}

/* The element's bytes as they were in the input. */
bool mdr_element_bytes(const mdr_rd *r, const xmlNode *n, const char **s, size_t *len)
{
    const mdr_span *sp = n->_private;
    if (!sp || sp->end <= sp->start)
        return false;
    *s = r->src + sp->start;
    *len = sp->end - sp->start;
    return true;
}

void mdr_verbatim_block(mdr_rd *r, const xmlNode *n)
{
    const char *s;
    size_t len;
    if (!mdr_element_bytes(r, n, &s, &len)) {
        r->err = LK_EINTERNAL;
        return;
    }
    mdr_fence_block(r, "confluence-storage", s, len);
}
