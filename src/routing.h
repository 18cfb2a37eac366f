/*
 * The routing-engine client (routing.md) on the gRPC C core: one channel
 * that reconnects by itself, many calls in flight (asynchronous, one
 * completion queue served by one thread), a deadline on every call, and
 * the status mapping: NOT_FOUND and INVALID_ARGUMENT are permanent,
 * everything else that is not OK (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, ABORTED, INTERNAL, a failed connection, ...) is
 * transient. An answer whose operator id is not a NATS subject token is
 * permanent too (invalid_operator_id).
 *
 * protoc-c's service stubs are not gRPC: the method is called by name.
 */
#ifndef ORCH_ROUTING_H
#define ORCH_ROUTING_H

#include <stdbool.h>
#include <stdint.h>

enum route_outcome { ROUTE_OK, ROUTE_PERMANENT, ROUTE_TRANSIENT };

struct route_request {
	const char *message_id, *account_id, *destination, *sender; /* borrowed during routing_call */
	bool ucs2;
	unsigned segments;
	unsigned attempt; /* 0 on the first try */
	bool high; /* a high message's call: it takes the next free slot before any normal call waiting for one */
};

struct route_result {
	enum route_outcome outcome;
	int grpc_status;
	char operator_id[72];
	char route_id[128];
	int64_t cost_micros;
	char error_code[40]; /* e.g. no_route, invalid_argument, unavailable, invalid_operator_id */
	char detail[200];
	int64_t micros;      /* call duration */
};

/* Called once per call, on the client's completion-queue thread; result is borrowed. */
typedef void (*route_cb)(void *arg, const struct route_result *result);

struct routing;

/*
 * addr: host:port; max_in_flight: the most calls at once (the adaptive
 * limit of lib/limiter.h moves below it). NULL after logging why.
 */
struct routing *routing_start(const char *addr, int64_t timeout_ms, int max_in_flight);
/*
 * Starts one call; cb is always called, also when the call cannot start.
 * Blocks while the calls in flight are at the concurrency limit, so a burst
 * queues here instead of missing its deadlines at the engine.
 */
void routing_call(struct routing *r, const struct route_request *req, route_cb cb, void *arg);
/* Waits for the calls in flight, then frees. */
void routing_stop(struct routing *r);
/* True when s is a NATS subject token: [A-Za-z0-9_-]{1,64}. */
bool routing_operator_id_ok(const char *s);
/* Sends gRPC core's own log lines to the JSON logger (idempotent; routing_start calls it). */
void routing_log_init(void);

#endif
