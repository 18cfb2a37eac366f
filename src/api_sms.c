/*
 * POST /v1/sms/send, POST /v1/sms/bulk, POST /v1/sms/preview, GET /v1/sms/{id}.
 *
 * The accept path, for one request:
 *   guards (503 draining, 401, 413, 415) -> Idempotency-Key syntax (400)
 *   -> parse and validate (400) -> load shedding (503)
 *   -> Redis fast path for the key: replay, 409, 422, or claim
 *   -> hand the job to the accept writer and suspend the connection
 *   -> on commit: 202 (and the answer stored in Redis for replays);
 *      key already in PostgreSQL: replay or 422; database down: 503.
 * A 4xx is never remembered, so a client can fix its request and retry with the same key.
 *
 * Preview takes the same guards and the same parse as send (so the same
 * 400s and the same counts), then answers 200 at once: no Idempotency-Key,
 * no load shedding, no database, Redis or NATS.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "db.h"
#include "idem.h"
#include "lib/log.h"
#include "lib/sha256.h"
#include "lib/timeutil.h"
#include "lib/uuid.h"
#include "lib/xmalloc.h"
#include "metrics.h"
#include "preview.h"
#include "scheduler.h"
#include "lib/banned.h"

/* One request waiting on the accept writer; owns everything the job borrows. */
struct pending {
	struct accept_job job;
	struct api *api;
	struct http_request *req;
	bool is_send;
	char account[ACCOUNT_MAX];
	char *key;
	char fingerprint[65];
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char *traceparent;
	struct sms_item *items;
	size_t nitems;
	char bulk_id[UUID_STR_LEN];
	struct buf body;
};

static void problem_field(struct http_response *resp, struct http_request *req, const char *field, const char *code,
			  const char *detail)
{
	struct field_error fe = { .code = code };
	snprintf(fe.field, sizeof(fe.field), "%s", field);
	snprintf(fe.detail, sizeof(fe.detail), "%s", detail);
	struct buf e;
	buf_init(&e);
	buf_addc(&e, '[');
	field_error_json(&fe, &e);
	buf_addc(&e, ']');
	http_problem(resp, req, 400, "validation", "Request is not valid", detail, e.data);
	buf_release(&e);
}

/* The Idempotency-Key header: 1-255 visible ASCII characters. NULL and *bad when invalid or missing-but-required. */
static const char *idempotency_key(struct api *api, struct http_request *req, struct http_response *resp, bool *bad)
{
	const char *key = http_header(req, "Idempotency-Key");
	*bad = false;
	if (!key) {
		if (api->cfg->idempotency_required) {
			problem_field(resp, req, "Idempotency-Key", "missing_idempotency_key",
				      "an Idempotency-Key header is required");
			*bad = true;
		}
		return NULL;
	}
	if (!idempotency_key_valid(key, strlen(key))) {
		problem_field(resp, req, "Idempotency-Key", "invalid_idempotency_key",
			      "Idempotency-Key must be 1 to 255 visible ASCII characters");
		*bad = true;
		return NULL;
	}
	return key;
}

static bool shed_load(struct api *api, struct http_request *req, struct http_response *resp)
{
	if (metrics_get(G_OUTBOX_BACKLOG) <= api->cfg->max_backlog)
		return false;
	metrics_inc(M_LOAD_SHED, 1);
	api_retry_after(resp, 5);
	http_problem(resp, req, 503, "overloaded", "Service is overloaded",
		     "the outbox backlog is over its limit; retry later", NULL);
	return true;
}

static void add_json_field(struct buf *b, const char *name, const char *v)
{
	buf_addf(b, ",\"%s\":", name);
	if (v)
		buf_add_json_str(b, v, strlen(v));
	else
		buf_adds(b, "null");
}

/* The 202 body of send. */
static void send_body(struct buf *b, const struct accept_msg *m, const char *created)
{
	const struct sms_item *it = m->item;
	buf_addf(b, "{\"messageId\":\"%s\",\"status\":\"%s\"", m->id, m->send_at[0] ? "SCHEDULED" : "QUEUED");
	add_json_field(b, "to", it->to);
	add_json_field(b, "from", it->from);
	buf_addf(b, ",\"encoding\":\"%s\",\"segments\":%u", sms_encoding_name(it->encoding), it->segments);
	if (it->smart)
		buf_addf(b, ",\"replacedCharacters\":%u", it->replaced);
	add_json_field(b, "clientReference", it->client_reference);
	buf_addf(b, ",\"priority\":\"%s\"", it->high ? "high" : "normal");
	if (m->send_at[0])
		buf_addf(b, ",\"sendAt\":\"%s\"", m->send_at);
	buf_addf(b, ",\"createdAt\":\"%s\"}", created);
}

