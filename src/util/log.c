#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Process-wide, set by the front end (and raised by ca_open from log.level):
 * atomic, since server threads log while a handle opens. */
static _Atomic int level = LOG_LVL_WARN;
static const char *const lvlname[] = {"error", "warn", "info", "debug"};

void log_set_level(cm_log_level lvl)
{
    level = (int)lvl;
}

cm_log_level log_get_level(void)
{
    return (cm_log_level)level;
}

int log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, lvlname[i]) == 0)
            return i;
    return -1;
}

void log_msg(cm_log_level lvl, const char *fmt, ...)
{
    char ts[32];
    struct tm tm;
    time_t now;
    va_list ap;

    if ((int)lvl > level)
        return;
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "%s certmint[%s]: ", ts, lvlname[lvl]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}
