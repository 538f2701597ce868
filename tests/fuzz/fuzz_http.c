/*
 * fuzz_http.c — raw HTTP requests through traind's real request handling,
 * in process: the daemon of server/http.c (http_start: its event loop and
 * handler threads) over a throwaway SQLite store in a temporary directory, with
 * the job queue started without workers (nothing trains).  Each input is
 * written to one end of a socketpair whose other end is handed to the
 * daemon with MHD_add_connection; the harness then reads the answers until
 * the daemon closes the connection.  So libmicrohttpd parses the request
 * line, headers, query string and (multipart) body exactly as for a client
 * of traind, and the upload lands in http.c's temporary files, the readers
 * and the store.
 *
 * Checked: no answer is a 5xx (a hostile request is the client's fault:
 * 4xx), counted in process through the /metrics counters that http.c keeps
 * for every answer it queues; and the first answer, when it is a traind
 * error (X-Request-Id, Content-Length) to a request other than HEAD (which
 * has no body), is JSON {"error": {"code": "...", "message": "..."}}; and a
 * request is answered or its connection closed within DEADLINE_MS.  A
 * connection still open at the deadline after an answer began (an event
 * stream) is closed by the harness, which is not a finding.
 */
#include "fuzz.h"

#include "http.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "app.h"
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Every answer to these small requests comes within milliseconds; an event
 * stream stays open, and the multipart answers of pending/http/ never come. */
#define DEADLINE_MS 2000
#define MAX_ANSWER (1 << 20)

static app a;
static char dir[256];

/* The store's files go at exit (the uploads' temporary files went with
 * their requests). */