static void bulk_results(struct buf *b, const struct pending *p)
{
	buf_adds(b, "\"results\":[");
	size_t m = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct sms_item *it = &p->items[i];
		buf_addf(b, "%s{\"index\":%zu,", i ? "," : "", i);
		if (it->nerrors) {
			buf_adds(b, "\"error\":");
			/* The first error, as api.md shows; all of them under "errors". */
			field_error_json(&it->errors[0], b);
			buf_adds(b, ",\"errors\":");
			item_errors_json(it, b);
			buf_addc(b, '}');
		} else {
			const struct accept_msg *msg = &p->job.msgs[m++];
			buf_addf(b, "\"messageId\":\"%s\",\"status\":\"%s\",\"segments\":%u,\"priority\":\"%s\"",
				 msg->id, msg->send_at[0] ? "SCHEDULED" : "QUEUED", it->segments,
				 it->high ? "high" : "normal");
			if (msg->send_at[0])
				buf_addf(b, ",\"sendAt\":\"%s\"", msg->send_at);
			if (it->smart)
				buf_addf(b, ",\"replacedCharacters\":%u", it->replaced);
			buf_addc(b, '}');
		}
	}
	buf_addc(b, ']');
}

static void pending_free(struct pending *p)
{
	items_free(p->items, p->nitems);
	free(p->job.msgs);
	free(p->job.existing_body);
	free(p->key);
	free(p->traceparent);
	buf_release(&p->body);
	free(p);
}

static void set_location(struct http_response *resp, const char *body)
{
	const char *id = strstr(body, "\"messageId\":\"");
	if (!id || strlen(id) < 13 + 36)
		return;
	char loc[64];
	snprintf(loc, sizeof(loc), "/v1/sms/%.36s", id + 13);
	http_set_header(resp, "Location", loc);
}

static void replay(struct http_response *resp, bool is_send, int status, const char *body)
{
	resp->status = status;
	resp->content_type = status >= 400 ? "application/problem+json" : "application/json";
	buf_reset(&resp->body);
	buf_adds(&resp->body, body);
	http_set_header(resp, "Idempotent-Replayed", "true");
	if (is_send && status == 202)
		set_location(resp, body);
	metrics_inc(M_IDEMPOTENCY_REPLAYS, 1);
}

static void key_reused(struct http_response *resp, struct http_request *req)
{
	metrics_inc(M_IDEMPOTENCY_CONFLICTS, 1);
	http_problem(resp, req, 422, "idempotency-key-reused", "Idempotency-Key reused",
		     "this Idempotency-Key was used with another request", NULL);
}

/* Called on a writer thread when the job is done. */
static void accept_done(struct accept_job *job)
{
	struct pending *p = (struct pending *)job;
	struct http_response *resp = http_deferred_response(p->req);
	switch (job->outcome) {
	case ACCEPT_COMMITTED:
		resp->status = job->response_status;
		resp->content_type = "application/json";
		buf_reset(&resp->body);
		buf_add(&resp->body, p->body.data, p->body.len);
		if (p->is_send)
			set_location(resp, p->body.data);
		if (p->key)
			idem_store(p->account, p->key, p->fingerprint, job->response_status, p->body.data);
		for (size_t i = 0; i < job->nmsgs; i++) {
			if (job->msgs[i].send_at[0]) {
				scheduler_wake(); /* it may be due before the scheduler's next wake */
				break;
			}
		}
		break;
	case ACCEPT_EXISTING:
		if (strcmp(job->existing_fingerprint, p->fingerprint) == 0)
			replay(resp, p->is_send, job->existing_status, job->existing_body);
		else
			key_reused(resp, p->req);
		idem_store(p->account, p->key, job->existing_fingerprint, job->existing_status, job->existing_body);
		break;
	case ACCEPT_UNAVAILABLE:
	case ACCEPT_UNKNOWN:
		metrics_inc(M_DB_UNAVAILABLE, 1);
		if (p->key)
			idem_release(p->account, p->key);
		api_retry_after(resp, 2);
		http_problem(resp, p->req, 503, "unavailable", "Service unavailable",
			     job->outcome == ACCEPT_UNAVAILABLE
				     ? "the message store cannot be reached; nothing was accepted, retry later"
				     : "the message store did not answer in time; the request may or may not have been "
				       "stored: retry with the same Idempotency-Key to get its answer",
			     NULL);
		break;
	case ACCEPT_FAILED:
		if (p->key)
			idem_release(p->account, p->key);
		http_problem(resp, p->req, 500, "internal", "Internal error",
			     "the message store refused the request; nothing was accepted", NULL);
		break;
	}
	struct api *api = p->api;
	struct http_request *req = p->req;
	pending_free(p);
	http_complete(req);
	atomic_fetch_sub(&api->deferred, 1);
}

