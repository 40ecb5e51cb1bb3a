/* Unit tests: HTML escaping of everything a page echoes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "page.h"

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

static void test_html_escape_five_specials(void **state)
{
    assert_string_equal(lk_html_escape(*state, "&<>\"'"), "&amp;&lt;&gt;&quot;&#39;");
}

static void test_html_escape_markup_in_text(void **state)
{
    assert_string_equal(lk_html_escape(*state, "<a href=\"x\" onclick='y'>Tom & Jerry</a>"),
                        "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;Tom &amp; Jerry&lt;/a&gt;");
    assert_string_equal(lk_html_escape(*state, "</title><script>alert(1)</script>"),
                        "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
}

static void test_html_escape_is_not_idempotent_on_entities(void **state)
{
    assert_string_equal(lk_html_escape(*state, "&amp;"), "&amp;amp;");
}

static void test_html_escape_keeps_other_bytes(void **state)
{
    assert_string_equal(lk_html_escape(*state, ""), "");
    assert_string_equal(lk_html_escape(*state, "user_123 / caf\xc3\xa9 = ok;"), "user_123 / caf\xc3\xa9 = ok;");
}

static void test_html_escape_worst_case_fits(void **state)
{
    char s[1001];
    memset(s, '"', 1000);
    s[1000] = '\0';
    char *e = lk_html_escape(*state, s);
    assert_int_equal(strlen(e), 6000);
    assert_int_equal(strncmp(e, "&quot;&quot;", 12), 0);
    assert_string_equal(e + 5994, "&quot;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_html_escape_five_specials),
        T(test_html_escape_markup_in_text),
        T(test_html_escape_is_not_idempotent_on_entities),
        T(test_html_escape_keeps_other_bytes),
        T(test_html_escape_worst_case_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
