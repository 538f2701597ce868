/*
 * http.c — libmicrohttpd glue (see http.h).
 *
 * Threads.  libmicrohttpd serves every connection from --http-threads
 * event-loop threads (MHD_USE_POLL with a thread pool), so an idle or
 * slow connection costs a socket and its buffer, not a thread: thousands
 * of them hold no one out.  Not MHD_USE_EPOLL: libmicrohttpd 0.9.75's epoll
 * loop does not notice a client that half-closes before its request line
 * is complete, and held such a connection until the header deadline (10 s)
 * where poll closes it at once (tests/fuzz/regressions/http/
 * half-closed-request-line-held); poll over each thread's share of
 * --max-connections measured as well (1,000 slow connections: /healthz
 * max 9 ms).  An event-loop thread must never wait, so only
 * what answers from memory runs there: /healthz (http_quick_handlers), the
 * dashboard's files, and every answer decided before a handler runs (404,
 * 401, 413, 400 on the query, a late error).  Every other handler runs on
 * one of --handler-threads threads (http_conns.h): the connection is
 * suspended (MHD_suspend_connection), the handler runs and leaves its
 * response in r->resp, the connection is resumed, and the access handler,
 * called again, queues it.  The rule is by what a handler touches, not by
 * how long it usually takes.  Measured on the release build (2 cores): a
 * job's GET answers in 0.6 ms and /healthz in 0.1 ms, but a 22 MB CSV
 * upload (200,000 rows) takes 0.66 s to parse and commit, a 10,000-
 * instance predict 90-150 ms, and any store call may wait up to the
 * store's busy timeout behind a writer; a slow handler on an event loop
 * would stall every connection of that thread, /healthz included.  An upload's body is
 * written to its temporary file on the event loop as it arrives (a
 * page-cache write).  Event streams (http_reply_stream) are read on the
 * event loop and never block: with nothing to send the connection waits
 * suspended, resumed by the watch at a job's change or when its keep-alive
 * is due (the events' read is one short indexed query).
 *
 * Deadlines.  libmicrohttpd's own timeout (--idle-timeout) restarts with
 * every byte, so a client that trickles headers would keep its connection
 * for ever; http_conns.h's watch cuts a connection whose request headers
 * are not all in within --header-timeout, or whose body comes slower than
 * --min-body-rate, whatever bytes trickle in.  Connections per client
 * address are capped by libmicrohttpd (--max-connections-per-ip), event
 * streams per address by the watch (--max-streams-per-ip, 429).
 *
 * Requests.  The access handler is called first with the headers, then
 * with each piece of the body, then once more with none: the first call
 * routes, authenticates and picks where the body goes; the pieces go to
 * memory or to disk under the route's limit; the last call runs the
 * handler.  A request rejected at the first call, before any body byte is
 * read (404, 401, an unknown query parameter, ...), gets its response
 * queued at once: libmicrohttpd then stops reading its body and closes the
 * connection after answering.  A Content-Length over the limit is answered
 * so only when the client waits for 100 Continue (or the body is over
 * twice the limit); otherwise, like an error found later, while the body
 * arrives (over the limit after all, a multipart body with parts it cannot
 * take, a full disk), it is only recorded (r->late): the rest of the body
 * is read and dropped (up to twice the limit, past which the connection
 * closes), and the last call answers it instead of running the handler.
 * Nothing is ever queued in the middle of a body: libmicrohttpd 0.9.75
 * would not send it, and a client that sends its whole body before
 * reading would see the connection reset instead of its answer.
 *
 * Every request gets an id: the client's X-Request-Id when it sent a short
 * one of safe characters (a proxy's), else the request's serial number.  It
 * goes back in the X-Request-Id header and into each log line about the
 * request.  The answer is counted for /metrics when it is queued (so that a
 * client that has its answer sees it counted), with the time it took.
 */
#include "http.h"