/* Fills the job's common fields; the messages are the valid items. */
static void prepare_job(struct pending *p, struct http_request *req)
{
	int64_t now = wall_ms();
	struct accept_job *job = &p->job;
	rfc3339_ms(now, job->created_at, sizeof(job->created_at));
	rfc3339_ms(now + p->api->cfg->idempotency_ttl_ms, job->idem_expires_at, sizeof(job->idem_expires_at));
	snprintf(p->request_id, sizeof(p->request_id), "%s", http_request_id(req));
	const char *tp = http_header(req, "traceparent");
	p->traceparent = tp && strlen(tp) <= 128 ? xstrdup(tp) : NULL;
	job->account = p->account;
	job->idem_key = p->key;
	job->fingerprint = p->key ? p->fingerprint : NULL;
	job->request_id = p->request_id;
	job->traceparent = p->traceparent;
	job->response_status = 202;
	job->done = accept_done;
	job->msgs = xcalloc(p->nitems, sizeof(*job->msgs));
	for (size_t i = 0; i < p->nitems; i++) {
		if (p->items[i].nerrors)
			continue;
		struct accept_msg *m = &job->msgs[job->nmsgs++];
		uuid7_str(m->id);
		m->item = &p->items[i];
		/* A scheduled message's validity counts from its sendAt (api.md). */
		const struct sms_item *it = &p->items[i];
		bool scheduled = it->scheduled && it->send_at_ms > now;
		if (scheduled)
			rfc3339_ms(it->send_at_ms, m->send_at, sizeof(m->send_at));
		rfc3339_ms((scheduled ? it->send_at_ms : now) + it->validity_s * 1000, m->valid_until,
			   sizeof(m->valid_until));
	}
}

/*
 * The answer PostgreSQL holds for the key, into *hit (hit->body owned):
 * 1 found, 0 none (no request with the key was answered), -1 the database
 * did not answer in time.
 */
static int idem_lookup_pg(struct pending *p, struct idem_hit *hit)
{
	PGconn *conn = dbpool_get(p->api->pool);
	if (!conn)
		return -1;
	const char *params[] = { p->account, p->key };
	PGresult *res = NULL;
	int rc = db_query_deadline(
		conn, "SELECT fingerprint, response_status, response_body FROM orch.idempotency_lookup($1, $2)", 2,
		params, p->api->cfg->db_timeout_ms, &res);
	if (rc != 0) {
		log_warn("idempotency lookup in PostgreSQL failed", "request_id", http_request_id(p->req), "error",
			 res ? db_result_error(res) : db_error(conn));
	} else if (PQntuples(res) == 1) {
		free(hit->body);
		snprintf(hit->fingerprint, sizeof(hit->fingerprint), "%s", PQgetvalue(res, 0, 0));
		hit->status = atoi(PQgetvalue(res, 0, 1));
		hit->body = xstrdup(PQgetvalue(res, 0, 2));
		rc = 1;
	}
	PQclear(res);
	dbpool_put(p->api->pool, conn);
	return rc;
}

