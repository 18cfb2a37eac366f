/* PostgreSQL connection helpers over libpq. */
#ifndef ORCH_DB_H
#define ORCH_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

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
/* The first line of a result's error message (static buffer per thread). */
const char *db_result_error(const PGresult *res);

#endif
