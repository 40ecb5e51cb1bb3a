/* Inline Markdown being built from storage text: white space folded,
 * Markdown's metacharacters escaped so that text stays text (SPEC §10:
 * "*x*", "1. x" or "# x" read back as written), code spans, and a span
 * settled against what follows it (written raw when it would not close). */
#include <ctype.h>
#include <string.h>

#include "md_read_int.h"

void mdr_inl_init(mdr_inl *in, mdr_rd *r, unsigned flags, bool bol)
{
    memset(in, 0, sizeof *in);
    in->r = r;
    lk_buf_init(&in->b, r->a, LK_MD_MAX);
    in->flags = flags;
    in->bol = bol;
    in->start = true;
    in->before = ' ';
}

void mdr_set_space(mdr_inl *in)
{
    if (in->start)
        in->lead = true;
    else
        in->space = true;
}

void mdr_raw_inline(mdr_inl *in, const xmlNode *n)
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

/* The span that ends in->b is written raw instead when its closing
 * delimiter would not close before next (CommonMark §6.2 flanking, or a
 * run that merges with what follows: "*a**b*" reads as one em), or a code
 * span's backticks would run on into next's. The raw span starts with a
 * backtick: the span before, when it ends where this one starts, is
 * settled against that in turn. */
void mdr_settle(mdr_inl *in, int next)
{
    mdr_tail t = in->tail;
    if (!t.n || in->b.len != t.end) {
        in->tail.n = NULL;
        return;
    }
    bool code = t.delim[0] == '`';
    if (code ? next != '`' : mdr_closes(t.delim, t.last, next))
        return;
    in->b.len = t.at;
    in->tail = in->prev;
    in->prev.n = NULL;
    mdr_raw_inline(in, t.n);
}

/* Writes markup (or escaped text) after any pending whitespace. */
void mdr_emit(mdr_inl *in, const char *s, size_t n)
{
    bool space = in->space && !in->bol;
    mdr_settle(in, space ? ' ' : mdr_char_at(s, n));
    if (space)
        mdr_put(in->r, &in->b, " ", 1);
    in->space = false;
    in->start = false;
    in->bol = false;
    in->last_at = in->b.len;
    mdr_put(in->r, &in->b, s, n);
}

/* "&name;" or "&#...;": text that CommonMark would read as an entity. */
bool mdr_entity_like(const char *s, size_t n)
{
    size_t i = 1;
    while (i < n && i < 40 && (isalnum((unsigned char)s[i]) || (i == 1 && s[i] == '#')))
        i++;
    return i > 1 && i < n && s[i] == ';';
}

/* A code block's language as a fence's info string: backslashes and
 * entity-like '&' escaped, as CommonMark §4.5 reads both there. */
char *mdr_info_string(lk_arena *a, const char *lang)
{
    size_t n = strlen(lang), j = 0;
    char *s = lk_alloc(a, 2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (lang[i] == '\\' || (lang[i] == '&' && mdr_entity_like(lang + i, n - i)))
            s[j++] = '\\';
        s[j++] = lang[i];
    }
    s[j] = '\0';
    return s;
}

/* At a line's start: "# x", "> x", "- x", "+ x", "=", "1. x" stay text. */
static size_t line_start_escape(mdr_inl *in, const char *s, size_t n)
{
    if (strchr("#>-+=", s[0])) {
        char e[2] = {'\\', s[0]};
        mdr_emit(in, e, 2);
        return 1;
    }
    size_t d = 0;
    while (d < n && d < 10 && isdigit((unsigned char)s[d]))
        d++;
    if (d > 0 && d < n && (s[d] == '.' || s[d] == ')')) {
        mdr_emit(in, s, d);
        char e[2] = {'\\', s[d]};
        mdr_put(in->r, &in->b, e, 2);
        return d + 1;
    }
    return 0;
}

static bool needs_escape(const mdr_inl *in, const char *s, size_t i, size_t n)
{
    char c = s[i];
    if (strchr("\\`*_[]<~|", c))
        return true;
    if (c == '&')
        return mdr_entity_like(s + i, n - i);
    if (c == '{')
        return i + 1 < n && s[i + 1] == '=';
    return c == '#' && (in->flags & MDR_IN_HEADING);
}

/* Text from storage: whitespace runs become one space; Markdown's
 * metacharacters are escaped so that the text stays text. */
void mdr_text(mdr_inl *in, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && in->r->err == LK_OK) {
        if (mdr_is_ws(s[i])) {
            if (!in->bol || in->start)
                mdr_set_space(in);
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
            mdr_emit(in, e, 2);
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && !mdr_is_ws(s[j]) && !needs_escape(in, s, j, n))
            j++;
        mdr_emit(in, s + i, j - i);
        i = j;
    }
}

/* md4c reads code spans fenced by at most this many backticks. */
#define CODE_TICKS_MAX 32

/* A code span: backticks around, more than any run inside; a space
 * inside each end when the content starts or ends with one or a backtick.
 * False (nothing written) when no fence is long enough. */
bool mdr_code_span(mdr_inl *in, const char *s, size_t n, const char *suffix)
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
    size_t nticks = mdr_longest_run(c, n, '`') + 1;
    if (nticks > CODE_TICKS_MAX)
        return false;
    if ((in->flags & MDR_IN_CELL) && memchr(c, '|', n))
        in->fail = true;
    char *ticks = mdr_repeat(in->r->a, '`', nticks);
    bool pad = !all_spaces && (c[0] == ' ' || c[0] == '`' || c[n - 1] == ' ' || c[n - 1] == '`');
    mdr_emit(in, ticks, nticks);
    if (pad)
        mdr_put(in->r, &in->b, " ", 1);
    mdr_put(in->r, &in->b, c, n);
    if (pad)
        mdr_put(in->r, &in->b, " ", 1);
    mdr_puts(in->r, &in->b, ticks);
    mdr_puts(in->r, &in->b, suffix);
    return true;
}
