/* One HTTP request as the web server hands it over (CGI/1.1 variables and
 * a body stream, RFC 3875), and its response. The same code serves
 * FastCGI and plain CGI: only the stream functions differ. */
#ifndef LK_HTTP_H
#define LK_HTTP_H

#include <json-c/json.h>
#include <sys/types.h>

#include "arena.h"
#include "config.h"
#include "db.h"
#include "form.h"
#include "lk.h"

typedef struct lk_io {
    /* Reads up to n bytes; 0 at the end; -1 on error. */
    ssize_t (*read)(void *ctx, char *buf, size_t n);
    /* Writes all n bytes; -1 on error (client gone). */
    int (*write)(void *ctx, const char *buf, size_t n);
    int (*flush)(void *ctx);
    void *ctx;
} lk_io;

typedef struct lk_hdr {
    const char *name, *value;
    struct lk_hdr *next;
} lk_hdr;

typedef struct lk_upstream lk_upstream;

/* The longest request URI (path and query) taken. */
#define LK_REQ_URI_MAX 8192

typedef struct lk_req {
    lk_arena *a;
    const lk_config *cfg;
    lk_db *db;
    lk_upstream *up;
    const char *prog;
    char *const *env;
    lk_io io;

    const char *method; /* REQUEST_METHOD */
    const char *uri;    /* REQUEST_URI, raw, as the client sent it */
    const char *path;   /* its path part, still percent-encoded */
    const char *query;  /* its query part ("" if none) */
    const char *route;  /* path below the mount ("/authorize/confluence") */
    lk_form form;       /* the parsed query */
    bool body_read;
    bool input_done; /* the body was read to its end (or there is none) */

    /* The failure being reported (lk_fail). */
    lk_err err;
    const char *detail;
    json_object *errors; /* validation_error items */
    json_object *extra;  /* more members for the error body (sites...) */

    /* The response. */
    lk_hdr *hdrs;
    int status;
    bool sent;
} lk_req;

/* Builds a request from CGI variables; LK_EINVAL if REQUEST_URI or the
 * method is missing or the query is malformed (answered 400). */
lk_err lk_req_init(lk_req *r, lk_arena *a, const lk_config *cfg, char *const *env, lk_io io);
/* A CGI variable, or NULL. */
const char *lk_req_env(const lk_req *r, const char *name);
/* A request header by its CGI name ("HTTP_AUTHORIZATION"; Content-Type is
 * CONTENT_TYPE), or NULL. */
#define lk_req_header lk_req_env
/* The first query parameter called name (NULL if absent). */
const char *lk_req_param(const lk_req *r, const char *name);
/* Reads the whole body, at most cap bytes: CONTENT_LENGTH when given,
 * else to the end of the stream (SPEC §8a). LK_ETOOBIG past the cap. */
lk_err lk_req_body(lk_req *r, size_t cap, char **out, size_t *len);
/* A JSON body read before the checks that outrank its own failures
 * (SPEC §2: the key and profile answer first). */
typedef struct lk_json_body {
    json_object *json; /* NULL when unreadable, or JSON null */
    lk_err err;        /* LK_ETOOBIG, LK_EINVAL, or LK_OK */
    const char *detail;
} lk_json_body;

/* Reads the body (at most max_body) and parses it; does not fail r. */
void lk_req_json_early(lk_req *r, lk_json_body *b);
/* Reports b's failure now, if any; true when there was one. */
bool lk_req_json_failed(lk_req *r, const lk_json_body *b);

/* When the route (the path below the mount, decoded) is "/<name>/<rest>",
 * sets *rest (still encoded) and returns true. */
bool lk_route_is(const lk_req *r, const char *name, const char **rest);

/* When the route is "/<name>/<profile>" (nothing after the profile),
 * sets *profile to the segment (not yet validated) and returns true. */
bool lk_route_profile(const lk_req *r, const char *name, const char **profile);
/* The seed form "/oauth/<profile>/authorize" (SPEC §2). */
bool lk_route_seed_form(const lk_req *r, const char **profile);
/* 405 with the Allow header. */
lk_err lk_fail_method(lk_req *r, const char *allow);

/* Records a failure with a sentence for the caller; returns e. */
lk_err lk_fail(lk_req *r, lk_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a failed database step: LK_EDB as "the database is unavailable"
 * (503, retry shortly), any other rc with the generic sentence; returns rc. */
lk_err lk_fail_db(lk_req *r, lk_err rc);
/* The sentence lk_fail_db gives a failed database step rc. */
const char *lk_db_detail(lk_err rc);
/* Appends one validation item (SPEC §7: loc [where, field], msg, type) to
 * the array errors. */
void lk_errors_add(json_object *errors, const char *where, const char *field, const char *msg, const char *type);
/* Adds one validation item to r->errors and fails r with LK_EVALIDATION. */
lk_err lk_fail_field(lk_req *r, const char *where, const char *field, const char *msg, const char *type);

/* 422: the JSON body is not an object (loc ["body"]). */
lk_err lk_fail_not_object(lk_req *r);

/* The status line and headers of a response hold at most this many bytes
 * (more is answered 500, never sent cut short). */
#define LK_RESP_HEAD_MAX (1 << 16)

/* Adds a response header (name and value are copied). */
void lk_resp_header(lk_req *r, const char *name, const char *value);
/* Sends status, headers and a body; HEAD requests get no body. */
void lk_resp_send(lk_req *r, int status, const char *ctype, const char *body, size_t len);
/* Starts a streamed response: the status and the headers added so far
 * (pushed out now when flush); the body follows with lk_resp_write. -1
 * when the client left. */
int lk_resp_begin(lk_req *r, int status, bool flush);
/* Writes body bytes of a streamed response, pushed out now when flush
 * (else when the buffer fills or the request ends); -1 when the client
 * left. */
int lk_resp_write(lk_req *r, const void *p, size_t n, bool flush);
/* Sends a JSON value with Cache-Control: no-store. */
void lk_resp_json(lk_req *r, int status, json_object *o);
/* The same with the JSON text already written. */
void lk_resp_json_text(lk_req *r, int status, const char *text);
/* Sends r->err as SPEC §7's JSON error (with WWW-Authenticate, Allow and
 * Retry-After where they belong). */
void lk_resp_error(lk_req *r);
/* A redirect with no-store and no-referrer. */
void lk_resp_redirect(lk_req *r, int status, const char *location);

#endif
