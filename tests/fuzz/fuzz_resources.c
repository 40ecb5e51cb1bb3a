/* lk_resources_parse + lk_site_pick on an accessible-resources answer.
 * Input: the site asked for, '\n', the answer body.
 *
 * Accepted ⇒ at most LK_SITES_MAX sites, each id and url non-empty
 * printable UTF-8 of at most 512 bytes, name printable or "". The picked
 * site is one of the list: the first whose id is the wanted text, else the
 * first whose host equals the wanted host (any case; "https://" and one
 * trailing '/' ignored); none for an empty wish or one with a path. */
#include "fuzz.h"

#include <stdbool.h>
#include <strings.h>

#include "arena.h"
#include "resources.h"
#include "text.h"

static const char *host(const char *u, size_t *n)
{
    if (!strncmp(u, "https://", 8))
        u += 8;
    else if (!strncmp(u, "http://", 7))
        u += 7;
    *n = strcspn(u, "/");
    return u;
}

static const lk_site *ref_pick(const lk_sites *s, const char *want)
{
    if (!*want)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].cloud_id, want))
            return &s->v[i];
    size_t wn;
    const char *wh = host(want, &wn);
    if (wh[wn] && strcmp(wh + wn, "/"))
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        size_t hn;
        const char *h = host(s->v[i].url, &hn);
        if (hn && hn == wn && !strncasecmp(h, wh, hn))
            return &s->v[i];
    }
    return NULL;
}

static bool field(const char *s, bool may_be_empty)
{
    size_t n = strlen(s);
    return (may_be_empty || n) && n <= 512 && lk_utf8_printable(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[2];
    size_t lens[2];
    size_t n = fuzz_fields(data, size, '\n', f, lens, 2);
    const char *want = f[0];
    const char *body = n > 1 ? f[1] : "";
    size_t blen = n > 1 ? lens[1] : 0;
    lk_arena *a = lk_arena_new();
    lk_sites s;
    lk_err rc = lk_resources_parse(a, body, blen, &s);
    FUZZ_CHECK(rc == LK_OK || rc == LK_EPROVIDER, "rc %d", rc);
    if (rc == LK_OK) {
        FUZZ_CHECK(s.n <= LK_SITES_MAX, "%zu sites", s.n);
        for (size_t i = 0; i < s.n; i++) {
            FUZZ_CHECK(field(s.v[i].cloud_id, false), "site %zu id", i);
            FUZZ_CHECK(field(s.v[i].url, false), "site %zu url", i);
            FUZZ_CHECK(field(s.v[i].name, true), "site %zu name", i);
        }
        const lk_site *p = lk_site_pick(&s, want);
        FUZZ_CHECK(p == ref_pick(&s, want), "lk_site_pick(%s) differs from the reference", want);
        FUZZ_CHECK(!p || (p >= s.v && p < s.v + s.n), "picked site not in the list");
        FUZZ_CHECK(lk_site_pick(&s, NULL) == NULL && lk_site_pick(&s, "") == NULL, "picked for no wish");
        if (s.n) {
            FUZZ_CHECK(lk_site_pick(&s, s.v[s.n - 1].cloud_id) != NULL, "own id not found");
        }
    }
    lk_arena_free(a);
    fuzz_fields_free(f, n);
    return 0;
}
