/* Unit tests: Markdown <-> Confluence storage format (markdown.h), the
 * cases the fuzz targets found (tests/fuzz/fuzz_md_*.c): Markdown that
 * md4c read back as something else, so the round trip was no fixed
 * point. Each pins the Markdown written, so that it reads back as the
 * storage it came from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "md_cases.h"

/* ---- what the fuzz targets found ---- */

/* A lone CR in a verbatim element or a code body ends a line as LF does
 * (CommonMark §2.1): every line of the fence carries the list item's
 * indent, or the rest fell out of the item, cutting the element in two
 * (found by fuzz_md_read: "own Markdown unwritable"). */
static void test_carriage_return_in_list_item_fence(void **state)
{
    lk_arena *a = *state;
    reads(a, "<ul><li><ac:x>b\rc</ac:x></li></ul>", "- ```confluence-storage\n  <ac:x>b\n  c</ac:x>\n  ```\n");
    writes(a, "- ```confluence-storage\n  <ac:x>b\n  c</ac:x>\n  ```\n", "<ul><li><ac:x>b\nc</ac:x></li></ul>");
    reads(a,
          "<ol><li><ac:structured-macro ac:name=\"code\"><ac:plain-text-body>a&#13;&#13;b&#13;\nc"
          "</ac:plain-text-body></ac:structured-macro></li></ol>",
          "1. ```\n   a\n   \n   b\n   c\n   ```\n");
}

/* A delimiter run that would not read back as the span it stands for
 * leaves its element raw: a run touching another of the same character
 * (md4c reads "~~d~~~~s~~" as one strikethrough), a closer after
 * punctuation before a letter or an opener after a letter before
 * punctuation (CommonMark §6.2 flanking), "~~" inside "~~" (md4c pairs a
 * closer with the oldest opener), an opener before a no-break space
 * (found by fuzz_md_write: runs of nested strong and em delimiters were
 * not a fixed point). */
static void test_ambiguous_delimiters_leave_spans_raw(void **state)
{
    lk_arena *a = *state;
    both(a, "<p><em><strong><strong><strong>a</strong></strong>z</strong>b</em></p>",
         "*`<strong><strong><strong>a</strong></strong>z</strong>`{=confluence-storage}b*\n");
    both(a, "<p><s>d</s><s>s</s></p>", "`<s>d</s>`{=confluence-storage}~~s~~\n");
    both(a, "<p><em>a.</em>b x<em>.y</em> <em>a <em>b</em> c</em></p>",
         "`<em>a.</em>`{=confluence-storage}b x`<em>.y</em>`{=confluence-storage} *a *b* c*\n");
    both(a, "<p><s>a <s>b</s></s> a<em>b</em>c <em>&#160;x</em></p>",
         "~~a `<s>b</s>`{=confluence-storage}~~ a*b*c `<em>&#160;x</em>`{=confluence-storage}\n");
    /* md4c 0.4.8 lets a "*" that can also close end a "**" around it. */
    both(a, "<p><strong>.<em>.a</em> b</strong></p>", "**.`<em>.a</em>`{=confluence-storage} b**\n");
    char *s1 = to_storage(a, "*******a****z**b*");
    assert_string_equal(s1, "<p>**<em><strong><strong>a</strong></strong>z**b</em></p>");
    assert_string_equal(to_md(a, s1), "\\*\\**`<strong><strong>a</strong></strong>`{=confluence-storage}z\\*\\*b*\n");
    assert_string_equal(to_storage(a, to_md(a, s1)), s1);
}

/* A code span's closing backticks would run on into a backtick right
 * after it ("`a``b`" is one code span): the code span is then raw. */
static void test_adjacent_code_spans_stay_apart(void **state)
{
    lk_arena *a = *state;
    both(a, "<p><code>a</code><code>b</code> <code>c</code><u>d</u></p>",
         "`<code>a</code>`{=confluence-storage}`b` `<code>c</code>`{=confluence-storage}"
         "`<u>d</u>`{=confluence-storage}\n");
    both(a, "<p><code>a</code><em>b</em>c<em>*</em></p>", "`a`*b*c`<em>*</em>`{=confluence-storage}\n");
    /* A span made raw after the code span that it touches makes that raw too. */
    both(a, "<p><code>a</code><strong>x</strong><em>y</em></p>",
         "`<code>a</code>`{=confluence-storage}`<strong>x</strong>`{=confluence-storage}*y*\n");
}

