/* latchkey profile … */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "profile.h"
#include "template.h"
#include "text.h"
#include "upstream.h"
#include "usercred.h"

static const char PROFILE_USAGE[] =
    "usage: latchkey profile add NAME --template atlassian-confluence|atlassian-jira|generic\n"
    "           --client-id ID --client-secret-file FILE --callback-url URL\n"
    "           [--display-name TEXT --authorization-url U --token-url U --refresh-url U\n"
    "            --scopes \"a b\" --scope-separator S --api-base-url U --token-style json|form|basic\n"
    "            --no-pkce --param key=value ... --allow-redirect URL ... --allow-direct-authorize\n"
    "            --issuer URL --resources-url U --proxy-only --proxy-path-prefix /wiki/rest/api/ ...\n"
    "            --tools a,b (the MCP tools offered; default: all of the template's)]\n"
    "       latchkey profile add NAME --template T --auth-type api_key|api_key_per_user\n"
    "           [--credential-type basic|bearer --credential-file F (api_key: the user credential\n"
    "            all bots share)\n"
    "            --site S (api_key, when the API base URL names {site_url}, {site_host} or {cloud_id})\n"
    "            --callback-url URL (api_key_per_user) --api-base-url U --check-path P\n"
    "            --display-name TEXT --tenant-info-url U --allow-http-sites --allow-private-sites\n"
    "            --no-check --tools a,b]\n"
    "  generic profiles with a user credential (an API token or PAT; auth types api_key,\n"
    "  api_key_per_user): --api-base-url alone names the provider (no site, no check\n"
    "  unless --check-path; shown under NAME unless --display-name); without it the\n"
    "  base URL is the server a user names, checked as Data Center would answer.\n"
    "       latchkey profile update NAME [--refresh-token-idle-days N|none]\n"
    "           [--grant-lifetime-days N|none]\n"
    "  refresh tokens unused for N days lapse, grants end N days after consent: the\n"
    "  health fields and the sweep's connection.expiring forecast follow them.\n"
    "       latchkey profile list\n"
    "       latchkey profile show NAME\n"
    "       latchkey profile remove NAME\n";

static lk_stmt q_list = LK_STMT("cli_profile_list",
                                "SELECT name, display_name, template, auth_type, client_id, "
                                "misconfigured_reason, (SELECT count(*) FROM connections c WHERE "
                                "c.profile_id = p.id) AS connections FROM profiles p ORDER BY name",
                                0);
static lk_stmt q_remove = LK_STMT("cli_profile_remove", "DELETE FROM profiles WHERE name = $1", 1);
static void push(lk_arena *a, lk_strv *v, const char *s)
{
    char **nv = lk_alloc(a, (v->n + 2) * sizeof(char *));
    if (v->n)
        memcpy(nv, v->v, v->n * sizeof(char *));
    nv[v->n++] = lk_strdup(a, s);
    v->v = nv;
}

static lk_strv split_ws(lk_arena *a, const char *s)
{
    lk_strv v = {NULL, 0};
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t n = strcspn(p, " ,\t");
        if (n)
            push(a, &v, lk_strndup(a, p, n));
        p += n;
    }
    return v;
}

/* The options of profile add, in the order getopt lists them (its messages
 * for an ambiguous abbreviation name them in this order); their values
 * reach the profile in this order too, after the template, the auth type
 * and the API base URL. --token-style comes after --credential-type, so
 * that a wrong credential type is the one reported when both are wrong. */
