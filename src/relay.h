/*
 * The outbox relay (a role of serve): publishes orch.outbox rows to NATS
 * JetStream in id order, with their Nats-Msg-Id, and marks them published
 * (sql/050_relay.sql says how the rows are claimed and marked).
 *
 * Wake-up: relay_wake() from this process (the accept writer, after each
 * commit), LISTEN orch_outbox for other processes' doorbells (at most one
 * NOTIFY per short interval, never one per message), and a poll every
 * 250 ms so a lost notification costs little.
 *
 * NATS down: rows stay pending, attempts and last_error are recorded, the
 * relay backs off (capped at 5 s) and drains the backlog by itself once
 * NATS is back. It also purges published rows past ORCH_OUTBOX_RETENTION.
 */
#ifndef ORCH_RELAY_H
#define ORCH_RELAY_H

#include <libpq-fe.h>
#include <stdint.h>

struct config;
struct relay_lane;

/* Starts the relay thread; cfg is borrowed. -1 after logging why. */
int relay_start(const struct config *cfg) __attribute__((warn_unused_result));
/* Cheap and safe from any thread, also when the relay is not running. */
void relay_wake(void);
/* The doorbell for relays in other processes, rate-limited; returns true when the caller should NOTIFY now. */
int relay_should_notify(void);
/*
 * The writers' fast path (a lane of the caller's own): right after the
 * transaction that wrote outbox rows of these messages committed (the
 * accept writer's; the pipeline's ROUTED transition, which also stamped the
 * operator rows: orch.pipeline_apply with p_publish_now), publishes their
 * pending rows on the caller's connection and marks them (an operator
 * row's message becomes SUBMITTED), without waiting for the relay thread.
 * message_ids is a uuid[] literal. Rows the relay holds are skipped (it
 * publishes them); rows left because of an error stay for the relay.
 * Returns the rows handled, or -1.
 */
struct relay_lane *relay_lane_new(void);
void relay_lane_free(struct relay_lane *l);
long relay_publish_message_rows(struct relay_lane *l, PGconn *conn, const char *message_ids, int64_t duplicate_window_ms);
/* Finishes the batch in hand and stops. */
void relay_stop(void);

#endif
