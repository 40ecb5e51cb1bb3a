/* Unit tests: the per-request arena and the capped buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "buf.h"

static int setup(void **state)
{
    *state = lk_arena_new();
    return 0;
}

static int teardown(void **state)
{
    lk_arena_free(*state);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- lk_buf ---- */

static void test_buf_starts_empty(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 10);
    assert_string_equal(lk_buf_str(&b), "");
    assert_int_equal(b.len, 0);
}

static void test_buf_appends_up_to_cap(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 10);
    assert_int_equal(lk_buf_adds(&b, "12345"), LK_OK);
    assert_int_equal(lk_buf_add(&b, "67890", 5), LK_OK);
    assert_string_equal(lk_buf_str(&b), "1234567890");
    assert_int_equal(b.len, 10);
}

static void test_buf_refuses_past_cap_and_keeps_content(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 10);
    assert_int_equal(lk_buf_adds(&b, "12345"), LK_OK);
    assert_int_equal(lk_buf_adds(&b, "678901"), LK_ETOOBIG);
    assert_string_equal(lk_buf_str(&b), "12345");
    assert_int_equal(b.len, 5);
    assert_int_equal(lk_buf_adds(&b, "67890"), LK_OK);
    assert_int_equal(lk_buf_addc(&b, 'x'), LK_ETOOBIG);
    assert_int_equal(lk_buf_printf(&b, "%d", 1), LK_ETOOBIG);
    assert_int_equal(lk_buf_add(&b, "", 0), LK_OK);
    assert_string_equal(lk_buf_str(&b), "1234567890");
    assert_int_equal(b.len, 10);
}

static void test_buf_refuses_overflowing_length(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 100);
    assert_int_equal(lk_buf_adds(&b, "ab"), LK_OK);
    assert_int_equal(lk_buf_add(&b, "x", SIZE_MAX), LK_ETOOBIG);
    assert_int_equal(lk_buf_add(&b, "x", SIZE_MAX - 1), LK_ETOOBIG);
    assert_string_equal(lk_buf_str(&b), "ab");
}

static void test_buf_zero_cap_holds_nothing(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 0);
    assert_int_equal(lk_buf_addc(&b, 'a'), LK_ETOOBIG);
    assert_string_equal(lk_buf_str(&b), "");
}

static void test_buf_grows_and_keeps_bytes(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 1 << 20);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(lk_buf_addc(&b, (char)('a' + i % 26)), LK_OK);
    assert_int_equal(b.len, 5000);
    assert_int_equal(strlen(lk_buf_str(&b)), 5000);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(b.p[i], 'a' + i % 26);
}

static void test_buf_holds_binary(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 16);
    assert_int_equal(lk_buf_add(&b, "a\0b", 3), LK_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "a\0b", 4);
}

static void test_buf_printf_formats(void **state)
{
    lk_buf b;
    lk_buf_init(&b, *state, 64);
    assert_int_equal(lk_buf_printf(&b, "%s=%d", "n", 42), LK_OK);
    assert_int_equal(lk_buf_printf(&b, "&%s", "x"), LK_OK);
    assert_string_equal(lk_buf_str(&b), "n=42&x");
}

/* ---- lk_arena ---- */

static char order[16];
static size_t order_n;

static void record(void *p)
{
    order[order_n++] = *(const char *)p;
    order[order_n] = '\0';
}

static void test_arena_defers_run_at_reset_last_first(void **state)
{
    lk_arena *a = *state;
    order_n = 0;
    order[0] = '\0';
    lk_arena_defer(a, record, "1");
    lk_arena_defer(a, record, "2");
    lk_arena_defer(a, record, "3");
    assert_string_equal(order, "");
    lk_arena_reset(a);
    assert_string_equal(order, "321");
    lk_arena_reset(a); /* each runs once */
    assert_string_equal(order, "321");
    lk_arena_defer(a, record, "4");
    lk_arena_reset(a);
    assert_string_equal(order, "3214");
}

static void test_arena_free_runs_pending_defers(void **state)
{
    (void)state;
    order_n = 0;
    order[0] = '\0';
    lk_arena *a = lk_arena_new();
    lk_arena_defer(a, record, "a");
    lk_arena_defer(a, record, "b");
    lk_arena_free(a);
    assert_string_equal(order, "ba");
    lk_arena_free(NULL);
}

static void test_arena_alloc_zeroed_and_aligned(void **state)
{
    lk_arena *a = *state;
    for (size_t n = 1; n < 100; n += 7) {
        unsigned char *p = lk_alloc(a, n);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xaa, n);
    }
}

static void test_arena_large_and_small_allocations_coexist(void **state)
{
    lk_arena *a = *state;
    char *small1 = lk_strdup(a, "small-one");
    char *big = lk_alloc(a, 100000);
    memset(big, 'b', 100000);
    char *small2 = lk_strdup(a, "small-two");
    char *big2 = lk_alloc(a, 5000);
    memset(big2, 'c', 5000);
    assert_string_equal(small1, "small-one");
    assert_string_equal(small2, "small-two");
    assert_int_equal(big[99999], 'b');
    lk_arena_reset(a);
    char *after = lk_strdup(a, "after-reset");
    assert_string_equal(after, "after-reset");
}

static void test_arena_string_helpers(void **state)
{
    lk_arena *a = *state;
    assert_null(lk_strdup(a, NULL));
    assert_string_equal(lk_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(lk_strndup(a, "ab", 0), "");
    char *m = lk_memdup(a, "x\0y", 3);
    assert_memory_equal(m, "x\0y\0", 4);
    assert_string_equal(lk_printf(a, "%s-%03d", "id", 7), "id-007");
    assert_string_equal(lk_printf(a, "%s", ""), "");
    /* lk_join: spans back to back, NULs inside kept, one after the end. */
    lk_span spans[] = {{"ab", 3}, {"", 0}, {NULL, 0}, {"c\0d", 3}};
    size_t n = 99;
    char *j = lk_join(a, spans, 4, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(j, "ab\0c\0d\0", 7);
    assert_string_equal(lk_join(a, spans, 0, NULL), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_buf_starts_empty),
        T(test_buf_appends_up_to_cap),
        T(test_buf_refuses_past_cap_and_keeps_content),
        T(test_buf_refuses_overflowing_length),
        T(test_buf_zero_cap_holds_nothing),
        T(test_buf_grows_and_keeps_bytes),
        T(test_buf_holds_binary),
        T(test_buf_printf_formats),
        T(test_arena_defers_run_at_reset_last_first),
        T(test_arena_free_runs_pending_defers),
        T(test_arena_alloc_zeroed_and_aligned),
        T(test_arena_large_and_small_allocations_coexist),
        T(test_arena_string_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
