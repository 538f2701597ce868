/*
 * http.h — the HTTP side of the daemon on libmicrohttpd: one request object
 * per request, bodies read under limits (small ones into memory, uploads
 * streamed to temporary files), routing, authentication, the JSON error
 * format, one log line per request (with its request id, also sent back as
 * X-Request-Id), the request counters of /metrics, and server-sent event
 * streams.
 *
 * A handler runs once the whole body is in (or on disk), queues exactly
 * one response through an http_reply_* function and returns its result.
 * Before it runs, http.c has answered what no handler needs to see: an
 * unknown route or method, a missing token, a query parameter the route
 * does not take (or one given twice), a body over the limit, a content type
 * the route does not read, and an upload that cannot be taken apart.
 * Handlers stay linear with the _or_reply helpers: on failure they have
 * already queued the error response, and the handler returns what they
 * returned:
 *
 *     json_t *body;
 *     if (!(body = http_json_body_or_reply(r)))
 *         return r->result;
 */
#ifndef HTTP_H
#define HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "config.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

typedef struct app app;            /* the daemon's state (app.h) */
typedef struct http_req http_req;
typedef MHD_RESULT (*http_handler)(http_req *r);

/* What a route does with a request body. */
enum { BODY_NONE = 0, BODY_JSON, BODY_UPLOAD };

typedef struct route {
    const char *method;
    const char *pattern;           /* "/v1/jobs/{id}/cancel": {id} is a positive integer */
    http_handler handler;
    int body;                      /* BODY_* */
    int open;                      /* served without a token (health checks) */
    int asset;                     /* a dashboard file: holds no data, served without a token */
    const char *const *query;      /* the query parameters it takes, NULL-ended; NULL: none */
} route;

/* A route's query list in routes.c: HTTP_QUERY("name", "dry_run"). */
#define HTTP_QUERY(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The routing table (routes.c), ended by a zeroed entry. */
extern const route http_routes[];

/* A bound on a route's body tighter than the configured one, known from
 * the request line (predict: --max-predict instances of the job's input).
 * Returns the bound in bytes, with why naming it ("8000 instances x 2
 * values (--max-predict)"), or -1 for none.  It may read the store; it
 * replies nothing. */
typedef int64_t (*http_body_bound)(http_req *r, char *why, size_t len);

/* The routes that have one, by handler (routes.c), ended by a zeroed entry. */
typedef struct route_bound {
    http_handler handler;
    http_body_bound bound;
} route_bound;
extern const route_bound http_route_bounds[];

/* The handlers answered on the event loop (routes.c), NULL-ended: each
 * touches neither the store nor the disk.  The dashboard's files are too;
 * every other handler runs on a handler thread (http.c says why). */
extern const http_handler http_quick_handlers[];

/* Finds the route of method + path.  Returns it and sets *id to the {id}
 * (0 when none); NULL when nothing matches, with *path_known set when the
 * path exists under other methods and allow filled with them ("GET, DELETE"). */
const route *http_route_find(const char *method, const char *path, int64_t *id,
                             int *path_known, char *allow, size_t allow_len);

/* An uploaded file on disk (a streamed body, or one part of a multipart body). */
typedef struct http_file {
    char path[1100];               /* "" when absent */
    int fd;
    int64_t size;
    char name[64];                 /* the multipart part's name (any, unique in the body) */
    char filename[128];            /* the client's file name, or "the upload" */
} http_file;

/* A multipart upload reaches its handler with 1 or 2 file parts (a form
 * field without a file is refused), each in a file of its own, in the order
 * sent, under names of 1 to 63 bytes that differ; any name is taken here,
 * and a handler that takes two parts checks which. */
#define HTTP_MAX_FILES 2

typedef struct http_conn http_conn;

