/*
 * A small pool of PostgreSQL connections for short reads on request threads
 * (GET /v1/sms/{id}). A connection that broke is replaced on its next use.
 */
#ifndef ORCH_DBPOOL_H
#define ORCH_DBPOOL_H

#include <libpq-fe.h>

struct dbpool;

/* size connections, opened lazily; url is copied. */
struct dbpool *dbpool_new(const char *url, int size, const char *application_name);
/* A healthy connection, or NULL when PostgreSQL cannot be reached. Give it back with dbpool_put. */
PGconn *dbpool_get(struct dbpool *p);
void dbpool_put(struct dbpool *p, PGconn *conn);
/* Opens up to n idle connections now (stops at the first failure); how many it opened. */
int dbpool_fill(struct dbpool *p, int n);
void dbpool_free(struct dbpool *p);

#endif
