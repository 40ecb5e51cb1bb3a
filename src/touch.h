/* The last_used_at throttle: a use of a bot key or a connection is noted
 * in memory at most once a minute per process, and the notes are written
 * after the answer has gone, many in one statement, so that /token does
 * not write on its path (a round trip and a commit per call once users
 * outnumber what one minute sees: issue 15). last_used_at is what an
 * operator reads (connection list); no answer depends on it. */
#ifndef LK_TOUCH_H
#define LK_TOUCH_H

#include "arena.h"
#include "db.h"
#include "lk.h"

/* Remembered (kind, id) pairs; a collision only means one more note, and
 * with fewer slots than the users served each request would note one.
 * 24 bytes each, resident as used. */
#define LK_TOUCH_SLOTS 65536
/* Seconds between two notes of one use. */
#define LK_TOUCH_INTERVAL_S 60
/* Notes written in one statement at most; this many pending are written
 * whatever else waits. */
#define LK_TOUCH_BATCH 256
/* A note waits at most this long while requests keep coming. */
#define LK_TOUCH_DELAY_MS 1000

/* Notes a use of bot key ('k') or connection ('c') id, unless one was
 * noted in this process less than LK_TOUCH_INTERVAL_S ago. */
void lk_touch_note(char kind, long long id);

/* The notes pending now. */
size_t lk_touch_pending(void);

/* Writes the pending notes when idle (nothing else waits to be served),
 * LK_TOUCH_BATCH are pending, or the oldest is LK_TOUCH_DELAY_MS old:
 * one statement per kind: bot keys' rows skip those locked (no wait, no
 * deadlock between processes), connections' uses go to connection_uses
 * (sql/013), which no refresh locks. Best effort: notes that
 * cannot be written are dropped (the next minute notes them again). */
void lk_touch_flush(lk_db *db, lk_arena *a, bool idle);

#endif
