/*
 * The relay thread (see relay.h). One loop:
 *
 *   wait for a wake-up (eventfd, NOTIFY, or 250 ms) unless the last batch was full
 *   if NATS is not connected: back off
 *   stamp the next operator rows' first attempt (own statement, committed;
 *   every 100 ms, or again at once after a stamp that found rows: the
 *   pipeline stamps and publishes the operator rows it writes itself)
 *   twice, first for the high rows only, then for the normal ones:
 *     BEGIN; claim up to ORCH_RELAY_BATCH rows (locked)
 *     publish them all asynchronously; wait for the acknowledgements (5 s at most)
 *     mark the acknowledged rows published (operator rows: message SUBMITTED),
 *     the others failed; COMMIT
 *
 * The acknowledgement callback runs on a nats.c thread; it finds its row by
 * the Nats-Msg-Id header (binary search over the batch sorted by msg_id).
 */
#include "relay.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus.h"
#include "config.h"
#include "db.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "flow.h"
#include "metrics.h"
#include "lib/banned.h"

#define POLL_MS 250
#define ACK_WAIT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PURGE_EVERY_MS 10000
#define PURGE_BATCH 1000
#define PURGE_BATCH_SQL "1000"
#define PURGE_BUDGET_MS 200
#define NOTIFY_EVERY_MS 50
#define STAMP_EVERY_MS 100
#define LANE_ACK_WAIT_MS 1000 /* a writer's own lane waits less: the relay publishes what it leaves */
#define LANE_MAX_PENDING 1024 /* a caller lane's unacknowledged publishes at most */
#define YIELD_CHUNK 50        /* a normal batch's publishes between two yields to high work */
#define RECENT_BATCH 100      /* the normal batch's most rows while high work is recent (flow_high_recent) */

enum row_state { ROW_PENDING, ROW_ACKED, ROW_FAILED };

struct row {
	char *id;
	char msg_id[40];
	char *subject;
	char *headers;
	char *payload;
	enum row_state state;
	bool duplicate; /* JetStream had it already (a republish inside the window) */
	char error[160];
};

/*
 * A lane: one batch of outbox rows on its way to JetStream, on one
 * connection, with its own JetStream context (its acknowledgement handler
 * finds the rows of this lane). The relay thread has one; the accept
 * writers and the pipeline workers have their own for the rows they have
 * just written (relay_publish_message_rows).
 */
struct relay_lane {
	PGconn *conn; /* the relay's own; borrowed for a caller's lane */
	int64_t ack_wait_ms;
	jsCtx *js;
	pthread_mutex_t ack_lock;
	struct row *rows;
	struct row **by_msg_id;
	size_t nrows;
	bool yields; /* the relay's normal batch: it lets high work in flight go first (flow.h); set by one_batch */
};

static struct {
	const struct config *cfg;
	pthread_t thread;
	atomic_bool running;
	atomic_bool stopping;
	int wake_fd;
	struct relay_lane lane;
	int64_t backoff_ms;
	int64_t next_purge_ms;
	atomic_bool provisioned;
	bool fault_exit_after_publish;
	_Atomic int64_t last_notify_ms;
} relay = { .wake_fd = -1, .lane = { .ack_lock = PTHREAD_MUTEX_INITIALIZER, .ack_wait_ms = ACK_WAIT_MS } };

void relay_wake(void)
{
	if (!atomic_load(&relay.running))
		return;
	uint64_t one = 1;
	ssize_t unused = write(relay.wake_fd, &one, sizeof(one));
	(void)unused;
}

int relay_should_notify(void)
{
	int64_t now = mono_ms(), last = atomic_load(&relay.last_notify_ms);
	return now - last >= NOTIFY_EVERY_MS && atomic_compare_exchange_strong(&relay.last_notify_ms, &last, now);
}

static int cmp_msg_id(const void *a, const void *b)
{
	return strcmp((*(struct row *const *)a)->msg_id, (*(struct row *const *)b)->msg_id);
}

static struct row *find_row(struct relay_lane *l, const char *msg_id)
{
	struct row key, *kp = &key;
	snprintf(key.msg_id, sizeof(key.msg_id), "%s", msg_id);
	struct row **r = bsearch(&kp, l->by_msg_id, l->nrows, sizeof(*l->by_msg_id), cmp_msg_id);
	return r ? *r : NULL;
}

