/* What the rooms of storage -> Markdown share (markdown.h has the rules),
 * as flow_int.h does for the browser flow: md_storage.c parses storage
 * with libxml2 and remembers each element's bytes; md_tree.c asks the tree
 * what an element is; md_out.c writes Markdown lines, blocks and verbatim
 * blocks; md_escape.c builds inline Markdown (whitespace, escaped text,
 * code spans); md_inline.c renders inline elements; md_table.c renders
 * tables; md_read.c walks the blocks. Only those files include it. */
#ifndef LK_MD_READ_INT_H
#define LK_MD_READ_INT_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "lk.h"
#include "markdown.h"

/* Where an element's bytes lie in the wrapped text (node->_private). */
typedef struct mdr_span {
    size_t start, end;
} mdr_span;

/* The storage text as parsed: inside the wrapper that declares the
 * prefixes. */
typedef struct mdr_src {
    lk_arena *a;
    const char *text; /* the wrapped input */
    size_t n;
} mdr_src;

/* An open container: a block quote ("> ") or a list item (its marker on
 * the first line, as many spaces after). */
typedef struct mdr_level {
    const char *first, *rest;
    bool used;  /* the first line was written */
    bool tight; /* a tight list's item: its blocks are not set apart */
    bool item;  /* a list item (else a block quote) */
} mdr_level;

/* Where the output stood, to take back a block written in part. */
typedef struct mdr_mark {
    size_t len;
    bool sep;
    unsigned long long used; /* lv[i].used, bit i */
} mdr_mark;

/* The Markdown being written for one page. */
typedef struct mdr_rd {
    lk_arena *a;
    const char *src; /* the wrapped input, for the bytes of verbatim elements */
    lk_buf out;
    mdr_level lv[LK_STORAGE_DEPTH_MAX + 1];
    int nlv;
    bool sep;              /* a block was written: the next one is set apart */
    size_t empty_item_end; /* where the last empty list item's line ends */
    int empty_item_depth;  /* nlv there, its own level counted */
    lk_err err;
} mdr_rd;

/* MDR_IN_LINK: a link's text, which holds no link (CommonMark §6.3);
 * MDR_IN_SPAN: a span's content (else a block's). */
enum { MDR_IN_HEADING = 1, MDR_IN_ONE_LINE = 2, MDR_IN_CELL = 4, MDR_IN_LINK = 8, MDR_IN_SPAN = 16 };

/* A span written in inline Markdown, until what follows it is known: its
 * closing delimiter ("*", "**", "~~", or a code span's "`") may not hold
 * there, and then it is written raw from at instead. */
typedef struct mdr_tail {
    const xmlNode *n; /* NULL: none */
    const char *delim;
    size_t at, end; /* where it lies in the buffer */
    int last;       /* the class of the character before its closing delimiter */
} mdr_tail;

/* Inline Markdown being built for one block (or one span's content). */
typedef struct mdr_inl {
    mdr_rd *r;
    lk_buf b;
    unsigned flags; /* MDR_IN_* */
    bool bol;       /* at the start of a line: block syntax there is escaped */
    bool start;     /* nothing written yet: whitespace is dropped (noted in lead) */
    bool lead;      /* whitespace came before the content */
    bool space;     /* a whitespace run waits for the next content */
    bool fail;      /* Markdown cannot carry it here (a '|' in a cell's code) */
    int before;     /* the class (md_delim.c) of the character before b */
    unsigned open;  /* the delimiters open around b (mdr_delim_bit) */
    size_t last_at; /* where the last mdr_emit wrote its text in b */
    /* The span that ends b, and the one just before it: their closing
     * delimiters may not hold before what follows. */
    mdr_tail tail, prev;
} mdr_inl;

/* ---- md_storage.c ---- */

/* Parses x[0..n) inside the wrapper into *doc (the caller's to free),
 * each element's bytes noted in its mdr_span; *p holds the wrapped text.
 * LK_ETOOBIG past LK_STORAGE_MAX, LK_EINVAL when not well-formed. */
lk_err mdr_storage_parse(lk_arena *a, const char *x, size_t n, mdr_src *p, xmlDocPtr *doc);

/* ---- md_out.c ---- */

/* Appends s[0..n) to b; fails closed: the first failure sticks in r->err
 * and ends the conversion. */
void mdr_put(mdr_rd *r, lk_buf *b, const char *s, size_t n);
/* mdr_put of a NUL-terminated string. */
void mdr_puts(mdr_rd *r, lk_buf *b, const char *s);
/* Starts a line: the open containers' prefixes. */
void mdr_line_start(mdr_rd *r);
/* Where the output stands now. */
mdr_mark mdr_mark_now(const mdr_rd *r);
/* Takes the output back to m (the levels open then are open now). */
void mdr_rewind(mdr_rd *r, const mdr_mark *m);
/* Before a block: a blank line after the previous one (not in a tight item). */
void mdr_begin_block(mdr_rd *r);
/* After a block: the next one is set apart. */
void mdr_end_block(mdr_rd *r);
/* s[0..n) line by line, each after the containers' prefixes. */
void mdr_write_lines(mdr_rd *r, const char *s, size_t n);
/* The longest run of c in s[0..n). */
size_t mdr_longest_run(const char *s, size_t n, char c);
/* n times c, NUL-terminated (arena). */
char *mdr_repeat(lk_arena *a, char c, size_t n);
/* True inside a list item when md4c would take a line record at this
 * offset of the output for an empty list item (md_out.c has why). */
