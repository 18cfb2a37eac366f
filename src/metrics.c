/*
 * Metrics (see metrics.h). Counters and histogram buckets are relaxed
 * atomics; the request counter table (route x status) is small and fixed
 * in size, found by a short scan under a mutex.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/banned.h"

#define MAX_REQUEST_SERIES 128

struct histogram {
	const double *bounds; /* seconds */
	int nbounds;
	_Atomic uint64_t buckets[16];
	_Atomic uint64_t count;
	_Atomic uint64_t sum; /* microseconds for a latency, units for a size */
};

struct request_series {
	const char *route;
	int status;
	_Atomic uint64_t n;
};

/* 0.5 ms (a GET on a warm pool) to 10 s (a saturated accept queue); the routing deadline (250 ms) sits on a bound. */
static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const double batch_size_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 };

static _Atomic uint64_t counters[M_COUNTER_COUNT];
static _Atomic int64_t gauges[G_GAUGE_COUNT];
static struct histogram accept_latency = { latency_bounds, 14 };
static struct histogram batch_latency = { latency_bounds, 14 };
static struct histogram batch_size = { batch_size_bounds, 11 };
static struct histogram relay_size = { batch_size_bounds, 11 };
static struct histogram relay_latency = { latency_bounds, 14 };
static struct histogram routing_latency = { latency_bounds, 14 };
static _Atomic uint64_t routing_outcomes[3];
/* Message states of domain.md; "none" is the previous state of a new message. */
static const char *const state_names[] = { "none", "QUEUED", "ROUTED", "SUBMITTED", "RETRY_SCHEDULED",
					   "FAILED", "REJECTED", "EXPIRED", "SCHEDULED", "CANCELED" };
#define NSTATES ((int)(sizeof(state_names) / sizeof(state_names[0])))
static _Atomic uint64_t transitions[NSTATES][NSTATES];
/* The allowed transitions (domain.md), written even at 0 so that rate() and alerts see them from the start. */
static const char allowed[NSTATES][NSTATES] = {
	[0] = { [1] = 1, [8] = 1 },
	[1] = { [2] = 1, [4] = 1, [5] = 1, [6] = 1, [7] = 1, [9] = 1 },
	[2] = { [3] = 1, [5] = 1, [7] = 1 },
	[4] = { [1] = 1, [5] = 1, [7] = 1, [9] = 1 },
	[8] = { [1] = 1, [7] = 1, [9] = 1 },
};
static const char *const routing_outcome_names[3] = { "ok", "permanent", "transient" };
struct operator_series {
	char id[65];
	_Atomic uint64_t published;
	_Atomic int64_t waiting;
};
static struct operator_series operators[METRICS_MAX_OPERATORS + 1]; /* the last: "other" */
static int noperators;
static pthread_mutex_t operators_lock = PTHREAD_MUTEX_INITIALIZER;
/* The pipeline's consumers by lane; the reconciler's findings, the names of sql/070_reconcile.sql
 * written at 0 from the start (so that increase() sees a first pass), a new name added when seen. */
static const char *const lane_names[2] = { "normal", "high" };
static struct {
	_Atomic bool known;
	_Atomic int64_t pending, ack_pending;
} lanes[2];
#define MAX_FINDINGS 32
static const char *const known_findings[] = { "routed_published", "routed_past_window", "routed_in_window",
					      "routed_never_attempted", "routed_without_row", "expired",
					      "operator_row_withdrawn", "queued_stuck", "queued_waiting", "retry_overdue",
					      "scheduled_overdue", "operator_limit_waiting", "partition_default_rows" };
