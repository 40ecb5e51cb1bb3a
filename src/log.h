/* One line per event on stderr (the web server's error log). Never pass a
 * secret: callers log codes, statuses and paths without query strings. */
#ifndef LK_LOG_H
#define LK_LOG_H

/* Levels, most severe first: a line is written when its level is at most
 * the one set up. */
enum { LK_LOG_ERROR, LK_LOG_WARN, LK_LOG_INFO, LK_LOG_DEBUG };

/* Names the program in every line (borrowed: prog must outlive the
 * process's logging) and sets the level; before it: "latchkey", info. */
void lk_log_setup(const char *prog, int level);
/* The level named "error", "warn", "info" or "debug"; -1 if unknown. */
int lk_log_level_parse(const char *s);
/* Writes one line "latchkey[pid] <level> <prog>: <message>" to stderr with
 * a single write, control characters flattened to spaces, the message cut
 * at LK_LOG_LINE_MAX bytes; nothing when level is above the one set up. */
void lk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The longest message of a line, in bytes (with its NUL). */
#define LK_LOG_LINE_MAX 1024

/* lk_log at each level. */
#define lk_error(...) lk_log(LK_LOG_ERROR, __VA_ARGS__)
#define lk_warn(...) lk_log(LK_LOG_WARN, __VA_ARGS__)
#define lk_info(...) lk_log(LK_LOG_INFO, __VA_ARGS__)
#define lk_debug(...) lk_log(LK_LOG_DEBUG, __VA_ARGS__)

#endif
