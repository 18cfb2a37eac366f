/* PostgreSQL connection helpers (see db.h). */
#include "db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

PGconn *db_connect(const char *url, const char *application_name)
{
	const char *keys[] = { "dbname", "application_name", "connect_timeout", NULL };
	const char *vals[] = { url, application_name, "5", NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	struct buf safe;
	buf_init(&safe);
	config_redact_url(url, &safe);
	log_error("cannot connect to PostgreSQL", "url", safe.data, "error", db_error(conn));
	buf_release(&safe);
	PQfinish(conn);
	return NULL;
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
