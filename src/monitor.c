/* The monitor thread (see monitor.h). */
#include "monitor.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "db.h"
#include "idem.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "metrics.h"
#include "lib/banned.h"

#define INTERVAL_MS 1000
#define CHECK_DEADLINE_MS 2000
#define NATS_PING_DEADLINE_MS 1000
#define CONSUMER_INFO_DEADLINE_MS 500

static struct {
	const struct config *cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct monitor_state state;
	PGconn *pg;
} mon = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void check_postgres(struct monitor_state *st)
{
	if (!mon.pg || PQstatus(mon.pg) != CONNECTION_OK) {
		PQfinish(mon.pg);
		mon.pg = db_connect(mon.cfg->database_url, "sms-orchestrator monitor");
	}
	st->postgres_ok = false;
	st->schema_version = -1;
	if (!mon.pg)
		return;
	/* Never blocked by what it checks: a hung server is a failed check after CHECK_DEADLINE_MS. */
	PGresult *res = NULL;
	int rc = db_query_deadline(mon.pg, "SELECT (SELECT max(version) FROM orch.schema_migrations), b.pending, "
				   "b.oldest_age_seconds FROM orch.outbox_backlog_estimate() b", 0, NULL, CHECK_DEADLINE_MS, &res);
	if (rc == 0 && PQntuples(res) == 1) {
		st->postgres_ok = true;
		st->schema_version = PQgetisnull(res, 0, 0) ? -1 : atoi(PQgetvalue(res, 0, 0));
		st->backlog = atoll(PQgetvalue(res, 0, 1));
		st->oldest_age_s = atof(PQgetvalue(res, 0, 2));
	} else {
		log_warn("PostgreSQL check failed", "error", res ? db_result_error(res) : db_error(mon.pg));
	}
	PQclear(res);
}

/* The per-operator waiting gauges, from orch.v_operator_limits (limited operators only; a few rows). */
static void check_operator_limits(void)
{
	PGresult *res = NULL;
	if (db_query_deadline(mon.pg, "SELECT operator_id, waiting FROM orch.v_operator_limits", 0, NULL,
			      CHECK_DEADLINE_MS, &res) == 0) {
		int n = PQntuples(res) < METRICS_MAX_OPERATORS ? PQntuples(res) : METRICS_MAX_OPERATORS;
		const char *ids[METRICS_MAX_OPERATORS];
		int64_t waiting[METRICS_MAX_OPERATORS];
		for (int i = 0; i < n; i++) {
			ids[i] = PQgetvalue(res, i, 0);
			waiting[i] = atoll(PQgetvalue(res, i, 1));
		}
		metrics_operator_waiting(ids, waiting, n);
	}
	PQclear(res);
}

/* The pipeline's lag, from its two consumers' info (the same for every instance: take max). */
static void check_pipeline_lag(void)
{
	static const char *const consumers[2] = { BUS_PIPELINE_CONSUMER, BUS_PIPELINE_HIGH_CONSUMER };
	for (int lane = 0; lane < 2; lane++) {
		int64_t pending = 0, ack_pending = 0;
		bool known = bus_consumer_lag(consumers[lane], CONSUMER_INFO_DEADLINE_MS, &pending, &ack_pending) == 0;
		metrics_pipeline_lag(lane, known, pending, ack_pending);
	}
}

static void check_once(void)
{
	struct monitor_state st = { 0 };
	check_postgres(&st);
	st.redis_ok = idem_ping();
	st.nats_connected = bus_connected();
	st.jetstream_ok = bus_jetstream_ok();
	st.nats_ok = st.nats_connected && st.jetstream_ok && bus_ping(NATS_PING_DEADLINE_MS);
	st.checked_ms = mono_ms();
	metrics_set(G_POSTGRES_UP, st.postgres_ok);
	metrics_set(G_REDIS_UP, st.redis_ok);
	metrics_set(G_NATS_UP, st.nats_ok);
	if (st.nats_ok)
		check_pipeline_lag();
	else
		for (int lane = 0; lane < 2; lane++)
			metrics_pipeline_lag(lane, false, 0, 0);
	if (st.postgres_ok) {
		check_operator_limits();
		metrics_set(G_OUTBOX_BACKLOG, st.backlog);
		metrics_set(G_OUTBOX_OLDEST_AGE_MS, (int64_t)(st.oldest_age_s * 1000));
	}
	pthread_mutex_lock(&mon.lock);
	if (!st.postgres_ok) { /* keep the last known backlog: a blip must not lift load shedding */
		st.backlog = mon.state.backlog;
		st.oldest_age_s = mon.state.oldest_age_s;
	}
	mon.state = st;
	pthread_mutex_unlock(&mon.lock);
}

static void *monitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mon.lock);
	while (!mon.stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += INTERVAL_MS / 1000;
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
		if (mon.stopping)
			break;
		pthread_mutex_unlock(&mon.lock);
		check_once();
		pthread_mutex_lock(&mon.lock);
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int monitor_start(const struct config *cfg)
{
	mon.cfg = cfg;
	mon.stopping = false;
	check_once();
	return pthread_create(&mon.thread, NULL, monitor_main, NULL) == 0 ? 0 : -1;
}

void monitor_snapshot(struct monitor_state *out)
{
	pthread_mutex_lock(&mon.lock);
	*out = mon.state;
	pthread_mutex_unlock(&mon.lock);
}

void monitor_stop(void)
{
	pthread_mutex_lock(&mon.lock);
	mon.stopping = true;
	pthread_cond_broadcast(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	PQfinish(mon.pg);
	mon.pg = NULL;
}
