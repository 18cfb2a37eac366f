/* PostgreSQL connection helpers over libpq. */
#ifndef ORCH_DB_H
#define ORCH_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Connects; on failure logs why (URL redacted) and returns NULL. Caller
 * PQfinish()es. Every connection has TCP keepalives and tcp_user_timeout
 * (a dead peer is noticed in seconds), a connect timeout, and libpq's
 * notices go to the JSON log.
 */
PGconn *db_connect(const char *url, const char *application_name);
/* The connect timeout of db_connect, in seconds (libpq's minimum is 2); set once at start. */
void db_set_connect_timeout_s(int seconds);
/*
 * Waits until the query sent on conn has its next result ready, or until
 * the monotonic deadline_ms. 0: PQgetResult will not block. -1: the
 * deadline passed or the connection failed; the connection is then closed
 * under libpq (PQstatus becomes CONNECTION_BAD, what was sent is abandoned:
 * committed or not, the server decides) and the caller must not wait on it
 * again. This is how a hung server (a stopped process keeps its sockets
 * open and its kernel acknowledges) cannot hold a caller longer than it
 * allows.
 */
int db_await(PGconn *conn, int64_t deadline_ms) __attribute__((warn_unused_result));
/*
 * PQexecParams (text parameters) with a client-side deadline of timeout_ms:
 * 0 and *res (caller PQclear()s) holding a PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK result; -1 on any failure, with *res the failed result
 * or NULL, and the connection closed when the deadline passed (db_await).
 */
int db_query_deadline(PGconn *conn, const char *sql, int nparams, const char *const *params, int64_t timeout_ms,
		      PGresult **res) __attribute__((warn_unused_result));
/* Runs sql (no parameters, may be several statements); 0, or -1 after logging with `what`. */
int db_exec(PGconn *conn, const char *sql, const char *what) __attribute__((warn_unused_result));
/* The first line of the connection's last error, without the trailing newline (static buffer per thread). */
const char *db_error(PGconn *conn);
/*
 * Appends one element to a PostgreSQL array literal being built in b (which
 * starts with '{'; the caller adds the closing '}'): double-quoted and
 * escaped, or NULL when v is NULL. The literal goes as a $n parameter, never
 * into SQL text.
 */
struct buf;
void db_array_add(struct buf *b, const char *v);
/*
 * Sleeps until wake_fd (an eventfd) is written, a notification arrives on
 * conn (which LISTENs; may be NULL), or timeout_ms passed; consumes both.
 */
void db_wait(PGconn *conn, int wake_fd, int timeout_ms);
/*
 * Runs purge_sql (one optional $1 parameter; returns how many rows it
 * deleted) again while it deletes a full batch and budget_ms is not spent:
 * small transactions, never a long lock. Returns the total; logs failures.
 */
long db_purge(PGconn *conn, const char *purge_sql, const char *param, int batch, int64_t budget_ms);
/* The first line of a result's error message (static buffer per thread). */
const char *db_result_error(const PGresult *res);

#endif