/* Redis fast path; true when it answered the request. */
static bool idem_fast_path(struct pending *p, struct http_response *resp)
{
	struct idem_hit hit;
	enum idem_state st = idem_claim(p->account, p->key, p->fingerprint, &hit);
	/*
	 * An in-flight marker never hides a finished request: it may be a
	 * marker written before Redis hung, whose request was answered (and
	 * recorded in PostgreSQL) while Redis could not be reached. PostgreSQL
	 * decides, and Redis is repaired from it.
	 */
	if (st == IDEM_IN_FLIGHT && idem_lookup_pg(p, &hit) == 1) {
		st = IDEM_DONE;
		idem_store(p->account, p->key, hit.fingerprint, hit.status, hit.body);
	}
	bool answered = true;
	if (st == IDEM_DONE && strcmp(hit.fingerprint, p->fingerprint) == 0) {
		replay(resp, p->is_send, hit.status, hit.body);
	} else if (st == IDEM_DONE || (st == IDEM_IN_FLIGHT && strcmp(hit.fingerprint, p->fingerprint) != 0)) {
		key_reused(resp, p->req);
	} else if (st == IDEM_IN_FLIGHT) {
		metrics_inc(M_IDEMPOTENCY_IN_FLIGHT, 1);
		api_retry_after(resp, 1);
		http_problem(resp, p->req, 409, "idempotency-key-in-flight", "Request in flight",
			     "a request with this Idempotency-Key is still being processed", NULL);
	} else {
		answered = false; /* claimed, or Redis unavailable: PostgreSQL decides */
	}
	free(hit.body);
	return answered;
}

/* Common tail of send and bulk: idempotency, then the writer. Takes ownership of p. */
static void submit(struct pending *p, struct http_response *resp)
{
	if (p->key && idem_fast_path(p, resp)) {
		pending_free(p);
		return;
	}
	atomic_fetch_add(&p->api->deferred, 1);
	http_defer(p->req);
	accept_submit(p->api->writer, &p->job);
}

static struct pending *pending_new(struct api *api, struct http_request *req, const char *account, const char *key,
				   bool is_send)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	p->api = api;
	p->req = req;
	p->is_send = is_send;
	snprintf(p->account, sizeof(p->account), "%s", account);
	p->key = key ? xstrdup(key) : NULL;
	buf_init(&p->body);
	return p;
}

static void finish_fingerprint(struct sha256 *s, struct pending *p)
{
	unsigned char d[32];
	sha256_final(s, d);
	for (int i = 0; i < 32; i++)
		snprintf(p->fingerprint + 2 * i, 3, "%02x", d[i]);
}

/* The checks both POST routes start with: trust, body size and type, the Idempotency-Key header. */
static bool post_prelude(struct api *api, struct http_request *req, struct http_response *resp, char *account,
			 const char **key)
{
	bool bad;
	if (!api_v1_guard(api, req, resp, account) || !api_post_guard(req, resp))
		return false;
	*key = idempotency_key(api, req, resp, &bad);
	return !bad;
}

static void bulk_fingerprint(struct pending *p, bool stale_as_valid);

/*
 * A request with an Idempotency-Key whose only fault is a sendAt now more
 * than 5 minutes past may be the retry of one accepted when it was not: if
 * PostgreSQL holds a finished answer for the key with the fingerprint the
 * request had then, that answer is replayed (api.md: a finished request is
 * replayed), instead of the 400 a new request gets. True when it answered.
 * Takes items (freed here when it answers).
 */
static bool replay_stale(struct api *api, struct http_request *req, struct http_response *resp, const char *account,
			 const char *key, struct sms_item *items, size_t nitems, bool is_send)
{
	if (!key)
		return false;
	bool stale = false;
	for (size_t i = 0; i < nitems; i++) {
		if (item_only_stale_send_at(&items[i]))
			stale = true;
		else if (is_send && items[i].nerrors)
			return false;
	}
	if (!stale)
		return false;
	struct pending *p = pending_new(api, req, account, key, is_send);
	p->items = items;
	p->nitems = nitems;
	if (is_send) {
		struct sha256 s;
		sha256_init(&s);
		sha256_update(&s, "send\n", 5);
		item_fingerprint(&s, &items[0]);
		finish_fingerprint(&s, p);
	} else {
		bulk_fingerprint(p, true);
	}
	struct idem_hit hit = { 0 };
	bool answered = idem_lookup_pg(p, &hit) == 1 && strcmp(hit.fingerprint, p->fingerprint) == 0;
	if (answered)
		replay(resp, is_send, hit.status, hit.body);
	free(hit.body);
	if (!answered) { /* the caller keeps them */
		p->items = NULL;
		p->nitems = 0;
	}
	pending_free(p);
	return answered;
}

