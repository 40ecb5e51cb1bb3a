/* One line per event on stderr (the web server's error log). Never pass a
 * secret: callers log codes, statuses and paths without query strings. */
#ifndef LK_LOG_H
#define LK_LOG_H

enum { LK_LOG_ERROR, LK_LOG_WARN, LK_LOG_INFO, LK_LOG_DEBUG };

void lk_log_setup(const char *prog, int level);
/* The level named "error", "warn", "info" or "debug"; -1 if unknown. */
int lk_log_level_parse(const char *s);
void lk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define lk_error(...) lk_log(LK_LOG_ERROR, __VA_ARGS__)
#define lk_warn(...) lk_log(LK_LOG_WARN, __VA_ARGS__)
#define lk_info(...) lk_log(LK_LOG_INFO, __VA_ARGS__)
#define lk_debug(...) lk_log(LK_LOG_DEBUG, __VA_ARGS__)

#endif
