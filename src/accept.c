/*
 * The accept writer (see accept.h).
 *
 * Each writer thread loops: wait for jobs; take up to MAX_BATCH_JOBS jobs
 * (or MAX_BATCH_MSGS messages); write them in one pipelined transaction;
 * call done() on each. Jobs with an idempotency key are sorted by (account,
 * key) inside a batch so two writers always take the key locks in the same
 * order and never deadlock each other.
 */
#include "accept.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "db.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "flow.h"
#include "metrics.h"
#include "relay.h"
#include "lib/banned.h"

#define MAX_THREADS 16
#define MAX_BATCH_JOBS 256
#define MAX_BATCH_MSGS 2000
#define FAST_PATH_MAX_JOBS 4 /* a writer publishes its own rows after a batch of at most this many requests */
#define RECONNECT_BACKOFF_MS 1000
#define NPARAMS 21

static const char accept_sql[] =
	"SELECT accepted, response_status, response_body, fingerprint FROM orch.accept("
	"$1, $2, $3, $4::integer, $5, $6::timestamptz, $7, $8, $9::timestamptz, $10::uuid[], $11::text[], "
	"$12::text[], $13::text[], $14::text[], $15::integer[], $16::text[], $17::text[], $18::timestamptz[], "
	"$19::text[], $20::timestamptz[], $21::uuid)";

