#include "http.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "text.h"

const char *lk_req_env(const lk_req *r, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = r->env; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

lk_err lk_req_init(lk_req *r, lk_arena *a, const lk_config *cfg, char *const *env, lk_io io)
{
    memset(r, 0, sizeof(*r));
    r->a = a;
    r->cfg = cfg;
    r->env = env;
    r->io = io;
    r->method = lk_req_env(r, "REQUEST_METHOD");
    r->uri = lk_req_env(r, "REQUEST_URI");
    r->path = "";
    r->query = "";
    r->route = "";
    const char *cl = lk_req_env(r, "CONTENT_LENGTH");
    r->input_done = !cl || !*cl || !strcmp(cl, "0");
    if (!r->method || !*r->method)
        return LK_EINVAL;
    if (!r->uri) {
        /* Plain CGI servers that set no REQUEST_URI: rebuild it (RFC 3875). */
        const char *sn = lk_req_env(r, "SCRIPT_NAME");
        const char *pi = lk_req_env(r, "PATH_INFO");
        const char *qs = lk_req_env(r, "QUERY_STRING");
        r->uri = lk_printf(a, "%s%s%s%s", sn ? sn : "", pi ? pi : "", qs && *qs ? "?" : "", qs ? qs : "");
    }
    if (strlen(r->uri) > LK_REQ_URI_MAX)
        return LK_EINVAL;
    const char *q = strchr(r->uri, '?');
    if (q) {
        r->path = lk_strndup(a, r->uri, (size_t)(q - r->uri));
        r->query = lk_strdup(a, q + 1);
    } else {
        r->path = r->uri;
    }
    /* The route is the path below the mount of public_base_url. */
    size_t ml = strlen(cfg->mount_path);
    if (!strncmp(r->path, cfg->mount_path, ml) && (r->path[ml] == '/' || r->path[ml] == '\0'))
        r->route = r->path + ml;
    else
        r->route = "";
    return lk_form_parse(a, r->query, strlen(r->query), &r->form);
}

const char *lk_req_param(const lk_req *r, const char *name)
{
    const lk_param *p = lk_form_get(&r->form, name, NULL);
    return p ? p->value : NULL;
}

bool lk_route_is(const lk_req *r, const char *name, const char **rest)
{
    size_t n = strlen(name);
    const char *s = r->route;
    if (s[0] != '/' || strncmp(s + 1, name, n) != 0)
        return false;
    s += 1 + n;
    if (*s == '\0') {
        *rest = s;
        return true;
    }
    if (*s != '/')
        return false;
    *rest = s + 1;
    return true;
}

bool lk_route_profile(const lk_req *r, const char *name, const char **profile)
{
    const char *rest;
    if (!lk_route_is(r, name, &rest) || strchr(rest, '/'))
        return false;
    *profile = rest;
    return true;
}

bool lk_route_seed_form(const lk_req *r, const char **profile)
{
    const char *rest;
    if (!lk_route_is(r, "oauth", &rest))
        return false;
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/authorize") != 0)
        return false;
    *profile = lk_strndup(r->a, rest, (size_t)(slash - rest));
    return true;
}

lk_err lk_fail_method(lk_req *r, const char *allow)
{
    lk_resp_header(r, "Allow", allow);
    return lk_fail(r, LK_EMETHOD, "This route accepts %s only.", allow);
}

lk_err lk_req_body(lk_req *r, size_t cap, char **out, size_t *len)
{
    const char *cl = lk_req_env(r, "CONTENT_LENGTH");
    long long want = -1;
    r->body_read = true;
    if (cl && *cl) {
        if (!lk_parse_int(cl, 0, LLONG_MAX, &want))
            return lk_fail(r, LK_EINVAL, "Content-Length is not a number.");
        if ((unsigned long long)want > cap)
            return lk_fail(r, LK_ETOOBIG, "The request body is larger than %zu bytes.", cap);
    }
    lk_buf b;
    lk_buf_init(&b, r->a, cap);
    char chunk[8192];
    while (want < 0 || (long long)b.len < want) {
        size_t ask = sizeof(chunk);
        if (want >= 0 && (unsigned long long)(want - (long long)b.len) < ask)
            ask = (size_t)(want - (long long)b.len);
        ssize_t got = r->io.read(r->io.ctx, chunk, ask);
        if (got < 0)
            return lk_fail(r, LK_EINVAL, "The request body could not be read.");
        if (got == 0)
            break;
        if (lk_buf_add(&b, chunk, (size_t)got) != LK_OK)
            return lk_fail(r, LK_ETOOBIG, "The request body is larger than %zu bytes.", cap);
    }
    if (want >= 0 && (long long)b.len != want)
        return lk_fail(r, LK_EINVAL, "The request body is shorter than its Content-Length.");
    r->input_done = true;
    *out = (char *)lk_buf_str(&b);
    *len = b.len;
    return LK_OK;
}

void lk_req_json_early(lk_req *r, lk_json_body *b)
{
    char *text = NULL;
    size_t len = 0;
    memset(b, 0, sizeof(*b));
    b->err = lk_req_body(r, (size_t)r->cfg->max_body, &text, &len);
    b->detail = r->detail;
    if (b->err == LK_OK && lk_json_parse(r->a, text, len, &b->json) != LK_OK) {
        b->err = LK_EINVAL;
        b->detail = "The body must be a JSON object.";
    }
    r->err = LK_OK;
    r->detail = NULL;
}

bool lk_req_json_failed(lk_req *r, const lk_json_body *b)
{
    if (b->err == LK_OK)
        return false;
    lk_fail(r, b->err, "%s", b->detail ? b->detail : "The body could not be read.");
    return true;
}

lk_err lk_fail(lk_req *r, lk_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->detail = lk_vprintf(r->a, fmt, ap);
    va_end(ap);
    r->err = e;
    return e;
}

lk_err lk_fail_db(lk_req *r, lk_err rc)
{
    return lk_fail(r, rc, "%s", lk_db_detail(rc));
}

const char *lk_db_detail(lk_err rc)
{
    return rc == LK_EDB ? "The database is unavailable; try again shortly." : "The request could not be served.";
}

void lk_errors_add(json_object *errors, const char *where, const char *field, const char *msg, const char *type)
{
    json_object *item = json_object_new_object();
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string(where));
    json_object_array_add(loc, json_object_new_string(field));
    json_object_object_add(item, "loc", loc);
    lk_json_set_str(item, "msg", msg);
    lk_json_set_str(item, "type", type);
    json_object_array_add(errors, item);
}

