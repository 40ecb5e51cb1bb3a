/* Unit tests: the storage -> Markdown cache (mdcache.h): a hit gives what
 * converting gives, only the same bytes hit, the budget and the entry
 * count bound it (the least recently used goes first), failures are not
 * kept, and a budget of 0 turns it off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "markdown.h"
#include "mdcache.h"

static int setup(void **state)
{
    lk_mdcache_budget(1u << 20);
    lk_mdcache_clear();
    *state = lk_arena_new();
    return 0;
}

static int teardown(void **state)
{
    lk_arena_free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static char *cached(lk_arena *a, const char *x)
{
    char *out = NULL;
    assert_int_equal(lk_storage_to_md_cached(a, x, strlen(x), &out), LK_OK);
    return out;
}

static char *direct(lk_arena *a, const char *x)
{
    char *out = NULL;
    assert_int_equal(lk_storage_to_md(a, x, strlen(x), &out), LK_OK);
    return out;
}

static void hit_is_the_conversion(void **state)
{
    lk_arena *a = *state;
    const char *x = "<h1>T</h1><p>a <strong>b</strong></p>";
    assert_string_equal(cached(a, x), direct(a, x));
    char *again = cached(a, x);
    assert_string_equal(again, "# T\n\na **b**\n");
    lk_mdcache_stats s = lk_mdcache_stats_now();
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    /* The answer is the caller's: changing it changes no later hit. */
    again[0] = 'X';
    assert_string_equal(cached(a, x), "# T\n\na **b**\n");
}

/* Same length, one byte apart, and a prefix: each converted apart. */
static void only_the_same_bytes_hit(void **state)
{
    lk_arena *a = *state;
    assert_string_equal(cached(a, "<p>aaaaaaaaaa</p>"), "aaaaaaaaaa\n");
    assert_string_equal(cached(a, "<p>aaaaaaaaab</p>"), "aaaaaaaaab\n");
    char *out = NULL;
    assert_int_equal(lk_storage_to_md_cached(a, "<p>aaaaaaaaaa</p>", 8, &out), LK_EINVAL);
    assert_int_equal(lk_mdcache_stats_now().hits, 0);
    assert_int_equal(lk_mdcache_stats_now().entries, 2);
    /* Long pages one byte apart where the hash does not look (it samples):
     * the comparison tells them apart. */
    char *p1 = lk_alloc(a, 2001), *p2 = lk_alloc(a, 2001);
    memset(p1, 'a', 2000);
    memcpy(p1, "<p>", 3);
    memcpy(p1 + 1996, "</p>", 4);
    memcpy(p2, p1, 2000);
    p2[266] = 'b';
    assert_string_not_equal(cached(a, p1), cached(a, p2));
    assert_int_equal(lk_mdcache_stats_now().hits, 0);
}

static void failures_are_not_kept(void **state)
{
    lk_arena *a = *state;
    char *out = NULL;
    for (int i = 0; i < 2; i++)
        assert_int_equal(lk_storage_to_md_cached(a, "<p>open", 7, &out), LK_EINVAL);
    lk_mdcache_stats s = lk_mdcache_stats_now();
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.misses, 2);
}

/* A page of about size bytes, numbered. */
static char *page(lk_arena *a, int k, size_t size)
{
    char *s = lk_alloc(a, size + 64);
    int n = snprintf(s, size + 64, "<p>page %d ", k);
    while ((size_t)n < size)
        n += snprintf(s + n, size + 64 - (size_t)n, "word ");
    strcpy(s + n, "</p>");
    return s;
}

