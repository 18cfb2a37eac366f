/*
 * The pipeline (a role of serve): consumes sms.outbound.request and
 * sms.outbound.retry through the durable pull consumer
 * orchestrator-pipeline and runs the five stages of domain.md on each
 * message (sql/060_pipeline.sql holds the database side).
 *
 * Two workers (PIPELINE_WORKERS), each with its own PostgreSQL connection,
 * binding to the consumer and relay lane, each a batch at a time: fetch (at
 * most PIPELINE_BATCH, every message handled before the next fetch: nats.c
 * 3.4.1 trap 4), prepare in one statement (skip / EXPIRED / REJECTED / to
 * route), route all concurrently, apply the outcomes in one transaction
 * (which also records the first publish attempt of the new operator rows),
 * acknowledge, then publish and mark those operator rows at once on the
 * worker's relay lane (relay.h: relay_publish_message_rows). The breaker is
 * shared.
 *
 * Routing calls: each carries an attempt number orch.pipeline_prepare took
 * for it (routing_calls), never one an earlier call for the message used,
 * also when that call was not charged; at most the adaptive concurrency
 * limit of routing.h are in flight, so a burst queues in the process.
 *
 * Circuit breaker: it opens when 5 calls in a row could not reach the
 * engine (UNAVAILABLE), or when most routing calls of the last 10 s failed
 * transiently, judged on at least 20 calls (so a burst's few missed
 * deadlines never open it); the pipeline
 * then stops fetching; a transient failure while it is open is not the
 * message's fault, so the message is not charged an attempt (negative
 * acknowledgement with a delay, it stays QUEUED). Every second a synthetic
 * probe call tests the engine; when it answers, the breaker closes.
 */
#ifndef ORCH_PIPELINE_H
#define ORCH_PIPELINE_H

struct config;

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 };

int pipeline_start(const struct config *cfg) __attribute__((warn_unused_result));
/* Finishes the batch in hand (acknowledging what it applied) and stops. */
void pipeline_stop(void);
enum breaker_state pipeline_breaker(void);
const char *breaker_name(enum breaker_state s);

#endif
