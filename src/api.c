/*
 * The HTTP API (see api.h): the route table, the trust checks of api.md
 * that every /v1 request passes, and the operational endpoints (/healthz,
 * /readyz, /metrics). The /v1/sms handlers are in api_sms.c.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_internal.h"
#include "embedded_sql.h"
#include "idem.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "metrics.h"
#include "monitor.h"
#include "pipeline.h"
#include "lib/banned.h"

#define SEND_LIMIT (64 * 1024)
#define BULK_LIMIT (4 * 1024 * 1024)
#define CANCEL_LIMIT 1024 /* a cancel takes no body; a small one ("{}") is read and ignored */
#define DB_POOL_SIZE 8
#define DB_POOL_WARM 2 /* connections of the GET pool opened at start */

void api_retry_after(struct http_response *resp, int seconds)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", seconds);
	http_set_header(resp, "Retry-After", v);
}

static bool printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

bool api_v1_guard(struct api *api, struct http_request *req, struct http_response *resp, char *account)
{
	if (atomic_load(&api->draining)) {
		api_retry_after(resp, 1);
		http_problem(resp, req, 503, "shutting-down", "Service is shutting down",
			     "this instance is draining; retry on another", NULL);
		return false;
	}
	const char *anon = http_header(req, "X-Anonymous-Consumer");
	const char *id = http_header(req, "X-Consumer-Custom-ID");
	if (!id || !*id)
		id = http_header(req, "X-Consumer-ID");
	if ((anon && strcasecmp(anon, "true") == 0) || !id || !printable(id, ACCOUNT_MAX - 1)) {
		http_problem(resp, req, 401, "unauthorized", "Unauthorized",
			     "no authenticated Kong consumer on this request", NULL);
		return false;
	}
	const char *token = api->cfg->upstream_token;
	if (token) {
		const char *got = http_header(req, "X-Gateway-Token");
		if (!got || !ct_streq(got, token)) {
			http_problem(resp, req, 401, "unauthorized", "Unauthorized",
				     "the request did not come through the gateway", NULL);
			return false;
		}
	}
	snprintf(account, ACCOUNT_MAX, "%s", id);
	http_log_account(req, account);
	return true;
}

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static bool is_json(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; ");
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

bool api_post_guard(struct http_request *req, struct http_response *resp)
{
	if (http_body_too_large(req)) {
		char detail[96];
		snprintf(detail, sizeof(detail), "the body is over the limit of %zu bytes", http_body_limit(req));
		http_problem(resp, req, 413, "payload-too-large", "Payload too large", detail, NULL);
		return false;
	}
	if (!is_json(http_header(req, "Content-Type"))) {
		http_problem(resp, req, 415, "unsupported-media-type", "Unsupported media type",
			     "the body must be Content-Type: application/json", NULL);
		return false;
	}
	return true;
}

static void healthz(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct api *api = ctx;
	http_json(resp, 200, atomic_load(&api->draining) ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
}

static void readyz(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct api *api = ctx;
	struct monitor_state st;
	monitor_snapshot(&st);
	bool schema_ok = st.schema_version >= embedded_schema_version;
	bool accepting = !atomic_load(&api->draining);
	int64_t age_ms = mono_ms() - st.checked_ms;
	bool fresh = age_ms <= MONITOR_STALE_MS; /* an old answer is no answer: the checks themselves are stuck */
	bool ready = fresh && st.postgres_ok && schema_ok && st.nats_ok && accepting;
	struct buf b;
	buf_init(&b);
	buf_addf(&b,
		 "{\"status\":\"%s\",\"checks\":{"
		 "\"postgres\":{\"ok\":%s,\"schemaVersion\":%d,\"expectedSchemaVersion\":%d,\"schemaOk\":%s},"
		 "\"nats\":{\"ok\":%s,\"connected\":%s,\"jetstreamAcknowledging\":%s},"
		 "\"redis\":{\"ok\":%s,\"degraded\":%s},"
		 "\"routing\":{\"circuitBreaker\":\"%s\"},"
		 "\"accepting\":%s,"
		 "\"outbox\":{\"backlog\":%lld,\"oldestAgeSeconds\":%.3f,\"maxBacklog\":%lld}},"
		 "\"checkedMsAgo\":%lld,\"stale\":%s}",
		 ready ? (st.redis_ok ? "ready" : "degraded") : "not_ready", st.postgres_ok ? "true" : "false",
		 st.schema_version, embedded_schema_version, schema_ok ? "true" : "false", st.nats_ok ? "true" : "false",
		 st.nats_connected ? "true" : "false", st.jetstream_ok ? "true" : "false", st.redis_ok ? "true" : "false",
		 st.redis_ok ? "false" : "true", breaker_name(pipeline_breaker()),
		 accepting ? "true" : "false",
		 (long long)st.backlog, st.oldest_age_s, (long long)api->cfg->max_backlog,
		 (long long)age_ms, fresh ? "false" : "true");
	http_json(resp, ready ? 200 : 503, b.data);
	buf_release(&b);
}

static void metrics_endpoint(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	buf_reset(&resp->body);
	metrics_write(&resp->body);
}

static const struct http_route routes[] = {
	{ "POST /v1/sms/send", "POST", "/v1/sms/send", false, SEND_LIMIT, api_send },
	{ "POST /v1/sms/bulk", "POST", "/v1/sms/bulk", false, BULK_LIMIT, api_bulk },
	{ "POST /v1/sms/preview", "POST", "/v1/sms/preview", false, SEND_LIMIT, api_preview },
	/* Patterns: the first that has the path wins, so /v1/sms/bulk/... before /v1/sms/{id}/... */
	{ "GET /v1/sms/bulk/{bulkId}", "GET", "/v1/sms/bulk/*", true, 0, api_bulk_get },
	{ "POST /v1/sms/bulk/{bulkId}/cancel", "POST", "/v1/sms/bulk/*/cancel", true, CANCEL_LIMIT, api_bulk_cancel },
	{ "GET /v1/sms/{id}", "GET", "/v1/sms/*", true, 0, api_get },
	{ "POST /v1/sms/{id}/cancel", "POST", "/v1/sms/*/cancel", true, CANCEL_LIMIT, api_cancel },
	{ "GET /healthz", "GET", "/healthz", false, 0, healthz },
	{ "GET /readyz", "GET", "/readyz", false, 0, readyz },
	{ "GET /metrics", "GET", "/metrics", false, 0, metrics_endpoint },
	{ 0 },
};

const struct http_route *api_routes(void) { return routes; }

static void *fill_pool(void *pool)
{
	(void)dbpool_fill(pool, DB_POOL_WARM);
	return NULL;
}

struct api *api_start(const struct config *cfg)
{
	if (idem_init(cfg->redis_url, cfg->idempotency_ttl_ms)) {
		log_error("ORCH_REDIS_URL does not parse (redis://[:password@]host[:port][/db])");
		return NULL;
	}
	metrics_init();
	metrics_set(G_OUTBOX_BACKLOG_LIMIT, cfg->max_backlog);
	if (monitor_start(cfg)) {
		log_error("cannot start the monitor thread");
		idem_shutdown();
		return NULL;
	}
	struct api *api = xcalloc(1, sizeof(*api));
	api->cfg = cfg;
	atomic_init(&api->draining, false);
	atomic_init(&api->deferred, 0);
	api->limits.max_segments = cfg->max_segments;
	api->limits.bulk_max = cfg->bulk_max;
	api->writer = accept_start(cfg->database_url, 3, cfg->db_timeout_ms, cfg->nats_duplicate_window_ms);
	api->pool = dbpool_new(cfg->database_url, DB_POOL_SIZE, "sms-orchestrator api");
	api->pool_filling = pthread_create(&api->pool_filler, NULL, fill_pool, api->pool) == 0;
	return api;
}

void api_begin_drain(struct api *api)
{
	atomic_store(&api->draining, true);
	/* Requests already handed to the writer are answered before the HTTP server stops. */
	for (int i = 0; i < 3000 && atomic_load(&api->deferred) > 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void api_free(struct api *api)
{
	if (!api)
		return;
	accept_stop(api->writer);
	if (api->pool_filling)
		pthread_join(api->pool_filler, NULL);
	dbpool_free(api->pool);
	monitor_stop();
	idem_shutdown();
	free(api);
}
