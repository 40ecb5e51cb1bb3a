/* latchkey profile … and latchkey client add … */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicred.h"
#include "cli.h"
#include "crypto.h"
#include "profile.h"
#include "template.h"
#include "text.h"
#include "upstream.h"
#include "url.h"

static const char PROFILE_USAGE[] =
    "usage: latchkey profile add NAME --template atlassian-confluence|atlassian-jira|generic\n"
    "           --client-id ID --client-secret-file FILE --callback-url URL\n"
    "           [--display-name TEXT --authorization-url U --token-url U --refresh-url U\n"
    "            --scopes \"a b\" --scope-separator S --api-base-url U --token-style json|form|basic\n"
    "            --no-pkce --param key=value ... --allow-redirect URL ... --allow-direct-authorize\n"
    "            --issuer URL --resources-url U --proxy-only --proxy-path-prefix /wiki/rest/api/ ...]\n"
    "       latchkey profile add NAME --template T --auth-type api_key|api_key_per_user\n"
    "           [--credential-type basic|bearer --credential-file F (api_key)\n"
    "            --site S (api_key, when the API base URL names {site_url}, {site_host} or {cloud_id})\n"
    "            --callback-url URL (api_key_per_user) --api-base-url U --check-path P\n"
    "            --display-name TEXT --tenant-info-url U --allow-http-sites --allow-private-sites\n"
    "            --no-check]\n"
    "  generic API-key profiles: --api-base-url alone names the provider (no site, no\n"
    "  check unless --check-path; shown under NAME unless --display-name); without it\n"
    "  the base URL is the server a user names, checked as Data Center would answer.\n"
    "       latchkey profile list\n"
    "       latchkey profile show NAME\n"
    "       latchkey profile remove NAME\n";

static const char CLIENT_USAGE[] =
    "usage: latchkey client add PROFILE --client-id ID --client-secret-file FILE [--callback-url URL]\n"
    "  Adds a white-label client: links may name it with client_id, and its\n"
    "  connections are refreshed with it.\n";

static lk_stmt q_list = LK_STMT("cli_profile_list",
                                "SELECT name, display_name, template, auth_type, client_id, "
                                "misconfigured_reason, (SELECT count(*) FROM connections c WHERE "
                                "c.profile_id = p.id) AS connections FROM profiles p ORDER BY name",
                                0);
static lk_stmt q_clients = LK_STMT("cli_profile_clients",
                                   "SELECT client_id, callback_url FROM profile_clients WHERE profile_id = $1 "
                                   "ORDER BY client_id",
                                   1);
static lk_stmt q_remove = LK_STMT("cli_profile_remove", "DELETE FROM profiles WHERE name = $1", 1);
static lk_stmt q_client_nextval = LK_STMT("cli_client_nextval", "SELECT nextval('profile_clients_id_seq')", 0);
static lk_stmt q_client_insert = LK_STMT("cli_client_insert",
                                         "INSERT INTO profile_clients (id, profile_id, client_id, "
                                         "client_secret, callback_url) VALUES ($1, $2, $3, $4, $5)",
                                         5);

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

