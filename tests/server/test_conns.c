/*
 * test_conns.c — the daemon's connections under hostile or clumsy clients,
 * over real loopback sockets: a thousand slow-header connections from
 * 127.0.0.2 and up (each bound to its source address before connect) hold
 * no one out (/healthz from 127.0.0.1 answers within 100 ms, measured and
 * printed) and are cut by the header deadline although each keeps sending
 * a byte; a connection beyond the per-address limit is closed at once; a
 * body that trickles below the minimum rate is cut; event streams are
 * capped per address (429 too_many_streams) and a client that left frees
 * its stream; a body over the upload limit gets a 413 that Python's urllib
 * and curl read (tests/server/upload_413.sh); an upload whose temporary
 * file cannot be written is answered, multipart or not.
 *
 * Every test is bounded in time and stops by itself; all traffic stays on
 * loopback.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_msg(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 2200,
                  "this test needs 2,200 open files; the hard limit is %llu",
                  (unsigned long long)rl.rlim_cur);
}

/* A TCP connection to the daemon from source address src (127.0.0.x). */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, src, &a.sin_addr), 1);
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind %s: %s", src,
                  strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect from %s: %s", src,
                  strerror(errno));
    return fd;
}

static void send_all(int fd, const char *p)
{
    size_t n = strlen(p);
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Whether the peer closed fd (anything it sent is read and dropped):
 * waits up to timeout_ms. */
static int closed_by_peer(int fd, int timeout_ms)
{
    double end = now_s() + timeout_ms / 1000.0;
    for (;;) {
        int left = (int)((end - now_s()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left > 0 ? left : 0) > 0) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return 1;
            if (n > 0)
                continue;
        }
        if (now_s() >= end)
            return 0;
    }
}

/* Reads an answer's head (and as much of the body as came with it) into
 * buf; returns the status, 0 when none came within timeout_ms. */