/* nats.c thread: one acknowledgement (or error) of an asynchronous publish. Must destroy msg. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	struct relay_lane *l = closure;
	const char *id = NULL;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) {
		pthread_mutex_lock(&l->ack_lock);
		struct row *r = find_row(l, id);
		if (r && pa) {
			r->state = ROW_ACKED;
			r->duplicate = pa->Duplicate;
			if (pa->Duplicate)
				metrics_inc(M_RELAY_DUPLICATES, 1);
		} else if (r) {
			r->state = ROW_FAILED;
			snprintf(r->error, sizeof(r->error), "publish failed: %s",
				 pae && pae->ErrText ? pae->ErrText : natsStatus_GetText(pae ? pae->Err : NATS_ERR));
		}
		pthread_mutex_unlock(&l->ack_lock);
	}
	natsMsg_Destroy(msg);
}

static void free_rows(struct relay_lane *l)
{
	for (size_t i = 0; i < l->nrows; i++) {
		free(l->rows[i].id);
		free(l->rows[i].subject);
		free(l->rows[i].headers);
		free(l->rows[i].payload);
	}
	free(l->rows);
	free(l->by_msg_id);
	l->rows = NULL;
	l->by_msg_id = NULL;
	l->nrows = 0;
}

static bool connect_db(void)
{
	struct relay_lane *l = &relay.lane;
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		return true;
	PQfinish(l->conn);
	l->conn = db_connect(relay.cfg->database_url, "sms-orchestrator relay");
	if (!l->conn)
		return false;
	if (db_exec(l->conn, "LISTEN orch_outbox", "listen")) {
		PQfinish(l->conn);
		l->conn = NULL;
		return false;
	}
	return true;
}

static void wait_for_work(int64_t timeout_ms) { db_wait(relay.lane.conn, relay.wake_fd, (int)timeout_ms); }

/* Builds the NATS message of a row: subject, headers from the JSON object, payload. */
static natsMsg *build_msg(const struct row *r)
{
	natsMsg *m = NULL;
	if (natsMsg_Create(&m, r->subject, NULL, r->payload, (int)strlen(r->payload)) != NATS_OK)
		return NULL;
	json_object *h = json_tokener_parse(r->headers);
	if (h && json_object_is_type(h, json_type_object)) {
		json_object_object_foreach(h, key, val) {
			if (json_object_is_type(val, json_type_string))
				natsMsgHeader_Set(m, key, json_object_get_string(val));
		}
	}
	json_object_put(h);
	natsMsgHeader_Set(m, "Nats-Msg-Id", r->msg_id);
	return m;
}

/* Takes the claimed rows of res into the lane; clears res. -1 (logged) when the claim failed. */
static int load_rows(struct relay_lane *l, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("relay: cannot claim outbox rows", "error", db_result_error(res));
		PQclear(res);
		return -1;
	}
	size_t n = (size_t)PQntuples(res);
	l->rows = xcalloc(n + 1, sizeof(*l->rows));
	l->by_msg_id = xcalloc(n + 1, sizeof(*l->by_msg_id));
	for (size_t i = 0; i < n; i++) {
		struct row *r = &l->rows[i];
		r->id = xstrdup(PQgetvalue(res, (int)i, 0));
		snprintf(r->msg_id, sizeof(r->msg_id), "%s", PQgetvalue(res, (int)i, 1));
		r->subject = xstrdup(PQgetvalue(res, (int)i, 2));
		r->headers = xstrdup(PQgetvalue(res, (int)i, 3));
		r->payload = xstrdup(PQgetvalue(res, (int)i, 4));
		l->by_msg_id[i] = r;
	}
	l->nrows = n;
	qsort(l->by_msg_id, n, sizeof(*l->by_msg_id), cmp_msg_id);
	PQclear(res);
	return 0;
}

/*
 * The marking transaction need not wait for its WAL flush: if a crash
 * loses it, the rows are published again with the same Nats-Msg-Id
 * (JetStream drops the copy inside its window), and an operator row
 * past the window is never republished because its stamp was committed
 * durably before. One fsync less per batch.
 */
static int begin_marking(PGconn *conn) { return db_exec(conn, "BEGIN; SET LOCAL synchronous_commit = off", "relay begin"); }

