/* The pipeline thread (see pipeline.h). */
#include "pipeline.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "db.h"
#include "lib/buf.h"
#include "lib/failwindow.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/uuid.h"
#include "lib/xmalloc.h"
#include "flow.h"
#include "metrics.h"
#include "relay.h"
#include "routing.h"
#include "scheduler.h"
#include "lib/banned.h"

#define PIPELINE_BATCH 64
#define PIPELINE_RECENT_BATCH 16 /* a normal worker's batch while high work is recent (flow_high_recent) */
/* Workers per process, each with its own connection, consumer binding and relay lane: one batch's
   round trips and commits overlap the next one's. */
#define PIPELINE_WORKERS 2
/* And one worker of the high lane (domain.md, priority): it consumes only high messages, so one never
   waits behind a normal backlog, while the normal workers go on (normal keeps its share, far above 10%). */
#define PIPELINE_HIGH_WORKERS 1
#define PIPELINE_ALL_WORKERS (PIPELINE_WORKERS + PIPELINE_HIGH_WORKERS)
#define FETCH_WAIT_MS 500
#define BREAKER_WINDOW_MS 10000
#define BREAKER_PROBE_MS 1000
/* Unreachable engine (UNAVAILABLE: connection refused or lost), in a row: a little evidence is enough. */
#define BREAKER_UNAVAILABLE_MIN 5
/* Any transient failure (deadline missed, ...): a rate over a real sample, so a burst's few misses never open it. */
#define BREAKER_MIN_CALLS 20
#define BREAKER_MIN_FAILURES 10
#define BREAKER_RATE 0.5
#define NAK_DELAY_MS 1000
#define RECONNECT_MS 500

enum decision { D_ACK, D_ROUTED, D_RETRY, D_FAILED, D_NAK };

struct worker;

struct item {
	struct worker *w;
	natsMsg *msg;
	char id[UUID_STR_LEN];
	bool routing;
	char account[256], to[24], sender[24];
	bool ucs2;
	unsigned segments;
	int attempt_count; /* charged attempts (the retry budget) */
	unsigned call_attempt; /* the number this routing call carries, never used before for this message */
	struct route_result res;
	enum decision decision;
	char next_at[32];
	char error_code[40];
	char error_detail[240];
};

struct worker {
	pthread_t thread;
	bool started;
	bool high; /* a worker of the high lane */
	PGconn *conn;
	natsSubscription *sub;
	struct relay_lane *lane; /* the operator fast path */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int outstanding; /* routing calls of this worker's batch not answered yet */
};

static struct {
	const struct config *cfg;
	struct routing *routing;
	atomic_bool stopping;
	atomic_bool running;
	jsCtx *js;
	struct worker workers[PIPELINE_ALL_WORKERS];
	pthread_mutex_t breaker_lock; /* the breaker's evidence below, shared by the workers */
	atomic_bool probing;
	atomic_int breaker;
	struct failwindow transient; /* calls and their transient failures, the last BREAKER_WINDOW_MS */
	int unreachable_run;         /* UNAVAILABLE answers in a row */
	_Atomic int64_t probe_at_ms;
} pl = { .breaker_lock = PTHREAD_MUTEX_INITIALIZER };

const char *breaker_name(enum breaker_state s)
{
	return s == BREAKER_CLOSED ? "closed" : s == BREAKER_OPEN ? "open" : "half_open";
}

enum breaker_state pipeline_breaker(void) { return (enum breaker_state)atomic_load(&pl.breaker); }

static void breaker_set(enum breaker_state s)
{
	enum breaker_state old = (enum breaker_state)atomic_exchange(&pl.breaker, (int)s);
	metrics_set(G_BREAKER_STATE, s);
	if (old != s)
		log_kv(s == BREAKER_OPEN ? LOG_WARN : LOG_INFO, "circuit breaker", "state", breaker_name(s), "was",
		       breaker_name(old), (const char *)NULL);
	if (s == BREAKER_OPEN)
		atomic_store(&pl.probe_at_ms, mono_ms() + BREAKER_PROBE_MS);
}