#include "http_guard.h"
#include "log.h"
#include "jsonlite.h"
#include "nn.h"
#include "http_conns.h"
#include "http_stats.h"
#include "app.h"
#include "uploads.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXTRA_HEADERS 8
#define POST_BUFFER 65536
/* A body over its limit is still read (and dropped) up to this many times
 * the configured limit (--max-upload-mb or --max-body-mb, not a route's
 * tighter bound, so that a predict body over its bound is still answered),
 * so that a client that sends it whole before reading (no Expect:
 * 100-continue) gets the 413; past it, the connection closes. */
#define DISCARD_FACTOR 2

/* Headers queued by http_add_header for the next reply of this thread's
 * request: a handler runs on one thread from start to end (an event-loop
 * thread, or a handler thread), and the reply's headers are added there. */
static _Thread_local struct {
    char name[32], value[256];
} extra[MAX_EXTRA_HEADERS];
static _Thread_local int n_extra;

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * Routing */

/* Matches one pattern against a path; {id} takes a positive integer. */
static int match(const char *pat, const char *path, int64_t *id)
{
    *id = 0;
    while (*pat && *path) {
        if (!strncmp(pat, "{id}", 4)) {
            int64_t v = 0;
            int digits = 0;
            while (*path >= '0' && *path <= '9') {
                if (v > (INT64_MAX - 9) / 10)
                    return 0;
                v = v * 10 + (*path++ - '0');
                digits++;
            }
            if (!digits || v < 1)
                return 0;
            *id = v;
            pat += 4;
            continue;
        }
        if (*pat++ != *path++)
            return 0;
    }
    return *pat == 0 && *path == 0;
}

const route *http_route_find(const char *method, const char *path, int64_t *id,
                             int *path_known, char *allow, size_t allow_len)
{
    *path_known = 0;
    if (allow_len)
        allow[0] = 0;
    const route *found = NULL;
    for (const route *rt = http_routes; rt->method; rt++) {
        int64_t v;
        if (!match(rt->pattern, path, &v))
            continue;
        *path_known = 1;
        if (allow_len) {
            size_t n = strlen(allow);
            snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "", rt->method);
        }
        if (!found && !strcmp(rt->method, method)) {
            found = rt;
            *id = v;
        }
    }
    return found;
}

/* ---------------------------------------------------------------------------
 * Replies */

const char *http_query(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void http_add_header(http_req *r, const char *name, const char *value)
{
    (void)r;
    if (n_extra < MAX_EXTRA_HEADERS) {
        snprintf(extra[n_extra].name, sizeof extra[n_extra].name, "%s", name);
        snprintf(extra[n_extra].value, sizeof extra[n_extra].value, "%s", value);
        n_extra++;
    }
}

static void count(http_req *r)
{
    if (r->counted)
        return;
    r->counted = 1;
    http_stats_observe(r->route ? (int)(r->route - http_routes) : -1, r->status, mono() - r->t0);
}

static MHD_RESULT queue(http_req *r, unsigned status, struct MHD_Response *resp,
                        const char *content_type)
{
    if (!resp) {
        n_extra = 0;
        r->replied = 1;
        r->status = 500;
        r->result = MHD_NO;   /* libmicrohttpd closes the connection */
        count(r);
        return r->result;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (int i = 0; i < n_extra; i++)
        MHD_add_response_header(resp, extra[i].name, extra[i].value);
    n_extra = 0;
    MHD_add_response_header(resp, "X-Request-Id", r->req_id);
    r->replied = 1;
    r->status = (int)status;
    count(r);
    if (r->deferred) {
        /* a handler thread: the event loop queues it once resumed */
        r->resp = resp;
        r->result = MHD_YES;
        return r->result;
    }
    r->result = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return r->result;
}

MHD_RESULT http_reply_bytes(http_req *r, unsigned status, const char *content_type, void *buf,
                            size_t len, const char *disposition)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, buf ? buf : (void *)"", buf ? MHD_RESPMEM_MUST_FREE
                                                                         : MHD_RESPMEM_PERSISTENT);
    if (resp && disposition)
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    return queue(r, status, resp, content_type);
}

