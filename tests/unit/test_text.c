/* Unit tests: text codecs and the SPEC §2 grammar checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

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

/* ---- percent-encoding ---- */

static void test_pct_decode_plus_and_escapes(void **state)
{
    (void)state;
    lk_arena *a = lk_arena_new();
    char *out;
    size_t n;
    assert_int_equal(lk_pct_decode(a, "a+b%20c%2F", 10, true, &out, &n), LK_OK);
    assert_string_equal(out, "a b c/");
    assert_int_equal(lk_pct_decode(a, "a+b", 3, false, &out, &n), LK_OK);
    assert_string_equal(out, "a+b");
    assert_int_equal(lk_pct_decode(a, "%4", 2, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "%zz", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "x%", 2, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(a, "%00", 3, true, &out, &n), LK_OK);
    assert_int_equal(n, 1);
    lk_arena_free(a);
}

static void test_pct_decode_hex_either_case(void **state)
{
    char *out;
    size_t n;
    assert_int_equal(lk_pct_decode(*state, "%2f%2F%c3%A9", 12, false, &out, &n), LK_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "//\xc3\xa9", 4);
}

static void test_pct_decode_keeps_embedded_nul_in_length(void **state)
{
    char *out;
    size_t n;
    assert_int_equal(lk_pct_decode(*state, "ab%00cd", 7, true, &out, &n), LK_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "ab\0cd", 6);
    assert_int_equal(strlen(out), 2);
}

static void test_pct_decode_reads_only_n_bytes(void **state)
{
    char *out;
    size_t n;
    /* The '%' at the end of the window is malformed even if bytes follow. */
    assert_int_equal(lk_pct_decode(*state, "ab%41", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(*state, "ab%41", 2, true, &out, &n), LK_OK);
    assert_string_equal(out, "ab");
    assert_int_equal(lk_pct_decode(*state, "", 0, true, &out, &n), LK_OK);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
    /* outlen is optional */
    assert_int_equal(lk_pct_decode(*state, "%41", 3, true, &out, NULL), LK_OK);
    assert_string_equal(out, "A");
}

static void test_pct_decode_refuses_half_escapes(void **state)
{
    char *out;
    size_t n;
    assert_int_equal(lk_pct_decode(*state, "%g0", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(*state, "%0g", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(*state, "%+1", 3, true, &out, &n), LK_EINVAL);
    assert_int_equal(lk_pct_decode(*state, "%", 1, true, &out, &n), LK_EINVAL);
}

static void test_pct_encode_keeps_only_unreserved(void **state)
{
    assert_string_equal(lk_pct_encode(*state, "AZaz09-._~"), "AZaz09-._~");
    assert_string_equal(lk_pct_encode(*state, "a b+c/d?e=f&g%h#i:j@k"), "a%20b%2Bc%2Fd%3Fe%3Df%26g%25h%23i%3Aj%40k");
    assert_string_equal(lk_pct_encode(*state, "\xc3\xa9\x01\x7f"), "%C3%A9%01%7F");
    assert_string_equal(lk_pct_encode(*state, ""), "");
}

static void test_pct_round_trip(void **state)
{
    const char *s = "https://app.example.com/cb?x=1&y=\xe2\x82\xac +%";
    char *out;
    size_t n;
    char *enc = lk_pct_encode(*state, s);
    assert_int_equal(lk_pct_decode(*state, enc, strlen(enc), true, &out, &n), LK_OK);
    assert_string_equal(out, s);
    assert_int_equal(n, strlen(s));
}

/* ---- base64 ---- */

static void test_b64_encode_rfc4648_vectors(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        const unsigned char *p = (const unsigned char *)plain[i];
        assert_string_equal(lk_b64_encode(*state, p, strlen(plain[i])), enc[i]);
        assert_string_equal(lk_b64url_encode(*state, p, strlen(plain[i])), url[i]);
    }
}

static void test_b64_alphabets_differ_in_62_and_63(void **state)
{
    static const unsigned char p[] = {0xfb, 0xff, 0xbf};
    assert_string_equal(lk_b64_encode(*state, p, 3), "+/+/");
    assert_string_equal(lk_b64url_encode(*state, p, 3), "-_-_");
    assert_string_equal(lk_b64_encode(*state, p, 2), "+/8=");
    assert_string_equal(lk_b64url_encode(*state, p, 2), "-_8");
}

static void test_b64_decode_padding_optional(void **state)
{
    unsigned char *out;
    size_t n;
    assert_int_equal(lk_b64_decode(*state, "Zm9vYg==", 8, &out, &n), LK_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(lk_b64_decode(*state, "Zm9vYg", 6, &out, &n), LK_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(lk_b64_decode(*state, "Zm9vYmE=", 8, &out, &n), LK_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "fooba", 5);
    assert_int_equal(lk_b64_decode(*state, "Zm9vYmE", 7, &out, &n), LK_OK);
    assert_int_equal(n, 5);
    assert_int_equal(lk_b64_decode(*state, "", 0, &out, &n), LK_OK);
    assert_int_equal(n, 0);
}

static void test_b64_decode_accepts_both_alphabets(void **state)
{
    unsigned char *out;
    size_t n;
    assert_int_equal(lk_b64_decode(*state, "+/+/", 4, &out, &n), LK_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(lk_b64_decode(*state, "-_-_", 4, &out, &n), LK_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
}

static void test_b64_decode_refuses_invalid_chars(void **state)
{
    unsigned char *out;
    size_t n;
    assert_int_equal(lk_b64_decode(*state, "Zm9v!", 5, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zm 9v", 5, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zm9v\n", 5, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zm9v\0Zm9", 8, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zg==Zg==", 8, &out, &n), LK_EINVAL); /* '=' inside */
    assert_int_equal(lk_b64_decode(*state, "Zm9v.A", 6, &out, &n), LK_EINVAL);
}

static void test_b64_decode_refuses_impossible_length(void **state)
{
    unsigned char *out;
    size_t n;
    assert_int_equal(lk_b64_decode(*state, "Zm9vY", 5, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Z", 1, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Z===", 4, &out, &n), LK_EINVAL);
}

static void test_b64_decode_refuses_nonzero_trailing_bits(void **state)
{
    unsigned char *out;
    size_t n;
    /* "f" is Zg; Zh..Zv carry the same byte with stray low bits. */
    assert_int_equal(lk_b64_decode(*state, "Zh==", 4, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zv", 2, &out, &n), LK_EINVAL);
    /* "fo" is Zm8; Zm9 differs only in the two unused bits. */
    assert_int_equal(lk_b64_decode(*state, "Zm9=", 4, &out, &n), LK_EINVAL);
    assert_int_equal(lk_b64_decode(*state, "Zm8=", 4, &out, &n), LK_OK);
    assert_memory_equal(out, "fo", 2);
}

static void test_b64_round_trip_all_lengths(void **state)
{
    unsigned char in[70];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(in); len++) {
        unsigned char *out;
        size_t n;
        char *s = lk_b64_encode(*state, in, len);
        assert_int_equal(strlen(s) % 4, 0);
        assert_int_equal(lk_b64_decode(*state, s, strlen(s), &out, &n), LK_OK);
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(out, in, len);
        char *u = lk_b64url_encode(*state, in, len);
        assert_null(strpbrk(u, "+/="));
        assert_int_equal(lk_b64_decode(*state, u, strlen(u), &out, &n), LK_OK);
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(out, in, len);
    }
}

/* ---- hex ---- */

static void test_hex_encode_lower_case(void **state)
{
    static const unsigned char p[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    char *s = lk_hex_encode(*state, p, sizeof(p));
    assert_string_equal(s, "0001abcdefff");
    assert_int_equal(strlen(s), 12);
    assert_string_equal(lk_hex_encode(*state, p, 0), "");
}

/* ---- UTF-8 ---- */

static void test_utf8_accepts_valid_sequences(void **state)
{
    (void)state;
    assert_true(lk_utf8_printable("", 0));
    assert_true(lk_utf8_printable(" ~", 2));
    assert_true(lk_utf8_printable("\xc2\xa0", 2));         /* U+00A0, first after C1 */
    assert_true(lk_utf8_printable("\xc3\xa9", 2));         /* e acute */
    assert_true(lk_utf8_printable("\xe2\x82\xac", 3));     /* euro */
    assert_true(lk_utf8_printable("\xed\x9f\xbf", 3));     /* U+D7FF, before surrogates */
    assert_true(lk_utf8_printable("\xee\x80\x80", 3));     /* U+E000, after surrogates */
    assert_true(lk_utf8_printable("\xf0\x9f\x98\x80", 4)); /* emoji */
    assert_true(lk_utf8_printable("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
}

static void test_utf8_refuses_controls(void **state)
{
    (void)state;
    assert_false(lk_utf8_printable("\x00", 1));
    assert_false(lk_utf8_printable("a\tb", 3));
    assert_false(lk_utf8_printable("\x1f", 1));
    assert_false(lk_utf8_printable("\x7f", 1));
    assert_false(lk_utf8_printable("\xc2\x80", 2)); /* U+0080 */
    assert_false(lk_utf8_printable("\xc2\x85", 2)); /* NEL */
    assert_false(lk_utf8_printable("\xc2\x9f", 2)); /* U+009F */
}

static void test_utf8_refuses_overlongs(void **state)
{
    (void)state;
    assert_false(lk_utf8_printable("\xc0\x80", 2));
    assert_false(lk_utf8_printable("\xc0\xaf", 2));
    assert_false(lk_utf8_printable("\xc1\xbf", 2));
    assert_false(lk_utf8_printable("\xe0\x80\xaf", 3));
    assert_false(lk_utf8_printable("\xe0\x9f\xbf", 3));
    assert_false(lk_utf8_printable("\xf0\x80\x80\xaf", 4));
    assert_false(lk_utf8_printable("\xf0\x8f\xbf\xbf", 4));
}

static void test_utf8_refuses_surrogates_and_beyond_unicode(void **state)
{
    (void)state;
    assert_false(lk_utf8_printable("\xed\xa0\x80", 3)); /* U+D800 */
    assert_false(lk_utf8_printable("\xed\xbf\xbf", 3)); /* U+DFFF */
    assert_false(lk_utf8_printable("\xf4\x90\x80\x80", 4));
    assert_false(lk_utf8_printable("\xf5\x80\x80\x80", 4));
    assert_false(lk_utf8_printable("\xf8\x88\x80\x80\x80", 5));
    assert_false(lk_utf8_printable("\xff", 1));
    assert_false(lk_utf8_printable("\xfe", 1));
}

static void test_utf8_refuses_truncated_and_stray_bytes(void **state)
{
    (void)state;
    assert_false(lk_utf8_printable("\xc3", 1));
    assert_false(lk_utf8_printable("\xe2\x82", 2));
    assert_false(lk_utf8_printable("\xf0\x9f\x98", 3));
    assert_false(lk_utf8_printable("a\xc3\xa9\xe2", 4));
    assert_false(lk_utf8_printable("\x80", 1));     /* lone continuation */
    assert_false(lk_utf8_printable("\xc3\x28", 2)); /* continuation missing */
    assert_false(lk_utf8_printable("\xe2\x28\xa1", 3));
    assert_false(lk_utf8_printable("\xf0\x9f\x98\x41", 4));
    /* The length limits the read even if the bytes would continue. */
    assert_false(lk_utf8_printable("\xc3\xa9", 1));
}

/* ---- SPEC §2 grammars ---- */

static void test_instance_id_grammar(void **state)
{
    (void)state;
    assert_true(lk_valid_instance_id("user_123", 8));
    assert_true(lk_valid_instance_id("\xc3\xa9t\xc3\xa9", 5));
    assert_false(lk_valid_instance_id("", 0));
    assert_false(lk_valid_instance_id("a\nb", 3));
    assert_false(lk_valid_instance_id("a\x7f", 2));
    assert_false(lk_valid_instance_id("\xc2\x85", 2));     /* C1 control */
    assert_false(lk_valid_instance_id("\xc0\xaf", 2));     /* overlong */
    assert_false(lk_valid_instance_id("\xed\xa0\x80", 3)); /* surrogate */
    char big[257];
    memset(big, 'a', sizeof(big));
    assert_true(lk_valid_instance_id(big, 255));
    assert_false(lk_valid_instance_id(big, 256));
}

static void test_instance_id_allows_spaces_refuses_nul(void **state)
{
    (void)state;
    assert_true(lk_valid_instance_id("user 1", 6));
    assert_true(lk_valid_instance_id("team/a:b@c", 10));
    assert_false(lk_valid_instance_id("user\0x", 6));
    assert_false(lk_valid_instance_id("user\r", 5));
    /* 255 bytes of multibyte characters is still fine; one byte more is not */
    char big[256];
    for (size_t i = 0; i + 1 < sizeof(big); i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    assert_true(lk_valid_instance_id(big, 254));
    assert_false(lk_valid_instance_id(big, 255)); /* ends mid-character */
}

static void test_profile_name_grammar(void **state)
{
    (void)state;
    assert_true(lk_valid_profile_name("confluence", 10));
    assert_true(lk_valid_profile_name("a_b-1", 5));
    assert_false(lk_valid_profile_name("-a", 2));
    assert_false(lk_valid_profile_name("Conf", 4));
    assert_false(lk_valid_profile_name("a/b", 3));
    char big[64];
    memset(big, 'a', sizeof(big));
    assert_true(lk_valid_profile_name(big, 63));
    assert_false(lk_valid_profile_name(big, 64));
}

static void test_profile_name_edges(void **state)
{
    (void)state;
    assert_true(lk_valid_profile_name("0", 1));
    assert_true(lk_valid_profile_name("9jira", 5));
    assert_true(lk_valid_profile_name("a-", 2));
    assert_false(lk_valid_profile_name("", 0));
    assert_false(lk_valid_profile_name("_a", 2));
    assert_false(lk_valid_profile_name("a.b", 3));
    assert_false(lk_valid_profile_name("a b", 3));
    assert_false(lk_valid_profile_name("a\0b", 3));
    assert_false(lk_valid_profile_name("caf\xc3\xa9", 5));
    assert_false(lk_valid_profile_name("..", 2));
}

/* ---- comparisons and time ---- */

static void test_ct_equal_compares_every_byte(void **state)
{
    (void)state;
    assert_true(lk_ct_equal("abcdef", "abcdef", 6));
    assert_false(lk_ct_equal("abcdef", "xbcdef", 6));
    assert_false(lk_ct_equal("abcdef", "abcdex", 6));
    assert_true(lk_ct_equal("abcdef", "abcdex", 5));
    assert_true(lk_ct_equal("a", "b", 0));
    assert_false(lk_ct_equal("a\0b", "a\0c", 3));
}

static void test_parse_int_strict_decimal_in_range(void **state)
{
    (void)state;
    long long v = 7;
    assert_true(lk_parse_int("0", 0, 10, &v));
    assert_int_equal(v, 0);
    assert_true(lk_parse_int("3000", 0, 3000, &v));
    assert_int_equal(v, 3000);
    assert_true(lk_parse_int("-5", -10, 10, &v));
    assert_int_equal(v, -5);
    assert_true(lk_parse_int("999999999999999999", 0, INT64_MAX, &v));
    assert_int_equal(v, 999999999999999999LL);
    assert_true(lk_parse_int("9223372036854775807", 0, INT64_MAX, &v));
    assert_true(v == INT64_MAX);
    assert_true(lk_parse_int("-9223372036854775808", INT64_MIN, 0, &v));
    assert_true(v == INT64_MIN);
    assert_true(lk_parse_int("000000000000000000000042", 0, 100, &v));
    assert_int_equal(v, 42);
    assert_false(lk_parse_int("9223372036854775808", 0, INT64_MAX, &v));
    assert_false(lk_parse_int("-9223372036854775809", INT64_MIN, 0, &v));
    v = 7;
    const char *bad[] = {"",     "-",   "+1",   " 1",  "1 ",      "1x",
                         "0x10", "1e3", "3001", "-11", "3001000", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(lk_parse_int(bad[i], -10, 3000, &v));
    assert_false(lk_parse_int(NULL, 0, 1, &v));
    assert_int_equal(v, 7); /* untouched on failure */
    assert_true(lk_parse_int_n("12ab", 2, 0, 99, &v));
    assert_int_equal(v, 12);
    assert_false(lk_parse_int_n("1\0002", 3, 0, 999, &v));
}

static void test_ieq_ascii_case_only(void **state)
{
    (void)state;
    assert_true(lk_ieq("Bearer", "bEARER"));
    assert_true(lk_ieq("", ""));
    assert_false(lk_ieq("abc", "abd"));
    assert_false(lk_ieq("abc", "abcd"));
    assert_false(lk_ieq("abcd", "abc"));
    assert_false(lk_ieq("\xc3\xa9", "\xc3\x89")); /* no Unicode folding */
    assert_false(lk_ieq("@", "`"));               /* 0x40 vs 0x60 */
    assert_false(lk_ieq("[", "{"));
    assert_true(lk_ieqn("HOST.example", 4, "host"));
    assert_false(lk_ieqn("HOST.example", 5, "host"));
}

static void test_time_iso_is_rfc3339_utc(void **state)
{
    assert_string_equal(lk_time_iso(*state, 0), "1970-01-01T00:00:00Z");
    assert_string_equal(lk_time_iso(*state, 1795341600), "2026-11-22T10:00:00Z");
    assert_string_equal(lk_time_iso(*state, 951782400), "2000-02-29T00:00:00Z");
    assert_string_equal(lk_time_iso(*state, 951782399 + 86400 * 0), "2000-02-28T23:59:59Z");
}

static void test_accept_allows_json(void **state)
{
    (void)state;
    static const char *yes[] = {
        "application/json",
        "application/json, text/event-stream",
        "*/*",
        "application/*",
        "Application/JSON",
        "text/html;q=0.9 , application/json ; q=1",
        "application/json;q=0.001",
        "application/json;charset=utf-8",
        "text/event-stream,*/*;q=0.1",
        "text/x;q=0, application/json",
        " application/json ",
        "",
    };
    static const char *no[] = {
        "text/event-stream",
        "text/html, application/xml",
        "application/json;q=0",
        "application/json; q=0.000",
        "application/json;charset=utf-8;q=0",
        "application/jsonx",
        "application/json-seq",
        "application",
        "*/*;q=0",
        "application/*;Q=0.0",
        "app/*",
        "text/*",
    };
    assert_true(lk_accept_allows(NULL, "application/json"));
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!lk_accept_allows(yes[i], "application/json"))
            fail_msg("refused: %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (lk_accept_allows(no[i], "application/json"))
            fail_msg("allowed: %s", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode_plus_and_escapes),
        cmocka_unit_test(test_accept_allows_json),
        T(test_pct_decode_hex_either_case),
        T(test_pct_decode_keeps_embedded_nul_in_length),
        T(test_pct_decode_reads_only_n_bytes),
        T(test_pct_decode_refuses_half_escapes),
        T(test_pct_encode_keeps_only_unreserved),
        T(test_pct_round_trip),
        T(test_b64_encode_rfc4648_vectors),
        T(test_b64_alphabets_differ_in_62_and_63),
        T(test_b64_decode_padding_optional),
        T(test_b64_decode_accepts_both_alphabets),
        T(test_b64_decode_refuses_invalid_chars),
        T(test_b64_decode_refuses_impossible_length),
        T(test_b64_decode_refuses_nonzero_trailing_bits),
        T(test_b64_round_trip_all_lengths),
        T(test_hex_encode_lower_case),
        T(test_utf8_accepts_valid_sequences),
        T(test_utf8_refuses_controls),
        T(test_utf8_refuses_overlongs),
        T(test_utf8_refuses_surrogates_and_beyond_unicode),
        T(test_utf8_refuses_truncated_and_stray_bytes),
        cmocka_unit_test(test_instance_id_grammar),
        T(test_instance_id_allows_spaces_refuses_nul),
        cmocka_unit_test(test_profile_name_grammar),
        T(test_profile_name_edges),
        T(test_ct_equal_compares_every_byte),
        T(test_parse_int_strict_decimal_in_range),
        T(test_ieq_ascii_case_only),
        T(test_time_iso_is_rfc3339_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
