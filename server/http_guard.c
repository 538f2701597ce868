/*
 * http_guard.c — the checks before routing (see http_guard.h).
 *
 * A Host or Origin is taken apart into a host (lower case, without the
 * brackets of an IPv6 literal and without a final dot) and a port (digits,
 * or "" when none is given); an Origin's missing port is its scheme's
 * (80 for http, 443 for https), and a Host without a port is compared with
 * an Origin as if it had that same default.
 */
#include "http_guard.h"

#include "app.h"
#include "jsonlite.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The query parameter http_guard_uri leaves for a query of too many: no
 * route takes it, and its value is their count. */
#define TOO_MANY_MARKER "traind-too-many-parameters"

typedef struct hostport {
    char host[256];
    char port[8];
} hostport;

/* "name", "name:port", "[v6]" or "[v6]:port" (n bytes of s) into hp;
 * -1 when it is none of them. */
static int split_hostport(const char *s, size_t n, hostport *hp)
{
    const char *h = s, *colon = NULL;
    size_t hn;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return -1;
        h = s + 1;
        hn = (size_t)(rb - h);
        if (rb + 1 < s + n) {
            if (rb[1] != ':')
                return -1;
            colon = rb + 1;
        }
    } else {
        colon = memchr(s, ':', n);
        hn = colon ? (size_t)(colon - s) : n;
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
            return -1;   /* an IPv6 literal without brackets */
    }
    size_t pn = colon ? n - (size_t)(colon + 1 - s) : 0;
    if (hn && h[hn - 1] == '.')
        hn--;
    if (hn == 0 || hn >= sizeof hp->host || pn >= sizeof hp->port || (colon && pn == 0))
        return -1;
    for (size_t i = 0; i < hn; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c >= 0x7f || strchr("/?#@\\[]", c))
            return -1;
        hp->host[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    hp->host[hn] = 0;
    for (size_t i = 0; i < pn; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
    memcpy(hp->port, colon ? colon + 1 : "", pn);
    hp->port[pn] = 0;
    return 0;
}

/* localhost, 127.0.0.0/8, ::1 */
static int loopback_host(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1)
        return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
    return !strcmp(host, "localhost");
}

/* Whether host and port (port "" when not known) match an entry of the
 * --allowed-hosts list. */