enum {
    A_TEMPLATE,
    A_CLIENT_ID,
    A_SECRET_FILE,
    A_CALLBACK,
    A_DISPLAY,
    A_AUTHZ_URL,
    A_TOKEN_URL,
    A_REFRESH_URL,
    A_SCOPES,
    A_SCOPE_SEP,
    A_API_BASE,
    A_NO_PKCE,
    A_PARAM,
    A_REDIRECT,
    A_DIRECT,
    A_ISSUER,
    A_RESOURCES,
    A_PROXY_ONLY,
    A_PATH_PREFIX,
    A_AUTH_TYPE,
    A_CRED_FILE,
    A_CRED_TYPE,
    A_TOKEN_STYLE,
    A_SITE,
    A_CHECK_PATH,
    A_TENANT,
    A_ALLOW_HTTP,
    A_ALLOW_PRIVATE,
    A_NO_CHECK,
    A_TOOLS,
    A_IDLE_DAYS,
    A_GRANT_DAYS,
    A_HELP,
    A_COUNT
};

/* getopt's value for option i: clear of every character. */
#define A_OPT_VAL(i) (1000 + (i))

/* How an option's value reaches the profile. */
typedef enum {
    BY_HAND,     /* profile_add's own steps read it */
    TO_TEXT,     /* replaces a text field */
    TO_CHOICE,   /* replaces a text field, once it is one of choices */
    TO_FLAG,     /* the field is true when given, false when not */
    TO_FLAG_OFF, /* the field is false when given */
    TO_LIST,     /* every value given, in order, replaces a list field */
    TO_DAYS,     /* a number of days (or none) replaces an int field */
} add_target;

typedef struct add_option {
    const char *name;
    int has_arg;
    add_target target;
    size_t field;               /* offsetof(lk_profile, ...) unless BY_HAND */
    const char *const *choices; /* TO_CHOICE: the values taken, NULL-ended */
    const char *problem;        /* TO_CHOICE: the message for another value */
} add_option;

static const char *const CRED_TYPES[] = {"basic", "bearer", NULL};
static const char *const TOKEN_STYLES[] = {"json", "form", "basic", NULL};

#define HAND(n, arg)                                                                                                   \
    {                                                                                                                  \
        n, arg, BY_HAND, 0, NULL, NULL                                                                                 \
    }
#define TEXT(n, f)                                                                                                     \
    {                                                                                                                  \
        n, required_argument, TO_TEXT, offsetof(lk_profile, f), NULL, NULL                                             \
    }
#define CHOICE(n, f, c, why)                                                                                           \
    {                                                                                                                  \
        n, required_argument, TO_CHOICE, offsetof(lk_profile, f), c, why                                               \
    }
#define FLAG(n, t, f)                                                                                                  \
    {                                                                                                                  \
        n, no_argument, t, offsetof(lk_profile, f), NULL, NULL                                                         \
    }
#define DAYS(n, f)                                                                                                     \
    {                                                                                                                  \
        n, required_argument, TO_DAYS, offsetof(lk_profile, f), NULL, NULL                                             \
    }
#define LIST(n, f)                                                                                                     \
    {                                                                                                                  \
        n, required_argument, TO_LIST, offsetof(lk_profile, f), NULL, NULL                                             \
    }

