/*
 * routing-engine-standin: a stand-in for the routing-engine team's service,
 * for tests and local runs. Same proto (ghasi.routing.v1), gRPC C core.
 *
 * Answers SelectRoute from a prefix table (longest prefix wins; unknown
 * destination: NOT_FOUND; a destination that is not "+digits":
 * INVALID_ARGUMENT), and can be told to misbehave, by flags at start or at
 * any time through a small HTTP control endpoint:
 *
 *   POST /control?delay_ms=300            answer slowly
 *   POST /control?delay_ms=20&workers=8   an engine of finite capacity: 8 calls served at once, 20 ms
 *                                         each, the rest queue (its latency grows with the load)
 *   POST /control?fail=UNAVAILABLE        fail every call with this status
 *   POST /control?fail=UNAVAILABLE&fail_first=2   fail only the next 2 calls
 *   POST /control?fail=UNAVAILABLE&fail_to=+1415555   fail only calls for destinations with this
 *                                         prefix (and count only those against fail_first): other
 *                                         messages still in flight do not use up the failures
 *   POST /control?reset=1                 behave again
 *   GET  /calls                           the calls received: JSON lines
 *                                         {"at_ms","message_id","attempt","destination","status"}
 *   "down": stop the process (the tests kill it and start it again).
 *
 * Usage: routing-engine-standin --listen 127.0.0.1:15051 --routes data/routes.txt
 *        [--control 127.0.0.1:15052] [--delay-ms N] [--fail STATUS] [--fail-first N]
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "ghasi/routing/v1/routing.pb-c.h"
#include "lib/buf.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

#define METHOD "/ghasi.routing.v1.RoutingEngine/SelectRoute"
#define MAX_ROUTES 1024
#define MAX_CALL_LOG 20000

struct route {
	char prefix[20];
	char operator_id[80];
	char route_id[80];
	long long cost;
};

static struct {
	pthread_mutex_t lock;
	struct route routes[MAX_ROUTES];
	int nroutes;
	int delay_ms;
	int workers; /* >0: at most this many calls are served at once (each takes delay_ms); the rest queue */
	int busy;
	pthread_cond_t worker_free;
	grpc_status_code fail;
	int fail_first; /* >0: fail only this many more calls */
	char fail_to[32]; /* non-empty: fail only calls whose destination starts with it */
	struct buf calls; /* the call log, JSON lines */
	int ncalls;
	volatile sig_atomic_t stop;
} st = { .lock = PTHREAD_MUTEX_INITIALIZER, .worker_free = PTHREAD_COND_INITIALIZER };

static const struct { const char *name; grpc_status_code code; } status_names[] = {
	{ "OK", GRPC_STATUS_OK }, { "CANCELLED", GRPC_STATUS_CANCELLED }, { "UNKNOWN", GRPC_STATUS_UNKNOWN },
	{ "INVALID_ARGUMENT", GRPC_STATUS_INVALID_ARGUMENT }, { "DEADLINE_EXCEEDED", GRPC_STATUS_DEADLINE_EXCEEDED },
	{ "NOT_FOUND", GRPC_STATUS_NOT_FOUND }, { "RESOURCE_EXHAUSTED", GRPC_STATUS_RESOURCE_EXHAUSTED },
	{ "ABORTED", GRPC_STATUS_ABORTED }, { "INTERNAL", GRPC_STATUS_INTERNAL }, { "UNAVAILABLE", GRPC_STATUS_UNAVAILABLE },
	{ "UNIMPLEMENTED", GRPC_STATUS_UNIMPLEMENTED },
};

static int parse_status(const char *s, grpc_status_code *out)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
		if (strcasecmp(s, status_names[i].name) == 0) {
			*out = status_names[i].code;
			return 0;
		}
	}
	return -1;
}

static int load_routes(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "routing-engine-standin: cannot read %s\n", path);
		return -1;
	}
	char line[512];
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line))
			continue;
		struct route *r = &st.routes[st.nroutes];
		if (st.nroutes == MAX_ROUTES ||
		    sscanf(line, "%19s %79s %79s %lld", r->prefix, r->operator_id, r->route_id, &r->cost) != 4) {
			fprintf(stderr, "routing-engine-standin: %s:%d: expected: prefix operator route cost\n", path, lineno);
			fclose(f);
			return -1;
		}
		st.nroutes++;
	}
	fclose(f);
	return 0;
}

static const struct route *lookup(const char *dest)
{
	const struct route *best = NULL;
	for (int i = 0; i < st.nroutes; i++) {
		size_t n = strlen(st.routes[i].prefix);
		if (strncmp(dest, st.routes[i].prefix, n) == 0 && (!best || n > strlen(best->prefix)))
			best = &st.routes[i];
	}
	return best;
}

/*
 * One call, and the tag of every batch on it: NEW (waiting for a call to
 * arrive) -> RECV (its request message) -> SEND (status sent) -> freed.
 */
enum call_state { CALL_NEW, CALL_RECV, CALL_SEND };

struct srv_call {
	enum call_state state;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *request, *response;
	grpc_status_code status;
	char detail[128];
	int cancelled;
	int delay_ms;
};

