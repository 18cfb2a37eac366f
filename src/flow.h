/*
 * High before normal where they share the machine (domain.md, priority).
 *
 * The lanes keep a high message from waiting behind normal ones in every
 * queue, but on a small machine a campaign's drain also keeps every core
 * and PostgreSQL busy, and a high message's few statements wait for CPU
 * behind the normal batches. So normal batches yield: while a high message
 * is expected (its accept was just submitted) or being processed (the
 * high-lane pipeline worker has one), a normal pipeline worker
 * waits before its next batch, and the relay's normal batch before each
 * chunk of its publishes, at most FLOW_YIELD_MAX_MS at a time, so
 * normal keeps its share (far above the 10% floor) however many high
 * messages come. Process-wide: each serve yields to its own high work.
 *
 * A yield cannot stop what is already in flight: a claim or a mark of 500
 * rows, an apply of 64, which a high message's statements then wait beside
 * on a saturated machine. So while high work is recent (flow_high_recent:
 * in the last FLOW_RECENT_MS) normal goes in smaller batches: the relay's
 * at most 100 rows, a normal pipeline worker's 16 messages. make bench,
 * phase p (a backlog of 100,000 draining, a high message every 100 ms for
 * 30 s), side by side: p99 202 -> SUBMITTED of the high ones, median of the
 * runs, 82.5 ms -> 49.2 ms, the drain 63.0 s -> 68.4 s (normal keeps about
 * four fifths of its rate while high messages come, and its full batches
 * again FLOW_RECENT_MS after the last one).
 *
 * The same holds normal work back while this process's scheduler releases
 * a large due set (a campaign's sendAt): the release must be done within a
 * second, and what it released competes with it for the same cores as soon
 * as it is QUEUED (make bench, phase q: the last of 10,000 were released
 * 3 s after their sendAt while the relay and the pipeline drained the first).
 * A burst is bounded (the scheduler goes back to its pass after 5 rounds),
 * and normal waits for at most its first FLOW_RELEASE_HOLD_MAX_MS.
 */
#ifndef ORCH_FLOW_H
#define ORCH_FLOW_H

#include <stdint.h>

/* The longest a normal batch waits for high work before it goes anyway. */
#define FLOW_YIELD_MAX_MS 50
/* How long a scheduled release burst holds normal work back at most, from the burst's start. */
#define FLOW_RELEASE_HOLD_MAX_MS 2000
/* How long an accepted high message is expected to take to reach the high lane. */
#define FLOW_EXPECT_MS 100

/* How long after the last high work normal batches stay small (flow_high_recent). */
#define FLOW_RECENT_MS 1000

/* A high message was submitted for accept: expect high work for FLOW_EXPECT_MS. */
void flow_high_expected(void);
/* The high lane took a batch / finished it. */
void flow_high_begin(void);
void flow_high_end(void);
/* Whether high work is in flight now. */
int flow_high_busy(void);
/*
 * Whether high work was in flight in the last FLOW_RECENT_MS: normal work then
 * goes in smaller batches, so what a high message finds in flight beside it
 * (a claim, a mark, an apply: statements it cannot interrupt) is short.
 */
int flow_high_recent(void);
/* The scheduler began / ended releasing a large due set. */
void flow_release_begin(void);
void flow_release_end(void);
/* Whether a release burst is under way now and still holds normal work (its first FLOW_RELEASE_HOLD_MAX_MS). */
int flow_releasing(void);
/*
 * Before a normal batch (the pipeline's normal lane; the relay's normal batch, before each chunk of its
 * publishes): waits
 * while high work is in flight, at most FLOW_YIELD_MAX_MS, and while a
 * release burst holds it (flow_releasing); returns the ms waited.
 */
int64_t flow_yield_normal(void);
/* Before the relay's claim: waits while a release burst holds normal work (flow_releasing)
   (not for high work: the relay carries high rows too); returns the ms waited. */
int64_t flow_hold_for_release(void);

#endif