static int profile_add(cli *c, int argc, char **argv)
{
    enum {
        O_TEMPLATE = 1000,
        O_CID,
        O_SECRET,
        O_CALLBACK,
        O_DISPLAY,
        O_AUTHZ,
        O_TOKEN,
        O_REFRESH,
        O_SCOPES,
        O_SEP,
        O_API,
        O_STYLE,
        O_NOPKCE,
        O_PARAM,
        O_REDIRECT,
        O_DIRECT,
        O_ISSUER,
        O_RESOURCES,
        O_PROXYONLY,
        O_PATHPREFIX,
        O_AUTHTYPE,
        O_CREDFILE,
        O_CREDTYPE,
        O_SITE,
        O_CHECKPATH,
        O_TENANT,
        O_ALLOWHTTP,
        O_ALLOWPRIVATE,
        O_NOCHECK,
        O_HELP
    };
    static const struct option opts[] = {{"template", required_argument, 0, O_TEMPLATE},
                                         {"client-id", required_argument, 0, O_CID},
                                         {"client-secret-file", required_argument, 0, O_SECRET},
                                         {"callback-url", required_argument, 0, O_CALLBACK},
                                         {"display-name", required_argument, 0, O_DISPLAY},
                                         {"authorization-url", required_argument, 0, O_AUTHZ},
                                         {"token-url", required_argument, 0, O_TOKEN},
                                         {"refresh-url", required_argument, 0, O_REFRESH},
                                         {"scopes", required_argument, 0, O_SCOPES},
                                         {"scope-separator", required_argument, 0, O_SEP},
                                         {"api-base-url", required_argument, 0, O_API},
                                         {"token-style", required_argument, 0, O_STYLE},
                                         {"no-pkce", no_argument, 0, O_NOPKCE},
                                         {"param", required_argument, 0, O_PARAM},
                                         {"allow-redirect", required_argument, 0, O_REDIRECT},
                                         {"allow-direct-authorize", no_argument, 0, O_DIRECT},
                                         {"issuer", required_argument, 0, O_ISSUER},
                                         {"resources-url", required_argument, 0, O_RESOURCES},
                                         {"proxy-only", no_argument, 0, O_PROXYONLY},
                                         {"proxy-path-prefix", required_argument, 0, O_PATHPREFIX},
                                         {"auth-type", required_argument, 0, O_AUTHTYPE},
                                         {"credential-file", required_argument, 0, O_CREDFILE},
                                         {"credential-type", required_argument, 0, O_CREDTYPE},
                                         {"site", required_argument, 0, O_SITE},
                                         {"check-path", required_argument, 0, O_CHECKPATH},
                                         {"tenant-info-url", required_argument, 0, O_TENANT},
                                         {"allow-http-sites", no_argument, 0, O_ALLOWHTTP},
                                         {"allow-private-sites", no_argument, 0, O_ALLOWPRIVATE},
                                         {"no-check", no_argument, 0, O_NOCHECK},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};
    lk_arena *a = c->a;
    lk_profile p = {0};
    const char *tmpl = NULL, *secret_file = NULL;
    /* Options are applied after the template, so collect them first. */
    const char *vals[O_HELP - O_TEMPLATE + 1] = {0};
    bool nopkce = false, direct = false, proxyonly = false, allowhttp = false, allowprivate = false, nocheck = false;
    lk_strv params = {0}, redirects = {0}, path_prefixes = {0};
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_HELP: fputs(PROFILE_USAGE, stdout); return 0;
        case O_NOPKCE: nopkce = true; break;
        case O_DIRECT: direct = true; break;
        case O_PROXYONLY: proxyonly = true; break;
        case O_ALLOWHTTP: allowhttp = true; break;
        case O_ALLOWPRIVATE: allowprivate = true; break;
        case O_NOCHECK: nocheck = true; break;
        case O_PARAM: push(a, &params, optarg); break;
        case O_REDIRECT: push(a, &redirects, optarg); break;
        case O_PATHPREFIX: push(a, &path_prefixes, optarg); break;
        case O_TEMPLATE: tmpl = optarg; break;
        case O_SECRET: secret_file = optarg; break;
        default:
            if (o >= O_TEMPLATE && o < O_HELP) {
                vals[o - O_TEMPLATE] = optarg;
                break;
            }
            return cli_usage(PROFILE_USAGE);
        }
    }
    if (optind != argc - 1)
        return cli_usage(PROFILE_USAGE);
    p.name = argv[optind];
    if (!tmpl)
        return cli_fail("profile add: --template is required");
    if (lk_profile_template(a, tmpl, &p) != LK_OK)
        return cli_fail("profile add: unknown template %s (atlassian-confluence, atlassian-jira, generic)", tmpl);
