/*
 * The routing-engine client (see routing.h). Each call is a struct call
 * used as the completion-queue tag: one batch (send metadata, message and
 * close; receive metadata, message and status), and the cq thread turns
 * its completion into a struct route_result.
 */
#include "routing.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghasi/routing/v1/routing.pb-c.h"
#include "lib/limiter.h"
#include "lib/slots.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "metrics.h"
#include "lib/banned.h"

#define METHOD "/ghasi.routing.v1.RoutingEngine/SelectRoute"
#define ROUTING_INITIAL_LIMIT 16
#define ROUTING_MIN_LIMIT 4

struct routing {
	grpc_channel *channel;
	grpc_completion_queue *cq;
	pthread_t thread;
	int64_t timeout_ms;
	pthread_mutex_t lock; /* guards slots and limiter */
	struct slots slots;   /* the calls in flight, under the limiter's limit, high calls first */
	struct limiter limiter;
};

struct call {
	grpc_call *call;
	grpc_metadata_array initial_md, trailing_md;
	grpc_byte_buffer *request, *response;
	grpc_status_code status;
	grpc_slice details;
	route_cb cb;
	void *arg;
	int64_t start_us;
};

bool routing_operator_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static const char *status_code_name(grpc_status_code s)
{
	switch (s) {
	case GRPC_STATUS_NOT_FOUND: return "no_route";
	case GRPC_STATUS_INVALID_ARGUMENT: return "invalid_argument";
	case GRPC_STATUS_UNAVAILABLE: return "unavailable";
	case GRPC_STATUS_DEADLINE_EXCEEDED: return "deadline_exceeded";
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return "resource_exhausted";
	case GRPC_STATUS_ABORTED: return "aborted";
	case GRPC_STATUS_INTERNAL: return "internal";
	default: return "routing_error";
	}
}

/* Reads the response message; false when it does not parse. */
static bool read_response(struct call *c, struct route_result *res)
{
	if (!c->response)
		return false;
	grpc_byte_buffer_reader reader;
	if (!grpc_byte_buffer_reader_init(&reader, c->response))
		return false;
	grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	Ghasi__Routing__V1__SelectRouteResponse *msg = ghasi__routing__v1__select_route_response__unpack(
		NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	if (!msg)
		return false;
	snprintf(res->operator_id, sizeof(res->operator_id), "%s", msg->operator_id ? msg->operator_id : "");
	snprintf(res->route_id, sizeof(res->route_id), "%s", msg->route_id ? msg->route_id : "");
	res->cost_micros = msg->cost_micros;
	bool too_long = msg->operator_id && strlen(msg->operator_id) >= sizeof(res->operator_id);
	ghasi__routing__v1__select_route_response__free_unpacked(msg, NULL);
	return !too_long;
}

/* The status mapping of routing.md. */
static void classify(struct call *c, struct route_result *res)
{
	res->grpc_status = (int)c->status;
	if (c->status == GRPC_STATUS_OK) {
		if (!read_response(c, res)) {
			res->outcome = ROUTE_TRANSIENT;
			snprintf(res->error_code, sizeof(res->error_code), "bad_response");
			snprintf(res->detail, sizeof(res->detail), "routing-engine answered a message that does not parse");
		} else if (!routing_operator_id_ok(res->operator_id)) {
			res->outcome = ROUTE_PERMANENT;
			snprintf(res->error_code, sizeof(res->error_code), "invalid_operator_id");
			snprintf(res->detail, sizeof(res->detail), "operator id \"%.64s\" is not a NATS subject token", res->operator_id);
		} else {
			res->outcome = ROUTE_OK;
		}
		return;
	}
	bool permanent = c->status == GRPC_STATUS_NOT_FOUND || c->status == GRPC_STATUS_INVALID_ARGUMENT;
	res->outcome = permanent ? ROUTE_PERMANENT : ROUTE_TRANSIENT;
	snprintf(res->error_code, sizeof(res->error_code), "%s", status_code_name(c->status));
	size_t n = GRPC_SLICE_LENGTH(c->details);
	snprintf(res->detail, sizeof(res->detail), "routing-engine status %d: %.*s", (int)c->status,
		 (int)(n > 150 ? 150 : n), (const char *)GRPC_SLICE_START_PTR(c->details));
}

/*
 * What a finished call teaches the concurrency limit: an answer (OK or a
 * permanent status) is a round-trip sample; a deadline missed or "resource
 * exhausted" is a drop (the engine or the way to it is overloaded); a
 * failed connection says nothing about load.
 */
static void learn(struct routing *r, const struct call *c, int64_t micros)
{
	pthread_mutex_lock(&r->lock);
	bool drop = c->status == GRPC_STATUS_DEADLINE_EXCEEDED || c->status == GRPC_STATUS_RESOURCE_EXHAUSTED;
	bool answer = c->status == GRPC_STATUS_OK || c->status == GRPC_STATUS_NOT_FOUND ||
		      c->status == GRPC_STATUS_INVALID_ARGUMENT;
	if (drop || answer)
		limiter_sample(&r->limiter, micros, r->slots.in_flight, drop);
	slots_give(&r->slots);
	metrics_set(G_ROUTING_IN_FLIGHT, r->slots.in_flight);
	metrics_set(G_ROUTING_LIMIT, limiter_get(&r->limiter));
	pthread_mutex_unlock(&r->lock);
}

static int current_limit(void *arg) { return limiter_get(&((struct routing *)arg)->limiter); }

/* Waits until the concurrency limit lets one more call start (a high call first: lib/slots.h), and counts it. */
static void take_slot(struct routing *r, bool high)
{
	pthread_mutex_lock(&r->lock);
	slots_take(&r->slots, &r->lock, current_limit, r, high);
	metrics_set(G_ROUTING_IN_FLIGHT, r->slots.in_flight);
	pthread_mutex_unlock(&r->lock);
}

static void finish(struct routing *r, struct call *c)
{
	struct route_result res = { 0 };
	classify(c, &res);
	res.micros = mono_us() - c->start_us;
	metrics_routing_call(res.outcome == ROUTE_OK ? "ok" : res.outcome == ROUTE_PERMANENT ? "permanent" : "transient",
			     res.micros);
	learn(r, c, res.micros);
	c->cb(c->arg, &res);
	grpc_metadata_array_destroy(&c->initial_md);
	grpc_metadata_array_destroy(&c->trailing_md);
	grpc_byte_buffer_destroy(c->request);
	if (c->response)
		grpc_byte_buffer_destroy(c->response);
	grpc_slice_unref(c->details);
	grpc_call_unref(c->call);
	free(c);
}

static void *cq_main(void *arg)
{
	struct routing *r = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			finish(r, ev.tag);
	}
	return NULL;
}

