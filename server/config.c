/*
 * config.c — settings from defaults, environment and flags (see config.h).
 * One table describes every option: its flag, its variable, its type, where
 * it lands in the struct, its bounds and its help line.  Parsing, the
 * environment and the help text all come from that table.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

typedef struct opt {
    const char *flag, *env;
    enum opt_type type;
    size_t off, size;          /* where in struct config; size for strings and ints */
    long long min, max;
    const char *help;
} opt;

#define STR(field) OPT_STR, offsetof(config, field), sizeof(((config *)0)->field), 0, 0
#define INT(field, lo, hi) OPT_INT, offsetof(config, field), sizeof(((config *)0)->field), lo, hi
#define BOOL(field) OPT_BOOL, offsetof(config, field), sizeof(int), 0, 1

static const opt opts[] = {
    {"--host", "TRAIND_HOST", STR(host), "address to listen on (default 127.0.0.1)"},
    {"--port", "TRAIND_PORT", INT(port, 0, 65535), "TCP port (default 8080; 0 picks a free one)"},
    {"--db", "TRAIND_DB", STR(db), "SQLite database file (default ./traind.db)"},
    {"--upload-dir", "TRAIND_UPLOAD_DIR", STR(upload_dir),
     "where uploads are kept while parsed (default DB.uploads beside the database)"},
    {"--workers", "TRAIND_WORKERS", INT(workers, 1, 256), "jobs trained at once (default 1)"},
    {"--threads", "TRAIND_THREADS", INT(threads, 0, 256),
     "compute threads per job (default: cores / workers)"},
    {"--max-upload-mb", "TRAIND_MAX_UPLOAD_MB", INT(max_upload_mb, 1, 1 << 20),
     "largest dataset upload in MB (default 1024)"},
    {"--max-dataset-mb", "TRAIND_MAX_DATASET_MB", INT(max_dataset_mb, 1, 1 << 20),
     "largest dataset in MB as float32 tensors, checked while an upload is read (default "
     "4 x --max-upload-mb, at most 512)"},
    {"--max-body-mb", "TRAIND_MAX_BODY_MB", INT(max_body_mb, 1, 1 << 16),
     "largest other request body in MB (default 64)"},
    {"--max-predict", "TRAIND_MAX_PREDICT", INT(max_predict, 1, 10000000),
     "most instances per predict call (default 10000)"},
    {"--max-params", "TRAIND_MAX_PARAMS", INT(max_params, 1, (long long)1 << 34),
     "most trainable parameters of one model (default 100000000)"},
    {"--max-connections", "TRAIND_MAX_CONNECTIONS", INT(max_connections, 4, 65536),
     "most open HTTP connections (default 2048)"},
    {"--max-connections-per-ip", "TRAIND_MAX_CONNECTIONS_PER_IP",
     INT(max_connections_per_ip, 1, 65536), "most open connections from one address (default 64)"},
    {"--max-streams-per-ip", "TRAIND_MAX_STREAMS_PER_IP", INT(max_streams_per_ip, 1, 65536),
     "most open event streams from one address (default 16)"},
    {"--header-timeout", "TRAIND_HEADER_TIMEOUT", INT(header_timeout, 1, 3600),
     "seconds for a request's headers to arrive, from the connection's start or its last "
     "answer (default 10)"},
    {"--min-body-rate", "TRAIND_MIN_BODY_RATE", INT(min_body_rate, 0, 1 << 30),
     "bytes a second a request body must average after its first --header-timeout seconds "
     "(default 1024; 0: any)"},
    {"--idle-timeout", "TRAIND_IDLE_TIMEOUT", INT(idle_timeout, 1, 86400),
     "seconds a connection may make no progress while an answer is sent (default 120)"},
    {"--http-threads", "TRAIND_HTTP_THREADS", INT(http_threads, 1, 64),
     "event-loop threads serving the connections (default 2)"},
    {"--handler-threads", "TRAIND_HANDLER_THREADS", INT(handler_threads, 1, 256),
     "threads running the handlers that use the database or the disk (default 8)"},
    {"--sse-keepalive", "TRAIND_SSE_KEEPALIVE", INT(sse_keepalive, 1, 3600),
     "seconds of silence before an event stream sends a keep-alive (default 15)"},
    {"--token", "TRAIND_TOKEN", STR(token), "bearer token required on /v1 (default none)"},
    {"--token-file", "TRAIND_TOKEN_FILE", STR(token_file), "read the token from this file"},
    {"--insecure", "TRAIND_INSECURE", BOOL(insecure),
     "allow a non-loopback address without a token"},
    {"--allowed-hosts", "TRAIND_ALLOWED_HOSTS", STR(allowed_hosts),
     "more Host names to accept, comma-separated (NAME, NAME:PORT or *; default none)"},
    {"--log-level", "TRAIND_LOG_LEVEL", STR(log_level), "error, warn, info or debug (default info)"},
    {"--log-format", "TRAIND_LOG_FORMAT", STR(log_format),
     "text or json (one JSON object per line; default text)"},
    {"--port-file", "TRAIND_PORT_FILE", STR(port_file),
     "write the port listened on to this file once listening"},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 8080;
    snprintf(c->db, sizeof c->db, "./traind.db");
    c->workers = 1;
    c->threads = 0;
    c->max_upload_mb = 1024;
    c->max_body_mb = 64;
    c->max_predict = 10000;
    c->max_params = 100000000;
    c->max_connections = 2048;
    c->max_connections_per_ip = 64;
    c->max_streams_per_ip = 16;
    c->header_timeout = 10;
    c->min_body_rate = 1024;
    c->idle_timeout = 120;
    c->http_threads = 2;
    c->handler_threads = 8;
    c->sse_keepalive = 15;
    snprintf(c->log_level, sizeof c->log_level, "info");
    snprintf(c->log_format, sizeof c->log_format, "text");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->cores = n > 0 ? (int)n : 1;
}