static void remove_dir(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[300];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", a.cfg.db, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void daemon_start(void)
{
    char err[512];
    int port = 0;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/traind-fuzz-XXXXXX", base && *base ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    atexit(remove_dir);
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    config_defaults(&a.cfg);
    snprintf(a.cfg.host, sizeof a.cfg.host, "127.0.0.1");
    a.cfg.port = 0;
    snprintf(a.cfg.db, sizeof a.cfg.db, "%s/traind.db", dir);
    a.cfg.workers = 0;
    a.cfg.threads = 1;
    a.cfg.max_upload_mb = 1;
    a.cfg.max_body_mb = 1;
    FUZZ_CHECK(store_open(a.cfg.db, &a.store, err, sizeof err) == 0, "store: %s", err);
    FUZZ_CHECK(jobs_start(&a, &a.jobs, err, sizeof err) == 0, "jobs: %s", err);
    FUZZ_CHECK(http_start(&a, &a.cfg, &port, err, sizeof err) == 0, "http: %s", err);
    fprintf(stderr, "fuzz_http: store %s\n", a.cfg.db);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Sends the request, reads the answers into out (up to MAX_ANSWER bytes)
 * until the daemon closes the connection or the deadline passes; returns
 * their length, or -1 when nothing came by the deadline. */
static long exchange(int fd, const uint8_t *req, size_t n, char *out, long deadline_ms)
{
    struct timespec t0;
    size_t sent = 0, got = 0;
    int wr_open = 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (n == 0) {
        shutdown(fd, SHUT_WR);
        wr_open = 0;
    }
    for (;;) {
        long left = deadline_ms - ms_since(&t0);
        if (left <= 0)
            return got ? (long)got : -1;
        struct pollfd p = {fd, (short)(POLLIN | (wr_open ? POLLOUT : 0)), 0};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -1;
        if (wr_open && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = send(fd, req + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            if (sent == n || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                shutdown(fd, SHUT_WR);
                wr_open = 0;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[65536];
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                return (long)got;
            if (r > 0) {
                size_t k = (size_t)r < MAX_ANSWER - got ? (size_t)r : MAX_ANSWER - got;
                memcpy(out + got, buf, k);
                got += k;
            }
        }
    }
}

/* The value of header name in the head [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *l = h; l < end;) {
        const char *eol = memchr(l, '\n', (size_t)(end - l));
        if (!eol)
            eol = end;
        if ((size_t)(eol - l) > nl && !strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (v < eol && *v == ' ')
                v++;
            *len = (size_t)(eol - v) - (eol > v && eol[-1] == '\r');
            return v;
        }
        l = eol + 1;
    }
    return NULL;
}

static void check_error_body(const char *body, size_t n, int status)
{
    json_error_t je;
    json_t *j = json_loadb(body, n, 0, &je);
    FUZZ_CHECK(j != NULL, "a %d answer that is not JSON: %.*s", status, (int)n, body);
    json_t *err = json_object_get(j, "error");
    FUZZ_CHECK(json_is_string(json_object_get(err, "code")) &&
                   json_is_string(json_object_get(err, "message")),
               "a %d answer without error.code and error.message: %.*s", status, (int)n, body);
    json_decref(j);
}

/* The first answer in out[0, n): a traind error answer carries its JSON. */
static void check_first_answer(const char *out, size_t n)
{
    if (n < 12 || memcmp(out, "HTTP/1.", 7))
        return;
    int status = atoi(out + 9);
    const char *end = memmem(out, n, "\r\n\r\n", 4);
    size_t len;
    if (status < 400 || !end || !header(out, end, "X-Request-Id", &len))
        return;
    const char *cl = header(out, end, "Content-Length", &len);
    if (!cl)
        return;
    size_t body = (size_t)strtoull(cl, NULL, 10), have = (size_t)(out + n - (end + 4));
    FUZZ_CHECK(body <= have, "a %d answer of %zu bytes announced %zu", status, have, body);
    check_error_body(end + 4, body, status);
}

/* The 5xx answers counted so far (the /metrics counters, which http.c
 * updates as each answer is queued), and the last such line in *last. */
static unsigned long long count_5xx(char *last, size_t cap)
{
    size_t len;
    char *text = metrics_render(&a, &len);
    FUZZ_CHECK(text != NULL, "metrics_render failed");
    unsigned long long total = 0;
    for (char *l = text; l && *l;) {
        char *eol = strchr(l, '\n');
        if (eol)
            *eol = 0;
        if (!strncmp(l, "traind_http_requests_total{", 27) && strstr(l, "code=\"5")) {
            const char *v = strrchr(l, ' ');
            total += v ? strtoull(v + 1, NULL, 10) : 0;
            snprintf(last, cap, "%s", l);
        }
        l = eol ? eol + 1 : NULL;
    }
    free(text);
    return total;
}

/* Whether the first request is a HEAD (whose answer has no body), after
 * the empty lines a client may send before a request line. */
static int is_head(const uint8_t *data, size_t size)
{
    size_t i = 0;
    while (i < size && (data[i] == '\r' || data[i] == '\n'))
        i++;
    return size - i >= 5 && !memcmp(data + i, "HEAD ", 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *out;
    static unsigned long long seen_5xx;
    int sv[2];
    if (!a.daemon) {
        daemon_start();
        out = malloc(MAX_ANSWER);
        FUZZ_CHECK(out != NULL, "out of memory");
    }
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
               strerror(errno));
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(a.daemon, sv[1], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        close(sv[0]);   /* MHD closed sv[1]; too many connections at once */
        return 0;
    }
    long n = exchange(sv[0], data, size, out, DEADLINE_MS);
    fuzz_note("answer: %.*s", n > 0 ? (int)n : 0, out);
    close(sv[0]);
    FUZZ_CHECK(n >= 0, "no answer and no close in %d ms", DEADLINE_MS);
    if (n > 0 && !is_head(data, size))
        check_first_answer(out, (size_t)n);
    char line[512] = "";
    unsigned long long k = count_5xx(line, sizeof line);
    FUZZ_CHECK(k == seen_5xx, "a 5xx answer (%s): %.*s", line, n > 0 ? (int)n : 0, out);
    seen_5xx = k;
    return 0;
}
