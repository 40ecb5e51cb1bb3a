/* latchkey connection list|show|delete and latchkey link */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "conn.h"
#include "health.h"
#include "link.h"
#include "text.h"
#include "usercred.h"

static const char USAGE[] = "usage: latchkey connection list [PROFILE]\n"
                            "       latchkey connection show PROFILE INSTANCE\n"
                            "       latchkey connection delete PROFILE INSTANCE\n"
                            "       latchkey connection import FILE|- [--dry-run]\n"
                            "       latchkey connection export [PROFILE] [--decrypt]\n"
                            "       latchkey connection set-credential PROFILE INSTANCE --credential-file F\n"
                            "                                          [--site S] [--no-check]\n"
                            "           (api_key_per_user profiles: store a user credential, an API token or\n"
                            "            PAT; --site when the profile's API base URL names the site)\n";

/* The arguments of connection set-credential. */
typedef struct credential_args {
    const char *profile, *instance, *file, *site;
    bool nocheck;
} credential_args;

/* 0 once read, or the exit status (--help: 0; bad arguments: 2). */
static int read_credential_args(int argc, char **argv, credential_args *in, bool *done)
{
    static const struct option opts[] = {{"credential-file", required_argument, 0, 'f'},
                                         {"site", required_argument, 0, 's'},
                                         {"no-check", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    *done = true;
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'f': in->file = optarg; break;
        case 's': in->site = optarg; break;
        case 'n': in->nocheck = true; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: return cli_usage(USAGE);
        }
    }
    if (optind != argc - 2 || !in->file)
        return cli_usage(USAGE);
    in->profile = argv[optind];
    in->instance = argv[optind + 1];
    *done = false;
    return 0;
}

/* The user credential fits the profile and the provider accepts it (unless
 * --no-check): 0 with *meta (the site's), or 1 with a message. */
static int check_user_credential(cli *c, const lk_profile *p, const credential_args *in, const char *credential,
                                 json_object **meta)
{
    if (strcmp(p->auth_type, "api_key_per_user") != 0)
        return cli_fail("connection set-credential: profile %s is not an api_key_per_user profile", p->name);
    if (!lk_usercred_valid(p->credential_kind, credential))
        return cli_fail("connection set-credential: the credential file must hold %s", lk_usercred_shape(p));
    bool needs_site = lk_profile_needs_site(p);
    if (needs_site != (in->site != NULL))
        return cli_fail(needs_site ? "connection set-credential: --site is required: the API base URL %s names the site"
                                   : "connection set-credential: --site is not taken: the API base URL %s names no "
                                     "site",
                        p->api_base_url);
    const char *why = NULL;
    lk_upstream *up = lk_upstream_new(&c->cfg);
    lk_err rc = lk_usercred_accept(up, c->a, p, in->site, credential, !in->nocheck, meta, &why);
    lk_upstream_free(up);
    if (rc == LK_EINVAL)
        return cli_fail("connection set-credential: --site: %s", why);
    if (rc == LK_EDENIED)
        return cli_fail("connection set-credential: the site did not accept the credential");
    if (rc != LK_OK)
        return cli_fail("connection set-credential: the site could not be asked (%s)", lk_err_code(rc));
    return 0;
}

/* Stores the credential as the connection's grant, in one transaction. */
static lk_err store_user_credential(cli *c, const lk_profile *p, const char *instance, char *credential,
                                    json_object *meta)
{
    lk_tokens t = {.access_token = credential,
                   .token_type = strcmp(p->credential_kind, "basic") ? "Bearer" : "Basic",
                   .expires_in = -1};
    lk_err rc = lk_db_begin(c->db);
    if (rc == LK_OK)
        rc = lk_conn_write_grant(c->db, c->a, &c->cfg, p, instance, NULL, &t, meta, true, NULL);
    if (rc == LK_OK)
        rc = lk_db_commit(c->db);
    else
        lk_db_rollback(c->db);
    return rc;
}

static int set_credential(cli *c, int argc, char **argv)
{
    credential_args in = {0};
    bool done;
    int status = read_credential_args(argc, argv, &in, &done);
    if (done)
        return status;
    if (!lk_valid_instance_id(in.instance, strlen(in.instance)))
        return cli_fail("connection set-credential: the instance id must be 1 to 255 bytes of printable UTF-8");
    char *credential = cli_read_secret(c, in.file);
    if (!credential)
        return 1;
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, in.profile, &p);
    if (rc != LK_OK)
        return cli_fail("connection set-credential: %s", cli_reason(rc));
    json_object *meta = NULL;
    if (check_user_credential(c, p, &in, credential, &meta))
        return 1;
    rc = store_user_credential(c, p, in.instance, credential, meta);
    if (rc != LK_OK)
        return cli_fail("connection set-credential: %s", cli_reason(rc));
    lk_audit(c->db, c->a, "cli", "connection.set_credential", p->name, in.instance, "ok", NULL);
    printf("credential stored for %s/%s\n", p->name, in.instance);
    return 0;
}

