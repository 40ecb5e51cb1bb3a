/* latchkey: the admin CLI. Reads the same configuration as the endpoints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "migrate.h"

static const char USAGE[] =
    "usage: latchkey [--json] COMMAND ...\n"
    "\n"
    "  migrate                                 apply sql/ migrations (idempotent)\n"
    "  profile add|list|show|remove ...        authorization profiles\n"
    "  client add PROFILE ...                  white-label clients\n"
    "  key create|list|revoke ...              bot keys\n"
    "  connection list|show|delete|import|export ... stored connections\n"
    "  link PROFILE INSTANCE [...]             print an authorization link\n"
    "  sweep [--idle-days 75]                  keep idle refresh tokens alive, purge expired flows\n"
    "  rotate-key NEW_KEY_FILE                 add a key to the ring, re-seal every secret under it\n"
    "  webhook add|list|remove|test|rotate ... event receivers (signed, Standard Webhooks)\n"
    "  events                                  deliver webhooks (long-running)\n"
    "\n"
    "Every command takes --help. Configuration: LATCHKEY_CONFIG (default " LK_CONFIG_DEFAULT ").\n";

int cli_first_option(int argc, char **argv, const struct option *opts)
{
    optind = 1;
    return cli_next_option(argc, argv, opts);
}

int cli_next_option(int argc, char **argv, const struct option *opts)
{
    return getopt_long(argc, argv, "", opts, NULL);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("latchkey: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage(const char *usage)
{
    fputs(usage, stderr);
    return 2;
}

bool cli_family_help(int argc, char **argv, const char *usage, int *status)
{
    if (argc < 2) {
        *status = cli_usage(usage);
        return true;
    }
    const char *sub = argv[1];
    bool after = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || after) {
        fputs(usage, stdout);
        *status = 0;
        return true;
    }
    return false;
}

const char *cli_reason(lk_err rc)
{
    switch (rc) {
    case LK_EDB: return "PostgreSQL is unreachable";
    case LK_ECONFLICT: return "it exists already";
    case LK_ENOPROFILE: return "no such profile";
    case LK_ENOTCONN: return "no such connection";
    case LK_ENOTFOUND: return "not found";
    case LK_ECRYPTO: return "a sealed secret did not open with the key ring";
    default: return lk_err_code(rc);
    }
}

char *cli_read_secret(cli *c, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        cli_fail("cannot read %s", path);
        return NULL;
    }
    char buf[CLI_SECRET_MAX + 1];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n >= sizeof(buf)) {
        cli_fail("%s: a secret file holds at most %d bytes", path, CLI_SECRET_MAX);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0 || memchr(buf, '\0', n)) {
        cli_fail("%s: the secret is empty or holds a NUL byte", path);
        return NULL;
    }
    return lk_strndup(c->a, buf, n);
}

void cli_print_json(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cli_db(cli *c)
{
    if (lk_db_ensure(c->db) != LK_OK)
        return cli_fail("cannot connect to PostgreSQL (database = %s)",
                        *c->cfg.database ? "as configured" : "from the PG* variables");
    return 0;
}

int cli_list(cli *c, lk_stmt *q, const char *what, cli_row_json *as_json, cli_row_print *print)
{
    if (cli_db(c))
        return 1;
    PGresult *res;
    lk_err rc = lk_db_exec(c->db, c->a, q, NULL, &res);
    if (rc != LK_OK)
        return cli_fail("%s: %s", what, cli_reason(rc));
    json_object *arr = lk_json_array(c->a);
    for (int i = 0; i < PQntuples(res); i++) {
        if (c->json)
            json_object_array_add(arr, as_json(c->a, res, i));
        else
            print(res, i);
    }
    if (c->json)
        cli_print_json(arr);
    return 0;
}

int cli_migrate(cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage("usage: latchkey migrate\n  Applies the schema migrations not yet applied.\n");
    (void)argv;
    if (cli_db(c))
        return 1;
    int applied = 0;
    char err[512];
    if (lk_migrate(c->db, &applied, err, sizeof(err)) != LK_OK)
        return cli_fail("%s", err);
    if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_int(o, "applied", applied);
        cli_print_json(o);
    } else {
        printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(cli *, int, char **);
} commands[] = {
    {"migrate", cli_migrate},       {"profile", cli_profile}, {"client", cli_client}, {"key", cli_key},
    {"connection", cli_connection}, {"link", cli_link},       {"sweep", cli_sweep},   {"rotate-key", cli_rotate_key},
    {"webhook", cli_webhook},       {"events", cli_events},
};

int main(int argc, char **argv)
{
    int i = 1;
    bool json = false;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else {
            return cli_usage(USAGE);
        }
    }
    if (i >= argc)
        return cli_usage(USAGE);
    /* --json may also come after the command. */
    for (int k = i; k < argc; k++) {
        if (!strcmp(argv[k], "--json")) {
            json = true;
            for (int m = k; m < argc - 1; m++)
                argv[m] = argv[m + 1];
            argc--;
            k--;
        }
    }
    for (size_t k = 0; k < LK_ARRAY_LEN(commands); k++) {
        if (strcmp(argv[i], commands[k].name) != 0)
            continue;
        bool help = false;
        for (int m = i + 1; m < argc; m++)
            help |= !strcmp(argv[m], "--help") || !strcmp(argv[m], "-h");
        cli c = {.json = json};
        char err[512];
        umask(077);
        /* --help needs no configuration: the command prints its usage. */
        if (!help && lk_config_load(&c.cfg, NULL, false, err, sizeof(err)) != LK_OK)
            return cli_fail("%s", err);
        if (help)
            memset(&c.cfg, 0, sizeof(c.cfg));
        lk_log_setup("cli", help ? LK_LOG_ERROR : c.cfg.log_level);
        c.a = lk_arena_new();
        c.db = lk_db_new(help ? "" : c.cfg.database, "latchkey-cli", help ? 3000 : c.cfg.connect_timeout_ms,
                         help ? 30000 : c.cfg.db_timeout_ms, help ? 35000 : lk_config_tx_idle_ms(&c.cfg));
        int rc = commands[k].fn(&c, argc - i, argv + i);
        lk_db_free(c.db);
        lk_arena_free(c.a);
        if (!help)
            lk_config_free(&c.cfg);
        return rc;
    }
    return cli_usage(USAGE);
}