lk_err lk_fail_field(lk_req *r, const char *where, const char *field, const char *msg, const char *type)
{
    if (!r->errors)
        r->errors = lk_json_array(r->a);
    lk_errors_add(r->errors, where, field, msg, type);
    r->err = LK_EVALIDATION;
    return LK_EVALIDATION;
}

lk_err lk_fail_not_object(lk_req *r)
{
    if (!r->errors)
        r->errors = lk_json_array(r->a);
    json_object *item = json_object_new_object();
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string("body"));
    json_object_object_add(item, "loc", loc);
    lk_json_set_str(item, "msg", "Input should be a valid dictionary");
    lk_json_set_str(item, "type", "model_attributes_type");
    json_object_array_add(r->errors, item);
    r->err = LK_EVALIDATION;
    return LK_EVALIDATION;
}

void lk_resp_header(lk_req *r, const char *name, const char *value)
{
    lk_hdr *h = lk_alloc(r->a, sizeof(*h));
    h->name = lk_strdup(r->a, name);
    h->value = lk_strdup(r->a, value);
    /* Response headers must never carry CR or LF (header splitting). */
    for (char *p = (char *)h->value; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    lk_hdr **tail = &r->hdrs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

void lk_resp_send(lk_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->sent)
        return;
    r->sent = true;
    r->status = status;
    lk_buf b;
    lk_buf_init(&b, r->a, LK_RESP_HEAD_MAX);
    lk_err rc = lk_buf_printf(&b, "Status: %d %s\r\n", status, lk_status_text(status));
    if (rc == LK_OK && ctype)
        rc = lk_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    if (rc == LK_OK && status != 204 && status != 304)
        rc = lk_buf_printf(&b, "Content-Length: %zu\r\n", len);
    for (lk_hdr *h = r->hdrs; rc == LK_OK && h; h = h->next)
        rc = lk_buf_printf(&b, "%s: %s\r\n", h->name, h->value);
    if (rc == LK_OK)
        rc = lk_buf_adds(&b, "\r\n");
    if (rc != LK_OK) {
        /* Headers that do not fit are never sent cut short. */
        static const char fail[] = "Status: 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        r->status = 500;
        r->io.write(r->io.ctx, fail, sizeof(fail) - 1);
        return;
    }
    if (r->io.write(r->io.ctx, lk_buf_str(&b), b.len) != 0)
        return;
    if (len && strcmp(r->method, "HEAD") != 0)
        r->io.write(r->io.ctx, body, len);
}

int lk_resp_begin(lk_req *r, int status, bool flush)
{
    if (r->sent)
        return -1;
    r->sent = true;
    r->status = status;
    lk_buf b;
    lk_buf_init(&b, r->a, LK_RESP_HEAD_MAX);
    if (lk_buf_printf(&b, "Status: %d %s\r\n", status, lk_status_text(status)) != LK_OK)
        return -1;
    for (lk_hdr *h = r->hdrs; h; h = h->next)
        if (lk_buf_printf(&b, "%s: %s\r\n", h->name, h->value) != LK_OK)
            return -1;
    if (lk_buf_adds(&b, "\r\n") != LK_OK)
        return -1;
    if (r->io.write(r->io.ctx, lk_buf_str(&b), b.len) != 0)
        return -1;
    return flush ? r->io.flush(r->io.ctx) : 0;
}

int lk_resp_write(lk_req *r, const void *p, size_t n, bool flush)
{
    if (n && r->io.write(r->io.ctx, p, n) != 0)
        return -1;
    return flush ? r->io.flush(r->io.ctx) : 0;
}

void lk_resp_json(lk_req *r, int status, json_object *o)
{
    lk_resp_json_text(r, status, lk_json_text(r->a, o));
}

void lk_resp_json_text(lk_req *r, int status, const char *text)
{
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_send(r, status, "application/json", text, strlen(text));
}

void lk_resp_error(lk_req *r)
{
    lk_err e = r->err ? r->err : LK_EINTERNAL;
    json_object *o = lk_json_object(r->a);
    lk_json_set_str(o, "error", lk_err_code(e));
    if (e == LK_EVALIDATION && r->errors)
        json_object_object_add(o, "detail", json_object_get(r->errors));
    else
        lk_json_set_str(o, "detail", r->detail ? r->detail : "The request could not be served.");
    if (r->extra) {
        json_object_object_foreach (r->extra, k, v)
            json_object_object_add(o, k, json_object_get(v));
    }
    if (e == LK_EUNAUTHORIZED)
        lk_resp_header(r, "WWW-Authenticate", "Bearer realm=\"latchkey\"");
    if (e == LK_EDB || e == LK_EUNAVAILABLE) {
        bool has = false;
        for (lk_hdr *h = r->hdrs; h; h = h->next)
            has |= lk_ieq(h->name, "Retry-After");
        if (!has)
            lk_resp_header(r, "Retry-After", e == LK_EDB ? "5" : "30");
    }
    lk_resp_json(r, lk_err_status(e), o);
}

void lk_resp_redirect(lk_req *r, int status, const char *location)
{
    lk_resp_header(r, "Location", location);
    lk_resp_header(r, "Cache-Control", "no-store");
    lk_resp_header(r, "Referrer-Policy", "no-referrer");
    lk_resp_send(r, status, NULL, "", 0);
}
