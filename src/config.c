#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "text.h"

enum kind { STR, BOOL, LONG, LEVEL };

struct option {
    const char *key;
    enum kind kind;
    size_t off;
    long min, max;
};

/* The largest request bodies a configuration may allow: JSON bodies, and
 * proxied ones. */
#define MAX_BODY_CEILING (16 << 20)
#define PROXY_MAX_BODY_CEILING (1L << 40)

#define OPT(k, kind, field, mn, mx)                                                                                    \
    {                                                                                                                  \
        k, kind, offsetof(lk_config, field), mn, mx                                                                    \
    }

static const struct option options[] = {
    OPT("database", STR, database, 0, 0),
    OPT("keyring", STR, keyring, 0, 0),
    OPT("public_base_url", STR, public_base_url, 0, 0),
    OPT("cookie_secure", BOOL, cookie_secure, 0, 0),
    OPT("ca_file", STR, ca_file, 0, 0),
    OPT("http_timeout_ms", LONG, http_timeout_ms, 100, 120000),
    OPT("connect_timeout_ms", LONG, connect_timeout_ms, 100, 60000),
    OPT("lock_timeout_ms", LONG, lock_timeout_ms, 100, 300000),
    OPT("db_timeout_ms", LONG, db_timeout_ms, 100, 600000),
    OPT("link_ttl", LONG, link_ttl, 60, 30L * 86400),
    OPT("link_ttl_max", LONG, link_ttl_max, 60, 30L * 86400),
    OPT("flow_ttl", LONG, flow_ttl, 30, 600),
    OPT("purge_interval", LONG, purge_interval, 0, 86400),
    OPT("max_body", LONG, max_body, 1024, MAX_BODY_CEILING),
    OPT("proxy_max_body", LONG, proxy_max_body, 0, PROXY_MAX_BODY_CEILING),
    OPT("proxy_timeout_ms", LONG, proxy_timeout_ms, 1000, 3600000),
    OPT("log_level", LEVEL, log_level, 0, 0),
    OPT("workers", LONG, workers, 1, 256),
    OPT("default_token_ttl", LONG, default_token_ttl, 60, 10L * 365 * 86400),
    OPT("refresh_waiters", LONG, refresh_waiters, 0, 64),
    OPT("mcp_allowed_origins", STR, mcp_allowed_origins, 0, 0),
    OPT("markdown_cache_mb", LONG, markdown_cache_mb, 0, 1024),
    OPT("cache_entries", LONG, cache_entries, 0, 10000000),
    OPT("expiry_warning_days", LONG, expiry_warning_days, 0, 3650),
    OPT("metrics", BOOL, metrics, 0, 0),
};

static void defaults(lk_config *c)
{
    memset(c, 0, sizeof(*c));
    c->database = strdup("");
    c->keyring = strdup("/etc/latchkey/keys");
    c->public_base_url = strdup("");
    c->ca_file = strdup("");
    c->mcp_allowed_origins = strdup("");
    c->cookie_secure = true;
    c->http_timeout_ms = 10000;
    c->connect_timeout_ms = 3000;
    c->lock_timeout_ms = 15000;
    c->db_timeout_ms = 30000;
    c->link_ttl = 900;
    c->link_ttl_max = 7L * 86400;
    c->flow_ttl = 600;
    c->purge_interval = 60;
    c->max_body = 65536;
    c->proxy_max_body = 1L << 30;
    c->proxy_timeout_ms = 60000;
    c->log_level = LK_LOG_INFO;
    c->workers = 1;
    c->default_token_ttl = 3600;
    c->refresh_waiters = 2;
    c->markdown_cache_mb = 8;
    c->cache_entries = LK_CACHE_ENTRIES_DEFAULT;
    c->expiry_warning_days = 14;
    c->metrics = true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

static lk_err set(lk_config *c, const struct option *o, const char *v, const char *where, char *err, size_t errlen)
{
    void *field = (char *)c + o->off;
    switch (o->kind) {
    case STR: {
        char *copy = strdup(v);
        if (!copy)
            return LK_EINTERNAL;
        free(*(char **)field);
        *(char **)field = copy;
        return LK_OK;
    }
    case BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1")) {
            *(bool *)field = true;
        } else if (!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0")) {
            *(bool *)field = false;
        } else {
            snprintf(err, errlen, "%s: %s must be true or false", where, o->key);
            return LK_EINVAL;
        }
        return LK_OK;
    case LONG: {
        long long x;
        if (!lk_parse_int(v, o->min, o->max, &x)) {
            snprintf(err, errlen, "%s: %s must be a whole number from %ld to %ld", where, o->key, o->min, o->max);
            return LK_EINVAL;
        }
        *(long *)field = (long)x;
        return LK_OK;
    }
    case LEVEL: {
        int l = lk_log_level_parse(v);
        if (l < 0) {
            snprintf(err, errlen, "%s: log_level must be error, warn, info or debug", where);
            return LK_EINVAL;
        }
        *(int *)field = l;
        return LK_OK;
    }
    }
    return LK_EINVAL;
}