/*
 * Called with the outcome of each routing call, in the pipeline thread. The
 * breaker opens when the engine looks down as a whole: BREAKER_UNAVAILABLE_MIN
 * calls in a row could not reach it at all (UNAVAILABLE: refused or lost
 * connections say so without doubt), or most calls of the last
 * BREAKER_WINDOW_MS failed transiently, judged on at least BREAKER_MIN_CALLS
 * calls (deadlines missed under load are a reason to slow down, which the
 * concurrency limit does, not to stop: a burst's few misses never open it).
 */
static void breaker_observe(const struct route_result *r)
{
	pthread_mutex_lock(&pl.breaker_lock);
	int64_t now = mono_ms();
	bool transient = r->outcome == ROUTE_TRANSIENT;
	failwindow_add(&pl.transient, now, transient);
	if (transient && strcmp(r->error_code, "unavailable") == 0)
		pl.unreachable_run++;
	else
		pl.unreachable_run = 0;
	if (pipeline_breaker() == BREAKER_CLOSED &&
	    (pl.unreachable_run >= BREAKER_UNAVAILABLE_MIN ||
	     failwindow_tripped(&pl.transient, now, BREAKER_MIN_CALLS, BREAKER_MIN_FAILURES, BREAKER_RATE)))
		breaker_set(BREAKER_OPEN);
	pthread_mutex_unlock(&pl.breaker_lock);
}

static void breaker_close(void)
{
	pthread_mutex_lock(&pl.breaker_lock);
	failwindow_reset(&pl.transient);
	pl.unreachable_run = 0;
	breaker_set(BREAKER_CLOSED);
	pthread_mutex_unlock(&pl.breaker_lock);
}

