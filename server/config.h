/*
 * config.h — the daemon's settings: defaults, then environment variables,
 * then command-line flags (a flag wins over its variable).  Every limit the
 * handlers enforce lives here with its default, not as a literal elsewhere.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct config {
    char host[256];            /* --host, TRAIND_HOST: 127.0.0.1 */
    int port;                  /* --port, TRAIND_PORT: 8080 (0: any free port) */
    char db[1024];             /* --db, TRAIND_DB: ./traind.db */
    char upload_dir[1040];     /* --upload-dir, TRAIND_UPLOAD_DIR: uploads while parsed;
                                * "" at first means DB.uploads beside the database */
    int workers;               /* --workers, TRAIND_WORKERS: jobs at once, 1 */
    int threads;               /* --threads, TRAIND_THREADS: per job; 0: cores / workers */
    int64_t max_upload_mb;     /* --max-upload-mb: dataset uploads, 1024 */
    int64_t max_dataset_mb;    /* --max-dataset-mb: what an upload may become, as float32
                                * tensors (x and y); 0: 4 x max_upload_mb, at most 512 */
    int64_t max_body_mb;       /* --max-body-mb: other request bodies, 64 */
    int max_predict;           /* --max-predict: instances per predict call, 10000 */
    int64_t max_params;        /* --max-params: parameters of one model, 100 million */
    int max_connections;       /* --max-connections: 2048 */
    int max_connections_per_ip;   /* --max-connections-per-ip: 64 */
    int max_streams_per_ip;    /* --max-streams-per-ip: open event streams, 16 */
    int header_timeout;        /* --header-timeout: seconds for a request's headers, 10 */
    int min_body_rate;         /* --min-body-rate: bytes/s of a body after header_timeout, 1024 */
    int idle_timeout;          /* --idle-timeout: seconds without progress sending, 120 */
    int http_threads;          /* --http-threads: event-loop threads, 2 */
    int handler_threads;       /* --handler-threads: threads of the store/disk handlers, 8 */
    int sse_keepalive;         /* --sse-keepalive: seconds of silence before an event stream
                                * sends a keep-alive comment, 15 */
    char token[256];           /* --token, TRAIND_TOKEN: bearer token; "" none */
    char token_file[1024];     /* --token-file, TRAIND_TOKEN_FILE */
    int insecure;              /* --insecure, TRAIND_INSECURE: allow a public address without a token */
    char allowed_hosts[1024];  /* --allowed-hosts, TRAIND_ALLOWED_HOSTS: more names a request's
                                * Host (and Origin) may carry, comma-separated; "" none */
    char log_level[16];        /* --log-level, TRAIND_LOG_LEVEL: info */
    char log_format[16];       /* --log-format, TRAIND_LOG_FORMAT: text or json, text */
    char port_file[1024];      /* --port-file: write the port listened on (for tests) */
    int cores;                 /* online cores, detected */
} config;

void config_defaults(config *c);

/* Applies TRAIND_* variables, then the flags (argv[0] is the command name).
 * Reads the token file, checks the values and the thread budget.  Returns 0,
 * 1 after printing help (--help), or -1 with err set. */
int config_load(config *c, int argc, char **argv, char *err, size_t errlen);

/* The flags, their variables, defaults and meaning. */
void config_usage(FILE *f);

/* Whether host is a loopback address: an IPv4 literal in 127.0.0.0/8, the
 * IPv6 literal ::1 (or ::ffff:127.x.y.z), or the name localhost.  Any
 * other name counts as not loopback, whatever it resolves to today (a name
 * such as 127.0.0.1.nip.io is someone else's to point anywhere). */
int config_is_loopback(const char *host);

#endif