MHD_RESULT http_reply_static(http_req *r, unsigned status, const char *content_type,
                             const void *buf, size_t len)
{
    return queue(r, status,
                 MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_PERSISTENT),
                 content_type);
}

MHD_RESULT http_reply_json(http_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                  "\"out of memory\"}}\n";
        return http_reply_static(r, 500, "application/json", oom, sizeof oom - 1);
    }
    size_t n = strlen(text);
    char *t = realloc(text, n + 2);   /* a newline, for curl users */
    if (t) {
        text = t;
        text[n++] = '\n';
        text[n] = 0;
    }
    return http_reply_bytes(r, status, "application/json", text, n, NULL);
}

MHD_RESULT http_reply_error(http_req *r, unsigned status, const char *code, const char *path,
                            const char *fmt, ...)
{
    char msg[1024], where[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a message or path may quote the client's bytes (a path, a query value,
     * a part's name): JSON needs UTF-8, so anything else becomes '?' */
    nn_utf8_clean(msg, 0);
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (e && path) {
        snprintf(where, sizeof where, "%s", path);
        nn_utf8_clean(where, 0);
        json_object_set_new(e, "path", json_string(where));
    }
    if (status >= 500)
        log_fields(LOG_ERROR, json_pack("{s:s}", "req_id", r->req_id), "%s %s: %s", r->method,
                   r->path, msg);
    return http_reply_json(r, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

/* Records an error found while the body arrives (the first one only); the
 * last call of the access handler answers it. */
static void late_error(http_req *r, int status, const char *code, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void late_error(http_req *r, int status, const char *code, const char *path,
                       const char *fmt, ...)
{
    if (r->late.status)
        return;
    r->late.status = status;
    snprintf(r->late.code, sizeof r->late.code, "%s", code);
    snprintf(r->late.path, sizeof r->late.path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->late.message, sizeof r->late.message, fmt, ap);
    va_end(ap);
}

static MHD_RESULT reply_late(http_req *r)
{
    return http_reply_error(r, (unsigned)r->late.status, r->late.code,
                            r->late.path[0] ? r->late.path : NULL, "%s", r->late.message);
}

MHD_RESULT http_reply_empty(http_req *r, unsigned status)
{
    return queue(r, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT),
                 NULL);
}

json_t *http_json_body_or_reply(http_req *r)
{
    if (strcmp(r->content_type, "application/json") != 0) {
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "expected Content-Type: application/json, got '%s'",
                         r->content_type[0] ? r->content_type : "none");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len,
                           JSON_REJECT_DUPLICATES, &je);
    if (!j)
        http_reply_error(r, 400, "malformed_json", NULL, "invalid JSON at line %d, column %d: %s",
                         je.line, je.column, je.text);
    return j;
}

/* ---------------------------------------------------------------------------
 * Streams */

typedef struct stream {
    http_stream_fill fill;
    void (*done)(void *);
    void *ctx;
    http_conns *conns;
    http_stream_slot *slot;
    struct MHD_Connection *conn;
} stream;

/* On an event-loop thread: never blocks.  With nothing to send, the
 * connection waits suspended until the stream is due again. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    for (;;) {
        http_stream_wake wake = {0, 0};
        long n = s->fill(s->ctx, buf, max, &wake);
        if (n != 0)
            return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
        int rc = s->conns ? http_conns_stream_wait(s->conns, s->slot, s->conn, wake.wait_ms,
                                                   wake.seen)
                          : -1;
        if (rc == 0)
            return 0;
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
}

static void stream_free(void *cls)
{
    stream *s = cls;
    if (s->done)
        s->done(s->ctx);
    http_conns_stream_close(s->conns, s->slot);
    free(s);
}

MHD_RESULT http_reply_stream(http_req *r, const char *content_type, http_stream_fill fill,
                             void (*done)(void *ctx), void *ctx)
{
    stream *s = calloc(1, sizeof *s);
    if (!s) {
        if (done)
            done(ctx);
        return http_reply_error(r, 500, "internal", NULL, "out of memory");
    }
    *s = (stream){fill, done, ctx, r->app->conns, NULL, r->conn};
    if (s->conns) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        int over = 0;
        s->slot = http_conns_stream_open(s->conns, ci ? ci->client_addr : NULL, &over);
        if (!s->slot) {
            s->conns = NULL;
            stream_free(s);
            if (!over)
                return http_reply_error(r, 500, "internal", NULL, "out of memory");
            http_add_header(r, "Retry-After", "5");
            return http_reply_error(r, 429, "too_many_streams", NULL,
                                    "this address has %d event streams open, the most it may "
                                    "(--max-streams-per-ip); close one first",
                                    r->app->cfg.max_streams_per_ip);
        }
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return http_reply_error(r, 500, "internal", NULL, "cannot create a stream");
    }
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return queue(r, 200, resp, content_type);
}

/* ---------------------------------------------------------------------------
 * Bodies */

static int temp_file(http_req *r, http_file *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/" UPLOADS_PREFIX "XXXXXX", r->app->cfg.upload_dir);
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        f->path[0] = 0;
        return -1;
    }
    snprintf(f->name, sizeof f->name, "%s", name ? name : "");
    f->size = 0;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Records the failure of an upload's file (errno tells): 507 when the
 * upload directory's disk is full, else 500. */
static void write_failed(http_req *r, const char *what)
{
    if (errno == ENOSPC || errno == EDQUOT)
        late_error(r, 507, "insufficient_storage", NULL,
                   "%s: the upload directory's disk is full (%s)", what, strerror(errno));
    else
        late_error(r, 500, "internal", NULL, "%s: %s", what, strerror(errno));
}

#define PARTS_TAKEN "a dataset upload takes one file part (of any name) or two named x and y"

/* A part name as a message may quote it: at most 60 bytes, printable ASCII
 * ('?' for anything else), "..." when cut. */
static void quotable(char *out, size_t cap, const char *s)
{
    size_t n = 0, max = cap > 64 ? 60 : cap - 4;
    for (; s && *s && n < max; s++)
        out[n++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
    if (s && *s)
        out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = 0;
}

/* Opens the file of a new part named key; records the error when the part
 * cannot be taken.  Returns the file, or NULL. */
static http_file *new_part(http_req *r, const char *key, const char *filename)
{
    char q[64];
    quotable(q, sizeof q, key);
    if (!key || !*key) {
        late_error(r, 400, "malformed_request", NULL, "a part has no name: " PARTS_TAKEN);
        return NULL;
    }
    if (strlen(key) >= sizeof r->files[0].name) {
        late_error(r, 400, "malformed_request", NULL,
                   "a part's name is %zu bytes long (at most %zu): " PARTS_TAKEN, strlen(key),
                   sizeof r->files[0].name - 1);
        return NULL;
    }
    if (!filename) {
        late_error(r, 400, "malformed_request", key,
                   "part '%s' is a form field, not a file (curl -F '%s=@FILE'): " PARTS_TAKEN, q,
                   q);
        return NULL;
    }
    for (int i = 0; i < r->n_files; i++)
        if (!strcmp(r->files[i].name, key)) {
            late_error(r, 400, "malformed_request", key, "part '%s' is sent twice: " PARTS_TAKEN,
                       q);
            return NULL;
        }
    if (r->n_files == HTTP_MAX_FILES) {
        char q0[64], q1[64];
        quotable(q0, sizeof q0, r->files[0].name);
        quotable(q1, sizeof q1, r->files[1].name);
        late_error(r, 400, "malformed_request", key,
                   "a third part ('%s') after '%s' and '%s': " PARTS_TAKEN, q, q0, q1);
        return NULL;
    }
    http_file *f = &r->files[r->n_files];
    if (temp_file(r, f, key)) {
        write_failed(r, "cannot create a temporary file");
        return NULL;
    }
    snprintf(f->filename, sizeof f->filename, "%s", *filename ? filename : key);
    r->part = r->n_files++;
    return f;
}

/* multipart: each file part goes to a file of its own.  libmicrohttpd calls
 * this once or more per part, at offsets from 0 up; a part's first call may
 * carry no bytes, and the next one is then at offset 0 too.  So a call at
 * offset 0 starts a new part unless the current one has the same name, no
 * bytes yet, and this call brings some (an empty part followed by one of
 * the same name reads as that one part: the calls are the same).  Returns
 * MHD_NO after recording an error, which ends the parsing. */
static MHD_RESULT on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                          const char *content_type, const char *transfer_encoding,
                          const char *data, uint64_t off, size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    http_req *r = cls;
    if (r->late.status)
        return MHD_NO;
    http_file *f = r->part >= 0 ? &r->files[r->part] : NULL;
    int goes_on = f && (off > 0 || (size > 0 && f->size == 0 && key && !strcmp(f->name, key)));
    if (!goes_on && !(f = new_part(r, key, filename)))
        return MHD_NO;
    if (size && write_all(f->fd, data, size)) {
        write_failed(r, "cannot write the upload");
        return MHD_NO;
    }
    f->size += (int64_t)size;
    return MHD_YES;
}

static void content_type_of(http_req *r)
{
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = 0;
    for (; ct && ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < sizeof r->content_type; n++)
        r->content_type[n] = (char)(ct[n] >= 'A' && ct[n] <= 'Z' ? ct[n] + 32 : ct[n]);
    r->content_type[n] = 0;
}

/* Sets up where the body goes; replies (415, 413, 500) when it cannot go anywhere. */
static void prepare_body(http_req *r)
{
    const config *c = &r->app->cfg;
    content_type_of(r);
    r->limit = (r->route->body == BODY_UPLOAD ? c->max_upload_mb : c->max_body_mb) << 20;
    r->discard = r->limit * DISCARD_FACTOR;
    snprintf(r->limit_why, sizeof r->limit_why, "the limit of %lld MB", (long long)(r->limit >> 20));
    for (const route_bound *b = http_route_bounds; b->handler; b++) {
        char why[sizeof r->limit_why];
        int64_t n = b->handler == r->route->handler ? b->bound(r, why, sizeof why) : -1;
        if (n >= 0 && n < r->limit) {
            r->limit = n;
            snprintf(r->limit_why, sizeof r->limit_why, "%s", why);
        }
    }
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long declared = cl ? strtoll(cl, NULL, 10) : -1;
    if (declared > r->limit) {
        /* a client waiting for 100 Continue sends nothing more: answer now;
         * one already sending reads no answer until its body is in, so the
         * body is read and dropped (up to the bound) and then answered */
        const char *expect = http_header(r, MHD_HTTP_HEADER_EXPECT);
        int waits = expect && !strcasecmp(expect, "100-continue");
        if (waits || declared > r->discard)
            http_reply_error(r, 413, "too_large", NULL,
                             "the body has %s bytes, more than %s", cl,
                             r->limit_why);
        else
            late_error(r, 413, "too_large", NULL, "the body has %s bytes, more than %s", cl,
                       r->limit_why);
        return;
    }
    if (r->route->body != BODY_UPLOAD)
        return;
    if (!strcmp(r->content_type, "multipart/form-data")) {
        r->multipart = 1;
        r->pp = MHD_create_post_processor(r->conn, POST_BUFFER, on_part, r);
        if (!r->pp)
            http_reply_error(r, 400, "malformed_request", NULL,
                             "cannot read the multipart body (is the boundary missing?)");
    } else if (!strcmp(r->content_type, "text/csv") || !strcmp(r->content_type, "application/csv") ||
               !strcmp(r->content_type, "application/json")) {
        if (temp_file(r, &r->files[0], "body") == 0) {
            r->n_files = 1;
            snprintf(r->files[0].filename, sizeof r->files[0].filename, "the upload");
        }
        else if (errno == ENOSPC || errno == EDQUOT)
            http_reply_error(r, 507, "insufficient_storage", NULL,
                             "cannot create a temporary file: the upload directory's disk is "
                             "full (%s)", strerror(errno));
        else
            http_reply_error(r, 500, "internal", NULL, "cannot create a temporary file: %s",
                             strerror(errno));
    } else {
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "a dataset is uploaded as text/csv, application/json or "
                         "multipart/form-data (one file part, or two named x and y), not '%s'",
                         r->content_type[0] ? r->content_type : "no Content-Type");
    }
}

/* One piece of the body: to memory or disk, or dropped after an error
 * (recorded, never answered here: the client is still sending).  Returns
 * -1 when the connection is to close: a body past r->discard (DISCARD_FACTOR
 * times the configured limit) is not read to its end. */
static int take_body(http_req *r, const char *data, size_t size)
{
    r->received += (int64_t)size;
    if (r->late.status)
        return r->received > r->discard ? -1 : 0;
    if (r->received > r->limit) {
        late_error(r, 413, "too_large", NULL, "the body is larger than %s", r->limit_why);
        return 0;
    }
    if (r->route->body == BODY_NONE)
        return 0;
    if (r->route->body == BODY_JSON) {
        if (r->body_len + size + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + size + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b) {
                late_error(r, 500, "internal", NULL, "out of memory");
                return 0;
            }
            r->body = b;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, data, size);
        r->body_len += size;
        r->body[r->body_len] = 0;
        return 0;
    }
    if (r->multipart) {
        if (MHD_post_process(r->pp, data, size) != MHD_YES)
            late_error(r, 400, "malformed_request", NULL, "malformed multipart body");
        return 0;
    }
    if (write_all(r->files[0].fd, data, size))
        write_failed(r, "cannot write the upload");
    r->files[0].size += (int64_t)size;
    return 0;
}

