/* Latchkey: the one error enum and the few types every module shares. */
#ifndef LK_H
#define LK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every library function returns one of these; results come back through
 * out-parameters. Each code maps to one HTTP status and one SPEC §7 code. */
typedef enum lk_err {
    LK_OK = 0,
    LK_EINVAL,        /* 400 invalid_request */
    LK_EUNAUTHORIZED, /* 401 unauthorized */
    LK_EFORBIDDEN,    /* 403 forbidden */
    LK_ESTATE,        /* 403 invalid_state */
    LK_EDENIED,       /* 403 access_denied (the user said no) */
    LK_ESITEGRANT,    /* 403 site_not_granted */
    LK_ENOPROFILE,    /* 404 unknown_profile */
    LK_ENOTCONN,      /* 404 not_connected */
    LK_EMETHOD,       /* 405 method_not_allowed */
    LK_ENOTACCEPT,    /* 406 not_acceptable */
    LK_EREAUTH,       /* 409 reauthorization_required */
    LK_ESITE,         /* 409 site_required */
    LK_ECONNECTED,    /* 409 already_connected (seed form never replaces) */
    LK_ELINK,         /* 410 link_expired */
    LK_EFLOW,         /* 410 flow_expired */
    LK_ETOOBIG,       /* 413 payload_too_large */
    LK_EVALIDATION,   /* 422 validation_error */
    LK_EPROVIDER,     /* 502 provider_error */
    LK_EUPSTREAM,     /* 502 upstream_error */
    LK_EUNAVAILABLE,  /* 503 provider_unavailable */
    LK_EDB,           /* 503 database_unavailable */
    LK_ETIMEOUT,      /* 504 upstream_timeout */
    LK_EINTERNAL,     /* 500 internal_error */
    LK_ECRYPTO,       /* 500 internal_error: a sealed secret did not open */
    LK_ENOTFOUND,     /* internal: no such row (callers map it) */
    LK_ECONFLICT,     /* internal: unique violation (callers retry or map) */
    LK_ERR_COUNT
} lk_err;

/* The SPEC §7 code of an error ("invalid_request"). */
const char *lk_err_code(lk_err e);
/* The HTTP status of an error. */
int lk_err_status(lk_err e);
/* The reason phrase for an HTTP status ("Not Found"). */
const char *lk_status_text(int status);

/* Limits that bound every input (SPEC §2 grammar, STYLE "bounded everything"). */
#define LK_INSTANCE_MAX 255
#define LK_PROFILE_MAX 63
#define LK_URL_MAX 2048
#define LK_JSON_DEPTH 16
/* SPEC §5: the longest expires_in taken from a provider (ten years). */
#define LK_EXPIRES_IN_MAX (10LL * 365 * 86400)

#define LK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