struct accept_writer {
	char *url;
	int64_t timeout_ms;
	int64_t duplicate_window_ms;
	int nthreads;
	pthread_t threads[MAX_THREADS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct accept_job *head, *tail;
	bool stopping;
};

struct writer_conn {
	PGconn *conn;
	int64_t next_connect_ms;
};

enum batch_result { BATCH_OK, BATCH_JOB_ERROR, BATCH_CONN_ERROR };

void accept_submit(struct accept_writer *w, struct accept_job *job)
{
	for (size_t i = 0; i < job->nmsgs; i++) {
		if (job->msgs[i].item->high && !job->msgs[i].send_at[0]) {
			flow_high_expected();
			break;
		}
	}
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Takes the next batch off the queue; NULL when stopping and empty. */
static size_t take_batch(struct accept_writer *w, struct accept_job **batch)
{
	size_t n = 0, msgs = 0;
	pthread_mutex_lock(&w->lock);
	while (!w->head && !w->stopping)
		pthread_cond_wait(&w->cond, &w->lock);
	while (w->head && n < MAX_BATCH_JOBS && (n == 0 || msgs + w->head->nmsgs <= MAX_BATCH_MSGS)) {
		struct accept_job *j = w->head;
		w->head = j->next;
		msgs += j->nmsgs;
		batch[n++] = j;
	}
	if (!w->head)
		w->tail = NULL;
	pthread_mutex_unlock(&w->lock);
	return n;
}

enum { A_ID, A_TO, A_FROM, A_BODY, A_ENC, A_SEG, A_REF, A_CB, A_VALID, A_PRIO, A_SEND_AT, A_COUNT };

static void build_arrays(const struct accept_job *job, struct buf arrays[A_COUNT])
{
	for (int a = 0; a < A_COUNT; a++) {
		buf_init(&arrays[a]);
		buf_addc(&arrays[a], '{');
	}
	for (size_t i = 0; i < job->nmsgs; i++) {
		const struct accept_msg *m = &job->msgs[i];
		const struct sms_item *it = m->item;
		char seg[16];
		snprintf(seg, sizeof(seg), "%u", it->segments);
		const char *vals[A_COUNT] = { m->id, it->to, it->from, it->body, sms_encoding_name(it->encoding), seg,
					      it->client_reference, it->callback_url, m->valid_until,
					      it->high ? "high" : "normal", m->send_at[0] ? m->send_at : NULL };
		for (int a = 0; a < A_COUNT; a++)
			db_array_add(&arrays[a], vals[a]);
	}
	for (int a = 0; a < A_COUNT; a++)
		buf_addc(&arrays[a], '}');
}

static int send_job(PGconn *conn, const struct accept_job *job)
{
	struct buf arrays[A_COUNT];
	build_arrays(job, arrays);
	char status[8];
	snprintf(status, sizeof(status), "%d", job->response_status);
	const char *values[NPARAMS] = {
		job->account, job->idem_key, job->fingerprint, status, job->response_body,
		job->idem_key ? job->idem_expires_at : NULL, job->request_id, job->traceparent, job->created_at,
	};
	for (int a = 0; a < A_COUNT; a++)
		values[9 + a] = arrays[a].data;
	values[9 + A_COUNT] = job->bulk_id;
	int ok = PQsendQueryPrepared(conn, "accept", NPARAMS, values, NULL, NULL, 0);
	for (int a = 0; a < A_COUNT; a++)
		buf_release(&arrays[a]);
	return ok ? 0 : -1;
}

/*
 * Reads one query's results up to its terminating NULL; returns the last
 * status. Never waits past deadline_ms (db_await): a hung server fails the
 * batch instead of holding its requests.
 */
static ExecStatusType read_query(PGconn *conn, struct accept_job *job, int64_t deadline_ms)
{
	ExecStatusType st = PGRES_FATAL_ERROR;
	PGresult *res;
	while (db_await(conn, deadline_ms) == 0 && (res = PQgetResult(conn)) != NULL) {
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK && job && PQntuples(res) == 1) {
			bool accepted = PQgetvalue(res, 0, 0)[0] == 't';
			job->outcome = accepted ? ACCEPT_COMMITTED : ACCEPT_EXISTING;
			if (!accepted) {
				job->existing_status = atoi(PQgetvalue(res, 0, 1));
				free(job->existing_body);
				job->existing_body = xstrdup(PQgetvalue(res, 0, 2));
				snprintf(job->existing_fingerprint, sizeof(job->existing_fingerprint), "%s",
					 PQgetvalue(res, 0, 3));
			}
		} else if (st == PGRES_FATAL_ERROR) {
			log_error("accept statement failed", "error", db_result_error(res),
				  "request_id", job ? job->request_id : "(transaction)");
		}
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
	return st;
}

/* One pipelined transaction for n jobs, answered by deadline_ms. */
static enum batch_result write_batch(PGconn *conn, struct accept_job **jobs, size_t n, int64_t deadline_ms)
{
	if (!PQenterPipelineMode(conn))
		return BATCH_CONN_ERROR;
	/* The doorbell for relays in other processes: at most one NOTIFY per interval, never one per message. */
	bool notify = relay_should_notify();
	bool sent = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
	for (size_t i = 0; i < n && sent; i++)
		sent = send_job(conn, jobs[i]) == 0;
	if (notify)
		sent = sent && PQsendQueryParams(conn, "NOTIFY orch_outbox", 0, NULL, NULL, NULL, NULL, 0);
	sent = sent && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(conn);
	if (!sent) {
		log_error("cannot send the accept transaction", "error", db_error(conn));
		return BATCH_CONN_ERROR;
	}
	bool ok = read_query(conn, NULL, deadline_ms) == PGRES_COMMAND_OK;
	for (size_t i = 0; i < n; i++)
		ok = read_query(conn, jobs[i], deadline_ms) == PGRES_TUPLES_OK && ok;
	if (notify)
		ok = read_query(conn, NULL, deadline_ms) == PGRES_COMMAND_OK && ok;
	ok = read_query(conn, NULL, deadline_ms) == PGRES_COMMAND_OK && ok;
	ExecStatusType sync = read_query(conn, NULL, deadline_ms);
	if (sync != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(conn))
		return BATCH_CONN_ERROR;
	if (ok)
		return BATCH_OK;
	if (PQstatus(conn) != CONNECTION_OK)
		return BATCH_CONN_ERROR;
	PGresult *res = PQexec(conn, "ROLLBACK");
	PQclear(res);
	return BATCH_JOB_ERROR;
}

/*
 * One accept of no message, rolled back: the new backend plans orch.accept()
 * and loads what it touches now, not on the first client's request.
 */
static void warm(PGconn *conn)
{
	const char *values[NPARAMS] = { "warm-up", NULL, NULL, "202", NULL, NULL, NULL, NULL, "now",
					"{}", "{}", "{}", "{}", "{}", "{}", "{}", "{}", "{}", "{}", "{}", NULL };
	PGresult *res = PQexec(conn, "BEGIN");
	PQclear(res);
	res = PQexecPrepared(conn, "accept", NPARAMS, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warn("accept warm-up failed", "error", db_result_error(res));
	PQclear(res);
	res = PQexec(conn, "ROLLBACK");
	PQclear(res);
}

/*
 * An idle connection has nothing to read but its end (the server restarted
 * or closed it) or a notice: read what is there, so one that is gone is
 * replaced before a request is written to it (that request would get a 503).
 */
static bool conn_alive(PGconn *conn)
{
	for (int i = 0; i < 4 && PQstatus(conn) == CONNECTION_OK; i++) {
		struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(conn))
			return false;
	}
	return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static bool ensure_conn(struct writer_conn *wc, const char *url)
{
	if (wc->conn && conn_alive(wc->conn))
		return true;
	if (wc->conn) {
		PQfinish(wc->conn);
		wc->conn = NULL;
	}
	if (mono_ms() < wc->next_connect_ms)
		return false;
	wc->conn = db_connect(url, "sms-orchestrator accept");
	if (wc->conn) {
		PGresult *res = PQprepare(wc->conn, "accept", accept_sql, 0, NULL);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok)
			log_error("cannot prepare the accept statement", "error", db_result_error(res));
		PQclear(res);
		if (ok)
			warm(wc->conn);
		if (ok) {
			metrics_set(G_POSTGRES_UP, 1);
			return true;
		}
		PQfinish(wc->conn);
		wc->conn = NULL;
	}
	metrics_set(G_POSTGRES_UP, 0);
	wc->next_connect_ms = mono_ms() + RECONNECT_BACKOFF_MS;
	return false;
}

static void set_outcome(struct accept_job **jobs, size_t n, enum accept_outcome o)
{
	for (size_t i = 0; i < n; i++)
		jobs[i]->outcome = o;
}

static int cmp_jobs(const void *a, const void *b)
{
	const struct accept_job *x = *(struct accept_job *const *)a, *y = *(struct accept_job *const *)b;
	if (!x->idem_key || !y->idem_key)
		return (x->idem_key != NULL) - (y->idem_key != NULL);
	int c = strcmp(x->account, y->account);
	return c ? c : strcmp(x->idem_key, y->idem_key);
}

static void run_batch(struct writer_conn *wc, const struct accept_writer *w, struct accept_job **jobs, size_t n)
{
	const char *url = w->url;
	qsort(jobs, n, sizeof(*jobs), cmp_jobs);
	set_outcome(jobs, n, ACCEPT_UNAVAILABLE);
	if (!ensure_conn(wc, url))
		return;
	int64_t start = mono_us();
	enum batch_result r = write_batch(wc->conn, jobs, n, mono_ms() + w->timeout_ms);
	if (r == BATCH_OK) {
		size_t msgs = 0;
		for (size_t i = 0; i < n; i++)
			msgs += jobs[i]->outcome == ACCEPT_COMMITTED ? jobs[i]->nmsgs : 0;
		metrics_accept_batch((unsigned)msgs, mono_us() - start);
		metrics_inc(M_MESSAGES_ACCEPTED, msgs);
		return; /* the caller publishes the rows or wakes the relay */
	}
	if (r == BATCH_CONN_ERROR) {
		log_error("PostgreSQL connection lost or too slow during an accept transaction", "error",
			  db_error(wc->conn));
		set_outcome(jobs, n, ACCEPT_UNKNOWN);
		PQfinish(wc->conn);
		wc->conn = NULL;
		metrics_set(G_POSTGRES_UP, 0);
		return;
	}
	/* One job failed: nothing was committed; write each alone so the others go through. */
	for (size_t i = 0; i < n; i++) {
		jobs[i]->outcome = ACCEPT_FAILED;
		bool connected = ensure_conn(wc, url);
		r = connected ? write_batch(wc->conn, &jobs[i], 1, mono_ms() + w->timeout_ms) : BATCH_CONN_ERROR;
		if (r == BATCH_JOB_ERROR)
			jobs[i]->outcome = ACCEPT_FAILED;
		else if (r == BATCH_CONN_ERROR)
			jobs[i]->outcome = connected ? ACCEPT_UNKNOWN : ACCEPT_UNAVAILABLE;
		else if (jobs[i]->outcome == ACCEPT_COMMITTED)
			metrics_inc(M_MESSAGES_ACCEPTED, jobs[i]->nmsgs);
		relay_wake();
	}
}

/* The committed messages of a batch as a uuid[] literal; how many. */
static size_t committed_ids(struct accept_job **jobs, size_t n, struct buf *out)
{
	size_t count = 0;
	buf_addc(out, '{');
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->outcome != ACCEPT_COMMITTED)
			continue;
		for (size_t k = 0; k < jobs[i]->nmsgs; k++, count++)
			db_array_add(out, jobs[i]->msgs[k].id);
	}
	buf_addc(out, '}');
	return count;
}

