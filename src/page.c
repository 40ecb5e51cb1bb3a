#include "page.h"

#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "text.h"

static const char STYLE[] =
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "background:#f4f5f7;color:#172b4d}"
    "main{max-width:32rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;"
    "box-shadow:0 1px 3px rgba(9,30,66,.25)}"
    "@media (max-width:36rem){main{margin:0;border-radius:0;min-height:100vh;box-sizing:border-box}}"
    "h1{font-size:1.4rem;margin:.5rem 0 1rem}"
    ".brand{font-size:.85rem;letter-spacing:.08em;text-transform:uppercase;color:#5e6c84}"
    ".ok h1{color:#006644}.err h1{color:#bf2600}"
    ".next{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #dfe1e6;color:#42526e}"
    "code{background:#f4f5f7;padding:0 .25rem;border-radius:3px;word-break:break-all}";

char *lk_html_escape(lk_arena *a, const char *s)
{
    lk_buf b;
    lk_buf_init(&b, a, strlen(s) * 6 + 1);
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '&': lk_buf_adds(&b, "&amp;"); break;
        case '<': lk_buf_adds(&b, "&lt;"); break;
        case '>': lk_buf_adds(&b, "&gt;"); break;
        case '"': lk_buf_adds(&b, "&quot;"); break;
        case '\'': lk_buf_adds(&b, "&#39;"); break;
        default: lk_buf_addc(&b, *c);
        }
    }
    return (char *)lk_buf_str(&b);
}

static const char *style_hash(lk_arena *a)
{
    unsigned char h[LK_SHA256_LEN];
    lk_sha256(STYLE, strlen(STYLE), h);
    return lk_b64_encode(a, h, sizeof(h));
}

void lk_page_send(lk_req *r, int status, const char *title, const char *heading, const char *message,
                  const char *next)
{
    lk_arena *a = r->a;
    bool ok = status < 400;
    char *body = lk_printf(
        a,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex\"><title>%s · Latchkey</title><style>%s</style></head>"
        "<body><main class=\"%s\"><div class=\"brand\">Latchkey</div><h1>%s</h1><p>%s</p>%s%s%s"
        "</main></body></html>\n",
        lk_html_escape(a, title), STYLE, ok ? "ok" : "err", lk_html_escape(a, heading),
        lk_html_escape(a, message), next ? "<p class=\"next\">" : "", next ? lk_html_escape(a, next) : "",
        next ? "</p>" : "");
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_header(r, "Referrer-Policy", "no-referrer");
    lk_resp_header(r, "X-Content-Type-Options", "nosniff");
    lk_resp_header(r, "X-Frame-Options", "DENY");
    lk_resp_header(r, "Content-Security-Policy",
                   lk_printf(a,
                             "default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'",
                             style_hash(a)));
    lk_resp_send(r, status, "text/html; charset=utf-8", body, strlen(body));
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
        next = "Nothing was connected. If this was a mistake, ask the application for a new link.";
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
    default:
        break;
    }
    lk_page_send(r, lk_err_status(e), title, heading,
                 r->detail ? r->detail : "The request could not be completed.", next);
}
