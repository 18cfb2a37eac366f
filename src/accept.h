/*
 * The accept writer: durable writes of accepted requests, with group commit.
 *
 * HTTP handlers submit jobs (one per request: its messages, its idempotency
 * record, its answer) and suspend the connection. A few writer threads, each
 * with its own PostgreSQL connection, take whatever jobs are queued and write
 * them in ONE transaction through a libpq pipeline (BEGIN, one
 * orch.accept() call per job, COMMIT, a single sync): concurrent requests
 * share one commit and one round trip. Then each job's done() callback
 * answers its request.
 *
 * If a job fails inside a batch, the batch is rolled back and every job is
 * retried alone, so one bad request never fails the others. If PostgreSQL
 * cannot be reached, the jobs complete as ACCEPT_UNAVAILABLE (503) at once,
 * without waiting on a connect timeout per request.
 */
#ifndef ORCH_ACCEPT_H
#define ORCH_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/uuid.h"
#include "request.h"

struct accept_msg {
	char id[UUID_STR_LEN];
	const struct sms_item *item; /* borrowed */
	char valid_until[32];        /* RFC 3339 */
	char send_at[32];            /* RFC 3339 when the message is scheduled (starts SCHEDULED), else "" */
};

enum accept_outcome {
	ACCEPT_COMMITTED,   /* written: answer response_status/response_body */
	ACCEPT_EXISTING,    /* the idempotency key was already used: existing_* hold its stored answer */
	ACCEPT_UNAVAILABLE, /* PostgreSQL could not be reached: nothing was written (503) */
	ACCEPT_UNKNOWN,     /* sent, then the connection failed or the deadline passed before COMMIT answered:
			       written or not, PostgreSQL knows; 503 and the client retries with its key */
	ACCEPT_FAILED,      /* the database refused the job (a bug): nothing was written (500) */
};

struct accept_job {
	/* Inputs, borrowed until done() is called. */
	const char *account;
	const char *idem_key;    /* NULL: no key */
	const char *fingerprint; /* 64 hex chars, or NULL without a key */
	const char *request_id;
	const char *traceparent; /* NULL when absent */
	int response_status;
	const char *response_body;
	char created_at[32];
	char idem_expires_at[32];
	const char *bulk_id;     /* the bulk request's id, NULL for send */
	struct accept_msg *msgs;
	size_t nmsgs;
	/* Outputs, valid in done(). */
	enum accept_outcome outcome;
	int existing_status;
	char *existing_body; /* owned by the job's owner after done(); free() */
	char existing_fingerprint[65];
	/* Called once, on a writer thread. */
	void (*done)(struct accept_job *job);
	struct accept_job *next; /* queue link, the writer's */
};

struct accept_writer;

/* Starts nthreads writers; NULL after logging why. url is borrowed. */
/* timeout_ms: the longest one transaction may take, from sending it to its COMMIT's answer (client-side deadline). */
struct accept_writer *accept_start(const char *url, int nthreads, int64_t timeout_ms, int64_t duplicate_window_ms);
/* Queues a job; its done() will be called exactly once. */
void accept_submit(struct accept_writer *w, struct accept_job *job);
/* Writes what is queued, then stops the threads and frees. */
void accept_stop(struct accept_writer *w);

#endif
