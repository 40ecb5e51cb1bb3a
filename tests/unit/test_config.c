/* Unit tests: the configuration file, its environment overrides and the
 * derived values (SPEC §8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static const char *const env_names[] = {
    "LATCHKEY_CONFIG",          "LATCHKEY_DATABASE",       "LATCHKEY_KEYRING",         "LATCHKEY_PUBLIC_BASE_URL",
    "LATCHKEY_COOKIE_SECURE",   "LATCHKEY_CA_FILE",        "LATCHKEY_HTTP_TIMEOUT_MS", "LATCHKEY_CONNECT_TIMEOUT_MS",
    "LATCHKEY_LOCK_TIMEOUT_MS", "LATCHKEY_DB_TIMEOUT_MS",  "LATCHKEY_LINK_TTL",        "LATCHKEY_LINK_TTL_MAX",
    "LATCHKEY_FLOW_TTL",        "LATCHKEY_PURGE_INTERVAL", "LATCHKEY_MAX_BODY",        "LATCHKEY_LOG_LEVEL",
};

typedef struct fixture {
    char dir[64];
    char conf[128];
    char keys[128];
    char keyfile[160];
} fixture;

static void clear_env(void)
{
    for (size_t i = 0; i < LK_ARRAY_LEN(env_names); i++)
        unsetenv(env_names[i]);
}

static int setup(void **state)
{
    clear_env();
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/lk_test_conf_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/latchkey.conf", f->dir);
    snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->conf);
    if (f->keyfile[0])
        unlink(f->keyfile);
    rmdir(f->keys);
    rmdir(f->dir);
    free(f);
    clear_env();
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static void write_conf(fixture *f, const char *text)
{
    FILE *fp = fopen(f->conf, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static lk_err load_text(fixture *f, const char *text, lk_config *c, char *err, size_t errlen)
{
    write_conf(f, text);
    return lk_config_load(c, f->conf, true, err, errlen);
}

static void test_config_empty_file_gives_defaults(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "", &c, err, sizeof(err)), LK_OK);
    assert_string_equal(c.database, "");
    assert_string_equal(c.keyring, "/etc/latchkey/keys");
    assert_string_equal(c.public_base_url, "");
    assert_string_equal(c.mount_path, "");
    assert_true(c.cookie_secure);
    assert_string_equal(c.ca_file, "");
    assert_int_equal(c.http_timeout_ms, 10000);
    assert_int_equal(c.connect_timeout_ms, 3000);
    assert_int_equal(c.lock_timeout_ms, 15000);
    assert_int_equal(c.db_timeout_ms, 30000);
    assert_int_equal(c.link_ttl, 900);
    assert_int_equal(c.link_ttl_max, 7 * 86400);
    assert_int_equal(c.flow_ttl, 600);
    assert_int_equal(c.purge_interval, 60);
    assert_int_equal(c.max_body, 65536);
    assert_int_equal(c.log_level, LK_LOG_INFO);
    assert_int_equal(c.keys.n, 0);
    lk_config_free(&c);
}

static void test_config_reads_every_type(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state,
                               "# a comment\n"
                               "\n"
                               "database = host=db dbname=latchkey\n"
                               "keyring=/srv/keys\n"
                               "  public_base_url\t=  https://broker.example.com/latchkey  \n"
                               "cookie_secure = off\n"
                               "ca_file = /etc/ssl/ca.pem\r\n"
                               "http_timeout_ms = 5000\n"
                               "connect_timeout_ms = 100\n"
                               "lock_timeout_ms = 300000\n"
                               "db_timeout_ms = 600000\n"
                               "link_ttl = 60\n"
                               "link_ttl_max = 2592000\n"
                               "flow_ttl = 30\n"
                               "purge_interval = 0\n"
                               "max_body = 16777216\n"
                               "log_level = debug\n",
                               &c, err, sizeof(err)),
                     LK_OK);
    assert_string_equal(c.database, "host=db dbname=latchkey");
    assert_string_equal(c.keyring, "/srv/keys");
    assert_string_equal(c.public_base_url, "https://broker.example.com/latchkey");
    assert_string_equal(c.mount_path, "/latchkey");
    assert_false(c.cookie_secure);
    assert_string_equal(c.ca_file, "/etc/ssl/ca.pem");
    assert_int_equal(c.http_timeout_ms, 5000);
    assert_int_equal(c.connect_timeout_ms, 100);
    assert_int_equal(c.lock_timeout_ms, 300000);
    assert_int_equal(c.db_timeout_ms, 600000);
    assert_int_equal(c.link_ttl, 60);
    assert_int_equal(c.link_ttl_max, 2592000);
    assert_int_equal(c.flow_ttl, 30);
    assert_int_equal(c.purge_interval, 0);
    assert_int_equal(c.max_body, 16777216);
    assert_int_equal(c.log_level, LK_LOG_DEBUG);
    lk_config_free(&c);
}

static void test_config_bool_spellings(void **state)
{
    static const char *const yes[] = {"true", "on", "yes", "1"};
    static const char *const no[] = {"false", "off", "no", "0"};
    lk_config c;
    char err[256] = "", line[64];
    for (size_t i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "cookie_secure = %s\n", no[i]);
        assert_int_equal(load_text(*state, line, &c, err, sizeof(err)), LK_OK);
        assert_false(c.cookie_secure);
        lk_config_free(&c);
        snprintf(line, sizeof(line), "cookie_secure=%s\n", yes[i]);
        assert_int_equal(load_text(*state, line, &c, err, sizeof(err)), LK_OK);
        assert_true(c.cookie_secure);
        lk_config_free(&c);
    }
}

static void test_config_refuses_bad_bool(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "cookie_secure = maybe\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_non_null(strstr(err, "cookie_secure must be true or false"));
    assert_int_equal(load_text(*state, "cookie_secure = TRUE\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_int_equal(load_text(*state, "cookie_secure =\n", &c, err, sizeof(err)), LK_EINVAL);
}

static void test_config_refuses_unknown_key(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "flow_ttl = 60\ncookie_secur = on\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_string_equal(err, "latchkey.conf line 2: unknown key cookie_secur");
}

static void test_config_refuses_line_without_equals(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "database\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_string_equal(err, "latchkey.conf line 1: expected key = value");
}

static void test_config_refuses_numbers_out_of_range(void **state)
{
    static const char *const bad[] = {
        "flow_ttl = 601\n",
        "flow_ttl = 29\n",
        "http_timeout_ms = 99\n",
        "http_timeout_ms = 120001\n",
        "max_body = 1023\n",
        "purge_interval = -1\n",
        "link_ttl = 99999999999999999999999\n",
        "flow_ttl = +60\n",
        "flow_ttl = 60s\n",
        "flow_ttl = 0x40\n",
    };
    lk_config c;
    char err[256] = "";
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        if (load_text(*state, bad[i], &c, err, sizeof(err)) != LK_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "must be a whole number from"));
    }
    assert_int_equal(load_text(*state, "flow_ttl = 601\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_string_equal(err, "latchkey.conf line 1: flow_ttl must be a whole number from 30 to 600");
}

static void test_config_refuses_non_numbers(void **state)
{
    static const char *const bad[] = {"flow_ttl = abc\n", "flow_ttl = 60s\n", "flow_ttl =\n", "flow_ttl = 6 0\n",
                                      "flow_ttl = 0x40\n"};
    lk_config c;
    char err[256] = "";
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++)
        if (load_text(*state, bad[i], &c, err, sizeof(err)) != LK_EINVAL)
            fail_msg("accepted %s", bad[i]);
}

static void test_config_refuses_unknown_log_level(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "log_level = verbose\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_non_null(strstr(err, "log_level must be error, warn, info or debug"));
    assert_int_equal(load_text(*state, "log_level = error\n", &c, err, sizeof(err)), LK_OK);
    assert_int_equal(c.log_level, LK_LOG_ERROR);
    lk_config_free(&c);
}

static void test_config_refuses_missing_explicit_file(void **state)
{
    fixture *f = *state;
    lk_config c;
    char err[256] = "";
    char path[160];
    snprintf(path, sizeof(path), "%s/absent.conf", f->dir);
    assert_int_equal(lk_config_load(&c, path, true, err, sizeof(err)), LK_EINVAL);
    assert_non_null(strstr(err, "cannot read configuration"));
    setenv("LATCHKEY_CONFIG", path, 1);
    assert_int_equal(lk_config_load(&c, NULL, true, err, sizeof(err)), LK_EINVAL);
}

static void test_config_path_from_environment(void **state)
{
    fixture *f = *state;
    write_conf(f, "flow_ttl = 120\n");
    setenv("LATCHKEY_CONFIG", f->conf, 1);
    lk_config c;
    char err[256] = "";
    assert_int_equal(lk_config_load(&c, NULL, true, err, sizeof(err)), LK_OK);
    assert_int_equal(c.flow_ttl, 120);
    lk_config_free(&c);
}

static void test_config_environment_overrides_file(void **state)
{
    setenv("LATCHKEY_HTTP_TIMEOUT_MS", "2000", 1);
    setenv("LATCHKEY_COOKIE_SECURE", "false", 1);
    setenv("LATCHKEY_PUBLIC_BASE_URL", "https://env.example.com/lk/", 1);
    setenv("LATCHKEY_DATABASE", "service=latchkey", 1);
    setenv("LATCHKEY_LOG_LEVEL", "warn", 1);
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state,
                               "http_timeout_ms = 5000\ncookie_secure = on\n"
                               "public_base_url = https://file.example.com/x\nflow_ttl = 90\n",
                               &c, err, sizeof(err)),
                     LK_OK);
    assert_int_equal(c.http_timeout_ms, 2000);
    assert_false(c.cookie_secure);
    assert_string_equal(c.public_base_url, "https://env.example.com/lk");
    assert_string_equal(c.mount_path, "/lk");
    assert_string_equal(c.database, "service=latchkey");
    assert_int_equal(c.log_level, LK_LOG_WARN);
    assert_int_equal(c.flow_ttl, 90); /* from the file: no variable */
    lk_config_free(&c);
}

