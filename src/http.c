/*
 * libmicrohttpd plumbing (see http.h). The access handler is a small state
 * machine per request: first call (allocate the context), body chunks
 * (append, or note the body is too large), last call (route and answer).
 *
 * Connections are tracked (libmicrohttpd's connection notifications) so that
 * a crowd of idle ones cannot lock everyone out: libmicrohttpd refuses new
 * connections at its limit, and keep-alive pools (Kong holds thousands) or
 * clients that open sockets and send nothing, or headers a byte at a time,
 * would fill it. When the open connections reach EVICT_AT of the limit, the
 * longest-idle connections without a request in progress (idle keep-alive,
 * or still waiting for their first complete header) are shut down until
 * there is room for a batch of new ones. shutdown(2) only: libmicrohttpd
 * owns the descriptor, sees end-of-file and closes it in its own thread;
 * the table's lock is held across the shutdown, and the close notification
 * takes it too, so the descriptor cannot be reused under us.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "metrics.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

#define EVICT_AT 0.95  /* of the connection limit: start closing idle connections */
#define EVICT_TO 0.90  /* ... until this many are open (a batch, not one per new connection) */

/* One TCP connection (libmicrohttpd's socket context). */
struct tracked {
	int fd;
	size_t index; /* in conn_table.all */
	int64_t last_ms; /* accepted, or its last request answered */
	bool busy; /* a request is in progress */
	bool evicted; /* shut down, close notification pending */
};

struct conn_table {
	pthread_mutex_t lock;
	struct tracked **all;
	size_t n, cap, evicting;
	size_t evict_at, evict_to;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_opts opts;
	struct conn_table conns;
};

enum req_state { REQ_BODY, REQ_DEFERRED, REQ_READY };

struct http_request {
	struct MHD_Connection *conn;
	struct http_server *srv;
	const char *method;
	char *path;
	const struct http_route *route;
	bool method_allowed;
	enum req_state state;
	bool deferred; /* set by http_defer, read only by the MHD thread */
	struct buf body;
	size_t limit;
	bool too_large;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char account[256]; /* for the request log line; set by the handler (ACCOUNT_MAX) */
	int64_t start_us;
	struct http_response resp;
};

const char *http_method(const struct http_request *req) { return req->method; }
bool http_body_too_large(const struct http_request *req) { return req->too_large; }
size_t http_body_limit(const struct http_request *req) { return req->limit; }
struct http_response *http_deferred_response(struct http_request *req) { return &req->resp; }

void http_defer(struct http_request *req)
{
	req->state = REQ_DEFERRED;
	req->deferred = true;
	MHD_suspend_connection(req->conn);
}

void http_complete(struct http_request *req)
{
	req->state = REQ_READY;
	MHD_resume_connection(req->conn);
}
const char *http_path(const struct http_request *req) { return req->path; }
const char *http_request_id(const struct http_request *req) { return req->request_id; }

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const struct http_request *req, size_t *len)
{
	*len = req->body.len;
	return req->body.data;
}

void http_set_header(struct http_response *resp, const char *name, const char *value)
{
	buf_addf(&resp->headers, "%s: %s\n", name, value);
}

void http_json(struct http_response *resp, int status, const char *json)
{
	resp->status = status;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	buf_adds(&resp->body, json);
}

void http_problem(struct http_response *resp, const struct http_request *req, int status, const char *type,
		  const char *title, const char *detail, const char *errors_json)
{
	resp->status = status;
	resp->content_type = "application/problem+json";
	struct buf *b = &resp->body;
	buf_reset(b);
	buf_addf(b, "{\"type\":\"urn:sms-orchestrator:problem:%s\",\"title\":", type);
	buf_add_json_str(b, title, strlen(title));
	buf_addf(b, ",\"status\":%d,\"detail\":", status);
	buf_add_json_str(b, detail, strlen(detail));
	buf_adds(b, ",\"instance\":");
	buf_add_json_str(b, req->request_id, strlen(req->request_id));
	if (errors_json) {
		buf_adds(b, ",\"errors\":");
		buf_adds(b, errors_json);
	}
	buf_addc(b, '}');
}