static int set(config *c, const opt *o, const char *val, const char *src, char *err, size_t errlen)
{
    char *dst = (char *)c + o->off;
    if (o->type == OPT_STR) {
        if (strlen(val) >= o->size) {
            snprintf(err, errlen, "%s: value too long", src);
            return -1;
        }
        memcpy(dst, val, strlen(val) + 1);
        return 0;
    }
    if (o->type == OPT_BOOL) {
        int v = !strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes");
        if (!v && strcmp(val, "0") && strcmp(val, "false") && strcmp(val, "no") && *val) {
            snprintf(err, errlen, "%s: expected true or false, got '%s'", src, val);
            return -1;
        }
        *(int *)dst = v;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end || v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: expected a whole number from %lld to %lld, got '%s'", src,
                 o->min, o->max, val);
        return -1;
    }
    if (o->size == sizeof(int64_t))
        *(int64_t *)dst = v;
    else
        *(int *)dst = (int)v;
    return 0;
}

int config_is_loopback(const char *h)
{
    unsigned char a[16];
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET, h, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, h, a) == 1)
        return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a) ||
               (!memcmp(a, v4mapped, sizeof v4mapped) && a[12] == 127);
    return !strcasecmp(h, "localhost");
}

/* --allowed-hosts: entries of [A-Za-z0-9.:[]_-] (a name, an address, with
 * or without :PORT) or "*", separated by commas. */