static int read_answer(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    double end = now_s() + timeout_ms / 1000.0;
    buf[0] = 0;
    while (n + 1 < cap && !strstr(buf, "\r\n\r\n")) {
        int left = (int)((end - now_s()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return 0;
        ssize_t got = recv(fd, buf + n, cap - n - 1, 0);
        if (got <= 0)
            return 0;
        n += (size_t)got;
        buf[n] = 0;
    }
    /* the rest of a short body that follows the head */
    struct pollfd p = {fd, POLLIN, 0};
    if (n + 1 < cap && strstr(buf, "Content-Length") && poll(&p, 1, 200) > 0) {
        ssize_t got = recv(fd, buf + n, cap - n - 1, MSG_DONTWAIT);
        if (got > 0)
            buf[n += (size_t)got] = 0;
    }
    int status = 0;
    return sscanf(buf, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

/* ---------------------------------------------------------------------------
 * Slow headers */

#define SLOW 1000
#define PER_ADDR 50                /* slow connections per source address */
#define HEADER_TIMEOUT 6
#define TRICKLE_S 2.0              /* one more header byte this often */

/* 1,000 connections from 127.0.0.2 .. 127.0.0.21 (50 each, the per-address
 * limit) that each send a byte of headers every 2 s: /healthz from
 * 127.0.0.1 answers within 100 ms all along; the 51st connection from one
 * of those addresses is closed at once; and each slow connection is closed
 * by the 6 s header deadline, not before it, although bytes keep coming. */
START_TEST(slow_headers_hold_no_one_out)
{
    raise_nofile();
    e2e_daemon d = {0};
    const char *extra[] = {"--max-connections-per-ip", "50", "--header-timeout", "6",
                           "--max-connections", "2048", NULL};
    e2e_start(&d, NULL, extra);
    static int fd[SLOW];
    static double opened[SLOW], closed[SLOW];
    static const char header[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    char src[32];
    for (int i = 0; i < SLOW; i++) {
        snprintf(src, sizeof src, "127.0.0.%d", 2 + i / PER_ADDR);
        fd[i] = connect_from(src, d.port);
        opened[i] = now_s();
        closed[i] = 0;
        ck_assert_int_eq(send(fd[i], header, 1, MSG_NOSIGNAL), 1);
    }
    double t_open = now_s() - opened[0];
    /* the per-address limit: the 51st from 127.0.0.2 goes at once */
    int over = connect_from("127.0.0.2", d.port);
    ck_assert_msg(closed_by_peer(over, 2000), "a connection over the per-address limit stayed open");
    close(over);

    double max_ms = 0, sum_ms = 0;
    int asked = 0, sent_bytes = 1, all_held_at_last_ask = 0;
    double next_byte = opened[0] + TRICKLE_S, end = opened[SLOW - 1] + HEADER_TIMEOUT + 4;
    while (now_s() < end) {
        /* the slow clients: one more byte each, when due */
        if (now_s() >= next_byte && sent_bytes + 1 < (int)sizeof header) {
            for (int i = 0; i < SLOW; i++)
                if (!closed[i] && send(fd[i], header + sent_bytes, 1, MSG_NOSIGNAL) != 1)
                    closed[i] = now_s();
            sent_bytes++;
            next_byte += TRICKLE_S;
        }
        /* who was closed */
        for (int i = 0; i < SLOW; i++)
            if (!closed[i] && closed_by_peer(fd[i], 0))
                closed[i] = now_s();
        /* everyone else, while the slow connections are held */
        if (now_s() < opened[0] + HEADER_TIMEOUT - 1) {
            double t0 = now_s();
            e2e_resp r = e2e_get(&d, "/healthz");
            double ms = (now_s() - t0) * 1000;
            ck_assert_msg(r.status == 200, "/healthz under the slow connections: %ld", r.status);
            e2e_resp_free(&r);
            max_ms = ms > max_ms ? ms : max_ms;
            sum_ms += ms;
            asked++;
            int held = 0;
            for (int i = 0; i < SLOW; i++)
                held += !closed[i];
            all_held_at_last_ask = held == SLOW;
        }
        usleep(100 * 1000);
    }
    printf("slow headers: %d connections opened in %.2f s; /healthz from 127.0.0.1 answered "
           "%d times while all were held: max %.1f ms, mean %.1f ms; %d header bytes each\n",
           SLOW, t_open, asked, max_ms, asked ? sum_ms / asked : 0, sent_bytes);
    ck_assert_int_ge(asked, 5);
    ck_assert_msg(all_held_at_last_ask, "slow connections were closed before the deadline");
    ck_assert_msg(max_ms < 100, "/healthz took %.1f ms under the slow connections", max_ms);
    int early = 0, open_still = 0;
    double worst = 0;
    for (int i = 0; i < SLOW; i++) {
        if (!closed[i]) {
            open_still++;
            continue;
        }
        double after = closed[i] - opened[i];
        early += after < HEADER_TIMEOUT - 0.5;
        worst = after > worst ? after : worst;
    }
    printf("slow headers: all cut by the %d s header deadline at most %.2f s after opening\n",
           HEADER_TIMEOUT, worst);
    ck_assert_msg(open_still == 0, "%d slow connections outlived the header deadline", open_still);
    ck_assert_msg(early == 0, "%d slow connections were closed before the header deadline", early);
    for (int i = 0; i < SLOW; i++)
        close(fd[i]);
    /* and the daemon serves on */
    e2e_resp r = e2e_get(&d, "/healthz");
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* A body that comes at 3 bytes a second against --min-body-rate 1024 is cut
 * once its first --header-timeout seconds are over; one that comes whole
 * after a pause shorter than that is answered. */
START_TEST(slow_body_is_cut)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--header-timeout", "2", "--min-body-rate", "1024", NULL};
    e2e_start(&d, NULL, extra);
    int fd = connect_from("127.0.0.1", d.port);
    send_all(fd, "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n\r\n");
    double t0 = now_s();
    int cut = 0;
    while (!cut && now_s() - t0 < 8) {
        if (send(fd, "[", 1, MSG_NOSIGNAL) != 1)
            break;
        cut = closed_by_peer(fd, 330);
    }
    double after = now_s() - t0;
    close(fd);
    printf("slow body: cut %.2f s after its headers\n", after);
    ck_assert_msg(after >= 1.9 && after < 4, "a trickling body was cut after %.2f s", after);

    /* a pause of 1 s, then the body: answered (422: not a model) */
    fd = connect_from("127.0.0.1", d.port);
    send_all(fd, "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\n\r\n");
    usleep(1000 * 1000);
    send_all(fd, "{}");
    char buf[4096];
    int st = read_answer(fd, buf, sizeof buf, 5000);
    close(fd);
    ck_assert_msg(st == 422 || st == 400, "a paused body: %d %s", st, buf);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Event streams */

static long long post_id(const e2e_daemon *d, const char *path, const char *ct, const char *body)
{
    e2e_resp r = e2e_req(d, "POST", path, ct, body, strlen(body), NULL);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s", path, r.status, r.body);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

static int open_stream(const e2e_daemon *d, const char *src, long long job, char *buf, size_t cap,
                       int *status)
{
    int fd = connect_from(src, d->port);
    char req[256];
    snprintf(req, sizeof req, "GET /v1/jobs/%lld/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", job);
    send_all(fd, req);
    *status = read_answer(fd, buf, cap, 5000);
    return fd;
}

/* --max-streams-per-ip 2: a third stream from 127.0.0.1 gets 429
 * too_many_streams (JSON), one from 127.0.0.2 does not; a client that
 * closes its stream frees it (noticed at the next keep-alive, 1 s here),
 * and then a new stream from 127.0.0.1 is taken. */
START_TEST(event_streams_capped_and_freed)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-streams-per-ip", "2", "--sse-keepalive", "1", NULL};
    e2e_start(&d, NULL, extra);
    long long ds = post_id(&d, "/v1/datasets?name=s&label=y", "text/csv",
                           "a,y\n0,0\n1,1\n0.1,0\n0.9,1\n0.2,0\n0.8,1\n");
    /* a job that trains for long, and one queued behind it: its stream waits */
    const char *model = "{\"input\": [1], \"layers\": [{\"type\": \"dense\", \"units\": 2, "
                        "\"activation\": \"softmax\"}], \"loss\": \"cross_entropy\", "
                        "\"training\": {\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1}, "
                        "\"batch_size\": 2, \"epochs\": 1000000, \"seed\": 1}}";
    char body[1024];
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld}", model, ds);
    post_id(&d, "/v1/jobs", "application/json", body);
    long long queued = post_id(&d, "/v1/jobs", "application/json", body);

    char buf[8192];
    int st, fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = open_stream(&d, "127.0.0.1", queued, buf, sizeof buf, &st);
        ck_assert_msg(st == 200, "stream %d: %d %s", i, st, buf);
    }
    int third = open_stream(&d, "127.0.0.1", queued, buf, sizeof buf, &st);
    ck_assert_msg(st == 429, "a third stream from one address: %d %s", st, buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"code\":\"too_many_streams\""));
    ck_assert_ptr_nonnull(strstr(buf, "Retry-After: 5"));
    close(third);
    int other = open_stream(&d, "127.0.0.2", queued, buf, sizeof buf, &st);
    ck_assert_msg(st == 200, "a stream from another address: %d %s", st, buf);

    /* the first client goes away: its slot is free once the daemon notices */
    close(fds[0]);
    double t0 = now_s();
    int again = -1;
    for (st = 0; st != 200 && now_s() - t0 < 6;) {
        if (again >= 0)
            close(again);
        usleep(200 * 1000);
        again = open_stream(&d, "127.0.0.1", queued, buf, sizeof buf, &st);
        ck_assert_msg(st == 200 || st == 429, "%d %s", st, buf);
    }
    printf("event streams: a closed stream's slot was free again after %.2f s\n", now_s() - t0);
    ck_assert_msg(st == 200, "the stream of a client that left was never freed");
    close(again);
    close(fds[1]);
    close(other);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Bodies over the limit, and uploads that cannot be written */

/* --max-upload-mb 8: a 9 MB upload gets the 413 JSON through Python's
 * urllib (which sends the whole body before reading) and curl (with and
 * without Expect: 100-continue); past twice the limit the daemon closes. */
START_TEST(oversized_upload_answer_is_readable)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-upload-mb", "8", NULL};
    e2e_start(&d, NULL, extra);
    int rc;
    char *out = e2e_run_script(&d, "tests/server/upload_413.sh", NULL, &rc);
    printf("%s", out);
    ck_assert_msg(rc == 0, "upload_413.sh: %d\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "urllib 9 MB: 413 too_large"));
    ck_assert_ptr_nonnull(strstr(out, "curl 9 MB with Expect: 413 too_large"));
    ck_assert_ptr_nonnull(strstr(out, "curl 9 MB without Expect: 413 too_large"));
    ck_assert_ptr_nonnull(strstr(out, "urllib 17 MB: closed"));
    free(out);
    e2e_resp r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The daemon's files limited to 2 MB (RLIMIT_FSIZE, inherited): a 3 MB
 * upload's temporary file cannot be written, and the client gets a JSON
 * error at once, multipart or not; nothing is stored. */
START_TEST(upload_write_error_is_answered)
{
    size_t n = 3 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        big[i] = '1';
        big[i + 1] = i % 64 == 62 ? '\n' : ',';
    }
    char *file = tu_write(tu_tmpdir(), "big.csv", big, n, 0);
    struct rlimit was, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
    small = was;
    small.rlim_cur = 2 << 20;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);

    const char *names[] = {"file"}, *files[] = {file};
    double t0 = now_s();
    e2e_resp r = e2e_upload_parts(&d, "/v1/datasets?name=m", 1, names, files);
    double dt = now_s() - t0;
    ck_assert_msg(r.status == 500 && strstr(r.body, "cannot write the upload"),
                  "multipart: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(json_object_get(r.json, "error"));
    ck_assert_msg(dt < 5, "multipart: answered after %.1f s", dt);
    e2e_resp_free(&r);
    t0 = now_s();
    r = e2e_req(&d, "POST", "/v1/datasets?name=c", "text/csv", big, n, NULL);
    dt = now_s() - t0;
    ck_assert_msg(r.status == 500 && strstr(r.body, "cannot write the upload"), "csv: %ld %s",
                  r.status, r.body);
    ck_assert_msg(dt < 5, "csv: answered after %.1f s", dt);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
    free(file);
    free(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conns");
    TCase *tc = tcase_create("conns");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, slow_headers_hold_no_one_out);
    tcase_add_test(tc, slow_body_is_cut);
    tcase_add_test(tc, event_streams_capped_and_freed);
    tcase_add_test(tc, oversized_upload_answer_is_readable);
    tcase_add_test(tc, upload_write_error_is_answered);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
