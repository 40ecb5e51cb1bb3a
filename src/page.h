/* The few HTML pages a browser sees: small, escaped, with a strict CSP,
 * no-store and no-referrer, readable on a phone. */
#ifndef LK_PAGE_H
#define LK_PAGE_H

#include "http.h"

/* Escapes & < > " ' for HTML text and attributes. */
char *lk_html_escape(lk_arena *a, const char *s);

/* A page with a title, a heading and sentences (all escaped here). */
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

void lk_page_credential_form(lk_req *r, int status, const lk_credential_form *f);

/* The page for r->err: what went wrong and what to do next. */
void lk_page_error(lk_req *r);

#endif