/* ---------------------------------------------------------------------------
 * The access handler */

static int authorized(http_req *r)
{
    const char *tok = r->app->cfg.token;
    if (!tok[0] || r->route->open || r->route->asset)
        return 1;
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    /* constant time in the token's length: every byte is compared */
    size_t a = strlen(h), b = strlen(tok);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)tok[i] ^ (unsigned char)(i < a ? h[i] : 0);
    return diff == 0;
}

/* The check of the query against the route's list: each parameter known,
 * none twice (seen: a bit per entry of the list). */
typedef struct query_check {
    http_req *r;
    unsigned seen;
} query_check;

/* The route's parameters as "a, b, c" ("none"). */
static void query_list(const route *rt, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; rt->query && rt->query[i]; i++)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", i ? ", " : "", rt->query[i]);
    if (!out[0])
        snprintf(out, cap, "none");
}

static MHD_RESULT check_param(void *cls, enum MHD_ValueKind kind, const char *key,
                              size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    query_check *c = cls;
    if (!key)
        key = "";
    const route *rt = c->r->route;
    char q[64], list[256];
    quotable(q, sizeof q, key);
    int i = 0;
    while (rt->query && rt->query[i] && strcmp(rt->query[i], key))
        i++;
    if (!rt->query || !rt->query[i]) {
        query_list(rt, list, sizeof list);
        http_reply_error(c->r, 400, "invalid_parameter", q,
                         "unknown query parameter '%s'; this route takes %s", q, list);
        return MHD_NO;
    }
    if (c->seen & (1u << i)) {
        http_reply_error(c->r, 400, "invalid_parameter", q,
                         "query parameter '%s' is given twice; give it once", q);
        return MHD_NO;
    }
    c->seen |= 1u << i;
    /* a value is text: UTF-8 without NUL (a %00 would cut it short
     * unseen), checked before anything reads or stores it */
    if (value && (strlen(value) != value_size ||
                  jl_utf8_valid(value, value_size) != value_size)) {
        http_reply_error(c->r, 400, "invalid_parameter", q,
                         "query parameter '%s' is not UTF-8 text without NUL bytes", q);
        return MHD_NO;
    }
    (void)key_size;
    return MHD_YES;
}

