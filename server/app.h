/*
 * app.h — the daemon's state, shared by the HTTP side, the handlers and the
 * job workers: the settings, the store, the workers, the HTTP daemon and
 * the process-wide flags.  serve.c fills it and owns it; everything else
 * only reads it (stopping and serial are atomics).
 */
#ifndef APP_H
#define APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

struct MHD_Daemon;
typedef struct store store;
typedef struct jobs jobs;
typedef struct http_conns http_conns;

typedef struct app {
    config cfg;
    store *store;
    jobs *jobs;
    struct MHD_Daemon *daemon;
    http_conns *conns;             /* http_conns.h: the connection watch, handler threads */
    atomic_int stopping;           /* set on SIGINT/SIGTERM */
    atomic_uint_fast64_t serial;   /* requests so far */
    double started;                /* monotonic seconds at start */
} app;

#endif