static const char LINK_USAGE[] =
    "usage: latchkey link PROFILE INSTANCE [--scope a,b --redirect-url U --site S --client-id ID\n"
    "                                        --expires-in SECONDS]\n"
    "  Prints an authorization link for INSTANCE (pre-authorize): whoever opens it\n"
    "  connects their account as INSTANCE.\n";

/* The public description of conn with its health (SPEC §11), as the
 * profile declares it; without the forecasts if the profile cannot be read. */
static json_object *conn_json(cli *c, const lk_conn *conn)
{
    json_object *o = lk_conn_json(c->a, conn);
    const lk_profile *p;
    if (lk_profile_load(c->db, c->a, conn->profile, &p) == LK_OK)
        lk_health_json(c->a, o, conn, p);
    return o;
}

int cli_connection(cli *c, int argc, char **argv)
{
    /* import and export read their own options (and --help). */
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return cli_connection_import(c, argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "export"))
        return cli_connection_export(c, argc - 1, argv + 1);
    int status;
    if (cli_family_help(argc, argv, USAGE, &status))
        return status;
    const char *sub = argv[1];
    if (!strcmp(sub, "list") && argc <= 3) {
        if (cli_db(c))
            return 1;
        lk_conn *v;
        size_t n;
        lk_err rc = lk_conn_list(c->db, c->a, argc == 3 ? argv[2] : NULL, &v, &n);
        if (rc != LK_OK)
            return cli_fail("connection list: %s", cli_reason(rc));
        json_object *arr = lk_json_array(c->a);
        for (size_t i = 0; i < n; i++) {
            if (c->json)
                json_object_array_add(arr, json_object_get(conn_json(c, &v[i])));
            else
                printf("%-20s %-32s %-24s expires %s\n", v[i].profile, v[i].instance_id, v[i].status,
                       v[i].expires_at ? v[i].expires_at : "-");
        }
        if (c->json)
            cli_print_json(arr);
        return 0;
    }
    if (!strcmp(sub, "show") && argc == 4) {
        if (cli_db(c))
            return 1;
        lk_conn *conn;
        lk_err rc = lk_conn_load(c->db, c->a, argv[2], argv[3], &conn);
        if (rc == LK_OK)
            rc = lk_conn_read_last_used(c->db, c->a, conn);
        if (rc != LK_OK)
            return cli_fail("connection show: %s", cli_reason(rc));
        cli_print_json(conn_json(c, conn));
        return 0;
    }
    if (!strcmp(sub, "set-credential"))
        return set_credential(c, argc - 1, argv + 1);
    if (!strcmp(sub, "delete") && argc == 4) {
        if (cli_db(c))
            return 1;
        lk_err rc = lk_conn_delete(c->db, c->a, argv[2], argv[3]);
        if (rc != LK_OK)
            return cli_fail("connection delete: %s", cli_reason(rc));
        lk_audit(c->db, c->a, "cli", "connection.delete", argv[2], argv[3], "ok", NULL);
        printf("connection %s/%s deleted\n", argv[2], argv[3]);
        return 0;
    }
    return cli_usage(USAGE);
}

int cli_link(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"scope", required_argument, 0, 's'},
                                         {"redirect-url", required_argument, 0, 'r'},
                                         {"site", required_argument, 0, 'S'},
                                         {"client-id", required_argument, 0, 'c'},
                                         {"expires-in", required_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    lk_link_req lr = {0};
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 's': lr.scope = optarg; break;
        case 'r': lr.redirect_url = optarg; break;
        case 'S': lr.site = optarg; break;
        case 'c': lr.client_id = optarg; break;
        case 'e':
            /* Not a whole number: -1, which lk_link_check refuses. */
            if (!lk_parse_int(optarg, 1, LLONG_MAX, &lr.expires_in))
                lr.expires_in = -1;
            break;
        case 'h': fputs(LINK_USAGE, stdout); return 0;
        default: return cli_usage(LINK_USAGE);
        }
    }
    if (optind != argc - 2)
        return cli_usage(LINK_USAGE);
    if (!*c->cfg.public_base_url)
        return cli_fail("link: public_base_url is not configured");
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, argv[optind], &p);
    if (rc != LK_OK)
        return cli_fail("link: %s", cli_reason(rc));
    lr.instance_id = argv[optind + 1];
    json_object *errors = lk_json_array(c->a);
    if (!lk_link_check(c->db, c->a, &c->cfg, p, &lr, "args", errors, &rc)) {
        if (rc != LK_OK)
            return cli_fail("link: %s", cli_reason(rc));
        json_object *first = json_object_array_get_idx(errors, 0);
        return cli_fail("link: %s", lk_json_str(first, "msg"));
    }
    char *url, *expires_at;
    rc = lk_link_create(c->db, c->a, &c->cfg, p, &lr, "cli", &url, &expires_at);
    if (rc != LK_OK)
        return cli_fail("link: %s", cli_reason(rc));
    lk_audit(c->db, c->a, "cli", "link.create", p->name, lr.instance_id, "ok", NULL);
    if (c->json) {
        json_object *out = lk_json_object(c->a);
        lk_json_set_str(out, "authorization_url", url);
        lk_json_set_str(out, "expires_at", expires_at);
        cli_print_json(out);
    } else {
        puts(url);
    }
    return 0;
}