static void budget_drops_least_recently_used(void **state)
{
    lk_arena *a = *state;
    lk_mdcache_budget(50 * 1024); /* three 8 KB pages with their Markdown */
    char *p[4];
    for (int k = 0; k < 4; k++)
        p[k] = page(a, k, 8 * 1024);
    cached(a, p[0]);
    cached(a, p[1]);
    cached(a, p[2]);
    cached(a, p[0]); /* p[0] is now the most recently used: p[1] goes first */
    cached(a, p[3]);
    lk_mdcache_stats s = lk_mdcache_stats_now();
    assert_true(s.bytes <= 50 * 1024);
    assert_int_equal(s.entries, 3);
    unsigned long long hits = s.hits;
    cached(a, p[0]);
    cached(a, p[2]);
    cached(a, p[3]);
    assert_int_equal(lk_mdcache_stats_now().hits, hits + 3);
    cached(a, p[1]);
    assert_int_equal(lk_mdcache_stats_now().hits, hits + 3);
    /* A smaller budget drops what no longer fits; one past half of the
     * budget is converted and not kept. */
    lk_mdcache_budget(30 * 1024);
    assert_int_equal(lk_mdcache_stats_now().entries, 1);
    assert_true(lk_mdcache_stats_now().bytes <= 30 * 1024);
    lk_mdcache_clear();
    cached(a, page(a, 9, 10 * 1024));
    assert_int_equal(lk_mdcache_stats_now().entries, 0);
}

static void entry_count_is_bounded(void **state)
{
    lk_arena *a = *state;
    for (int k = 0; k < LK_MDCACHE_ENTRIES + 10; k++)
        cached(a, lk_printf(a, "<p>%d</p>", k));
    assert_int_equal(lk_mdcache_stats_now().entries, LK_MDCACHE_ENTRIES);
    unsigned long long hits = lk_mdcache_stats_now().hits;
    cached(a, lk_printf(a, "<p>%d</p>", LK_MDCACHE_ENTRIES + 9)); /* the newest stays */
    cached(a, "<p>0</p>");                                        /* the oldest went */
    assert_int_equal(lk_mdcache_stats_now().hits, hits + 1);
}

static void budget_zero_turns_it_off(void **state)
{
    lk_arena *a = *state;
    cached(a, "<p>x</p>");
    lk_mdcache_budget(0);
    assert_int_equal(lk_mdcache_stats_now().entries, 0);
    assert_string_equal(cached(a, "<p>x</p>"), "x\n");
    assert_int_equal(lk_mdcache_stats_now().entries, 0);
    assert_int_equal(lk_mdcache_stats_now().hits, 0);
}

/* A tool result's entry answers only lookups of its kind and its exact
 * key (NUL bytes inside included); keeping it twice keeps one entry. */
static void kinds_and_keys_are_apart(void **state)
{
    lk_arena *a = *state;
    char *v = NULL;
    size_t n = 0;
    lk_memo_put(LK_MEMO_TOOL_RESULT, "<p>x</p>", 8, "{\"r\":1}", 7);
    assert_false(lk_memo_get(a, LK_MEMO_MARKDOWN, "<p>x</p>", 8, &v, &n));
    assert_string_equal(cached(a, "<p>x</p>"), "x\n");
    assert_true(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "<p>x</p>", 8, &v, &n));
    assert_int_equal(n, 7);
    assert_string_equal(v, "{\"r\":1}");
    lk_memo_put(LK_MEMO_TOOL_RESULT, "t\0a\0body", 9, "A", 1);
    lk_memo_put(LK_MEMO_TOOL_RESULT, "t\0b\0body", 9, "B", 1);
    lk_memo_put(LK_MEMO_TOOL_RESULT, "t\0b\0body", 9, "B", 1);
    assert_true(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "t\0a\0body", 9, &v, &n));
    assert_string_equal(v, "A");
    assert_true(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "t\0b\0body", 9, &v, &n));
    assert_string_equal(v, "B");
    assert_false(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "t\0c\0body", 9, &v, &n));
    assert_false(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "t\0a\0bod", 8, &v, &n));
    assert_int_equal(lk_mdcache_stats_now().entries, 4);
    lk_mdcache_budget(0);
    assert_false(lk_memo_get(a, LK_MEMO_TOOL_RESULT, "t\0a\0body", 9, &v, &n));
    lk_memo_put(LK_MEMO_TOOL_RESULT, "k", 1, "v", 1);
    assert_int_equal(lk_mdcache_stats_now().entries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(hit_is_the_conversion),    T(only_the_same_bytes_hit),
        T(failures_are_not_kept),    T(budget_drops_least_recently_used),
        T(entry_count_is_bounded),   T(budget_zero_turns_it_off),
        T(kinds_and_keys_are_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
