/*
 * http_stats.c — the request counters (see http_stats.h): one slot per
 * route index below HTTP_STATS_MAX_ROUTES, the last slot for unmatched
 * requests.
 */
#include "http_stats.h"

#include <stdatomic.h>

const double http_stats_buckets[HTTP_STATS_N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01,
                                                         0.025, 0.05,   0.1,   0.25,
                                                         0.5,   1,      2.5,   10};

typedef struct slot {
    atomic_uint_fast64_t by_status[HTTP_STATS_N_STATUS];
    atomic_uint_fast64_t bucket[HTTP_STATS_N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
} slot;

static slot slots[HTTP_STATS_MAX_ROUTES + 1];

static slot *slot_of(int route)
{
    return &slots[route >= 0 && route < HTTP_STATS_MAX_ROUTES ? route : HTTP_STATS_MAX_ROUTES];
}

void http_stats_observe(int route, int status, double seconds)
{
    slot *s = slot_of(route);
    if (status >= HTTP_STATS_MIN_STATUS && status < HTTP_STATS_MIN_STATUS + HTTP_STATS_N_STATUS)
        atomic_fetch_add_explicit(&s->by_status[status - HTTP_STATS_MIN_STATUS], 1,
                                  memory_order_relaxed);
    int b = 0;
    while (b < HTTP_STATS_N_BUCKETS && seconds > http_stats_buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    if (seconds < 0)
        seconds = 0;
    atomic_fetch_add_explicit(&s->sum_us, (uint_fast64_t)(seconds * 1e6 + 0.5),
                              memory_order_relaxed);
}

void http_stats_read(int route, http_stats_slot *out)
{
    slot *s = slot_of(route);
    for (int c = 0; c < HTTP_STATS_N_STATUS; c++)
        out->by_status[c] = atomic_load_explicit(&s->by_status[c], memory_order_relaxed);
    for (int k = 0; k <= HTTP_STATS_N_BUCKETS; k++)
        out->bucket[k] = atomic_load_explicit(&s->bucket[k], memory_order_relaxed);
    out->sum_us = atomic_load_explicit(&s->sum_us, memory_order_relaxed);
}