static void test_config_refuses_bad_environment_value(void **state)
{
    setenv("LATCHKEY_FLOW_TTL", "9000", 1);
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "", &c, err, sizeof(err)), LK_EINVAL);
    assert_string_equal(err, "LATCHKEY_FLOW_TTL: flow_ttl must be a whole number from 30 to 600");
}

static void test_config_mount_path_from_base_url(void **state)
{
    static const struct {
        const char *url, *base, *mount;
    } cases[] = {
        {"https://b.example.com/latchkey", "https://b.example.com/latchkey", "/latchkey"},
        {"https://b.example.com/latchkey/", "https://b.example.com/latchkey", "/latchkey"},
        {"https://b.example.com/a/b//", "https://b.example.com/a/b", "/a/b"},
        {"https://b.example.com", "https://b.example.com", ""},
        {"https://b.example.com/", "https://b.example.com", ""},
        {"http://127.0.0.1:8080/", "http://127.0.0.1:8080", ""},
        {"http://localhost:8080/lk", "http://localhost:8080/lk", "/lk"},
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(cases); i++) {
        char line[256];
        snprintf(line, sizeof(line), "public_base_url = %s\n", cases[i].url);
        lk_config c;
        char err[256] = "";
        assert_int_equal(load_text(*state, line, &c, err, sizeof(err)), LK_OK);
        assert_string_equal(c.public_base_url, cases[i].base);
        assert_string_equal(c.mount_path, cases[i].mount);
        lk_config_free(&c);
    }
}