/* Replies 400 invalid_parameter unless every query parameter is one the
 * route takes, given once.  Returns 0 when they are. */
static int query_ok(http_req *r)
{
    query_check c = {r, 0};
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, check_param, &c);
    return r->replied ? -1 : 0;
}

static void begin(http_req *r)
{
    int known;
    char allow[128];
    if (http_guard_check(r))   /* path, query size, Host, Origin, content type */
        return;
    r->route = http_route_find(r->method, r->path, &r->id, &known, allow, sizeof allow);
    if (!r->route) {
        if (known) {
            http_add_header(r, "Allow", allow);
            http_reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s (allowed: %s)",
                             r->method, r->path, allow);
        } else {
            http_reply_error(r, 404, "not_found", NULL, "no route %s %s", r->method, r->path);
        }
        return;
    }
    if (!authorized(r)) {
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthorized", NULL,
                         "this server needs 'Authorization: Bearer <token>'");
        return;
    }
    if (atomic_load(&r->app->stopping) && !r->route->open) {
        http_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
        return;
    }
    if (query_ok(r))
        return;
    prepare_body(r);
}

/* The client's X-Request-Id when it is 1..64 characters of [A-Za-z0-9._:-]
 * (safe in a header and a log line), else the serial number. */
static void request_id(http_req *r)
{
    const char *h = http_header(r, "X-Request-Id");
    size_t n = h ? strlen(h) : 0;
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = h[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == ':' || c == '-';
    }
    if (ok)
        snprintf(r->req_id, sizeof r->req_id, "%s", h);
    else
        snprintf(r->req_id, sizeof r->req_id, "%llu", (unsigned long long)r->serial);
}

