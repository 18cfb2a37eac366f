/*
 * The HTTP API of the service: the /v1/sms routes and the operational
 * endpoints, with the state they share (database pool, counters).
 */
#ifndef ORCH_API_H
#define ORCH_API_H

struct api;
struct config;
struct http_route;

/* NULL after logging why. cfg is borrowed and must outlive the api. */
struct api *api_start(const struct config *cfg);
/* The route table (static). */
const struct http_route *api_routes(void);
/* From now on new /v1 requests answer 503 (shutting down). */
void api_begin_drain(struct api *api);
void api_free(struct api *api);

#endif
