/* Reconciliation: the cron command and the serve role (see reconcile.h). */
#include "reconcile.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "db.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "metrics.h"
#include "lib/banned.h"

/* pg_advisory_xact_lock key: "orchreco" as a 64-bit number. */
#define RECONCILE_LOCK_KEY "8030042916489167727"
#define PURGE_BATCH "1000"
#define PURGE_BUDGET_MS 2000

enum pass_result { PASS_RAN = 0, PASS_ERROR = 1, PASS_LOCKED = 4 };

static void interval_ms(char *out, size_t len, int64_t ms) { snprintf(out, len, "%lld milliseconds", (long long)ms); }

/* The pipeline consumers' undelivered and unacknowledged messages, both lanes; false when unknown. */
static bool stream_backlog(char *out, size_t size)
{
	int64_t total = 0;
	const char *consumers[] = { BUS_PIPELINE_CONSUMER, BUS_PIPELINE_HIGH_CONSUMER };
	for (size_t i = 0; i < sizeof(consumers) / sizeof(*consumers); i++) {
		int64_t pending = 0, ack_pending = 0;
		if (bus_consumer_lag(consumers[i], 500, &pending, &ack_pending) != 0)
			return false;
		total += pending + ack_pending;
	}
	snprintf(out, size, "%lld", (long long)total);
	return true;
}