/* The 400 of a send or preview body that request_parse_send refused (rc -1: not JSON, detail; 1: field errors). */
static void answer_invalid(struct http_request *req, struct http_response *resp, int rc, const struct sms_item *item,
			   const char *detail)
{
	struct buf errors;
	char d[160];
	buf_init(&errors);
	snprintf(d, sizeof(d), "%s", detail);
	if (rc > 0) {
		item_errors_json(item, &errors);
		snprintf(d, sizeof(d), "%d field%s not valid", item->nerrors, item->nerrors == 1 ? " is" : "s are");
	}
	http_problem(resp, req, 400, rc > 0 ? "validation" : "malformed-json",
		     rc > 0 ? "Request is not valid" : "Request body is not valid JSON", d, rc > 0 ? errors.data : NULL);
	buf_release(&errors);
}

void api_send(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX];
	const char *key;
	if (!post_prelude(api, req, resp, account, &key))
		return;
	size_t len;
	const char *json = http_body(req, &len);
	struct sms_item *item = xcalloc(1, sizeof(*item));
	char detail[160];
	int rc = request_parse_send(json, len, &api->limits, item, detail, sizeof(detail));
	if (rc == 1 && replay_stale(api, req, resp, account, key, item, 1, true))
		return;
	if (rc != 0) {
		answer_invalid(req, resp, rc, item, detail);
		items_free(item, 1);
		return;
	}
	if (shed_load(api, req, resp)) {
		items_free(item, 1);
		return;
	}
	struct pending *p = pending_new(api, req, account, key, true);
	p->items = item;
	p->nitems = 1;
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, "send\n", 5);
	item_fingerprint(&s, item);
	finish_fingerprint(&s, p);
	prepare_job(p, req);
	send_body(&p->body, &p->job.msgs[0], p->job.created_at);
	p->job.response_body = p->body.data;
	submit(p, resp);
}

/*
 * POST /v1/sms/preview: the guards of send (503 draining, 401, 413, 415),
 * the parse of send (400), then 200 with what send would make of the body.
 * The Idempotency-Key header is ignored (nothing is stored, so nothing is
 * replayed), and nothing here needs PostgreSQL, Redis or NATS.
 */
void api_preview(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX];
	if (!api_v1_guard(api, req, resp, account) || !api_post_guard(req, resp))
		return;
	size_t len;
	const char *json = http_body(req, &len);
	struct sms_item item;
	char detail[160];
	int rc = request_parse_send(json, len, &api->limits, &item, detail, sizeof(detail));
	if (rc != 0) {
		answer_invalid(req, resp, rc, &item, detail);
	} else {
		struct buf b;
		buf_init(&b);
		preview_json(&item, &b);
		http_json(resp, 200, b.data);
		buf_release(&b);
	}
	item_release(&item);
}

/* An invalid bulk item enters the fingerprint by its error codes (its fields may not normalize). */
static void bulk_fingerprint(struct pending *p, bool stale_as_valid)
{
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, "bulk\n", 5);
	for (size_t i = 0; i < p->nitems; i++) {
		const struct sms_item *it = &p->items[i];
		if (!it->nerrors || (stale_as_valid && item_only_stale_send_at(it))) {
			item_fingerprint(&s, it);
			continue;
		}
		for (int e = 0; e < it->nerrors; e++) {
			sha256_update(&s, it->errors[e].field, strlen(it->errors[e].field) + 1);
			sha256_update(&s, it->errors[e].code, strlen(it->errors[e].code) + 1);
		}
	}
	finish_fingerprint(&s, p);
}

