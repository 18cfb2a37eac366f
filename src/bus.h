/*
 * The NATS JetStream connection of the process ("the bus"): one connection
 * that reconnects by itself (also when NATS is down at start), a JetStream
 * context for API calls, and the provisioning of events.md: the streams
 * and the pipeline's durable consumer, created when absent.
 *
 * The reconnect buffer is disabled: while disconnected a publish fails at
 * once instead of sitting in a client buffer, because the outbox is the
 * buffer (and an operator publish must not go out late, after the relay
 * already gave up on it).
 */
#ifndef ORCH_BUS_H
#define ORCH_BUS_H

#include <nats/nats.h>
#include <stdbool.h>

struct config;

#define BUS_PIPELINE_CONSUMER "orchestrator-pipeline"
#define BUS_PIPELINE_FILTER "sms.outbound.*"
/* The high lane (docs/events.md): high-priority messages' requests and retries, consumed before any normal one. */
#define BUS_PIPELINE_HIGH_CONSUMER "orchestrator-pipeline-high"
#define BUS_PIPELINE_HIGH_FILTER "sms.outbound.*.high"
#define BUS_OUTBOUND_STREAM "SMS_OUTBOUND"
#define BUS_STATUS_SUBJECT "sms.events.status"

/* Connects in the background; -1 only when the options are unusable. cfg is borrowed. */
int bus_start(const struct config *cfg) __attribute__((warn_unused_result));
/* fn is called (on a nats.c thread) each time the connection is (re-)established: keep it short. */
void bus_on_connect(void (*fn)(void));
/* The connection (borrowed; valid until bus_stop), NULL before bus_start. */
natsConnection *bus_connection(void);
bool bus_connected(void);
/*
 * JetStream's acknowledgements as the relay sees them: acked when a publish
 * was acknowledged, stalled when one was not in time (a hung server keeps
 * the connection up). bus_jetstream_ok() is false from a stall until the
 * next acknowledgement; /readyz reads it.
 */
void bus_jetstream_acked(void);
void bus_jetstream_stalled(void);
bool bus_jetstream_ok(void);
/* A PING answered by a PONG within timeout_ms (the server is alive, not only connected). Blocks at most that long. */
bool bus_ping(int timeout_ms);
/*
 * Creates the streams and the consumer that are absent (ORCH_NATS_PROVISION);
 * existing ones are left as they are, with a warning when they differ. Runs
 * once NATS is connected; 0 when done, -1 to be retried.
 */
int bus_provision(void);
/*
 * The state of a pipeline consumer of SMS_OUTBOUND (its info, one JetStream
 * API request waiting at most timeout_ms): messages not yet delivered and
 * delivered but not acknowledged. 0, or -1 when it could not be read.
 */
int bus_consumer_lag(const char *consumer, int timeout_ms, int64_t *pending, int64_t *ack_pending);
/* A bus_provision() of this process succeeded. */
bool bus_provisioned(void);
void bus_stop(void);

#endif
