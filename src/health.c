#include "health.h"

#include "json.h"
#include "text.h"

#define MS_PER_DAY (86400LL * 1000)

/* t + days, or 0 when either is unknown. */
static long long plus_days(long long t_ms, int days)
{
    return t_ms > 0 && days > 0 ? t_ms + days * MS_PER_DAY : 0;
}

lk_health lk_health_forecast(const lk_health_facts *f)
{
    lk_health h = {0, 0};
    if (f->has_refresh_token)
        h.lapses_at_ms = plus_days(f->refreshed_at_ms, f->idle_days);
    h.grant_expires_at_ms = plus_days(f->grant_issued_at_ms, f->lifetime_days);
    return h;
}

lk_health_facts lk_health_facts_of(const lk_conn *c, const lk_profile *p)
{
    lk_health_facts f = {c->refreshed_at_ms, c->grant_issued_at_ms, c->refresh_sealed != NULL,
                         p->refresh_token_idle_days, p->grant_lifetime_days};
    return f;
}

/* Sets key to the RFC 3339 time of ms (whole seconds, as PostgreSQL's
 * to_char gives them), unless it is not known. */
static void set_time(lk_arena *a, json_object *o, const char *key, long long ms)
{
    if (ms <= 0)
        return;
    lk_json_set_str(o, key, lk_time_iso(a, (time_t)(ms / 1000)));
}

void lk_health_json(lk_arena *a, json_object *o, const lk_conn *c, const lk_profile *p)
{
    lk_json_set_str(o, "status", c->status);
    if (c->last_refreshed_at)
        lk_json_set_str(o, "last_refreshed_at", c->last_refreshed_at);
    else
        json_object_object_add(o, "last_refreshed_at", NULL);
    lk_health_facts f = lk_health_facts_of(c, p);
    lk_health h = lk_health_forecast(&f);
    set_time(a, o, "refresh_token_lapses_at", h.lapses_at_ms);
    set_time(a, o, "grant_expires_at", h.grant_expires_at_ms);
}