struct http_req {
    app *app;
    struct MHD_Connection *conn;
    http_conn *watch;              /* the connection's record in http_conns.h's watch */
    const char *method, *path;
    const route *route;
    int64_t id;                    /* the route's {id} */
    char content_type[128];        /* without parameters, lower case */
    /* BODY_JSON: the body in memory */
    char *body;
    size_t body_len, body_cap;
    /* BODY_UPLOAD: the body (or its parts) on disk */
    http_file files[HTTP_MAX_FILES];
    int n_files;
    struct MHD_PostProcessor *pp;
    int64_t received, limit;
    int64_t discard;               /* a body past this many bytes is not read: the connection closes */
    char limit_why[160];           /* what sets limit when a route bound it; "" otherwise */
    int multipart;
    int part;                      /* files[] index of the part being received; -1 before */
    /* An error found while the body arrives: the rest of the body is read
     * and dropped, and the error answered once it is all in, before any
     * handler runs (libmicrohttpd 0.9.75 never sends a response queued in
     * the middle of a body: the client waited for the connection's 120 s
     * timeout and got an empty reply).  status 0: none. */
    struct {
        int status;
        char code[32], path[72], message[512];
    } late;
    /* state */
    int deferred;                  /* the handler runs on a handler thread: its response
                                    * waits in resp until the event loop queues it */
    struct MHD_Response *resp;
    int replied;                   /* a response is queued */
    int status;
    MHD_RESULT result;             /* what the queued response returned */
    double t0;
    uint64_t serial;               /* request number */
    char req_id[72];               /* the client's X-Request-Id if usable, else the serial */
    int counted;                   /* the answer is in the /metrics counters */
};

/* Query parameter, or NULL. */
const char *http_query(http_req *r, const char *key);

/* Request header, or NULL. */
const char *http_header(http_req *r, const char *key);

/* Responses.  Each queues the response and returns MHD's result (also kept
 * in r->result).  http_reply_json steals the reference to body. */
MHD_RESULT http_reply_json(http_req *r, unsigned status, json_t *body);
MHD_RESULT http_reply_error(http_req *r, unsigned status, const char *code, const char *path,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
MHD_RESULT http_reply_bytes(http_req *r, unsigned status, const char *content_type,
                            void *buf, size_t len, const char *disposition);   /* takes buf */
MHD_RESULT http_reply_empty(http_req *r, unsigned status);
/* A reply from memory that outlives the daemon (embedded files). */
MHD_RESULT http_reply_static(http_req *r, unsigned status, const char *content_type,
                             const void *buf, size_t len);
/* Adds a header to the next reply (Location, Allow, ...); at most 8. */
void http_add_header(http_req *r, const char *name, const char *value);

/* The body as JSON: NULL after replying 400 (malformed_json), 415 (not
 * application/json). Caller decrefs. */
json_t *http_json_body_or_reply(http_req *r);

/* A streamed response: fill() is called on an event-loop thread and must
 * not block; it returns bytes written to buf, -1 to end the stream, or 0
 * when it has nothing now: it then sets *wake, and is called again when a
 * job changed after the jobs' change counter wake->seen, or after
 * wake->wait_ms (the connection waits suspended meanwhile; a client that
 * left is noticed at the next bytes sent).  done() frees ctx.  A client
 * address with --max-streams-per-ip streams open is answered 429
 * too_many_streams instead (done() is called). */
typedef struct http_stream_wake {
    long wait_ms;
    uint64_t seen;
} http_stream_wake;
typedef long (*http_stream_fill)(void *ctx, char *buf, size_t max, http_stream_wake *wake);
MHD_RESULT http_reply_stream(http_req *r, const char *content_type, http_stream_fill fill,
                             void (*done)(void *ctx), void *ctx);

/* The daemon. */
int http_start(app *a, const config *c, int *port_out, char *err, size_t errlen);
/* Stops accepting connections (the listening socket closes), waits for the
 * handlers running, ends the event streams. */
void http_quiesce(app *a);
/* Closes everything; waits for the event-loop threads. */
void http_stop(app *a);

#endif