/* Claims the next batch of at most max rows of one lane ("high" or "normal"). */
static int claim(struct relay_lane *l, const char *lane, long long max)
{
	char limit[16], window[32];
	snprintf(limit, sizeof(limit), "%lld", max);
	snprintf(window, sizeof(window), "%lld milliseconds", (long long)relay.cfg->nats_duplicate_window_ms);
	if (begin_marking(l->conn))
		return -1;
	const char *params[] = { limit, window, lane };
	PGresult *res = PQexecParams(l->conn,
				     "SELECT id, msg_id, subject, headers, payload "
				     "FROM orch.outbox_claim($1::integer, $2::interval, NULL::bigint[], $3::text)",
				     3, NULL, params, NULL, NULL, 0);
	return load_rows(l, res);
}

static void publish_all(struct relay_lane *l)
{
	for (size_t i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];
		/* (a normal batch of 500 is a burst JetStream stores before a high publish that comes after
		   it: while high work is in flight, it goes on a chunk at a time, each after flow_yield_normal;
		   the first chunk's yield is one_batch's, before the claim) */
		if (l->yields && i > 0 && i % YIELD_CHUNK == 0)
			flow_yield_normal();
		natsMsg *m = build_msg(r);
		natsStatus s = m ? js_PublishMsgAsync(l->js, &m, NULL) : NATS_NO_MEMORY;
		if (s != NATS_OK) {
			natsMsg_Destroy(m);
			pthread_mutex_lock(&l->ack_lock);
			r->state = ROW_FAILED;
			snprintf(r->error, sizeof(r->error), "publish failed: %s", natsStatus_GetText(s));
			pthread_mutex_unlock(&l->ack_lock);
		}
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = l->ack_wait_ms;
	if (js_PublishAsyncComplete(l->js, &po) != NATS_OK) {
		natsMsgList pending = { 0 };
		if (js_PublishAsyncGetPendingList(&pending, l->js) == NATS_OK)
			natsMsgList_Destroy(&pending);
	}
	bool any_acked = false, any_unanswered = false;
	pthread_mutex_lock(&l->ack_lock);
	for (size_t i = 0; i < l->nrows; i++) {
		any_acked |= l->rows[i].state == ROW_ACKED;
		any_unanswered |= l->rows[i].state != ROW_ACKED && l->rows[i].state != ROW_FAILED;
	}
	pthread_mutex_unlock(&l->ack_lock);
	if (any_acked)
		bus_jetstream_acked();
	else if (any_unanswered)
		bus_jetstream_stalled();
}

/* id array literal of the rows in state st, and their count. */
static size_t ids_in_state(const struct relay_lane *l, enum row_state st, struct buf *out, const char **first_error)
{
	size_t n = 0;
	buf_addc(out, '{');
	for (size_t i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];
		bool match = st == ROW_ACKED ? r->state == ROW_ACKED : r->state != ROW_ACKED;
		if (!match)
			continue;
		buf_addf(out, "%s%s", n ? "," : "", r->id);
		if (first_error && !*first_error)
			*first_error = r->error[0] ? r->error : "no acknowledgement from JetStream in time";
		n++;
	}
	buf_addc(out, '}');
	return n;
}

