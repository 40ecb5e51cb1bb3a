#include "credform.h"

#include <string.h>

#include "audit.h"
#include "cookie.h"
#include "flow_int.h"
#include "text.h"
#include "url.h"
#include "usercred.h"

/* Credentials one flow may check against the provider. */
#define CREDENTIAL_ATTEMPTS 5
/* A flow's public id: "lkf_" and 16 hex digits. */
#define FLOW_ID_PREFIX "lkf_"
#define FLOW_ID_LEN 20

static lk_stmt q_flow_by_cookie = LK_STMT("flow_by_cookie",
                                          "SELECT id, cookie_hash, link_id, instance_id, redirect_uri, "
                                          "redirect_url, site, no_replace, expires_at > now() AS live "
                                          "FROM flows WHERE cookie_name = $1 AND profile_id = $2",
                                          2);
/* A try is counted before anything is sent upstream, and only while under
 * the bound: concurrent posts cannot check more than CREDENTIAL_ATTEMPTS
 * credentials against the provider. */
static lk_stmt q_flow_attempt = LK_STMT("flow_attempt",
                                        "UPDATE flows SET attempts = attempts + 1 WHERE id = $1 AND "
                                        "attempts < $2::integer RETURNING attempts",
                                        2);
static lk_stmt q_flow_delete = LK_STMT("flow_delete", "DELETE FROM flows WHERE id = $1", 1);

/* A posted form and the flow it belongs to. */
typedef struct posted_form {
    lk_form form;
    const char *cookie_name; /* the flow's public id, sent back hidden */
    lk_flow_row f;
    bool live;
    const char *clear; /* the Set-Cookie that clears the flow's cookie */
    long long attempts;
} posted_form;

/* What the person entered, and what the provider made of it. */
typedef struct entered_credential {
    const char *site, *email, *credential;
    const char *problem; /* why it is refused, or NULL */
    json_object *meta;
} entered_credential;

lk_credential_form lk_credform_for(const lk_profile *p, const char *action, const char *flow_id, bool ask_site)
{
    lk_credential_form form = {
        .service = p->display_name,
        .action = action,
        .flow = flow_id,
        .ask_site = ask_site,
        .cloud = !strcmp(p->site_kind, "cloud"),
        .basic = !strcmp(p->credential_kind, "basic"),
    };
    return form;
}