static struct {
	char name[48];
	uint64_t found;
} findings[MAX_FINDINGS];
static int nfindings = -1; /* -1: the known names not yet filled in */
static pthread_mutex_t findings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct request_series series[MAX_REQUEST_SERIES];
static int nseries;
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct { const char *name, *help; } counter_info[M_COUNTER_COUNT] = {
	[M_IDEMPOTENCY_REPLAYS] = { "orch_idempotency_replays_total", "Answers replayed for a known Idempotency-Key" },
	[M_IDEMPOTENCY_CONFLICTS] = { "orch_idempotency_conflicts_total", "Idempotency-Key reused with another request (422)" },
	[M_IDEMPOTENCY_IN_FLIGHT] = { "orch_idempotency_in_flight_total", "Idempotency-Key still in flight (409)" },
	[M_REDIS_FAIL_OPEN] = { "orch_redis_fail_open_total", "Requests accepted without Redis (PostgreSQL backstop only)" },
	[M_LOAD_SHED] = { "orch_load_shed_total", "Requests refused with 503 because the outbox backlog is over ORCH_MAX_BACKLOG" },
	[M_DB_UNAVAILABLE] = { "orch_db_unavailable_total", "Requests refused with 503 because PostgreSQL could not be reached" },
	[M_MESSAGES_ACCEPTED] = { "orch_messages_accepted_total", "Messages accepted (made QUEUED)" },
	[M_ACCEPT_BATCHES] = { "orch_accept_transactions_total", "Accept transactions committed (several requests share one)" },
	[M_RELAY_PUBLISHED] = { "orch_relay_published_total", "Outbox rows published to JetStream and acknowledged" },
	[M_RELAY_DUPLICATES] = { "orch_relay_duplicates_total", "Publishes JetStream acknowledged as duplicates (a republish inside the window)" },
	[M_RELAY_ERRORS] = { "orch_relay_errors_total", "Outbox publish attempts that failed (row kept, retried)" },
	[M_RELAY_SUBMITTED] = { "orch_relay_submitted_total", "Messages moved ROUTED -> SUBMITTED on the operator publish acknowledgement" },
	[M_OUTBOX_PURGED] = { "orch_outbox_purged_total", "Published outbox rows deleted after ORCH_OUTBOX_RETENTION" },
	[M_PIPELINE_ROUTED] = { "orch_pipeline_routed_total", "Messages made ROUTED by the pipeline" },
	[M_PIPELINE_RETRIES] = { "orch_retries_scheduled_total", "Transient routing failures scheduled for a retry (RETRY_SCHEDULED)" },
	[M_DEAD_LETTERS] = { "orch_dead_letters_total", "Messages made FAILED, REJECTED or EXPIRED by the pipeline (each with a dead letter)" },
	[M_RETRIES_REQUEUED] = { "orch_retries_requeued_total", "RETRY_SCHEDULED messages made QUEUED again when due" },
	[M_SCHEDULED_RELEASED] = { "orch_scheduled_released_total", "SCHEDULED messages released by the scheduler (made QUEUED, or EXPIRED when past valid_until)" },
	[M_CANCELED] = { "orch_messages_canceled_total", "Messages canceled by their client (made CANCELED)" },
	[M_HTTP_EVICTED] = { "orch_http_idle_connections_closed_total", "Idle HTTP connections closed to make room near ORCH_HTTP_MAX_CONNECTIONS" },
	[M_NORMAL_YIELD_MS] = { "orch_normal_yield_ms_total", "Milliseconds normal pipeline batches and the relay's normal batches waited for high-priority work in flight in this process (at most 50 ms at a time), and normal pipeline and relay batches for a scheduled release burst (at most 2 s)" },
	[M_RECONCILE_PASSES] = { "orch_reconcile_passes_total", "Reconcile passes run by this process's reconciler role (cron passes are not counted)" },
	[M_RECONCILE_NEEDS_PERSON] = { "orch_reconcile_needs_person_total", "Messages those passes listed in needsPerson (stuck in a way no repair covers)" },
};

static const struct { const char *name, *help; } gauge_info[G_GAUGE_COUNT] = {
	[G_OUTBOX_BACKLOG] = { "orch_outbox_backlog", "Unpublished outbox rows (estimate from the oldest and newest pending id)" },
	[G_OUTBOX_OLDEST_AGE_MS] = { "orch_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row" },
	[G_POSTGRES_UP] = { "orch_postgres_up", "1 when PostgreSQL answered the last check" },
	[G_REDIS_UP] = { "orch_redis_up", "1 when Redis answered the last check" },
	[G_NATS_UP] = { "orch_nats_up", "1 when connected to NATS" },
	[G_BREAKER_STATE] = { "orch_circuit_breaker_state", "routing-engine circuit breaker: 0 closed, 1 open (not fetching), 2 half-open (probing)" },
	[G_ROUTING_IN_FLIGHT] = { "orch_routing_in_flight", "routing-engine calls in flight" },
	[G_ROUTING_LIMIT] = { "orch_routing_concurrency_limit", "adaptive limit of routing-engine calls in flight (at most ORCH_ROUTING_MAX_INFLIGHT)" },
	[G_HTTP_CONNECTIONS] = { "orch_http_connections", "open HTTP connections (at most ORCH_HTTP_MAX_CONNECTIONS)" },
	[G_OUTBOX_BACKLOG_LIMIT] = { "orch_outbox_backlog_limit", "ORCH_MAX_BACKLOG: the outbox backlog at which the accept routes answer 503" },
};

