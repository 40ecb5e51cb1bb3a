/* The OAuth client a grant is issued to (RFC 6749 §2): a profile's own or
 * a white-label one (profile_clients), with its secret opened. */
#ifndef LK_CLIENT_H
#define LK_CLIENT_H

#include "lk.h"

/* One client a grant can be issued to: the profile's own or white-label. */
typedef struct lk_client {
    char *client_id;
    char *secret; /* opened; NULL for a public client */
    char *callback_url;
    bool white_label;
} lk_client;

#endif