#define V(x) vals[(x)-O_TEMPLATE]
    if (V(O_AUTHTYPE) && lk_profile_set_auth_type(a, &p, V(O_AUTHTYPE)) != LK_OK)
        return cli_fail("profile add: --auth-type must be oauth2, api_key or api_key_per_user");
    bool api_key = lk_profile_is_api_key(&p);
    if (V(O_CREDTYPE)) {
        if (strcmp(V(O_CREDTYPE), "basic") != 0 && strcmp(V(O_CREDTYPE), "bearer") != 0)
            return cli_fail("profile add: --credential-type must be basic (email:api_token) or bearer (a PAT)");
        p.credential_kind = (char *)V(O_CREDTYPE);
    }
    if (V(O_TENANT))
        p.tenant_info_url = (char *)V(O_TENANT);
    p.allow_http_sites = allowhttp;
    p.allow_private_sites = allowprivate;
    if (V(O_CID))
        p.client_id = (char *)V(O_CID);
    if (V(O_CALLBACK))
        p.callback_url = (char *)V(O_CALLBACK);
    if (V(O_DISPLAY))
        p.display_name = (char *)V(O_DISPLAY);
    if (V(O_AUTHZ))
        p.authorization_url = (char *)V(O_AUTHZ);
    if (V(O_TOKEN))
        p.token_url = (char *)V(O_TOKEN);
    if (V(O_REFRESH))
        p.refresh_url = (char *)V(O_REFRESH);
    if (V(O_SCOPES)) {
        p.scopes = split_ws(a, V(O_SCOPES));
        for (size_t i = 0; i < p.always_scopes.n; i++) {
            bool has = false;
            for (size_t k = 0; k < p.scopes.n; k++)
                has |= !strcmp(p.scopes.v[k], p.always_scopes.v[i]);
            if (!has)
                push(a, &p.scopes, p.always_scopes.v[i]);
        }
    }
    if (V(O_SEP))
        p.scope_separator = (char *)V(O_SEP);
    if (V(O_API))
        lk_profile_set_api_base_url(&p, V(O_API));
    if (V(O_CHECKPATH))
        p.check_path = (char *)V(O_CHECKPATH);
    /* A profile without a name of its own (generic API-key ones) is shown
     * under its profile name. */
    if (!p.display_name)
        p.display_name = p.name;
    if (V(O_STYLE)) {
        const char *s = V(O_STYLE);
        if (strcmp(s, "json") != 0 && strcmp(s, "form") != 0 && strcmp(s, "basic") != 0)
            return cli_fail("profile add: --token-style must be json, form or basic");
        p.token_style = (char *)s;
    }
    if (V(O_ISSUER))
        p.issuer = (char *)V(O_ISSUER);
    if (V(O_RESOURCES)) {
        p.resources_url = (char *)V(O_RESOURCES);
    }
    if (nopkce)
        p.pkce = false;
    p.allow_direct_authorize = direct;
    p.proxy_only = proxyonly;
    p.allowed_redirects = redirects;
    p.proxy_path_prefixes = path_prefixes;
    if (!p.extra_params)
        p.extra_params = lk_json_object(a);
    for (size_t i = 0; i < params.n; i++) {
        char *eq = strchr(params.v[i], '=');
        if (!eq || eq == params.v[i])
            return cli_fail("profile add: --param takes key=value");
        *eq = '\0';
        lk_json_set_str(p.extra_params, params.v[i], eq + 1);
    }
    char *secret = NULL, *credential = NULL;
    if (api_key) {
        if (!strcmp(p.auth_type, "api_key")) {
            /* One credential for everyone, and one site when the API base
             * URL names one; otherwise the base URL alone will do. */
            if (!V(O_CREDFILE))
                return cli_fail("profile add: an api_key profile needs --credential-file");
            bool needs_site = lk_profile_needs_site(&p);
            if (needs_site != (V(O_SITE) != NULL))
                return cli_fail(needs_site ? "profile add: --site is required: the API base URL %s names the site"
                                           : "profile add: --site is not taken: the API base URL %s names no site",
                                p.api_base_url);
            credential = cli_read_secret(c, V(O_CREDFILE));
            if (!credential)
                return 1;
            if (!lk_apicred_valid(p.credential_kind, credential))
                return cli_fail("profile add: the credential file must hold %s", lk_apicred_shape(&p));
            json_object *meta = NULL;
            const char *why = NULL;
            lk_upstream *up = lk_upstream_new(&c->cfg);
            lk_err crc = lk_apicred_accept(up, a, &p, V(O_SITE), credential, !nocheck, &meta, &why);
            lk_upstream_free(up);
            if (crc == LK_EINVAL)
                return cli_fail("profile add: --site: %s", why);
            if (crc == LK_EDENIED)
                return cli_fail("profile add: the provider did not accept the credential (--no-check skips the "
                                "check)");
            if (crc != LK_OK)
                return cli_fail("profile add: the provider could not be asked about the credential (%s)",
                                lk_err_code(crc));
            if (needs_site) {
                p.site = (char *)lk_json_str(meta, "site_url");
                p.site_metadata = meta;
            }
        }
    } else {
        if (!secret_file)
            return cli_fail("profile add: --client-secret-file is required (secrets never go on the command line)");
        secret = cli_read_secret(c, secret_file);
        if (!secret)
            return 1;
    }