static void test_config_refuses_bad_base_url(void **state)
{
    static const char *const bad[] = {
        "ftp://b.example.com/lk",       "b.example.com/lk",         "https://",
        "https://b.example.com/lk?x=1", "https://b.example.com/#x", "https://u@b.example.com/",
        "https://b.example.com/a\\b",   "javascript:alert(1)",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char line[256];
        snprintf(line, sizeof(line), "public_base_url = %s\n", bad[i]);
        lk_config c;
        char err[256] = "";
        if (load_text(*state, line, &c, err, sizeof(err)) != LK_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "public_base_url"));
    }
}

static void test_config_lock_timeout_must_exceed_http_timeout(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "http_timeout_ms = 10000\nlock_timeout_ms = 10000\n", &c, err, sizeof(err)),
                     LK_EINVAL);
    assert_non_null(strstr(err, "lock_timeout_ms must exceed http_timeout_ms"));
    assert_int_equal(load_text(*state, "http_timeout_ms = 20000\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_int_equal(load_text(*state, "http_timeout_ms = 10000\nlock_timeout_ms = 10001\n", &c, err, sizeof(err)),
                     LK_OK);
    assert_int_equal(c.lock_timeout_ms, 10001);
    lk_config_free(&c);
}

/* Found by tests/fuzz (fuzz_config): link_ttl above link_ttl_max was
 * taken, and links made without expires_in outlived the maximum. */