static bool queue_empty(struct accept_writer *w)
{
	pthread_mutex_lock(&w->lock);
	bool empty = w->head == NULL;
	pthread_mutex_unlock(&w->lock);
	return empty;
}

static void *writer_main(void *arg)
{
	struct accept_writer *w = arg;
	struct writer_conn wc = { 0 };
	struct accept_job **batch = xcalloc(MAX_BATCH_JOBS, sizeof(*batch));
	struct relay_lane *lane = relay_lane_new(); /* NULL: the relay publishes everything */
	size_t n;
	(void)ensure_conn(&wc, w->url); /* at start, not on the first request */
	while ((n = take_batch(w, batch)) > 0) {
		run_batch(&wc, w, batch, n);
		struct buf ids;
		buf_init(&ids);
		size_t committed = committed_ids(batch, n, &ids);
		for (size_t i = 0; i < n; i++)
			batch[i]->done(batch[i]); /* answered first; the jobs are the requests' from here on */
		/*
		 * The fast path: a small batch, and no other request waiting for
		 * this writer: it publishes the rows it has just committed itself
		 * (a relay cycle less before the pipeline sees the message). Under
		 * load (bigger batches, a queue) the relay takes them in its larger
		 * batches and the writer goes on writing.
		 */
		if (committed && n <= FAST_PATH_MAX_JOBS && lane && wc.conn && bus_connected() && queue_empty(w) &&
		    relay_publish_message_rows(lane, wc.conn, ids.data, w->duplicate_window_ms) < 0)
			log_debug("accept: rows not published at once; the relay will publish them");
		if (committed)
			relay_wake();
		buf_release(&ids);
	}
	relay_lane_free(lane);
	free(batch);
	PQfinish(wc.conn);
	return NULL;
}

struct accept_writer *accept_start(const char *url, int nthreads, int64_t timeout_ms, int64_t duplicate_window_ms)
{
	struct accept_writer *w = xcalloc(1, sizeof(*w));
	w->url = xstrdup(url);
	w->timeout_ms = timeout_ms;
	w->duplicate_window_ms = duplicate_window_ms;
	w->nthreads = nthreads < 1 ? 1 : nthreads > MAX_THREADS ? MAX_THREADS : nthreads;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (int i = 0; i < w->nthreads; i++)
		pthread_create(&w->threads[i], NULL, writer_main, w);
	return w;
}

void accept_stop(struct accept_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->url);
	free(w);
}