/* The handler, on whichever thread runs it; always leaves an answer. */
static void run_handler(http_req *r)
{
    n_extra = 0;
    r->route->handler(r);
    if (!r->replied)
        http_reply_error(r, 500, "internal", NULL, "the handler gave no answer");
}

/* On a handler thread: the connection is suspended until this resumes it. */
static void run_handed_off(void *arg)
{
    http_req *r = arg;
    run_handler(r);
    MHD_resume_connection(r->conn);
}

/* Back on the event loop after a handler thread: queues its answer. */
static MHD_RESULT answer_deferred(http_req *r)
{
    struct MHD_Response *resp = r->resp;
    r->deferred = 0;
    r->resp = NULL;
    if (!resp)
        return r->result;   /* MHD_NO: no response could be made; the connection closes */
    r->result = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return r->result;
}

static int quick(const route *rt)
{
    for (int i = 0; http_quick_handlers[i]; i++)
        if (rt->handler == http_quick_handlers[i])
            return 1;
    return rt->asset;
}

/* The body is in: the late error, or the handler, here when it is quick,
 * else on a handler thread. */
static MHD_RESULT finish(http_req *r)
{
    if (r->pp) {
        MHD_destroy_post_processor(r->pp);
        r->pp = NULL;
    }
    http_conn_busy(r->watch);
    if (r->late.status)
        return reply_late(r);
    if (!quick(r->route)) {
        r->deferred = 1;
        if (http_conns_hand_off(r->app->conns, r->conn, run_handed_off, r) == 0)
            return MHD_YES;
        r->deferred = 0;   /* stopping: no handler thread takes it */
    }
    run_handler(r);
    return r->result;
}