#undef V
    const char *why;
    if (lk_profile_validate(a, &p, &why) != LK_OK)
        return cli_fail("profile add: %s", why);
    if (cli_db(c))
        return 1;
    lk_err rc = lk_profile_insert(c->db, a, &c->cfg, &p, secret, credential);
    if (rc == LK_ECONFLICT)
        return cli_fail("profile add: a profile called %s exists already", p.name);
    if (rc != LK_OK)
        return cli_fail("profile add: %s", cli_reason(rc));
    if (c->json) {
        json_object *out = lk_json_object(a);
        lk_json_set_str(out, "name", p.name);
        lk_json_set_str(out, "callback_url", p.callback_url);
        cli_print_json(out);
    } else {
        if (api_key)
            printf("profile %s added (%s)\n", p.name, p.auth_type);
        else
            printf("profile %s added; register %s as its redirect URI at the provider\n", p.name, p.callback_url);
    }
    return 0;
}

static json_object *profile_json(lk_arena *a, const lk_profile *p)
{
    json_object *o = lk_json_object(a);
    lk_json_set_str(o, "name", p->name);
    lk_json_set_str(o, "display_name", p->display_name);
    lk_json_set_str(o, "template", p->template_name);
    lk_json_set_str(o, "auth_type", p->auth_type);
    lk_json_set_str(o, "client_id", p->client_id);
    json_object_object_add(o, "has_client_secret", json_object_new_boolean(p->client_secret_sealed != NULL));
    lk_json_set_str(o, "authorization_url", p->authorization_url);
    lk_json_set_str(o, "token_url", p->token_url);
    lk_json_set_str(o, "refresh_url", p->refresh_url);
    json_object_object_add(o, "scopes", json_object_get(lk_strv_to_json(a, &p->scopes)));
    lk_json_set_str(o, "scope_separator", p->scope_separator);
    json_object_object_add(o, "extra_params", json_object_get(p->extra_params));
    lk_json_set_str(o, "callback_url", p->callback_url);
    lk_json_set_str(o, "token_style", p->token_style);
    json_object_object_add(o, "pkce", json_object_new_boolean(p->pkce));
    lk_json_set_str(o, "api_base_url", p->api_base_url);
    lk_json_set_str(o, "resource_discovery", p->resource_discovery);
    lk_json_set_str(o, "resources_url", p->resources_url);
    json_object_object_add(o, "allowed_redirects", json_object_get(lk_strv_to_json(a, &p->allowed_redirects)));
    json_object_object_add(o, "allow_direct_authorize", json_object_new_boolean(p->allow_direct_authorize));
    json_object_object_add(o, "proxy_only", json_object_new_boolean(p->proxy_only));
    if (lk_profile_is_api_key(p)) {
        lk_json_set_str(o, "credential_type", p->credential_kind);
        json_object_object_add(o, "has_credential", json_object_new_boolean(p->credential_sealed != NULL));
        lk_json_set_str(o, "site_kind", p->site_kind);
        lk_json_set_str(o, "site", p->site);
        lk_json_set_str(o, "check_path", p->check_path);
        json_object_object_add(o, "allow_http_sites", json_object_new_boolean(p->allow_http_sites));
        json_object_object_add(o, "allow_private_sites", json_object_new_boolean(p->allow_private_sites));
    }
    json_object_object_add(o, "proxy_path_prefixes", json_object_get(lk_strv_to_json(a, &p->proxy_path_prefixes)));
    lk_json_set_str(o, "issuer", p->issuer);
    lk_json_set_str(o, "misconfigured", p->misconfigured_reason);
    return o;
}

static int profile_show(cli *c, const char *name)
{
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, name, &p);
    if (rc != LK_OK)
        return cli_fail("profile show: %s", cli_reason(rc));
    json_object *o = profile_json(c->a, p);
    const char *params[] = {p->id_text};
    PGresult *res;
    rc = lk_db_exec(c->db, c->a, &q_clients, params, &res);
    if (rc != LK_OK)
        return cli_fail("profile show: %s", cli_reason(rc));
    json_object *clients = json_object_new_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *it = json_object_new_object();
        lk_json_set_str(it, "client_id", lk_db_val(res, i, 0));
        lk_json_set_str(it, "callback_url", lk_db_val(res, i, 1) ? lk_db_val(res, i, 1) : p->callback_url);
        json_object_array_add(clients, it);
    }
    json_object_object_add(o, "white_label_clients", clients);
    cli_print_json(o);
    return 0;
}

