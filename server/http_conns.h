/*
 * http_conns.h — what http.c needs around libmicrohttpd's event loop: the
 * watch over every connection (a deadline for a request's headers and a
 * minimum body rate, which a trickle of bytes does not restart), the
 * threads that run the handlers which may take long, and the event streams
 * (their cap per client address, and their wake-ups while suspended).
 *
 * The watch is one thread.  Every WATCH_TICK_MS (and at every change of a
 * job) it shuts down (shutdown(2)) the socket of each connection past its
 * deadline, which libmicrohttpd then sees closed and cleans up, and it
 * resumes the event streams that are due: those whose keep-alive is due,
 * and all of them when a job changed.
 *
 * A connection's record is created and destroyed by libmicrohttpd's
 * connection notifications (on its event-loop thread) and lives in a list
 * under one mutex; the watch holds the mutex while it shuts a socket down,
 * and a record is unlinked under it before libmicrohttpd closes the socket,
 * so the watch never touches a descriptor that was closed and reused.
 */
#ifndef HTTP_CONNS_H
#define HTTP_CONNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct MHD_Connection;
typedef struct app app;
typedef struct http_conns http_conns;
typedef struct http_conn http_conn;
typedef struct http_stream_slot http_stream_slot;

/* Starts the watch and cfg.handler_threads handler threads. */
int http_conns_start(app *a, http_conns **out, char *err, size_t errlen);

/* Stops handing work off (later requests run on the event loop), waits for
 * the handlers running, ends the event streams (each is resumed and ends
 * at its next call) and stops the watch.  After it no connection is
 * suspended, as MHD_stop_daemon requires.  NULL is a no-op. */
void http_conns_drain(http_conns *c);

/* Frees (after MHD_stop_daemon).  NULL is a no-op. */
void http_conns_free(http_conns *c);

/* A connection opened (fd its socket) and closed: its record, kept by
 * libmicrohttpd as the connection's socket context. */
http_conn *http_conns_opened(http_conns *c, int fd);
void http_conns_closed(http_conns *c, http_conn *k);

/* The request's headers are in: its body must now come at the minimum
 * rate.  body adds received body bytes.  busy: the body is all in (the
 * handler runs, or the answer goes out): no deadline of ours applies.
 * idle: the answer is out; the next request's headers are due within the
 * header timeout from now.  Each takes NULL. */
void http_conn_headers_in(http_conn *k);
void http_conn_body(http_conn *k, size_t n);
void http_conn_busy(http_conn *k);
void http_conn_idle(http_conn *k);

/* Runs run(arg) on a handler thread: suspends conn first; run must resume
 * it (MHD_resume_connection) when done.  Returns -1 without suspending
 * when no handler thread takes work any more (the caller runs it). */
int http_conns_hand_off(http_conns *c, struct MHD_Connection *conn, void (*run)(void *),
                        void *arg);

/* An event stream from addr: its slot, or NULL when the address has
 * cfg.max_streams_per_ip open (or out of memory: *over_cap tells which). */
http_stream_slot *http_conns_stream_open(http_conns *c, const struct sockaddr *addr,
                                         int *over_cap);
/* Ends a stream's slot (its response is destroyed).  NULL is a no-op. */
void http_conns_stream_close(http_conns *c, http_stream_slot *s);
/* From the stream's content reader, which has nothing to send as of the
 * jobs' change counter seen: suspends conn until a job changes or wait_ms
 * pass, and returns 0.  Returns 1 without suspending when the counter
 * moved past seen already (the reader looks again), -1 once the streams
 * are ending (the reader ends the stream). */
int http_conns_stream_wait(http_conns *c, http_stream_slot *s, struct MHD_Connection *conn,
                           long wait_ms, uint64_t seen);

/* Open connections and event streams now, and the connections cut by a
 * deadline so far (for /metrics); zeros for NULL. */
void http_conns_counts(http_conns *c, int *connections, int *streams, uint64_t *cut);

#endif
