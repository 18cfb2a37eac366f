/* Shared between the API's files: the api state and the /v1 request guards. */
#ifndef ORCH_API_INTERNAL_H
#define ORCH_API_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "accept.h"
#include "config.h"
#include <pthread.h>

#include "dbpool.h"
#include "http.h"
#include "request.h"

#define ACCOUNT_MAX 256

struct api {
	const struct config *cfg;
	atomic_bool draining;
	atomic_int deferred; /* requests waiting on the accept writer */
	struct accept_writer *writer;
	struct dbpool *pool;
	pthread_t pool_filler; /* opens the GET pool's first connections at start */
	bool pool_filling;
	struct request_limits limits;
};

/*
 * The checks every /v1 request passes first, in order: not draining (503),
 * a Kong consumer that is not anonymous (401), the gateway token when
 * configured (401). On success copies the account into account (ACCOUNT_MAX).
 */
bool api_v1_guard(struct api *api, struct http_request *req, struct http_response *resp, char *account);
/* POST bodies: over the limit (413), not application/json (415). */
bool api_post_guard(struct http_request *req, struct http_response *resp);
void api_retry_after(struct http_response *resp, int seconds);

void api_send(struct http_request *req, struct http_response *resp, void *ctx);
void api_bulk(struct http_request *req, struct http_response *resp, void *ctx);
void api_preview(struct http_request *req, struct http_response *resp, void *ctx);
void api_get(struct http_request *req, struct http_response *resp, void *ctx);
void api_cancel(struct http_request *req, struct http_response *resp, void *ctx);
void api_bulk_get(struct http_request *req, struct http_response *resp, void *ctx);
void api_bulk_cancel(struct http_request *req, struct http_response *resp, void *ctx);

#endif
