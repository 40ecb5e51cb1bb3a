#include "resources.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "text.h"

/* The most kept of an accessible-resources answer. */
#define LK_RESOURCES_ANSWER_MAX ((size_t)512 * 1024)
/* A site's id, url or name from the provider: at most. */
#define LK_SITE_FIELD_MAX 512
/* A site a caller names (a cloud id or a host): at most. */
#define LK_SITE_ARG_MAX 255

static bool field_ok(const char *s)
{
    return s && *s && strlen(s) <= LK_SITE_FIELD_MAX && lk_utf8_printable(s, strlen(s));
}

lk_err lk_resources_parse(lk_arena *a, const char *body, size_t len, lk_sites *out)
{
    out->v = NULL;
    out->n = 0;
    json_object *arr = NULL;
    if (lk_json_parse(a, body, len, &arr) != LK_OK || !json_object_is_type(arr, json_type_array))
        return LK_EPROVIDER;
    size_t n = json_object_array_length(arr);
    if (n > LK_SITES_MAX)
        return LK_EPROVIDER;
    out->v = lk_alloc(a, (n + 1) * sizeof(lk_site));
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        const char *id = lk_json_str(it, "id");
        const char *url = lk_json_str(it, "url");
        const char *name = lk_json_str(it, "name");
        if (!field_ok(id) || !field_ok(url))
            return LK_EPROVIDER;
        lk_site *s = &out->v[out->n++];
        s->cloud_id = lk_strdup(a, id);
        s->url = lk_strdup(a, url);
        s->name = lk_strdup(a, field_ok(name) ? name : "");
    }
    return LK_OK;
}

lk_err lk_resources_fetch(lk_upstream *u, lk_arena *a, const char *url, const char *access_token, lk_sites *out)
{
    char *auth = lk_printf(a, "Authorization: Bearer %s", access_token);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    lk_http_resp resp;
    lk_err rc = lk_upstream_call(u, a, LK_REACH_ANY, "GET", url, headers, NULL, 0, LK_RESOURCES_ANSWER_MAX, &resp);
    if (rc == LK_ETOOBIG)
        return LK_EPROVIDER;
    if (rc != LK_OK)
        return LK_EUNAVAILABLE;
    if (resp.status == 429 || resp.status >= 500)
        return LK_EUNAVAILABLE;
    if (resp.status != 200)
        return LK_EPROVIDER;
    return lk_resources_parse(a, resp.body, resp.len, out);
}

static const char *host_of(const char *url, size_t *n)
{
    const char *h = url;
    if (!strncmp(h, "https://", 8))
        h += 8;
    else if (!strncmp(h, "http://", 7))
        h += 7;
    *n = strcspn(h, "/");
    return h;
}

const lk_site *lk_site_pick(const lk_sites *s, const char *want)
{
    if (!want || !*want)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].cloud_id, want))
            return &s->v[i];
    size_t wn;
    const char *wh = host_of(want, &wn);
    if (wh[wn] == '/' && wh[wn + 1] != '\0')
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        size_t hn;
        const char *h = host_of(s->v[i].url, &hn);
        if (hn == wn && hn > 0) {
            char *x = strndup(h, hn);
            bool eq = x && lk_ieqn(wh, wn, x);
            free(x);
            if (eq)
                return &s->v[i];
        }
    }
    return NULL;
}

json_object *lk_sites_metadata(lk_arena *a, const lk_sites *s, const lk_site *chosen)
{
    json_object *m = lk_json_object(a);
    if (chosen) {
        lk_json_set_str(m, "cloud_id", chosen->cloud_id);
        lk_json_set_str(m, "site_url", chosen->url);
        lk_json_set_str(m, "site_name", chosen->name);
    }
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < s->n; i++) {
        json_object *it = json_object_new_object();
        lk_json_set_str(it, "cloud_id", s->v[i].cloud_id);
        lk_json_set_str(it, "url", s->v[i].url);
        lk_json_set_str(it, "name", s->v[i].name);
        json_object_array_add(arr, it);
    }
    json_object_object_add(m, "sites", arr);
    return m;
}

lk_sites lk_sites_from_metadata(lk_arena *a, json_object *metadata)
{
    lk_sites s = {NULL, 0};
    json_object *arr = lk_json_get(metadata, "sites");
    if (!arr || !json_object_is_type(arr, json_type_array))
        return s;
    size_t n = json_object_array_length(arr);
    s.v = lk_alloc(a, (n + 1) * sizeof(lk_site));
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        const char *id = lk_json_str(it, "cloud_id");
        if (!id)
            continue;
        lk_site *x = &s.v[s.n++];
        x->cloud_id = lk_strdup(a, id);
        x->url = lk_strdup(a, lk_json_str(it, "url") ? lk_json_str(it, "url") : "");
        x->name = lk_strdup(a, lk_json_str(it, "name") ? lk_json_str(it, "name") : "");
    }
    return s;
}

bool lk_site_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LK_SITE_ARG_MAX)
        return false;
    for (const char *c = s; *c; c++) {
        char ch = *c;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-' || ch == ':' || ch == '/' || ch == '_'))
            return false;
    }
    return true;
}

char *lk_api_base_url(lk_arena *a, const char *tmpl, const lk_site *site)
{
    if (!tmpl)
        return NULL;
    lk_buf b;
    lk_buf_init(&b, a, (size_t)LK_URL_MAX * 2);
    lk_err rc = LK_OK;
    const char *p = tmpl;
    while (rc == LK_OK && *p) {
        const char *open = strchr(p, '{');
        if (!open) {
            rc = lk_buf_adds(&b, p);
            break;
        }
        rc = lk_buf_add(&b, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close || !site)
            return NULL;
        size_t n = (size_t)(close - open - 1);
        const char *host = site->url;
        if (!strncmp(host, "https://", 8))
            host += 8;
        else if (!strncmp(host, "http://", 7))
            host += 7;
        if (rc != LK_OK)
            break;
        if (n == 8 && !strncmp(open + 1, "cloud_id", 8))
            rc = lk_buf_adds(&b, lk_pct_encode(a, site->cloud_id));
        else if (n == 8 && !strncmp(open + 1, "site_url", 8))
            rc = lk_buf_adds(&b, site->url);
        else if (n == 9 && !strncmp(open + 1, "site_host", 9))
            rc = lk_buf_add(&b, host, strcspn(host, "/"));
        else
            return NULL;
        p = close + 1;
    }
    /* A URL that does not fit is no URL: never a shorter one. */
    return rc == LK_OK ? (char *)lk_buf_str(&b) : NULL;
}