void api_bulk(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX];
	const char *key;
	if (!post_prelude(api, req, resp, account, &key))
		return;
	size_t len, nitems;
	const char *json = http_body(req, &len);
	struct sms_item *items;
	char detail[160];
	int rc = request_parse_bulk(json, len, &api->limits, &items, &nitems, detail, sizeof(detail));
	if (rc != 0) {
		http_problem(resp, req, 400, rc > 0 ? "validation" : "malformed-json",
			     rc > 0 ? "Request is not valid" : "Request body is not valid JSON", detail, NULL);
		return;
	}
	if (replay_stale(api, req, resp, account, key, items, nitems, false))
		return;
	struct pending *p = pending_new(api, req, account, key, false);
	p->items = items;
	p->nitems = nitems;
	prepare_job(p, req);
	size_t rejected = nitems - p->job.nmsgs;
	if (p->job.nmsgs == 0) {
		struct buf b;
		buf_init(&b);
		buf_addc(&b, '{');
		bulk_results(&b, p);
		buf_addc(&b, '}');
		/* The problem carries the per-item results (api.md): splice them in before the closing brace. */
		char d[64];
		snprintf(d, sizeof(d), "none of the %zu messages is valid", nitems);
		http_problem(resp, req, 400, "validation", "Request is not valid", d, NULL);
		resp->body.len--;
		buf_adds(&resp->body, ",");
		buf_add(&resp->body, b.data + 1, b.len - 1);
		buf_release(&b);
		pending_free(p);
		return;
	}
	if (shed_load(api, req, resp)) {
		pending_free(p);
		return;
	}
	uuid7_str(p->bulk_id);
	p->job.bulk_id = p->bulk_id;
	buf_addf(&p->body, "{\"bulkId\":\"%s\",\"accepted\":%zu,\"rejected\":%zu,", p->bulk_id, p->job.nmsgs, rejected);
	bulk_results(&p->body, p);
	buf_addc(&p->body, '}');
	p->job.response_body = p->body.data;
	bulk_fingerprint(p, false);
	submit(p, resp);
}

/*
 * One statement on a pooled connection within ORCH_DB_TIMEOUT; a deadlock
 * or serialization failure (a cancel racing the pipeline over the same rows)
 * is tried again, twice. 0 with *res, or -1 after answering 503: "the
 * message store cannot be reached" without a connection, failed_detail when
 * the statement failed (logged as `what`).
 */
static int pool_query(struct api *api, struct http_request *req, struct http_response *resp, const char *what,
		      const char *failed_detail, const char *sql, int nparams, const char *const *params,
		      PGresult **res)
{
	for (int attempt = 0;; attempt++) {
		PGconn *conn = dbpool_get(api->pool);
		if (!conn) {
			metrics_inc(M_DB_UNAVAILABLE, 1);
			api_retry_after(resp, 2);
			http_problem(resp, req, 503, "unavailable", "Service unavailable",
				     "the message store cannot be reached", NULL);
			return -1;
		}
		*res = NULL;
		int rc = db_query_deadline(conn, sql, nparams, params, api->cfg->db_timeout_ms, res);
		const char *state = *res ? PQresultErrorField(*res, PG_DIAG_SQLSTATE) : NULL;
		bool retry = rc != 0 && state && (!strcmp(state, "40P01") || !strcmp(state, "40001")) && attempt < 2;
		if (rc != 0 && !retry)
			log_error(what, "request_id", http_request_id(req), "error",
				  *res ? db_result_error(*res) : db_error(conn));
		dbpool_put(api->pool, conn);
		if (rc == 0)
			return 0;
		PQclear(*res);
		*res = NULL;
		if (!retry) {
			api_retry_after(resp, 2);
			http_problem(resp, req, 503, "unavailable", "Service unavailable", failed_detail, NULL);
			return -1;
		}
	}
}

/*
 * The start of the routes on one message or bulk: the /v1 guards, then the
 * id segment after prefix (the router made sure it is one segment) into id,
 * or a 400 with code on field. False when it answered.
 */
static bool id_route(struct api *api, struct http_request *req, struct http_response *resp, char *account,
		     size_t prefix_len, const char *field, const char *code, const char *detail, char *id)
{
	if (!api_v1_guard(api, req, resp, account))
		return false;
	const char *p = http_path(req) + prefix_len;
	size_t n = strcspn(p, "/");
	if (n == UUID_STR_LEN - 1) {
		memcpy(id, p, n);
		id[n] = '\0';
		if (uuid_parse_ok(id))
			return true;
	}
	problem_field(resp, req, field, code, detail);
	return false;
}

