/* What the Markdown unit tests share (test_markdown.c,
 * test_markdown_fixed_point.c): an arena per test, and conversions
 * checked both ways. Include after cmocka.h. */
#ifndef LK_TEST_MD_CASES_H
#define LK_TEST_MD_CASES_H

#include <string.h>

#include "markdown.h"

static inline int setup(void **state)
{
    *state = lk_arena_new();
    return 0;
}

static inline int teardown(void **state)
{
    lk_arena_free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Markdown written as storage, which must be exactly want. */
static inline void writes(lk_arena *a, const char *md, const char *want)
{
    char *out = NULL;
    assert_int_equal(lk_md_to_storage(a, md, strlen(md), &out), LK_OK);
    assert_string_equal(out, want);
}

/* Storage read as Markdown, which must be exactly want. */
static inline void reads(lk_arena *a, const char *xhtml, const char *want)
{
    char *out = NULL;
    assert_int_equal(lk_storage_to_md(a, xhtml, strlen(xhtml), &out), LK_OK);
    assert_string_equal(out, want);
}

/* Both ways: storage reads as md, and md writes as the same storage. */
static inline void both(lk_arena *a, const char *xhtml, const char *md)
{
    reads(a, xhtml, md);
    writes(a, md, xhtml);
}

static inline char *to_md(lk_arena *a, const char *xhtml)
{
    char *out = NULL;
    assert_int_equal(lk_storage_to_md(a, xhtml, strlen(xhtml), &out), LK_OK);
    return out;
}

static inline char *to_storage(lk_arena *a, const char *md)
{
    char *out = NULL;
    assert_int_equal(lk_md_to_storage(a, md, strlen(md), &out), LK_OK);
    return out;
}

#endif
