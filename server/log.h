/*
 * log.h — one line per event on stderr, in one of two formats:
 *
 *   text (the default)  2026-11-28T05:12:03.120Z info  GET /v1/jobs 200 0.4ms
 *   json                {"time":"2026-11-28T05:12:03.120Z","level":"info",
 *                        "msg":"GET /v1/jobs 200 0.4ms","req_id":"12",...}
 *
 * A JSON line is one object written by jansson (so every string is escaped
 * right) with the keys time (RFC 3339, UTC, milliseconds), level, msg, then
 * the event's fields: req_id, method, path, route, status, ms for requests,
 * job_id for a job's events.  The text format prints the message alone, as
 * it always has.
 */
#ifndef LOG_H
#define LOG_H

#include <jansson.h>
#include <stdint.h>

typedef enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;
typedef enum log_format { LOG_TEXT = 0, LOG_JSON } log_format;

void log_set_level(log_level l);
log_level log_get_level(void);

/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_from_name(const char *s);

void log_set_format(log_format f);
log_format log_get_format(void);

/* "text", "json" -> format; -1 when unknown. */
int log_format_from_name(const char *s);

/* Writes one line if l is at or above the configured level. */
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same with fields for the JSON format: fields is an object whose
 * members follow time, level and msg (the reference is stolen; NULL for
 * none).  The text format ignores them. */
void log_fields(log_level l, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An event of job id: the field job_id. */
void log_job(log_level l, int64_t job_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether a line of level l would be written (to skip building fields). */
int log_enabled(log_level l);

/* The current UTC time as "2026-11-28T05:12:03.120Z". */
void log_now_iso(char out[32]);

#endif