static const char *json_str(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* A member of any type as text (seq, attempt), or NULL; borrowed from o. */
static const char *json_text(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

/*
 * The transition log: every state change writes exactly one sms.events.status
 * row in the transaction that makes it (domain.md), so the relay sees each
 * transition once, whichever process or person made it (pipeline, relay,
 * scheduler, reconcile, a DBA). It writes one line and one count per status
 * event it has published, after its commit: normally milliseconds after the
 * change, later while NATS is down (the line's "at" is the time of the change).
 */
static void log_transition(const struct row *r, bool want_log)
{
	json_object *payload = json_tokener_parse(r->payload), *data = NULL, *error = NULL;
	if (!payload || !json_object_object_get_ex(payload, "data", &data)) {
		log_warn("relay: status event without data", "outbox_id", r->id);
		goto out;
	}
	const char *from = json_str(data, "previousStatus"), *to = json_str(data, "status");
	if (metrics_transition(from, to) != 0)
		log_warn("relay: status event with an unknown state", "outbox_id", r->id, "status", to);
	if (!want_log)
		goto out;
	json_object *headers = json_tokener_parse(r->headers);
	json_object_object_get_ex(data, "error", &error);
	log_kv(LOG_INFO, "transition", "message_id", json_str(data, "messageId"), "request_id",
	       json_str(headers, "X-Request-ID"), "account_id", json_str(data, "accountId"), "from", from ? from : "none",
	       "to", to, "seq", json_text(data, "seq"), "attempt", json_text(data, "attempt"), "operator_id",
	       json_str(data, "operatorId"), "error_code", json_str(error, "code"), "at", json_str(data, "at"),
	       "republished", r->duplicate ? "true" : NULL, (const char *)NULL);
	json_object_put(headers);
out:
	json_object_put(payload);
}

static void log_transitions(const struct relay_lane *l)
{
	bool want_log = log_get_level() <= LOG_INFO;
	static const char op_prefix[] = "smpp.operator.";
	for (size_t i = 0; i < l->nrows; i++) {
		const struct row *r = &l->rows[i];
		if (r->state != ROW_ACKED)
			continue;
		if (strcmp(r->subject, BUS_STATUS_SUBJECT) == 0)
			log_transition(r, want_log);
		else if (strncmp(r->subject, op_prefix, sizeof(op_prefix) - 1) == 0)
			metrics_operator_published(r->subject + sizeof(op_prefix) - 1, 1);
	}
}

/* Records the outcome and commits; returns the number of failed rows, or -1. */
static long mark(struct relay_lane *l)
{
	struct buf acked, failed;
	buf_init(&acked);
	buf_init(&failed);
	const char *error = NULL;
	pthread_mutex_lock(&l->ack_lock);
	size_t nacked = ids_in_state(l, ROW_ACKED, &acked, NULL);
	size_t nfailed = ids_in_state(l, ROW_FAILED, &failed, &error);
	pthread_mutex_unlock(&l->ack_lock);
	long rc = (long)nfailed;
	if (nacked) {
		const char *p[] = { acked.data };
		PGresult *res = PQexecParams(l->conn, "SELECT orch.outbox_mark_published($1::bigint[])", 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			metrics_inc(M_RELAY_PUBLISHED, nacked);
			metrics_inc(M_RELAY_SUBMITTED, (uint64_t)atoll(PQgetvalue(res, 0, 0)));
		} else {
			log_error("relay: cannot mark rows published", "error", db_result_error(res));
			rc = -1;
		}
		PQclear(res);
	}
	if (nfailed && rc >= 0) {
		const char *p[] = { failed.data, error };
		PGresult *res = PQexecParams(l->conn, "SELECT orch.outbox_mark_failed($1::bigint[], $2)", 2, NULL, p, NULL, NULL, 0);
		rc = PQresultStatus(res) == PGRES_TUPLES_OK ? rc : -1;
		PQclear(res);
		metrics_inc(M_RELAY_ERRORS, nfailed);
		char count[24];
		snprintf(count, sizeof(count), "%zu", nfailed);
		log_warn("relay: rows not published; kept for a retry", "count", count, "error", error);
	}
	if (db_exec(l->conn, rc >= 0 ? "COMMIT" : "ROLLBACK", "relay commit"))
		rc = -1;
	else if (rc >= 0)
		log_transitions(l);
	buf_release(&acked);
	buf_release(&failed);
	return rc;
}

static void purge(void)
{
	char retention[32];
	snprintf(retention, sizeof(retention), "%lld milliseconds", (long long)relay.cfg->outbox_retention_ms);
	long n = db_purge(relay.lane.conn, "SELECT orch.outbox_purge($1::interval, " PURGE_BATCH_SQL ")", retention, PURGE_BATCH,
			  PURGE_BUDGET_MS);
	metrics_inc(M_OUTBOX_PURGED, (uint64_t)n);
	relay.next_purge_ms = mono_ms() + PURGE_EVERY_MS;
}

static void back_off(const char *why)
{
	relay.backoff_ms = relay.backoff_ms ? relay.backoff_ms * 2 : BACKOFF_MIN_MS;
	if (relay.backoff_ms > BACKOFF_MAX_MS)
		relay.backoff_ms = BACKOFF_MAX_MS;
	log_debug("relay backing off", "why", why);
	wait_for_work(relay.backoff_ms);
}

/*
 * The rest of a batch whose rows the lane has claimed (its transaction
 * open): publish, mark, commit. Returns the rows handled (0: none were
 * claimed), -1 on failure.
 */
static long publish_claimed(struct relay_lane *l, int64_t start_us)
{
	size_t n = l->nrows;
	long rc = 0;
	if (n == 0) {
		rc = db_exec(l->conn, "COMMIT", "relay commit") ? -1 : 0;
	} else {
		publish_all(l);
		if (relay.fault_exit_after_publish) {
			log_warn("ORCH_TEST_FAULT=relay_exit_after_publish: exiting before marking the batch");
			_exit(70);
		}
		if (l->yields)
			flow_yield_normal(); /* (the mark of the batch is a statement a high one would wait beside) */
		rc = mark(l) == 0 ? (long)n : -1;
		metrics_relay_batch((unsigned)n, mono_us() - start_us);
	}
	free_rows(l);
	return rc;
}

/* One batch of one lane's rows; returns the number of rows handled (0: nothing pending), -1 on failure;
   *full: the claim took as many as it asked for (more are likely waiting). */
static long one_batch(const char *lane, bool *full)
{
	struct relay_lane *l = &relay.lane;
	l->yields = strcmp(lane, "normal") == 0; /* (the high batch never waits) */
	if (l->yields)
		flow_yield_normal(); /* before the claim: no transaction held open while it waits */
	long long max = relay.cfg->relay_batch;
	if (l->yields && flow_high_recent() && max > RECENT_BATCH)
		max = RECENT_BATCH; /* (flow.h: short statements beside high work) */
	int64_t start = mono_us();
	if (claim(l, lane, max)) {
		PGresult *res = PQexec(l->conn, "ROLLBACK");
		PQclear(res);
		return -1;
	}
	*full = (long long)l->nrows >= max;
	return publish_claimed(l, start);
}

/*
 * The high rows first, in a transaction of their own, then the normal ones
 * (domain.md, priority). In one batch a high row was published first but
 * committed (its message SUBMITTED) only once all 500 rows were
 * acknowledged, and a relay claiming back to back through a backlog took
 * the high rows the fast path (relay_publish_message_rows) was about to
 * publish: make bench phase p, those took 90-200 ms to SUBMITTED where the
 * fast path's took 50-70. The normal batch takes no high row: one that comes
 * meanwhile is the fast path's or the next high batch's. Normal keeps a
 * batch of its own every round. An empty high claim costs a statement and
 * no commit. Returns the rows of both, or -1; *more: either claim was full.
 */
static long two_batches(bool *more)
{
	bool high_full = false, normal_full = false;
	long high = one_batch("high", &high_full);
	if (high < 0)
		return -1;
	long normal = one_batch("normal", &normal_full);
	*more = high_full || normal_full;
	return normal < 0 ? -1 : high + normal;
}

static void *relay_main(void *arg)
{
	(void)arg;
	bool more = false;
	while (!atomic_load(&relay.stopping)) {
		if (!more)
			wait_for_work(POLL_MS);
		if (atomic_load(&relay.stopping))
			break;
		if (!connect_db()) {
			back_off("PostgreSQL unreachable");
			continue;
		}
		if (!bus_connected()) {
			back_off("NATS not connected");
			more = false;
			continue;
		}
		if (!atomic_load(&relay.provisioned) && relay.cfg->nats_provision)
			atomic_store(&relay.provisioned, bus_provisioned() || bus_provision() == 0);
		flow_hold_for_release(); /* (a scheduled release burst of this process first: flow.h) */
		if (two_batches(&more) < 0) {
			more = false;
			back_off("publish or database error");
			continue;
		}
		relay.backoff_ms = 0;
		if (mono_ms() >= relay.next_purge_ms)
			purge();
	}
	return NULL;
}

static int lane_js(struct relay_lane *l, int64_t max_pending)
{
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = ACK_WAIT_MS;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = l;
	jo.PublishAsync.MaxPending = max_pending;
	if (natsConnection_JetStream(&l->js, bus_connection(), &jo) != NATS_OK) {
		log_error("relay: cannot create a JetStream context");
		return -1;
	}
	return 0;
}

struct relay_lane *relay_lane_new(void)
{
	struct relay_lane *l = xcalloc(1, sizeof(*l));
	l->ack_wait_ms = LANE_ACK_WAIT_MS;
	pthread_mutex_init(&l->ack_lock, NULL);
	if (lane_js(l, LANE_MAX_PENDING) != 0) {
		pthread_mutex_destroy(&l->ack_lock);
		free(l);
		return NULL;
	}
	return l;
}

void relay_lane_free(struct relay_lane *l)
{
	if (!l)
		return;
	jsCtx_Destroy(l->js);
	pthread_mutex_destroy(&l->ack_lock);
	free(l);
}

long relay_publish_message_rows(struct relay_lane *l, PGconn *conn, const char *message_ids, int64_t duplicate_window_ms)
{
	/*
	 * Not while JetStream does not acknowledge (a hung server: the caller
	 * would wait for nothing), nor under the fault test of the relay's own
	 * batch, nor in a process without the relay role (told not to publish);
	 * the relay thread publishes then.
	 */
	if (!atomic_load(&relay.running) || !bus_jetstream_ok() || relay.fault_exit_after_publish)
		return 0;
	char window[32];
	snprintf(window, sizeof(window), "%lld milliseconds", (long long)duplicate_window_ms);
	int64_t start = mono_us();
	if (begin_marking(conn))
		return -1;
	const char *params[] = { message_ids, window };
	PGresult *res = PQexecParams(conn, "SELECT id, msg_id, subject, headers, payload "
					   "FROM orch.outbox_claim_message_rows($1::uuid[], $2::interval)",
				     2, NULL, params, NULL, NULL, 0);
	if (load_rows(l, res)) {
		res = PQexec(conn, "ROLLBACK");
		PQclear(res);
		return -1;
	}
	l->conn = conn; /* borrowed for the batch */
	long rc = publish_claimed(l, start);
	l->conn = NULL;
	return rc;
}

/*
 * The grant lane: a thread of its own, with its own connection and
 * JetStream context, that stamps operator rows (orch.relay_stamp: records
 * their first publish attempt, durably, and for an operator with a
 * throughput limit takes a token of its bucket for each) and publishes
 * what it stamped at once. A limited operator's token is taken at the
 * grant, so its row must reach the operator's stream right after: behind
 * a claim and a full batch of the relay's other rows (a few hundred ms
 * under load) the operator would see grants bunched above its limit in
 * some 1 s window, and tokens a busy relay could not take in time (a
 * bucket holds only its burst) would be lost. The claim leaves a limited
 * operator's fresh grant to the lane that granted it for a second.
 * It is not woken by the writers' commits (relay_wake): it comes back every
 * STAMP_EVERY_MS, or when a waiting operator's next token is due. Woken on
 * every commit, its stamp statement ran hundreds of times a second during a
 * drain, for nothing: the pipeline stamps the rows of unlimited operators.
 */
static struct {
	pthread_t thread;
	atomic_bool running;
	int wake_fd;
	struct relay_lane lane;
	int64_t backoff_ms;
} grant = { .wake_fd = -1, .lane = { .ack_lock = PTHREAD_MUTEX_INITIALIZER, .ack_wait_ms = ACK_WAIT_MS } };

static void grant_wake(void)
{
	if (!atomic_load(&grant.running))
		return;
	uint64_t one = 1;
	ssize_t unused = write(grant.wake_fd, &one, sizeof(one));
	(void)unused;
}

/*
 * One round: stamp, and publish what was stamped. Returns the ms to wait
 * before the next round (0: at once, more may be due), -1 on failure.
 */
static int64_t grant_round(void)
{
	struct relay_lane *l = &grant.lane;
	char limit[16], window[32];
	snprintf(limit, sizeof(limit), "%lld", (long long)relay.cfg->relay_batch);
	snprintf(window, sizeof(window), "%lld milliseconds", (long long)relay.cfg->nats_duplicate_window_ms);
	int64_t start = mono_us();
	const char *sp[] = { limit };
	PGresult *sres = PQexecParams(l->conn, "SELECT stamped, next_grant_ms, granted FROM orch.relay_stamp($1::integer)", 1,
				      NULL, sp, NULL, NULL, 0);
	if (PQresultStatus(sres) != PGRES_TUPLES_OK || PQntuples(sres) != 1) {
		log_error("relay: cannot stamp operator rows", "error", db_result_error(sres));
		PQclear(sres);
		return -1;
	}
	int stamped = atoi(PQgetvalue(sres, 0, 0));
	/* Rows waiting for a limit: back when their operator's next token is due, not a poll later. */
	int64_t wait = PQgetisnull(sres, 0, 1) ? STAMP_EVERY_MS : atoll(PQgetvalue(sres, 0, 1));
	if (wait > STAMP_EVERY_MS)
		wait = STAMP_EVERY_MS;
	if (stamped == 0) {
		PQclear(sres);
		return wait;
	}
	snprintf(limit, sizeof(limit), "%d", stamped);
	const char *params[] = { limit, window, PQgetvalue(sres, 0, 2) };
	long rc = -1;
	/* (bounded: the rows just granted are waited for, not skipped; the waiting must not hold up the lane) */
	if (begin_marking(l->conn) == 0 && db_exec(l->conn, "SET LOCAL lock_timeout = '200ms'", "relay lock timeout") == 0) {
		PGresult *res = PQexecParams(l->conn,
					     "SELECT id, msg_id, subject, headers, payload "
					     "FROM orch.outbox_claim($1::integer, $2::interval, $3::bigint[])",
					     3, NULL, params, NULL, NULL, 0);
		if (load_rows(l, res) == 0)
			rc = publish_claimed(l, start);
		else
			PQclear(PQexec(l->conn, "ROLLBACK"));
	} else {
		PQclear(PQexec(l->conn, "ROLLBACK"));
	}
	PQclear(sres);
	return rc < 0 ? -1 : 0;
}

static void *grant_main(void *arg)
{
	(void)arg;
	int64_t wait = 0;
	while (!atomic_load(&relay.stopping)) {
		if (wait > 0)
			db_wait(NULL, grant.wake_fd, (int)wait);
		if (atomic_load(&relay.stopping))
			break;
		struct relay_lane *l = &grant.lane;
		if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
			PQfinish(l->conn);
			l->conn = db_connect(relay.cfg->database_url, "sms-orchestrator relay grants");
		}
		bool ready = l->conn && bus_connected() && (atomic_load(&relay.provisioned) || !relay.cfg->nats_provision);
		int64_t next = ready ? grant_round() : -1;
		if (next < 0) {
			grant.backoff_ms = grant.backoff_ms ? grant.backoff_ms * 2 : BACKOFF_MIN_MS;
			if (grant.backoff_ms > BACKOFF_MAX_MS)
				grant.backoff_ms = BACKOFF_MAX_MS;
			wait = grant.backoff_ms;
			continue;
		}
		grant.backoff_ms = 0;
		wait = next;
	}
	return NULL;
}

int relay_start(const struct config *cfg)
{
	relay.cfg = cfg;
	relay.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (relay.wake_fd < 0) {
		log_error("relay: cannot create an eventfd");
		return -1;
	}
	const char *fault = getenv("ORCH_TEST_FAULT");
	relay.fault_exit_after_publish = fault && strcmp(fault, "relay_exit_after_publish") == 0;
	if (lane_js(&relay.lane, 4 * cfg->relay_batch) != 0)
		return -1;
	grant.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (grant.wake_fd < 0 || lane_js(&grant.lane, 4 * cfg->relay_batch) != 0) {
		log_error("relay: cannot set up the grant lane");
		return -1;
	}
	atomic_store(&relay.stopping, false);
	atomic_store(&relay.running, true);
	if (pthread_create(&relay.thread, NULL, relay_main, NULL) != 0) {
		atomic_store(&relay.running, false);
		return -1;
	}
	atomic_store(&grant.running, true);
	if (pthread_create(&grant.thread, NULL, grant_main, NULL) != 0) {
		atomic_store(&grant.running, false);
		relay_stop();
		return -1;
	}
	return 0;
}

/* A stopped thread's lane: its JetStream context, its connection and its wake-up fd. */
static void lane_close(struct relay_lane *l, int *wake_fd)
{
	jsCtx_Destroy(l->js);
	l->js = NULL;
	PQfinish(l->conn);
	l->conn = NULL;
	close(*wake_fd);
	*wake_fd = -1;
}

void relay_stop(void)
{
	if (!atomic_load(&relay.running))
		return;
	atomic_store(&relay.stopping, true);
	relay_wake();
	grant_wake();
	pthread_join(relay.thread, NULL);
	if (atomic_load(&grant.running)) {
		pthread_join(grant.thread, NULL);
		atomic_store(&grant.running, false);
	}
	lane_close(&grant.lane, &grant.wake_fd);
	atomic_store(&relay.running, false);
	lane_close(&relay.lane, &relay.wake_fd);
}
