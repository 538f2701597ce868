/*
 * log.h — one line per event on stderr: time, level, message.
 */
#ifndef LOG_H
#define LOG_H

typedef enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level l);
log_level log_get_level(void);

/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_from_name(const char *s);

/* Writes one line if l is at or above the configured level. */
void log_msg(log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current UTC time as "2026-11-28T05:12:03.120Z". */
void log_now_iso(char out[32]);

#endif