bool http_request_id_valid(const char *id, size_t len)
{
	bool ok = len > 0 && len <= HTTP_REQUEST_ID_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = id[i] > 0x20 && id[i] < 0x7f;
	return ok;
}

/* A request id is kept only when it is short visible ASCII; else one is made. */
static void take_request_id(struct http_request *req)
{
	const char *id = http_header(req, "X-Request-ID");
	if (!id)
		id = http_header(req, "Kong-Request-ID");
	size_t n = id ? strlen(id) : 0;
	if (id && http_request_id_valid(id, n)) {
		memcpy(req->request_id, id, n + 1);
		return;
	}
	unsigned char r[16];
	FILE *f = fopen("/dev/urandom", "rb");
	size_t got = f ? fread(r, 1, sizeof(r), f) : 0;
	if (f)
		fclose(f);
	if (got != sizeof(r)) {
		int64_t t = mono_us();
		memcpy(r, &t, sizeof(t));
		memcpy(r + 8, &req, sizeof(void *) < 8 ? sizeof(void *) : 8);
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(req->request_id + 2 * i, 3, "%02x", r[i]);
}

static bool path_matches(const struct http_route *r, const char *path, bool pattern_pass)
{
	if (r->pattern != pattern_pass)
		return false;
	if (!r->pattern)
		return strcmp(path, r->path) == 0;
	/* Segment by segment: a "*" takes one non-empty segment, never a '/' (so /v1/sms/{id}/x is no route). */
	const char *t = r->path, *p = path;
	while (*t) {
		if (t[0] == '*' && (t[1] == '/' || t[1] == '\0')) {
			size_t n = strcspn(p, "/");
			if (n == 0)
				return false;
			p += n;
			t++;
		} else if (*t++ != *p++) {
			return false;
		}
	}
	return *p == '\0';
}

const struct http_route *http_route_find(const struct http_route *routes, const char *method, const char *path,
					 bool *method_allowed)
{
	*method_allowed = false;
	const struct http_route *found = NULL;
	/* Exact paths first: a path with an exact route (POST /v1/sms/send) is never taken by a pattern route. */
	for (int pass = 0; pass < 2 && !found; pass++) {
		for (const struct http_route *r = routes; r->method; r++) {
			if (!path_matches(r, path, pass == 1))
				continue;
			if (!found)
				found = r; /* path known; 405 unless a method matches too */
			if (strcmp(r->method, method) == 0) {
				*method_allowed = true;
				return r;
			}
		}
	}
	return found;
}

static void find_route(struct http_request *req)
{
	req->route = http_route_find(req->srv->opts.routes, req->method, req->path, &req->method_allowed);
}

/* The Allow header of a path: every method of the routes of the pass that matched it. */
static void allow_header(const struct http_request *req, struct http_response *resp)
{
	struct buf allow;
	buf_init(&allow);
	for (const struct http_route *r = req->srv->opts.routes; r->method; r++) {
		if (path_matches(r, req->path, req->route->pattern))
			buf_addf(&allow, "%s%s", allow.len ? ", " : "", r->method);
	}
	http_set_header(resp, "Allow", allow.data);
	buf_release(&allow);
}

static void dispatch(struct http_request *req, struct http_response *resp)
{
	if (!req->route) {
		http_problem(resp, req, 404, "not-found", "Not found", "no such resource", NULL);
	} else if (!req->method_allowed) {
		allow_header(req, resp);
		http_problem(resp, req, 405, "method-not-allowed", "Method not allowed", "see the Allow header", NULL);
	} else {
		req->route->handler(req, resp, req->srv->opts.ctx);
	}
}

static enum MHD_Result queue(struct http_request *req, struct http_response *resp)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", resp->content_type);
	MHD_add_response_header(r, "X-Request-ID", req->request_id);
	/* The handler's "Name: value\n" lines, read without changing them: libmicrohttpd
	 * can call on_request again for a resumed connection (seen while draining on
	 * SIGTERM), and a second pass over lines cut in place found no newline. */
	for (const char *line = resp->headers.data; *line;) {
		const char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
		if (!nl || !colon || colon > nl || colon + 2 > nl)
			break;
		char *name = xstrndup(line, (size_t)(colon - line));
		char *value = xstrndup(colon + 2, (size_t)(nl - colon - 2));
		MHD_add_response_header(r, name, value);
		free(name);
		free(value);
		line = nl + 1;
	}
	enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return rc;
}