static void on_routed(void *arg, const struct route_result *r)
{
	struct item *it = arg;
	struct worker *w = it->w;
	it->res = *r;
	pthread_mutex_lock(&w->lock);
	w->outstanding--;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void call(struct worker *w, const struct route_request *q, struct item *it)
{
	it->w = w;
	pthread_mutex_lock(&w->lock);
	w->outstanding++;
	pthread_mutex_unlock(&w->lock);
	routing_call(pl.routing, q, on_routed, it);
}

static void wait_outstanding(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->outstanding > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* A synthetic call: does the engine answer at all? One worker probes; the others wait. */
static void probe(struct worker *w)
{
	if (atomic_exchange(&pl.probing, true))
		return;
	breaker_set(BREAKER_HALF_OPEN);
	struct item it = { 0 };
	struct route_request q = { .message_id = "circuit-breaker-probe", .account_id = "circuit-breaker-probe",
				   .destination = "+10000000000", .sender = "PROBE", .segments = 1 };
	call(w, &q, &it);
	wait_outstanding(w);
	if (it.res.outcome == ROUTE_TRANSIENT)
		breaker_set(BREAKER_OPEN);
	else
		breaker_close();
	atomic_store(&pl.probing, false);
}

/* The messageId of a pipeline message (CloudEvents data.messageId); false when it has none. */
static bool message_id(natsMsg *m, char *out)
{
	json_object *root = json_tokener_parse(natsMsg_GetData(m) ? natsMsg_GetData(m) : ""), *data, *id;
	bool ok = root && json_object_object_get_ex(root, "data", &data) && json_object_object_get_ex(data, "messageId", &id) &&
		  json_object_is_type(id, json_type_string) && uuid_parse_ok(json_object_get_string(id));
	if (ok)
		snprintf(out, UUID_STR_LEN, "%s", json_object_get_string(id));
	json_object_put(root);
	return ok;
}

static struct item *find(struct item *items, int n, const char *id)
{
	for (int i = 0; i < n; i++) {
		if (strcasecmp(items[i].id, id) == 0)
			return &items[i];
	}
	return NULL;
}

/* Stages 1-2: what each message needs. -1 on a database error. */
static int prepare(struct worker *w, struct item *items, int n)
{
	struct buf ids;
	buf_init(&ids);
	buf_addc(&ids, '{');
	for (int i = 0; i < n; i++)
		buf_addf(&ids, "%s%s", i ? "," : "", items[i].id);
	buf_addc(&ids, '}');
	const char *p[] = { ids.data };
	PGresult *res = PQexecParams(w->conn, "SELECT id, action, account_id, to_e164, sender, encoding, segments, attempt_count, "
					      "attempt "
					      "FROM orch.pipeline_prepare($1::uuid[])", 1, NULL, p, NULL, NULL, 0);
	buf_release(&ids);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("pipeline: prepare failed", "error", db_result_error(res));
		PQclear(res);
		return -1;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct item *it = find(items, n, PQgetvalue(res, r, 0));
		const char *action = PQgetvalue(res, r, 1);
		if (!strcmp(action, "rejected") || !strcmp(action, "expired"))
			metrics_inc(M_DEAD_LETTERS, 1);
		if (!it || strcmp(action, "route") != 0)
			continue;
		it->routing = true;
		snprintf(it->account, sizeof(it->account), "%s", PQgetvalue(res, r, 2));
		snprintf(it->to, sizeof(it->to), "%s", PQgetvalue(res, r, 3));
		snprintf(it->sender, sizeof(it->sender), "%s", PQgetvalue(res, r, 4));
		it->ucs2 = strcmp(PQgetvalue(res, r, 5), "UCS2") == 0;
		it->segments = (unsigned)atoi(PQgetvalue(res, r, 6));
		it->attempt_count = atoi(PQgetvalue(res, r, 7));
		it->call_attempt = (unsigned)strtoul(PQgetvalue(res, r, 8), NULL, 10);
	}
	PQclear(res);
	return 0;
}

/* Stages 3-5: the decision for one routed message. */
static void decide(struct item *it)
{
	const struct route_result *r = &it->res;
	breaker_observe(r);
	if (r->outcome == ROUTE_OK) {
		it->decision = D_ROUTED;
		return;
	}
	snprintf(it->error_code, sizeof(it->error_code), "%s", r->error_code);
	snprintf(it->error_detail, sizeof(it->error_detail), "%s", r->detail);
	if (r->outcome == ROUTE_PERMANENT) {
		it->decision = D_FAILED;
		return;
	}
	if (pipeline_breaker() != BREAKER_CLOSED) {
		it->decision = D_NAK; /* the engine is down as a whole: not this message's fault */
		return;
	}
	int attempts = it->attempt_count + 1;
	if (attempts <= pl.cfg->retry_backoff_len) {
		it->decision = D_RETRY;
		rfc3339_ms(wall_ms() + pl.cfg->retry_backoff_ms[attempts - 1], it->next_at, sizeof(it->next_at));
		return;
	}
	it->decision = D_FAILED;
	snprintf(it->error_code, sizeof(it->error_code), "retries_exhausted");
	snprintf(it->error_detail, sizeof(it->error_detail), "%d attempts; last: %.200s", attempts, r->detail);
}

/* One transaction for the batch's transitions. 0, or -1 (nothing applied). publish_now: see pipeline_apply. */
static int apply(struct worker *w, struct item *items, int n, bool publish_now)
{
	static const char *const outcome[] = { [D_ROUTED] = "routed", [D_RETRY] = "retry", [D_FAILED] = "failed" };
	struct buf a[7];
	for (int k = 0; k < 7; k++) {
		buf_init(&a[k]);
		buf_addc(&a[k], '{');
	}
	int count = 0;
	for (int i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->decision != D_ROUTED && it->decision != D_RETRY && it->decision != D_FAILED)
			continue;
		const char *vals[7] = { it->id, outcome[it->decision], it->res.operator_id, it->res.route_id,
					it->error_code, it->error_detail, it->next_at };
		for (int k = 0; k < 7; k++)
			db_array_add(&a[k], vals[k] && *vals[k] ? vals[k] : NULL); /* no operator, no error: NULL */
		count++;
	}
	for (int k = 0; k < 7; k++)
		buf_addc(&a[k], '}');
	int rc = 0;
	if (count) {
		const char *p[8];
		for (int k = 0; k < 7; k++)
			p[k] = a[k].data;
		p[7] = publish_now ? "true" : "false";
		PGresult *res = PQexecParams(w->conn,
					     "SELECT orch.pipeline_apply($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], "
					     "$6::text[], $7::timestamptz[], $8::boolean)", 8, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			log_error("pipeline: apply failed; the batch will be redelivered", "error", db_result_error(res));
			rc = -1;
		}
		PQclear(res);
	}
	for (int k = 0; k < 7; k++)
		buf_release(&a[k]);
	return rc;
}

