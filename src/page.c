#include "page.h"

#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "text.h"

static const char STYLE[] =
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "background:#f4f5f7;color:#172b4d;-webkit-text-size-adjust:100%}"
    "main{max-width:30rem;margin:10vh auto 3rem;padding:2rem;background:#fff;border-radius:12px;"
    "box-shadow:0 1px 2px rgba(9,30,66,.2),0 8px 24px rgba(9,30,66,.08)}"
    "@media (max-width:36rem){main{margin:0;border-radius:0;box-shadow:none;min-height:100vh;"
    "box-sizing:border-box;padding:2.5rem 1.5rem}}"
    "h1{font-size:1.4rem;line-height:1.3;margin:.5rem 0 1rem}"
    ".brand{display:flex;align-items:center;gap:.4rem;font-size:.8rem;font-weight:600;"
    "letter-spacing:.1em;text-transform:uppercase;color:#5e6c84}"
    ".brand svg{width:1rem;height:1rem}"
    ".ok,.err{text-align:center}.ok .brand,.err .brand{justify-content:center}"
    ".icon{width:4rem;height:4rem;margin:2rem auto 1.25rem;border-radius:50%;display:flex;"
    "align-items:center;justify-content:center}"
    ".icon svg{width:2rem;height:2rem}"
    ".ok .icon{background:#e3fcef;color:#006644}.err .icon{background:#ffebe6;color:#bf2600}"
    ".msg{font-size:1.05rem;margin:0}"
    ".next{margin-top:2rem;padding:1rem 1.25rem;background:#f4f5f7;border-radius:8px;text-align:left;"
    "color:#42526e}"
    ".next h2{margin:0 0 .25rem;font-size:.75rem;letter-spacing:.08em;text-transform:uppercase;"
    "color:#5e6c84}"
    ".next p{margin:0}"
    "code{background:#f4f5f7;padding:0 .25rem;border-radius:3px;word-break:break-all}";

/* Inline SVG (markup, not a resource: the CSP's default-src 'none' allows
 * it); stroked in currentColor, which the style sets. */
#define SVG_OPEN                                                                                                       \
    "<svg viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"currentColor\" stroke-linecap=\"round\" "                       \
    "stroke-linejoin=\"round\" aria-hidden=\"true\" focusable=\"false\" "
static const char ICON_LOCK[] =
    SVG_OPEN "stroke-width=\"2\"><rect x=\"5\" y=\"11\" width=\"14\" height=\"10\" rx=\"2\"/>"
             "<path d=\"M8 11V7a4 4 0 0 1 8 0v4\"/></svg>";
static const char ICON_OK[] = SVG_OPEN "stroke-width=\"2.5\"><path d=\"M5 12.5l4.5 4.5L19 7.5\"/></svg>";
static const char ICON_ERR[] = SVG_OPEN "stroke-width=\"2.5\"><path d=\"M7 7l10 10M17 7L7 17\"/></svg>";

char *lk_html_escape(lk_arena *a, const char *s)
{
    lk_buf b;
    lk_buf_init(&b, a, strlen(s) * 6 + 1);
    /* Sized for the longest escape of every byte: an append cannot fail,
     * and if it did, nothing shorter would be returned. */
    lk_err rc = LK_OK;
    for (const char *c = s; rc == LK_OK && *c; c++) {
        switch (*c) {
        case '&': rc = lk_buf_adds(&b, "&amp;"); break;
        case '<': rc = lk_buf_adds(&b, "&lt;"); break;
        case '>': rc = lk_buf_adds(&b, "&gt;"); break;
        case '"': rc = lk_buf_adds(&b, "&quot;"); break;
        case '\'': rc = lk_buf_adds(&b, "&#39;"); break;
        default: rc = lk_buf_addc(&b, *c);
        }
    }
    return rc == LK_OK ? (char *)lk_buf_str(&b) : lk_strdup(a, "");
}

static const char *style_hash(lk_arena *a)
{
    unsigned char h[LK_SHA256_LEN];
    lk_sha256(STYLE, strlen(STYLE), h);
    return lk_b64_encode(a, h, sizeof(h));
}

/* Sends a page with the headers every page carries: no caching, no
 * referrer, no sniffing, no framing, and a CSP that allows only the given
 * style hashes and form targets (SPEC §4: a strict CSP). */
