/* The error table: one row per lk_err, SPEC §7. */
#include "lk.h"

static const struct {
    int status;
    const char *code;
} errs[LK_ERR_COUNT] = {
    [LK_OK] = {200, "ok"},
    [LK_EINVAL] = {400, "invalid_request"},
    [LK_EUNAUTHORIZED] = {401, "unauthorized"},
    [LK_EFORBIDDEN] = {403, "forbidden"},
    [LK_ESTATE] = {403, "invalid_state"},
    [LK_EDENIED] = {403, "access_denied"},
    [LK_ESITEGRANT] = {403, "site_not_granted"},
    [LK_ENOPROFILE] = {404, "unknown_profile"},
    [LK_ENOTCONN] = {404, "not_connected"},
    [LK_EMETHOD] = {405, "method_not_allowed"},
    [LK_ENOTACCEPT] = {406, "not_acceptable"},
    [LK_EREAUTH] = {409, "reauthorization_required"},
    [LK_ESITE] = {409, "site_required"},
    [LK_ECONNECTED] = {409, "already_connected"},
    [LK_ELINK] = {410, "link_expired"},
    [LK_EFLOW] = {410, "flow_expired"},
    [LK_ETOOBIG] = {413, "payload_too_large"},
    [LK_EVALIDATION] = {422, "validation_error"},
    [LK_EPROVIDER] = {502, "provider_error"},
    [LK_EUPSTREAM] = {502, "upstream_error"},
    [LK_EUNAVAILABLE] = {503, "provider_unavailable"},
    [LK_EDB] = {503, "database_unavailable"},
    [LK_ETIMEOUT] = {504, "upstream_timeout"},
    [LK_EINTERNAL] = {500, "internal_error"},
    [LK_ECRYPTO] = {500, "internal_error"},
    [LK_ENOTFOUND] = {404, "not_found"},
    [LK_ECONFLICT] = {409, "conflict"},
};

const char *lk_err_code(lk_err e)
{
    if ((unsigned)e >= LK_ERR_COUNT)
        return "internal_error";
    return errs[e].code;
}

int lk_err_status(lk_err e)
{
    if ((unsigned)e >= LK_ERR_COUNT)
        return 500;
    return errs[e].status;
}

const char *lk_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}