/* A code block's language keeps its backslashes and entity-like '&':
 * CommonMark §4.5 reads escapes and entities in an info string (found by
 * fuzz_md_write: "```\\\\\\" lost a backslash each round). */
static void test_code_language_is_escaped(void **state)
{
    both(*state,
         "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">\\\\&amp;amp;</ac:parameter>"
         "<ac:plain-text-body><![CDATA[x]]></ac:plain-text-body></ac:structured-macro>",
         "```\\\\\\\\\\&amp;\nx\n```\n");
}

/* Where Markdown would not read a nested list back after what comes
 * before it in the item, the list stays verbatim: a first item left empty
 * ("-" under the item's text is a setext underline: found by
 * fuzz_md_write), an ordered list from 3 after the item's text (it cannot
 * interrupt a paragraph, CommonMark §5.3). A rule first in an item is
 * "___" ("- ---" is one rule). */
static void test_list_items_read_back_as_written(void **state)
{
    lk_arena *a = *state;
    both(a, "<ul><li>a<ul><li></li><li>b</li></ul></li></ul>",
         "- a\n  ```confluence-storage\n  <ul><li></li><li>b</li></ul>\n  ```\n");
    both(a, "<ul><li>a<ol start=\"3\"><li>x</li></ol></li></ul>",
         "- a\n  ```confluence-storage\n  <ol start=\"3\"><li>x</li></ol>\n  ```\n");
    both(a, "<ul><li><hr /><ul><li>x</li></ul></li></ul>", "- ___\n\n  - x\n");
    /* An empty item after another, or first on its line, stays an item. */
    both(a, "<ul><li>a</li><li></li></ul>", "- a\n- \n");
    both(a, "<ul><li><ul><li></li></ul></li></ul>", "- - \n");
}

/* md4c ends a list item at a line after a blank line that follows a
 * fence or a heading when the last line record of that block reads as an
 * empty item (its issue #6 hack: a fenced line's end or a heading's
 * start at an offset of 4 mod 256 is MD_BLOCK_LI). Inside an item such a
 * fence takes one more backtick, such a heading one more space (found by
 * fuzz_md_write: a paragraph after a code block left its item). */
static void test_block_after_fence_or_heading_stays_in_item(void **state)
{
    lk_arena *a = *state;
    char *x = lk_alloc(a, 253);
    memset(x, 'x', 252); /* "- ```\n  " is 8 bytes: the line ends at 260 */
    both(a,
         lk_printf(a,
                   "<ul><li><ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[%s]]>"
                   "</ac:plain-text-body></ac:structured-macro><p>b</p></li></ul>",
                   x),
         lk_printf(a, "- ````\n  %s\n  ````\n\n  b\n", x));
    /* An empty block's last line is its opening fence. */
    char *p = lk_alloc(a, 254);
    memset(p, 'p', 253); /* the fence after "\n\n- ```" ends at 260 */
    both(a,
         lk_printf(a,
                   "<p>%s</p><ul><li><ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[]]>"
                   "</ac:plain-text-body></ac:structured-macro><p>b</p></li></ul>",
                   p),
         lk_printf(a, "%s\n\n- ````\n  ````\n\n  b\n", p));
    both(a, "<ul><li><h1>a</h1><ul><li>x</li></ul></li></ul>", "- #  a\n\n  - x\n");
    /* Elsewhere nothing moves. */
    both(a, "<ul><li><h2>a</h2><ul><li>x</li></ul></li></ul>", "- ## a\n\n  - x\n");
    both(a, lk_printf(a, "<h1>%s</h1><h1>a</h1>", x), lk_printf(a, "# %s\n\n# a\n", x));
    /* An empty quote is left out: with it two blank lines stood in a row. */
    reads(a, "<ul><li><p>a</p><blockquote></blockquote><p>b</p></li></ul>", "- a\n\n  b\n");
}