void http_log_account(struct http_request *req, const char *account)
{
	snprintf(req->account, sizeof(req->account), "%s", account);
}

/* The value of a response header set by a handler, copied into out ("" when absent). */
static const char *response_header(const struct http_response *resp, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	out[0] = '\0';
	for (const char *line = resp->headers.data; *line;) {
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':' && line[n + 1] == ' ')
			snprintf(out, size, "%.*s", (int)(nl - line - n - 2), line + n + 2);
		line = nl + 1;
	}
	return out;
}

/*
 * One line per request: request id, method, path, status, milliseconds, and
 * what the handler knows: the account and the message id (a send's Location,
 * or the id a GET asked for), and whether the answer was an idempotent replay.
 */
static void log_request(const struct http_request *req, int status)
{
	char st[8], ms[24], location[96], replayed[8];
	const char *message_id = NULL;
	if (*response_header(&req->resp, "Location", location, sizeof(location)))
		message_id = location + strlen("/v1/sms/");
	else if (req->route && strncmp(req->route->label, "GET /v1/sms/", 12) == 0 && status == 200)
		message_id = req->path + strlen("/v1/sms/");
	response_header(&req->resp, "Idempotent-Replayed", replayed, sizeof(replayed));
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.3f", (double)(mono_us() - req->start_us) / 1000.0);
	metrics_request(req->route && req->method_allowed ? req->route->label : "other", status, mono_us() - req->start_us);
	log_kv(status >= 500 ? LOG_WARN : LOG_INFO, "request", "request_id", req->request_id, "method", req->method,
	       "path", req->path, "status", st, "ms", ms, "account_id", req->account[0] ? req->account : NULL,
	       "message_id", message_id, "replayed", replayed[0] ? replayed : NULL, (const char *)NULL);
}

static int cmp_idle(const void *a, const void *b)
{
	const struct tracked *x = *(struct tracked *const *)a, *y = *(struct tracked *const *)b;
	return (x->last_ms > y->last_ms) - (x->last_ms < y->last_ms);
}

/* With the lock held: shuts down the longest-idle connections until at most evict_to stay open. */
static void evict_idle(struct conn_table *t)
{
	size_t open = t->n - t->evicting;
	if (open <= t->evict_to)
		return;
	size_t need = open - t->evict_to, nidle = 0;
	struct tracked **idle = xcalloc(t->n, sizeof(*idle));
	for (size_t i = 0; i < t->n; i++) {
		if (!t->all[i]->busy && !t->all[i]->evicted)
			idle[nidle++] = t->all[i];
	}
	qsort(idle, nidle, sizeof(*idle), cmp_idle);
	size_t done = 0;
	for (; done < need && done < nidle; done++) {
		idle[done]->evicted = true;
		shutdown(idle[done]->fd, SHUT_RDWR);
	}
	free(idle);
	t->evicting += done;
	if (done)
		metrics_inc(M_HTTP_EVICTED, done);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct conn_table *t = &srv->conns;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct tracked *c = xcalloc(1, sizeof(*c));
		c->fd = info ? info->connect_fd : -1;
		c->last_ms = mono_ms();
		pthread_mutex_lock(&t->lock);
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 1024;
			t->all = xrealloc(t->all, t->cap * sizeof(*t->all));
		}
		c->index = t->n;
		t->all[t->n++] = c;
		if (t->n - t->evicting >= t->evict_at)
			evict_idle(t);
		metrics_set(G_HTTP_CONNECTIONS, (int64_t)t->n);
		pthread_mutex_unlock(&t->lock);
		*socket_context = c;
		return;
	}
	struct tracked *c = *socket_context;
	if (!c)
		return;
	pthread_mutex_lock(&t->lock);
	struct tracked *last = t->all[--t->n];
	last->index = c->index;
	t->all[c->index] = last;
	if (c->evicted)
		t->evicting--;
	metrics_set(G_HTTP_CONNECTIONS, (int64_t)t->n);
	pthread_mutex_unlock(&t->lock);
	free(c);
	*socket_context = NULL;
}

