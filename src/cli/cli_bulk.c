/* latchkey connection import|export: connections in bulk (bulk.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "bulk.h"
#include "cli.h"
#include "profile.h"

static const char IMPORT_USAGE[] =
    "usage: latchkey connection import FILE|- [--dry-run] [--json]\n"
    "  One connection per line (JSON): profile, instance_id, access_token, refresh_token,\n"
    "  expires_at (RFC 3339) or expires_in, scope, metadata, client_id, token_type.\n"
    "  A bad line is reported (line N: reason) and nothing of it stored; a stored\n"
    "  connection that expires as late or later is left alone (skipped).\n";
static const char EXPORT_USAGE[] = "usage: latchkey connection export [PROFILE] [--decrypt]\n"
                                   "  JSON lines in the import format; tokens stay sealed (access_token_sealed,\n"
                                   "  refresh_token_sealed) unless --decrypt: the output is then live credentials.\n";

/* Reads every line of in into b, reporting refused ones on stderr; the
 * library error that stopped it, if any. */
static lk_err import_lines(lk_bulk *b, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long lineno = 0;
    lk_err rc = LK_OK;
    while (rc == LK_OK && (len = getline(&line, &cap, in)) != -1) {
        lineno++;
        size_t n = (size_t)len;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        if (!n)
            continue;
        const char *why = NULL;
        rc = lk_bulk_add(b, line, n, &why);
        if (why)
            fprintf(stderr, "line %lld: %s\n", lineno, why);
    }
    free(line);
    if (rc == LK_OK)
        rc = lk_bulk_flush(b);
    return rc;
}

/* Prints the summary; the exit status (1 when a line was refused). */
static int import_summary(cli *c, const lk_bulk_counts *k, bool dry_run)
{
    if (c->json) {
        json_object *o = lk_json_object(c->a);
        lk_json_set_int(o, "imported", k->imported);
        lk_json_set_int(o, "updated", k->updated);
        lk_json_set_int(o, "skipped", k->skipped);
        lk_json_set_int(o, "refused", k->refused);
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        cli_print_json(o);
    } else {
        printf("%simported %lld, updated %lld, skipped %lld, refused %lld%s\n", dry_run ? "dry run: would have " : "",
               k->imported, k->updated, k->skipped, k->refused,
               k->refused ? " (the refused lines were not stored)" : "");
    }
    return k->refused ? 1 : 0;
}

int cli_connection_import(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, 0, 'n'}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool dry_run = false;
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'n': dry_run = true; break;
        case 'j': c->json = true; break;
        case 'h': fputs(IMPORT_USAGE, stdout); return 0;
        default: return cli_usage(IMPORT_USAGE);
        }
    }
    if (optind != argc - 1)
        return cli_usage(IMPORT_USAGE);
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in)
        return cli_fail("connection import: cannot read %s", path);
    if (cli_db(c)) {
        if (in != stdin)
            fclose(in);
        return 1;
    }
    lk_bulk *b = lk_bulk_new(c->db, &c->cfg, dry_run);
    lk_err rc = import_lines(b, in);
    if (in != stdin)
        fclose(in);
    lk_bulk_counts k = *lk_bulk_counts_of(b);
    lk_bulk_free(b);
    if (rc != LK_OK)
        return cli_fail("connection import: stopped (%s); the batches before were stored, run it again",
                        cli_reason(rc));
    if (!dry_run)
        lk_audit(c->db, c->a, "cli", "connection.import", NULL, NULL, k.refused ? "partial" : "ok", NULL);
    return import_summary(c, &k, dry_run);
}

int cli_connection_export(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"decrypt", no_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool decrypt = false;
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        switch (o) {
        case 'd': decrypt = true; break;
        case 'h': fputs(EXPORT_USAGE, stdout); return 0;
        default: return cli_usage(EXPORT_USAGE);
        }
    }
    if (optind < argc - 1)
        return cli_usage(EXPORT_USAGE);
    const char *profile = optind == argc - 1 ? argv[optind] : NULL;
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    if (profile && lk_profile_load(c->db, c->a, profile, &p) != LK_OK)
        return cli_fail("connection export: no such profile");
    long long n = 0;
    lk_err rc = lk_bulk_export(c->db, &c->cfg, profile, decrypt, stdout, &n);
    if (fflush(stdout) != 0 && rc == LK_OK)
        rc = LK_EINTERNAL;
    if (rc != LK_OK)
        return cli_fail("connection export: %s", cli_reason(rc));
    lk_audit(c->db, c->a, "cli", decrypt ? "connection.export_decrypted" : "connection.export", profile, NULL, "ok",
             NULL);
    return 0;
}
