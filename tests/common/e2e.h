/*
 * e2e.h — end-to-end test support: start the real traind on a free loopback
 * port with its own database, talk to it over HTTP with libcurl as a client
 * would, and stop it (politely, or with kill -9).
 *
 * With $TRAIND_E2E_STATUSES set to a file, e2e_stop and e2e_kill9 first read
 * the daemon's /metrics and append what it answered, one line per route and
 * status: "METHOD ROUTE STATUS COUNT" ("GET /v1/jobs/{id} 404 2").  The
 * Makefile's release run sets it, and tests/openapi_statuses.py checks that
 * schema/openapi.yaml documents every status the suites saw.
 */
#ifndef E2E_H
#define E2E_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct e2e_daemon {
    pid_t pid;
    int port;
    char base[64];                 /* "http://127.0.0.1:PORT" */
    char db[512];
    char log[512];                 /* the daemon's stderr */
    char token[128];               /* sent as a bearer token when set */
    char server_token[128];        /* the --token it was started with ("" none) */
} e2e_daemon;

/* Starts `traind serve --host 127.0.0.1 --port 0 --db DB EXTRA...` (the
 * binary is $TRAIND_BIN, else ./traind) and waits until it listens.  db NULL
 * makes a fresh database in the test's scratch directory.  Aborts the test
 * when the daemon does not come up within 15 s (the log is printed). */
void e2e_start(e2e_daemon *d, const char *db, const char *const *extra);

/* SIGTERM, then waits (at most 20 s); returns the exit status (-1 if it
 * had to be killed). */
int e2e_stop(e2e_daemon *d);

/* kill -9 and reap. */
void e2e_kill9(e2e_daemon *d);

typedef struct e2e_resp {
    long status;
    char *body;                    /* NUL-terminated */
    size_t len;
    char content_type[128];
    char location[256];
    char allow[128];
    json_t *json;                  /* parsed body when it is JSON, else NULL */
} e2e_resp;

/* One request.  body may be NULL; content_type NULL sends none; extra_header
 * (e.g. "Accept: text/csv") may be NULL.  The token is sent when set.
 * Returns the response; free with e2e_resp_free. */
e2e_resp e2e_req(const e2e_daemon *d, const char *method, const char *path,
                 const char *content_type, const void *body, size_t len,
                 const char *extra_header);

/* Shorthands: JSON body given as text; GET; DELETE. */
e2e_resp e2e_json(const e2e_daemon *d, const char *method, const char *path, const char *json);
e2e_resp e2e_get(const e2e_daemon *d, const char *path);

/* multipart/form-data upload of files x and y (paths). */
e2e_resp e2e_upload_xy(const e2e_daemon *d, const char *path, const char *x, const char *y);

/* multipart/form-data upload of n parts: part i is named names[i] and
 * sends the file at files[i] (files[i] NULL: a form field, no file, whose
 * value is "1"). */
e2e_resp e2e_upload_parts(const e2e_daemon *d, const char *path, int n, const char *const *names,
                          const char *const *files);

void e2e_resp_free(e2e_resp *r);

/* Waits until GET /v1/jobs/{id} reports one of the states (a space-separated
 * list) or timeout_s passes; returns the job JSON (caller decrefs) or NULL. */
json_t *e2e_wait_job(const e2e_daemon *d, long long id, const char *states, double timeout_s);

/* Integer / string member of a JSON object (0 / "" when absent). */
long long e2e_int(const json_t *o, const char *key);
const char *e2e_str(const json_t *o, const char *key);

/* The daemon's log, for failure messages (static buffer, last 4 KB). */
const char *e2e_log_tail(const e2e_daemon *d);

/* Runs `bash SCRIPT` (a path under $TRAIND_SRCDIR, else the current
 * directory) against the daemon: TRAIND_URL set to it, TRAIND_TOKEN to the
 * token it was started with (when any), and env (more NAME=value words, may
 * be NULL).  Returns its output, stderr included (caller frees), and sets
 * *exit_status (-1 when it did not exit). */
char *e2e_run_script(const e2e_daemon *d, const char *script, const char *env, int *exit_status);

/* Resident memory of the daemon in kB (from /proc). */
long e2e_rss_kb(const e2e_daemon *d);

/* The daemon's peak resident memory so far (VmHWM) in kB, -1 if unknown. */
long e2e_peak_rss_kb(const e2e_daemon *d);

#endif