/* A request began (busy) or ended on the connection. */
static void conn_mark(struct http_server *srv, struct MHD_Connection *conn, bool busy)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tracked *c = info ? info->socket_context : NULL;
	if (!c)
		return;
	pthread_mutex_lock(&srv->conns.lock);
	c->busy = busy;
	c->last_ms = mono_ms();
	pthread_mutex_unlock(&srv->conns.lock);
}

/* libmicrohttpd's own messages (a client that closed mid-request, ...) as rate-limited JSON lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	log_library(LOG_INFO, "libmicrohttpd", line);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	struct http_request *req = *con_cls;
	if (!req) {
		req = xcalloc(1, sizeof(*req));
		req->conn = conn;
		req->srv = cls;
		req->method = method;
		req->path = xstrdup(url);
		req->start_us = mono_us();
		buf_init(&req->body);
		req->resp.status = 500;
		req->resp.content_type = "application/json";
		buf_init(&req->resp.body);
		buf_init(&req->resp.headers);
		take_request_id(req);
		conn_mark(req->srv, conn, true);
		find_route(req);
		req->limit = req->route && req->method_allowed ? req->route->body_limit : 0;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!req->too_large && req->body.len + *upload_data_size <= req->limit)
			buf_add(&req->body, upload_data, *upload_data_size);
		else
			req->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->state == REQ_BODY) {
		dispatch(req, &req->resp);
		if (req->deferred)
			return MHD_YES; /* suspended; answered when resumed (maybe already) */
	}
	log_request(req, req->resp.status);
	return queue(req, &req->resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	struct http_request *req = *con_cls;
	if (!req)
		return;
	conn_mark(req->srv, conn, false);
	buf_release(&req->body);
	buf_release(&req->resp.body);
	buf_release(&req->resp.headers);
	free(req->path);
	free(req);
	*con_cls = NULL;
}

static int parse_listen(const char *listen, struct sockaddr_in *sa)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return -1;
	char host[64];
	size_t n = (size_t)(colon - listen);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, listen, n);
	host[n] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

struct http_server *http_start(const struct http_server_opts *opts)
{
	struct sockaddr_in sa;
	if (parse_listen(opts->listen, &sa)) {
		log_error("ORCH_HTTP_LISTEN is not an IPv4 host:port", "value", opts->listen);
		return NULL;
	}
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	srv->opts = *opts;
	unsigned max = opts->max_connections ? opts->max_connections : 1000;
	pthread_mutex_init(&srv->conns.lock, NULL);
	srv->conns.evict_at = (size_t)(max * EVICT_AT);
	srv->conns.evict_to = (size_t)(max * EVICT_TO);
	srv->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, opts->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_LIMIT, max,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("cannot start the HTTP server", "listen", opts->listen);
		pthread_mutex_destroy(&srv->conns.lock);
		free(srv);
		return NULL;
	}
	char maxs[16];
	snprintf(maxs, sizeof(maxs), "%u", max);
	log_info("HTTP server listening", "listen", opts->listen, "max_connections", maxs);
	return srv;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
	(void)fd;
	MHD_stop_daemon(srv->daemon);
	for (size_t i = 0; i < srv->conns.n; i++)
		free(srv->conns.all[i]);
	free(srv->conns.all);
	pthread_mutex_destroy(&srv->conns.lock);
	free(srv);
}
