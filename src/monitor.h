/*
 * The monitor: a thread that, every second, measures what /readyz, /metrics
 * and load shedding need, so no request pays for it: PostgreSQL reachable
 * and its schema version, the outbox backlog (estimate) and its oldest age,
 * Redis reachable, NATS connected and JetStream acknowledging. No check
 * blocks on what it checks for long (a PostgreSQL query has a 2 s client
 * deadline); readers treat a snapshot older than MONITOR_STALE_MS as a
 * failed check.
 */
#ifndef ORCH_MONITOR_H
#define ORCH_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

struct config;

#define MONITOR_STALE_MS 5000

struct monitor_state {
	bool postgres_ok;
	int schema_version; /* -1 when unknown */
	bool redis_ok;
	bool nats_ok;        /* connected, JetStream acknowledging and a PING answered */
	bool nats_connected; /* the client's connection is up */
	bool jetstream_ok;   /* no publish left unacknowledged since the last acknowledgement */
	int64_t backlog;
	double oldest_age_s;
	int64_t checked_ms; /* monotonic time of the last check */
};

/* Runs a first check synchronously, then every second. cfg is borrowed. */
int monitor_start(const struct config *cfg) __attribute__((warn_unused_result));
void monitor_snapshot(struct monitor_state *out);
void monitor_stop(void);

#endif
