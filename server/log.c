/*
 * log.c — see log.h.  Each line is one fprintf of a finished string, so
 * lines from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int level = LOG_INFO;
static atomic_int format = LOG_TEXT;
static const char *const names[] = {"error", "warn", "info", "debug"};
static const char *const formats[] = {"text", "json"};

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

void log_set_format(log_format f)
{
    atomic_store(&format, (int)f);
}

log_format log_get_format(void)
{
    return (log_format)atomic_load(&format);
}

int log_format_from_name(const char *s)
{
    for (int i = 0; s && i < 2; i++)
        if (strcmp(s, formats[i]) == 0)
            return i;
    return -1;
}

int log_enabled(log_level l)
{
    return (int)l <= atomic_load(&level);
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

/* A message that is not UTF-8 (a client's path, a file name) still makes a
 * JSON line: every byte outside ASCII becomes '?'. */
static json_t *string_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_string("");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void emit(log_level l, json_t *fields, const char *fmt, va_list ap)
{
    char msg[2048], now[32];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_now_iso(now);
    if (atomic_load(&format) != LOG_JSON) {
        fprintf(stderr, "%s %-5s %s\n", now, names[l], msg);
        json_decref(fields);
        return;
    }
    /* time, level and msg first: jansson keeps insertion order */
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(now));
    json_object_set_new(o, "level", json_string(names[l]));
    json_object_set_new(o, "msg", string_lossy(msg));
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v)
        if (strcmp(key, "time") && strcmp(key, "level") && strcmp(key, "msg"))
            json_object_set(o, key, v);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    } else {
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"(unprintable)\"}\n", now,
                names[l]);
    }
}

void log_msg(log_level l, const char *fmt, ...)
{
    if (!log_enabled(l))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(l, NULL, fmt, ap);
    va_end(ap);
}

void log_fields(log_level l, json_t *fields, const char *fmt, ...)
{
    if (!log_enabled(l)) {
        json_decref(fields);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    emit(l, fields, fmt, ap);
    va_end(ap);
}

void log_job(log_level l, int64_t job_id, const char *fmt, ...)
{
    if (!log_enabled(l))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(l, json_pack("{s:I}", "job_id", (json_int_t)job_id), fmt, ap);
    va_end(ap);
}