static const add_option ADD_OPTIONS[A_COUNT] = {
    [A_TEMPLATE] = HAND("template", required_argument),
    [A_CLIENT_ID] = TEXT("client-id", client_id),
    [A_SECRET_FILE] = HAND("client-secret-file", required_argument),
    [A_CALLBACK] = TEXT("callback-url", callback_url),
    [A_DISPLAY] = TEXT("display-name", display_name),
    [A_AUTHZ_URL] = TEXT("authorization-url", authorization_url),
    [A_TOKEN_URL] = TEXT("token-url", token_url),
    [A_REFRESH_URL] = TEXT("refresh-url", refresh_url),
    [A_SCOPES] = HAND("scopes", required_argument),
    [A_SCOPE_SEP] = TEXT("scope-separator", scope_separator),
    [A_API_BASE] = HAND("api-base-url", required_argument),
    [A_NO_PKCE] = FLAG("no-pkce", TO_FLAG_OFF, pkce),
    [A_PARAM] = HAND("param", required_argument),
    [A_REDIRECT] = LIST("allow-redirect", allowed_redirects),
    [A_DIRECT] = FLAG("allow-direct-authorize", TO_FLAG, allow_direct_authorize),
    [A_ISSUER] = TEXT("issuer", issuer),
    [A_RESOURCES] = TEXT("resources-url", resources_url),
    [A_PROXY_ONLY] = FLAG("proxy-only", TO_FLAG, proxy_only),
    [A_PATH_PREFIX] = LIST("proxy-path-prefix", proxy_path_prefixes),
    [A_AUTH_TYPE] = HAND("auth-type", required_argument),
    [A_CRED_FILE] = HAND("credential-file", required_argument),
    [A_CRED_TYPE] = CHOICE("credential-type", credential_kind, CRED_TYPES,
                           "--credential-type must be basic (email:api_token) or bearer (a PAT)"),
    [A_TOKEN_STYLE] = CHOICE("token-style", token_style, TOKEN_STYLES, "--token-style must be json, form or basic"),
    [A_SITE] = HAND("site", required_argument),
    [A_CHECK_PATH] = TEXT("check-path", check_path),
    [A_TENANT] = TEXT("tenant-info-url", tenant_info_url),
    [A_ALLOW_HTTP] = FLAG("allow-http-sites", TO_FLAG, allow_http_sites),
    [A_ALLOW_PRIVATE] = FLAG("allow-private-sites", TO_FLAG, allow_private_sites),
    [A_NO_CHECK] = HAND("no-check", no_argument),
    [A_TOOLS] = HAND("tools", required_argument),
    [A_IDLE_DAYS] = DAYS("refresh-token-idle-days", refresh_token_idle_days),
    [A_GRANT_DAYS] = DAYS("grant-lifetime-days", grant_lifetime_days),
    [A_HELP] = HAND("help", no_argument),
};

/* What was given: the last value of each option ("" for a flag), and every
 * value of the repeatable ones. */
typedef struct add_args {
    const char *value[A_COUNT];
    lk_strv all[A_COUNT];
} add_args;

static cli_args read_add_args(lk_arena *a, int argc, char **argv, add_args *in)
{
    struct option opts[A_COUNT + 1] = {{0}};
    for (int i = 0; i < A_COUNT; i++)
        opts[i] = (struct option){ADD_OPTIONS[i].name, ADD_OPTIONS[i].has_arg, NULL, A_OPT_VAL(i)};
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        int i = o - A_OPT_VAL(0);
        if (i < 0 || i >= A_COUNT)
            return CLI_ARGS_BAD;
        if (i == A_HELP)
            return CLI_ARGS_HELP;
        in->value[i] = optarg ? optarg : "";
        if (optarg)
            push(a, &in->all[i], optarg);
    }
    return CLI_ARGS_READ;
}

static bool is_choice(const char *const *choices, const char *v)
{
    for (size_t i = 0; choices[i]; i++)
        if (!strcmp(choices[i], v))
            return true;
    return false;
}

/* A number of days of --refresh-token-idle-days or --grant-lifetime-days:
 * 1 to LK_PROFILE_DAYS_MAX, or "none" (0); false for anything else. */
static bool parse_days(const char *v, int *out)
{
    long long n = 0;
    if (strcmp(v, "none") != 0 && !lk_parse_int(v, 1, LK_PROFILE_DAYS_MAX, &n))
        return false;
    *out = (int)n;
    return true;
}

/* Applies the options of the table; 0, or 1 with a message for a value
 * that is not among its choices. */
static int apply_table(lk_profile *p, const add_args *in)
{
    for (int i = 0; i < A_COUNT; i++) {
        const add_option *opt = &ADD_OPTIONS[i];
        const char *v = in->value[i];
        void *field = (char *)p + opt->field;
        switch (opt->target) {
        case BY_HAND: break;
        case TO_CHOICE:
            if (v && !is_choice(opt->choices, v))
                return cli_fail("profile add: %s", opt->problem);
            /* fall through */
        case TO_TEXT:
            if (v)
                *(char **)field = (char *)v;
            break;
        case TO_FLAG: *(bool *)field = v != NULL; break;
        case TO_FLAG_OFF:
            if (v)
                *(bool *)field = false;
            break;
        case TO_LIST: *(lk_strv *)field = in->all[i]; break;
        case TO_DAYS:
            if (v && !parse_days(v, (int *)field))
                return cli_fail("profile add: --%s takes a number of days (1 to %d) or none", opt->name,
                                LK_PROFILE_DAYS_MAX);
            break;
        }
    }
    return 0;
}

