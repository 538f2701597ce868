/*
 * metrics.h — GET /metrics: what the daemon knows about itself in the
 * Prometheus text format (version 0.0.4):
 *
 *   traind_build_info, traind_start_time_seconds, traind_uptime_seconds
 *   traind_jobs{state}, traind_queue_depth, traind_workers
 *   traind_job_epoch{job}, traind_job_epochs{job}, traind_job_progress_ratio{job},
 *   traind_job_samples_per_second{job}          (each running job)
 *   traind_training_steps_total, traind_training_epochs_total
 *   traind_database_up, traind_database_size_bytes
 *   traind_http_connections, traind_event_streams, traind_http_connections_cut_total
 *   traind_http_requests_total{method,route,code}
 *   traind_http_request_duration_seconds{method,route}   (a histogram)
 *
 * Requests are counted by their route's pattern ("/v1/jobs/{id}"), never by
 * the raw path, so that the number of series stays bounded: a request that
 * matches no route counts as method="other", route="unmatched".  The HTTP
 * counters are http_stats.h's, which http.c updates.
 */
#ifndef METRICS_H
#define METRICS_H

#include "http.h"

/* Writes the exposition text; the caller frees.  NULL when out of memory. */
char *metrics_render(app *a, size_t *len);

/* GET /metrics */
MHD_RESULT metrics_get(http_req *r);

#endif
