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

struct config;

/* Starts the relay thread; cfg is borrowed. -1 after logging why. */
int relay_start(const struct config *cfg) __attribute__((warn_unused_result));
/* Cheap and safe from any thread, also when the relay is not running. */
void relay_wake(void);
/* The doorbell for relays in other processes, rate-limited; returns true when the caller should NOTIFY now. */
int relay_should_notify(void);
/* Finishes the batch in hand and stops. */
void relay_stop(void);

#endif
