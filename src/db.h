/* PostgreSQL connection helpers over libpq. */
#ifndef ORCH_DB_H
#define ORCH_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* Connects; on failure logs why (URL redacted) and returns NULL. Caller PQfinish()es. */
PGconn *db_connect(const char *url, const char *application_name);
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