static int check_allowed_hosts(const char *s, char *err, size_t errlen)
{
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, ",");
        int ok = n > 0;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)p[i]) || strchr(".:[]_-", p[i]) || (p[i] == '*' && n == 1);
        if (!ok) {
            snprintf(err, errlen,
                     "--allowed-hosts (TRAIND_ALLOWED_HOSTS): '%.*s' is not a host name, "
                     "NAME:PORT or *; separate entries with commas",
                     (int)(n > 200 ? 200 : n), p);
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int read_token_file(config *c, char *err, size_t errlen)
{
    FILE *f = fopen(c->token_file, "r");
    if (!f) {
        snprintf(err, errlen, "--token-file: cannot read %s: %s", c->token_file, strerror(errno));
        return -1;
    }
    size_t n = fread(c->token, 1, sizeof c->token - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    c->token[n] = 0;
    while (n > 0 && (c->token[n - 1] == '\n' || c->token[n - 1] == '\r' || c->token[n - 1] == ' '))
        c->token[--n] = 0;
    if (more || n == 0) {
        snprintf(err, errlen, "--token-file: %s must hold one token of 1 to %zu characters",
                 c->token_file, sizeof c->token - 1);
        return -1;
    }
    return 0;
}

int config_load(config *c, int argc, char **argv, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (v && *v && set(c, &opts[i], v, opts[i].env, err, errlen))
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            config_usage(stdout);
            return 1;
        }
        const opt *o = NULL;
        const char *val = NULL;
        for (size_t i = 0; i < N_OPTS && !o; i++) {
            size_t fl = strlen(opts[i].flag);
            if (!strncmp(argv[a], opts[i].flag, fl) && (argv[a][fl] == 0 || argv[a][fl] == '=')) {
                o = &opts[i];
                if (argv[a][fl] == '=')
                    val = argv[a] + fl + 1;
            }
        }
        if (!o) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", argv[a]);
            return -1;
        }
        if (!val && o->type == OPT_BOOL)
            val = "true";
        if (!val) {
            if (a + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", o->flag);
                return -1;
            }
            val = argv[++a];
        }
        if (set(c, o, val, o->flag, err, errlen))
            return -1;
    }
    if (c->token_file[0] && read_token_file(c, err, errlen))
        return -1;
    if (!*c->host || !*c->db) {
        snprintf(err, errlen, "--host and --db must not be empty");
        return -1;
    }
    if (strcmp(c->log_format, "text") && strcmp(c->log_format, "json")) {
        snprintf(err, errlen, "--log-format (TRAIND_LOG_FORMAT): expected text or json, got '%s'",
                 c->log_format);
        return -1;
    }
    if (check_allowed_hosts(c->allowed_hosts, err, errlen))
        return -1;
    if (!c->upload_dir[0])
        snprintf(c->upload_dir, sizeof c->upload_dir, "%s.uploads", c->db);
    /* 4x: a uint8 file (IDX, NPY) is 4 bytes a value as float32, so any
     * upload within the upload limit fits; the cap keeps what one upload
     * may cost in memory bounded whatever the upload limit */
    if (c->max_dataset_mb == 0)
        c->max_dataset_mb = c->max_upload_mb * 4 < 512 ? c->max_upload_mb * 4 : 512;
    if (c->threads == 0)
        c->threads = c->cores / c->workers > 0 ? c->cores / c->workers : 1;
    /* the training threads of all workers must fit the cores */
    if (c->workers * c->threads > c->cores) {
        snprintf(err, errlen,
                 "%d workers x %d threads = %d compute threads exceed the %d cores of this "
                 "machine; lower --workers or --threads",
                 c->workers, c->threads, c->workers * c->threads, c->cores);
        return -1;
    }
    if (!config_is_loopback(c->host) && !c->token[0] && !c->insecure) {
        snprintf(err, errlen,
                 "refusing to listen on %s without a token: set --token (or TRAIND_TOKEN, "
                 "--token-file), or pass --insecure",
                 c->host);
        return -1;
    }
    return 0;
}

void config_usage(FILE *f)
{
    fprintf(f, "usage: traind [serve] [options]\n\n"
               "Runs the training server. Every option can also be set by its environment\n"
               "variable; a flag wins over its variable.\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s", opts[i].flag,
                 opts[i].type == OPT_BOOL ? "" : opts[i].type == OPT_INT ? " N" : " VALUE");
        fprintf(f, "  %-24s %-24s %s\n", left, opts[i].env, opts[i].help);
    }
}
