/*
 * e2e.c — see e2e.h.  The daemon is a child process with its stderr in a
 * log file of the test's scratch directory; the port comes back through
 * --port-file, so tests never race for a fixed port.
 */
#include "e2e.h"

#include "testutil.h"

#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin(void)
{
    const char *b = getenv("TRAIND_BIN");
    return b && *b ? b : "./traind";
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int counter;

/* Daemons this process started and has not reaped: a failing test leaves
 * through exit(), and these go with it instead of running on. */
static pid_t started[64];
static int n_started;

static void kill_started(void)
{
    for (int i = 0; i < n_started; i++)
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
}

static void remember(pid_t pid)
{
    if (n_started == 0)
        atexit(kill_started);
    for (int i = 0; i < n_started; i++)
        if (started[i] <= 0) {
            started[i] = pid;
            return;
        }
    if (n_started < 64)
        started[n_started++] = pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < n_started; i++)
        if (started[i] == pid)
            started[i] = 0;
}

/* The value of --token in the daemon's arguments ("" without one). */
static void token_of(const char *const *extra, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; extra && extra[i]; i++) {
        if (!strcmp(extra[i], "--token") && extra[i + 1])
            snprintf(out, cap, "%s", extra[i + 1]);
        else if (!strncmp(extra[i], "--token=", 8))
            snprintf(out, cap, "%s", extra[i] + 8);
    }
}

void e2e_start(e2e_daemon *d, const char *db, const char *const *extra)
{
    char portfile[512];
    char token[128];
    snprintf(token, sizeof token, "%s", d->token);
    memset(d, 0, sizeof *d);
    snprintf(d->token, sizeof d->token, "%s", token);
    token_of(extra, d->server_token, sizeof d->server_token);
    int k = ++counter;
    if (db)
        snprintf(d->db, sizeof d->db, "%s", db);
    else
        snprintf(d->db, sizeof d->db, "%s/db-%d-%d.sqlite", tu_tmpdir(), (int)getpid(), k);
    snprintf(d->log, sizeof d->log, "%s/daemon-%d-%d.log", tu_tmpdir(), (int)getpid(), k);
    snprintf(portfile, sizeof portfile, "%s/port-%d-%d", tu_tmpdir(), (int)getpid(), k);
    unlink(portfile);
    const char *argv[64] = {bin(), "serve", "--host", "127.0.0.1", "--port", "0", "--db", d->db,
                            "--port-file", portfile};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    remember(pid);
    for (double t0 = now(); now() - t0 < 15;) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &d->port) == 1;
            fclose(f);
            if (ok && d->port > 0) {
                snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
                return;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            forget(pid);
            d->pid = 0;
            ck_abort_msg("traind exited at start (status %d):\n%s", st, e2e_log_tail(d));
        }
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    forget(pid);
    d->pid = 0;
    ck_abort_msg("traind did not listen within 15 s:\n%s", e2e_log_tail(d));
}

static void record_statuses(const e2e_daemon *d);

int e2e_stop(e2e_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    record_statuses(d);
    kill(d->pid, SIGTERM);
    int st = 0;
    for (double t0 = now(); now() - t0 < 20; usleep(20000))
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            forget(d->pid);
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    forget(d->pid);
    d->pid = 0;
    return -1;
}

void e2e_kill9(e2e_daemon *d)
{
    if (d->pid <= 0)
        return;
    record_statuses(d);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    forget(d->pid);
    d->pid = 0;
}

typedef struct buf {
    char *p;
    size_t len;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    size_t add = size * n;
    char *q = realloc(b->p, b->len + add + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, p, add);
    b->p = q;
    b->len += add;
    b->p[b->len] = 0;
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    e2e_resp *r = arg;
    size_t len = size * n;
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {{"location:", r->location, sizeof r->location},
                {"allow:", r->allow, sizeof r->allow},
                {"content-type:", r->content_type, sizeof r->content_type}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t k = strlen(want[i].name);
        if (len > k && !strncasecmp(p, want[i].name, k)) {
            const char *v = p + k;
            size_t vl = len - k;
            while (vl && (*v == ' '))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                vl--;
            snprintf(want[i].dst, want[i].cap, "%.*s", (int)vl, v);
        }
    }
    return len;
}

static e2e_resp perform(const e2e_daemon *d, CURL *c, struct curl_slist *h, const char *path)
{
    e2e_resp r;
    memset(&r, 0, sizeof r);
    buf b = {0};
    char url[1024], auth[200];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    if (d->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", d->token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");   /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        r.status = -(long)rc;   /* transport error: negative */
    r.body = b.p ? b.p : calloc(1, 1);
    r.len = b.len;
    if (strstr(r.content_type, "application/json"))
        r.json = json_loadb(r.body, r.len, 0, NULL);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

e2e_resp e2e_req(const e2e_daemon *d, const char *method, const char *path,
                 const char *content_type, const void *body, size_t len,
                 const char *extra_header)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *h = NULL;
    char ct[200];
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    else if (!body)   /* curl would call an empty POST a form (which traind refuses) */
        h = curl_slist_append(h, "Content-Type:");
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    return perform(d, c, h, path);
}

e2e_resp e2e_json(const e2e_daemon *d, const char *method, const char *path, const char *json)
{
    return e2e_req(d, method, path, json ? "application/json" : NULL, json,
                   json ? strlen(json) : 0, NULL);
}