void metrics_init(void)
{
	for (int i = 0; i < G_GAUGE_COUNT; i++)
		atomic_store(&gauges[i], 0);
}

void metrics_inc(enum metric_counter c, uint64_t n) { atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed); }
void metrics_set(enum metric_gauge g, int64_t v) { atomic_store_explicit(&gauges[g], v, memory_order_relaxed); }
int64_t metrics_get(enum metric_gauge g) { return atomic_load_explicit(&gauges[g], memory_order_relaxed); }

static void observe(struct histogram *h, double value, int64_t sum)
{
	for (int i = 0; i < h->nbounds; i++) {
		if (value <= h->bounds[i]) {
			atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
			break;
		}
	}
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, (uint64_t)sum, memory_order_relaxed);
}

void metrics_request(const char *route, int status, int64_t micros)
{
	struct request_series *s = NULL;
	pthread_mutex_lock(&series_lock);
	for (int i = 0; i < nseries && !s; i++) {
		if (series[i].status == status && strcmp(series[i].route, route) == 0)
			s = &series[i];
	}
	if (!s && nseries < MAX_REQUEST_SERIES) {
		s = &series[nseries++];
		s->route = route;
		s->status = status;
	}
	pthread_mutex_unlock(&series_lock);
	if (s)
		atomic_fetch_add_explicit(&s->n, 1, memory_order_relaxed);
	if (strncmp(route, "POST /v1/sms/", 13) == 0 && status == 202)
		observe(&accept_latency, (double)micros / 1e6, micros);
}

void metrics_accept_batch(unsigned n, int64_t micros)
{
	observe(&batch_size, n, n);
	observe(&batch_latency, (double)micros / 1e6, micros);
	metrics_inc(M_ACCEPT_BATCHES, 1);
}

void metrics_routing_call(const char *outcome, int64_t micros)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(outcome, routing_outcome_names[i]) == 0)
			atomic_fetch_add_explicit(&routing_outcomes[i], 1, memory_order_relaxed);
	}
	observe(&routing_latency, (double)micros / 1e6, micros);
}

static int state_index(const char *name)
{
	for (int i = 1; i < NSTATES; i++) {
		if (name && strcmp(name, state_names[i]) == 0)
			return i;
	}
	return name ? -1 : 0;
}

int metrics_transition(const char *from, const char *to)
{
	int f = state_index(from), t = state_index(to);
	if (f < 0 || t <= 0)
		return -1;
	atomic_fetch_add_explicit(&transitions[f][t], 1, memory_order_relaxed);
	return 0;
}

static void write_transitions(struct buf *out)
{
	buf_adds(out, "# HELP orch_message_transitions_total Message state changes by previous and new state "
		      "(counted when the status event is published)\n"
		      "# TYPE orch_message_transitions_total counter\n");
	for (int f = 0; f < NSTATES; f++) {
		for (int t = 1; t < NSTATES; t++) {
			uint64_t n = atomic_load_explicit(&transitions[f][t], memory_order_relaxed);
			if (n || allowed[f][t])
				buf_addf(out, "orch_message_transitions_total{from=\"%s\",to=\"%s\"} %llu\n", state_names[f],
					 state_names[t], (unsigned long long)n);
		}
	}
}

void metrics_pipeline_lag(int lane, bool known, int64_t pending, int64_t ack_pending)
{
	if (lane < 0 || lane > 1)
		return;
	atomic_store(&lanes[lane].pending, pending);
	atomic_store(&lanes[lane].ack_pending, ack_pending);
	atomic_store(&lanes[lane].known, known);
}