/* A link in a link's text stays raw: Markdown links hold no link
 * (CommonMark §6.3), so "[a [b](v) c](u)" lost the outer one and the
 * block inside it came to stand in the item's text (found by
 * fuzz_md_read: not a fixed point). */
static void test_link_in_link_is_raw(void **state)
{
    lk_arena *a = *state;
    both(a, "<p><a href=\"u\">a <a href=\"v\">b</a> c</a></p>",
         "[a `<a href=\"v\">b</a>`{=confluence-storage} c](u)\n");
    both(a, "<p><a href=\"u\"><em>a <a href=\"v\">b</a></em> <img /></a></p>",
         "[*a `<a href=\"v\">b</a>`{=confluence-storage}* `<img />`{=confluence-storage}](u)\n");
}

/* A span ending in a hard break cannot close ("\\\n" is no escape: a
 * backslash escapes only punctuation); it stays raw (found by
 * fuzz_md_read: "**a\\\n**" lost its strong). */
static void test_span_ending_in_break_is_raw(void **state)
{
    both(*state, "<p><strong>a<br/></strong>b</p>", "`<strong>a<br/></strong>`{=confluence-storage}b\n");
}

/* An empty item in an item's list has no blank line after it: md4c 0.4.8
 * took the line after the blank one out of the list, indent and all (its
 * hack for "an item begins with at most one blank line"). Text beside an
 * element no code span holds (a run of 32 backticks) stays, as text
 * (found by fuzz_md_write: the item lost its text, then its block). */
static void test_empty_item_and_uncarried_text_keep_their_place(void **state)
{
    lk_arena *a = *state;
    reads(a, "<ul><li><p>a</p><ul><li><p>x</p></li><li></li></ul><p>c</p></li></ul>", "- a\n\n  - x\n\n  - \n  c\n");
    writes(a, "- a\n\n  - x\n\n  - \n  c\n", "<ul><li><p>a</p><ul><li>x</li><li></li></ul><p>c</p></li></ul>");
    char *ticks = lk_alloc(a, 33);
    memset(ticks, '`', 32);
    char *md = to_md(a, lk_printf(a, "<ul><li>a <u>%s</u></li></ul>", ticks));
    assert_string_equal(md, "- a \\<u>"
                            "\\`\\`\\`\\`\\`\\`\\`\\`"
                            "\\`\\`\\`\\`\\`\\`\\`\\`"
                            "\\`\\`\\`\\`\\`\\`\\`\\`"
                            "\\`\\`\\`\\`\\`\\`\\`\\`"
                            "\\</u>\n");
    assert_string_equal(to_md(a, to_storage(a, md)), md);
}

/* Three bullets of one kind alone on a line are a thematic break: a
 * list starting on a line that holds two takes '+' (found by
 * fuzz_md_write: "- - - " read back as a rule). */
static void test_bullet_chain_is_no_rule(void **state)
{
    lk_arena *a = *state;
    both(a, "<ul><li><ul><li><ul><li></li></ul></li></ul></li></ul>", "- - + \n");
    both(a, "<ul><li><ul><li>a</li></ul></li></ul>", "- - a\n");
}

/* An image's alt text is folded as text is: a tab or a run of spaces
 * from a code span in it is one space, or the attribute (XML 1.0 §3.3.3)
 * and the reader's folding changed it on the next round (found by
 * fuzz_md_read). */
static void test_image_alt_white_space_is_folded(void **state)
{
    lk_arena *a = *state;
    writes(a, "![`a\t\tb`  c ](u)", "<p><ac:image ac:alt=\"a b c\"><ri:url ri:value=\"u\" /></ac:image></p>");
    writes(a, "[x](<a\tb>)", "<p><a href=\"a b\">x</a></p>");
}

/* A block right inside a paragraph or a cell (a <p> in a <p>) keeps the
 * paragraph or table verbatim: as a raw span it came to stand as a block
 * of a tight item or of the cell, and read back as one (found by
 * fuzz_md_read). An empty item ending nested lists gets no blank line
 * after it either (found by fuzz_md_write). */