static void count_decisions(struct item *items, int n)
{
	for (int i = 0; i < n; i++) {
		switch (items[i].decision) {
		case D_RETRY: metrics_inc(M_PIPELINE_RETRIES, 1); break;
		case D_FAILED: metrics_inc(M_DEAD_LETTERS, 1); break;
		case D_ROUTED: metrics_inc(M_PIPELINE_ROUTED, 1); break;
		default: break;
		}
	}
}

/* The fast path: the rows of the messages just ROUTED (status event, operator row), published and marked now. */
static void publish_routed(struct worker *w, const struct item *items, int n)
{
	struct buf ids;
	buf_init(&ids);
	buf_addc(&ids, '{');
	int routed = 0;
	for (int i = 0; i < n; i++) {
		if (items[i].decision == D_ROUTED) {
			db_array_add(&ids, items[i].id);
			routed++;
		}
	}
	buf_addc(&ids, '}');
	if (routed > 0 && relay_publish_message_rows(w->lane, w->conn, ids.data, pl.cfg->nats_duplicate_window_ms) < 0)
		log_warn("pipeline: operator rows not published at once; the relay will publish them");
	buf_release(&ids);
}

/* A normal batch lets high work in flight go first between its stages too (flow.h): one batch of 64 takes
   longer than a high message's whole way, so a yield before the batch alone leaves the high one beside it. */
static void yield_if_normal(const struct worker *w)
{
	if (!w->high)
		flow_yield_normal();
}

static void process(struct worker *w, natsMsgList *list)
{
	int n = list->Count;
	struct item *items = xcalloc((size_t)n, sizeof(*items));
	int valid = 0;
	for (int i = 0; i < n; i++) {
		items[i].msg = list->Msgs[i];
		items[i].decision = D_ACK;
		if (message_id(items[i].msg, items[i].id))
			valid++;
		else
			log_warn("pipeline: a message without a messageId; acknowledged and dropped", "subject",
				 natsMsg_GetSubject(items[i].msg));
	}
	bool db_ok = valid == 0 || prepare(w, items, n) == 0;
	yield_if_normal(w);
	for (int i = 0; db_ok && i < n; i++) {
		if (!items[i].routing)
			continue;
		struct route_request q = { .message_id = items[i].id, .account_id = items[i].account, .destination = items[i].to,
					   .sender = items[i].sender, .ucs2 = items[i].ucs2, .segments = items[i].segments,
					   .attempt = items[i].call_attempt, .high = w->high };
		call(w, &q, &items[i]);
	}
	wait_outstanding(w);
	for (int i = 0; db_ok && i < n; i++) {
		if (items[i].routing)
			decide(&items[i]);
	}
	/* The operator rows go out from here, at once, while NATS is there; else the relay takes them. */
	bool publish_now = w->lane && bus_connected();
	yield_if_normal(w);
	db_ok = db_ok && apply(w, items, n, publish_now) == 0;
	bool retries = false;
	for (int i = 0; i < n; i++) {
		/* Acknowledge only what the database has; the rest comes back (redelivery) and is idempotent. */
		if (!db_ok || items[i].decision == D_NAK)
			natsMsg_NakWithDelay(items[i].msg, NAK_DELAY_MS, NULL);
		else
			natsMsg_Ack(items[i].msg, NULL);
		retries |= items[i].decision == D_RETRY;
	}
	if (db_ok) {
		count_decisions(items, n);
		if (publish_now) {
			yield_if_normal(w);
			publish_routed(w, items, n);
		}
		relay_wake();
		if (retries)
			scheduler_wake();
	}
	free(items);
}

/* The batch statements once on nothing, so the first real batch does not pay for planning them. */
static void warm(struct worker *w)
{
	static const char *const sql[] = {
		"SELECT * FROM orch.pipeline_prepare('{}')",
		"SELECT orch.pipeline_apply('{}', '{}', '{}', '{}', '{}', '{}', '{}', false)",
		"BEGIN; SELECT * FROM orch.outbox_claim_message_rows('{}', '1 minute'); ROLLBACK",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(*sql); i++) {
		PGresult *res = PQexec(w->conn, sql[i]);
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
			log_warn("pipeline: warm-up statement failed", "error", db_result_error(res));
		PQclear(res);
	}
}

