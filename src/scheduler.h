/*
 * The retry scheduler (a role of serve): makes due RETRY_SCHEDULED messages
 * QUEUED again, each with its sms.outbound.retry outbox row
 * (orch.retry_due). It sleeps until the earliest next_attempt_at, woken
 * sooner by scheduler_wake() (the pipeline of this process scheduled a
 * retry) or by NOTIFY orch_retry (another process did), and at least every
 * second. The schedule is in PostgreSQL, so a restart loses nothing.
 */
#ifndef ORCH_SCHEDULER_H
#define ORCH_SCHEDULER_H

struct config;

int scheduler_start(const struct config *cfg) __attribute__((warn_unused_result));
/* Safe from any thread, also when the scheduler is not running. */
void scheduler_wake(void);
void scheduler_stop(void);

#endif
