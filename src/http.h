/*
 * The HTTP server on libmicrohttpd: epoll with a thread pool, request bodies
 * collected up to a per-route limit, one request context per request freed
 * in the completed callback, RFC 9457 problem answers for every error.
 *
 * A request is answered from a later callback than its first, so
 * keep-alive holds (stack-notes.md, trap 10).
 */
#ifndef ORCH_HTTP_H
#define ORCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Longest X-Request-ID (or Kong-Request-ID) kept as the request's id. */
#define HTTP_REQUEST_ID_MAX 79

struct http_request;
struct http_server;

struct http_response {
	int status;
	const char *content_type; /* borrowed static string */
	struct buf body;
	struct buf headers; /* "Name: value\n" lines */
};

typedef void (*http_handler)(struct http_request *req, struct http_response *resp, void *ctx);

struct http_route {
	const char *label; /* for metrics, e.g. "POST /v1/sms/send" */
	const char *method;
	const char *path; /* exact, or with "*" segments (each one path segment) when pattern is true */
	bool pattern;
	size_t body_limit; /* bytes; 0 = no body accepted */
	http_handler handler;
};

struct http_server_opts {
	const char *listen; /* host:port */
	unsigned threads;
	unsigned conn_timeout_s;
	unsigned max_connections; /* open at most; idle ones are closed first near it */
	const struct http_route *routes; /* borrowed; ends with a zeroed entry */
	void *ctx; /* passed to handlers, borrowed */
};

/*
 * The route of method and path: an exact path first, then a pattern route,
 * whose "*" segments each take exactly one non-empty segment (no '/'), the
 * first such route of the table that has the path. NULL when no route has
 * the path (404); *method_allowed false when one has it but not for this
 * method (405). Pure: no server needed.
 */
const struct http_route *http_route_find(const struct http_route *routes, const char *method, const char *path,
					 bool *method_allowed);

/*
 * True when a client's request id (id[0..len), borrowed) is kept as the
 * request's id: 1 to HTTP_REQUEST_ID_MAX visible ASCII characters
 * (0x21-0x7E). Otherwise the server makes one. Pure.
 */
bool http_request_id_valid(const char *id, size_t len);

/* Starts listening; NULL after logging why. */
struct http_server *http_start(const struct http_server_opts *opts);
/* Stops accepting connections, finishes in-flight requests, frees. */
void http_stop(struct http_server *srv);

/*
 * Answering later from another thread: a handler calls http_defer(req)
 * BEFORE it hands req to another thread, and returns; that thread fills
 * *http_deferred_response(req) and calls http_complete(req), after which
 * req must not be touched. Deferred requests must all be completed before
 * http_stop().
 */
void http_defer(struct http_request *req);
struct http_response *http_deferred_response(struct http_request *req);
void http_complete(struct http_request *req);

/* True when the body was over the route's limit (the handler answers 413 after its own checks). */
bool http_body_too_large(const struct http_request *req);
size_t http_body_limit(const struct http_request *req);

/* Accessors for handlers; returned strings are borrowed for the request's life. */
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
const char *http_header(const struct http_request *req, const char *name);
const char *http_request_id(const struct http_request *req);
/* The account the request acts for, written in its log line (copied). */
void http_log_account(struct http_request *req, const char *account);
const char *http_body(const struct http_request *req, size_t *len);

void http_set_header(struct http_response *resp, const char *name, const char *value);
/* A JSON answer: status and body (copied). */
void http_json(struct http_response *resp, int status, const char *json);
/*
 * An RFC 9457 problem: type is the URN suffix (validation, not-found, ...);
 * errors_json, when not NULL, is a JSON array inserted as "errors".
 */
void http_problem(struct http_response *resp, const struct http_request *req, int status, const char *type,
		  const char *title, const char *detail, const char *errors_json);

#endif