static int profile_list(cli *c)
{
    if (cli_db(c))
        return 1;
    PGresult *res;
    lk_err rc = lk_db_exec(c->db, c->a, &q_list, NULL, &res);
    if (rc != LK_OK)
        return cli_fail("profile list: %s", cli_reason(rc));
    json_object *arr = lk_json_array(c->a);
    for (int i = 0; i < PQntuples(res); i++) {
        if (c->json) {
            json_object *it = json_object_new_object();
            lk_json_set_str(it, "name", lk_db_val(res, i, 0));
            lk_json_set_str(it, "display_name", lk_db_val(res, i, 1));
            lk_json_set_str(it, "template", lk_db_val(res, i, 2));
            lk_json_set_str(it, "auth_type", lk_db_val(res, i, 3));
            lk_json_set_str(it, "client_id", lk_db_val(res, i, 4));
            lk_json_set_str(it, "misconfigured", lk_db_val(res, i, 5));
            lk_json_set_int(it, "connections", strtoll(lk_db_val(res, i, 6), NULL, 10));
            json_object_array_add(arr, it);
        } else {
            printf("%-24s %-22s %-8s %s connections%s\n", lk_db_val(res, i, 0), lk_db_val(res, i, 2),
                   lk_db_val(res, i, 3), lk_db_val(res, i, 6), lk_db_val(res, i, 5) ? "  MISCONFIGURED" : "");
        }
    }
    if (c->json)
        cli_print_json(arr);
    return 0;
}

int cli_profile(cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(PROFILE_USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool help = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
    if (!strcmp(sub, "add"))
        return profile_add(c, argc - 1, argv + 1);
    if (help) {
        fputs(PROFILE_USAGE, stdout);
        return 0;
    }
    if (!strcmp(sub, "list") && argc == 2)
        return profile_list(c);
    if (!strcmp(sub, "show") && argc == 3)
        return profile_show(c, argv[2]);
    if (!strcmp(sub, "remove") && argc == 3) {
        if (cli_db(c))
            return 1;
        const char *params[] = {argv[2]};
        PGresult *res;
        lk_err rc = lk_db_exec(c->db, c->a, &q_remove, params, &res);
        if (rc != LK_OK)
            return cli_fail("profile remove: %s", cli_reason(rc));
        if (!strcmp(PQcmdTuples(res), "0"))
            return cli_fail("profile remove: no profile called %s", argv[2]);
        printf("profile %s removed, with its connections, links and clients\n", argv[2]);
        return 0;
    }
    return cli_usage(PROFILE_USAGE);
}

int cli_client(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"client-id", required_argument, 0, 'i'},
                                         {"client-secret-file", required_argument, 0, 's'},
                                         {"callback-url", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(CLIENT_USAGE, stdout);
            return 0;
        }
        return cli_usage(CLIENT_USAGE);
    }
    argc--;
    argv++;
    const char *cid = NULL, *secret_file = NULL, *callback = NULL;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'i': cid = optarg; break;
        case 's': secret_file = optarg; break;
        case 'c': callback = optarg; break;
        case 'h': fputs(CLIENT_USAGE, stdout); return 0;
        default: return cli_usage(CLIENT_USAGE);
        }
    }
    if (optind != argc - 1 || !cid || !secret_file)
        return cli_usage(CLIENT_USAGE);
    if (!*cid || strlen(cid) > 512)
        return cli_fail("client add: the client id must be 1 to 512 bytes");
    lk_url u;
    if (callback && lk_url_parse(c->a, callback, &u) != LK_OK)
        return cli_fail("client add: --callback-url must be an http(s) URL");
    char *secret = cli_read_secret(c, secret_file);
    if (!secret)
        return 1;
    if (cli_db(c))
        return 1;
    const lk_profile *p;
    lk_err rc = lk_profile_load(c->db, c->a, argv[optind], &p);
    if (rc != LK_OK)
        return cli_fail("client add: %s", cli_reason(rc));
    if (p->client_id && !strcmp(p->client_id, cid))
        return cli_fail("client add: %s is the profile's own client", cid);
    PGresult *res;
    rc = lk_db_exec(c->db, c->a, &q_client_nextval, NULL, &res);
    char *sealed = NULL;
    const char *id = rc == LK_OK ? lk_strdup(c->a, lk_db_val(res, 0, 0)) : NULL;
    if (rc == LK_OK)
        rc = lk_seal(c->a, &c->cfg.keys, "profile_clients", "client_secret", id, secret, strlen(secret), &sealed);
    if (rc == LK_OK) {
        const char *params[] = {id, p->id_text, cid, sealed, callback};
        rc = lk_db_exec(c->db, c->a, &q_client_insert, params, NULL);
    }
    if (rc == LK_ECONFLICT)
        return cli_fail("client add: %s already has a client %s", p->name, cid);
    if (rc != LK_OK)
        return cli_fail("client add: %s", cli_reason(rc));
    printf("client %s added to profile %s\n", cid, p->name);
    return 0;
}
