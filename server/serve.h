/*
 * serve.h — `traind serve`: the daemon's state shared by the HTTP handlers
 * and the job workers, and its entry point.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

struct MHD_Daemon;
typedef struct store store;
typedef struct jobs jobs;

struct app {
    config cfg;
    store *store;
    jobs *jobs;
    struct MHD_Daemon *daemon;
    atomic_int stopping;           /* set on SIGINT/SIGTERM */
    atomic_uint_fast64_t serial;   /* requests so far */
    double started;                /* monotonic seconds at start */
};

/* argv[0] is "serve" (or the program name for a bare `traind`). */
int serve_main(int argc, char **argv);

#endif