bool mdr_looks_like_item(const mdr_rd *r, size_t offset);
/* A fenced code block with info string info around s[0..n): the fence is
 * longer than any run of backticks inside. */
void mdr_fence_block(mdr_rd *r, const char *info, const char *s, size_t n);
/* The element's bytes as they were in the input; false when unknown. */
bool mdr_element_bytes(const mdr_rd *r, const xmlNode *n, const char **s, size_t *len);
/* The element's bytes in a confluence-storage fence. */
void mdr_verbatim_block(mdr_rd *r, const xmlNode *n);

/* ---- md_tree.c ---- */

/* True when n is the element prefix:name (prefix NULL: no prefix). */
bool mdr_is_el(const xmlNode *n, const char *prefix, const char *name);
/* An attribute's value (arena), or NULL. */
char *mdr_attr(lk_arena *a, const xmlNode *n, const char *prefix, const char *name);
/* The text content of n (arena). */
char *mdr_content(lk_arena *a, const xmlNode *n);
/* XML white space. */
bool mdr_is_ws(char c);
/* True for white-space text, comments and processing instructions. */
bool mdr_blank_text(const xmlNode *n);
/* The next child at or after n that is not blank text or a comment. */
const xmlNode *mdr_skip_blank(const xmlNode *n);
/* 1-6 for h1-h6, else 0. */
int mdr_heading_level(const xmlNode *n);
/* A code macro Markdown can carry: a language (or NULL) and the body. */
bool mdr_code_macro(mdr_rd *r, const xmlNode *n, char **lang, char **body);
/* An image Markdown can carry: <ac:image ac:alt><ri:url ri:value/></ac:image>. */
bool mdr_image_link(mdr_rd *r, const xmlNode *n, char **alt, char **url);
/* An inline element Markdown can carry. */
bool mdr_known_inline(mdr_rd *r, const xmlNode *n);
/* Elements that always stand as blocks (known or kept verbatim). */
bool mdr_is_block(mdr_rd *r, const xmlNode *n);

/* ---- md_escape.c ---- */

/* An empty inline buffer for r; bol: at the start of a line. */
void mdr_inl_init(mdr_inl *in, mdr_rd *r, unsigned flags, bool bol);
/* White space met: leading (noted) or pending before the next content. */
void mdr_set_space(mdr_inl *in);
/* Writes markup (or escaped text) after any pending whitespace. */
void mdr_emit(mdr_inl *in, const char *s, size_t n);
/* What comes next in in->b starts with a character of class next: the
 * span that ends b is written raw when its closing delimiter would not
 * close there. */
void mdr_settle(mdr_inl *in, int next);
/* Element n written as a raw confluence-storage code span (or, when no
 * code span holds it, as text with in->fail set: the block stays verbatim). */
void mdr_raw_inline(mdr_inl *in, const xmlNode *n);
/* "&name;" or "&#...;" at s: text that CommonMark would read as an entity. */
bool mdr_entity_like(const char *s, size_t n);
/* A code block's language as a fence's info string (arena). */
char *mdr_info_string(lk_arena *a, const char *lang);
/* Text from storage: whitespace runs become one space; Markdown's
 * metacharacters are escaped so that the text stays text. */
void mdr_text(mdr_inl *in, const char *s, size_t n);
/* A code span of s[0..n) followed by suffix; false (nothing written) when
 * no fence is long enough. */
bool mdr_code_span(mdr_inl *in, const char *s, size_t n, const char *suffix);

/* ---- md_delim.c ---- */

/* A character neither known as whitespace nor as a letter: maybe
 * punctuation (md_delim.c has the classes). */
#define MDR_CH_OTHER (-1)
/* The class of the first character of s[0..n) (' ' when empty). */
int mdr_char_at(const char *s, size_t n);
/* The class of the last character of s[0..n) (' ' when empty). */
int mdr_char_before(const char *s, size_t n);
/* A bit per delimiter: "*", "**", "~~". */
unsigned mdr_delim_bit(const char *delim);
/* delim opens a span between two characters, inside the open ones. */
bool mdr_opens(const char *delim, int before, int after, unsigned open);
/* delim closes a span between two characters (after ' ': not known yet). */
bool mdr_closes(const char *delim, int before, int after);

/* ---- md_inline.c ---- */

/* Renders the nodes from n up to stop (NULL: the end) as inline Markdown. */
void mdr_inline_nodes(mdr_inl *in, const xmlNode *n, const xmlNode *stop, int depth);
/* The inline content, trailing breaks dropped; its length in *len. */
const char *mdr_inline_done(mdr_inl *in, size_t *len);

/* ---- md_table.c ---- */

/* A GFM table written; false (nothing written) when Markdown cannot carry t. */
bool mdr_table(mdr_rd *r, const xmlNode *t, int depth);

#endif