static bool ensure_ready(struct worker *w)
{
	if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
		PQfinish(w->conn);
		w->conn = db_connect(pl.cfg->database_url, "sms-orchestrator pipeline");
		if (!w->conn)
			return false;
		warm(w);
	}
	if (w->sub)
		return true;
	if (!bus_connected() || (pl.cfg->nats_provision && bus_provision() != 0))
		return false;
	const char *consumer = w->high ? BUS_PIPELINE_HIGH_CONSUMER : BUS_PIPELINE_CONSUMER;
	const char *filter = w->high ? BUS_PIPELINE_HIGH_FILTER : BUS_PIPELINE_FILTER;
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = BUS_OUTBOUND_STREAM;
	so.Consumer = consumer;
	jsErrCode jerr = 0;
	natsStatus s = js_PullSubscribe(&w->sub, pl.js, filter, consumer, NULL, &so, &jerr);
	if (s != NATS_OK) {
		log_warn("pipeline: cannot bind to the consumer yet", "consumer", consumer, "error", natsStatus_GetText(s));
		w->sub = NULL;
		return false;
	}
	log_info("pipeline consuming", "stream", BUS_OUTBOUND_STREAM, "consumer", consumer);
	return true;
}

static void nap(int64_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *pipeline_main(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load(&pl.stopping)) {
		if (!ensure_ready(w)) {
			nap(RECONNECT_MS);
			continue;
		}
		if (pipeline_breaker() != BREAKER_CLOSED) {
			if (mono_ms() >= atomic_load(&pl.probe_at_ms))
				probe(w);
			else
				nap(50);
			continue;
		}
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		int batch = !w->high && flow_high_recent() ? PIPELINE_RECENT_BATCH : PIPELINE_BATCH;
		natsStatus s = natsSubscription_Fetch(&list, w->sub, batch, FETCH_WAIT_MS, &jerr);
		if (s == NATS_OK && list.Count > 0) {
			if (w->high)
				flow_high_begin();
			else
				flow_yield_normal();
			process(w, &list);
			if (w->high)
				flow_high_end();
		}
		else if (s != NATS_TIMEOUT && s != NATS_OK)
			nap(RECONNECT_MS);
		natsMsgList_Destroy(&list);
	}
	return NULL;
}

int pipeline_start(const struct config *cfg)
{
	pl.cfg = cfg;
	pl.routing = routing_start(cfg->routing_addr, cfg->routing_timeout_ms, (int)cfg->routing_max_inflight);
	if (!pl.routing)
		return -1;
	jsOptions jo;
	jsOptions_Init(&jo);
	if (natsConnection_JetStream(&pl.js, bus_connection(), &jo) != NATS_OK) {
		routing_stop(pl.routing);
		return -1;
	}
	failwindow_init(&pl.transient, BREAKER_WINDOW_MS);
	breaker_close();
	atomic_store(&pl.stopping, false);
	atomic_store(&pl.running, true);
	for (int i = 0; i < PIPELINE_ALL_WORKERS; i++) {
		struct worker *w = &pl.workers[i];
		w->high = i >= PIPELINE_WORKERS;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		w->lane = relay_lane_new();
		if (!w->lane)
			log_warn("pipeline: no fast path for operator rows; the relay publishes them");
		w->started = pthread_create(&w->thread, NULL, pipeline_main, w) == 0;
		if (!w->started) {
			pipeline_stop();
			return -1;
		}
	}
	return 0;
}

void pipeline_stop(void)
{
	if (!atomic_load(&pl.running))
		return;
	atomic_store(&pl.stopping, true);
	for (int i = 0; i < PIPELINE_ALL_WORKERS; i++) {
		struct worker *w = &pl.workers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		w->started = false;
		if (w->sub) {
			natsSubscription_Unsubscribe(w->sub); /* the durable stays; only this binding goes */
			natsSubscription_Destroy(w->sub);
			w->sub = NULL;
		}
		relay_lane_free(w->lane);
		w->lane = NULL;
		PQfinish(w->conn);
		w->conn = NULL;
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
	}
	atomic_store(&pl.running, false);
	jsCtx_Destroy(pl.js);
	pl.js = NULL;
	routing_stop(pl.routing);
	pl.routing = NULL;
}
