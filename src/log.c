#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lk.h"

static const char *log_prog = "latchkey";
static int log_level = LK_LOG_INFO;

void lk_log_setup(const char *prog, int level)
{
    log_prog = prog;
    log_level = level;
}

int lk_log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < (int)LK_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void lk_log(int level, const char *fmt, ...)
{
    static const char *tags[] = {"error", "warn", "info", "debug"};
    if (level > log_level)
        return;
    char line[LK_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line so lines from several processes do not interleave;
     * control characters are flattened so no input can forge a line. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    fprintf(stderr, "latchkey[%ld] %s %s: %s\n", (long)getpid(), tags[level], log_prog, line);
    fflush(stderr);
}
