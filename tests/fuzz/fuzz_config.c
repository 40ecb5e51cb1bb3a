/* lk_config_load (skip_keys) on a file holding the input. It never crashes
 * or leaks; on failure err holds a sentence and the struct is cleared; on
 * success every number is within its range (config.c, README), timeouts
 * nest, the default link lifetime is within the maximum, and
 * public_base_url is empty or an http(s) URL with a host and no query,
 * fragment, user info, space or control character, whose path (without
 * trailing '/') is mount_path. */
#include "fuzz.h"

#include <stdbool.h>
#include <unistd.h>

#include "config.h"

static char path[64];
static int fd = -1;

static const char *const env_names[] = {
    "LATCHKEY_CONFIG",           "LATCHKEY_DATABASE",       "LATCHKEY_KEYRING",         "LATCHKEY_PUBLIC_BASE_URL",
    "LATCHKEY_COOKIE_SECURE",    "LATCHKEY_CA_FILE",        "LATCHKEY_HTTP_TIMEOUT_MS", "LATCHKEY_CONNECT_TIMEOUT_MS",
    "LATCHKEY_LOCK_TIMEOUT_MS",  "LATCHKEY_DB_TIMEOUT_MS",  "LATCHKEY_LINK_TTL",        "LATCHKEY_LINK_TTL_MAX",
    "LATCHKEY_FLOW_TTL",         "LATCHKEY_PURGE_INTERVAL", "LATCHKEY_MAX_BODY",        "LATCHKEY_PROXY_MAX_BODY",
    "LATCHKEY_PROXY_TIMEOUT_MS", "LATCHKEY_LOG_LEVEL",
};

/* The file is unlinked at once and read through /proc/self/fd: nothing is
 * left behind, even when a finding or a signal ends the run. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    char tmpl[] = "/tmp/lk_fuzz_conf_XXXXXX";
    fd = mkstemp(tmpl);
    if (fd < 0 || unlink(tmpl) != 0)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return 0;
}

#define RANGE(field, lo, hi) FUZZ_CHECK(c.field >= (lo) && c.field <= (hi), #field " = %ld", (long)c.field)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    lk_config c;
    char err[256] = "";
    lk_err rc = lk_config_load(&c, path, true, err, sizeof(err));
    if (rc != LK_OK) {
        FUZZ_CHECK(rc == LK_EINVAL || rc == LK_EINTERNAL, "rc %d", rc);
        FUZZ_CHECK(err[0] != '\0', "failure without a reason");
        FUZZ_CHECK(!c.database && !c.keyring && !c.public_base_url && !c.mount_path && !c.ca_file,
                   "failure left memory behind");
        return 0;
    }
    FUZZ_CHECK(c.database && c.keyring && c.public_base_url && c.mount_path && c.ca_file, "NULL string");
    RANGE(http_timeout_ms, 100, 120000);
    RANGE(connect_timeout_ms, 100, 60000);
    RANGE(lock_timeout_ms, 100, 300000);
    RANGE(db_timeout_ms, 100, 600000);
    RANGE(link_ttl, 60, 30 * 86400);
    RANGE(link_ttl_max, 60, 30 * 86400);
    RANGE(flow_ttl, 30, 600);
    RANGE(purge_interval, 0, 86400);
    RANGE(max_body, 1024, 16 << 20);
    RANGE(proxy_max_body, 0, 1L << 40);
    RANGE(proxy_timeout_ms, 1000, 3600000);
    RANGE(log_level, 0, 3);
    FUZZ_CHECK(c.lock_timeout_ms > c.http_timeout_ms, "timeouts do not nest");
    FUZZ_CHECK(c.link_ttl <= c.link_ttl_max, "link_ttl %ld exceeds link_ttl_max %ld", c.link_ttl, c.link_ttl_max);
    FUZZ_CHECK(c.keys.n == 0 && !c.keys.keys, "keys loaded with skip_keys");

    const char *u = c.public_base_url;
    if (!*u) {
        FUZZ_CHECK(!*c.mount_path, "a mount path without a base URL");
    } else {
        const char *rest = !strncmp(u, "https://", 8) ? u + 8 : !strncmp(u, "http://", 7) ? u + 7 : NULL;
        FUZZ_CHECK(rest, "public_base_url is not http(s): %s", u);
        size_t hl = strcspn(rest, "/");
        FUZZ_CHECK(hl > 0 && rest[0] != ':', "public_base_url has no host: %s", u);
        for (const char *p = u; *p; p++)
            FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f && !strchr("?#@\\", *p),
                       "public_base_url holds byte 0x%02x", (unsigned char)*p);
        const char *pp = rest + hl;
        FUZZ_CHECK(!strcmp(pp, c.mount_path), "mount_path %s is not the path of %s", c.mount_path, u);
        size_t ml = strlen(c.mount_path);
        FUZZ_CHECK(!ml || (c.mount_path[0] == '/' && c.mount_path[ml - 1] != '/'), "mount_path %s", c.mount_path);
    }
    lk_config_free(&c);
    return 0;
}
