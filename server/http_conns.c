/*
 * http_conns.c — the connection watch, the handler threads and the event
 * streams' slots (see http_conns.h).
 *
 * Deadlines, with T = --header-timeout and R = --min-body-rate, measured
 * from a mark that only the request's progress moves (never a byte):
 *
 *   idle  (from the connection's start, or its last answer sent)
 *         the next request's headers must all be in within T;
 *   body  (from the headers' arrival) the body must average R bytes a
 *         second after its first T seconds: cut when, t seconds after the
 *         mark, fewer than R * (t - T) bytes came;
 *   busy  (the handler runs, or the answer goes out) none of ours:
 *         libmicrohttpd's idle timeout (--idle-timeout) covers a reader
 *         that stalls, and a suspended connection has no timeout.
 *
 * The handler threads take work from one FIFO list; a connection handed
 * off is suspended by the caller's thread (libmicrohttpd allows it only in
 * its callbacks) before the work is listed, and resumed by the work itself.
 *
 * An event stream waits suspended: the watch resumes it when its wait is
 * over or when a job changed after the reader last looked (the change
 * counter it read is compared under the mutex, so a change between its
 * look and its suspension is not missed).
 */
#include "http_conns.h"

#include "app.h"
#include "jobs.h"
#include "log.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_TICK_MS 200

enum { K_IDLE, K_BODY, K_BUSY };

struct http_conn {
    http_conn *prev, *next;
    http_conns *owner;
    int fd;
    int state;                     /* K_* */
    int64_t mark_ms;               /* when the state began */
    int64_t body_bytes;            /* K_BODY: bytes since the mark */
    int cut;                       /* its socket was shut down */
};

struct http_stream_slot {
    http_stream_slot *prev, *next;
    unsigned char addr[16];        /* IPv4 in the first 4 bytes, else IPv6 */
    int family;
    struct MHD_Connection *conn;   /* set while waiting */
    int waiting;                   /* suspended until wake_ms or a change */
    int64_t wake_ms;
};

typedef struct work {
    struct work *next;
    void (*run)(void *);
    void *arg;
} work;

struct http_conns {
    app *a;
    pthread_mutex_t mu;            /* conns, streams, the watch's flags */
    pthread_cond_t cv;
    http_conn *conns;
    int n_conns;
    http_stream_slot *streams;
    int n_streams;
    uint64_t n_cut;
    int streams_ending;
    int stop;
    pthread_t watch;
    int watch_started;
    /* the handler threads */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    work *head, *tail;
    int closed, busy;
    pthread_t *threads;
    int n_threads;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------
 * Connections and their deadlines */

http_conn *http_conns_opened(http_conns *c, int fd)
{
    http_conn *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;   /* unwatched: libmicrohttpd's idle timeout still applies */
    k->owner = c;
    k->fd = fd;
    k->state = K_IDLE;
    k->mark_ms = mono_ms();
    pthread_mutex_lock(&c->mu);
    k->next = c->conns;
    if (c->conns)
        c->conns->prev = k;
    c->conns = k;
    c->n_conns++;
    pthread_mutex_unlock(&c->mu);
    return k;
}

void http_conns_closed(http_conns *c, http_conn *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&c->mu);
    if (k->prev)
        k->prev->next = k->next;
    else
        c->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    c->n_conns--;
    pthread_mutex_unlock(&c->mu);
    free(k);
}

/* The state's fields are read by the watch: every change under the mutex.
 * A connection's record is reached only through its own connection, whose
 * callbacks run on one event-loop thread at a time, so it stays alive. */
static void set_state(http_conn *k, int state)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->owner->mu);
    k->state = state;
    k->mark_ms = mono_ms();
    k->body_bytes = 0;
    pthread_mutex_unlock(&k->owner->mu);
}

void http_conn_headers_in(http_conn *k)
{
    set_state(k, K_BODY);
}

void http_conn_busy(http_conn *k)
{
    set_state(k, K_BUSY);
}

void http_conn_idle(http_conn *k)
{
    set_state(k, K_IDLE);
}

void http_conn_body(http_conn *k, size_t n)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->owner->mu);
    k->body_bytes += (int64_t)n;
    pthread_mutex_unlock(&k->owner->mu);
}

static int past_deadline(const http_conns *c, const http_conn *k, int64_t now)
{
    int64_t t = now - k->mark_ms, grace = (int64_t)c->a->cfg.header_timeout * 1000;
    int64_t rate = c->a->cfg.min_body_rate;
    if (k->state == K_IDLE)
        return t > grace;
    if (k->state == K_BODY)
        return rate > 0 && t > grace && k->body_bytes < (t - grace) * rate / 1000;
    return 0;
}

/* Under the mutex. */
static void cut_late(http_conns *c, int64_t now)
{
    for (http_conn *k = c->conns; k; k = k->next) {
        if (k->cut || !past_deadline(c, k, now))
            continue;
        k->cut = 1;
        c->n_cut++;
        log_msg(LOG_DEBUG, "http: closing a connection: %s",
                k->state == K_IDLE ? "its request's headers did not arrive in time"
                                   : "its request's body came too slowly");
        shutdown(k->fd, SHUT_RDWR);
    }
}

/* Under the mutex: resumes the streams that are due. */
static void wake_streams(http_conns *c, int64_t now, int changed)
{
    for (http_stream_slot *s = c->streams; s; s = s->next) {
        if (!s->waiting || !(changed || now >= s->wake_ms || c->streams_ending))
            continue;
        s->waiting = 0;
        MHD_resume_connection(s->conn);
    }
}