static void test_block_in_paragraph_and_empty_item_at_depth(void **state)
{
    lk_arena *a = *state;
    both(a, "<ul><li><p><p/></p></li></ul>", "- ```confluence-storage\n  <p><p/></p>\n  ```\n");
    both(a, "<table><tbody><tr><th><p><p>a</p></p></th></tr></tbody></table>",
         "```confluence-storage\n<table><tbody><tr><th><p><p>a</p></p></th></tr></tbody></table>\n```\n");
    both(a, "<blockquote><ul><li><ul><li><ul><li></li></ul></li></ul><ol><li>x</li></ol></li></ul></blockquote>",
         "> - - + \n>   1. x\n");
}

/* A destination holding a control character (DEL) is pointy (§6.3);
 * lists on either side of a block that writes nothing (an empty quote)
 * still take different markers (found by both targets). */
static void test_control_in_destination_and_lists_around_nothing(void **state)
{
    lk_arena *a = *state;
    both(a, "<p><a href=\"a\x7f\">x</a></p>", "[x](<a\x7f>)\n");
    reads(a, "<ol start=\"3\"><li></li></ol><blockquote></blockquote><ol start=\"3\"><li>x</li></ol>", "3. \n\n3) x\n");
}

/* A rule's line record is read for an empty item too (its first
 * character at an offset of 4 mod 256, as a heading's text): the block
 * after the blank line left the item, and a verbatim list came to stand
 * in the quote (found by fuzz_md_write). The rule moves a byte on: after
 * one more space, or on its item's first line after a wider marker. */
static void test_rule_then_blank_line_stays_in_item(void **state)
{
    lk_arena *a = *state;
    both(a, "<blockquote><ul><li><hr /><p>para</p></li></ul></blockquote>", "> -  ___\n>\n>    para\n");
    both(a, "<ul><li><ul><li><hr /><p>c</p></li></ul></li></ul>", "- -  ___\n\n     c\n");
    char *x = lk_alloc(a, 255);
    memset(x, 'x', 254); /* "- x...\n\n  " puts the rule at 260 */
    both(a, lk_printf(a, "<ul><li><p>%s</p><hr /><p>c</p></li></ul>", x), lk_printf(a, "- %s\n\n   ---\n\n  c\n", x));
    /* Elsewhere nothing moves. */
    both(a, "<ul><li><hr /><p>c</p></li></ul>", "- ___\n\n  c\n");
}

/* Text after a nested list in a tight item would continue the list's
 * last paragraph (CommonMark §5.2 lazy continuation: "- a\n  - b\n  d"
 * read "b d" as one item): the list is loose then, the text set apart. */
static void test_text_after_nested_list_keeps_its_item(void **state)
{
    lk_arena *a = *state;
    reads(a, "<ul><li>a<ul><li>b</li></ul>d</li></ul>", "- a\n\n  - b\n\n  d\n");
    both(a, "<ul><li><p>a</p><ul><li>b</li></ul><p>d</p></li></ul>", "- a\n\n  - b\n\n  d\n");
    /* With no text after it, the list stays tight. */
    both(a, "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n  - b\n- c\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_carriage_return_in_list_item_fence),
        T(test_ambiguous_delimiters_leave_spans_raw),
        T(test_adjacent_code_spans_stay_apart),
        T(test_code_language_is_escaped),
        T(test_list_items_read_back_as_written),
        T(test_block_after_fence_or_heading_stays_in_item),
        T(test_link_in_link_is_raw),
        T(test_span_ending_in_break_is_raw),
        T(test_empty_item_and_uncarried_text_keep_their_place),
        T(test_bullet_chain_is_no_rule),
        T(test_image_alt_white_space_is_folded),
        T(test_block_in_paragraph_and_empty_item_at_depth),
        T(test_control_in_destination_and_lists_around_nothing),
        T(test_rule_then_blank_line_stays_in_item),
        T(test_text_after_nested_list_keeps_its_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