static grpc_server *server;
static grpc_completion_queue *cq;

/* Decides the answer of one call and records it in the call log. */
static void decide(struct srv_call *c)
{
	Ghasi__Routing__V1__SelectRouteRequest *req = NULL;
	if (c->request) {
		grpc_byte_buffer_reader r;
		grpc_byte_buffer_reader_init(&r, c->request);
		grpc_slice s = grpc_byte_buffer_reader_readall(&r);
		grpc_byte_buffer_reader_destroy(&r);
		req = ghasi__routing__v1__select_route_request__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	pthread_mutex_lock(&st.lock);
	c->delay_ms = st.delay_ms;
	const struct route *route = NULL;
	if (grpc_slice_str_cmp(c->details.method, METHOD) != 0) {
		c->status = GRPC_STATUS_UNIMPLEMENTED;
		snprintf(c->detail, sizeof(c->detail), "unknown method");
	} else if (st.fail != GRPC_STATUS_OK && (st.fail_first < 0 || st.fail_first > 0) &&
		   (!st.fail_to[0] ||
		    (req && req->destination && !strncmp(req->destination, st.fail_to, strlen(st.fail_to))))) {
		c->status = st.fail;
		snprintf(c->detail, sizeof(c->detail), "stand-in told to fail");
		if (st.fail_first > 0 && --st.fail_first == 0)
			st.fail = GRPC_STATUS_OK;
	} else if (!req || !req->destination || req->destination[0] != '+' ||
		   strspn(req->destination + 1, "0123456789") != strlen(req->destination + 1)) {
		c->status = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(c->detail, sizeof(c->detail), "destination is not E.164");
	} else if (!(route = lookup(req->destination))) {
		c->status = GRPC_STATUS_NOT_FOUND;
		snprintf(c->detail, sizeof(c->detail), "no route for %s", req->destination);
	} else {
		c->status = GRPC_STATUS_OK;
	}
	if (st.ncalls < MAX_CALL_LOG) {
		buf_addf(&st.calls, "{\"at_ms\":%lld,\"message_id\":", (long long)wall_ms());
		const char *id = req && req->message_id ? req->message_id : "";
		buf_add_json_str(&st.calls, id, strlen(id));
		const char *dest = req && req->destination ? req->destination : "";
		buf_addf(&st.calls, ",\"attempt\":%u,\"destination\":", req ? req->attempt : 0);
		buf_add_json_str(&st.calls, dest, strlen(dest));
		buf_addf(&st.calls, ",\"status\":%d}\n", (int)c->status);
		st.ncalls++;
	}
	if (route) {
		Ghasi__Routing__V1__SelectRouteResponse resp = GHASI__ROUTING__V1__SELECT_ROUTE_RESPONSE__INIT;
		resp.operator_id = (char *)route->operator_id;
		resp.route_id = (char *)route->route_id;
		resp.cost_micros = route->cost;
		size_t n = ghasi__routing__v1__select_route_response__get_packed_size(&resp);
		grpc_slice s = grpc_slice_malloc(n);
		ghasi__routing__v1__select_route_response__pack(&resp, GRPC_SLICE_START_PTR(s));
		c->response = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
	}
	pthread_mutex_unlock(&st.lock);
	if (req)
		ghasi__routing__v1__select_route_request__free_unpacked(req, NULL);
}

static void send_answer(struct srv_call *c)
{
	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	int n = 0;
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (c->response) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->response;
	}
	grpc_slice details = grpc_slice_from_copied_string(c->detail);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = c->status;
	ops[n++].data.send_status_from_server.status_details = &details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->state = CALL_SEND;
	grpc_call_start_batch(c->call, ops, (size_t)n, c, NULL);
	grpc_slice_unref(details);
}

/* A slow answer; with workers set, an engine of finite capacity: calls wait for a free worker first. */
static void *delayed_answer(void *arg)
{
	struct srv_call *c = arg;
	pthread_mutex_lock(&st.lock);
	while (st.workers > 0 && st.busy >= st.workers)
		pthread_cond_wait(&st.worker_free, &st.lock);
	st.busy++;
	pthread_mutex_unlock(&st.lock);
	struct timespec ts = { c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	send_answer(c);
	pthread_mutex_lock(&st.lock);
	st.busy--;
	pthread_cond_signal(&st.worker_free);
	pthread_mutex_unlock(&st.lock);
	return NULL;
}

static void free_call(struct srv_call *c)
{
	if (c->request)
		grpc_byte_buffer_destroy(c->request);
	if (c->response)
		grpc_byte_buffer_destroy(c->response);
	grpc_metadata_array_destroy(&c->md);
	grpc_call_details_destroy(&c->details);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

static void request_next(void)
{
	struct srv_call *c = xcalloc(1, sizeof(*c));
	c->state = CALL_NEW;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, c) != GRPC_CALL_OK)
		free_call(c);
}

