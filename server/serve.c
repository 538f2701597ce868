/*
 * serve.c — `traind serve`: opens the store, starts the workers and the
 * HTTP daemon, and on SIGINT or SIGTERM stops in order: no new connections,
 * running jobs pause at their next step and write a checkpoint (they resume
 * at the next start), then the connections close and the store.
 *
 * The signals are blocked in every thread and taken by sigwait() in the
 * main thread, so no handler ever runs inside the store or a trainer.
 */
#include "serve.h"

#include "app.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "store.h"
#include "uploads.h"
#include "version.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int write_port_file(const char *path, int port)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int serve_main(int argc, char **argv)
{
    static app a;
    char err[512];
    int port = 0, status = 1;
    config_defaults(&a.cfg);
    int c = config_load(&a.cfg, argc, argv, err, sizeof err);
    if (c == 1)
        return 0;
    if (c < 0) {
        fprintf(stderr, "traind: %s\n", err);
        return 2;
    }
    int lvl = log_level_from_name(a.cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "traind: --log-level must be error, warn, info or debug\n");
        return 2;
    }
    log_set_level((log_level)lvl);
    /* config_load accepted only text or json */
    log_set_format((log_format)log_format_from_name(a.cfg.log_format));
    a.started = mono();

    /* every thread started from here on inherits the blocked signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a file over RLIMIT_FSIZE: write() fails with EFBIG, answered like any
     * write error, instead of the signal ending the daemon */
    signal(SIGXFSZ, SIG_IGN);

    long long left_bytes = 0;
    int left = uploads_prepare(&a.cfg, &left_bytes, err, sizeof err);
    if (left < 0) {
        log_msg(LOG_ERROR, "%s", err);
        goto out;
    }
    if (left > 0)
        log_msg(LOG_INFO, "removed %d upload file%s (%lld bytes) left by an earlier run", left,
                left == 1 ? "" : "s", left_bytes);
    if (store_open(a.cfg.db, &a.store, err, sizeof err)) {
        log_msg(LOG_ERROR, "cannot open the database %s: %s", a.cfg.db, err);
        goto out;
    }
    if (jobs_start(&a, &a.jobs, err, sizeof err)) {
        log_msg(LOG_ERROR, "cannot start the workers: %s", err);
        goto out;
    }
    if (http_start(&a, &a.cfg, &port, err, sizeof err)) {
        log_msg(LOG_ERROR, "%s", err);
        goto out;
    }
    log_msg(LOG_INFO,
            "traind %s listening on http://%s:%d (database %s, %d worker%s x %d thread%s%s)",
            TRAIND_VERSION, a.cfg.host, port, a.cfg.db, a.cfg.workers,
            a.cfg.workers == 1 ? "" : "s", a.cfg.threads, a.cfg.threads == 1 ? "" : "s",
            a.cfg.token[0] ? ", token required" : "");
    if (a.cfg.port_file[0] && write_port_file(a.cfg.port_file, port))
        log_msg(LOG_WARN, "cannot write --port-file %s", a.cfg.port_file);

    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "%s: stopping (running jobs write a checkpoint and resume at the next "
                      "start)",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&a.stopping, 1);
    status = 0;
out:
    atomic_store(&a.stopping, 1);
    http_quiesce(&a);
    jobs_notify(a.jobs);
    jobs_stop(a.jobs);
    a.jobs = NULL;
    http_stop(&a);
    store_close(a.store);
    if (status == 0)
        log_msg(LOG_INFO, "stopped after %.1f s", mono() - a.started);
    return status;
}