/* --scopes replaces the template's, which keeps the ones it always asks. */
static void apply_scopes(lk_arena *a, lk_profile *p, const char *scopes)
{
    p->scopes = split_ws(a, scopes);
    for (size_t i = 0; i < p->always_scopes.n; i++) {
        bool has = false;
        for (size_t k = 0; k < p->scopes.n; k++)
            has |= !strcmp(p->scopes.v[k], p->always_scopes.v[i]);
        if (!has)
            push(a, &p->scopes, p->always_scopes.v[i]);
    }
}

/* --tools a,b: every comma ends a name, so that an empty one is seen
 * (lk_profile_validate checks the names and their number). */
static lk_strv split_commas(lk_arena *a, const char *s)
{
    lk_strv v = {NULL, 0};
    for (;;) {
        size_t n = strcspn(s, ",");
        push(a, &v, lk_strndup(a, s, n));
        if (!s[n] || v.n > LK_PROFILE_TOOLS_MAX)
            return v;
        s += n + 1;
    }
}

/* Each --param key=value joins the extra authorization parameters. */
static int apply_params(lk_arena *a, lk_profile *p, const lk_strv *params)
{
    if (!p->extra_params)
        p->extra_params = lk_json_object(a);
    for (size_t i = 0; i < params->n; i++) {
        char *eq = strchr(params->v[i], '=');
        if (!eq || eq == params->v[i])
            return cli_fail("profile add: --param takes key=value");
        *eq = '\0';
        lk_json_set_str(p->extra_params, params->v[i], eq + 1);
    }
    return 0;
}

/* The options over the template: 0, or 1 with a message. The auth type
 * first (it sets its defaults), the base URL before --check-path (it
 * drops the Data Center check path for a provider's own base URL). */
static int apply_add_args(lk_arena *a, lk_profile *p, const add_args *in)
{
    const char *auth_type = in->value[A_AUTH_TYPE];
    if (auth_type && lk_profile_set_auth_type(a, p, auth_type) != LK_OK)
        return cli_fail("profile add: --auth-type must be oauth2, api_key or api_key_per_user");
    if (in->value[A_API_BASE])
        lk_profile_set_api_base_url(p, in->value[A_API_BASE]);
    if (apply_table(p, in))
        return 1;
    if (in->value[A_SCOPES])
        apply_scopes(a, p, in->value[A_SCOPES]);
    if (in->value[A_TOOLS])
        p->tools = split_commas(a, in->value[A_TOOLS]);
    /* A profile without a name of its own (generic ones with a user
     * credential) is shown under its profile name. */
    if (!p->display_name)
        p->display_name = p->name;
    return apply_params(a, p, &in->all[A_PARAM]);
}

/* api_key: the one credential for everyone, checked with the provider, and
 * the one site when the API base URL names one (otherwise the base URL
 * alone will do). 0 with *credential set, or 1 with a message. */