static void send_page(lk_req *r, int status, const char *style_src, const char *form_action, const char *body,
                      size_t len)
{
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_header(r, "Referrer-Policy", "no-referrer");
    lk_resp_header(r, "X-Content-Type-Options", "nosniff");
    lk_resp_header(r, "X-Frame-Options", "DENY");
    lk_resp_header(r, "Content-Security-Policy",
                   lk_printf(r->a,
                             "default-src 'none'; style-src %s; base-uri 'none'; form-action %s; "
                             "frame-ancestors 'none'",
                             style_src, form_action));
    lk_resp_send(r, status, "text/html; charset=utf-8", body, len);
}

void lk_page_send(lk_req *r, int status, const char *title, const char *heading, const char *message, const char *next)
{
    lk_arena *a = r->a;
    bool ok = status < 400;
    char *body =
        lk_printf(a,
                  "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                  "<meta name=\"robots\" content=\"noindex\"><title>%s · Latchkey</title><style>%s</style></head>"
                  "<body><main class=\"%s\"><div class=\"brand\">%sLatchkey</div><div class=\"icon\">%s</div>"
                  "<h1>%s</h1><p class=\"msg\">%s</p>%s%s%s</main></body></html>\n",
                  lk_html_escape(a, title), STYLE, ok ? "ok" : "err", ICON_LOCK, ok ? ICON_OK : ICON_ERR,
                  lk_html_escape(a, heading), lk_html_escape(a, message),
                  next ? "<div class=\"next\"><h2>What to do next</h2><p>" : "", next ? lk_html_escape(a, next) : "",
                  next ? "</p></div>" : "");
    send_page(r, status, lk_printf(a, "'sha256-%s'", style_hash(a)), "'none'", body, strlen(body));
}

void lk_page_error(lk_req *r)
{
    lk_err e = r->err ? r->err : LK_EINTERNAL;
    const char *title = "Something went wrong", *heading = "This connection could not be made";
    const char *next = "Ask the application that sent you here for a new link and try again.";
    switch (e) {
    case LK_EDENIED:
        title = "Access declined";
        heading = "You declined access";
        next = "If this was a mistake, ask the application that sent you here for a new link.";
        break;
    case LK_ELINK:
        title = "Link expired";
        heading = "This link has expired or was already used";
        break;
    case LK_EFLOW:
        title = "Sign-in took too long";
        heading = "This sign-in has expired";
        break;
    case LK_ESTATE:
        title = "Sign-in not recognised";
        heading = "This sign-in could not be matched to your browser";
        next = "Open the link again in this browser and finish the sign-in in the same window.";
        break;
    case LK_ESITEGRANT:
        title = "Site not granted";
        heading = "The site you were asked to connect was not granted";
        next = "Open the link again and grant access to the site named in your request.";
        break;
    case LK_ECONNECTED:
        title = "Already connected";
        heading = "This account is already connected";
        next = "Nothing was changed. Ask the application to reconnect it if needed.";
        break;
    case LK_ENOPROFILE:
        title = "Unknown service";
        heading = "There is no such service";
        break;
    case LK_EPROVIDER:
    case LK_EUNAVAILABLE:
        title = "Provider error";
        heading = "The provider did not complete the sign-in";
        next = "Nothing was stored. Try again in a few minutes.";
        break;
    case LK_EDB:
        title = "Temporarily unavailable";
        heading = "The service is temporarily unavailable";
        next = "Nothing was stored. Try again in a few minutes.";
        break;
    default: break;
    }
    lk_page_send(r, lk_err_status(e), title, heading, r->detail ? r->detail : "The request could not be completed.",
                 next);
}

/* The per-user credential form's own rules, hashed into its CSP too. */
static const char FORM_STYLE[] =
    "form{margin-top:1rem}label{display:block;font-weight:600;margin:1rem 0 .25rem}"
    "input[type=text],input[type=email],input[type=password],input[type=url]{width:100%;box-sizing:border-box;"
    "padding:.6rem;font:inherit;border:2px solid #dfe1e6;border-radius:4px}"
    "input:focus{border-color:#4c9aff;outline:none}"
    ".hint{font-size:.85rem;color:#5e6c84;margin:.25rem 0 0}"
    ".problem{background:#ffebe6;color:#bf2600;padding:.75rem;border-radius:4px}"
    "button{margin-top:1.5rem;padding:.7rem 1.2rem;font:inherit;font-weight:600;color:#fff;"
    "background:#0052cc;border:0;border-radius:4px;cursor:pointer;width:100%}";

/* The page's head and heading, the problem if there is one, and the
 * opening of the form with the flow's public id. */