static void findings_fill(void) /* under findings_lock */
{
	if (nfindings >= 0)
		return;
	nfindings = 0;
	for (size_t i = 0; i < sizeof(known_findings) / sizeof(known_findings[0]); i++)
		snprintf(findings[nfindings++].name, sizeof(findings[0].name), "%s", known_findings[i]);
}

void metrics_reconcile_finding(const char *finding, uint64_t found)
{
	pthread_mutex_lock(&findings_lock);
	findings_fill();
	int i = 0;
	while (i < nfindings && strcmp(findings[i].name, finding) != 0)
		i++;
	bool plain = finding[0] != '\0' && strspn(finding, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(finding);
	if (i == nfindings && plain && nfindings < MAX_FINDINGS && strlen(finding) < sizeof(findings[0].name))
		snprintf(findings[nfindings++].name, sizeof(findings[0].name), "%s", finding);
	if (i < nfindings)
		findings[i].found += found;
	pthread_mutex_unlock(&findings_lock);
}

static void write_pipeline_and_findings(struct buf *out)
{
	buf_adds(out, "# HELP orch_pipeline_pending Messages in SMS_OUTBOUND not yet delivered to the pipeline's consumer of the lane "
		      "(from the consumer's info, every second)\n"
		      "# TYPE orch_pipeline_pending gauge\n");
	for (int i = 0; i < 2; i++)
		if (atomic_load(&lanes[i].known))
			buf_addf(out, "orch_pipeline_pending{lane=\"%s\"} %lld\n", lane_names[i],
				 (long long)atomic_load(&lanes[i].pending));
	buf_adds(out, "# HELP orch_pipeline_ack_pending Messages delivered to the pipeline's consumer of the lane and not yet acknowledged\n"
		      "# TYPE orch_pipeline_ack_pending gauge\n");
	for (int i = 0; i < 2; i++)
		if (atomic_load(&lanes[i].known))
			buf_addf(out, "orch_pipeline_ack_pending{lane=\"%s\"} %lld\n", lane_names[i],
				 (long long)atomic_load(&lanes[i].ack_pending));
	buf_adds(out, "# HELP orch_reconcile_findings_total Messages found by this process's reconcile passes, by finding "
		      "(operator_limit_waiting is not a fault)\n"
		      "# TYPE orch_reconcile_findings_total counter\n");
	pthread_mutex_lock(&findings_lock);
	findings_fill();
	for (int i = 0; i < nfindings; i++)
		buf_addf(out, "orch_reconcile_findings_total{finding=\"%s\"} %llu\n", findings[i].name,
			 (unsigned long long)findings[i].found);
	pthread_mutex_unlock(&findings_lock);
}

void metrics_relay_batch(unsigned n, int64_t micros)
{
	observe(&relay_size, n, n);
	observe(&relay_latency, (double)micros / 1e6, micros);
}

static void write_histogram(struct buf *out, const char *name, const char *help, struct histogram *h, bool seconds)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (int i = 0; i < h->nbounds; i++) {
		cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		buf_addf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
	}
	uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
	buf_addf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)count);
	uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
	if (seconds)
		buf_addf(out, "%s_sum %.6f\n", name, (double)sum / 1e6);
	else
		buf_addf(out, "%s_sum %llu\n", name, (unsigned long long)sum);
	buf_addf(out, "%s_count %llu\n", name, (unsigned long long)count);
}

/* The series of an operator, made on first sight (under operators_lock). */
static struct operator_series *operator_series(const char *id)
{
	for (int i = 0; i < noperators; i++)
		if (strcmp(operators[i].id, id) == 0)
			return &operators[i];
	if (noperators == METRICS_MAX_OPERATORS || strlen(id) >= sizeof(operators[0].id)) {
		snprintf(operators[METRICS_MAX_OPERATORS].id, sizeof(operators[0].id), "other");
		return &operators[METRICS_MAX_OPERATORS];
	}
	struct operator_series *o = &operators[noperators++];
	snprintf(o->id, sizeof(o->id), "%s", id);
	return o;
}

void metrics_operator_published(const char *operator_id, uint64_t n)
{
	pthread_mutex_lock(&operators_lock);
	atomic_fetch_add_explicit(&operator_series(operator_id)->published, n, memory_order_relaxed);
	pthread_mutex_unlock(&operators_lock);
}

