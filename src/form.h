/* Query strings and application/x-www-form-urlencoded bodies. */
#ifndef LK_FORM_H
#define LK_FORM_H

#include "arena.h"
#include "lk.h"

typedef struct lk_param {
    char *name, *value;
    size_t value_len; /* the value may hold NULs: check it before use */
} lk_param;

typedef struct lk_form {
    lk_param *v;
    size_t n;
} lk_form;

#define LK_FORM_MAX_PARAMS 64

/* Parses "a=1&b=%20x" (both '+' and %20 are spaces). LK_EINVAL on a bad
 * escape or more than LK_FORM_MAX_PARAMS parameters. */
lk_err lk_form_parse(lk_arena *a, const char *s, size_t n, lk_form *out);
/* The first value named name, or NULL; *count (optional) gets how many. */
const lk_param *lk_form_get(const lk_form *f, const char *name, size_t *count);

/* Appends name=value to url with '?' or '&', both percent-encoded. */
char *lk_url_add_param(lk_arena *a, const char *url, const char *name, const char *value);

#endif
