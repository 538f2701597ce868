/*
 * http_stats.h — the request counters: for each route of the routing table
 * (by its index in http_routes) and one slot for requests that matched no
 * route, a count per status code (100..599) and a latency histogram (a
 * count per bucket, not cumulative, and the sum in microseconds).
 *
 * http.c counts each answer as it queues it; GET /metrics (metrics.c)
 * reads them.  The counters are process-wide relaxed atomics, updated on
 * any thread without a lock; a snapshot is read slot by slot, so a request
 * that arrives mid-read may be in one series and not yet in another.
 */
#ifndef HTTP_STATS_H
#define HTTP_STATS_H

#include <stdint.h>

/* The upper bounds of the latency histogram's buckets, in seconds. */
#define HTTP_STATS_N_BUCKETS 12
extern const double http_stats_buckets[HTTP_STATS_N_BUCKETS];

#define HTTP_STATS_MAX_ROUTES 64   /* routes counted; an index beyond counts as unmatched */
#define HTTP_STATS_MIN_STATUS 100
#define HTTP_STATS_N_STATUS 500    /* 100..599 */

/* Counts one answered request: route is its index in http_routes (-1 when
 * none matched), status its HTTP status, seconds from the request's start
 * until its answer was queued. */
void http_stats_observe(int route, int status, double seconds);

/* One slot's counts: by_status[s - 100]; bucket[HTTP_STATS_N_BUCKETS] is
 * the count above every bound. */
typedef struct http_stats_slot {
    uint64_t by_status[HTTP_STATS_N_STATUS];
    uint64_t bucket[HTTP_STATS_N_BUCKETS + 1];
    uint64_t sum_us;
} http_stats_slot;

/* Reads the slot of a route (-1: the unmatched requests). */
void http_stats_read(int route, http_stats_slot *out);

#endif