static http_req *request_new(app *a, struct MHD_Connection *conn, const char *url,
                             const char *method)
{
    http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->app = a;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->t0 = mono();
    r->serial = atomic_fetch_add(&a->serial, 1) + 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->watch = ci ? ci->socket_context : NULL;
    request_id(r);
    for (int i = 0; i < HTTP_MAX_FILES; i++)
        r->files[i].fd = -1;
    r->part = -1;
    return r;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_req *r = *con_cls;
    if (!r) {
        if (!(r = request_new(cls, conn, url, method)))
            return MHD_NO;
        *con_cls = r;
        http_conn_headers_in(r->watch);
        n_extra = 0;
        begin(r);
        if (!r->replied)
            return MHD_YES;
        http_conn_busy(r->watch);   /* answered: the body is not read */
        return r->result;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        http_conn_body(r->watch, n);
        if (r->replied)
            return MHD_YES;
        return take_body(r, upload_data, n) ? MHD_NO : MHD_YES;
    }
    if (r->deferred)
        return answer_deferred(r);
    if (r->replied)
        return MHD_YES;
    return finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    http_req *r = *con_cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    http_conn_idle(ci ? ci->socket_context : NULL);   /* the next request's headers are due */
    if (!r)
        return;
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (log_enabled(LOG_INFO)) {
        double ms = (mono() - r->t0) * 1000;
        int aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
        json_t *f = NULL;
        if (log_get_format() == LOG_JSON) {
            /* the method and path are the client's bytes: not always UTF-8 */
            json_t *m = json_string(r->method), *p = json_string(r->path);
            f = json_object();
            json_object_set_new(f, "req_id", json_string(r->req_id));
            json_object_set_new(f, "method", m ? m : json_string("?"));
            json_object_set_new(f, "path", p ? p : json_string("(not UTF-8)"));
            json_object_set_new(f, "route",
                                json_string(r->route ? r->route->pattern : "unmatched"));
            json_object_set_new(f, "status", json_integer(r->status));
            json_object_set_new(f, "ms", json_real(ms));
            if (r->route && r->id > 0 && !strncmp(r->route->pattern, "/v1/jobs/", 9))
                json_object_set_new(f, "job_id", json_integer((json_int_t)r->id));
            if (aborted)
                json_object_set_new(f, "aborted", json_true());
        }
        log_fields(LOG_INFO, f, "%s %s %d %.1fms%s", r->method, r->path, r->status, ms,
                   aborted ? " (aborted)" : "");
    }
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < r->n_files; i++) {
        if (r->files[i].fd >= 0)
            close(r->files[i].fd);
        if (r->files[i].path[0])
            unlink(r->files[i].path);
    }
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    log_msg(LOG_DEBUG, "http: %s", msg);
}

