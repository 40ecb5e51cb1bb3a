/* Unit tests: the answer cache (cache.h): an answer stays until its tag is
 * dropped, everything is dropped, the connection changes or it is the
 * least recently used of a full cache; the bound holds whatever is
 * stored, and what a lookup lends stays readable until the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"

/* A one-row, one-column result holding v. */
static PGresult *row(const char *v)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att = {.name = (char *)"v", .format = 0, .typid = 25, .typlen = -1, .atttypmod = -1};
    assert_non_null(r);
    assert_int_equal(PQsetResultAttrs(r, 1, &att), 1);
    assert_int_equal(PQsetvalue(r, 0, 0, (char *)v, (int)strlen(v)), 1);
    return r;
}

/* Stores value v under statement "s" with parameter k, tagged "c:" + tag. */
static void put(lk_cache *c, const char *k, const char *tag, const char *v, unsigned long epoch)
{
    const char *params[] = {k};
    PGresult *r = row(v);
    lk_cache_hit hit;
    lk_cache_store(c, lk_cache_key("s", 1, params), "c:", tag, r, 0, epoch, &hit);
    assert_string_equal(PQgetvalue(hit.res, 0, 0), v);
    PQclear(r);
}

/* The value cached under parameter k, or NULL on a miss. */
static const char *get(lk_cache *c, const char *k, unsigned long epoch)
{
    const char *params[] = {k};
    char *key = lk_cache_key("s", 1, params);
    lk_cache_hit hit;
    bool found = lk_cache_find(c, key, epoch, &hit);
    free(key);
    return found ? PQgetvalue(hit.res, 0, 0) : NULL;
}

static void test_cache_answer_stays_until_dropped(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(10);
    put(c, "a", "1", "A", 1);
    assert_string_equal(get(c, "a", 1), "A");
    assert_string_equal(get(c, "a", 1), "A");
    assert_null(get(c, "b", 1));
    assert_int_equal(lk_cache_count(c), 1);
    lk_cache_free(c);
}

static void test_cache_bound_evicts_least_recently_used(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(3);
    put(c, "a", "1", "A", 1);
    put(c, "b", "2", "B", 1);
    put(c, "c", "3", "C", 1);
    assert_non_null(get(c, "a", 1)); /* b is now the least recently used */
    put(c, "d", "4", "D", 1);
    assert_int_equal(lk_cache_count(c), 3);
    assert_null(get(c, "b", 1));
    put(c, "e", "5", "E", 1); /* then c */
    assert_null(get(c, "c", 1));
    assert_string_equal(get(c, "a", 1), "A");
    assert_string_equal(get(c, "d", 1), "D");
    assert_string_equal(get(c, "e", 1), "E");
    assert_int_equal(lk_cache_count(c), 3);
    lk_cache_sweep(c);
    lk_cache_free(c);
}

static void test_cache_bound_holds_over_many_stores(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(100);
    char k[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "%d", i);
        put(c, k, k, k, 1);
        assert_true(lk_cache_count(c) <= 100);
        if (i % 64 == 0)
            lk_cache_sweep(c);
    }
    for (int i = 4900; i < 5000; i++) {
        snprintf(k, sizeof(k), "%d", i);
        assert_string_equal(get(c, k, 1), k);
    }
    assert_null(get(c, "4899", 1));
    lk_cache_free(c);
}

static void test_cache_drop_tag_drops_only_its_entries(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(10);
    put(c, "a", "1", "A", 1);
    put(c, "a2", "1", "A2", 1); /* same row under another key */
    put(c, "b", "2", "B", 1);
    put(c, "b1", "11", "B1", 1); /* a tag that starts alike */
    lk_cache_drop_tag(c, "c:1");
    assert_null(get(c, "a", 1));
    assert_null(get(c, "a2", 1));
    assert_string_equal(get(c, "b", 1), "B");
    assert_string_equal(get(c, "b1", 1), "B1");
    assert_int_equal(lk_cache_count(c), 2);
    lk_cache_drop_tag(c, "k:2"); /* another kind, same id */
    assert_string_equal(get(c, "b", 1), "B");
    lk_cache_drop_tag(c, "*");
    assert_int_equal(lk_cache_count(c), 0);
    assert_null(get(c, "b", 1));
    lk_cache_free(c);
}

static void test_cache_drop_all_then_store_again(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(2);
    put(c, "a", "1", "A", 1);
    put(c, "b", "2", "B", 1);
    lk_cache_drop_all(c);
    assert_int_equal(lk_cache_count(c), 0);
    assert_null(get(c, "a", 1));
    put(c, "a", "1", "A2", 1);
    put(c, "c", "3", "C", 1);
    put(c, "d", "4", "D", 1);
    assert_null(get(c, "a", 1));
    assert_string_equal(get(c, "d", 1), "D");
    lk_cache_free(c);
}

static void test_cache_other_connection_is_never_answered(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(10);
    lk_cache_follow_conn(c, 1);
    put(c, "a", "1", "A", 1);
    put(c, "b", "2", "B", 1);
    assert_null(get(c, "a", 2)); /* read on connection 1, asked on 2 */
    assert_int_equal(lk_cache_count(c), 1);
    lk_cache_follow_conn(c, 1); /* the same connection: kept */
    assert_string_equal(get(c, "b", 1), "B");
    lk_cache_follow_conn(c, 2); /* a reconnect: everything goes */
    assert_int_equal(lk_cache_count(c), 0);
    assert_null(get(c, "b", 2));
    lk_cache_free(c);
}

static void test_cache_dropped_entry_lent_until_sweep(void **state)
{
    (void)state;
    lk_cache *c = lk_cache_new(1);
    const char *params[] = {"a"};
    PGresult *r = row("A");
    lk_cache_hit hit;
    lk_cache_store(c, lk_cache_key("s", 1, params), "c:", "1", r, 0, 1, &hit);
    PQclear(r);
    *hit.obj = lk_strdup(hit.obj_arena, "decoded");
    put(c, "b", "2", "B", 1); /* evicts a */
    lk_cache_drop_all(c);
    assert_string_equal(PQgetvalue(hit.res, 0, 0), "A");
    assert_string_equal(*hit.obj, "decoded");
    lk_cache_sweep(c);
    lk_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_answer_stays_until_dropped),
        cmocka_unit_test(test_cache_bound_evicts_least_recently_used),
        cmocka_unit_test(test_cache_bound_holds_over_many_stores),
        cmocka_unit_test(test_cache_drop_tag_drops_only_its_entries),
        cmocka_unit_test(test_cache_drop_all_then_store_again),
        cmocka_unit_test(test_cache_other_connection_is_never_answered),
        cmocka_unit_test(test_cache_dropped_entry_lent_until_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