static void *watch_main(void *arg)
{
    http_conns *c = arg;
    app *a = c->a;
    uint64_t seen = a->jobs ? jobs_changes(a->jobs) : 0;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        int changed = 0;
        if (a->jobs && !atomic_load(&a->stopping)) {
            pthread_mutex_unlock(&c->mu);
            changed = jobs_wait_change(a->jobs, &seen, WATCH_TICK_MS);
            pthread_mutex_lock(&c->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += WATCH_TICK_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        int64_t now = mono_ms();
        cut_late(c, now);
        wake_streams(c, now, changed);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Event streams */

static void addr_key(const struct sockaddr *sa, int *family, unsigned char key[16])
{
    memset(key, 0, 16);
    *family = sa ? sa->sa_family : 0;
    if (sa && sa->sa_family == AF_INET)
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa && sa->sa_family == AF_INET6)
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

http_stream_slot *http_conns_stream_open(http_conns *c, const struct sockaddr *addr,
                                         int *over_cap)
{
    *over_cap = 0;
    http_stream_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    addr_key(addr, &s->family, s->addr);
    pthread_mutex_lock(&c->mu);
    int same = 0;
    for (http_stream_slot *o = c->streams; o; o = o->next)
        same += o->family == s->family && !memcmp(o->addr, s->addr, 16);
    if (same >= c->a->cfg.max_streams_per_ip) {
        pthread_mutex_unlock(&c->mu);
        free(s);
        *over_cap = 1;
        return NULL;
    }
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    pthread_mutex_unlock(&c->mu);
    return s;
}

void http_conns_stream_close(http_conns *c, http_stream_slot *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&c->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->n_streams--;
    pthread_mutex_unlock(&c->mu);
    free(s);
}

int http_conns_stream_wait(http_conns *c, http_stream_slot *s, struct MHD_Connection *conn,
                           long wait_ms, uint64_t seen)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (c->streams_ending || atomic_load(&c->a->stopping))
        rc = -1;
    else if (c->a->jobs && jobs_changes(c->a->jobs) != seen)
        rc = 1;
    else {
        s->conn = conn;
        s->wake_ms = mono_ms() + wait_ms;
        s->waiting = 1;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void http_conns_counts(http_conns *c, int *connections, int *streams, uint64_t *cut)
{
    *connections = *streams = 0;
    *cut = 0;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *connections = c->n_conns;
    *streams = c->n_streams;
    *cut = c->n_cut;
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------------------
 * The handler threads */

static void *handler_main(void *arg)
{
    http_conns *c = arg;
    pthread_mutex_lock(&c->wmu);
    for (;;) {
        while (!c->head && !c->closed)
            pthread_cond_wait(&c->wcv, &c->wmu);
        work *w = c->head;
        if (!w)
            break;   /* closed and nothing left */
        c->head = w->next;
        if (!c->head)
            c->tail = NULL;
        c->busy++;
        pthread_mutex_unlock(&c->wmu);
        w->run(w->arg);
        free(w);
        pthread_mutex_lock(&c->wmu);
        c->busy--;
    }
    pthread_mutex_unlock(&c->wmu);
    return NULL;
}

int http_conns_hand_off(http_conns *c, struct MHD_Connection *conn, void (*run)(void *),
                        void *arg)
{
    work *w = c ? malloc(sizeof *w) : NULL;
    if (!w)
        return -1;
    *w = (work){NULL, run, arg};
    pthread_mutex_lock(&c->wmu);
    if (c->closed) {
        pthread_mutex_unlock(&c->wmu);
        free(w);
        return -1;
    }
    MHD_suspend_connection(conn);   /* before any handler thread can resume it */
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    pthread_cond_signal(&c->wcv);
    pthread_mutex_unlock(&c->wmu);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Start and stop */

int http_conns_start(app *a, http_conns **out, char *err, size_t errlen)
{
    *out = NULL;
    http_conns *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->a = a;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_cond_init(&c->wcv, NULL);
    c->threads = calloc((size_t)a->cfg.handler_threads, sizeof *c->threads);
    for (int i = 0; c->threads && i < a->cfg.handler_threads; i++) {
        if (pthread_create(&c->threads[i], NULL, handler_main, c))
            break;
        c->n_threads++;
    }
    c->watch_started = c->n_threads == a->cfg.handler_threads &&
                       pthread_create(&c->watch, NULL, watch_main, c) == 0;
    if (!c->watch_started) {
        snprintf(err, errlen, "cannot start the HTTP handler threads");
        http_conns_drain(c);
        http_conns_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void http_conns_drain(http_conns *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->wmu);
    c->closed = 1;
    pthread_cond_broadcast(&c->wcv);
    pthread_mutex_unlock(&c->wmu);
    for (int i = 0; i < c->n_threads; i++)
        pthread_join(c->threads[i], NULL);
    c->n_threads = 0;
    pthread_mutex_lock(&c->mu);
    c->streams_ending = 1;
    wake_streams(c, mono_ms(), 1);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->watch_started)
        pthread_join(c->watch, NULL);
    c->watch_started = 0;
}

void http_conns_free(http_conns *c)
{
    if (!c)
        return;
    free(c->threads);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->wmu);
    pthread_cond_destroy(&c->wcv);
    free(c);
}