static const struct option *find(const char *key)
{
    for (size_t i = 0; i < LK_ARRAY_LEN(options); i++)
        if (!strcmp(options[i].key, key))
            return &options[i];
    return NULL;
}

static lk_err read_file(lk_config *c, const char *path, bool must_exist, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (!must_exist && errno == ENOENT)
            return LK_OK;
        snprintf(err, errlen, "cannot read configuration %s: %s", path, strerror(errno));
        return LK_EINVAL;
    }
    char line[4096];
    int lineno = 0;
    lk_err rc = LK_OK;
    while (rc == LK_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        char where[64];
        snprintf(where, sizeof(where), "%s line %d", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, lineno);
        if (!eq) {
            snprintf(err, errlen, "%s: expected key = value", where);
            rc = LK_EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *val = trim(eq + 1);
        const struct option *o = find(key);
        if (!o) {
            snprintf(err, errlen, "%s: unknown key %.64s", where, key);
            rc = LK_EINVAL;
            break;
        }
        rc = set(c, o, val, where, err, errlen);
    }
    fclose(f);
    return rc;
}

/* The path of public_base_url: "https://h/latchkey/" gives "/latchkey". */
static lk_err derive_mount(lk_config *c, char *err, size_t errlen)
{
    const char *u = c->public_base_url;
    const char *rest = NULL;
    if (!*u) {
        c->mount_path = strdup("");
        return c->mount_path ? LK_OK : LK_EINTERNAL;
    }
    if (!strncmp(u, "https://", 8))
        rest = u + 8;
    else if (!strncmp(u, "http://", 7))
        rest = u + 7;
    if (!rest || !*rest || *rest == '/' || *rest == ':') {
        snprintf(err, errlen, "public_base_url must be an http(s) URL, e.g. https://broker.example.com/latchkey");
        return LK_EINVAL;
    }
    bool ctl = false;
    for (const char *p = u; *p; p++)
        ctl = ctl || (unsigned char)*p < 0x20 || *p == 0x7f;
    if (ctl || strpbrk(u, "?#@\\ ")) {
        snprintf(err, errlen, "public_base_url must have no query, fragment, user info, spaces or control characters");
        return LK_EINVAL;
    }
    const char *path = strchr(rest, '/');
    size_t n = path ? strlen(path) : 0;
    while (n > 0 && path[n - 1] == '/')
        n--;
    c->mount_path = path ? strndup(path, n) : strdup("");
    /* keep public_base_url without its trailing slash too */
    size_t ul = strlen(c->public_base_url);
    while (ul > 0 && c->public_base_url[ul - 1] == '/')
        c->public_base_url[--ul] = '\0';
    return c->mount_path ? LK_OK : LK_EINTERNAL;
}

#define ORIGIN_SEP " ,\t"

