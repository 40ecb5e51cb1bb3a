/* Configuration (SPEC §8): a key=value file named by LATCHKEY_CONFIG
 * (default /etc/latchkey/latchkey.conf), each key overridable by the
 * environment variable LATCHKEY_<KEY>, read once at start-up. */
#ifndef LK_CONFIG_H
#define LK_CONFIG_H

#include "crypto.h"
#include "lk.h"

#define LK_CONFIG_DEFAULT "/etc/latchkey/latchkey.conf"

typedef struct lk_config {
    char *database;        /* libpq conninfo; empty: the PG* variables */
    char *keyring;         /* directory of <id>.key files */
    char *public_base_url; /* e.g. https://broker.example.com/latchkey */
    char *mount_path;      /* its path, without trailing slash ("" at root) */
    bool cookie_secure;
    char *ca_file;        /* CA bundle for provider TLS; empty: system's */
    long http_timeout_ms; /* one provider call */
    long connect_timeout_ms;
    long lock_timeout_ms; /* wait for a refresh lock (> http timeout) */
    long db_timeout_ms;   /* statement timeout */
    long link_ttl;        /* default lifetime of an authorization link, s */
    long link_ttl_max;
    long flow_ttl;         /* pending browser flow, s (at most 600) */
    long purge_interval;   /* s between purges of expired links and flows */
    long max_body;         /* JSON request bodies, bytes */
    long proxy_max_body;   /* proxied request bodies, bytes */
    long proxy_timeout_ms; /* proxy: no byte from upstream for this long */
    int log_level;
    long workers;             /* FastCGI processes sharing one listening socket */
    long default_token_ttl;   /* s: a token answer without expires_in (SPEC §5) */
    long refresh_waiters;     /* callers that may wait on one connection's refresh */
    long markdown_cache_mb;   /* the storage -> Markdown cache of each mcp process (mdcache.h) */
    long cache_entries;       /* answers (keys, profiles, connections) each serving process keeps (cache.h) */
    long expiry_warning_days; /* the sweep's connection.expiring: this many days ahead (SPEC §11) */
    bool metrics;             /* count refreshes and provider requests for GET /metrics (metrics.h) */
    /* MCP's Origin allow-list (SPEC §10): exact origins, space or comma
     * separated; empty: every request with an Origin header is refused. */
    char *mcp_allowed_origins;
    lk_keyring keys; /* the reloadable ring (lk_keyring_load): owned here */
} lk_config;

/* Loads the file at path (NULL: LATCHKEY_CONFIG or the default), applies
 * the environment and loads the key ring unless skip_keys. On failure err
 * holds one line saying why; the caller refuses to start. */
lk_err lk_config_load(lk_config *c, const char *path, bool skip_keys, char *err, size_t errlen);
/* True when origin is one of the exact origins of list (space or comma
 * separated, as mcp_allowed_origins holds them). */
bool lk_config_origin_listed(const char *list, const char *origin);
/* Frees the strings and wipes the key ring of c, leaving it zeroed. */
void lk_config_free(lk_config *c);
/* idle_in_transaction_session_timeout for c (SPEC §5, timeouts nest): longer
 * than the longest provider call made inside a transaction (a refresh) and
 * than any statement, whatever the configuration says. */
long lk_config_tx_idle_ms(const lk_config *c);

#endif
