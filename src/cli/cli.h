/* The latchkey admin CLI (SPEC §9): shared context and helpers. */
#ifndef LK_CLI_H
#define LK_CLI_H

#include <getopt.h>

#include "config.h"
#include "db.h"
#include "json.h"

/* The largest secret file read (client secrets, user credentials). */
#define CLI_SECRET_MAX 4096

typedef struct cli {
    lk_config cfg;
    lk_db *db;
    lk_arena *a;
    bool json;
} cli;

/* What reading a command's options came to. */
typedef enum cli_args { CLI_ARGS_READ, CLI_ARGS_HELP, CLI_ARGS_BAD } cli_args;

/* Each command: returns the exit status; argv[0] is the command's name. */
int cli_migrate(cli *c, int argc, char **argv);
int cli_profile(cli *c, int argc, char **argv);
/* profile show NAME (cli_profile_show.c). */
int cli_profile_show(cli *c, const char *name);
int cli_client(cli *c, int argc, char **argv);
int cli_key(cli *c, int argc, char **argv);
int cli_connection(cli *c, int argc, char **argv);
int cli_link(cli *c, int argc, char **argv);
/* connection import and connection export (cli_bulk.c); argv[0] is the
 * subcommand's name. */
int cli_connection_import(cli *c, int argc, char **argv);
int cli_connection_export(cli *c, int argc, char **argv);
int cli_sweep(cli *c, int argc, char **argv);
int cli_rotate_key(cli *c, int argc, char **argv);
int cli_webhook(cli *c, int argc, char **argv);
int cli_events(cli *c, int argc, char **argv);

/* A command's options, read with getopt_long (long options only):
 * cli_first_option starts over at argv[1], cli_next_option goes on; -1
 * at the end. */
int cli_first_option(int argc, char **argv, const struct option *opts);
int cli_next_option(int argc, char **argv, const struct option *opts);

/* Prints "latchkey: <reason>" and returns 1 (or 2 for usage errors). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *usage);
/* The start of a command family (argv[1] the subcommand): usage on
 * stderr without one, usage on stdout for --help or -h (as the
 * subcommand or after it). True when answered, *status the exit status. */
bool cli_family_help(int argc, char **argv, const char *usage, int *status);
/* Reads a secret file (trailing newline dropped); NULL with a message. */
char *cli_read_secret(cli *c, const char *path);
/* Prints a JSON value on stdout (pretty). */
void cli_print_json(json_object *o);
/* One row of a listing: as JSON (owned by the caller), or printed. */
typedef json_object *cli_row_json(lk_arena *a, PGresult *res, int i);
typedef void cli_row_print(PGresult *res, int i);
/* Runs q (no parameters) and prints its rows, a JSON array with --json;
 * the exit status (what names the command in a failure). */
int cli_list(cli *c, lk_stmt *q, const char *what, cli_row_json *as_json, cli_row_print *print);
/* Opens the database; 0 or a printed failure. */
int cli_db(cli *c);
/* A reason for a library error in the CLI. */
const char *cli_reason(lk_err rc);

#endif
