/* latchkey client add …: white-label clients of a profile */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "profile.h"
#include "url.h"

static const char CLIENT_USAGE[] =
    "usage: latchkey client add PROFILE --client-id ID --client-secret-file FILE [--callback-url URL]\n"
    "  Adds a white-label client: links may name it with client_id, and its\n"
    "  connections are refreshed with it.\n";

static lk_stmt q_client_nextval = LK_STMT("cli_client_nextval", "SELECT nextval('profile_clients_id_seq')", 0);
static lk_stmt q_client_insert = LK_STMT("cli_client_insert",
                                         "INSERT INTO profile_clients (id, profile_id, client_id, "
                                         "client_secret, callback_url) VALUES ($1, $2, $3, $4, $5)",
                                         5);

/* The arguments of client add. */
typedef struct client_args {
    const char *profile, *client_id, *secret_file, *callback;
} client_args;

static cli_args read_client_args(int argc, char **argv, client_args *in)
{
    static const struct option opts[] = {{"client-id", required_argument, 0, 'i'},
                                         {"client-secret-file", required_argument, 0, 's'},
                                         {"callback-url", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'i': in->client_id = optarg; break;
        case 's': in->secret_file = optarg; break;
        case 'c': in->callback = optarg; break;
        case 'h': return CLI_ARGS_HELP;
        default: return CLI_ARGS_BAD;
        }
    }
    if (optind != argc - 1 || !in->client_id || !in->secret_file)
        return CLI_ARGS_BAD;
    in->profile = argv[optind];
    return CLI_ARGS_READ;
}

/* Seals the secret under the new row's id and inserts the client. */
static lk_err insert_client(cli *c, const lk_profile *p, const client_args *in, const char *secret)
{
    PGresult *res;
    lk_err rc = lk_db_exec(c->db, c->a, &q_client_nextval, NULL, &res);
    char *sealed = NULL;
    const char *id = rc == LK_OK ? lk_strdup(c->a, lk_db_val(res, 0, 0)) : NULL;
    if (rc == LK_OK)
        rc = lk_seal(c->a, &c->cfg.keys, "profile_clients", "client_secret", id, secret, strlen(secret), &sealed);
    if (rc == LK_OK) {
        const char *params[] = {id, p->id_text, in->client_id, sealed, in->callback};
        rc = lk_db_exec(c->db, c->a, &q_client_insert, params, NULL);
    }
    return rc;
}

int cli_client(cli *c, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(CLIENT_USAGE, stdout);
            return 0;
        }
        return cli_usage(CLIENT_USAGE);
    }
    client_args in = {0};
    cli_args got = read_client_args(argc - 1, argv + 1, &in);
    if (got == CLI_ARGS_HELP) {
        fputs(CLIENT_USAGE, stdout);
        return 0;
    }
    if (got == CLI_ARGS_BAD)
        return cli_usage(CLIENT_USAGE);
    if (!*in.client_id || strlen(in.client_id) > 512)
        return cli_fail("client add: the client id must be 1 to 512 bytes");
    lk_url u;
    if (in.callback && lk_url_parse(c->a, in.callback, &u) != LK_OK)
        return cli_fail("client add: --callback-url must be an http(s) URL");
    char *secret = cli_read_secret(c, in.secret_file);
    if (!secret)
        return 1;
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, in.profile, &p);
    if (rc != LK_OK)
        return cli_fail("client add: %s", cli_reason(rc));
    if (p->client_id && !strcmp(p->client_id, in.client_id))
        return cli_fail("client add: %s is the profile's own client", in.client_id);
    rc = insert_client(c, p, &in, secret);
    if (rc == LK_ECONFLICT)
        return cli_fail("client add: %s already has a client %s", p->name, in.client_id);
    if (rc != LK_OK)
        return cli_fail("client add: %s", cli_reason(rc));
    printf("client %s added to profile %s\n", in.client_id, p->name);
    return 0;
}
