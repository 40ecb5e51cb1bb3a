/* Unit tests: HTML escaping of everything a page echoes, and the per-user
 * credential form: it names the profile, or "the provider", and only
 * Atlassian Cloud's form speaks of Atlassian; it shows a problem and what
 * was entered again, and a form too big for LK_PAGE_MAX is never sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
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

static int capture(void *ctx, const char *p, size_t n)
{
    return lk_buf_add(ctx, p, n) == LK_OK ? 0 : -1;
}

/* The form's HTML as a browser would get it. */
static const char *form_page(lk_arena *a, const lk_credential_form *f)
{
    lk_buf out;
    lk_buf_init(&out, a, 1 << 20);
    lk_req r;
    memset(&r, 0, sizeof(r));
    r.a = a;
    r.method = "GET";
    r.io.write = capture;
    r.io.ctx = &out;
    lk_page_credential_form(&r, 200, f);
    assert_true(r.sent);
    return lk_buf_str(&out);
}

static void test_credential_form_names_the_profile(void **state)
{
    lk_credential_form f = {.service = "Example <API>", .action = "https://b.example/cb/x", .flow = "lkf_1"};
    const char *html = form_page(*state, &f);
    assert_non_null(strstr(html, "<title>Connect Example &lt;API&gt; · Latchkey</title>"));
    assert_non_null(strstr(html, "<h1>Connect your Example &lt;API&gt; account</h1>"));
    assert_non_null(strstr(html, "at Example &lt;API&gt;, under personal access tokens"));
    assert_null(strstr(html, "OAuth"));
    assert_null(strstr(html, "tlassian"));
}

static void test_credential_form_without_a_name_says_the_provider(void **state)
{
    lk_credential_form f = {.service = NULL, .action = "https://b.example/cb/x", .flow = "lkf_1", .basic = true};
    const char *html = form_page(*state, &f);
    assert_non_null(strstr(html, "<h1>Connect your account at the provider</h1>"));
    assert_non_null(strstr(html, "Create one in your account at the provider."));
    assert_non_null(strstr(html, "Email or user name"));
    assert_null(strstr(html, "(null)"));
    assert_null(strstr(html, "tlassian"));
    f.service = "";
    html = form_page(*state, &f);
    assert_non_null(strstr(html, "<h1>Connect your account at the provider</h1>"));
}

static void test_credential_form_for_atlassian_cloud(void **state)
{
    lk_credential_form f = {.service = "Atlassian Confluence",
                            .action = "https://b.example/cb/x",
                            .flow = "lkf_1",
                            .ask_site = true,
                            .cloud = true,
                            .basic = true};
    const char *html = form_page(*state, &f);
    assert_non_null(strstr(html, "<h1>Connect your Atlassian Confluence account</h1>"));
    assert_non_null(strstr(html, "yourname.atlassian.net"));
    assert_non_null(strstr(html, "id.atlassian.com"));
    assert_non_null(strstr(html, "type=\"email\""));
}

static void test_credential_form_shows_the_problem_and_what_was_entered(void **state)
{
    lk_credential_form f = {.service = "Wiki",
                            .action = "https://b.example/cb/x",
                            .flow = "lkf_1",
                            .ask_site = true,
                            .site = "https://wiki.example\"x",
                            .problem = "The site did not accept <this> token."};
    const char *html = form_page(*state, &f);
    const char *problem =
        strstr(html, "<p class=\"problem\" role=\"alert\">The site did not accept &lt;this&gt; token.</p>");
    const char *form = strstr(html, "<form method=\"post\" action=\"https://b.example/cb/x\" autocomplete=\"off\">"
                                    "<input type=\"hidden\" name=\"flow\" value=\"lkf_1\">");
    const char *site = strstr(html, "<label for=\"site\">Server address</label><input id=\"site\" name=\"site\" "
                                    "type=\"url\" required value=\"https://wiki.example&quot;x\"");
    const char *token = strstr(html, "<label for=\"token\">Personal access token</label>");
    assert_non_null(problem);
    assert_non_null(form);
    assert_non_null(site);
    assert_non_null(token);
    assert_true(problem < form && form < site && site < token);
    assert_non_null(
        strstr(token, "<button type=\"submit\" id=\"connect\">Connect</button></form></main></body></html>\n"));
}

static void test_credential_form_too_big_fails_closed(void **state)
{
    char *big = lk_alloc(*state, LK_PAGE_MAX + 1);
    memset(big, 'x', LK_PAGE_MAX);
    big[LK_PAGE_MAX] = '\0';
    lk_credential_form f = {.service = "Wiki", .action = "https://b.example/cb/x", .flow = "lkf_1", .problem = big};
    lk_buf out;
    lk_buf_init(&out, *state, 1 << 20);
    lk_req r;
    memset(&r, 0, sizeof(r));
    r.a = *state;
    r.method = "GET";
    r.io.write = capture;
    r.io.ctx = &out;
    lk_page_credential_form(&r, 200, &f);
    assert_false(r.sent);
    assert_int_equal(out.len, 0);
    assert_int_equal(r.err, LK_EINTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_html_escape_five_specials),
        T(test_html_escape_markup_in_text),
        T(test_html_escape_is_not_idempotent_on_entities),
        T(test_html_escape_keeps_other_bytes),
        T(test_html_escape_worst_case_fits),
        T(test_credential_form_names_the_profile),
        T(test_credential_form_without_a_name_says_the_provider),
        T(test_credential_form_for_atlassian_cloud),
        T(test_credential_form_shows_the_problem_and_what_was_entered),
        T(test_credential_form_too_big_fails_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
