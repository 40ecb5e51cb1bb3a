/* latchkey webhook add|list|remove|test|rotate (SPEC §11) */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "text.h"
#include "webhook.h"

static const char USAGE[] = "usage: latchkey webhook add URL [--events 'connection.*,profile.*'] [--profiles a,b]\n"
                            "           prints the signing secret (whsec_...) once. URL: https, or http to a\n"
                            "           loopback host; private addresses are refused when delivering.\n"
                            "           --events: patterns, '*' matching any run (default: every event)\n"
                            "       latchkey webhook list               receivers, deliveries pending and dead\n"
                            "       latchkey webhook remove ID\n"
                            "       latchkey webhook test ID            queues a webhook.test event for ID alone\n"
                            "       latchkey webhook rotate ID          prints a new secret once; the old one keeps\n"
                            "           signing beside it for 24 hours\n"
                            "  `latchkey events` delivers (Standard Webhooks: webhook-id, webhook-timestamp,\n"
                            "  webhook-signature headers).\n";

/* Each receiver with its deliveries pending and dead, and the newest
 * error of one not delivered. */
static lk_stmt q_list =
    LK_STMT("cli_webhook_list",
            "SELECT w.id, w.url, w.events::text, w.profiles::text, (SELECT count(*) FROM deliveries d WHERE "
            "d.webhook_id = w.id AND d.status = 'pending') AS pending, (SELECT count(*) FROM deliveries d WHERE "
            "d.webhook_id = w.id AND d.status = 'dead') AS dead, (SELECT d.last_error FROM deliveries d WHERE "
            "d.webhook_id = w.id AND d.status <> 'delivered' AND d.last_error IS NOT NULL ORDER BY d.id DESC LIMIT 1), "
            "to_char(w.previous_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM webhooks w "
            "ORDER BY w.id",
            0);

/* The arguments of webhook add. */
typedef struct add_args {
    const char *url, *events, *profiles;
} add_args;

static cli_args read_add_args(int argc, char **argv, add_args *in)
{
    static const struct option opts[] = {{"events", required_argument, 0, 'e'},
                                         {"profiles", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'e': in->events = optarg; break;
        case 'p': in->profiles = optarg; break;
        case 'h': return CLI_ARGS_HELP;
        default: return CLI_ARGS_BAD;
        }
    }
    if (optind != argc - 1)
        return CLI_ARGS_BAD;
    in->url = argv[optind];
    return CLI_ARGS_READ;
}

/* Prints a secret shown only once (stdout), or the JSON with it. */
static void print_secret(cli *c, const char *id, const char *secret, const char *what)
{
    if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_str(o, "id", id);
        lk_json_set_str(o, "secret", secret);
        cli_print_json(o);
    } else {
        puts(secret);
        fprintf(stderr, "latchkey: webhook %s %s; its signing secret is shown only this once\n", id, what);
    }
}

static int webhook_add(cli *c, int argc, char **argv)
{
    add_args in = {0};
    cli_args got = read_add_args(argc, argv, &in);
    if (got == CLI_ARGS_HELP) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (got == CLI_ARGS_BAD)
        return cli_usage(USAGE);
    if (!lk_webhook_url_ok(in.url))
        return cli_fail("webhook add: the URL must be https (http only to a loopback host)");
    char *events = "[\"*\"]", *profiles = NULL;
    const char *why;
    if (in.events && lk_webhook_list_json(c->a, in.events, false, &events, &why) != LK_OK)
        return cli_fail("webhook add: --events: %s", why);
    if (in.profiles && lk_webhook_list_json(c->a, in.profiles, true, &profiles, &why) != LK_OK)
        return cli_fail("webhook add: --profiles: %s", why);
    if (cli_db(c))
        return 1;
    char *id, *secret;
    lk_err rc = lk_webhook_add(c->db, c->a, &c->cfg, in.url, events, profiles, &id, &secret);
    if (rc != LK_OK)
        return cli_fail("webhook add: %s", cli_reason(rc));
    print_secret(c, id, secret, "added");
    return 0;
}

/* One row of webhook list as JSON. */
static json_object *webhook_json(lk_arena *a, PGresult *res, int i)
{
    json_object *it = json_object_new_object();
    json_object_object_add(it, "id", json_object_new_int64(lk_db_ll(res, i, "id")));
    lk_json_set_str(it, "url", lk_db_val(res, i, 1));
    for (int col = 2; col <= 3; col++) {
        const char *text = lk_db_val(res, i, col);
        json_object *v = NULL;
        if (text)
            lk_json_parse(a, text, strlen(text), &v);
        json_object_object_add(it, col == 2 ? "events" : "profiles", json_object_get(v));
    }
    json_object_object_add(it, "pending", json_object_new_int64(lk_db_ll(res, i, "pending")));
    json_object_object_add(it, "dead", json_object_new_int64(lk_db_ll(res, i, "dead")));
    lk_json_set_str(it, "last_error", lk_db_val(res, i, 6));
    lk_json_set_str(it, "previous_secret_until", lk_db_val(res, i, 7));
    return it;
}

/* One row of webhook list as text. */
static void webhook_print(PGresult *res, int i)
{
    const char *profiles = lk_db_val(res, i, 3), *error = lk_db_val(res, i, 6);
    printf("%-6s %-40s events %s profiles %s pending %s dead %s%s%s\n", lk_db_val(res, i, 0), lk_db_val(res, i, 1),
           lk_db_val(res, i, 2), profiles ? profiles : "*", lk_db_val(res, i, 4), lk_db_val(res, i, 5),
           error ? " last error: " : "", error ? error : "");
}

/* remove, test or rotate on webhook ID. */
static int webhook_on_id(cli *c, const char *sub, const char *id)
{
    long long v;
    if (!lk_parse_int(id, 1, 9223372036854775807LL, &v))
        return cli_fail("webhook %s: %s is not a webhook id (see webhook list)", sub, id);
    if (cli_db(c))
        return 1;
    char *out = NULL;
    lk_err rc;
    if (!strcmp(sub, "remove"))
        rc = lk_webhook_remove(c->db, c->a, id);
    else if (!strcmp(sub, "test"))
        rc = lk_webhook_test(c->db, c->a, id, &out);
    else
        rc = lk_webhook_rotate(c->db, c->a, &c->cfg, id, &out);
    if (rc == LK_ENOTFOUND)
        return cli_fail("webhook %s: no webhook %s", sub, id);
    if (rc != LK_OK)
        return cli_fail("webhook %s: %s", sub, cli_reason(rc));
    if (!strcmp(sub, "rotate")) {
        print_secret(c, id, out, "rotated (the previous secret signs too for 24 hours)");
    } else if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_str(o, "id", id);
        lk_json_set_str(o, "webhook_id", out);
        cli_print_json(o);
    } else if (out) {
        printf("webhook.test %s queued for webhook %s\n", out, id);
    } else {
        printf("webhook %s removed\n", id);
    }
    return 0;
}

int cli_webhook(cli *c, int argc, char **argv)
{
    int status;
    if (cli_family_help(argc, argv, USAGE, &status))
        return status;
    const char *sub = argv[1];
    if (!strcmp(sub, "add"))
        return webhook_add(c, argc - 1, argv + 1);
    if (!strcmp(sub, "list") && argc == 2)
        return cli_list(c, &q_list, "webhook list", webhook_json, webhook_print);
    if ((!strcmp(sub, "remove") || !strcmp(sub, "test") || !strcmp(sub, "rotate")) && argc == 3)
        return webhook_on_id(c, sub, argv[2]);
    return cli_usage(USAGE);
}
