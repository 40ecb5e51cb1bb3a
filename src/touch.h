/* The last_used_at throttle: a use of a bot key or a connection is written
 * to the database at most once a minute per process, so the hot path of
 * /token does not write on every call. */
#ifndef LK_TOUCH_H
#define LK_TOUCH_H

#include "lk.h"

/* Remembered (kind, id) pairs; a collision only means one more write. */
#define LK_TOUCH_SLOTS 512
/* Seconds between two notes of one use. */
#define LK_TOUCH_INTERVAL_S 60

/* True at most once every LK_TOUCH_INTERVAL_S per (kind, id) in this
 * process: whether to note a use (last_used_at) again. */
bool lk_touch_due(char kind, long long id);

#endif
