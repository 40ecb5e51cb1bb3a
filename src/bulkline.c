#include "bulkline.h"

#include <string.h>

#include "json.h"
#include "lk.h"
#include "text.h"

/* The fields a line may carry; anything else is refused (a typo would
 * otherwise lose data quietly). */
static const char *const FIELDS[] = {"profile",    "instance_id", "access_token", "refresh_token", "expires_at",
                                     "expires_in", "scope",       "metadata",     "client_id",     "token_type",
                                     NULL};

/* Sets *why to msg; false. */
static bool refuse(const char **why, const char *msg)
{
    *why = msg;
    return false;
}

/* Digits s[0..n) as a number, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153LL * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The offset of an RFC 3339 time zone ("Z", "+hh:mm"), in seconds. */
static bool zone_offset(const char *s, long long *off)
{
    if ((s[0] == 'Z' || s[0] == 'z') && !s[1]) {
        *off = 0;
        return true;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return false;
    int h = digits(s + 1, 2), m = digits(s + 4, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return false;
    *off = (s[0] == '-' ? -1 : 1) * (h * 3600LL + m * 60LL);
    return true;
}

bool lk_rfc3339_parse(const char *s, long long *out)
{
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 59)
        return false;
    const char *z = s + 19;
    if (*z == '.') {
        z++;
        if (*z < '0' || *z > '9')
            return false;
        while (*z >= '0' && *z <= '9')
            z++;
    }
    long long off;
    if (!zone_offset(z, &off))
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + se - off;
    return true;
}

/* RFC 6749 A.12/A.13 and SPEC §5: printable ASCII without spaces. */
static bool token_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > LK_BULK_TOKEN_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* RFC 6749 §3.3: NQCHAR and SP. */
static bool scope_ok(const char *s)
{
    if (strlen(s) > LK_BULK_SCOPE_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* A string member (NULL when absent); false when present but not a string. */
static bool str_member(json_object *o, const char *key, const char **out)
{
    json_object *v = lk_json_get(o, key);
    *out = v ? json_object_get_string(v) : NULL;
    return !v || json_object_is_type(v, json_type_string);
}

/* The fields are known ones; false with *why. */
static bool known_fields(lk_arena *a, json_object *o, const char **why)
{
    json_object_object_foreach (o, key, val) {
        (void)val;
        bool known = false;
        for (size_t i = 0; FIELDS[i] && !known; i++)
            known = !strcmp(key, FIELDS[i]);
        if (!known) {
            bool sealed = !strcmp(key, "access_token_sealed") || !strcmp(key, "refresh_token_sealed");
            *why = sealed ? "sealed tokens cannot be imported (export with --decrypt)"
                          : lk_printf(a, "unknown field %.64s", key);
            return false;
        }
    }
    return true;
}

/* expires_at or expires_in into l; false with *why. */
static bool read_expiry(json_object *o, long long now, lk_bulk_line *l, const char **why)
{
    json_object *at = lk_json_get(o, "expires_at"), *in = lk_json_get(o, "expires_in");
    l->has_expiry = at || in;
    if (at && in)
        return refuse(why, "expires_at and expires_in are both given");
    if (at &&
        (!json_object_is_type(at, json_type_string) || !lk_rfc3339_parse(json_object_get_string(at), &l->expires_at)))
        return refuse(why, "expires_at is not an RFC 3339 date-time");
    if (in) {
        long long v = json_object_get_int64(in);
        if (!json_object_is_type(in, json_type_int) || v < 1 || v > LK_EXPIRES_IN_MAX)
            return refuse(why, "expires_in is not a positive number of seconds");
        l->expires_at = now + v;
    }
    return true;
}

/* The string fields of o into l; false with *why. */
static bool read_strings(json_object *o, lk_bulk_line *l, const char **why)
{
    if (!str_member(o, "profile", &l->profile) || !l->profile || !lk_valid_profile_name(l->profile, strlen(l->profile)))
        return refuse(why, "profile is missing or not a profile name");
    if (!str_member(o, "instance_id", &l->instance_id) || !l->instance_id ||
        !lk_valid_instance_id(l->instance_id, strlen(l->instance_id)))
        return refuse(why, "instance_id must be 1 to 255 bytes of printable UTF-8");
    if (!str_member(o, "access_token", &l->access_token) || !l->access_token || !token_ok(l->access_token))
        return refuse(why, "access_token must be printable ASCII without spaces (1 to 16384 bytes)");
    if (!str_member(o, "refresh_token", &l->refresh_token) || (l->refresh_token && !token_ok(l->refresh_token)))
        return refuse(why, "refresh_token must be printable ASCII without spaces (1 to 16384 bytes)");
    if (!str_member(o, "token_type", &l->token_type) ||
        (l->token_type &&
         (strlen(l->token_type) > LK_BULK_TOKEN_TYPE_MAX || !lk_http_token(l->token_type, strlen(l->token_type)))))
        return refuse(why, "token_type is not an RFC 9110 token");
    if (!str_member(o, "scope", &l->scope) || (l->scope && !scope_ok(l->scope)))
        return refuse(why, "scope must be a string of scope tokens");
    if (!str_member(o, "client_id", &l->client_id) ||
        (l->client_id && (!*l->client_id || strlen(l->client_id) > LK_BULK_CLIENT_MAX ||
                          !lk_utf8_printable(l->client_id, strlen(l->client_id)))))
        return refuse(why, "client_id must be 1 to 255 bytes of printable UTF-8");
    if (!l->token_type)
        l->token_type = "Bearer";
    return true;
}

bool lk_bulk_parse(lk_arena *a, const char *s, size_t n, long long now, lk_bulk_line *out, const char **why)
{
    memset(out, 0, sizeof *out);
    json_object *o = NULL;
    if (n > LK_BULK_LINE_MAX)
        return refuse(why, "the line is too long");
    if (lk_json_parse(a, s, n, &o) != LK_OK || !json_object_is_type(o, json_type_object))
        return refuse(why, "not a JSON object");
    if (!known_fields(a, o, why) || !read_strings(o, out, why) || !read_expiry(o, now, out, why))
        return false;
    json_object *m = lk_json_get(o, "metadata");
    if (m && !json_object_is_type(m, json_type_object))
        return refuse(why, "metadata must be a JSON object");
    out->metadata = m ? lk_json_text(a, m) : "{}";
    if (strlen(out->metadata) > LK_BULK_METADATA_MAX)
        return refuse(why, "metadata is too large");
    return true;
}