static int allowed_match(const hostport *hp, const char *allowed)
{
    for (const char *p = allowed; *p;) {
        size_t n = strcspn(p, ",");
        hostport e;
        if (n == 1 && *p == '*')
            return 1;
        if (n && split_hostport(p, n, &e) == 0 && !strcmp(e.host, hp->host) &&
            (!e.port[0] || !strcmp(e.port, hp->port)))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int http_guard_host_ok(const char *host, int loopback, const char *allowed)
{
    hostport hp;
    if (!loopback && !allowed[0])
        return 1;
    if (!host || split_hostport(host, strlen(host), &hp))
        return 0;
    /* no page of another site can make a browser send a loopback Host */
    return loopback_host(hp.host) || allowed_match(&hp, allowed);
}

int http_guard_origin_ok(const char *origin, const char *host, const char *allowed)
{
    if (!origin)
        return 1;
    const char *dflt;
    size_t skip;
    if (!strncasecmp(origin, "http://", 7))
        dflt = "80", skip = 7;
    else if (!strncasecmp(origin, "https://", 8))
        dflt = "443", skip = 8;
    else
        return 0;   /* "null" (a sandboxed or file: page), or not an origin */
    const char *auth = origin + skip;
    hostport o, h;
    if (strchr(auth, '/') || split_hostport(auth, strlen(auth), &o))
        return 0;
    if (!o.port[0])
        snprintf(o.port, sizeof o.port, "%s", dflt);
    if (host && split_hostport(host, strlen(host), &h) == 0) {
        if (!h.port[0])
            snprintf(h.port, sizeof h.port, "%s", dflt);
        if (!strcmp(o.host, h.host) && !strcmp(o.port, h.port))
            return 1;
    }
    return allowed_match(&o, allowed);
}

void *http_guard_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls, (void)conn;
    /* libmicrohttpd 0.9.75 hands over the request line's own buffer (its
     * const is only the callback's type), and reads it after this returns */
    char *u = (char *)uri;
    char *q = strchr(u, '?');
    char *end = q ? q : u + strlen(u);
    for (char *p = u; p + 2 < end; p++)
        if (p[0] == '%' && p[1] == '0' && p[2] == '0')
            p[1] = 'C';
    if (!q)
        return NULL;
    size_t n = 1, len = strlen(q + 1);
    for (const char *p = q + 1; *p; p++)
        n += *p == '&';
    /* more than 32 parameters take 64 bytes or more: the marker fits */
    if (n > HTTP_GUARD_MAX_PARAMS)
        snprintf(q + 1, len + 1, TOO_MANY_MARKER "=%zu", n);
    return NULL;
}

/* 1: the path */
static int path_ok(http_req *r)
{
    size_t n = strlen(r->path);
    if (jl_utf8_valid(r->path, n) == n)
        return 0;
    http_reply_error(r, 400, "malformed_request", NULL,
                     "the path '%s' is not UTF-8 text without NUL bytes (a %%00, or bytes "
                     "that are not UTF-8)", r->path);
    return -1;
}

/* 2: the query */
static int query_count_ok(http_req *r)
{
    const char *n = http_query(r, TOO_MANY_MARKER);
    if (!n)
        return 0;
    http_reply_error(r, 414, "too_many_parameters", NULL,
                     "the query has %s parameters; a request takes at most %d", n,
                     HTTP_GUARD_MAX_PARAMS);
    return -1;
}

/* 3 and 4: Host and Origin */
static int sender_ok(http_req *r)
{
    const config *c = &r->app->cfg;
    const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
    const char *origin = http_header(r, "Origin");
    if (!http_guard_host_ok(host, config_is_loopback(c->host), c->allowed_hosts)) {
        http_reply_error(r, 403, "forbidden_host", NULL,
                         "the Host header ('%.200s') is not a name of this server: it answers "
                         "localhost, 127.x.y.z, [::1] and the names of --allowed-hosts",
                         host ? host : "none");
        return -1;
    }
    if (!http_guard_origin_ok(origin, host, c->allowed_hosts)) {
        http_reply_error(r, 403, "forbidden_origin", NULL,
                         "the Origin header ('%.200s') is not this server's own (http://%.200s) "
                         "nor one of --allowed-hosts",
                         origin, host ? host : "");
        return -1;
    }
    return 0;
}

/* 5: a body type that a page may send anywhere without asking first */
static int content_type_ok(http_req *r)
{
    static const char *const simple[] = {"text/plain", "application/x-www-form-urlencoded",
                                         "multipart/form-data"};
    const char *m = r->method;
    if (strcmp(m, "POST") && strcmp(m, "PUT") && strcmp(m, "PATCH") && strcmp(m, "DELETE"))
        return 0;
    const route *rt = r->route;
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!rt || !ct)
        return 0;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (n != strlen(simple[i]) || strncasecmp(ct, simple[i], n))
            continue;
        if (rt->body == BODY_UPLOAD && i == 2)
            return 0;
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "%s %s does not take a Content-Type of %s%s", m, rt->pattern, simple[i],
                         rt->body == BODY_NONE ? ": send no body and no Content-Type"
                         : rt->body == BODY_JSON ? ": send application/json"
                                                 : "");
        return -1;
    }
    return 0;
}

int http_guard_check(http_req *r)
{
    /* the route, when there is one, for the counters of /metrics and the
     * content type rule (the caller routes again and answers 404 and 405) */
    int known;
    r->route = http_route_find(r->method, r->path, &r->id, &known, NULL, 0);
    if (path_ok(r) || query_count_ok(r) || sender_ok(r) || content_type_ok(r))
        return -1;
    return 0;
}
