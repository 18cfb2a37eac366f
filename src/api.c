/* HTTP handlers (see api.h). */
#include "api.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "config.h"
#include "http.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

struct api {
	const struct config *cfg;
	atomic_bool draining;
};

static void healthz(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct api *api = ctx;
	http_json(resp, 200, atomic_load(&api->draining) ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
}

static const struct http_route routes[] = {
	{ "GET", "/healthz", false, 0, healthz },
	{ 0 },
};

const struct http_route *api_routes(void) { return routes; }

struct api *api_start(const struct config *cfg)
{
	struct api *api = xcalloc(1, sizeof(*api));
	api->cfg = cfg;
	atomic_init(&api->draining, false);
	return api;
}

void api_begin_drain(struct api *api) { atomic_store(&api->draining, true); }

void api_free(struct api *api) { free(api); }