/* The connection records of the watch, made and dropped with the
 * connections (on their event-loop thread). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    app *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? http_conns_opened(a->conns, ci->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conns_closed(a->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* Raises the soft limit of open files to the hard one, and returns how
 * many connections fit (a few dozen files kept for the store, the uploads
 * and the listening sockets). */
static int fitting_connections(int wanted)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return wanted;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)wanted + 64)
        return wanted;
    int fit = rl.rlim_cur > 96 ? (int)rl.rlim_cur - 64 : 32;
    log_msg(LOG_WARN, "--max-connections %d does not fit the limit of %llu open files: "
                      "serving at most %d",
            wanted, (unsigned long long)rl.rlim_cur, fit);
    return fit;
}

int http_start(app *a, const config *c, int *port_out, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%d", c->port);
    int g = getaddrinfo(c->host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "cannot resolve --host %s: %s", c->host, gai_strerror(g));
        return -1;
    }
    if (http_conns_start(a, &a->conns, err, errlen)) {
        freeaddrinfo(res);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC | (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    a->daemon = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, a,
                                 MHD_OPTION_SOCK_ADDR, res->ai_addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->http_threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
                                 MHD_OPTION_URI_LOG_CALLBACK, http_guard_uri, a,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
                                 MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)fitting_connections(c->max_connections),
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)c->max_connections_per_ip,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!a->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this host?)",
                 c->host, c->port);
        http_conns_drain(a->conns);
        http_conns_free(a->conns);
        a->conns = NULL;
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : c->port;
    return 0;
}

void http_quiesce(app *a)
{
    if (!a->daemon)
        return;
    MHD_socket s = MHD_quiesce_daemon(a->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
    http_conns_drain(a->conns);
}

void http_stop(app *a)
{
    if (a->daemon) {
        http_conns_drain(a->conns);   /* no connection may be suspended */
        MHD_stop_daemon(a->daemon);
    }
    a->daemon = NULL;
    http_conns_free(a->conns);
    a->conns = NULL;
}