void metrics_operator_waiting(const char *const *operator_ids, const int64_t *waiting, int n)
{
	pthread_mutex_lock(&operators_lock);
	for (int i = 0; i <= METRICS_MAX_OPERATORS; i++)
		atomic_store(&operators[i].waiting, 0);
	for (int i = 0; i < n; i++)
		atomic_fetch_add(&operator_series(operator_ids[i])->waiting, waiting[i]);
	pthread_mutex_unlock(&operators_lock);
}

static void write_operators(struct buf *out)
{
	pthread_mutex_lock(&operators_lock);
	int n = noperators;
	bool other = operators[METRICS_MAX_OPERATORS].id[0] != '\0';
	buf_adds(out, "# HELP orch_operator_published_total Publishes to smpp.operator.<operator> acknowledged by JetStream\n"
		      "# TYPE orch_operator_published_total counter\n");
	for (int i = 0; i <= METRICS_MAX_OPERATORS; i++)
		if (i < n || (i == METRICS_MAX_OPERATORS && other))
			buf_addf(out, "orch_operator_published_total{operator=\"%s\"} %llu\n", operators[i].id,
				 (unsigned long long)atomic_load(&operators[i].published));
	buf_adds(out, "# HELP orch_operator_waiting Messages ROUTED and waiting for their operator's throughput limit\n"
		      "# TYPE orch_operator_waiting gauge\n");
	for (int i = 0; i <= METRICS_MAX_OPERATORS; i++)
		if (i < n || (i == METRICS_MAX_OPERATORS && other))
			buf_addf(out, "orch_operator_waiting{operator=\"%s\"} %lld\n", operators[i].id,
				 (long long)atomic_load(&operators[i].waiting));
	pthread_mutex_unlock(&operators_lock);
}

void metrics_write(struct buf *out)
{
	write_operators(out);
	buf_adds(out, "# HELP orch_http_requests_total HTTP requests by route and status\n"
		      "# TYPE orch_http_requests_total counter\n");
	pthread_mutex_lock(&series_lock);
	for (int i = 0; i < nseries; i++)
		buf_addf(out, "orch_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", series[i].route,
			 series[i].status, (unsigned long long)atomic_load(&series[i].n));
	pthread_mutex_unlock(&series_lock);
	write_histogram(out, "orch_accept_latency_seconds", "Time from request to 202 on the accept routes",
			&accept_latency, true);
	write_histogram(out, "orch_accept_transaction_seconds", "Duration of one accept transaction (group commit)",
			&batch_latency, true);
	write_histogram(out, "orch_accept_transaction_messages", "Messages per accept transaction", &batch_size, false);
	write_histogram(out, "orch_relay_batch_rows", "Outbox rows per relay batch", &relay_size, false);
	write_histogram(out, "orch_relay_batch_seconds", "Duration of one relay batch (claim, publish, acknowledgements, mark)",
			&relay_latency, true);
	write_histogram(out, "orch_routing_call_seconds", "Duration of routing-engine SelectRoute calls", &routing_latency, true);
	buf_adds(out, "# HELP orch_routing_calls_total routing-engine calls by outcome (transient failures are retried)\n"
		      "# TYPE orch_routing_calls_total counter\n");
	for (int i = 0; i < 3; i++)
		buf_addf(out, "orch_routing_calls_total{outcome=\"%s\"} %llu\n", routing_outcome_names[i],
			 (unsigned long long)atomic_load(&routing_outcomes[i]));
	write_transitions(out);
	write_pipeline_and_findings(out);
	for (int i = 0; i < M_COUNTER_COUNT; i++)
		buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[i].name, counter_info[i].help,
			 counter_info[i].name, counter_info[i].name, (unsigned long long)atomic_load(&counters[i]));
	for (int i = 0; i < G_GAUGE_COUNT; i++) {
		int64_t v = atomic_load(&gauges[i]);
		buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", gauge_info[i].name, gauge_info[i].help, gauge_info[i].name);
		if (i == G_OUTBOX_OLDEST_AGE_MS)
			buf_addf(out, "%s %.3f\n", gauge_info[i].name, (double)v / 1000.0);
		else
			buf_addf(out, "%s %lld\n", gauge_info[i].name, (long long)v);
	}
}