static grpc_byte_buffer *pack_request(const struct route_request *q)
{
	Ghasi__Routing__V1__SelectRouteRequest msg = GHASI__ROUTING__V1__SELECT_ROUTE_REQUEST__INIT;
	msg.message_id = (char *)q->message_id;
	msg.account_id = (char *)q->account_id;
	msg.destination = (char *)q->destination;
	msg.sender = (char *)q->sender;
	msg.encoding = q->ucs2 ? GHASI__ROUTING__V1__ENCODING__ENCODING_UCS2 : GHASI__ROUTING__V1__ENCODING__ENCODING_GSM7;
	msg.segments = q->segments;
	msg.attempt = q->attempt;
	size_t n = ghasi__routing__v1__select_route_request__get_packed_size(&msg);
	grpc_slice s = grpc_slice_malloc(n);
	ghasi__routing__v1__select_route_request__pack(&msg, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

void routing_call(struct routing *r, const struct route_request *q, route_cb cb, void *arg)
{
	take_slot(r, q->high); /* the deadline starts when the call does, not while it waits here */
	struct call *c = xcalloc(1, sizeof(*c));
	c->cb = cb;
	c->arg = arg;
	c->start_us = mono_us();
	c->details = grpc_empty_slice();
	grpc_metadata_array_init(&c->initial_md);
	grpc_metadata_array_init(&c->trailing_md);
	c->request = pack_request(q);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(r->timeout_ms, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_static_string(METHOD);
	c->call = grpc_channel_create_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, method, NULL, deadline, NULL);
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->request;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->response;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK) {
		c->status = GRPC_STATUS_INTERNAL;
		finish(r, c);
	}
}

struct routing *routing_start(const char *addr, int64_t timeout_ms, int max_in_flight)
{
	routing_log_init();
	grpc_init();
	struct routing *r = xcalloc(1, sizeof(*r));
	r->timeout_ms = timeout_ms;
	pthread_mutex_init(&r->lock, NULL);
	slots_init(&r->slots);
	limiter_init(&r->limiter, ROUTING_INITIAL_LIMIT, max_in_flight < ROUTING_MIN_LIMIT ? max_in_flight : ROUTING_MIN_LIMIT, max_in_flight);
	metrics_set(G_ROUTING_LIMIT, limiter_get(&r->limiter));
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	r->channel = grpc_channel_create(addr, creds, NULL);
	grpc_channel_credentials_release(creds);
	/* Connect now, not on the first message: the first calls after a start are then not slower. */
	(void)grpc_channel_check_connectivity_state(r->channel, 1);
	r->cq = grpc_completion_queue_create_for_next(NULL);
	if (pthread_create(&r->thread, NULL, cq_main, r) != 0) {
		log_error("routing: cannot start the completion-queue thread");
		grpc_completion_queue_shutdown(r->cq);
		grpc_completion_queue_destroy(r->cq);
		grpc_channel_destroy(r->channel);
		free(r);
		grpc_shutdown();
		return NULL;
	}
	log_info("routing-engine client ready", "addr", addr);
	return r;
}

void routing_stop(struct routing *r)
{
	if (!r)
		return;
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&r->lock);
		int n = r->slots.in_flight;
		pthread_mutex_unlock(&r->lock);
		if (n == 0)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	grpc_completion_queue_shutdown(r->cq);
	pthread_join(r->thread, NULL);
	grpc_completion_queue_destroy(r->cq);
	grpc_channel_destroy(r->channel);
	pthread_mutex_destroy(&r->lock);
	slots_destroy(&r->slots);
	free(r);
	grpc_shutdown();
}

/* gRPC core's log lines, as JSON lines (operations.md: logs are JSON on stderr). */
static void grpc_log_json(gpr_log_func_args *args)
{
	enum log_level level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LOG_ERROR
			       : args->severity == GPR_LOG_SEVERITY_INFO ? LOG_INFO
									 : LOG_DEBUG;
	log_library(level, "grpc", args->message);
}

void routing_log_init(void)
{
	gpr_set_log_function(grpc_log_json);
}
