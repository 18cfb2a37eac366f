/*
 * Prometheus metrics: a fixed set of families (api.md), updated with atomics
 * from any thread and written in the text exposition format by /metrics.
 */
#ifndef ORCH_METRICS_H
#define ORCH_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"

/* Counters without labels. */
enum metric_counter {
	M_IDEMPOTENCY_REPLAYS,    /* answers replayed for a known Idempotency-Key */
	M_IDEMPOTENCY_CONFLICTS,  /* 422: key reused with another request */
	M_IDEMPOTENCY_IN_FLIGHT,  /* 409: key still being processed */
	M_REDIS_FAIL_OPEN,        /* requests that went on without Redis */
	M_LOAD_SHED,              /* 503 for the outbox backlog */
	M_DB_UNAVAILABLE,         /* 503 because PostgreSQL could not be reached */
	M_MESSAGES_ACCEPTED,      /* messages made QUEUED by the accept path */
	M_ACCEPT_BATCHES,         /* accept transactions committed */
	M_RELAY_PUBLISHED,        /* outbox rows published and acknowledged */
	M_RELAY_DUPLICATES,       /* of those, acknowledged as duplicates by JetStream */
	M_RELAY_ERRORS,           /* publish attempts that failed */
	M_RELAY_SUBMITTED,        /* messages moved ROUTED -> SUBMITTED on an operator acknowledgement */
	M_OUTBOX_PURGED,          /* published outbox rows deleted after the retention */
	M_PIPELINE_ROUTED,        /* messages made ROUTED */
	M_PIPELINE_RETRIES,       /* transient failures scheduled for a retry */
	M_DEAD_LETTERS,           /* messages made FAILED, REJECTED or EXPIRED by the pipeline */
	M_RETRIES_REQUEUED,       /* RETRY_SCHEDULED messages made QUEUED again by the scheduler */
	M_SCHEDULED_RELEASED,     /* SCHEDULED messages released (QUEUED, or EXPIRED) by the scheduler */
	M_CANCELED,               /* messages canceled by the API */
	M_HTTP_EVICTED,           /* idle HTTP connections closed to make room near the connection limit */
	M_NORMAL_YIELD_MS,        /* ms normal batches waited for high work in flight (flow.h) */
	M_RECONCILE_PASSES,       /* reconcile passes run by this process's reconciler role */
	M_RECONCILE_NEEDS_PERSON, /* messages those passes listed in needsPerson */
	M_COUNTER_COUNT
};

/* Gauges set by the monitor. */
enum metric_gauge {
	G_OUTBOX_BACKLOG,         /* pending outbox rows (estimate) */
	G_OUTBOX_OLDEST_AGE_MS,   /* age of the oldest pending row */
	G_POSTGRES_UP,
	G_REDIS_UP,
	G_NATS_UP,
	G_BREAKER_STATE,          /* 0 closed, 1 open, 2 half-open */
	G_ROUTING_IN_FLIGHT,      /* routing calls in flight */
	G_ROUTING_LIMIT,          /* the adaptive concurrency limit of routing calls */
	G_HTTP_CONNECTIONS,       /* open HTTP connections */
	G_OUTBOX_BACKLOG_LIMIT,   /* ORCH_MAX_BACKLOG: the backlog at which accepts get 503 */
	G_GAUGE_COUNT
};

void metrics_init(void);
void metrics_inc(enum metric_counter c, uint64_t n);
void metrics_set(enum metric_gauge g, int64_t v);
int64_t metrics_get(enum metric_gauge g);
/* One HTTP request: route label (static string), status, latency. */
void metrics_request(const char *route, int status, int64_t micros);
/* One accept transaction of n messages taking micros. */
void metrics_accept_batch(unsigned n, int64_t micros);
/* One routing-engine call: outcome "ok", "permanent" or "transient". */
void metrics_routing_call(const char *outcome, int64_t micros);
/*
 * Per-operator series (at most METRICS_MAX_OPERATORS operators; more are
 * counted under operator="other"): operator publishes acknowledged by
 * JetStream, and messages waiting for the operator's throughput limit.
 */
#define METRICS_MAX_OPERATORS 64
void metrics_operator_published(const char *operator_id, uint64_t n);
/* Sets the waiting gauges: every operator seen so far to 0, then these. */
void metrics_operator_waiting(const char *const *operator_ids, const int64_t *waiting, int n);
/* One message state change, from NULL for a new message; -1 for an unknown state name. */
int metrics_transition(const char *from, const char *to);
/*
 * The pipeline's JetStream consumers, by lane (0 normal, 1 high): messages
 * not yet delivered and delivered but not acknowledged; known false (the
 * consumer could not be read) drops the lane's series until the next read.
 */
void metrics_pipeline_lag(int lane, bool known, int64_t pending, int64_t ack_pending);
/* One finding of a pass of this process's reconciler: messages found (the summary's findings.<name>.found). */
void metrics_reconcile_finding(const char *finding, uint64_t found);
/* One relay batch of n rows taking micros. */
void metrics_relay_batch(unsigned n, int64_t micros);
/* The whole exposition. */
void metrics_write(struct buf *out);

#endif
