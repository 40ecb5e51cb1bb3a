/* The few HTML pages a browser sees: small, escaped, with a strict CSP,
 * no-store and no-referrer, readable on a phone. */
#ifndef LK_PAGE_H
#define LK_PAGE_H

#include "http.h"

/* Escapes & < > " ' for HTML text and attributes. */
char *lk_html_escape(lk_arena *a, const char *s);

/* Sends a page with a title, a heading, a message and what to do next
 * (next may be NULL; all escaped here), no-store, no-referrer, strict CSP. */
void lk_page_send(lk_req *r, int status, const char *title, const char *heading, const char *message, const char *next);
/* The per-user credential form (api_key_per_user profiles). */
typedef struct lk_credential_form {
    const char *service; /* the profile's display name; NULL: "the provider" */
    const char *action;  /* the callback URL it posts to */
    const char *flow;    /* the flow's public id (its cookie's name), sent back hidden */
    bool ask_site, cloud, basic;
    const char *site, *email; /* shown again after a problem */
    const char *problem;      /* what went wrong, or NULL */
} lk_credential_form;

/* A built page (the credential form) holds at most this many bytes. */
#define LK_PAGE_MAX (1 << 16)

/* Sends the credential form f with status; its CSP lets it post only to
 * this site. A page that does not fit fails r (LK_EINTERNAL), unsent. */
void lk_page_credential_form(lk_req *r, int status, const lk_credential_form *f);

/* Sends the page for r->err (LK_EINTERNAL when none) with r->detail: what
 * went wrong and what to do next, with the error's status. */
void lk_page_error(lk_req *r);

#endif