static int take_shared_credential(cli *c, lk_profile *p, const add_args *in, char **credential)
{
    const char *file = in->value[A_CRED_FILE], *site = in->value[A_SITE];
    if (!file)
        return cli_fail("profile add: an api_key profile needs --credential-file");
    bool needs_site = lk_profile_needs_site(p);
    if (needs_site != (site != NULL))
        return cli_fail(needs_site ? "profile add: --site is required: the API base URL %s names the site"
                                   : "profile add: --site is not taken: the API base URL %s names no site",
                        p->api_base_url);
    *credential = cli_read_secret(c, file);
    if (!*credential)
        return 1;
    if (!lk_usercred_valid(p->credential_kind, *credential))
        return cli_fail("profile add: the credential file must hold %s", lk_usercred_shape(p));
    json_object *meta = NULL;
    const char *why = NULL;
    lk_upstream *up = lk_upstream_new(&c->cfg);
    lk_err crc = lk_usercred_accept(up, c->a, p, site, *credential, !in->value[A_NO_CHECK], &meta, &why);
    lk_upstream_free(up);
    if (crc == LK_EINVAL)
        return cli_fail("profile add: --site: %s", why);
    if (crc == LK_EDENIED)
        return cli_fail("profile add: the provider did not accept the credential (--no-check skips the check)");
    if (crc != LK_OK)
        return cli_fail("profile add: the provider could not be asked about the credential (%s)", lk_err_code(crc));
    if (needs_site) {
        p->site = (char *)lk_json_str(meta, "site_url");
        p->site_metadata = meta;
    }
    return 0;
}

/* The secrets the profile keeps: an OAuth client's secret, or an api_key
 * profile's shared credential (api_key_per_user: none). 0 or 1. */
static int read_profile_secrets(cli *c, lk_profile *p, const add_args *in, char **secret, char **credential)
{
    if (lk_profile_is_credential_auth(p))
        return strcmp(p->auth_type, "api_key") ? 0 : take_shared_credential(c, p, in, credential);
    const char *secret_file = in->value[A_SECRET_FILE];
    if (!secret_file)
        return cli_fail("profile add: --client-secret-file is required (secrets never go on the command line)");
    *secret = cli_read_secret(c, secret_file);
    return *secret ? 0 : 1;
}

/* Validates and stores the profile, then says what to do next. */
static int store_profile(cli *c, lk_profile *p, const char *secret, const char *credential)
{
    const char *why;
    if (lk_profile_validate(c->a, p, &why) != LK_OK)
        return cli_fail("profile add: %s", why);
    if (cli_db(c))
        return 1;
    lk_err rc = lk_profile_insert(c->db, c->a, &c->cfg, p, secret, credential);
    if (rc == LK_ECONFLICT)
        return cli_fail("profile add: a profile called %s exists already", p->name);
    if (rc != LK_OK)
        return cli_fail("profile add: %s", cli_reason(rc));
    if (c->json) {
        json_object *out = lk_json_object(c->a);
        lk_json_set_str(out, "name", p->name);
        lk_json_set_str(out, "callback_url", p->callback_url);
        cli_print_json(out);
    } else if (lk_profile_is_credential_auth(p)) {
        printf("profile %s added (%s)\n", p->name, p->auth_type);
    } else {
        printf("profile %s added; register %s as its redirect URI at the provider\n", p->name, p->callback_url);
    }
    return 0;
}

static int profile_add(cli *c, int argc, char **argv)
{
    lk_arena *a = c->a;
    add_args in;
    memset(&in, 0, sizeof(in));
    cli_args got = read_add_args(a, argc, argv, &in);
    if (got == CLI_ARGS_HELP) {
        fputs(PROFILE_USAGE, stdout);
        return 0;
    }
    if (got == CLI_ARGS_BAD || optind != argc - 1)
        return cli_usage(PROFILE_USAGE);
    lk_profile p = {0};
    p.name = argv[optind];
    const char *tmpl = in.value[A_TEMPLATE];
    if (!tmpl)
        return cli_fail("profile add: --template is required");
    if (lk_profile_template(a, tmpl, &p) != LK_OK)
        return cli_fail("profile add: unknown template %s (atlassian-confluence, atlassian-jira, generic)", tmpl);
    char *secret = NULL, *credential = NULL;
    if (apply_add_args(a, &p, &in) || read_profile_secrets(c, &p, &in, &secret, &credential))
        return 1;
    return store_profile(c, &p, secret, credential);
}