static void on_event(struct srv_call *c, int success)
{
	switch (c->state) {
	case CALL_NEW:
		if (!success) { /* the server is shutting down */
			free_call(c);
			return;
		}
		request_next();
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &c->request;
		c->state = CALL_RECV;
		grpc_call_start_batch(c->call, &op, 1, c, NULL);
		return;
	case CALL_RECV:
		decide(c);
		if (c->delay_ms > 0) {
			pthread_t t;
			pthread_create(&t, NULL, delayed_answer, c);
			pthread_detach(t);
		} else {
			send_answer(c);
		}
		return;
	case CALL_SEND:
		free_call(c);
		return;
	}
}

static void control_set(struct MHD_Connection *conn, struct buf *out)
{
	const char *v;
	pthread_mutex_lock(&st.lock);
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "reset"))) {
		st.delay_ms = 0;
		st.workers = 0;
		pthread_cond_broadcast(&st.worker_free);
		st.fail = GRPC_STATUS_OK;
		st.fail_first = -1;
		st.fail_to[0] = '\0';
	}
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "delay_ms")))
		st.delay_ms = atoi(v);
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fail"))) {
		grpc_status_code code;
		if (parse_status(v, &code) == 0) {
			st.fail = code;
			st.fail_first = -1;
			st.fail_to[0] = '\0'; /* every destination, unless fail_to says otherwise */
		} else {
			buf_addf(out, "unknown status %s\n", v);
		}
	}
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fail_to"))) {
		if (strlen(v) < sizeof(st.fail_to))
			snprintf(st.fail_to, sizeof(st.fail_to), "%s", v);
		else
			buf_addf(out, "fail_to longer than %zu characters\n", sizeof(st.fail_to) - 1);
	}
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "workers"))) {
		st.workers = atoi(v);
		pthread_cond_broadcast(&st.worker_free);
	}
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fail_first")))
		st.fail_first = atoi(v);
	if ((v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "clear_calls"))) {
		buf_reset(&st.calls);
		st.ncalls = 0;
	}
	buf_addf(out, "{\"delay_ms\":%d,\"workers\":%d,\"fail\":%d,\"fail_first\":%d,\"fail_to\":", st.delay_ms,
		 st.workers, (int)st.fail, st.fail_first);
	buf_add_json_str(out, st.fail_to, strlen(st.fail_to));
	buf_addf(out, ",\"calls\":%d}\n", st.ncalls);
	pthread_mutex_unlock(&st.lock);
}

static enum MHD_Result on_control(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	if (!*con_cls) { /* answer on the second call: keep-alive (stack-notes trap 10) */
		*con_cls = conn;
		return MHD_YES;
	}
	*upload_size = 0;
	struct buf out;
	buf_init(&out);
	int status = 200;
	if (!strcmp(url, "/calls")) {
		pthread_mutex_lock(&st.lock);
		buf_add(&out, st.calls.data, st.calls.len);
		pthread_mutex_unlock(&st.lock);
	} else if (!strcmp(url, "/control") && !strcmp(method, "POST")) {
		control_set(conn, &out);
	} else {
		status = 404;
		buf_adds(&out, "not found\n");
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	buf_release(&out);
	return rc;
}

static struct MHD_Daemon *start_control(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	char host[64];
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return NULL;
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_control, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
}

static void on_signal(int sig)
{
	(void)sig;
	st.stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: routing-engine-standin --listen HOST:PORT --routes FILE [--control HOST:PORT]\n"
			"       [--delay-ms N] [--fail STATUS] [--fail-first N]\n");
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *routes = NULL, *control = NULL;
	st.fail = GRPC_STATUS_OK;
	st.fail_first = -1;
	buf_init(&st.calls);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--listen"))
			listen = v;
		else if (!strcmp(a, "--routes"))
			routes = v;
		else if (!strcmp(a, "--control"))
			control = v;
		else if (!strcmp(a, "--delay-ms"))
			st.delay_ms = atoi(v);
		else if (!strcmp(a, "--fail-first"))
			st.fail_first = atoi(v);
		else if (!strcmp(a, "--fail") && parse_status(v, &st.fail) == 0)
			;
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!listen || !routes) {
		usage();
		return 2;
	}
	if (load_routes(routes))
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct MHD_Daemon *ctl = control ? start_control(control) : NULL;
	if (control && !ctl) {
		fprintf(stderr, "routing-engine-standin: cannot listen on %s for control\n", control);
		return 1;
	}
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(server, listen, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		fprintf(stderr, "routing-engine-standin: cannot listen on %s\n", listen);
		return 1;
	}
	grpc_server_start(server);
	fprintf(stderr, "routing-engine-standin: listening on %s with %d routes\n", listen, st.nroutes);
	request_next();
	while (!st.stop) {
		gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(cq, until, NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			on_event(ev.tag, ev.success);
	}
	grpc_server_shutdown_and_notify(server, cq, NULL);
	grpc_server_cancel_all_calls(server);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_OP_COMPLETE && ev.tag == NULL)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			on_event(ev.tag, 0);
	}
	grpc_server_destroy(server);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	if (ctl)
		MHD_stop_daemon(ctl);
	buf_release(&st.calls);
	return 0;
}