static lk_err form_head(lk_buf *b, lk_arena *a, const lk_credential_form *f, const char *svc)
{
    lk_err rc = lk_buf_printf(b,
                              "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                              "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                              "<meta name=\"robots\" content=\"noindex\"><title>Connect %s · Latchkey</title>"
                              "<style>%s</style><style>%s</style></head><body><main>"
                              "<div class=\"brand\">Latchkey</div><h1>Connect your %s%s</h1>",
                              svc ? svc : "your account", STYLE, FORM_STYLE, svc ? svc : "account at the provider",
                              svc ? " account" : "");
    if (rc == LK_OK && f->problem)
        rc = lk_buf_printf(b, "<p class=\"problem\" role=\"alert\">%s</p>", lk_html_escape(a, f->problem));
    if (rc == LK_OK)
        rc = lk_buf_printf(b,
                           "<p>The application will act in your account with the token you enter here. "
                           "It is stored encrypted and never shown again.</p>"
                           "<form method=\"post\" action=\"%s\" autocomplete=\"off\">"
                           "<input type=\"hidden\" name=\"flow\" value=\"%s\">",
                           lk_html_escape(a, f->action), lk_html_escape(a, f->flow));
    return rc;
}

/* The site field: an Atlassian Cloud site name, or a server's address. */
static lk_err form_site_field(lk_buf *b, lk_arena *a, const lk_credential_form *f)
{
    bool cloud = f->cloud;
    return lk_buf_printf(b,
                         "<label for=\"site\">%s</label><input id=\"site\" name=\"site\" type=\"%s\" required "
                         "value=\"%s\" placeholder=\"%s\"><p class=\"hint\">%s</p>",
                         cloud ? "Your Atlassian site" : "Server address", cloud ? "text" : "url",
                         lk_html_escape(a, f->site ? f->site : ""),
                         cloud ? "yourname.atlassian.net" : "https://server.example.com",
                         cloud ? "The address you open Confluence at." : "The base address of your server.");
}

/* The credential fields: an email (or user name) with an API token, or a
 * personal access token. */
static lk_err form_credential_fields(lk_buf *b, lk_arena *a, const lk_credential_form *f, const char *svc)
{
    if (!f->basic)
        return lk_buf_printf(b,
                             "<label for=\"token\">Personal access token</label>"
                             "<input id=\"token\" name=\"token\" type=\"password\" required>"
                             "<p class=\"hint\">Create one in your profile at %s, under personal access tokens.</p>",
                             svc ? svc : "the provider");
    /* Only Atlassian Cloud pairs an email with an API token made at
     * id.atlassian.com; any other provider's pair is its own. */
    return lk_buf_printf(b,
                         "<label for=\"email\">%s</label><input id=\"email\" name=\"email\" type=\"%s\" "
                         "required value=\"%s\"><label for=\"token\">API token</label>"
                         "<input id=\"token\" name=\"token\" type=\"password\" required>"
                         "<p class=\"hint\">%s%s%s</p>",
                         f->cloud ? "Email" : "Email or user name", f->cloud ? "email" : "text",
                         lk_html_escape(a, f->email ? f->email : ""),
                         f->cloud ? "Create one at id.atlassian.com, Security, API tokens."
                                  : "Create one in your account at ",
                         f->cloud ? "" : (svc ? svc : "the provider"), f->cloud ? "" : ".");
}

void lk_page_credential_form(lk_req *r, int status, const lk_credential_form *f)
{
    lk_arena *a = r->a;
    /* The profile's own name; "the provider" when it has none. */
    const char *svc = f->service && *f->service ? lk_html_escape(a, f->service) : NULL;
    lk_buf b;
    lk_buf_init(&b, a, LK_PAGE_MAX);
    lk_err rc = form_head(&b, a, f, svc);
    if (rc == LK_OK && f->ask_site)
        rc = form_site_field(&b, a, f);
    if (rc == LK_OK)
        rc = form_credential_fields(&b, a, f, svc);
    if (rc == LK_OK)
        rc = lk_buf_adds(&b, "<button type=\"submit\" id=\"connect\">Connect</button></form></main></body></html>\n");
    if (rc != LK_OK) {
        lk_fail(r, LK_EINTERNAL, "The page could not be built."); /* answered by lk_finish */
        return;
    }
    unsigned char h[LK_SHA256_LEN];
    lk_sha256(FORM_STYLE, strlen(FORM_STYLE), h);
    send_page(r, status, lk_printf(a, "'sha256-%s' 'sha256-%s'", style_hash(a), lk_b64_encode(a, h, sizeof(h))),
              "'self'", lk_buf_str(&b), b.len);
}
