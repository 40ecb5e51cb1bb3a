/* The last_used_at throttle: a use of a bot key or a connection is written
 * to the database at most once a minute per process, so the hot path of
 * /token does not write on every call. */
#ifndef LK_TOUCH_H
#define LK_TOUCH_H

#include "lk.h"

/* Remembered (kind, id) pairs; a collision only means one more write, and
 * with fewer slots than the users served each request would write (a
 * round trip per request: issue 15). 24 bytes each, resident as used. */
#define LK_TOUCH_SLOTS 65536
/* Seconds between two notes of one use. */
#define LK_TOUCH_INTERVAL_S 60

/* True at most once every LK_TOUCH_INTERVAL_S per (kind, id) in this
 * process: whether to note a use (last_used_at) again. */
bool lk_touch_due(char kind, long long id);

#endif
