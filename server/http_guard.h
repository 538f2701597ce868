/*
 * http_guard.h — what a request must be before it is routed at all: the
 * checks that keep a web page in the user's browser from driving a daemon
 * that has no token (cross-site requests, DNS rebinding), and the request
 * lines libmicrohttpd would misread (a NUL in the path, a query of
 * hundreds of parameters).
 *
 * http_guard_check runs first on every request, in this order:
 *
 *   1. the path: UTF-8 text without NUL, else 400 malformed_request (a %00
 *      used to cut the path short unseen: /v1/jobs/1%00/weights served job 1);
 *   2. the query: at most HTTP_GUARD_MAX_PARAMS parameters, else 414
 *      too_many_parameters (past ~450 the connection closed with no answer);
 *   3. the Host header: on a loopback listen address (--host 127.x.y.z,
 *      ::1, localhost) only a loopback Host (localhost, 127.x.y.z, [::1],
 *      any port) or one of --allowed-hosts; on another address, only when
 *      --allowed-hosts is given, one of those.  Else 403 forbidden_host.
 *      A rebinding page's requests carry its own name in Host.
 *   4. the Origin header, when there is one: the server's own (http or
 *      https, with the Host's host and port) or one whose host is in
 *      --allowed-hosts; else ("null" included) 403 forbidden_origin.
 *      Browsers send Origin on every cross-origin request but a plain GET.
 *   5. the content type of a state-changing request (POST, PUT, PATCH,
 *      DELETE): the types a page can send cross-origin without a CORS
 *      preflight (text/plain, application/x-www-form-urlencoded,
 *      multipart/form-data) are refused with 415 unsupported_media_type
 *      unless the route reads them (multipart on POST /v1/datasets, which
 *      the Origin check then protects).
 *
 * An --allowed-hosts entry is NAME (any port), NAME:PORT, [V6] or [V6]:PORT,
 * or "*" (any Host); names compare without case and without a final dot.
 * traind answers no CORS preflight: a page of another origin cannot call
 * it with a token or a JSON body, whatever is allowed here.
 */
#ifndef HTTP_GUARD_H
#define HTTP_GUARD_H

#include "http.h"

/* Query parameters one request may carry; the routes take at most five. */
#define HTTP_GUARD_MAX_PARAMS 32

/* Runs the checks above.  Returns 0 when the request may go on, else -1
 * after replying.  Sets r->route and r->id when the path has a route. */
int http_guard_check(http_req *r);

/* libmicrohttpd's MHD_OPTION_URI_LOG_CALLBACK: sees the request line's
 * URI before libmicrohttpd splits and decodes it (in place, in its own
 * buffer).  It marks what check 1 and 2 answer, by rewriting that buffer
 * without growing it: each %00 of the path becomes %C0 (a byte that is
 * never UTF-8), and a query of too many parameters becomes one marker
 * parameter that holds their count.  Returns NULL (no request context). */
void *http_guard_uri(void *cls, const char *uri, struct MHD_Connection *conn);

/* The rules of checks 3 and 4, for the tests: whether the Host header host
 * (NULL when absent) passes for a listen address that is loopback or not
 * and the --allowed-hosts list allowed; whether origin passes for that
 * Host. */
int http_guard_host_ok(const char *host, int loopback, const char *allowed);
int http_guard_origin_ok(const char *origin, const char *host, const char *allowed);

#endif
