/* Markdown <-> Confluence storage format (SPEC §10): pages are read and
 * written as CommonMark. md4c reads Markdown (md_write.c), libxml2 reads
 * storage format (md_read.c); neither direction parses by hand.
 *
 * Both ways: headings h1-h6, paragraphs, strong, em, inline code,
 * strikethrough (<s>, ~~), links, hard line breaks, horizontal rules,
 * block quotes, ordered and unordered lists (nested), code blocks <->
 * the "code" macro (language parameter, CDATA body, "]]>" split across
 * two sections), GFM tables <-> <table><tbody><tr><th>/<td>, images as
 * links: ![alt](url) <-> <ac:image ac:alt="alt"><ri:url ri:value="url"/>.
 *
 * What Markdown cannot carry stays verbatim, the bytes of the element as
 * they were in the input (entities, quoting and spacing included):
 *  - in block position (a macro, a layout, a task list, an attachment
 *    image on its own line...) as a fenced block:
 *        ```confluence-storage
 *        <ac:structured-macro ac:name="toc"/>
 *        ```
 *  - inside text (a mention, an emoticon, a status macro, <u>, <span>,
 *    a page link) as a code span with Pandoc's raw attribute:
 *        `<ac:emoticon ac:name="smile"/>`{=confluence-storage}
 *    Markdown code spans hold no line breaks: a line break inside such an
 *    element reads as a space. An element holding a run of 32 backticks
 *    fits no code span (md4c's limit): its paragraph stays verbatim, and
 *    text beside blocks (in a list item) keeps it as text.
 * Writing turns either form back into those bytes, after checking that
 * they are well-formed storage (else LK_EINVAL: nothing unchecked is sent).
 * An element is verbatim when it is unknown, carries attributes that
 * matter (colspan, ac:width, a code macro's title...) or holds what its
 * Markdown form cannot (a table cell with a list, a table without one
 * header row...), or where its Markdown would read back as something
 * else: a span whose delimiters would not open or close there (CommonMark
 * §6.2 flanking, a run touching one of the same character: "*a.*b",
 * "`a``b`"), a nested list that cannot follow its item's text (an empty
 * first item, an ordered list not from 1). Known elements lose
 * presentation attributes (style, class, data-layout, local ids, column
 * widths); comments are dropped; an empty quote is left out.
 * A table without a header row reads with an empty one, which writes back
 * as no header row.
 *
 * Raw HTML in Markdown is text: it is escaped, never passed through.
 * Text read from storage escapes Markdown metacharacters, so "*x*",
 * "1. x" or "# x" stay text; named HTML entities (&nbsp;, &mdash;) read as
 * their characters; storage written escapes & < > (and " in attributes)
 * and replaces bytes XML cannot hold (invalid UTF-8, controls) with U+FFFD;
 * in an attribute a tab or line end is a space (as XML reads it), and an
 * image's alt text is folded like text.
 * Line endings become "\n". */
#ifndef LK_MARKDOWN_H
#define LK_MARKDOWN_H

#include "arena.h"
#include "lk.h"

/* The largest input and output of either direction (a Confluence page
 * body is at most a few MB). */
#define LK_MD_MAX (4u << 20)
#define LK_STORAGE_MAX (4u << 20)
/* Markdown nesting (blocks and spans open at once) written as storage. */
#define LK_MD_DEPTH_MAX 64
/* Storage nesting rendered as Markdown; deeper elements stay verbatim. */
#define LK_STORAGE_DEPTH_MAX 32

/* CommonMark (with GFM tables and strikethrough) md[0..n) as storage XHTML
 * in *out (arena, NUL-terminated). LK_ETOOBIG past LK_MD_MAX in or
 * LK_STORAGE_MAX out; LK_EINVAL for nesting past LK_MD_DEPTH_MAX or a
 * confluence-storage block or span that is not well-formed storage. */
lk_err lk_md_to_storage(lk_arena *a, const char *md, size_t n, char **out);

/* Storage XHTML xhtml[0..n) as CommonMark in *out (arena, NUL-terminated).
 * LK_ETOOBIG past LK_STORAGE_MAX in or LK_MD_MAX out; LK_EINVAL when the
 * input is not well-formed XML inside a root element that declares the
 * ac:, ri: and at: prefixes and knows the HTML named entities. */
lk_err lk_storage_to_md(lk_arena *a, const char *xhtml, size_t n, char **out);

/* LK_OK when xhtml[0..n) is well-formed storage in the sense above. */
lk_err lk_storage_check(const char *xhtml, size_t n);

#endif
