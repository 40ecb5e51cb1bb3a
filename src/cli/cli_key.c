/* latchkey key create|list|revoke */
#include <stdio.h>
#include <string.h>

#include "botkey.h"
#include "cli.h"
#include "text.h"

static const char USAGE[] = "usage: latchkey key create --name NAME --profiles a,b|'*' [--instances PREFIX]\n"
                            "           [--read-only] [--metrics]\n"
                            "           prints the bot key once; only its SHA-256 is stored. A read-only key\n"
                            "           calls only read-only MCP tools, only GET and HEAD through /proxy,\n"
                            "           and never /token or /refresh (403). A --metrics key may scrape\n"
                            "           GET /metrics; with --metrics, --profiles may be left out (none)\n"
                            "       latchkey key list\n"
                            "       latchkey key revoke NAME\n";

static lk_stmt q_list = LK_STMT("cli_key_list",
                                "SELECT name, key_prefix, profiles::text, instance_prefix, created_at, "
                                "revoked_at, last_used_at, read_only, metrics FROM api_keys ORDER BY name",
                                0);
static lk_stmt q_revoke =
    LK_STMT("cli_key_revoke", "UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", 1);

/* The --profiles list: profile names or '*'; 0, or 1 with a message. */
static int read_profiles(lk_arena *a, const char *profiles, lk_strv *pv)
{
    pv->v = lk_alloc(a, (strlen(profiles) + 2) * sizeof(char *));
    pv->n = 0;
    const char *s = profiles;
    for (;;) {
        size_t n = strcspn(s, ",");
        char *item = lk_strndup(a, s, n);
        if (strcmp(item, "*") != 0 && !lk_valid_profile_name(item, n))
            return cli_fail("key create: %s is not a profile name (or '*')", item);
        pv->v[pv->n++] = item;
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

/* Prints the new key once (stdout), or its JSON. */
static void print_created(cli *c, const char *name, const char *key, const lk_botkey_scope *scope)
{
    if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_str(o, "name", name);
        lk_json_set_str(o, "key", key);
        json_object_object_add(o, "read_only", json_object_new_boolean(scope->read_only));
        json_object_object_add(o, "metrics", json_object_new_boolean(scope->metrics));
        cli_print_json(o);
    } else {
        puts(key);
        fprintf(stderr, "latchkey: %s%skey %s created; it is shown only this once\n",
                scope->read_only ? "read-only " : "", scope->metrics ? "metrics " : "", name);
    }
}

static int key_create(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, 0, 'n'},
                                         {"profiles", required_argument, 0, 'p'},
                                         {"instances", required_argument, 0, 'i'},
                                         {"read-only", no_argument, 0, 'r'},
                                         {"metrics", no_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *name = NULL, *profiles = NULL;
    lk_botkey_scope scope = {0};
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'n': name = optarg; break;
        case 'p': profiles = optarg; break;
        case 'i': scope.instance_prefix = optarg; break;
        case 'r': scope.read_only = true; break;
        case 'm': scope.metrics = true; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: return cli_usage(USAGE);
        }
    }
    if (optind != argc || !name || (!profiles && !scope.metrics))
        return cli_usage(USAGE);
    if (!*name || strlen(name) > 128)
        return cli_fail("key create: the name must be 1 to 128 bytes");
    lk_strv pv = {0};
    if (profiles && read_profiles(c->a, profiles, &pv))
        return 1;
    const char *prefix = scope.instance_prefix;
    if (prefix && (!*prefix || !lk_valid_instance_id(prefix, strlen(prefix))))
        return cli_fail("key create: --instances must be a non-empty printable prefix");
    if (cli_db(c))
        return 1;
    char *key;
    lk_err rc = lk_botkey_create(c->db, c->a, name, &pv, &scope, &key);
    if (rc == LK_ECONFLICT)
        return cli_fail("key create: a key called %s exists already", name);
    if (rc != LK_OK)
        return cli_fail("key create: %s", cli_reason(rc));
    print_created(c, name, key, &scope);
    return 0;
}

/* One row of key list as JSON. */
static json_object *key_json(lk_arena *a, PGresult *res, int i)
{
    json_object *it = json_object_new_object();
    lk_json_set_str(it, "name", lk_db_val(res, i, 0));
    lk_json_set_str(it, "prefix", lk_db_val(res, i, 1));
    json_object *pj = NULL;
    lk_json_parse(a, lk_db_val(res, i, 2), strlen(lk_db_val(res, i, 2)), &pj);
    json_object_object_add(it, "profiles", json_object_get(pj));
    lk_json_set_str(it, "instances", lk_db_val(res, i, 3));
    json_object_object_add(it, "read_only", json_object_new_boolean(lk_db_bool(res, i, "read_only")));
    json_object_object_add(it, "metrics", json_object_new_boolean(lk_db_bool(res, i, "metrics")));
    lk_json_set_str(it, "created_at", lk_db_val(res, i, 4));
    lk_json_set_str(it, "revoked_at", lk_db_val(res, i, 5));
    lk_json_set_str(it, "last_used_at", lk_db_val(res, i, 6));
    return it;
}

/* One row of key list as text. */
static void key_print(PGresult *res, int i)
{
    printf("%-24s %s…  %-24s %-12s %-10s %-7s %s\n", lk_db_val(res, i, 0), lk_db_val(res, i, 1), lk_db_val(res, i, 2),
           lk_db_val(res, i, 3) ? lk_db_val(res, i, 3) : "*",
           lk_db_bool(res, i, "read_only") ? "read-only" : "read-write",
           lk_db_bool(res, i, "metrics") ? "metrics" : "-", lk_db_val(res, i, 5) ? "revoked" : "active");
}

int cli_key(cli *c, int argc, char **argv)
{
    int status;
    if (cli_family_help(argc, argv, USAGE, &status))
        return status;
    const char *sub = argv[1];
    if (!strcmp(sub, "create"))
        return key_create(c, argc - 1, argv + 1);
    if (!strcmp(sub, "list") && argc == 2)
        return cli_list(c, &q_list, "key list", key_json, key_print);
    if (!strcmp(sub, "revoke") && argc == 3) {
        if (cli_db(c))
            return 1;
        const char *params[] = {argv[2]};
        PGresult *res;
        lk_err rc = lk_db_exec(c->db, c->a, &q_revoke, params, &res);
        if (rc != LK_OK)
            return cli_fail("key revoke: %s", cli_reason(rc));
        if (!strcmp(PQcmdTuples(res), "0"))
            return cli_fail("key revoke: no active key called %s", argv[2]);
        printf("key %s revoked\n", argv[2]);
        return 0;
    }
    return cli_usage(USAGE);
}
