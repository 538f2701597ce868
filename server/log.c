/*
 * log.c — see log.h.  Each line is one fprintf, so lines from different
 * threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level l)
{
    atomic_store(&level, (int)l);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&level);
}

int log_level_from_name(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_now_iso(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void log_msg(log_level l, const char *fmt, ...)
{
    if ((int)l > atomic_load(&level))
        return;
    char msg[2048], now[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_now_iso(now);
    fprintf(stderr, "%s %-5s %s\n", now, names[l], msg);
}
