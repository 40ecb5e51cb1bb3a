#include "touch.h"

#include <time.h>

bool lk_touch_due(char kind, long long id)
{
    static struct {
        long long id;
        char kind;
        time_t at;
    } slots[LK_TOUCH_SLOTS];
    size_t i = ((unsigned long long)id * 31u + (unsigned char)kind) % LK_ARRAY_LEN(slots);
    time_t now = time(NULL);
    if (slots[i].id == id && slots[i].kind == kind && now - slots[i].at < LK_TOUCH_INTERVAL_S)
        return false;
    slots[i].id = id;
    slots[i].kind = kind;
    slots[i].at = now;
    return true;
}