e2e_resp e2e_get(const e2e_daemon *d, const char *path)
{
    return e2e_req(d, "GET", path, NULL, NULL, 0, NULL);
}

e2e_resp e2e_upload_parts(const e2e_daemon *d, const char *path, int n, const char *const *names,
                          const char *const *files)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_mime *mime = curl_mime_init(c);
    for (int i = 0; i < n; i++) {
        curl_mimepart *p = curl_mime_addpart(mime);
        curl_mime_name(p, names[i]);
        if (files[i])
            curl_mime_filedata(p, files[i]);
        else
            curl_mime_data(p, "1", CURL_ZERO_TERMINATED);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    e2e_resp r = perform(d, c, NULL, path);
    curl_mime_free(mime);
    return r;
}

e2e_resp e2e_upload_xy(const e2e_daemon *d, const char *path, const char *x, const char *y)
{
    const char *names[2] = {"x", "y"}, *files[2] = {x, y};
    return e2e_upload_parts(d, path, 2, names, files);
}

/* ---------------------------------------------------------------------------
 * What the daemon answered, from its /metrics */

/* The labels of one traind_http_requests_total line into "METHOD ROUTE
 * STATUS COUNT\n"; 0 when the line is another metric's. */
static int status_line(const char *line, char *out, size_t cap)
{
    char method[16], route[200], code[8];
    unsigned long long n;
    if (sscanf(line, "traind_http_requests_total{method=\"%15[^\"]\",route=\"%199[^\"]\","
                     "code=\"%7[^\"]\"} %llu", method, route, code, &n) != 4)
        return 0;
    snprintf(out, cap, "%s %s %s %llu\n", method, route, code, n);
    return 1;
}

/* Appends the daemon's request counts by route and status to the file
 * $TRAIND_E2E_STATUSES names (unset: does nothing).  The lines go out in
 * one write to a file opened for appending, so that suites running at the
 * same time do not interleave them. */
static void record_statuses(const e2e_daemon *d)
{
    const char *file = getenv("TRAIND_E2E_STATUSES");
    if (!file || !*file || !d->base[0])
        return;
    e2e_daemon as_admin = *d;
    snprintf(as_admin.token, sizeof as_admin.token, "%s", d->server_token);
    e2e_resp r = e2e_req(&as_admin, "GET", "/metrics", NULL, NULL, 0, NULL);
    if (r.status != 200) {
        /* a daemon that already died has nothing to say: the check of the
         * whole run fails when no suite recorded anything */
        fprintf(stderr, "e2e: GET /metrics before stopping answered %ld; not recorded\n",
                r.status);
        e2e_resp_free(&r);
        return;
    }
    size_t cap = r.len + 1, len = 0;
    char *out = malloc(cap), line[512];
    ck_assert_ptr_nonnull(out);
    for (char *p = r.body, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        if (status_line(p, line, sizeof line) && len + strlen(line) < cap) {
            memcpy(out + len, line, strlen(line));
            len += strlen(line);
        }
    }
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_msg(fd >= 0, "cannot open %s", file);
    ck_assert_msg(write(fd, out, len) == (ssize_t)len, "cannot write %s", file);
    close(fd);
    free(out);
    e2e_resp_free(&r);
}

void e2e_resp_free(e2e_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

json_t *e2e_wait_job(const e2e_daemon *d, long long id, const char *states, double timeout_s)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    for (double t0 = now(); now() - t0 < timeout_s; usleep(50000)) {
        e2e_resp r = e2e_get(d, path);
        if (r.status == 200 && r.json) {
            const char *s = e2e_str(r.json, "state");
            char want[128];
            snprintf(want, sizeof want, " %s ", states);
            char probe[32];
            snprintf(probe, sizeof probe, " %s ", s);
            if (strstr(want, probe)) {
                json_t *j = json_incref(r.json);
                e2e_resp_free(&r);
                return j;
            }
        }
        e2e_resp_free(&r);
    }
    return NULL;
}

long long e2e_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

const char *e2e_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

const char *e2e_log_tail(const e2e_daemon *d)
{
    static char tail[4097];
    tail[0] = 0;
    FILE *f = fopen(d->log, "r");
    if (!f)
        return "(no log)";
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, n > 4096 ? n - 4096 : 0, SEEK_SET);
    size_t got = fread(tail, 1, 4096, f);
    tail[got] = 0;
    fclose(f);
    return tail;
}

char *e2e_run_script(const e2e_daemon *d, const char *script, const char *env, int *exit_status)
{
    const char *src = getenv("TRAIND_SRCDIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "TRAIND_URL=%s%s%s %s bash %s/%s 2>&1", d->base,
             d->server_token[0] ? " TRAIND_TOKEN=" : "", d->server_token, env ? env : "",
             src && *src ? src : ".", script);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, n = 0, got;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) {
            out = realloc(out, cap *= 2);
            ck_assert_ptr_nonnull(out);
        }
    }
    out[n] = 0;
    int st = pclose(p);
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* The daemon's /proc status line `field` ("VmRSS:") in kB, -1 if absent. */
static long status_kb(const e2e_daemon *d, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n))
            kb = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

long e2e_rss_kb(const e2e_daemon *d)
{
    return status_kb(d, "VmRSS:");
}

long e2e_peak_rss_kb(const e2e_daemon *d)
{
    return status_kb(d, "VmHWM:");
}