/* True for a flow's public id. */
static bool is_flow_id(const char *s)
{
    if (!s || strlen(s) != FLOW_ID_LEN || strncmp(s, FLOW_ID_PREFIX, strlen(FLOW_ID_PREFIX)) != 0)
        return false;
    for (const char *c = s + strlen(FLOW_ID_PREFIX); *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

/* A form field's one value: NULL when absent, repeated or holding a NUL. */
static const char *form_single_value(const lk_form *form, const char *name)
{
    size_t n = 0;
    const lk_param *p = lk_form_get(form, name, &n);
    if (!p || n != 1 || strlen(p->value) != p->value_len)
        return NULL;
    return p->value;
}

/* Reads the posted form and the flow id it carries. */
static lk_err read_posted_form(lk_req *r, posted_form *pf, const char **detail)
{
    char *text;
    size_t len;
    if (lk_req_body(r, LK_CREDFORM_BODY_MAX, &text, &len) != LK_OK ||
        lk_form_parse(r->a, text, len, &pf->form) != LK_OK) {
        *detail = "The form could not be read.";
        return r->err == LK_ETOOBIG ? LK_ETOOBIG : LK_EINVAL;
    }
    pf->cookie_name = form_single_value(&pf->form, "flow");
    if (!is_flow_id(pf->cookie_name)) {
        *detail = "This form is unknown or was already used.";
        return LK_ESTATE;
    }
    return LK_OK;
}

/* Reads the flow the form names. The cookie binds the form to the browser
 * that opened the link: a post from anywhere else (CSRF) has no cookie
 * value to show. */
static lk_err read_form_flow(lk_req *r, const lk_profile *p, posted_form *pf, const char **detail)
{
    const char *params[] = {pf->cookie_name, p->id_text};
    PGresult *res;
    if (lk_db_exec(r->db, r->a, &q_flow_by_cookie, params, &res) != LK_OK) {
        *detail = LK_FLOW_UNAVAILABLE;
        return LK_EDB;
    }
    if (PQntuples(res) != 1) {
        *detail = "This form is unknown or was already used.";
        return LK_ESTATE;
    }
    pf->f = lk_flow_from_row(r->a, res);
    pf->live = lk_db_bool(res, 0, "live");
    if (!lk_flow_cookie_matches(r, pf->cookie_name, lk_db_get(res, 0, "cookie_hash"))) {
        *detail = "The form did not come from this browser's sign-in, or its cookie was lost.";
        return LK_ESTATE;
    }
    pf->clear = lk_cookie_build(r->a, pf->cookie_name, "", lk_flow_cookie_path(r->a, pf->f.redirect_uri), 0,
                                r->cfg->cookie_secure);
    return LK_OK;
}

/* The posted form and its flow, bound to this browser; false after a page
 * saying why. */
static bool open_posted_flow(lk_req *r, const lk_profile *p, posted_form *pf)
{
    const char *detail = NULL;
    lk_err rc = read_posted_form(r, pf, &detail);
    if (rc == LK_OK)
        rc = read_form_flow(r, p, pf, &detail);
    if (rc != LK_OK)
        lk_flow_fail_page(r, rc, detail);
    return rc == LK_OK;
}

/* Ends the form's flow for good: deleted, its cookie cleared, e told. A
 * database failure is told instead (the flow then stays, bounded). */
static void end_form_flow(lk_req *r, const lk_profile *p, const posted_form *pf, lk_err e, const char *detail)
{
    const char *idp[] = {pf->f.id};
    if (lk_db_exec(r->db, r->a, &q_flow_delete, idp, NULL) != LK_OK) {
        lk_flow_fail_page(r, LK_EDB, LK_FLOW_UNAVAILABLE);
        return;
    }
    lk_resp_header(r, "Set-Cookie", pf->clear);
    lk_flow_end_with_result(r, p, &pf->f, e, detail, NULL);
}

/* Counts this try, once the flow is known live; false after ending the
 * flow or a page (tries used up meanwhile, its link used meanwhile). */
static bool count_try(lk_req *r, const lk_profile *p, posted_form *pf)
{
    if (!pf->live) {
        end_form_flow(r, p, pf, LK_EFLOW, "The sign-in took longer than allowed.");
        return false;
    }
    const char *ap[] = {pf->f.id, lk_printf(r->a, "%d", CREDENTIAL_ATTEMPTS)};
    PGresult *res;
    if (lk_db_exec(r->db, r->a, &q_flow_attempt, ap, &res) != LK_OK) {
        lk_flow_fail_page(r, LK_EDB, LK_FLOW_UNAVAILABLE);
        return false;
    }
    if (PQntuples(res) != 1) {
        /* Used up meanwhile by another post of this form. */
        lk_resp_header(r, "Set-Cookie", pf->clear);
        lk_flow_fail_page(r, LK_ESTATE, "This form is unknown or was already used.");
        return false;
    }
    pf->attempts = lk_db_ll(res, 0, "attempts");
    lk_err rc = lk_flow_link_unused(r, &pf->f);
    if (rc == LK_ELINK)
        end_form_flow(r, p, pf, rc, lk_flow_store_failure(rc));
    else if (rc != LK_OK)
        lk_flow_fail_page(r, LK_EDB, LK_FLOW_UNAVAILABLE);
    return rc == LK_OK;
}

/* Reads what the person entered and asks the provider about it; sets
 * ec->problem when it is refused. */
static void check_entered_credential(lk_req *r, const lk_profile *p, const posted_form *pf, entered_credential *ec)
{
    bool basic = !strcmp(p->credential_kind, "basic");
    const char *token = form_single_value(&pf->form, "token");
    ec->site = pf->f.site ? pf->f.site : form_single_value(&pf->form, "site");
    ec->email = basic ? form_single_value(&pf->form, "email") : NULL;
    ec->credential = basic ? (ec->email && token ? lk_printf(r->a, "%s:%s", ec->email, token) : NULL) : token;
    ec->problem = NULL;
    ec->meta = NULL;
    if (!ec->credential || !lk_usercred_valid(p->credential_kind, ec->credential)) {
        ec->problem = basic ? "Enter the email of your account and an API token." : "Enter a personal access token.";
        return;
    }
    lk_err rc = lk_usercred_accept(r->up, r->a, p, ec->site, ec->credential, true, &ec->meta, &ec->problem);
    if (rc == LK_EDENIED)
        ec->problem = "The site did not accept this token. Check it and try again.";
    else if (rc != LK_OK && !ec->problem)
        ec->problem = "The site could not be reached to check the token. Try again in a moment.";
}

/* A refused credential: the form again (422) with the problem, the flow
 * still usable; after the last allowed try, the flow's end. */
static void refuse_credential(lk_req *r, const lk_profile *p, const posted_form *pf, const entered_credential *ec)
{
    if (pf->attempts >= CREDENTIAL_ATTEMPTS) {
        end_form_flow(r, p, pf, LK_EFORBIDDEN, "Too many tries: open the link again to start over.");
        return;
    }
    lk_audit(r->db, r->a, "browser", "connection.credential", p->name, pf->f.instance_id, "refused", NULL);
    lk_credential_form form = lk_credform_for(p, pf->f.redirect_uri, pf->cookie_name, !pf->f.site);
    form.site = ec->site;
    form.email = ec->email;
    form.problem = ec->problem;
    lk_page_credential_form(r, 422, &form);
}

/* Stores the accepted credential as the flow's connection (the flow and
 * its link used up in the same transaction), its cookie cleared, and
 * answers: the caller's redirect_url, or 303 to the connected page. */
static void connect_credential(lk_req *r, const lk_profile *p, const posted_form *pf, const entered_credential *ec)
{
    bool basic = !strcmp(p->credential_kind, "basic");
    lk_tokens t = {.access_token = (char *)ec->credential, .token_type = basic ? "Basic" : "Bearer", .expires_in = -1};
    lk_err rc = lk_flow_store_grant(r, p, &pf->f, NULL, &t, ec->meta, true);
    lk_err shown = (rc == LK_ECONNECTED || rc == LK_ELINK || rc == LK_EFLOW) ? rc : LK_EDB;
    lk_resp_header(r, "Set-Cookie", pf->clear);
    if (rc == LK_ESTATE) {
        /* Another post of this form completed it meanwhile. */
        lk_flow_fail_page(r, rc, "This form is unknown or was already used.");
    } else if (rc != LK_OK) {
        lk_flow_end_with_result(r, p, &pf->f, shown, lk_flow_store_failure(shown), NULL);
    } else if (pf->f.redirect_url) {
        lk_flow_end_with_result(r, p, &pf->f, LK_OK, NULL, NULL);
    } else {
        lk_audit(r->db, r->a, "browser", "connection.authorize", p->name, pf->f.instance_id, "ok", NULL);
        lk_resp_redirect(r, 303, lk_url_add_param(r->a, pf->f.redirect_uri, "connected", "1"));
    }
}

void lk_flow_credential(lk_req *r, const char *name)
{
    const lk_profile *p =
        lk_flow_browser_profile(r, name, "The form was sent for a service this broker does not know.");
    if (!p)
        return;
    if (strcmp(p->auth_type, "api_key_per_user") != 0) {
        lk_fail_method(r, "GET");
        lk_page_error(r);
        return;
    }
    /* No transaction is open while the provider is asked (SPEC §5
     * "timeouts nest"): the flow is read, the try counted, the credential
     * checked, and then one short transaction re-checks and writes. */
    posted_form pf = {0};
    if (!open_posted_flow(r, p, &pf) || !count_try(r, p, &pf))
        return;
    entered_credential ec;
    check_entered_credential(r, p, &pf, &ec);
    if (ec.problem)
        refuse_credential(r, p, &pf, &ec);
    else
        connect_credential(r, p, &pf, &ec);
}

void lk_flow_connected_page(lk_req *r, const char *name)
{
    const lk_profile *p = lk_flow_browser_profile(r, name, "There is no such service.");
    if (!p)
        return;
    if (strcmp(p->auth_type, "api_key_per_user") != 0) {
        /* OAuth sign-ins come back with a state, not here. */
        lk_flow_fail_page(r, LK_EINVAL, "The provider sent the browser back without a valid state.");
        return;
    }
    lk_page_send(r, 200, "Connected", "You're all set",
                 lk_printf(r->a, "Your %s account is now connected.", p->display_name),
                 "You can close this window and return to the application.");
}