static void test_config_link_ttl_must_not_exceed_link_ttl_max(void **state)
{
    lk_config c;
    char err[256] = "";
    assert_int_equal(load_text(*state, "link_ttl = 600\nlink_ttl_max = 300\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_non_null(strstr(err, "link_ttl must not exceed link_ttl_max"));
    assert_int_equal(load_text(*state, "link_ttl_max = 899\n", &c, err, sizeof(err)), LK_EINVAL);
    assert_int_equal(load_text(*state, "link_ttl = 300\nlink_ttl_max = 300\n", &c, err, sizeof(err)), LK_OK);
    assert_int_equal(c.link_ttl, 300);
    lk_config_free(&c);
}

/* Found by tests/fuzz (fuzz_config): a base URL without a host, or with
 * control characters (which reach Location and Set-Cookie Path), was taken. */
static void test_config_refuses_base_url_without_host_or_with_controls(void **state)
{
    static const char *const bad[] = {
        "https:///latchkey",
        "http://:8080/lk",
        "https://b.example.com/a\x0e/b",
        "https://b\x01.example.com/",
        "https://b.example.com/lk\x7f",
    };
    for (size_t i = 0; i < LK_ARRAY_LEN(bad); i++) {
        char line[256];
        snprintf(line, sizeof(line), "public_base_url = %s\n", bad[i]);
        lk_config c;
        char err[256] = "";
        if (load_text(*state, line, &c, err, sizeof(err)) != LK_EINVAL)
            fail_msg("accepted case %zu", i);
        assert_non_null(strstr(err, "public_base_url"));
    }
}

static void test_config_loads_real_keyring(void **state)
{
    fixture *f = *state;
    assert_int_equal(mkdir(f->keys, 0700), 0);
    snprintf(f->keyfile, sizeof(f->keyfile), "%s/1.key", f->keys);
    int fd = open(f->keyfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    const char *key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    assert_int_equal(write(fd, key, strlen(key)), (ssize_t)strlen(key));
    close(fd);
    char text[256];
    snprintf(text, sizeof(text), "keyring = %s\n", f->keys);
    write_conf(f, text);
    lk_config c;
    char err[256] = "";
    assert_int_equal(lk_config_load(&c, f->conf, false, err, sizeof(err)), LK_OK);
    assert_int_equal(c.keys.n, 1);
    assert_int_equal(c.keys.keys[0].id, 1);
    assert_int_equal(c.keys.keys[0].key[31], 31);
    lk_config_free(&c);
    assert_null(c.keys.keys);
}

static void test_config_refuses_missing_keyring(void **state)
{
    fixture *f = *state;
    assert_int_equal(mkdir(f->keys, 0700), 0);
    char text[256];
    snprintf(text, sizeof(text), "keyring = %s\n", f->keys);
    write_conf(f, text);
    lk_config c;
    char err[256] = "";
    assert_int_equal(lk_config_load(&c, f->conf, false, err, sizeof(err)), LK_EINTERNAL);
    assert_non_null(strstr(err, "holds no"));
    /* skip_keys: the same file loads */
    assert_int_equal(lk_config_load(&c, f->conf, true, err, sizeof(err)), LK_OK);
    lk_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_empty_file_gives_defaults),
        T(test_config_reads_every_type),
        T(test_config_bool_spellings),
        T(test_config_refuses_bad_bool),
        T(test_config_refuses_unknown_key),
        T(test_config_refuses_line_without_equals),
        T(test_config_refuses_numbers_out_of_range),
        T(test_config_refuses_non_numbers),
        T(test_config_refuses_unknown_log_level),
        T(test_config_refuses_missing_explicit_file),
        T(test_config_path_from_environment),
        T(test_config_environment_overrides_file),
        T(test_config_refuses_bad_environment_value),
        T(test_config_mount_path_from_base_url),
        T(test_config_refuses_bad_base_url),
        T(test_config_lock_timeout_must_exceed_http_timeout),
        T(test_config_link_ttl_must_not_exceed_link_ttl_max),
        T(test_config_refuses_base_url_without_host_or_with_controls),
        T(test_config_loads_real_keyring),
        T(test_config_refuses_missing_keyring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