/* Takes the lock (waiting up to wait_ms) and runs the pass in one transaction. */
static enum pass_result run_pass(PGconn *conn, const struct config *cfg, bool dry_run, int64_t wait_ms, struct buf *json)
{
	int64_t start = mono_ms();
	/*
	 * What the pipeline's consumers still have to deliver or finish, when
	 * this process can read it off JetStream (serve; the cron command does
	 * not connect to NATS): while it is above 0, a QUEUED message waits in
	 * the stream and is not published again (queued_waiting). Read before
	 * the transaction, which must not wait for NATS.
	 */
	char backlog[24];
	bool known = stream_backlog(backlog, sizeof(backlog));
	if (db_exec(conn, "BEGIN", "reconcile begin"))
		return PASS_ERROR;
	for (;;) {
		PGresult *res = PQexec(conn, "SELECT pg_try_advisory_xact_lock(" RECONCILE_LOCK_KEY ")");
		bool ok = PQresultStatus(res) == PGRES_TUPLES_OK, got = ok && PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		if (!ok || got)
			break;
		if (mono_ms() - start >= wait_ms) {
			PQclear(PQexec(conn, "ROLLBACK"));
			return PASS_LOCKED;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	char stuck[48], window[48];
	interval_ms(stuck, sizeof(stuck), cfg->stuck_after_ms);
	interval_ms(window, sizeof(window), cfg->nats_duplicate_window_ms);
	const char *p[] = { dry_run ? "true" : "false", stuck, window, known ? backlog : NULL };
	PGresult *res = PQexecParams(conn, "SELECT orch.reconcile($1::boolean, $2::interval, $3::interval, 10000, $4::bigint)", 4,
				     NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (ok)
		buf_adds(json, PQgetvalue(res, 0, 0));
	else
		log_error("reconcile: the pass failed", "error", db_result_error(res));
	PQclear(res);
	if (db_exec(conn, ok && !dry_run ? "COMMIT" : "ROLLBACK", "reconcile end") || !ok)
		return PASS_ERROR;
	return PASS_RAN;
}

/*
 * Partition upkeep (sql/072_partitions.sql): what it created and dropped (or,
 * dry, would), under "partitions"; rows in a default partition of messages or
 * history also become the finding partition_default_rows (an alert).
 */
static json_object *upkeep_call(PGconn *conn, const char *const params[3])
{
	PGresult *res = PQexecParams(conn, "SELECT orch.partition_upkeep($1::boolean, $2::interval, $3::interval)", 3, NULL,
				     params, NULL, NULL, 0);
	json_object *up = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
				  ? json_tokener_parse(PQgetvalue(res, 0, 0))
				  : NULL;
	if (!up)
		log_error("reconcile: partition upkeep failed", "error", db_result_error(res));
	PQclear(res);
	return up;
}

/* Appends the elements of from's array KEY to into's. */
static void append_array(json_object *into, json_object *from, const char *key)
{
	json_object *a = NULL, *b = NULL;
	if (!json_object_object_get_ex(into, key, &a) || !json_object_is_type(a, json_type_array) ||
	    !json_object_object_get_ex(from, key, &b) || !json_object_is_type(b, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(b); i++)
		json_object_array_add(a, json_object_get(json_object_array_get_idx(b, i)));
}

#define UPKEEP_CALLS 32 /* at most this many drops a pass */

static void add_partitions(PGconn *conn, const struct config *cfg, bool dry_run, json_object *root)
{
	char msg_ret[48], outbox_ret[48];
	interval_ms(msg_ret, sizeof(msg_ret), cfg->message_retention_ms);
	interval_ms(outbox_ret, sizeof(outbox_ret), cfg->outbox_retention_ms);
	const char *const params[] = { dry_run ? "true" : "false", msg_ret, outbox_ret };
	/* One drop a call, each in its own transaction (sql/072_partitions.sql): called again while
	 * it says "more". The last call's "kept" and "defaultRows" are the pass's; "created" and
	 * "dropped" add up. */
	json_object *up = upkeep_call(conn, params);
	if (!up)
		return;
	json_object *last = up, *more = NULL;
	for (int i = 1; i < UPKEEP_CALLS && json_object_object_get_ex(last, "more", &more) && json_object_get_boolean(more);
	     i++) {
		json_object *next = upkeep_call(conn, params);
		if (!next)
			break;
		append_array(up, next, "created");
		append_array(up, next, "dropped");
		if (last != up)
			json_object_put(last);
		last = next;
	}
	if (last != up) {
		json_object *v = NULL;
		if (json_object_object_get_ex(last, "kept", &v))
			json_object_object_add(up, "kept", json_object_get(v));
		if (json_object_object_get_ex(last, "defaultRows", &v))
			json_object_object_add(up, "defaultRows", json_object_get(v));
		json_object_put(last);
	}
	json_object_object_del(up, "more");
	json_object *def = NULL, *findings = NULL, *v = NULL;
	int64_t rows = 0;
	if (json_object_object_get_ex(up, "defaultRows", &def)) {
		if (json_object_object_get_ex(def, "sms_messages", &v))
			rows += json_object_get_int64(v);
		if (json_object_object_get_ex(def, "sms_status_history", &v))
			rows += json_object_get_int64(v);
	}
	if (json_object_object_get_ex(root, "findings", &findings) && json_object_is_type(findings, json_type_object)) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "found", json_object_new_int64(rows));
		json_object_object_add(f, "repaired", json_object_new_int64(0));
		json_object_object_add(findings, "partition_default_rows", f);
	}
	json_object_object_add(root, "partitions", up);
}

/* Adds the purges, the duration and the settings to the pass's JSON. */
static void finish_summary(PGconn *conn, const struct config *cfg, bool dry_run, int64_t start_ms, struct buf *json)
{
	json_object *root = json_tokener_parse(json->data);
	if (!root)
		return;
	json_object *purged = json_object_new_object();
	if (!dry_run) {
		char retention[48];
		interval_ms(retention, sizeof(retention), cfg->outbox_retention_ms);
		long outbox = db_purge(conn, "SELECT orch.outbox_purge($1::interval, " PURGE_BATCH ")", retention,
				       atoi(PURGE_BATCH), PURGE_BUDGET_MS);
		long idem = db_purge(conn, "SELECT orch.idempotency_purge(" PURGE_BATCH ")", NULL, atoi(PURGE_BATCH),
				     PURGE_BUDGET_MS);
		json_object_object_add(purged, "outbox", json_object_new_int64(outbox));
		json_object_object_add(purged, "idempotencyKeys", json_object_new_int64(idem));
	}
	json_object_object_add(root, "purged", purged);
	add_partitions(conn, cfg, dry_run, root);
	json_object_object_add(root, "ran", json_object_new_boolean(1));
	json_object_object_add(root, "stuckAfterSeconds", json_object_new_double((double)cfg->stuck_after_ms / 1000.0));
	json_object_object_add(root, "durationMs", json_object_new_int64(mono_ms() - start_ms));
	buf_reset(json);
	buf_adds(json, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: sms-orchestrator reconcile [--dry-run] [config flags]\n\n"
		     "One reconciliation pass over stuck messages (domain.md); a JSON summary on stdout:\n"
		     "counts per finding, what was repaired, what needs a person, what was purged.\n"
		     "  --dry-run   report the same findings and change nothing\n"
		     "Exit: 0 the pass ran; 1 it could not (e.g. the database is unreachable);\n"
		     "      4 another pass held the lock for 10 s (nothing was done); 2 usage.\n"
		     "Safe from cron on every host: two passes never act at once.\n");
}

int reconcile_main(const struct config *cfg, int argc, char **argv)
{
	bool dry_run = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			config_print_help();
			return 0;
		}
		if (strcmp(argv[i], "--dry-run") != 0) {
			fprintf(stderr, "sms-orchestrator reconcile: unknown argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
		dry_run = true;
	}
	int64_t start = mono_ms();
	PGconn *conn = db_connect(cfg->database_url, "sms-orchestrator reconcile");
	if (!conn) {
		fprintf(stderr, "sms-orchestrator reconcile: cannot connect to PostgreSQL (ORCH_DATABASE_URL); nothing was done\n");
		return PASS_ERROR;
	}
	struct buf json;
	buf_init(&json);
	enum pass_result r = run_pass(conn, cfg, dry_run, 10000, &json);
	if (r == PASS_RAN) {
		finish_summary(conn, cfg, dry_run, start, &json);
		printf("%s\n", json.data);
	} else if (r == PASS_LOCKED) {
		fprintf(stderr, "sms-orchestrator reconcile: another reconcile pass is running; nothing was done\n");
		printf("{\"ran\":false,\"reason\":\"another reconcile pass holds the lock\"}\n");
	} else {
		fprintf(stderr, "sms-orchestrator reconcile: the pass failed; nothing was changed\n");
	}
	buf_release(&json);
	PQfinish(conn);
	return r;
}

/* The reconciler role: the same pass, every half ORCH_STUCK_AFTER (5 s at least), never waiting for the lock. */
static struct {
	const struct config *cfg;
	pthread_t thread;
	atomic_bool running, stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond;
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* A pass of the role in the metrics: each finding's count and the messages that need a person. */
static void count_pass(const char *summary)
{
	json_object *root = json_tokener_parse(summary), *findings = NULL, *person = NULL;
	if (!root)
		return;
	metrics_inc(M_RECONCILE_PASSES, 1);
	if (json_object_object_get_ex(root, "findings", &findings) && json_object_is_type(findings, json_type_object)) {
		json_object_object_foreach(findings, name, finding)
		{
			json_object *found = NULL;
			if (json_object_object_get_ex(finding, "found", &found) && json_object_get_int64(found) > 0)
				metrics_reconcile_finding(name, (uint64_t)json_object_get_int64(found));
		}
	}
	if (json_object_object_get_ex(root, "needsPerson", &person) && json_object_is_type(person, json_type_array))
		metrics_inc(M_RECONCILE_NEEDS_PERSON, json_object_array_length(person));
	json_object_put(root);
}

static void *reconciler_main(void *arg)
{
	(void)arg;
	PGconn *conn = NULL;
	int64_t every = rec.cfg->stuck_after_ms / 2 < 5000 ? 5000 : rec.cfg->stuck_after_ms / 2;
	pthread_mutex_lock(&rec.lock);
	while (!atomic_load(&rec.stopping)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every / 1000;
		pthread_cond_timedwait(&rec.cond, &rec.lock, &until);
		if (atomic_load(&rec.stopping))
			break;
		pthread_mutex_unlock(&rec.lock);
		if (!conn || PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			conn = db_connect(rec.cfg->database_url, "sms-orchestrator reconciler");
			/* A pass waiting on someone else's lock must not hold up serve's shutdown for long. */
			if (conn && db_exec(conn, "SET lock_timeout = '5s'", "reconciler lock_timeout")) {
				PQfinish(conn);
				conn = NULL;
			}
		}
		struct buf json;
		buf_init(&json);
		int64_t start = mono_ms();
		if (conn && run_pass(conn, rec.cfg, false, 0, &json) == PASS_RAN) {
			finish_summary(conn, rec.cfg, false, start, &json);
			count_pass(json.data);
			log_info("reconcile pass", "summary", json.data);
		}
		buf_release(&json);
		pthread_mutex_lock(&rec.lock);
	}
	pthread_mutex_unlock(&rec.lock);
	PQfinish(conn);
	return NULL;
}

int reconciler_start(const struct config *cfg)
{
	rec.cfg = cfg;
	atomic_store(&rec.stopping, false);
	if (pthread_create(&rec.thread, NULL, reconciler_main, NULL) != 0)
		return -1;
	atomic_store(&rec.running, true);
	return 0;
}

void reconciler_stop(void)
{
	if (!atomic_load(&rec.running))
		return;
	pthread_mutex_lock(&rec.lock);
	atomic_store(&rec.stopping, true);
	pthread_cond_broadcast(&rec.cond);
	pthread_mutex_unlock(&rec.lock);
	pthread_join(rec.thread, NULL);
	atomic_store(&rec.running, false);
}
