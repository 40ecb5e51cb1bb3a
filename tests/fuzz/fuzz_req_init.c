/* lk_req_init on CGI/FastCGI variables. Input: a flag byte (which of
 * REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING are
 * set), then '\n'-separated values for REQUEST_URI, SCRIPT_NAME,
 * PATH_INFO, QUERY_STRING and the mount path.
 *
 * Accepted ⇒ the method is set, the URI (REQUEST_URI, else SCRIPT_NAME +
 * PATH_INFO + '?' QUERY_STRING) is at most 8 KiB and splits at its first
 * '?' into path and query, the form is the query's, and the route is "" or
 * the part of the path below the mount: always a suffix of the path, and
 * then "/..." or "" right after the mount. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "form.h"
#include "http.h"

static ssize_t no_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return 0;
}

static int no_write(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return 0;
}

static int no_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    char *f[5];
    size_t n = fuzz_fields(data + 1, size - 1, '\n', f, NULL, 5);
    const char *v[5] = {"", "", "", "", ""};
    for (size_t i = 0; i < n; i++)
        v[i] = f[i];
    lk_arena *a = lk_arena_new();

    /* The mount: as lk_config_load derives it ("" or "/x" without a
     * trailing '/'). */
    char *mount = lk_strdup(a, v[4]);
    size_t ml = strlen(mount);
    while (ml > 0 && mount[ml - 1] == '/')
        mount[--ml] = '\0';
    if (mount[0] != '/')
        mount[0] = '\0', ml = 0;
    lk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mount_path = mount;

    static const char *const names[] = {"REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"};
    char *env[8];
    size_t k = 0;
    if (!(flags & 0x10))
        env[k++] = (flags & 0x20) ? "REQUEST_METHOD=" : "REQUEST_METHOD=GET";
    for (size_t i = 0; i < 4; i++)
        if (flags & (1u << i))
            env[k++] = lk_printf(a, "%s=%s", names[i], v[i]);
    if (flags & 0x40)
        env[k++] = "CONTENT_LENGTH=0";
    env[k] = NULL;

    lk_io io = {no_read, no_write, no_flush, NULL};
    lk_req r;
    lk_err rc = lk_req_init(&r, a, &cfg, env, io);
    FUZZ_CHECK(rc == LK_OK || rc == LK_EINVAL, "rc %d", rc);
    FUZZ_CHECK(r.path && r.query && r.route, "NULL path, query or route");
    if (rc == LK_OK) {
        FUZZ_CHECK(!(flags & 0x30), "accepted without a method");
        const char *uri = (flags & 1) ? v[0]
                                      : lk_printf(a, "%s%s%s%s", (flags & 2) ? v[1] : "", (flags & 4) ? v[2] : "",
                                                  (flags & 8) && *v[3] ? "?" : "", (flags & 8) ? v[3] : "");
        FUZZ_CHECK(!strcmp(r.uri, uri), "uri %s, expected %s", r.uri, uri);
        FUZZ_CHECK(strlen(uri) <= 8192, "URI of %zu bytes", strlen(uri));
        const char *q = strchr(uri, '?');
        size_t pl = q ? (size_t)(q - uri) : strlen(uri);
        FUZZ_CHECK(strlen(r.path) == pl && !strncmp(r.path, uri, pl), "path %s", r.path);
        FUZZ_CHECK(!strcmp(r.query, q ? q + 1 : ""), "query %s", r.query);
        lk_form form;
        FUZZ_CHECK(lk_form_parse(a, r.query, strlen(r.query), &form) == LK_OK && form.n == r.form.n,
                   "form is not the query's");
        size_t rl = strlen(r.route), l = strlen(r.path);
        FUZZ_CHECK(rl <= l && !strcmp(r.path + l - rl, r.route), "route %s is not a suffix of %s", r.route, r.path);
        if (rl)
            FUZZ_CHECK(r.route[0] == '/' && l == ml + rl && !strncmp(r.path, mount, ml),
                       "route %s is not below mount %s", r.route, mount);
        bool below = !strncmp(r.path, mount, ml) && (r.path[ml] == '/' || r.path[ml] == '\0');
        FUZZ_CHECK(below ? r.route == r.path + ml || !strcmp(r.route, r.path + ml) : !rl,
                   "route %s for path %s under %s", r.route, r.path, mount);
        FUZZ_CHECK(r.input_done, "no body, yet input_done is false");
    }
    lk_arena_free(a);
    fuzz_fields_free(f, n);
    return 0;
}