/* profile update NAME: the declared days (SPEC §11), the rest as added. */
static int profile_update(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"refresh-token-idle-days", required_argument, 0, 'i'},
                                         {"grant-lifetime-days", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int idle = -1, lifetime = -1;
    for (int o = cli_first_option(argc, argv, opts); o != -1; o = cli_next_option(argc, argv, opts)) {
        int *field = o == 'i' ? &idle : &lifetime;
        if (o == 'h') {
            fputs(PROFILE_USAGE, stdout);
            return 0;
        }
        if (o != 'i' && o != 'g')
            return cli_usage(PROFILE_USAGE);
        if (!parse_days(optarg, field))
            return cli_fail("profile update: --%s takes a number of days (1 to %d) or none",
                            o == 'i' ? "refresh-token-idle-days" : "grant-lifetime-days", LK_PROFILE_DAYS_MAX);
    }
    if (optind != argc - 1 || (idle < 0 && lifetime < 0))
        return cli_usage(PROFILE_USAGE);
    if (cli_db(c))
        return 1;
    lk_err rc = lk_profile_set_days(c->db, c->a, argv[optind], idle, lifetime);
    if (rc != LK_OK)
        return cli_fail("profile update: %s", cli_reason(rc));
    printf("profile %s updated\n", argv[optind]);
    return 0;
}

static json_object *profile_row_json(lk_arena *a, PGresult *res, int i)
{
    (void)a;
    json_object *it = json_object_new_object();
    lk_json_set_str(it, "name", lk_db_val(res, i, 0));
    lk_json_set_str(it, "display_name", lk_db_val(res, i, 1));
    lk_json_set_str(it, "template", lk_db_val(res, i, 2));
    lk_json_set_str(it, "auth_type", lk_db_val(res, i, 3));
    lk_json_set_str(it, "client_id", lk_db_val(res, i, 4));
    lk_json_set_str(it, "misconfigured", lk_db_val(res, i, 5));
    long long connections = 0;
    /* count(*): PostgreSQL's digits, never more than 18 of them */
    (void)lk_parse_int(lk_db_val(res, i, 6), 0, LLONG_MAX, &connections);
    lk_json_set_int(it, "connections", connections);
    return it;
}

static void profile_row_print(PGresult *res, int i)
{
    printf("%-24s %-22s %-8s %s connections%s\n", lk_db_val(res, i, 0), lk_db_val(res, i, 2), lk_db_val(res, i, 3),
           lk_db_val(res, i, 6), lk_db_val(res, i, 5) ? "  MISCONFIGURED" : "");
}

/* profile remove NAME: with its connections, links and clients. */
static int profile_remove(cli *c, const char *name)
{
    if (cli_db(c))
        return 1;
    const char *params[] = {name};
    PGresult *res;
    lk_err rc = lk_db_exec(c->db, c->a, &q_remove, params, &res);
    if (rc != LK_OK)
        return cli_fail("profile remove: %s", cli_reason(rc));
    if (!strcmp(PQcmdTuples(res), "0"))
        return cli_fail("profile remove: no profile called %s", name);
    printf("profile %s removed, with its connections, links and clients\n", name);
    return 0;
}

int cli_profile(cli *c, int argc, char **argv)
{
    int status;
    if (cli_family_help(argc, argv, PROFILE_USAGE, &status))
        return status;
    const char *sub = argv[1];
    if (!strcmp(sub, "add"))
        return profile_add(c, argc - 1, argv + 1);
    if (!strcmp(sub, "update"))
        return profile_update(c, argc - 1, argv + 1);
    if (!strcmp(sub, "list") && argc == 2)
        return cli_list(c, &q_list, "profile list", profile_row_json, profile_row_print);
    if (!strcmp(sub, "show") && argc == 3)
        return cli_profile_show(c, argv[2]);
    if (!strcmp(sub, "remove") && argc == 3)
        return profile_remove(c, argv[2]);
    return cli_usage(PROFILE_USAGE);
}