/* Each entry of mcp_allowed_origins is an origin as browsers send it
 * (RFC 6454 §6.1): scheme://host[:port], no path, not even "/". One with a
 * path would never match and refuse every client silently. */
static lk_err check_origins(const char *list, char *err, size_t errlen)
{
    for (const char *p = list + strspn(list, ORIGIN_SEP); *p; p += strspn(p, ORIGIN_SEP)) {
        size_t n = strcspn(p, ORIGIN_SEP);
        const char *host = NULL;
        if (n > 8 && !strncmp(p, "https://", 8))
            host = p + 8;
        else if (n > 7 && !strncmp(p, "http://", 7))
            host = p + 7;
        size_t hn = host ? n - (size_t)(host - p) : 0;
        if (!host || memchr(host, '/', hn) || !lk_utf8_printable(host, hn)) {
            snprintf(err, errlen, "mcp_allowed_origins: %.*s is not an origin (scheme://host[:port], no path)",
                     (int)(n > 200 ? 200 : n), p);
            return LK_EINVAL;
        }
        p += n;
    }
    return LK_OK;
}

bool lk_config_origin_listed(const char *list, const char *origin)
{
    size_t on = strlen(origin);
    for (const char *p = list + strspn(list, ORIGIN_SEP); *p; p += strspn(p, ORIGIN_SEP)) {
        size_t n = strcspn(p, ORIGIN_SEP);
        if (n == on && !memcmp(p, origin, n))
            return true;
        p += n;
    }
    return false;
}

lk_err lk_config_load(lk_config *c, const char *path, bool skip_keys, char *err, size_t errlen)
{
    defaults(c);
    bool explicit_path = path != NULL;
    if (!path) {
        path = getenv("LATCHKEY_CONFIG");
        explicit_path = path && *path;
        if (!explicit_path)
            path = LK_CONFIG_DEFAULT;
    }
    lk_err rc = read_file(c, path, explicit_path, err, errlen);
    for (size_t i = 0; rc == LK_OK && i < LK_ARRAY_LEN(options); i++) {
        char name[64] = "LATCHKEY_";
        size_t k = strlen(name);
        for (const char *p = options[i].key; *p && k < sizeof(name) - 1; p++)
            name[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        name[k] = '\0';
        const char *v = getenv(name);
        if (v)
            rc = set(c, &options[i], v, name, err, errlen);
    }
    if (rc == LK_OK)
        rc = derive_mount(c, err, errlen);
    if (rc == LK_OK && c->lock_timeout_ms <= c->http_timeout_ms) {
        snprintf(err, errlen, "lock_timeout_ms must exceed http_timeout_ms (timeouts nest, SPEC §5)");
        rc = LK_EINVAL;
    }
    if (rc == LK_OK && c->link_ttl > c->link_ttl_max) {
        snprintf(err, errlen, "link_ttl must not exceed link_ttl_max (the default lifetime is within the maximum)");
        rc = LK_EINVAL;
    }
    if (rc == LK_OK)
        rc = check_origins(c->mcp_allowed_origins, err, errlen);
    if (rc == LK_OK && !skip_keys)
        rc = lk_keyring_load(&c->keys, c->keyring, err, errlen);
    if (rc != LK_OK)
        lk_config_free(c);
    return rc;
}

long lk_config_tx_idle_ms(const lk_config *c)
{
    /* A provider call is bounded by connect + transfer time; 5 s of slack
     * for the statements around it. */
    long call = c->connect_timeout_ms + c->http_timeout_ms;
    return (call > c->db_timeout_ms ? call : c->db_timeout_ms) + 5000;
}

void lk_config_free(lk_config *c)
{
    free(c->database);
    free(c->keyring);
    free(c->public_base_url);
    free(c->mount_path);
    free(c->ca_file);
    free(c->mcp_allowed_origins);
    lk_keyring_clear(&c->keys);
    memset(c, 0, sizeof(*c));
}
