/* The retry scheduler thread (see scheduler.h). */
#include "scheduler.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "flow.h"
#include "lib/log.h"
#include "metrics.h"
#include "relay.h"
#include "lib/banned.h"

#define MAX_SLEEP_MS 1000
#define BATCH "200"
#define RELEASE_BATCH "1000" /* scheduled messages released per transaction */

static struct {
	const struct config *cfg;
	pthread_t thread;
	atomic_bool running, stopping;
	int wake_fd;
	PGconn *conn;
	PGconn *conn2; /* a second connection for releasing a large due set two batches at a time */
} sch = { .wake_fd = -1 };

void scheduler_wake(void)
{
	if (!atomic_load(&sch.running))
		return;
	uint64_t one = 1;
	ssize_t unused = write(sch.wake_fd, &one, sizeof(one));
	(void)unused;
}

static void sleep_until_due(int timeout_ms) { db_wait(sch.conn, sch.wake_fd, timeout_ms); }

/*
 * Many scheduled messages due at once (a campaign for 10:00:00): releases
 * them two batches at a time, one on each connection, until a batch comes
 * back short. The batches are disjoint (SKIP LOCKED) and each commits on
 * its own. The caller holds this process's normal work back meanwhile
 * (flow.h): with the relay and the pipeline draining what was released,
 * one connection alone left the last of 10,000 3 s after their sendAt
 * (make bench, phase q). Returns how many were released.
 */
static long release_burst(void)
{
	if (!sch.conn2 || PQstatus(sch.conn2) != CONNECTION_OK) {
		PQfinish(sch.conn2);
		sch.conn2 = db_connect(sch.cfg->database_url, "sms-orchestrator scheduler release");
	}
	PGconn *conns[2] = { sch.conn, sch.conn2 };
	int nconn = sch.conn2 ? 2 : 1;
	long total = 0;
	int rounds = 0;
	for (;;) {
		int sent = 0;
		for (int i = 0; i < nconn; i++)
			if (PQsendQuery(conns[i], "SELECT orch.release_scheduled(" RELEASE_BATCH ")"))
				sent |= 1 << i;
		bool full = sent != 0;
		for (int i = 0; i < nconn; i++) {
			if (!(sent & (1 << i)))
				continue;
			int n = -1;
			PGresult *res;
			while ((res = PQgetResult(conns[i])) != NULL) {
				if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
					n = atoi(PQgetvalue(res, 0, 0));
				else
					log_error("scheduler: release failed", "error", db_result_error(res));
				PQclear(res);
			}
			if (n > 0) {
				total += n;
				metrics_inc(M_SCHEDULED_RELEASED, (uint64_t)n);
			}
			full &= n >= atoi(RELEASE_BATCH);
		}
		/* (at most 5 rounds, 10,000 messages: then back to the pass, so due retries are not held up) */
		if (!full || atomic_load(&sch.stopping) || ++rounds >= 5)
			return total;
	}
}

/* One pass: requeue what is due; returns ms until the next one is due (capped), -1 on error. */
static int pass(void)
{
	/* The wait is NULL when nothing is scheduled (greatest() would turn a NULL into 0: a busy loop). */
	PGresult *res = PQexec(sch.conn, "SELECT orch.retry_due(" BATCH "), orch.release_scheduled(" RELEASE_BATCH "), "
					 "(SELECT ceil(greatest(0, extract(epoch FROM t - clock_timestamp()) * 1000)) "
					 "FROM orch.next_due_at() AS t WHERE t IS NOT NULL)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("scheduler: pass failed", "error", db_result_error(res));
		PQclear(res);
		return -1;
	}
	int n = atoi(PQgetvalue(res, 0, 0));
	int released = atoi(PQgetvalue(res, 0, 1));
	int wait = PQgetisnull(res, 0, 2) ? MAX_SLEEP_MS : atoi(PQgetvalue(res, 0, 2));
	PQclear(res);
	if (n > 0)
		metrics_inc(M_RETRIES_REQUEUED, (uint64_t)n);
	if (released > 0)
		metrics_inc(M_SCHEDULED_RELEASED, (uint64_t)released);
	/* A full batch: a large due set (a campaign's sendAt). Normal work of this process waits while
	   the rest is released (flow.h), the relay too: what was just released waits for the burst. */
	bool burst = released >= atoi(RELEASE_BATCH);
	if (burst)
		flow_release_begin();
	if (n > 0 || released > 0)
		relay_wake();
	if (burst) {
		release_burst();
		flow_release_end();
		relay_wake();
	}
	if (n >= atoi(BATCH) || released >= atoi(RELEASE_BATCH))
		return 0;
	return wait > MAX_SLEEP_MS ? MAX_SLEEP_MS : wait;
}

static void *scheduler_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&sch.stopping)) {
		if (!sch.conn || PQstatus(sch.conn) != CONNECTION_OK) {
			PQfinish(sch.conn);
			sch.conn = db_connect(sch.cfg->database_url, "sms-orchestrator scheduler");
			if (sch.conn && db_exec(sch.conn, "LISTEN orch_retry", "listen")) {
				PQfinish(sch.conn);
				sch.conn = NULL;
			}
			if (!sch.conn) {
				sleep_until_due(MAX_SLEEP_MS);
				continue;
			}
		}
		int wait = pass();
		if (wait != 0)
			sleep_until_due(wait < 0 ? MAX_SLEEP_MS : wait);
	}
	return NULL;
}

int scheduler_start(const struct config *cfg)
{
	sch.cfg = cfg;
	sch.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sch.wake_fd < 0)
		return -1;
	atomic_store(&sch.stopping, false);
	atomic_store(&sch.running, true);
	if (pthread_create(&sch.thread, NULL, scheduler_main, NULL) != 0) {
		atomic_store(&sch.running, false);
		return -1;
	}
	return 0;
}

void scheduler_stop(void)
{
	if (!atomic_load(&sch.running))
		return;
	atomic_store(&sch.stopping, true);
	scheduler_wake();
	pthread_join(sch.thread, NULL);
	atomic_store(&sch.running, false);
	PQfinish(sch.conn);
	sch.conn = NULL;
	PQfinish(sch.conn2);
	sch.conn2 = NULL;
	close(sch.wake_fd);
	sch.wake_fd = -1;
}