static bool message_route(struct api *api, struct http_request *req, struct http_response *resp, char *account,
			  char *id)
{
	return id_route(api, req, resp, account, strlen("/v1/sms/"), "messageId", "invalid_message_id",
			"the message id is not a UUID", id);
}

static bool bulk_route(struct api *api, struct http_request *req, struct http_response *resp, char *account, char *id)
{
	return id_route(api, req, resp, account, strlen("/v1/sms/bulk/"), "bulkId", "invalid_bulk_id",
			"the bulk id is not a UUID", id);
}

/*
 * Answers with the JSON document sql ($1 id, $2 account) makes: 200 with it,
 * 404 not_found_detail when it is NULL (no such id for this account), or
 * pool_query's 503.
 */
static void answer_json(struct api *api, struct http_request *req, struct http_response *resp, const char *what,
			const char *sql, const char *id, const char *account, const char *not_found_detail)
{
	const char *params[] = { id, account };
	PGresult *res;
	if (pool_query(api, req, resp, what, "the message store cannot be reached", sql, 2, params, &res))
		return;
	if (PQgetisnull(res, 0, 0))
		http_problem(resp, req, 404, "not-found", "Not found", not_found_detail, NULL);
	else
		http_json(resp, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
}

void api_get(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX], id[UUID_STR_LEN];
	if (!message_route(api, req, resp, account, id))
		return;
	answer_json(api, req, resp, "GET failed", "SELECT orch.message_json($1::uuid, $2)", id, account, "no such message");
}

/* POST /v1/sms/{id}/cancel: 200 with the message (CANCELED), 404, or 409 not-cancelable with its status. */
void api_cancel(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX], id[UUID_STR_LEN];
	if (!message_route(api, req, resp, account, id))
		return;
	const char *params[] = { account, id };
	PGresult *res;
	if (pool_query(api, req, resp, "cancel failed",
		       "the message store did not answer; nothing may have changed, retry later",
		       "SELECT c.status, c.canceled FROM orch.cancel($1, ARRAY[$2::uuid]) c", 2, params, &res))
		return;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		http_problem(resp, req, 404, "not-found", "Not found", "no such message", NULL);
	} else if (strcmp(PQgetvalue(res, 0, 0), "CANCELED") != 0) {
		char detail[128];
		snprintf(detail, sizeof(detail), "the message is %s: it can no longer be canceled",
			 PQgetvalue(res, 0, 0));
		http_problem(resp, req, 409, "not-cancelable", "Message cannot be canceled", detail, NULL);
		resp->body.len--; /* the current status, as a member of the problem: splice it in */
		buf_adds(&resp->body, ",\"currentStatus\":");
		buf_add_json_str(&resp->body, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
		buf_addc(&resp->body, '}');
	} else {
		if (*PQgetvalue(res, 0, 1) == 't')
			metrics_inc(M_CANCELED, 1);
		PQclear(res);
		answer_json(api, req, resp, "cancel answer failed", "SELECT orch.message_json($1::uuid, $2)", id, account,
			    "no such message");
		return;
	}
	PQclear(res);
}

/* GET /v1/sms/bulk/{bulkId}: counts by status. */
void api_bulk_get(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX], id[UUID_STR_LEN];
	if (!bulk_route(api, req, resp, account, id))
		return;
	answer_json(api, req, resp, "bulk status failed", "SELECT orch.bulk_json($1::uuid, $2)", id, account, "no such bulk");
}

/* POST /v1/sms/bulk/{bulkId}/cancel: cancels what of the bulk is still cancelable. */
void api_bulk_cancel(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char account[ACCOUNT_MAX], id[UUID_STR_LEN];
	if (!bulk_route(api, req, resp, account, id))
		return;
	const char *params[] = { account, id };
	PGresult *res;
	if (pool_query(api, req, resp, "bulk cancel failed",
		       "the message store did not answer; nothing may have changed, retry later",
		       "SELECT r::text, (r->>'canceled')::bigint FROM orch.cancel_bulk($1, $2::uuid) r", 2, params,
		       &res))
		return;
	if (PQgetisnull(res, 0, 0)) {
		http_problem(resp, req, 404, "not-found", "Not found", "no such bulk", NULL);
	} else {
		metrics_inc(M_CANCELED, (uint64_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10));
		http_json(resp, 200, PQgetvalue(res, 0, 0));
	}
	PQclear(res);
}
