/* PostgreSQL connection helpers (see db.h). */
#include "db.h"

#include <errno.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/banned.h"

static _Thread_local char errline[512];

static const char *first_line(const char *msg)
{
	size_t n = strcspn(msg, "\n");
	if (n >= sizeof(errline))
		n = sizeof(errline) - 1;
	memcpy(errline, msg, n);
	errline[n] = '\0';
	return errline;
}

const char *db_error(PGconn *conn) { return first_line(PQerrorMessage(conn)); }
const char *db_result_error(const PGresult *res) { return first_line(PQresultErrorMessage(res)); }

static atomic_int connect_timeout_s = 5;

void db_set_connect_timeout_s(int seconds) { atomic_store(&connect_timeout_s, seconds < 2 ? 2 : seconds); }

/* libpq's notices (NOTICE, WARNING from the server) as JSON lines, not raw text on stderr. */
static void notice_to_log(void *arg, const char *message)
{
	(void)arg;
	log_library(LOG_INFO, "libpq", message);
}

PGconn *db_connect(const char *url, const char *application_name)
{
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", atomic_load(&connect_timeout_s));
	/*
	 * Keepalives and tcp_user_timeout notice a peer that is gone (host down,
	 * network cut) in about 10 s; a peer that is alive but hung is the job
	 * of db_await's deadline.
	 */
	const char *keys[] = { "dbname", "application_name", "connect_timeout", "keepalives", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout", NULL };
	const char *vals[] = { url, application_name, timeout, "1", "5", "2", "3", "10000", NULL };
	/*
	 * Started and polled here rather than PQconnectdbParams: the notice
	 * processor is in place before the first message from the server (a
	 * server shutting down while we connect sends a WARNING, which libpq
	 * would otherwise print raw on stderr). connect_timeout is ours to keep
	 * then.
	 */
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	if (conn)
		PQsetNoticeProcessor(conn, notice_to_log, NULL);
	if (conn && PQstatus(conn) != CONNECTION_BAD) {
		int timeout_s = atomic_load(&connect_timeout_s);
		int64_t deadline = mono_ms() + (timeout_s > 0 ? (int64_t)timeout_s * 1000 : INT64_C(86400000));
		PostgresPollingStatusType st = PGRES_POLLING_WRITING;
		while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
			int64_t left = deadline - mono_ms();
			struct pollfd p = { .fd = PQsocket(conn), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT };
			if (left <= 0 || p.fd < 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
				break;
			st = PQconnectPoll(conn);
		}
		if (st != PGRES_POLLING_OK && PQstatus(conn) != CONNECTION_BAD) {
			PQfinish(conn);
			log_error("cannot connect to PostgreSQL", "error", "connect_timeout (ORCH_DB_TIMEOUT) passed");
			return NULL;
		}
	}
	if (PQstatus(conn) == CONNECTION_OK) {
		/*
		 * Short statements only: JIT compiling one (its cost estimate can
		 * pass jit_above_cost on a large outbox) would cost tens of ms.
		 */
		PGresult *res = PQexec(conn, "SET jit = off");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			log_debug("cannot turn JIT off for this session", "error", db_result_error(res));
		PQclear(res);
		return conn;
	}
	struct buf safe;
	buf_init(&safe);
	config_redact_url(url, &safe);
	log_error("cannot connect to PostgreSQL", "url", safe.data, "error", db_error(conn));
	buf_release(&safe);
	PQfinish(conn);
	return NULL;
}

/* Closes the connection's socket under libpq so that it reads end-of-file and marks the connection bad. */
static void abandon(PGconn *conn)
{
	int fd = PQsocket(conn);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	(void)PQconsumeInput(conn);
}

int db_await(PGconn *conn, int64_t deadline_ms)
{
	for (;;) {
		if (PQstatus(conn) != CONNECTION_OK)
			return -1;
		int flush = PQflush(conn); /* 1: more to send (non-blocking connections only) */
		if (flush < 0)
			return -1;
		if (flush == 0 && !PQisBusy(conn))
			return 0;
		int64_t left = deadline_ms - mono_ms();
		if (left <= 0) {
			log_warn("PostgreSQL did not answer in time; the connection is abandoned", "error",
				 "client-side deadline passed");
			abandon(conn);
			return -1;
		}
		struct pollfd fd = { .fd = PQsocket(conn), .events = (short)(POLLIN | (flush ? POLLOUT : 0)) };
		int n = poll(&fd, 1, (int)(left > 1000 ? 1000 : left));
		if (n < 0)
			continue; /* EINTR */
		if (n > 0 && (fd.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(conn))
			return -1;
	}
}

int db_query_deadline(PGconn *conn, const char *sql, int nparams, const char *const *params, int64_t timeout_ms,
		      PGresult **res)
{
	*res = NULL;
	int64_t deadline = mono_ms() + timeout_ms;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return -1;
	int rc = -1;
	for (;;) {
		if (db_await(conn, deadline) != 0) {
			PQclear(*res);
			*res = NULL;
			return -1;
		}
		PGresult *r = PQgetResult(conn);
		if (!r)
			break;
		if (!*res) {
			*res = r;
			ExecStatusType st = PQresultStatus(r);
			rc = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? 0 : -1;
		} else {
			PQclear(r);
		}
	}
	return rc;
}

int db_exec(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		log_error("SQL failed", "what", what, "error", db_result_error(res));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

void db_array_add(struct buf *b, const char *v)
{
	if (b->len > 1)
		buf_addc(b, ',');
	if (!v) {
		buf_adds(b, "NULL");
		return;
	}
	buf_addc(b, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addc(b, '\\');
		buf_addc(b, *p);
	}
	buf_addc(b, '"');
}

void db_wait(PGconn *conn, int wake_fd, int timeout_ms)
{
	struct pollfd fds[2] = { { .fd = wake_fd, .events = POLLIN }, { .fd = conn ? PQsocket(conn) : -1, .events = POLLIN } };
	if (poll(fds, 2, timeout_ms) <= 0)
		return;
	if (fds[0].revents & POLLIN) {
		uint64_t n;
		ssize_t unused = read(wake_fd, &n, sizeof(n));
		(void)unused;
	}
	if (conn && (fds[1].revents & POLLIN) && PQconsumeInput(conn)) {
		PGnotify *n;
		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
	}
}

long db_purge(PGconn *conn, const char *purge_sql, const char *param, int batch, int64_t budget_ms)
{
	long total = 0;
	int64_t deadline = mono_ms() + budget_ms;
	for (;;) {
		const char *p[] = { param };
		PGresult *res = PQexecParams(conn, purge_sql, param ? 1 : 0, NULL, param ? p : NULL, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		int n = ok ? atoi(PQgetvalue(res, 0, 0)) : 0;
		if (!ok)
			log_error("purge failed", "error", db_result_error(res));
		PQclear(res);
		total += n;
		if (n < batch || mono_ms() >= deadline)
			return total;
	}
}
